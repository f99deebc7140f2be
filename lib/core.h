/* Internal definitions shared by the vendor-neutral core and the backends. No OpenCL here. */
#ifndef CLT_CORE_H
#define CLT_CORE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clt.h"
#include "enums.h"
#include "platform.h"

/* ---- errors (error.c) ------------------------------------------------------------------- */

/* Every public entry point names itself first; messages recorded during the call start with
 * that name. Public functions never call other public functions, so the name stays right. */
void clt__api(const char *name);
const char *clt__api_name(void);
/* Records st and "<api>: <message>"; returns st. */
clt_status clt__err(clt_status st, const char *fmt, ...) CLT__PRINTF(2, 3);
/* For a NULL tensor argument: keeps an error already recorded (the chain rule of DESIGN.md),
 * else records CLT_ERR_INVALID_ARG naming the argument. Returns the recorded status. */
clt_status clt__null_arg(const char *arg);
/* Puts back a record read earlier with clt_last_status() and clt_last_error(): for work whose
 * own failures are not the caller's (the binary cache), which must neither leave an error of its
 * own nor replace one already recorded. */
void clt__err_restore(clt_status st, const char *msg);
/* Appends text to the recorded message (build logs). */
void clt__err_append(const char *fmt, ...) CLT__PRINTF(1, 2);
/* Writes "[2,3]" into buf (at least CLT__SHAPE_STR bytes). */
#define CLT__SHAPE_STR (CLT_MAX_DIMS * 21 + 3)
const char *clt__shape_str(char *buf, int ndim, const int64_t *shape);

/* ---- fault points and host memory (fault.c) --------------------------------------------- */

/* Every driver call of a backend (the OpenCL backend's CLT__CL), every dispatch of a backend
 * entry and every host allocation first asks clt__fault_hit() (allocations) or
 * clt__fault_hit_call(the call's text); a test arms it to make the Nth point fail. */
bool clt__fault_hit(void);
bool clt__fault_hit_call(const char *call);
/* Names the points that follow (until set back): the region whose failures the caller absorbs
 * by design (the binary cache's "binary cache"), or NULL. Returns the label it replaces. */
const char *clt__fault_region(const char *label);
/* The error code a failing point returns: the one the test armed, else default_code (the
 * backend's: CL_OUT_OF_RESOURCES for OpenCL calls). */
int clt__fault_code(int default_code);
/* Test controls: count points from zero, make the nth point from now (1-based) fail with code
 * (0: each point's default), read how many points passed, whether the armed fault fired. */
void clt__fault_reset(void);
void clt__fault_arm(long nth, int code);
long clt__fault_count(void);
bool clt__fault_fired(void);
/* Whether a test armed a fault on this thread (code that would move calls to another thread,
 * where faults do not count, keeps them on this one then). */
bool clt__fault_armed(void);
/* Where the armed fault fired, so a test can check the error names it: the call's text
 * ("clFinish(d->queue)", "dispatch(gemm)"), or NULL for a host allocation; and the region label
 * then in force. */
const char *clt__fault_fired_call(void);
const char *clt__fault_fired_region(void);

void *clt__malloc(size_t n);
void *clt__calloc(size_t n, size_t size);
void *clt__realloc(void *p, size_t n);
void clt__free_mem(void *p);
char *clt__strdup(const char *s);

/* The host device to stage data on for dev: dev itself when it is the host (so tensors made
 * there report dev), else a new host handle. Release it after use. */
clt_status clt__host_for(clt_device *dev, clt_device **host);

/* Live object counters, for leak tests. */
enum {
  CLT__LIVE_TENSORS,
  CLT__LIVE_STORAGES,
  CLT__LIVE_DEVICES,
  CLT__LIVE_BUFFERS,
  CLT__LIVE_PROGRAMS,
  CLT__LIVE_KERNELS,
  CLT__LIVE_EVENTS,
  CLT__LIVE_CONTEXTS, /* a backend's contexts and queues clt holds a reference to (OpenCL's: created or retained) */
  CLT__LIVE_QUEUES,
  CLT__LIVE_COUNT
};
extern atomic_long clt__live[CLT__LIVE_COUNT];
#define CLT__LIVE_INC(k) atomic_fetch_add(&clt__live[k], 1)
#define CLT__LIVE_DEC(k) atomic_fetch_sub(&clt__live[k], 1)

