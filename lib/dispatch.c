#include "dispatch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ew.h"

clt_status clt__run_ew(clt_device *dev, clt_op op, const clt__iter *it, clt__storage *const *st, clt_dtype dt,
                       const double *params, int scalar) {
  clt__check c;
  clt_status s = clt__check_begin(&c, dev, it->nops, st);
  if (s == CLT_OK) s = dev->be->ew(dev, (int)op, it, st, dt, params, scalar);
  if (s == CLT_OK && c.on) {
    s = clt__host_backend.ew(c.hostdev, (int)op, it, c.ptr, dt, params, scalar);
    if (s == CLT_OK) s = clt__check_end(&c, dev, it, st[0], clt__op_out_dtype(op, dt), clt_op_name(op));
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
