/* $CLT_CHECK=1: every op on an OpenCL device also runs on the host reference, and a difference
 * beyond tolerance fails the op with CLT_ERR_MISMATCH naming the op, the device and the worst
 * element. Tolerances: float32 |d - h| <= 1e-5 + 1e-4 |h|, float64 1e-12 + 1e-10 |h|, other
 * dtypes exact; NaN must meet NaN. */
#include <math.h>
#include <string.h>

#include "dispatch.h"

bool clt__check_enabled(void) {
  const char *v = clt__getenv("CLT_CHECK");
  return v && strcmp(v, "0") != 0;
}

void clt__check_free(clt__check *c) {
  for (int i = 0; i < c->n; i++) clt__free_mem(c->host[i].ptr);
  c->n = 0;
  clt_device_release(c->hostdev);
  c->hostdev = NULL;
  c->on = false;
}

clt_status clt__check_begin(clt__check *c, clt_device *dev, int n, clt__storage *const *st) {
  memset(c, 0, sizeof *c);
  if (clt__is_host(dev) || !clt__check_enabled()) return CLT_OK;
  c->on = true;
  clt_status s = clt__host_open(&c->hostdev);
  for (int i = 0; i < n && s == CLT_OK; i++) {
    clt__storage *h = &c->host[i];
    h->nbytes = st[i]->nbytes;
    h->ptr = clt__malloc(h->nbytes ? h->nbytes : 1);
    c->ptr[i] = h;
    c->n = i + 1;
    if (!h->ptr) s = clt__err(CLT_ERR_OOM, "check mode: cannot allocate %zu bytes", h->nbytes);
    else if (h->nbytes) s = dev->be->read(dev, st[i], 0, h->ptr, h->nbytes);
  }
  if (s != CLT_OK) clt__check_free(c);
  return s;
}

clt_status clt__check_end(clt__check *c, clt_device *dev, const clt__iter *it, const clt__storage *out, clt_dtype dt,
                          const char *what) {
  size_t es = clt_dtype_size(dt);
  uint8_t *got = clt__malloc(out->nbytes ? out->nbytes : 1);
  if (!got) return clt__err(CLT_ERR_OOM, "check mode: cannot allocate %zu bytes", out->nbytes);
  clt_status s = out->nbytes ? dev->be->read(dev, out, 0, got, out->nbytes) : CLT_OK;
  const uint8_t *want = c->host[0].ptr;
  double worst = 0, wd = 0, wh = 0;
  int64_t worst_i = -1;
  double rtol = dt == CLT_FLOAT32 ? 1e-4 : 1e-10, atol = dt == CLT_FLOAT32 ? 1e-5 : 1e-12;
  for (int64_t i = 0; i < it->numel && s == CLT_OK; i++) {
    int64_t off[CLT__MAX_OPS];
    clt__iter_offsets(it, i, off);
    double d = clt__load_f64(dt, got + (size_t)off[0] * es), h = clt__load_f64(dt, want + (size_t)off[0] * es);
    double excess;
    if (isnan(d) || isnan(h)) excess = isnan(d) && isnan(h) ? 0 : INFINITY;
    else if (isinf(d) || isinf(h)) excess = d == h ? 0 : INFINITY;
    else if (clt_dtype_is_float(dt)) excess = fabs(d - h) / (atol + rtol * fabs(h));
    else excess = d == h ? 0 : INFINITY;
    if (excess > 1.0 && excess > worst) {
      worst = excess;
      worst_i = i;
      wd = d;
      wh = h;
    }
  }
  clt__free_mem(got);
  if (s == CLT_OK && worst_i >= 0)
    s = clt__err(CLT_ERR_MISMATCH,
                 "$CLT_CHECK: %s on %s (%s) gives %.9g at element %lld where the host reference gives %.9g "
                 "(%s, %.3g times the tolerance)",
                 what, dev->info.spec, dev->info.name, wd, (long long)worst_i, wh, clt_dtype_name(dt), worst);
  return s;
}