/* ---- checked arithmetic ----------------------------------------------------------------- */

static inline bool clt__mul_ovf(int64_t a, int64_t b, int64_t *r) {
#if defined(__GNUC__)
  return __builtin_mul_overflow(a, b, r);
#else
  if (a != 0 && b > INT64_MAX / a) return true;
  *r = a * b;
  return false;
#endif
}

static inline bool clt__add_ovf(int64_t a, int64_t b, int64_t *r) {
#if defined(__GNUC__)
  return __builtin_add_overflow(a, b, r);
#else
  if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b)) return true;
  *r = a + b;
  return false;
#endif
}

/* Wrapping multiply: any 0 factor still gives 0, and nothing is undefined. Products of a
 * tensor's sizes never wrap (every tensor's shape passes clt__shape_fits); new code forms them
 * with clt__mul_ovf or clt__dims_prod, which check all the same. */
static inline int64_t clt__wmul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

/* The rule every clt shape obeys (checked where a tensor or view is made): its sizes, with 0
 * counted as 1, multiply to at most INT64_MAX. So the element count, the row-major strides and
 * the product of any subset of the sizes fit in int64, also for an empty tensor such as
 * (0, 2^62, 2^62), which is refused (PyTorch refuses it too: "Stride calculation overflowed").
 * Sizes must be non-negative. *numel (may be NULL) gets the element count. */
bool clt__shape_fits(int ndim, const int64_t *shape, int64_t *numel);
/* The product of the sizes of dims [from, to) of a shape that fits: checked all the same (a
 * shape that broke the rule gives 0, so nothing is walked). */
int64_t clt__dims_prod(const int64_t *shape, int from, int to);

/* ---- dtypes (dtype.c) ------------------------------------------------------------------- */

bool clt__dtype_valid(clt_dtype dt);
/* Converts one element at src of dtype dt to double / int64, and back. */
double clt__load_f64(clt_dtype dt, const void *src);
int64_t clt__load_i64(clt_dtype dt, const void *src);
void clt__store_f64(clt_dtype dt, void *dst, double v);
/* v into a float dtype rounded once (int64 to float16/bfloat16 without going through double);
 * other dtypes as clt__store_f64. */
void clt__store_i64(clt_dtype dt, void *dst, int64_t v);

/* ---- devices, storage, tensors ---------------------------------------------------------- */

typedef struct clt__backend clt__backend;

struct clt_device {
  atomic_long refs;
  atomic_long storages; /* live storages on it, each holding one of refs (leak.c) */
  const clt__backend *be;
  clt_device_info info;
  void *impl; /* backend state */
};

typedef struct clt__storage {
  atomic_long refs;
  clt_device *dev;   /* retained */
  size_t nbytes;     /* 0: no memory behind it */
  void *ptr;         /* host memory (host backend), else NULL */
  void *handle;      /* backend object (cl_mem), else NULL */
  size_t capacity;   /* bytes the backend really holds (pool size class) */
  bool wrapped;       /* memory the caller lent (clt_wrap_host): never freed by clt */
  clt_free_fn free_fn; /* for wrapped memory: called once with (ptr, user), may be NULL */
  void *user;
  atomic_long version; /* bumped by in-place writes; shared by every view */
  /* The least and greatest of an integer storage's elements, known without reading them, so an
   * index check costs no device work (index.c). Set where clt wrote every element from values it
   * saw (clt_from_host; a gather from a storage with a known range); valid while version equals
   * range_version; forgotten before every in-place write and where the caller gets write access
   * (clt_host_data, clt_cl_tensor_get_buffer). */
  bool range_known;
  int64_t range_lo, range_hi;
  long range_version;
  /* Its elements are an elementwise chain's result not computed yet (fusion.h), or NULL. */
  struct clt__pending *pending;
} clt__storage;

