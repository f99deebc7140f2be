/* Internal definitions of the OpenCL backend. Only files in lib/cl/ include this. */
#ifndef CLT_CL_INTERNAL_H
#define CLT_CL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
/* <CL/cl.h> (<OpenCL/opencl.h> on macOS) through clt/clt_cl.h, first: cl_api.h needs its types */
#include "clt/clt_cl.h"
#ifdef CLT_HAVE_CLBLAST
#include <clblast_c.h>
#endif

#include "../backend.h"
#include "cl_api.h" /* every OpenCL and CLBlast call through the tables loader.c fills */
#include "kernels_embedded.h"

/* The OpenCL backend's table (backend.c); its registry entry is clt__backend_cl (device.c). */
extern const clt__backend clt__cl_backend;

/* Every OpenCL call goes through one of these, so a test can make it fail (fault.c), by default
 * with CL_OUT_OF_RESOURCES; the call itself goes on through the table of cl_api.h. */
#define CLT__CL(call) (clt__fault_hit_call(#call) ? (cl_int)clt__fault_code(CL_OUT_OF_RESOURCES) : (call))
#define CLT__CL_OBJ(errp, call) \
  (clt__fault_hit_call(#call) ? (*(errp) = (cl_int)clt__fault_code(CL_OUT_OF_RESOURCES), NULL) : (call))

/* "CL_OUT_OF_RESOURCES" for -5 ... */
const char *clt__cl_error_name(cl_int err);
/* Records a failed OpenCL call: "<api>: <call> failed with CL_X (-n): <detail>", with the
 * status that fits the code (device or host out of memory, else CLT_ERR_BACKEND). */
clt_status clt__cl_fail(const char *call, cl_int err, const char *fmt, ...) CLT__PRINTF(3, 4);
/* The same for allocations: out-of-resources codes give CLT_ERR_DEVICE_OOM. */
clt_status clt__cl_fail_alloc(const char *call, cl_int err, const char *fmt, ...) CLT__PRINTF(3, 4);

/* Programs are built per family and per variant: the dtype the family's kernels are stamped for
 * (-DCLT_DT=n), or none for dtype-agnostic families. */
#define CLT__VARIANT_NONE CLT_DTYPE_COUNT
#define CLT__NVARIANTS (CLT_DTYPE_COUNT + 1)

/* A kernel and its launch shapes. Entries are allocated one by one and live until the device
 * closes, so a pointer to one stays valid while the table grows under another thread. The
 * cl_kernel's arguments are set only under the device's enqueue lock (clt__cl_launch). */
typedef struct {
  const char *name; /* interned copy */
  int variant;
  cl_kernel kernel;
  size_t local;     /* work-group size used for 1-D launches */
  size_t walk_local; /* work-group size for elementwise strided walks (program.c: pick_local) */
} clt__cl_kernel_entry;

/* Freed buffers kept for reuse, by size class (pool.c). */
#define CLT__POOL_CLASSES 256
typedef struct {
  cl_mem *bufs;
  size_t len, cap;
  size_t out; /* buffers of this class held by storages: bufs has room for all of them, so a
                 free never allocates and cannot fail */
} clt__pool_bucket;

/* One device handle may be used by several threads at once (include/clt/device.h). What they
 * share is guarded by three locks, none held while taking another:
 *   kernel_lock  programs and the kernel table (program.c), held while a family builds;
 *   enqueue_lock from the first clSetKernelArg of a launch to its clEnqueueNDRangeKernel, since a
 *                cl_kernel's arguments are the one thing OpenCL does not make thread-safe; and
 *                around each group of map or unmap enqueues of the host's GEMM (gemm.c): threads
 *                mapping one buffer at once (a tensor they all multiply) made PoCL 3.1 crash in
 *                pocl_driver_map_mem or refuse an unmap with CL_INVALID_VALUE (it finds a
 *                mapping by its pointer, and such mappings share one);
 *   pool_lock    the buffer pool, held buffers and the statistics (pool.c);
 *   ptr_lock     the host addresses of buffers (ew.c: the host route); the one lock taken while
 *                another is held: under pool_lock, when the pool releases a buffer.
 * The queue is OpenCL's and thread-safe; in order, so each thread's commands keep their order.
 * queued and settled are atomics. Everything else is set at open and only read afterwards. */
typedef struct clt__cl_dev {
  cl_platform_id platform;
  cl_device_id device;
  cl_context ctx;
  cl_command_queue queue;
  clt_cl_details details;                 /* OpenCL's own record (clt_cl_device_get_details) */
  clt__mutex kernel_lock, enqueue_lock, pool_lock, ptr_lock;
  char options[256];                      /* kernel build options */
  char cache_key[1024];                   /* device identity for the binary cache */
  cl_program programs[CLT__KFAM_COUNT][CLT__NVARIANTS]; /* built lazily */
  clt__cl_kernel_entry **kernels;         /* open-addressing table by name */
  size_t nkernels, kernel_cap;
  struct clt__cl_fused_entry *fused;      /* generated kernels of fused chains, by signature (ew.c) */
  size_t max_local;
  size_t max_item[3]; /* CL_DEVICE_MAX_WORK_ITEM_SIZES */
  bool is_pocl;                           /* PoCL: no binary cache by default (program.c) */
  bool is_cpu;                            /* CL_DEVICE_TYPE_CPU (ew.c, program.c) */
  bool gpu_kernels;                       /* the GPU-shaped kernels (program.c: clt__cl_pick_variant) */
  bool int64_atomics;                     /* cl_khr_int64_base_atomics */
  bool counted;                           /* counted among open devices (gemm.c) */
  bool host_memory;                       /* buffers are this process's memory (pool.c) */
  atomic_bool clblast_unusable;           /* CLBlast's kernels failed to run here (gemm.c) */
  atomic_bool app_queue;                  /* the application holds the queue: no GEMM chains (gemm.c) */
  /* gemm.c's chain of host products (under its chain lock): the one still open, d->queued while
   * its barrier is the last command clt queued, and the products since it opened */
  struct clt__gemm_chain *chain;
  unsigned long long chain_expect;
  const void *chain_maker; /* the thread that made the last chain (gemm.c: chain_follow) */
  int chain_len;
  char gemm_tuning[256];                  /* CLBlast kernels given parameters at open (tuning.c) */
  enum { CLT__CACHING, CLT__NO_CACHING_RELEASE, CLT__NO_CACHING_HOLD } no_caching; /* pool.c */
  cl_mem *held;                           /* freed buffers held until the cache empties (mode 2) */
  size_t nheld, held_cap;
  clt__pool_bucket pool[CLT__POOL_CLASSES];
  clt_memory_stats stats;
  /* The host route (ew.c): elementwise programs of at most host_max elements run on the calling
   * thread, by the reference backend's device ref, over the buffers' host addresses (ptrs, an
   * open-addressing table by cl_mem, of ptr_cap slots, a power of two), when nothing clt queued
   * is still pending: queued counts the commands clt enqueued (counted after each enqueue, by
   * the enqueuing thread), settled the most of them known complete (a clFinish or a blocking
   * transfer or map returned). host_max 0: off. */
  int64_t host_max;
  clt_device *ref;
  atomic_ullong queued, settled;
  struct clt__cl_hostptr *ptrs;
  size_t nptrs, ptr_cap;
  struct clt__cl_dev *next_open; /* the open devices (device.c: drained at exit) */
} clt__cl_dev;

/* Counts a command clt enqueued on d's queue (every clEnqueue* of clt goes through a point that
 * calls this afterwards: program.c's launches, backend.c's copy, unmap and GEMM). */
static inline void clt__cl_queued(clt__cl_dev *d) { atomic_fetch_add(&d->queued, 1); }
/* Around a call that returns once every command enqueued before it has completed (clFinish, a
 * blocking read, write or map): the count before it, and settled raised to it afterwards. */
static inline unsigned long long clt__cl_settle_begin(clt__cl_dev *d) { return atomic_load(&d->queued); }
static inline void clt__cl_settle_end(clt__cl_dev *d, unsigned long long at) {
  unsigned long long s = atomic_load(&d->settled);
  while (s < at && !atomic_compare_exchange_weak(&d->settled, &s, at)) {
  }
}

static inline clt__cl_dev *clt__cl(const clt_device *dev) { return (clt__cl_dev *)dev->impl; }
static inline cl_mem clt__cl_mem(const clt__storage *st) { return (cl_mem)st->handle; }

/* Programs and kernels (program.c). */
/* Chooses the kernel variant once, when the device opens: the GPU-shaped kernels (work-group
 * reductions, tiled transposes; built with -DCLT_GPU=1) on every device but CPUs, or what
 * $CLT_KERNEL_VARIANT says (gpu or cpu), so that PoCL and Oclgrind can run either. Appends the
 * define to d->options. */
clt_status clt__cl_pick_variant(clt__cl_dev *d);
/* Kernels' fixed work-group size for 1-D launches, and the largest the GPU-shaped kernels'
 * local arrays hold (kernels/common.clh: CLT_WG_MAX). */
#define CLT__WG_MAX 256
clt_status clt__cl_kernel(clt__cl_dev *d, int family, int variant, const char *name,
                          clt__cl_kernel_entry **out);
void clt__cl_programs_release(clt__cl_dev *d);
/* A program built from generated sources (n texts) with the device's options and -DCLT_DT=variant;
 * what names it in errors. Counted as a live program: the caller releases it with
 * clReleaseProgram and CLT__LIVE_DEC(CLT__LIVE_PROGRAMS). */
clt_status clt__cl_build_generated(clt__cl_dev *d, cl_uint n, const char **text, const size_t *len, int variant,
                                   const char *what, cl_program *out);
/* A kernel entry of prog outside the kernel table (its launch shapes picked as the table's are),
 * and its release. */
clt_status clt__cl_entry_new(clt__cl_dev *d, cl_program prog, const char *name, int variant,
                             clt__cl_kernel_entry **out);
void clt__cl_entry_free(clt__cl_kernel_entry *e);

/* A launch's kernel arguments, recorded in order on the caller's stack and handed to the
 * kernel only by the launch, under the device's enqueue lock. Too many or too large gives
 * CL_INVALID_ARG_SIZE at the launch (a bug in clt, reported like any failed clSetKernelArg). */
#define CLT__MAX_KARGS 24
#define CLT__KARG_BYTES 1024
typedef struct {
  const clt__cl_kernel_entry *k;
  cl_uint i;  /* arguments recorded */
  cl_int err; /* the first failure */
  size_t used;
  uint16_t off[CLT__MAX_KARGS], size[CLT__MAX_KARGS];
  unsigned char data[CLT__KARG_BYTES];
} clt__cl_args;
/* Starts k's arguments (without clearing the value bytes: a launch costs microseconds). */
static inline void clt__cl_args_init(clt__cl_args *a, const clt__cl_kernel_entry *k) {
  a->k = k;
  a->i = 0;
  a->err = CL_SUCCESS;
  a->used = 0;
}
void clt__cl_arg(clt__cl_args *a, size_t size, const void *value);
#define CLT__ARG(a, v) clt__cl_arg((a), sizeof(v), &(v))
/* Reserves the next argument, size bytes, for a value set later (clt__cl_launch_iter's walk);
 * returns its index. */
cl_uint clt__cl_arg_slot(clt__cl_args *a, size_t size);
/* Launches a 1-D range of n work-items (padded to the kernel's local size; the kernel bounds-
 * checks). n must be > 0. */
clt_status clt__cl_launch(clt__cl_dev *d, const clt__cl_args *a, size_t n);

/* Launches groups work-groups of local work-items each (local a power of two up to the
 * kernel's local size), for kernels that give each group one task of that many lanes. */
clt_status clt__cl_launch_groups(clt__cl_dev *d, const clt__cl_args *a, size_t groups, size_t local);

/* Launches a's kernel over rows of inner work-items: dimension 0 walks the row, dimensions 1
 * and 2 together number the rows (global ids g1 + size1 * g2); power-of-two work-group shapes
 * of group work-items (k->local or k->walk_local), padded ranges, so the kernel bounds-checks
 * both. */
clt_status clt__cl_launch_rows(clt__cl_dev *d, const clt__cl_args *a, size_t inner, size_t rows, size_t group);

/* The walk as the index kernels see it (kernels/common.clh: clt_iter). */
typedef struct {
  cl_long ndim, numel;
  cl_long shape[CLT_MAX_DIMS];
  cl_long stride[CLT__MAX_OPS][CLT_MAX_DIMS];
  cl_long offset[CLT__MAX_OPS];
} clt__cl_iter;
void clt__cl_iter_from(clt__cl_iter *out, const clt__iter *it);

/* The walk as the elementwise kernels see it (kernels/common.clh: clt_walk): at most
 * CLT__WALK_DIMS dims, the last one the row, fewer than 2^31 rows. */
#define CLT__WALK_DIMS 4
typedef struct {
  cl_long rows;
  cl_long shape[CLT__WALK_DIMS];
  cl_long stride[CLT__MAX_OPS][CLT__WALK_DIMS];
  cl_long offset[CLT__MAX_OPS];
  cl_uint magic[CLT__WALK_DIMS], shift[CLT__WALK_DIMS];
} clt__cl_walk;
/* Launches an elementwise kernel over it. Contiguous: one 1-D launch over numel, its arguments
 * all set. Strided: argument walk_arg is a slot (clt__cl_arg_slot, sizeof(clt__cl_walk)) this
 * function fills with a clt__cl_walk, launching once per piece, splitting walks of more dims or
 * elements than clt_walk holds. */
clt_status clt__cl_launch_iter(clt__cl_dev *d, clt__cl_args *a, cl_uint walk_arg, const clt__iter *it);
/* magic and shift for dividing n < 2^31 by d (1 <= d < 2^31) in a kernel:
 * n / d = (mul_hi(n, magic) + n) >> shift (program.c). */
void clt__cl_divisor(uint64_t d, cl_uint *magic, cl_uint *shift);

/* With the GPU-shaped kernels, a copy along it (operand 0 dst, 1 src) whose two operands step
 * by one element along different dims goes through tiles in local memory (transpose.c); *done
 * tells whether it did, or whether the caller's strided walk is still to run. */
clt_status clt__cl_copy_tiled(clt__cl_dev *d, const clt__iter *it, cl_mem dst, cl_mem src, size_t esize, bool *done);

/* Closes a device (device.c). Release calls are not fault points: a failed release cannot be
 * handled, only leaked. */
void clt__cl_destroy(clt_device *dev);

/* Elementwise ops and casts (ew.c). A program of several instructions runs as one kernel
 * generated for its signature (its instructions, registers and dtypes, and whether the walk is
 * contiguous), built once per device and kept until it closes; clt__cl_fused_release frees
 * them (under the kernel lock or at close). */
void clt__cl_fused_release(clt__cl_dev *d);
/* The host route's setup at open ($CLT_HOST_OPS, the reference device) and its release at
 * close; the pool forgets a buffer's host address before releasing it (ptr_lock). */
clt_status clt__cl_host_route_open(clt__cl_dev *d, const clt_device_info *in);
/* Elementwise programs the host route ran, since the process started (tests). */
extern atomic_ulong clt__cl_host_runs;
/* Marker-barrier pairs the host's GEMM queued: one per run of products (gemm.c). */
extern atomic_ulong clt__cl_gemm_chains;
void clt__cl_host_route_close(clt__cl_dev *d);
bool clt__cl_hostptr_forget(clt__cl_dev *d, cl_mem m); /* whether it was known */
/* Learns the host address of st's buffer (pool buffers, with the route on) unless known. */
clt_status clt__cl_hostptr_learn(clt__cl_dev *d, const clt__storage *st);
/* st's buffer's learnt host address (its own memory on PoCL), or NULL where the route is off,
 * the buffer is the caller's (wrapped) or was not learnt: backend.c's map hands it out. */
void *clt__cl_hostptr_of(clt__cl_dev *d, const clt__storage *st);
/* Whether a generated kernel can run p: every instruction computes in one dtype. */
bool clt__cl_fusable(const clt__ew_prog *p);
clt_status clt__cl_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st);
clt_status clt__cl_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                        const clt__storage *src, clt_dtype sdt);

