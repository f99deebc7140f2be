/* Host conversions: which of them copy and which share is in their names (tensor.h). */
#include <string.h>

#include "dispatch.h"
#include "fusion.h"

clt_tensor *clt__from_host(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape,
                           const void *data) {
  clt_tensor *t = clt__empty(dev, dt, ndim, shape);
  if (!t || t->st->nbytes == 0) return t;
  if (!data) {
    clt__err(CLT_ERR_INVALID_ARG, "argument data is NULL for %lld elements", (long long)t->numel);
    clt__tensor_release(t);
    return NULL;
  }
  if (dev->be->write(dev, t->st, 0, data, t->st->nbytes) != CLT_OK) {
    clt__tensor_release(t);
    return NULL;
  }
  if (dt == CLT_INT32 || dt == CLT_INT64 || dt == CLT_UINT8) { /* a scan while the values are at hand */
    size_t es = clt_dtype_size(dt);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (int64_t i = 0; i < t->numel; i++) {
      int64_t v = clt__load_i64(dt, (const uint8_t *)data + (size_t)i * es);
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    clt__range_set(t->st, lo, hi);
  }
  return t;
}

clt_status clt__to_host(const clt_tensor *t, void *dst) {
  if (t->numel == 0) return CLT_OK;
  size_t es = clt_dtype_size(t->dtype), n;
  if (clt__nbytes(t->numel, t->dtype, &n) != CLT_OK) return clt_last_status(); /* a large expanded view */
  clt_device *dev = t->st->dev;
  clt_status fs = clt__fusion_settle(t->st, false);
  if (fs != CLT_OK) return fs;
  if (clt__is_contig(t)) return dev->be->read(dev, t->st, (size_t)t->offset * es, dst, n);
  if (clt__is_host(dev)) { /* gather straight into dst */
    clt__storage out = {.ptr = dst, .nbytes = n};
    int64_t strides[CLT_MAX_DIMS];
    clt__contig_strides(t->ndim, t->shape, strides);
    const int64_t *ss[2] = {strides, t->strides};
    const int64_t offs[2] = {0, t->offset};
    clt__iter it;
    clt__iter_build(&it, t->ndim, t->shape, 2, ss, offs);
    return clt__run_copy(dev, &it, &out, t->st, es);
  }
  clt_tensor *c = clt__clone(t); /* gather on the device, then one read */
  if (!c) return clt_last_status();
  clt_status st = dev->be->read(dev, c->st, 0, dst, n);
  clt__tensor_release(c);
  return st;
}

clt_tensor *clt__to(clt_tensor *t, clt_device *dev) {
  clt_device *src = t->st->dev;
  if (clt__same_device(src, dev)) return clt__retain(t);
  clt_tensor *out = clt__empty(dev, t->dtype, t->ndim, t->shape);
  if (!out || out->numel == 0) return out;
  clt_status st;
  if (clt__is_host(dev)) {
    st = clt__to_host(t, out->st->ptr);
  } else if (clt__is_host(src) && clt__is_contig(t)) {
    size_t es = clt_dtype_size(t->dtype);
    st = dev->be->write(dev, out->st, 0, (const char *)t->st->ptr + (size_t)t->offset * es,
                        out->st->nbytes);
  } else { /* through a contiguous host buffer */
    void *tmp = clt__malloc(out->st->nbytes);
    if (!tmp) {
      st = clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes of host memory for the transfer",
                    out->st->nbytes);
    } else {
      st = clt__to_host(t, tmp);
      if (st == CLT_OK) st = dev->be->write(dev, out->st, 0, tmp, out->st->nbytes);
      clt__free_mem(tmp);
    }
  }
  if (st != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  return out;
}

clt_tensor *clt_from_host(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape,
                          const void *data) {
  clt__api("clt_from_host");
  return clt__ret(clt__from_host(dev, dtype, ndim, shape, data));
}

clt_status clt__check_wrap(const void *data, clt_dtype dt, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t *numel, size_t *nbytes) {
  if (!clt__dtype_valid(dt)) return clt__err(CLT_ERR_DTYPE, "dtype %d is not a clt dtype", (int)dt);
  clt_status st = clt__check_shape(ndim, shape, numel, "shape");
  if (st != CLT_OK) return st;
  if (!data && *numel > 0)
    return clt__err(CLT_ERR_INVALID_ARG, "argument data is NULL for %lld elements", (long long)*numel);
  int64_t last = 0; /* offset of the last element */
  for (int d = 0; d < ndim && *numel > 0 && strides; d++) {
    int64_t span;
    if (strides[d] < 0)
      return clt__err(CLT_ERR_INVALID_ARG, "stride %lld of dim %d is negative", (long long)strides[d], d);
    if (clt__mul_ovf(shape[d] - 1, strides[d], &span) || span > INT64_MAX - last)
      return clt__err(CLT_ERR_OVERFLOW, "strides reach past 2^63 elements");
    last += span;
  }
  int64_t extent = *numel == 0 ? 0 : (strides ? last + 1 : *numel);
  return clt__nbytes(extent, dt, nbytes);
}

clt_tensor *clt_wrap_host(clt_dtype dtype, int ndim, const int64_t *shape, const int64_t *strides,
                          void *data, clt_free_fn free_fn, void *user) {
  clt__api("clt_wrap_host");
  int64_t numel;
  size_t nbytes;
  clt_device *host = NULL;
  clt__storage *st = NULL;
  clt_tensor *t = NULL;
  if (clt__check_wrap(data, dtype, ndim, shape, strides, &numel, &nbytes) != CLT_OK ||
      clt__reference_open(&host) != CLT_OK || clt__storage_new(host, 0, &st) != CLT_OK ||
      !(t = clt__tensor_alloc())) {
    clt__storage_release(st);
    clt__device_drop(host);
    if (free_fn) free_fn(data, user);
    return NULL;
  }
  st->ptr = data;
  st->nbytes = nbytes;
  st->wrapped = true;
  st->free_fn = free_fn;
  st->user = user;
  clt__device_drop(host); /* the storage holds its own reference */
  t->st = st;
  t->dtype = dtype;
  t->ndim = ndim;
  t->numel = numel;
  for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
  if (strides)
    memcpy(t->strides, strides, (size_t)ndim * sizeof *strides);
  else
    clt__contig_strides(ndim, shape, t->strides);
  return clt__ret(t);
}

static clt_tensor *wrap_on(clt_device *dev, void *data, clt_dtype dtype, int ndim, const int64_t *shape,
                           clt_free_fn free_fn, void *user) {
  int64_t numel;
  size_t nbytes;
  clt__storage *st = NULL;
  clt_tensor *t = NULL;
  clt_status s = dev ? clt__check_wrap(data, dtype, ndim, shape, NULL, &numel, &nbytes)
                     : clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  if (s == CLT_OK && dtype == CLT_FLOAT64 && !dev->info.fp64)
    s = clt__err(CLT_ERR_UNSUPPORTED, "float64 is not supported by %s (%s): it lacks fp64", dev->info.spec, dev->info.name);
  if (s == CLT_OK && !clt__is_host(dev) && !dev->be->wrap_host)
    s = clt__err(CLT_ERR_UNSUPPORTED, "%s cannot share host memory; copy with clt_from_host", dev->info.spec);
  if (s == CLT_OK && (s = clt__storage_new(dev, 0, &st)) == CLT_OK) {
    st->ptr = data;
    st->nbytes = nbytes;
    st->wrapped = true;
    if (!clt__is_host(dev) && nbytes > 0) s = dev->be->wrap_host(dev, st);
  }
  if (s == CLT_OK && !(t = clt__tensor_alloc())) s = clt_last_status();
  if (s != CLT_OK) {
    clt__storage_release(st); /* free_fn is not set yet: called once below */
    if (free_fn) free_fn(data, user);
    return NULL;
  }
  st->free_fn = free_fn;
  st->user = user;
  t->st = st;
  t->dtype = dtype;
  t->ndim = ndim;
  t->numel = numel;
  for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
  clt__contig_strides(ndim, shape, t->strides);
  return t;
}

clt_tensor *clt_wrap_host_on(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape, void *data,
                             clt_free_fn free_fn, void *user) {
  clt__api("clt_wrap_host_on");
  return clt__ret(wrap_on(dev, data, dtype, ndim, shape, free_fn, user));
}

clt_tensor *clt_import_host_on(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape, void *data,
                               clt_free_fn free_fn, void *user) {
  clt__api("clt_import_host_on");
  if (dev && (clt__is_host(dev) || (dev->be->wrap_host && dev->info.host_unified_memory)))
    return clt__ret(wrap_on(dev, data, dtype, ndim, shape, free_fn, user));
  clt_tensor *t = NULL;
  if (!dev) clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  else t = clt__from_host(dev, dtype, ndim, shape, data); /* a blocking copy: data is free after it */
  if (free_fn) free_fn(data, user);
  return clt__ret(t);
}

bool clt_is_zero_copy(const clt_tensor *t) { return t && t->st->wrapped; }

void *clt_host_data(clt_tensor *t) {
  static char no_elements[1]; /* a valid, distinct pointer for tensors with no memory */
  clt__api("clt_host_data");
  if (!t) return clt__null_arg("t"), NULL;
  clt__range_forget(t->st); /* the caller may write through the pointer */
  if (!clt__is_host(t->st->dev)) {
    clt__err(CLT_ERR_DEVICE_MISMATCH,
             "the tensor is on %s, not the host; copy it with clt_to_host() or clt_to()",
             t->st->dev->info.spec);
    return NULL;
  }
  if (!t->st->ptr) return no_elements;
  return (char *)t->st->ptr + (size_t)t->offset * clt_dtype_size(t->dtype);
}

clt_status clt_to_host(const clt_tensor *t, void *dst, size_t dst_bytes) {
  clt__api("clt_to_host");
  if (!t) return clt__null_arg("t");
  size_t need;
  if (clt__nbytes(t->numel, t->dtype, &need) != CLT_OK) return clt_last_status();
  char shape[CLT__SHAPE_STR];
  if (dst_bytes < need)
    return clt__err(CLT_ERR_INVALID_ARG,
                    "dst_bytes %zu is too small for %s %s (%zu bytes needed)", dst_bytes,
                    clt_dtype_name(t->dtype), clt__shape_str(shape, t->ndim, t->shape), need);
  if (!dst && need > 0) return clt__err(CLT_ERR_INVALID_ARG, "argument dst is NULL");
  return clt__to_host(t, dst);
}

clt_tensor *clt_to(clt_tensor *t, clt_device *dev) {
  clt__api("clt_to");
  if (!t) return clt__null_arg("t"), NULL;
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL"), NULL;
  return clt__ret(clt__to(t, dev));
}

static clt_status read_one(const clt_tensor *t, uint8_t *buf) {
  if (!t) return clt__null_arg("t");
  if (t->numel != 1) {
    char shape[CLT__SHAPE_STR];
    return clt__err(CLT_ERR_SHAPE, "the tensor has shape %s (%lld elements); one is needed",
                    clt__shape_str(shape, t->ndim, t->shape), (long long)t->numel);
  }
  size_t es = clt_dtype_size(t->dtype);
  clt_device *dev = t->st->dev;
  clt_status s = clt__fusion_settle(t->st, false);
  return s != CLT_OK ? s : dev->be->read(dev, t->st, (size_t)t->offset * es, buf, es);
}

clt_status clt_item(const clt_tensor *t, double *out) {
  clt__api("clt_item");
  uint8_t buf[8];
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  clt_status st = read_one(t, buf);
  if (st == CLT_OK) *out = clt__load_f64(t->dtype, buf);
  return st;
}

clt_status clt_item_int64(const clt_tensor *t, int64_t *out) {
  clt__api("clt_item_int64");
  uint8_t buf[8];
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  clt_status st = read_one(t, buf);
  if (st == CLT_OK) *out = clt__load_i64(t->dtype, buf);
  return st;
}
