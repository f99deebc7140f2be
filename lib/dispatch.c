#include "dispatch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ew.h"

clt_status clt__run_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  clt__check c;
  clt_status s = clt__check_begin(&c, dev, it->nops, st);
  if (s == CLT_OK) s = dev->be->ew(dev, p, it, st);
  if (s == CLT_OK && c.on) {
    s = clt__host_backend.ew(c.hostdev, p, it, c.ptr);
    if (s == CLT_OK) s = clt__check_end(&c, dev, it, st[0], clt__ew_prog_out_dtype(p), clt__ew_prog_name(p));
  }
  clt__check_free(&c);
  return s;
}

clt_status clt__run_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                         const clt__storage *src, clt_dtype sdt) {
  clt__check c;
  clt__storage *st[2] = {dst, (clt__storage *)src};
  clt_status s = clt__check_begin(&c, dev, 2, st);
  if (s == CLT_OK) s = dev->be->cast(dev, it, dst, ddt, src, sdt);
  if (s == CLT_OK && c.on) {
    s = clt__host_backend.cast(c.hostdev, it, c.ptr[0], ddt, c.ptr[1], sdt);
    if (s == CLT_OK) s = clt__check_end(&c, dev, it, dst, ddt, "cast");
  }
  clt__check_free(&c);
  return s;
}

/* Gather writes a contiguous run from it->offset[0]; scatter writes anywhere in its target, so
 * the whole target storage is compared. */
static void span_iter(clt__iter *it, int64_t off, int64_t n) {
  int64_t one = 1;
  const int64_t *strides[1] = {&one};
  clt__iter_build(it, 1, &n, 1, strides, &off);
}

clt_status clt__run_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                           const clt__storage *index, clt_dtype dt, clt_dtype idt) {
  clt__check c;
  clt__storage *st[3] = {out, (clt__storage *)x, (clt__storage *)index};
  clt_status s = clt__check_begin(&c, dev, 3, st);
  if (s == CLT_OK) s = dev->be->gather(dev, it, dim, out, x, index, dt, idt);
  if (s == CLT_OK && c.on) {
    s = clt__host_backend.gather(c.hostdev, it, dim, c.ptr[0], c.ptr[1], c.ptr[2], dt, idt);
    clt__iter span;
    span_iter(&span, it->offset[0], it->numel);
    if (s == CLT_OK) s = clt__check_end(&c, dev, &span, out, dt, "gather");
  }
  clt__check_free(&c);
  return s;
}

clt_status clt__run_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                                const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt) {
  clt__check c;
  clt__storage *st[3] = {out, (clt__storage *)index, (clt__storage *)src};
  clt_status s = clt__check_begin(&c, dev, 3, st);
  if (s == CLT_OK) s = dev->be->scatter_add(dev, it, dim, out, index, src, dt, idt);
  if (s == CLT_OK && c.on) {
    s = clt__host_backend.scatter_add(c.hostdev, it, dim, c.ptr[0], c.ptr[1], c.ptr[2], dt, idt);
    clt__iter span;
    span_iter(&span, 0, (int64_t)(out->nbytes / clt_dtype_size(dt)));
    if (s == CLT_OK) s = clt__check_end(&c, dev, &span, out, dt, "scatter_add");
  }
  clt__check_free(&c);
  return s;
}
