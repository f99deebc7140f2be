/* Host reference of the fused normalization (lib/backend.h: clt__norm_args): plain loops in
 * double, the statistics in two passes (the mean, then the sum of squared deviations from it),
 * so an offset far larger than the spread (1e4 + noise) costs no precision; the mean is kept as
 * a pair (lib/backend.h: clt__norm_args.stats) so the deviations stay exact in float32 too. */
#include <math.h>

#include "host.h"

static double ld(const clt__storage *s, clt_dtype dt, int64_t i) {
  return clt__load_f64(dt, (const char *)s->ptr + (size_t)i * clt_dtype_size(dt));
}

static void st(clt__storage *s, clt_dtype dt, int64_t i, double v) {
  clt__store_f64(dt, (char *)s->ptr + (size_t)i * clt_dtype_size(dt), v);
}

/* Element (p, s, q)'s place in x, y, g and dx (without their offsets), and its channel. */
static int64_t at(const clt__norm_args *a, int64_t p, int64_t s, int64_t q) { return (p * a->S + s) * a->Q + q; }
static int64_t channel(const clt__norm_args *a, int64_t s, int64_t q) { return ((s % a->smod) * a->Q + q) / a->cdiv; }

/* v rounded to dt. */
static double round_to(clt_dtype dt, double v) {
  uint8_t b[8];
  clt__store_f64(dt, b, v);
  return clt__load_f64(dt, b);
}

/* Element i's deviation from the mean (hi, lo): lib/backend.h, clt__norm_args.stats. */
static double dev_of(const clt__norm_args *a, int64_t i, double hi, double lo) {
  return (ld(a->x, a->dt, a->xo + i) - hi) - lo;
}

clt_status clt__host_norm_fwd(clt_device *dev, const clt__norm_args *a) {
  (void)dev;
  clt_dtype dt = a->dt;
  double M = (double)(a->P * a->Q);
  for (int64_t s = 0; s < a->S; s++) {
    double mean = 0, rstd;
    if (a->fixed) {
      mean = ld(a->rm, dt, a->rm_off + s * a->rm_stride);
      rstd = 1 / sqrt(ld(a->rv, dt, a->rv_off + s * a->rv_stride) + a->eps);
    } else {
      double sum = 0, ss = 0;
      if (!a->rms) {
        for (int64_t p = 0; p < a->P; p++)
          for (int64_t q = 0; q < a->Q; q++) sum += ld(a->x, dt, a->xo + at(a, p, s, q));
        mean = sum / M;
      }
      for (int64_t p = 0; p < a->P; p++)
        for (int64_t q = 0; q < a->Q; q++) {
          double d = ld(a->x, dt, a->xo + at(a, p, s, q)) - mean;
          ss += d * d;
        }
      rstd = 1 / sqrt(ss / M + a->eps);
      if (a->rm) {
        int64_t i = a->rm_off + s * a->rm_stride;
        st(a->rm, dt, i, (1 - a->momentum) * ld(a->rm, dt, i) + a->momentum * mean);
      }
      if (a->rv) {
        int64_t i = a->rv_off + s * a->rv_stride;
        st(a->rv, dt, i, (1 - a->momentum) * ld(a->rv, dt, i) + a->momentum * ss / (M - 1));
      }
    }
    double hi = round_to(dt, mean), lo = round_to(dt, mean - hi);
    st(a->stats, dt, 3 * s, hi);
    st(a->stats, dt, 3 * s + 1, lo);
    st(a->stats, dt, 3 * s + 2, rstd);
    for (int64_t p = 0; p < a->P; p++)
      for (int64_t q = 0; q < a->Q; q++) {
        int64_t c = channel(a, s, q), i = at(a, p, s, q);
        double v = dev_of(a, i, hi, lo) * rstd;
        if (a->w) v *= ld(a->w, dt, a->wo + c);
        if (a->b) v += ld(a->b, dt, a->bo + c);
        st(a->y, dt, i, v);
      }
  }
  return CLT_OK;
}

/* dx = rstd (g w - mean(g w) - xhat mean(g w xhat)) over each statistic's elements (RMS norm:
 * without the mean(g w) term; fixed statistics: rstd g w); dw = sum g xhat, db = sum g per
 * channel. */
clt_status clt__host_norm_bwd(clt_device *dev, const clt__norm_args *a) {
  (void)dev;
  clt_dtype dt = a->dt;
  double M = (double)(a->P * a->Q);
  int64_t nc = a->smod * a->Q / a->cdiv;
  double *dw = clt__malloc(2 * (size_t)nc * sizeof *dw + 1), *db = dw + nc; /* in double, stored at the end */
  if (!dw) return clt__err(CLT_ERR_OOM, "cannot allocate %lld channel sums", (long long)(2 * nc));
  for (int64_t c = 0; c < 2 * nc; c++) dw[c] = 0;
  for (int64_t s = 0; s < a->S; s++) {
    double hi = ld(a->stats, dt, 3 * s), lo = ld(a->stats, dt, 3 * s + 1), rstd = ld(a->stats, dt, 3 * s + 2), A = 0, B = 0;
    for (int64_t p = 0; p < a->P; p++)
      for (int64_t q = 0; q < a->Q; q++) {
        int64_t c = channel(a, s, q), i = at(a, p, s, q);
        double g = ld(a->g, dt, a->go + i), xh = dev_of(a, i, hi, lo) * rstd;
        double gw = a->w ? g * ld(a->w, dt, a->wo + c) : g;
        A += gw;
        B += gw * xh;
        dw[c] += g * xh;
        db[c] += g;
      }
    if (!a->dx) continue;
    A = a->fixed || a->rms ? 0 : A / M;
    B = a->fixed ? 0 : B / M;
    for (int64_t p = 0; p < a->P; p++)
      for (int64_t q = 0; q < a->Q; q++) {
        int64_t c = channel(a, s, q), i = at(a, p, s, q);
        double g = ld(a->g, dt, a->go + i), xh = dev_of(a, i, hi, lo) * rstd;
        double gw = a->w ? g * ld(a->w, dt, a->wo + c) : g;
        double v = rstd * (gw - A - xh * B);
        if (a->dx_acc) { /* rounded to dt, then added, as a separate add would */
          double old = ld(a->dx, dt, i);
          st(a->dx, dt, i, v);
          v = old + ld(a->dx, dt, i);
        }
        st(a->dx, dt, i, v);
      }
  }
  for (int64_t c = 0; c < nc; c++) {
    if (a->dw) st(a->dw, dt, c, dw[c]);
    if (a->db) st(a->db, dt, c, db[c]);
  }
  clt__free_mem(dw);
  return CLT_OK;
}
