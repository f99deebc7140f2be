/* Host reference of the sliding-window kernels (lib/backend.h: clt__win_args): the loops of
 * kernels/conv.cl in the same order, in double, each result rounded once. */
#include <math.h>

#include "host.h"

static double ld(const clt__storage *s, clt_dtype dt, int64_t i) {
  return clt__load_f64(dt, (const char *)s->ptr + (size_t)i * clt_dtype_size(dt));
}

static void st(clt__storage *s, clt_dtype dt, int64_t i, double v) {
  clt__store_f64(dt, (char *)s->ptr + (size_t)i * clt_dtype_size(dt), v);
}

/* Where column row (image nc, tap k) starts (lib/backend.h: cols_cn). */
static int64_t col_row(const clt__win_args *a, int64_t nc, int64_t k) {
  int64_t K = a->kh * a->kw, L = a->Ho * a->Wo;
  if (!a->cols_cn) return (nc * K + k) * L;
  return ((nc % a->C * K + k) * (a->NC / a->C) + nc / a->C) * L;
}

/* Pixel (nc, ih, iw)'s sum over the windows (oh, ow) that read it, at their kernel element
 * (ki, kj), ki and kj increasing (kernels/conv.cl: WIN_EACH_WINDOW): col2im adds their column
 * entries; the pooling gradient, the gradients of the windows whose largest it was. */
static double pixel_sum(const clt__win_args *a, int64_t nc, int64_t ih, int64_t iw) {
  const int64_t *idx = a->idx ? (const int64_t *)a->idx->ptr : NULL;
  int64_t L = a->Ho * a->Wo;
  double s = 0;
  for (int64_t ki = 0; ki < a->kh; ki++) {
    int64_t th = ih + a->ph - ki * a->dh;
    if (th < 0 || th % a->sh != 0 || th / a->sh >= a->Ho) continue;
    for (int64_t kj = 0; kj < a->kw; kj++) {
      int64_t tw = iw + a->pw - kj * a->dw;
      if (tw < 0 || tw % a->sw != 0 || tw / a->sw >= a->Wo) continue;
      int64_t l = th / a->sh * a->Wo + tw / a->sw;
      if (a->kind == CLT__WIN_COL2IM)
        s += ld(a->x, a->dt, a->xo + col_row(a, nc, ki * a->kw + kj) + l);
      else if (idx[nc * L + l] == ih * a->W + iw)
        s += ld(a->x, a->dt, a->xo + nc * L + l);
    }
  }
  return s;
}

/* Window (nc, oh, ow)'s largest element and its place (lib/backend.h: CLT__WIN_MAX). */
static void window_max(const clt__win_args *a, int64_t nc, int64_t oh, int64_t ow, double *m, int64_t *best) {
  *m = -INFINITY;
  *best = -1;
  for (int64_t ki = 0; ki < a->kh; ki++) {
    int64_t ih = oh * a->sh - a->ph + ki * a->dh;
    if (ih < 0 || ih >= a->H) continue;
    for (int64_t kj = 0; kj < a->kw; kj++) {
      int64_t iw = ow * a->sw - a->pw + kj * a->dw;
      if (iw < 0 || iw >= a->W) continue;
      int64_t p = ih * a->W + iw;
      double v = ld(a->x, a->dt, a->xo + nc * a->H * a->W + p);
      if (*best < 0) *best = p;
      if (v > *m || isnan(v)) {
        *m = v;
        *best = p;
      }
    }
  }
}

clt_status clt__host_windows(clt_device *dev, const clt__win_args *a) {
  (void)dev;
  int64_t K = a->kh * a->kw, L = a->Ho * a->Wo;
  if (a->kind == CLT__WIN_IM2COL) {
    for (int64_t g = 0; g < a->NC * K * L; g++) {
      int64_t l = g % L, k = g / L % K, nc = g / L / K;
      int64_t ih = l / a->Wo * a->sh - a->ph + k / a->kw * a->dh, iw = l % a->Wo * a->sw - a->pw + k % a->kw * a->dw;
      bool in = ih >= 0 && ih < a->H && iw >= 0 && iw < a->W;
      st(a->y, a->dt, col_row(a, nc, k) + l, in ? ld(a->x, a->dt, a->xo + (nc * a->H + ih) * a->W + iw) : 0.0);
    }
  } else if (a->kind == CLT__WIN_MAX) {
    for (int64_t g = 0; g < a->NC * L; g++) {
      double m;
      int64_t best;
      window_max(a, g / L, g % L / a->Wo, g % a->Wo, &m, &best);
      st(a->y, a->dt, g, m);
      ((int64_t *)a->yi->ptr)[g] = best;
    }
  } else {
    for (int64_t g = 0; g < a->NC * a->H * a->W; g++)
      st(a->y, a->dt, g, pixel_sum(a, g / (a->H * a->W), g / a->W % a->H, g % a->W));
  }
  return CLT_OK;
}
