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
/* The capability record of an open device. */
CLT_API clt_status clt_device_get_info(const clt_device *dev, clt_device_info *out);
/* The spec string of an open device ("host", "cl:0", or "cl:app" for a wrapped one). */
CLT_API const char *clt_device_spec(const clt_device *dev);
CLT_API clt_device_type clt_device_type_of(const clt_device *dev);
CLT_API const char *clt_device_type_name(clt_device_type type);
/* Waits until every operation queued on dev has finished, the elementwise chains recorded on it
 * included (clt_eval). */
CLT_API clt_status clt_device_synchronize(clt_device *dev);

/* Lists every device without opening one: the host first, then each other backend's devices
 * (OpenCL's) in spec order. Writes up to cap records to out (out may be NULL when cap is 0) and the number that
 * exist to *count. */
CLT_API clt_status clt_device_list(clt_device_info *out, size_t cap, size_t *count);
/* The spec clt_device_open(NULL) would open and, in reason, why ("$CLT_DEVICE is set",
 * "first GPU", ...). Either buffer may be NULL. */
CLT_API clt_status clt_device_default(char *spec, size_t spec_len, char *reason,
                                      size_t reason_len);

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