static inline void clt__range_set(clt__storage *st, int64_t lo, int64_t hi) {
  st->range_known = true;
  st->range_lo = lo;
  st->range_hi = hi;
  st->range_version = atomic_load(&st->version);
}
static inline void clt__range_forget(clt__storage *st) { st->range_known = false; }
static inline bool clt__range_get(const clt__storage *st, int64_t *lo, int64_t *hi) {
  if (!st->range_known || st->range_version != atomic_load(&st->version)) return false;
  *lo = st->range_lo;
  *hi = st->range_hi;
  return true;
}

struct clt__node;

struct clt_tensor {
  atomic_long refs;
  clt__storage *st;
  clt_dtype dtype;
  int ndim;
  int64_t shape[CLT_MAX_DIMS];
  int64_t strides[CLT_MAX_DIMS];
  int64_t offset;
  int64_t numel;
  /* autograd (autograd.c) */
  bool requires_grad;
  bool is_view;             /* made by a public view op: in-place ops on it record nothing */
  struct clt__node *grad_fn; /* the recorded op that made it; NULL for leaves (retained) */
  clt_tensor *grad;         /* a leaf's accumulated gradient (retained) */
  /* leaks a user can see (leak.c): the public function that made it, and its place in the list
   * of tensors clt functions have returned, while it is there */
  const char *made_by;
  bool listed;
  clt_tensor *list_prev, *list_next;
};

/* Whether dev is the host device: its storages' memory is ptr, addressed directly. */
bool clt__is_host(const clt_device *dev);
/* The spec grammar (include/clt/device.h) over the devices of every backend in registry order
 * (device.c): *index gets the device's position in devs; why gets the reason for a default
 * choice (spec NULL); CLT_ERR_NO_DEVICE (not recorded) when nothing matches. A backend's devices
 * are those whose spec starts with its prefix. */
clt_status clt__spec_resolve(const char *spec, const clt_device_info *devs, size_t n, size_t *index, const char **why);
bool clt__same_device(const clt_device *a, const clt_device *b);
clt_device *clt__device_new(const clt__backend *be, void *impl);
/* Work still queued when the process exits (main returned without closing a device) must finish
 * before the libraries it calls are torn down: exit() runs atexit functions and the destructors
 * of libraries (oneDNN's JIT kernels, freed by destructors registered when it is loaded and at
 * its first product) in the reverse order of registration. A backend with queues arms fn, which
 * waits for them; a library loaded or first called later arms again (fn NULL: the one armed),
 * so that the wait runs before its destructors. At most 16 arms; fn runs once, at exit, at the
 * turn of the latest arm. */
void clt__exit_drain_arm(void (*fn)(void));

/* Validates a shape (0..CLT_MAX_DIMS dims, sizes >= 0, clt__shape_fits) and gives its element
 * count (numel may be NULL). arg names the argument in messages. */
clt_status clt__check_shape(int ndim, const int64_t *shape, int64_t *numel, const char *arg);
/* Records CLT_ERR_OVERFLOW for a shape that breaks clt__shape_fits, naming arg and the shape. */
clt_status clt__shape_overflow(int ndim, const int64_t *shape, const char *arg);
/* Row-major strides for shape. */
void clt__contig_strides(int ndim, const int64_t *shape, int64_t *strides);
bool clt__is_contig(const clt_tensor *t);
/* Bytes of numel elements of dt, or an error on overflow. */
clt_status clt__nbytes(int64_t numel, clt_dtype dt, size_t *out);

/* Validates a wrap of memory the caller lends (clt_wrap_host and the like): dtype, shape, data
 * not NULL unless empty, strides (elements, NULL: row-major) not negative. On success *numel is
 * the element count and *nbytes the extent of memory the strides reach. */
clt_status clt__check_wrap(const void *data, clt_dtype dt, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t *numel, size_t *nbytes);
/* A tensor over memory the caller lends (lib/wrap.c), for clt_cl_tensor_wrap and DLPack: on the
 * host device mem is host memory, elsewhere the backend's own memory object (wrap_handle: a
 * cl_mem), adopted with a reference of its own. byte_offset is the first element's (a multiple of
 * the element size off the host); strides in elements (NULL: row-major), not negative; on a
 * device the view must fit in the object. mem may be NULL for an empty tensor. free_fn(NULL for a
 * memory object, else the host pointer, user) runs exactly once: when the last tensor on the
 * memory goes, or before this returns NULL. No scope registration. */
