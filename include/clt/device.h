/* clt: devices.
 *
 * A device is the host (plain memory, reference implementations) or a device of another backend
 * the build has (OpenCL). Handles are reference counted; tensors retain their device, so release
 * order never matters. Each handle owns its own state (for OpenCL: context, queue, program cache
 * and buffer pool).
 *
 * Threads. Every function may be called from several threads at once, within these rules:
 *   - Opening, listing and releasing devices is safe from any thread, also as a process's first
 *     clt calls: clt enumerates OpenCL platforms and devices and makes contexts under one
 *     process-wide lock, since drivers initialise there and some (PoCL 3.1) crash when two
 *     threads do it at once.
 *   - One handle may be used by several threads at once: ops, allocation and freeing, copies in
 *     and out, saving and loading, clt_device_get_memory_stats, clt_device_empty_cache and
 *     clt_device_synchronize (which waits for every thread's work on the handle). Each thread's
 *     commands run in the order it issued them, so it gets what it would get alone. They share
 *     the handle's one in-order queue: for kernels running side by side, open one handle per
 *     thread (handles share nothing but the driver).
 *   - A tensor may be read by several threads at once (an op's input, clt_to_host, a save).
 *     Writing one while another thread reads or writes it (in-place ops, clt_backward into the
 *     same leaves' gradients, optimizer steps on the same parameters, the memory behind
 *     clt_host_data or clt_cl_tensor_get_buffer) needs the caller's own synchronisation, as in
 *     PyTorch; so does an optimizer or a tensor list used from two threads.
 *   - Per thread: the last error, the no-grad mode, scopes and the random generator
 *     (clt_manual_seed seeds the calling thread's only).
 *   - Environment variables are read when used: changing them (setenv) while other threads run
 *     clt is as unsafe as it is for getenv everywhere.
 *
 * Spec strings for clt_device_open(): a backend's prefix ("host", "cl" for OpenCL), alone or
 * with ":" and more.
 *   NULL          $CLT_DEVICE if set and not empty, else the first GPU, else the first other
 *                 accelerator, else the first CPU device of a backend other than the host's,
 *                 else the host
 *   "host"        the host device (always exists)
 *   "cl"          the first OpenCL GPU, else the first OpenCL device of any type
 *   "cl:N"        the N-th OpenCL device, counting over all platforms in the order clt-info
 *                 lists them
 *   "cl:TEXT"     the first OpenCL device whose driver (platform) name, driver vendor, device
 *                 vendor or device name contains TEXT (case-insensitive), e.g. "cl:nvidia",
 *                 "cl:pocl"
 * Every backend's prefix takes the same three forms. A spec that matches nothing gives
 * CLT_ERR_NO_DEVICE with a message listing the devices that do exist.
 */
#ifndef CLT_DEVICE_H
#define CLT_DEVICE_H

#include "clt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a device is. The values are part of the ABI and never change. */
typedef enum clt_device_type {
  CLT_DEVICE_HOST = 0,
  CLT_DEVICE_CPU = 1,
  CLT_DEVICE_GPU = 2,
  CLT_DEVICE_ACCELERATOR = 3,
  CLT_DEVICE_OTHER = 4
} clt_device_type;

/* What a device is and can do, in terms every backend shares (a backend's own details come
 * from its interop header: clt_cl_device_get_details in clt/clt_cl.h). Strings are NUL-terminated
 * and truncated to fit. */
typedef struct clt_device_info {
  char spec[32];             /* "host", "cl:0": opens this device again */
  char backend[16];          /* the backend that drives it: "host", "opencl" */
  char driver[128];          /* the driver that runs it (OpenCL: the platform's name,
                                "Portable Computing Language"); "" for the host */
  char driver_vendor[128];   /* "The pocl project", "NVIDIA Corporation", ...; "" for the host */
  char vendor[128];          /* the device's vendor */
  char name[128];
  char driver_version[64];   /* the driver's version; clt's for the host */
  char backend_version[128]; /* the API version the device offers, as its backend words it
                                ("OpenCL 3.0 PoCL 3.1 ..."); "" for the host */
  clt_device_type type;
  uint32_t compute_units;
  uint64_t global_mem_bytes;
  uint64_t max_alloc_bytes;
  uint64_t max_work_group_size;
  bool fp64;
  bool fp16;
  bool host_unified_memory;  /* device memory is host memory (CPU devices, integrated GPUs) */
} clt_device_info;

/* Opens the device the spec names (see above). Returns CLT_OK and a handle in *out, or an error
 * and *out = NULL. */
CLT_API clt_status clt_device_open(const char *spec, clt_device **out);
/* Adds a reference to dev and returns it. */
CLT_API clt_device *clt_device_retain(clt_device *dev);
/* Drops a reference; the last one closes the device. NULL is a no-op. With $CLT_LEAK_CHECK=1,
 * releasing the caller's last handle while tensors clt returned keep the device open names them
 * on stderr (clt_leak_report). */
CLT_API void clt_device_release(clt_device *dev);
/* Where OpenCL devices keep the program binaries they build (the binary cache, see the README):
 * dir, or NULL to go back to the default, which is $CLT_CACHE_DIR, else the platform's per-user
 * cache folder with "clt" appended (Windows %LOCALAPPDATA%\clt, macOS ~/Library/Caches/clt,
 * elsewhere $XDG_CACHE_HOME/clt or ~/.cache/clt). A directory set here comes before
 * $CLT_CACHE_DIR: an application that has its own cache folder (an Android app's getCacheDir(),
 * which has no HOME) names it here. Process-wide; programs built after the call use it. The
 * directory is made when missing and used only when private to this user. CLT_ERR_INVALID_ARG
 * for an empty name or one of 4096 bytes or more. Paths are UTF-8 on every platform. */
