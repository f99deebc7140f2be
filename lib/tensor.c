/* Storage, tensor headers, reference counts, properties and creation. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "dispatch.h"
#include "fusion.h"

/* ---- shapes ----------------------------------------------------------------------------- */

bool clt__shape_fits(int ndim, const int64_t *shape, int64_t *numel) {
  int64_t p = 1;
  bool empty = false;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 0) empty = true;
    else if (clt__mul_ovf(p, shape[d], &p)) return false;
  }
  if (numel) *numel = empty ? 0 : p;
  return true;
}

int64_t clt__dims_prod(const int64_t *shape, int from, int to) {
  int64_t p = 1;
  for (int d = from; d < to; d++)
    if (clt__mul_ovf(p, shape[d], &p)) return 0;
  return p;
}

clt_status clt__shape_overflow(int ndim, const int64_t *shape, const char *arg) {
  char buf[CLT__SHAPE_STR];
  bool empty = false;
  for (int d = 0; d < ndim; d++) empty = empty || shape[d] == 0;
  if (empty)
    return clt__err(CLT_ERR_OVERFLOW, "%s %s overflows: its sizes other than 0 multiply past 2^63 - 1", arg,
                    clt__shape_str(buf, ndim, shape));
  return clt__err(CLT_ERR_OVERFLOW, "%s %s has more than 2^63 - 1 elements", arg, clt__shape_str(buf, ndim, shape));
}

clt_status clt__check_shape(int ndim, const int64_t *shape, int64_t *numel, const char *arg) {
  if (ndim < 0 || ndim > CLT_MAX_DIMS)
    return clt__err(CLT_ERR_SHAPE, "%s has %d dims; 0 to %d are allowed", arg, ndim, CLT_MAX_DIMS);
  if (ndim > 0 && !shape) return clt__err(CLT_ERR_INVALID_ARG, "%s is NULL with ndim %d", arg, ndim);
  char buf[CLT__SHAPE_STR];
  for (int d = 0; d < ndim; d++)
    if (shape[d] < 0)
      return clt__err(CLT_ERR_SHAPE, "%s %s has a negative size in dim %d", arg,
                      clt__shape_str(buf, ndim, shape), d);
  return clt__shape_fits(ndim, shape, numel) ? CLT_OK : clt__shape_overflow(ndim, shape, arg);
}

void clt__contig_strides(int ndim, const int64_t *shape, int64_t *strides) {
  int64_t s = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    strides[d] = s;
    if (clt__mul_ovf(s, shape[d] > 1 ? shape[d] : 1, &s)) s = 0; /* only for a shape that broke the rule */
  }
}

bool clt__is_contig(const clt_tensor *t) {
  if (t->numel <= 1) return true;
  int64_t s = 1; /* at most numel: every size is >= 1 here */
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->strides[d] != s) return false;
    s *= t->shape[d];
  }
  return true;
}

clt_status clt__nbytes(int64_t numel, clt_dtype dt, size_t *out) {
  int64_t b;
  if (clt__mul_ovf(numel, (int64_t)clt_dtype_size(dt), &b) || (uint64_t)b > (uint64_t)SIZE_MAX)
    return clt__err(CLT_ERR_OVERFLOW, "%lld elements of %s overflow the address space",
                    (long long)numel, clt_dtype_name(dt));
  *out = (size_t)b;
  return CLT_OK;
}

clt_status clt__wrap_dim(int dim, int n, const char *arg, int *out) {
  int lo = n > 0 ? -n : -1, hi = n > 0 ? n - 1 : 0;
  if (dim < lo || dim > hi)
    return clt__err(CLT_ERR_INDEX, "%s %d is out of range for a %d-d tensor (expected %d..%d)", arg,
                    dim, n, lo, hi);
  *out = dim < 0 ? dim + (n > 0 ? n : 1) : dim;
  return CLT_OK;
}

/* ---- storage ---------------------------------------------------------------------------- */

