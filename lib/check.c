/* $CLT_CHECK=1: every call through the dispatch door on a device whose table is not the
 * reference one also runs on the reference backend (the host), and a difference beyond
 * tolerance fails the op with CLT_ERR_MISMATCH naming the op, the device and the worst element.
 * Tolerances: float32 |d - h| <= 1e-5 + 1e-4 |h|, float64 1e-12 + 1e-10 |h|, other dtypes and
 * byte moves exact; NaN must meet NaN. */
#include <math.h>
#include <string.h>

#include "dispatch.h"

bool clt__check_enabled(void) {
  const char *v = clt__getenv("CLT_CHECK");
  return v && strcmp(v, "0") != 0;
}

static clt__storage *field(const void *args, size_t off) {
  clt__storage *p;
  memcpy(&p, (const char *)args + off, sizeof p);
  return p;
}

static void set_field(void *args, size_t off, const clt__storage *p) { memcpy((char *)args + off, &p, sizeof p); }

/* How far element i of span is from the reference, in tolerances (> 1: a mismatch). */
static double excess(const clt__span *sp, const uint8_t *got, const uint8_t *want, double *d, double *h) {
  if (sp->exact) {
    *d = *h = 0;
    return memcmp(got, want, sp->esize) == 0 ? 0 : INFINITY;
  }
  *d = clt__load_f64(sp->dt, got);
  *h = clt__load_f64(sp->dt, want);
  double rtol = sp->dt == CLT_FLOAT32 ? 1e-4 : 1e-10, atol = sp->dt == CLT_FLOAT32 ? 1e-5 : 1e-12;
  if (isnan(*d) || isnan(*h)) return isnan(*d) && isnan(*h) ? 0 : INFINITY;
  if (isinf(*d) || isinf(*h)) return *d == *h ? 0 : INFINITY;
  if (clt_dtype_is_float(sp->dt)) return fabs(*d - *h) / (atol + rtol * fabs(*h));
  return *d == *h ? 0 : INFINITY;
}

/* The one comparison: the device's storage out (read back whole) against the reference's copy
 * want, over the elements of span. */
static clt_status compare(clt_device *dev, const clt__entry *e, const void *args, int k, const clt__span *sp,
                          const clt__storage *out, const uint8_t *want) {
  uint8_t *got = clt__malloc(out->nbytes ? out->nbytes : 1);
  if (!got) return clt__err(CLT_ERR_OOM, "check mode: cannot allocate %zu bytes", out->nbytes);
  clt_status s = out->nbytes ? dev->be->read(dev, out, 0, got, out->nbytes) : CLT_OK;
  double worst = 0, wd = 0, wh = 0;
  int64_t worst_i = -1;
  for (int64_t i = 0; i < sp->it.numel && s == CLT_OK; i++) {
    int64_t off[CLT__MAX_OPS];
    clt__iter_offsets(&sp->it, i, off);
    double d, h, x = excess(sp, got + (size_t)off[0] * sp->esize, want + (size_t)off[0] * sp->esize, &d, &h);
    if (x > 1.0 && x > worst) {
      worst = x;
      worst_i = i;
      wd = d;
      wh = h;
    }
  }
  clt__free_mem(got);
  if (s != CLT_OK || worst_i < 0) return s;
  const char *what = e->what ? e->what(args) : e->name;
  char of[64] = "";
  if (e->nout > 1) snprintf(of, sizeof of, " of %s", e->field[k]);
  if (sp->exact)
    return clt__err(CLT_ERR_MISMATCH,
                    "$CLT_CHECK: %s on %s (%s) gives other bytes at element %lld%s than the host reference",
                    what, dev->info.spec, dev->info.name, (long long)worst_i, of);
  return clt__err(CLT_ERR_MISMATCH,
                  "$CLT_CHECK: %s on %s (%s) gives %.9g at element %lld%s where the host reference gives %.9g "
                  "(%s, %.3g times the tolerance)",
                  what, dev->info.spec, dev->info.name, wd, (long long)worst_i, of, wh, clt_dtype_name(sp->dt), worst);
}

/* Host copies of the storages a call reads and writes, one per distinct storage (a storage in
 * two fields, as an in-place op's input and output, stays one), the record pointing at them. */
typedef struct {
  clt__storage copy[CLT__ENTRY_STORAGES];
  int of[CLT__ENTRY_STORAGES]; /* the copy field k uses, -1 for a NULL field */
  int n;
} copies;

static clt_status take_copies(clt_device *dev, const clt__entry *e, const void *args, void *hargs, copies *c) {
  for (int k = 0; k < e->nst; k++) {
    clt__storage *st = field(args, e->st[k]);
    c->of[k] = -1;
    if (!st) continue;
    for (int j = 0; j < k && c->of[k] < 0; j++)
      if (field(args, e->st[j]) == st) c->of[k] = c->of[j];
    if (c->of[k] < 0) {
      clt__storage *h = &c->copy[c->n];
      h->nbytes = st->nbytes;
      h->ptr = clt__malloc(h->nbytes ? h->nbytes : 1);
      if (!h->ptr) return clt__err(CLT_ERR_OOM, "check mode: cannot allocate %zu bytes", h->nbytes);
      c->of[k] = c->n++;
      clt_status s = h->nbytes ? dev->be->read(dev, st, 0, h->ptr, h->nbytes) : CLT_OK;
      if (s != CLT_OK) return s;
    }
    set_field(hargs, e->st[k], &c->copy[c->of[k]]);
  }
  return CLT_OK;
}

clt_status clt__check_call(clt_device *dev, const clt__entry *e, const void *args) {
  copies c = {.n = 0};
  clt_device *ref = NULL;
  void *hargs = clt__malloc(e->size); /* the record, its storages replaced by the host copies */
  clt_status s = hargs ? CLT_OK : clt__err(CLT_ERR_OOM, "check mode: cannot allocate %zu bytes", e->size);
  if (s == CLT_OK) {
    memcpy(hargs, args, e->size);
    s = clt__reference_open(&ref);
  }
  if (s == CLT_OK) s = take_copies(dev, e, args, hargs, &c);
  if (s == CLT_OK) s = e->call(dev, args);
  if (s == CLT_OK) s = e->call(ref, hargs);
  for (int k = 0; k < e->nout && s == CLT_OK; k++) {
    clt__span sp;
    clt__storage *out = field(args, e->st[k]);
    if (out && e->span(args, k, &sp)) s = compare(dev, e, args, k, &sp, out, c.copy[c.of[k]].ptr);
  }
  for (int i = 0; i < c.n; i++) clt__free_mem(c.copy[i].ptr);
  clt__free_mem(hargs);
  clt__device_drop(ref);
  return s;
}