clt_tensor *clt__wrap_lent(clt_device *dev, void *mem, size_t byte_offset, clt_dtype dt, int ndim,
                           const int64_t *shape, const int64_t *strides, clt_free_fn free_fn, void *user);
/* New storage of nbytes on dev (uninitialised). */
clt_status clt__storage_new(clt_device *dev, size_t nbytes, clt__storage **out);
void clt__storage_release(clt__storage *st);

/* Internal constructors: no scope registration, errors recorded under the current API name. */
clt_tensor *clt__tensor_alloc(void); /* header only */
clt_tensor *clt__empty(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape);
clt_tensor *clt__full(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape, double v);
/* A view of base's storage; NULL and CLT_ERR_OVERFLOW for a shape that breaks clt__shape_fits. */
clt_tensor *clt__view_of(const clt_tensor *base, int ndim, const int64_t *shape,
                         const int64_t *strides, int64_t offset);
clt_tensor *clt__contiguous(clt_tensor *t);
/* Whether t (numel and shape already checked) can be viewed as shape without a copy (PyTorch's
 * computeStride); if so *out gets the view (NULL where making it failed, the error set). */
bool clt__reshape_view(clt_tensor *t, int ndim, const int64_t *shape, clt_tensor **out);
clt_tensor *clt__clone(const clt_tensor *t);
clt_tensor *clt__to(clt_tensor *t, clt_device *dev);
clt_tensor *clt__from_host(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape,
                           const void *data);
clt_status clt__to_host(const clt_tensor *t, void *dst);
/* Copies src's elements into dst (same shape and dtype, same device; dst may be a view). */
clt_status clt__copy_into(clt_tensor *dst, const clt_tensor *src);
void clt__tensor_release(clt_tensor *t);
static inline clt_tensor *clt__retain(clt_tensor *t) {
  if (t) atomic_fetch_add(&t->refs, 1);
  return t;
}
/* Normalises a possibly negative dim into 0..n-1; records CLT_ERR_INDEX otherwise. */
clt_status clt__wrap_dim(int dim, int n, const char *arg, int *out);

/* Scope registration of a tensor a public function is about to return (and its entry in the
 * leak list). */
clt_tensor *clt__ret(clt_tensor *t);

/* Leaks a user can see (leak.c): tensors clt returned to the caller are listed until their last
 * reference goes, so that clt_leak_report and $CLT_LEAK_CHECK=1 can name them. */
void clt__leak_list(clt_tensor *t);
void clt__leak_unlist(clt_tensor *t);
/* Under $CLT_LEAK_CHECK=1: arranges the report at exit (once), when a device opens. */
void clt__leak_check_arm(void);
/* Under $CLT_LEAK_CHECK=1: dev's last handle was released (public clt_device_release) while
 * tensors keep it open: names them on stderr. */
void clt__leak_device_released(const clt_device *dev);
/* Drops a reference to dev without the leak check: for the core's own handles. */
void clt__device_drop(clt_device *dev);

/* Internal clt_rand / clt_randn (this thread's generator). */
clt_tensor *clt__rand(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape);
clt_tensor *clt__randn(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape);

/* Host RNG: fills n elements of dt from (seed, counter) as clt_rand defines. */
void clt__philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
void clt__philox_uniform(void *dst, clt_dtype dt, int64_t n, uint64_t seed, uint64_t counter);
/* Blocks of 4 words used by n elements of dt. */
uint64_t clt__philox_blocks(clt_dtype dt, int64_t n);
/* This thread's generator's seed and counter, advanced past blocks blocks the caller takes
 * (host-made random tensors: randperm, randint). */
void clt__rng_take(uint64_t blocks, uint64_t *seed, uint64_t *counter);

#endif
