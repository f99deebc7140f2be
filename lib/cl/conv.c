/* im2col, col2im and max pooling on OpenCL (kernels/conv.cl): one launch of a work-item per
 * output element, as rows of an image's plane, over as many images at a time as keep the
 * work-item numbers under 2^31. */
#include <stdio.h>

#include "cl_internal.h"

/* kernels/conv.cl: win_div */
enum { D_WO, D_W, D_K, D_KW, D_SH, D_SW, D_DH, D_DW, D_C, D_HO, D_COUNT };
typedef struct {
  cl_uint m[D_COUNT], s[D_COUNT];
} win_div;
typedef struct {
  cl_long sn, sc, ts;
  cl_int C;
} win_cols;

clt_status clt__cl_windows(clt_device *dev, const clt__win_args *x) {
  static const char *const names[] = {"win_im2col", "win_col2im", "win_max", "win_max_bwd"};
  const int64_t lim = INT32_MAX, K = x->kh * x->kw, img = x->H * x->W, win = x->Ho * x->Wo;
  /* elements per image: of x, of the output (and of idx: win) */
  int64_t in = x->kind == CLT__WIN_COL2IM ? K * win : x->kind == CLT__WIN_MAX_BWD ? win : img;
  int64_t out = x->kind == CLT__WIN_IM2COL ? K * win : x->kind == CLT__WIN_MAX ? win : img;
  int64_t v[] = {x->H, x->W, x->Ho, x->Wo, x->kh, x->kw, x->sh, x->sw, x->ph, x->pw, x->dh, x->dw};
  bool fits = in < lim && out < lim && x->H + x->ph < lim && x->W + x->pw < lim && x->dh * x->kh < lim &&
              x->dw * x->kw < lim && (x->Ho - 1) * x->sh < lim && (x->Wo - 1) * x->sw < lim;
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) fits = fits && v[i] < lim;
  /* the columns' layout (lib/backend.h: cols_cn): N images of C channels; launches cover whole
   * images of the batch, C channels at a time */
  bool cols_cn = x->cols_cn && (x->kind == CLT__WIN_IM2COL || x->kind == CLT__WIN_COL2IM);
  int64_t C = cols_cn ? x->C : 1, N = x->NC / C, per = lim / out / C * C; /* images per launch */
  win_cols cl = {.sn = cols_cn ? win : K * win, .sc = cols_cn ? K * N * win : 0, .ts = cols_cn ? N * win : win, .C = (cl_int)C};
  fits = fits && C < lim && per > 0;
  if (!fits)
    return clt__err(CLT_ERR_UNSUPPORTED, "%s on %s: an image of %lld x %lld with windows of %lld x %lld: sizes of 2^31 "
                    "elements and more are not supported", names[x->kind], dev->info.spec, (long long)x->H,
                    (long long)x->W, (long long)x->kh, (long long)x->kw);
  /* kernels/conv.cl: the forms with the taps written out, and for pixels in at most one window */
  char name[32];
  bool pixels = x->kind == CLT__WIN_COL2IM || x->kind == CLT__WIN_MAX_BWD;
  bool apart = x->sh > x->dh * (x->kh - 1) && x->sw > x->dw * (x->kw - 1);
  bool taps = x->kh == x->kw && (x->kh == 2 || x->kh == 3);
  /* max pooling's 2 x 2 windows side by side inside the image (its gradient: tiling it): a row
   * per row of windows */
  bool pairs = x->kh == 2 && x->kw == 2 && x->sh == 2 && x->sw == 2 && x->dh == 1 && x->dw == 1 && x->ph == 0 &&
               x->pw == 0 && (x->kind == CLT__WIN_MAX ? 2 * x->Ho <= x->H && 2 * x->Wo <= x->W
                              : x->kind == CLT__WIN_MAX_BWD && 2 * x->Ho == x->H && 2 * x->Wo == x->W);
  snprintf(name, sizeof name, "%s%s", names[x->kind],
           pairs ? "_2x2s2" : pixels && apart ? "_1" : !taps ? "" : x->kh == 2 ? "_2x2" : "_3x3");
  clt__cl_dev *d = clt__cl(dev);
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_conv, (int)x->dt, name, &k);
  if (s != CLT_OK) return s;
  win_div dv;
  int64_t dn[D_COUNT] = {x->Wo, x->W, K, x->kw, x->sh, x->sw, x->dh, x->dw, C, x->Ho};
  for (int i = 0; i < D_COUNT; i++) clt__cl_divisor((uint64_t)dn[i], &dv.m[i], &dv.s[i]);
  cl_mem y = clt__cl_mem(x->y), xm = clt__cl_mem(x->x);
  cl_int geo[12];
  for (int i = 0; i < 12; i++) geo[i] = (cl_int)v[i];
  /* rows of an image's plane (of im2col's, one per tap) */
  int64_t rows_per = x->kind == CLT__WIN_IM2COL && !taps ? K : pairs ? x->Ho : 1;
  cl_uint len = (cl_uint)(pairs ? x->Wo : x->kind == CLT__WIN_IM2COL ? win : out / rows_per);
  for (int64_t c0 = 0; c0 < x->NC && s == CLT_OK; c0 += per) {
    int64_t cn = x->NC - c0 < per ? x->NC - c0 : per;
    cl_long xo = x->xo + (x->kind == CLT__WIN_COL2IM ? c0 / C * cl.sn : c0 * in), io = c0 * win;
    cl_long yo = x->kind == CLT__WIN_IM2COL ? c0 / C * cl.sn : c0 * out;
    cl_uint nrows = (cl_uint)(cn * rows_per);
    clt__cl_args a;
    clt__cl_args_init(&a, k);
    CLT__ARG(&a, y);
    if (x->kind == CLT__WIN_MAX) {
      cl_mem yi = clt__cl_mem(x->yi);
      CLT__ARG(&a, yi);
    }
    CLT__ARG(&a, xm);
    if (x->kind == CLT__WIN_MAX_BWD) {
      cl_mem idx = clt__cl_mem(x->idx);
      CLT__ARG(&a, idx);
    }
    CLT__ARG(&a, xo);
    CLT__ARG(&a, yo);
    CLT__ARG(&a, io);
    CLT__ARG(&a, len);
    CLT__ARG(&a, nrows);
    for (int i = 0; i < 12; i++) CLT__ARG(&a, geo[i]);
    CLT__ARG(&a, cl);
    CLT__ARG(&a, dv);
    s = clt__cl_launch_rows(d, &a, len, nrows, k->local);
  }
  return s;
}
