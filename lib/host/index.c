/* Host reference of gather and scatter-add over the index's shape (lib/backend.h). */
#include <string.h>

#include "host.h"

/* Offsets of the element at coordinates c (index's shape) in operand k, with dim replaced. */
static int64_t offset_of(const clt__iter *it, int k, const int64_t *c, int dim, int64_t at_dim) {
  int64_t o = it->offset[k];
  for (int d = 0; d < it->ndim; d++) o += (d == dim && at_dim >= 0 ? at_dim : c[d]) * it->strides[k][d];
  return o;
}

static void coords_of(const clt__iter *it, int64_t i, int64_t *c) {
  for (int d = it->ndim - 1; d >= 0; d--) {
    c[d] = i % it->shape[d];
    i /= it->shape[d];
  }
}

clt_status clt__host_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                            const clt__storage *index, clt_dtype dt, clt_dtype idt) {
  (void)dev;
  size_t es = clt_dtype_size(dt), is = clt_dtype_size(idt);
  for (int64_t i = 0; i < it->numel; i++) {
    int64_t c[CLT_MAX_DIMS];
    coords_of(it, i, c);
    int64_t j = clt__load_i64(idt, (const char *)index->ptr + (size_t)offset_of(it, 2, c, -1, -1) * is);
    memcpy((char *)out->ptr + (size_t)(it->offset[0] + i) * es, (const char *)x->ptr + (size_t)offset_of(it, 1, c, dim, j) * es,
           es);
  }
  return CLT_OK;
}

clt_status clt__host_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                                 const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt) {
  (void)dev;
  size_t es = clt_dtype_size(dt), is = clt_dtype_size(idt);
  for (int64_t i = 0; i < it->numel; i++) {
    int64_t c[CLT_MAX_DIMS];
    coords_of(it, i, c);
    int64_t j = clt__load_i64(idt, (const char *)index->ptr + (size_t)offset_of(it, 1, c, -1, -1) * is);
    char *o = (char *)out->ptr + (size_t)offset_of(it, 0, c, dim, j) * es;
    const char *s = (const char *)src->ptr + (size_t)offset_of(it, 2, c, -1, -1) * es;
    if (clt_dtype_is_float(dt)) clt__store_f64(dt, o, clt__load_f64(dt, o) + clt__load_f64(dt, s));
    else if (dt == CLT_INT32) {
      int32_t a, b;
      memcpy(&a, o, 4);
      memcpy(&b, s, 4);
      a = (int32_t)((uint32_t)a + (uint32_t)b);
      memcpy(o, &a, 4);
    } else {
      int64_t a, b;
      memcpy(&a, o, 8);
      memcpy(&b, s, 8);
      a = (int64_t)((uint64_t)a + (uint64_t)b);
      memcpy(o, &a, 8);
    }
  }
  return CLT_OK;
}