clt_status clt__storage_new(clt_device *dev, size_t nbytes, clt__storage **out) {
  clt__storage *st = clt__calloc(1, sizeof *st);
  if (!st) return clt__err(CLT_ERR_OOM, "cannot allocate a storage header");
  atomic_init(&st->refs, 1);
  atomic_init(&st->version, 0);
  st->nbytes = nbytes;
  if (nbytes > 0) {
    if ((uint64_t)nbytes > dev->info.max_alloc_bytes) {
      clt__free_mem(st);
      return clt__err(CLT_ERR_DEVICE_OOM,
                      "%zu bytes exceed the largest allocation of %s (%llu bytes)", nbytes,
                      dev->info.spec, (unsigned long long)dev->info.max_alloc_bytes);
    }
    clt_status s = dev->be->alloc(dev, st);
    if (s != CLT_OK) {
      clt__free_mem(st);
      return s;
    }
  }
  st->dev = clt_device_retain(dev);
  atomic_fetch_add(&dev->storages, 1);
  CLT__LIVE_INC(CLT__LIVE_STORAGES);
  *out = st;
  return CLT_OK;
}

void clt__storage_release(clt__storage *st) {
  if (!st || atomic_fetch_sub(&st->refs, 1) != 1) return;
  clt__fusion_drop(st); /* a result nobody read: never computed */
  if (st->wrapped) {
    if (st->handle) st->dev->be->free(st->dev, st); /* the backend's view of the memory */
    if (st->free_fn) st->free_fn(st->ptr, st->user);
  } else if (st->nbytes > 0)
    st->dev->be->free(st->dev, st);
  atomic_fetch_sub(&st->dev->storages, 1);
  clt__device_drop(st->dev);
  clt__free_mem(st);
  CLT__LIVE_DEC(CLT__LIVE_STORAGES);
}

/* ---- tensor headers --------------------------------------------------------------------- */

clt_tensor *clt__tensor_alloc(void) {
  clt_tensor *t = clt__calloc(1, sizeof *t);
  if (!t) {
    clt__err(CLT_ERR_OOM, "cannot allocate a tensor header");
    return NULL;
  }
  atomic_init(&t->refs, 1);
  t->made_by = clt__api_name();
  CLT__LIVE_INC(CLT__LIVE_TENSORS);
  return t;
}

void clt__tensor_release(clt_tensor *t) {
  if (!t || atomic_fetch_sub(&t->refs, 1) != 1) return;
  clt__leak_unlist(t);
  clt__node_release(t->grad_fn);
  clt__tensor_release(t->grad);
  clt__storage_release(t->st);
  clt__free_mem(t);
  CLT__LIVE_DEC(CLT__LIVE_TENSORS);
}

clt_tensor *clt__view_of(const clt_tensor *base, int ndim, const int64_t *shape,
                         const int64_t *strides, int64_t offset) {
  int64_t numel;
  if (!clt__shape_fits(ndim, shape, &numel)) /* public ops check first, naming their argument */
    return clt__shape_overflow(ndim, shape, "the view's shape"), NULL;
  clt_tensor *t = clt__tensor_alloc();
  if (!t) return NULL;
  t->st = base->st;
  atomic_fetch_add(&t->st->refs, 1);
  t->dtype = base->dtype;
  t->ndim = ndim;
  t->numel = numel;
  for (int d = 0; d < ndim; d++) {
    t->shape[d] = shape[d];
    t->strides[d] = strides[d];
  }
  t->offset = offset;
  return t;
}

static clt_status check_dtype_on(clt_device *dev, clt_dtype dt) {
  if (!clt__dtype_valid(dt)) return clt__err(CLT_ERR_DTYPE, "dtype %d is not a clt dtype", (int)dt);
  if (dt == CLT_FLOAT64 && !dev->info.fp64)
    return clt__err(CLT_ERR_UNSUPPORTED, "float64 is not supported by %s (%s): it lacks fp64",
                    dev->info.spec, dev->info.name);
  return CLT_OK;
}

clt_tensor *clt__empty(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape) {
  if (!dev) {
    clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
    return NULL;
  }
  int64_t numel = 0;
  size_t nbytes = 0;
  if (check_dtype_on(dev, dt) != CLT_OK || clt__check_shape(ndim, shape, &numel, "shape") != CLT_OK ||
      clt__nbytes(numel, dt, &nbytes) != CLT_OK)
    return NULL;
  clt_tensor *t = clt__tensor_alloc();
  if (!t) return NULL;
  if (clt__storage_new(dev, nbytes, &t->st) != CLT_OK) {
    clt__tensor_release(t);
    return NULL;
  }
  t->dtype = dt;
  t->ndim = ndim;
  t->numel = numel;
  for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
  clt__contig_strides(ndim, shape, t->strides);
  return t;
}