/* Reductions (reduce.c). */
struct clt__reduce_args_s;
struct clt__softmax_args_s;
clt_status clt__cl_reduce(clt_device *dev, const struct clt__reduce_args_s *r);
clt_status clt__cl_softmax(clt_device *dev, const struct clt__softmax_args_s *a);

/* gather and scatter_add (index.c). */
clt_status clt__cl_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                          const clt__storage *index, clt_dtype dt, clt_dtype idt);
clt_status clt__cl_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                               const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt);

/* Matrix products (gemm.c); CLBlast's cache is cleared when the last device closes. */
clt_status clt__cl_gemm(clt_device *dev, const clt__gemm_args *g);
void clt__cl_gemm_device_opened(void);
void clt__cl_gemm_device_closed(void);
/* Sets CLBlast's kernel parameters for the device from clt's built-in table and
 * $CLT_CLBLAST_TUNING (tuning.c), listing what it set in d->gemm_tuning. */
clt_status clt__cl_gemm_tune(clt__cl_dev *d, const clt_device_info *in);
/* "CLBlastMissingOverrideParameter" for -2047 ..., else the OpenCL name (gemm.c; CLBlast builds). */
const char *clt__clblast_status_name(int code);

/* Fused cross entropy and optimizer steps (nn.c). */
clt_status clt__cl_ce_fwd(clt_device *dev, const clt__ce_args *a);
clt_status clt__cl_ce_bwd(clt_device *dev, const clt__ce_args *a);
/* Normalization (norm.c, kernels/norm.cl). */
clt_status clt__cl_norm_fwd(clt_device *dev, const clt__norm_args *a);
clt_status clt__cl_norm_bwd(clt_device *dev, const clt__norm_args *a);
/* Attention (attn.c, kernels/attn.cl). */
clt_status clt__cl_attn_fwd(clt_device *dev, const clt__attn_args *a);
clt_status clt__cl_attn_bwd(clt_device *dev, const clt__attn_args *a);
/* im2col, col2im and max pooling (conv.c, kernels/conv.cl). */
clt_status clt__cl_windows(clt_device *dev, const clt__win_args *a);
clt_status clt__cl_optim_step(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                              int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2);
clt_status clt__cl_optim_steps(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int n,
                               const clt__optim_part *parts);

/* Memory (pool.c). */
clt_status clt__cl_alloc(clt_device *dev, clt__storage *st);
void clt__cl_free(clt_device *dev, clt__storage *st);
/* Empties the pool (takes the pool lock). */
void clt__cl_pool_empty(clt__cl_dev *d);
void clt__cl_memory_stats(const clt_device *dev, clt_memory_stats *out);
clt_status clt__cl_wrap_host(clt_device *dev, clt__storage *st);
clt_status clt__cl_wrap_handle(clt_device *dev, void *handle, clt__storage *st);

#endif