CLT_API clt_status clt_set_cache_dir(const char *dir);
/* The cache directory now in effect into buf (cap bytes, NUL-terminated); CLT_ERR_STATE when
 * there is none (nothing set, no $CLT_CACHE_DIR, no HOME), CLT_ERR_INVALID_ARG when it does not
 * fit. */
CLT_API clt_status clt_get_cache_dir(char *buf, size_t cap);
/* The capability record of an open device. */
CLT_API clt_status clt_device_get_info(const clt_device *dev, clt_device_info *out);
/* The spec string of an open device ("host", "cl:0", or "cl:app" for a wrapped one). */
CLT_API const char *clt_device_spec(const clt_device *dev);
CLT_API clt_device_type clt_device_type_of(const clt_device *dev);
CLT_API const char *clt_device_type_name(clt_device_type type);
/* Waits until every operation queued on dev has finished, the elementwise chains recorded on it
 * included (clt_eval). */
CLT_API clt_status clt_device_synchronize(clt_device *dev);
/* Which library runs float32 matrix products on the CPU (the host device, and OpenCL CPU devices
 * that share host memory under CLT_GEMM=auto) and why, as one line for people: "onednn, the
 * fastest at 256^3 here: cblas 40 GFLOP/s, onednn 180 GFLOP/s; onednn at 32x1024x144: cblas 97
 * GFLOP/s, onednn 196 GFLOP/s; cblas is OpenBLAS (Prescott core); warning: ...". Where the build
 * has more than one (CBLAS, and oneDNN's dnnl_sgemm when built with it), the first product of
 * more than 2^18 multiply-adds, or this call, measures each once per process and keeps the fastest
 * for products past 2^23 multiply-adds (the first figures), and apart, for products past 2^18 up
 * to 2^23, the fastest at a conv layer's shape (the second; oneDNN runs those on the calling thread
 * alone where clt finds its OpenMP runtime, $CLT_OPENMP_LIBRARY naming it); $CLT_CPU_GEMM
 * (cblas, onednn) names one for both instead. The line warns when OpenBLAS runs a core older
 * than the CPU (no AVX2 or AVX-512 kernels). Never NULL; the string lives as long as the
 * process. */
CLT_API const char *clt_cpu_gemm_provider(void);

/* Lists every device without opening one: the host first, then each other backend's devices
 * (OpenCL's) in spec order. Writes up to cap records to out (out may be NULL when cap is 0) and the number that
 * exist to *count. */
CLT_API clt_status clt_device_list(clt_device_info *out, size_t cap, size_t *count);
/* The spec clt_device_open(NULL) would open and, in reason, why ("$CLT_DEVICE is set",
 * "first GPU", ...). Either buffer may be NULL. */
CLT_API clt_status clt_device_default(char *spec, size_t spec_len, char *reason,
                                      size_t reason_len);

/* The backends of this build, in listing order, the host's first: their spec prefixes ("host",
 * "cl"). NULL for i past the last. */
CLT_API const char *clt_backend_name(size_t i);
/* Whether a backend of this build can run here, and what it runs on. The OpenCL backend ("cl")
 * loads the OpenCL ICD loader when first used (listing or opening a device, or this call):
 * $CLT_OPENCL_LIBRARY if set, else the one the process already has (it links one, or preloads
 * a replacement such as Oclgrind's: "in the process already"), else libOpenCL.so.1 (OpenCL.dll
 * on Windows, libOpenCL.so on Android, OpenCL.framework on macOS); then CLBlast, for matrix
 * products, the same way: $CLT_CLBLAST_LIBRARY, the process's own, else libclblast.so.1
 * (clblast.dll). Neither is a link-time dependency of clt. Without the ICD
 * loader, or with one that lacks a function clt calls, the backend lists no device and the
 * host keeps working; without CLBlast, matrix products use clt's own kernel.
 * Writes one line to note (may be NULL when note_len is 0, truncated to fit), e.g.
 *   "OpenCL: libOpenCL.so.1 (/usr/lib/x86_64-linux-gnu/libOpenCL.so.1); CLBlast: libclblast.so.1 (...)"
 *   "OpenCL: not loaded: libOpenCL.so.1: cannot open shared object file: No such file or
 *    directory (install an OpenCL ICD loader and a driver, or name the loader in $CLT_OPENCL_LIBRARY)"
 * and "built in" for the host. Returns CLT_OK when the backend can list devices (it may still
 * find none), CLT_ERR_UNSUPPORTED with the note as the error message when it cannot, and
 * CLT_ERR_INVALID_ARG for a name that is no backend of this build. What was loaded stays
 * loaded, and the answer the same, until the process exits. */
CLT_API clt_status clt_backend_get_status(const char *backend, char *note, size_t note_len);

/* Memory use of a device's buffer pool. */
typedef struct clt_memory_stats {
  uint64_t bytes_in_use;   /* held by live tensors */
  uint64_t bytes_cached;   /* freed by tensors, kept by the pool for reuse */
  uint64_t peak_bytes_in_use;
  uint64_t allocations;    /* buffers the backend really allocated */
  uint64_t pool_hits;      /* allocations served from the cache */
} clt_memory_stats;

CLT_API clt_status clt_device_get_memory_stats(const clt_device *dev, clt_memory_stats *out);
/* Frees every cached buffer of dev's pool. */
CLT_API clt_status clt_device_empty_cache(clt_device *dev);

#ifdef __cplusplus
}
#endif

#endif