/* Sets every element of t (any view) to value. */
static clt_status fill_value(clt_tensor *t, double value) {
  if (t->numel == 0) return CLT_OK;
  uint8_t pattern[8];
  clt__store_f64(t->dtype, pattern, value);
  clt__iter it;
  const clt_tensor *ops[1] = {t};
  clt__iter_tensors(&it, 1, ops);
  clt_device *dev = t->st->dev;
  return clt__run_fill(dev, &it, t->st, clt_dtype_size(t->dtype), pattern);
}

clt_tensor *clt__full(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape, double v) {
  clt_tensor *t = clt__empty(dev, dt, ndim, shape);
  if (t && fill_value(t, v) != CLT_OK) {
    clt__tensor_release(t);
    return NULL;
  }
  return t;
}

/* ---- public: references and properties -------------------------------------------------- */

clt_tensor *clt_retain(clt_tensor *t) { return clt__retain(t); }

clt_dtype clt_dtype_of(const clt_tensor *t) { return t ? t->dtype : CLT_DTYPE_COUNT; }
int clt_ndim(const clt_tensor *t) { return t ? t->ndim : -1; }
const int64_t *clt_shape(const clt_tensor *t) { return t ? t->shape : NULL; }
const int64_t *clt_strides(const clt_tensor *t) { return t ? t->strides : NULL; }
int64_t clt_storage_offset(const clt_tensor *t) { return t ? t->offset : -1; }
int64_t clt_numel(const clt_tensor *t) { return t ? t->numel : -1; }
bool clt_is_contiguous(const clt_tensor *t) { return t && clt__is_contig(t); }
clt_device *clt_device_of(const clt_tensor *t) { return t ? t->st->dev : NULL; }
bool clt_shares_storage(const clt_tensor *a, const clt_tensor *b) {
  return a && b && a->st == b->st;
}

int64_t clt_size(const clt_tensor *t, int dim) {
  clt__api("clt_size");
  if (!t) {
    clt__null_arg("t");
    return -1;
  }
  int d = 0;
  if (clt__wrap_dim(dim, t->ndim, "dim", &d) != CLT_OK || t->ndim == 0) {
    if (t->ndim == 0) clt__err(CLT_ERR_INDEX, "a 0-d tensor has no dim %d", dim);
    return -1;
  }
  return t->shape[d];
}

/* ---- public: creation ------------------------------------------------------------------- */

clt_tensor *clt_empty(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape) {
  clt__api("clt_empty");
  return clt__ret(clt__empty(dev, dtype, ndim, shape));
}

clt_tensor *clt_zeros(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape) {
  clt__api("clt_zeros");
  return clt__ret(clt__full(dev, dtype, ndim, shape, 0.0));
}

clt_tensor *clt_ones(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape) {
  clt__api("clt_ones");
  return clt__ret(clt__full(dev, dtype, ndim, shape, 1.0));
}

clt_tensor *clt_full(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape,
                     double value) {
  clt__api("clt_full");
  return clt__ret(clt__full(dev, dtype, ndim, shape, value));
}

clt_tensor *clt_arange(clt_device *dev, clt_dtype dtype, double start, double end, double step) {
  clt__api("clt_arange");
  if (!isfinite(start) || !isfinite(end) || !isfinite(step) || step == 0.0) {
    clt__err(CLT_ERR_INVALID_ARG, "start %g, end %g, step %g: need finite values and step != 0",
             start, end, step);
    return NULL;
  }
  double count = ceil((end - start) / step);
  if (count < 0) count = 0;
  if (count > 9.0e18) {
    clt__err(CLT_ERR_OVERFLOW, "start %g, end %g, step %g give too many elements", start, end, step);
    return NULL;
  }
  int64_t n = (int64_t)count;
  if (!dev) {
    clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
    return NULL;
  }
  /* Computed on the host so that every device gets the same values bit for bit. */
  clt_tensor *h = NULL, *t = NULL;
  clt_device *host = NULL;
  if (clt__host_for(dev, &host) != CLT_OK) return NULL;
  h = clt__empty(host, dtype, 1, &n);
  if (h) {
    char *p = h->st->ptr;
    size_t es = clt_dtype_size(dtype);
    for (int64_t i = 0; i < n; i++) clt__store_f64(dtype, p + (size_t)i * es, start + (double)i * step);
    t = clt__to(h, dev);
    clt__tensor_release(h);
  }
  clt__device_drop(host);
  return clt__ret(t);
}
