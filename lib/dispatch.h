/* Backend calls the core makes for ops, in one place: with $CLT_CHECK=1 each call on an OpenCL
 * device is rerun on the host reference and compared (check.c). */
#ifndef CLT_DISPATCH_H
#define CLT_DISPATCH_H

#include "backend.h"
#include "clt/ops.h"

clt_status clt__run_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st);
clt_status clt__run_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                         const clt__storage *src, clt_dtype sdt);

clt_status clt__run_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                           const clt__storage *index, clt_dtype dt, clt_dtype idt);
clt_status clt__run_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                                const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt);

/* The check machinery, for each dispatch function: host copies of the storages a call reads and
 * writes, then a comparison of the output operand along it. */
typedef struct {
  bool on;
  int n;
  clt__storage host[CLT__MAX_OPS + 2];
  clt__storage *ptr[CLT__MAX_OPS + 2];
  clt_device *hostdev;
} clt__check;

/* Starts a check when $CLT_CHECK=1 and dev is not the host: copies st[0..n) to the host. */
clt_status clt__check_begin(clt__check *c, clt_device *dev, int n, clt__storage *const *st);
/* Compares the device's output storage with the host's (operand 0 of it, dtype dt). */
clt_status clt__check_end(clt__check *c, clt_device *dev, const clt__iter *it, const clt__storage *out, clt_dtype dt,
                          const char *what);
void clt__check_free(clt__check *c);

#endif
