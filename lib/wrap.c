/* Tensors over memory the caller lends: host memory, or a backend's own memory object (an
 * application's cl_mem, a DLPack producer's buffer). The storage is marked wrapped, so clt never
 * pools or frees the memory; it drops only the reference it took, then calls free_fn. */
#include <string.h>

#include "backend.h"

/* The storage over mem: host memory addressed at ptr, or an adopted memory object whose size the
 * backend reports, which the view (extent bytes from byte_offset) must fit. */
static clt_status lent_storage(clt_device *dev, void *mem, size_t byte_offset, clt_dtype dt, int64_t numel,
                               size_t extent, clt__storage **out) {
  clt_status s = clt__storage_new(dev, 0, out);
  if (s != CLT_OK) return s;
  clt__storage *st = *out;
  st->wrapped = true;
  if (clt__is_host(dev)) {
    st->ptr = mem ? (char *)mem + byte_offset : NULL;
    st->nbytes = extent;
    return CLT_OK;
  }
  if (!mem) return CLT_OK; /* an empty tensor: no memory behind it */
  if ((s = dev->be->wrap_handle(dev, mem, st)) != CLT_OK) return s;
  if (numel > 0 && (byte_offset > st->nbytes || extent > st->nbytes - byte_offset))
    return clt__err(CLT_ERR_INVALID_ARG, "the view reaches byte %zu + %zu of a buffer of %zu bytes (dtype %s)",
                    byte_offset, extent, st->nbytes, clt_dtype_name(dt));
  return CLT_OK;
}

clt_tensor *clt__wrap_lent(clt_device *dev, void *mem, size_t byte_offset, clt_dtype dt, int ndim,
                           const int64_t *shape, const int64_t *strides, clt_free_fn free_fn, void *user) {
  int64_t numel;
  size_t extent;
  clt__storage *st = NULL;
  clt_tensor *t = NULL;
  clt_status s = dev ? clt__check_wrap(mem, dt, ndim, shape, strides, &numel, &extent)
                     : clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  bool host = dev && clt__is_host(dev);
  size_t es = s == CLT_OK ? clt_dtype_size(dt) : 1;
  if (s == CLT_OK && !host && !dev->be->wrap_handle)
    s = clt__err(CLT_ERR_UNSUPPORTED, "%s cannot adopt memory objects", dev->info.spec);
  if (s == CLT_OK && !host && dt == CLT_FLOAT64 && !dev->info.fp64)
    s = clt__err(CLT_ERR_UNSUPPORTED, "float64 is not supported by %s (%s): it lacks fp64", dev->info.spec, dev->info.name);
  if (s == CLT_OK && !host && byte_offset % es != 0)
    s = clt__err(CLT_ERR_INVALID_ARG, "byte offset %zu is not a multiple of %s's %zu bytes", byte_offset,
                 clt_dtype_name(dt), es);
  if (s == CLT_OK) s = lent_storage(dev, mem, byte_offset, dt, numel, extent, &st);
  if (s == CLT_OK && !(t = clt__tensor_alloc())) s = clt_last_status();
  if (s != CLT_OK) {
    clt__storage_release(st); /* free_fn is not set yet: called once below */
    if (free_fn) free_fn(host && mem ? (char *)mem + byte_offset : NULL, user);
    return NULL;
  }
  st->free_fn = free_fn;
  st->user = user;
  t->st = st;
  t->dtype = dt;
  t->ndim = ndim;
  t->numel = numel;
  t->offset = host ? 0 : (int64_t)(byte_offset / es);
  for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
  if (strides)
    memcpy(t->strides, strides, (size_t)ndim * sizeof *strides);
  else
    clt__contig_strides(ndim, shape, t->strides);
  return t;
}
