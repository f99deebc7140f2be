/* Convolution and pooling (clt/nn.h): every option against naive float64 loops written here, on
 * every device, float32 and float64, contiguous and strided inputs; gradients by clt_gradcheck;
 * PyTorch's answers (tests/fixtures/conv_refs.txt, from tools/make_conv_refs.py); bad shapes and
 * options. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "ew.h"
#include "tu.h"
#ifdef CLT_HAVE_OPENCL
#include "clt/clt_cl.h"
#endif

static char fixture_path[512];

enum { CONV2D, CONV1D, CONVT, UNFOLD, FOLD, MAXPOOL, AVGPOOL, ADAPTIVE };
static const char *const op_names[] = {"conv2d", "conv1d", "conv_transpose2d", "unfold", "fold",
                                       "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"};

/* One call: x's shape (conv1d [N, C, L], fold [N, C K, L], else [N, C, H, W]), w's (convs), and
 * the options as the fixture lists them (zeros: PyTorch's defaults). */
typedef struct {
  const char *name;
  int op, xnd;
  int64_t x[4], w[4];
  bool bias;
  int64_t k[2], s[2], p[2], d[2], groups;
  bool same, ceil, exclude;
  int64_t opad[2], out[2];
} tcase;

static clt_tensor *run(const tcase *c, clt_tensor *x, clt_tensor *w, clt_tensor *b) {
  clt_conv2d_opts co = {{c->s[0], c->s[1]}, {c->p[0], c->p[1]}, {c->d[0], c->d[1]}, c->groups, c->same};
  clt_pool2d_opts po = {{c->s[0], c->s[1]}, {c->p[0], c->p[1]}, {c->d[0], c->d[1]}, c->ceil, c->exclude};
  switch (c->op) {
    case CONV2D: return clt_conv2d(x, w, b, &co);
    case CONV1D: return clt_conv1d(x, w, b, &(clt_conv1d_opts){c->s[1], c->p[1], c->d[1], c->groups, c->same});
    case CONVT:
      return clt_conv_transpose2d(x, w, b, &(clt_conv_transpose2d_opts){{c->s[0], c->s[1]}, {c->p[0], c->p[1]},
                                                                        {c->opad[0], c->opad[1]}, {c->d[0], c->d[1]}, c->groups});
    case UNFOLD: return clt_unfold(x, c->k[0], c->k[1], &co);
    case FOLD: return clt_fold(x, c->out[0], c->out[1], c->k[0], c->k[1], &co);
    case MAXPOOL: return clt_max_pool2d(x, c->k[0], c->k[1], &po);
    case AVGPOOL: return clt_avg_pool2d(x, c->k[0], c->k[1], &po);
    default: return clt_adaptive_avg_pool2d(x, c->out[0], c->out[1]);
  }
}

static bool has_w(const tcase *c) { return c->op <= CONVT; }

static const tcase cases[] = {
    {"conv2d bias", CONV2D, 4, {2, 3, 5, 4}, {4, 3, 3, 2}, true, .groups = 1},
    {"conv2d stride padding dilation", CONV2D, 4, {1, 2, 7, 6}, {2, 2, 3, 3}, false, .s = {2, 1}, .p = {1, 2}, .d = {2, 1}},
    {"conv2d groups", CONV2D, 4, {1, 4, 5, 5}, {6, 2, 2, 3}, true, .p = {1, 0}, .groups = 2},
    {"conv2d depthwise", CONV2D, 4, {2, 3, 4, 4}, {3, 1, 3, 3}, true, .s = {2, 2}, .p = {1, 1}, .groups = 3},
    {"conv2d same, even kernel", CONV2D, 4, {1, 2, 5, 6}, {2, 2, 2, 4}, true, .d = {1, 2}, .same = true},
    {"conv1d same groups dilation", CONV1D, 3, {2, 2, 7}, {4, 1, 3}, true, .d = {0, 2}, .groups = 2, .same = true},
    {"conv1d stride padding", CONV1D, 3, {1, 3, 9}, {2, 3, 4}, false, .s = {0, 3}, .p = {0, 1}},
    {"conv_transpose2d", CONVT, 4, {1, 4, 3, 4}, {4, 1, 3, 2}, true, .s = {2, 3}, .p = {1, 0}, .groups = 2, .opad = {1, 2}},
    {"conv_transpose2d dilation", CONVT, 4, {1, 2, 3, 3}, {2, 3, 2, 2}, false, .p = {1, 1}, .d = {2, 1}},
    {"unfold", UNFOLD, 4, {1, 2, 5, 4}, {0}, false, .k = {2, 3}, .s = {2, 1}, .p = {1, 1}, .d = {1, 2}},
    {"fold", FOLD, 3, {1, 12, 9}, {0}, false, .k = {2, 3}, .s = {1, 2}, .p = {0, 1}, .out = {4, 5}},
    {"max_pool2d ceil dilation", MAXPOOL, 4, {1, 2, 7, 6}, {0}, false, .k = {3, 2}, .s = {2, 2}, .p = {1, 1}, .d = {1, 2},
     .ceil = true},
    {"max_pool2d default stride", MAXPOOL, 4, {2, 2, 4, 6}, {0}, false, .k = {2, 3}},
    {"avg_pool2d count_include_pad", AVGPOOL, 4, {1, 2, 5, 5}, {0}, false, .k = {3, 2}, .s = {2, 2}, .p = {1, 1}, .ceil = true},
    {"avg_pool2d exclude_pad", AVGPOOL, 4, {1, 1, 5, 6}, {0}, false, .k = {3, 3}, .s = {2, 2}, .p = {1, 1}, .ceil = true,
     .exclude = true},
    /* the window kernels' forms (kernels/conv.cl): 3x3 and 2x2 taps written out, windows that
     * overlap (each pixel's gradient summed over several windows), windows apart (one tap per
     * pixel, pixels between windows), padding, dilation, ceil_mode */
    {"max_pool2d 3x3 overlapping padded", MAXPOOL, 4, {2, 2, 5, 6}, {0}, false, .k = {3, 3}, .s = {1, 1}, .p = {1, 1}},
    {"max_pool2d 2x2 overlapping dilated", MAXPOOL, 4, {1, 2, 6, 5}, {0}, false, .k = {2, 2}, .s = {1, 1}, .p = {1, 1},
     .d = {2, 2}},
    {"max_pool2d 2x2 apart padded ceil", MAXPOOL, 4, {1, 2, 7, 8}, {0}, false, .k = {2, 2}, .s = {3, 3}, .p = {1, 0},
     .ceil = true},
    {"max_pool2d 1x3 apart dilated", MAXPOOL, 4, {1, 1, 4, 11}, {0}, false, .k = {1, 3}, .s = {2, 5}, .d = {1, 2}},
    /* 2x2 side by side (kernels/conv.cl: win_max_2x2s2): tiling the image (the gradient's form
     * too), and leaving a last row and column out (odd sizes; ceil_mode's windows that reach
     * past the image go the general way) */
    {"max_pool2d 2x2 tiling", MAXPOOL, 4, {2, 3, 6, 8}, {0}, false, .k = {2, 2}},
    {"max_pool2d 2x2 odd sizes", MAXPOOL, 4, {1, 2, 7, 5}, {0}, false, .k = {2, 2}},
    {"max_pool2d 2x2 odd sizes ceil", MAXPOOL, 4, {1, 2, 7, 5}, {0}, false, .k = {2, 2}, .ceil = true},
    {"conv2d 3x3 padded", CONV2D, 4, {2, 3, 5, 4}, {4, 3, 3, 3}, true, .p = {1, 1}},
    {"fold 3x3 dilated", FOLD, 3, {1, 18, 24}, {0}, false, .k = {3, 3}, .s = {2, 1}, .p = {1, 2}, .d = {2, 1}, .out = {7, 6}},
    {"avg_pool2d 2x2 apart", AVGPOOL, 4, {1, 2, 5, 4}, {0}, false, .k = {2, 2}},
    {"unfold 2x2 apart", UNFOLD, 4, {1, 2, 7, 8}, {0}, false, .k = {2, 2}, .s = {3, 3}, .p = {1, 0}},
    {"fold 2x2 apart", FOLD, 3, {1, 8, 9}, {0}, false, .k = {2, 2}, .s = {3, 3}, .p = {1, 0}, .out = {7, 8}},
    {"adaptive_avg_pool2d", ADAPTIVE, 4, {1, 2, 7, 5}, {0}, false, .out = {3, 4}},
    {"adaptive_avg_pool2d up", ADAPTIVE, 4, {1, 1, 3, 2}, {0}, false, .out = {4, 3}},
};
#define NCASES (int)(sizeof cases / sizeof *cases)

/* ---- the naive reference ---------------------------------------------------------------- */

static int64_t or1(int64_t v) { return v ? v : 1; }
/* Window positions over size n as PyTorch's conv and pooling formulas give them. */
static int64_t positions(int64_t n, int64_t k, int64_t s, int64_t pb, int64_t pt, int64_t d, bool ceil) {
  int64_t room = n + pt - d * (k - 1) - 1;
  int64_t o = (ceil ? (room + s - 1) / s : room / s) + 1;
  if (ceil && (o - 1) * s >= n + pb) o--;
  return o;
}

/* The 2-d view of a case: images [N, C, H, W], kernel, stride, padding before and in all, dilation. */
typedef struct {
  int64_t N, C, H, W, k[2], s[2], pb[2], pt[2], d[2];
} geo;

static geo geometry(const tcase *c) {
  bool one = c->op == CONV1D;
  geo g = {.N = c->x[0], .C = c->x[1], .H = one ? 1 : c->x[2], .W = one ? c->x[2] : c->x[3]};
  for (int i = 0; i < 2; i++) {
    bool unit = one && i == 0;
    g.k[i] = unit ? 1 : c->op == CONV1D ? c->w[2] : has_w(c) ? c->w[2 + i] : c->k[i];
    g.s[i] = unit ? 1 : (c->op == MAXPOOL || c->op == AVGPOOL) && !c->s[i] ? g.k[i] : or1(c->s[i]);
    g.d[i] = unit ? 1 : or1(c->d[i]);
    g.pt[i] = unit ? 0 : c->same ? g.d[i] * (g.k[i] - 1) : 2 * c->p[i];
    g.pb[i] = g.pt[i] / 2;
  }
  return g;
}

/* x, w, b row-major; the result's shape in nd, shape. */
static double *reference(const tcase *c, const double *x, const double *w, const double *b, int *nd, int64_t *shape) {
  geo g = geometry(c);
  int64_t N = g.N, C = c->op == FOLD ? g.C / (g.k[0] * g.k[1]) : g.C, H = g.H, W = g.W, G = or1(c->groups);
  int64_t o[2];
  double *y = NULL;
  if (c->op == CONVT) {
    for (int i = 0; i < 2; i++) o[i] = ((i ? W : H) - 1) * g.s[i] - g.pt[i] + g.d[i] * (g.k[i] - 1) + c->opad[i] + 1;
  } else if (c->op == FOLD || c->op == ADAPTIVE) {
    o[0] = c->out[0];
    o[1] = c->out[1];
  } else {
    for (int i = 0; i < 2; i++) o[i] = positions(i ? W : H, g.k[i], g.s[i], g.pb[i], g.pt[i], g.d[i], c->ceil);
  }
  int64_t Co = c->op == CONVT ? c->w[1] * G : c->w[0], K = g.k[0] * g.k[1], kw = g.k[1];
#define X(n, ch, i, j) x[(((n) * C + (ch)) * H + (i)) * W + (j)]
  switch (c->op) {
    case CONV2D: case CONV1D: {
      int64_t cg = C / G, og = Co / G;
      y = calloc((size_t)(N * Co * o[0] * o[1]), sizeof *y);
      for (int64_t n = 0; n < N; n++)
        for (int64_t co = 0; co < Co; co++)
          for (int64_t oi = 0; oi < o[0]; oi++)
            for (int64_t oj = 0; oj < o[1]; oj++) {
              double acc = b ? b[co] : 0;
              for (int64_t ci = 0; ci < cg; ci++)
                for (int64_t ki = 0; ki < g.k[0]; ki++)
                  for (int64_t kj = 0; kj < kw; kj++) {
                    int64_t ih = oi * g.s[0] - g.pb[0] + ki * g.d[0], iw = oj * g.s[1] - g.pb[1] + kj * g.d[1];
                    if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                      acc += X(n, co / og * cg + ci, ih, iw) * w[((co * cg + ci) * g.k[0] + ki) * kw + kj];
                  }
              y[((n * Co + co) * o[0] + oi) * o[1] + oj] = acc;
            }
      *nd = 4;
      int64_t s4[4] = {N, Co, o[0], o[1]};
      memcpy(shape, s4, sizeof s4);
      if (c->op == CONV1D) {
        *nd = 3;
        shape[2] = o[1];
      }
      break;
    }
    case CONVT: {
      int64_t cg = C / G, og = Co / G;
      y = calloc((size_t)(N * Co * o[0] * o[1]), sizeof *y);
      for (int64_t n = 0; n < N; n++)
        for (int64_t ci = 0; ci < C; ci++)
          for (int64_t ih = 0; ih < H; ih++)
            for (int64_t iw = 0; iw < W; iw++)
              for (int64_t cog = 0; cog < og; cog++)
                for (int64_t ki = 0; ki < g.k[0]; ki++)
                  for (int64_t kj = 0; kj < kw; kj++) {
                    int64_t oh = ih * g.s[0] - c->p[0] + ki * g.d[0], ow = iw * g.s[1] - c->p[1] + kj * g.d[1];
                    int64_t co = ci / cg * og + cog;
                    if (oh >= 0 && oh < o[0] && ow >= 0 && ow < o[1])
                      y[((n * Co + co) * o[0] + oh) * o[1] + ow] +=
                          X(n, ci, ih, iw) * w[((ci * og + cog) * g.k[0] + ki) * kw + kj];
                  }
      for (int64_t i = 0; b && i < N * Co * o[0] * o[1]; i++) y[i] += b[i / (o[0] * o[1]) % Co];
      *nd = 4;
      int64_t s4[4] = {N, Co, o[0], o[1]};
      memcpy(shape, s4, sizeof s4);
      break;
    }
    case UNFOLD: case FOLD: {
      /* unfold: cols[n][c K + k][l] = x at the window's place; fold sums cols back there */
      int64_t img[2] = {c->op == FOLD ? o[0] : H, c->op == FOLD ? o[1] : W}, L[2];
      for (int i = 0; i < 2; i++) L[i] = positions(img[i], g.k[i], g.s[i], g.pb[i], g.pt[i], g.d[i], false);
      int64_t nimg = N * C * img[0] * img[1], ncols = N * C * K * L[0] * L[1];
      y = calloc((size_t)(c->op == FOLD ? nimg : ncols), sizeof *y);
      for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
          for (int64_t k = 0; k < K; k++)
            for (int64_t l = 0; l < L[0] * L[1]; l++) {
              int64_t ih = l / L[1] * g.s[0] - g.pb[0] + k / kw * g.d[0], iw = l % L[1] * g.s[1] - g.pb[1] + k % kw * g.d[1];
              if (ih < 0 || ih >= img[0] || iw < 0 || iw >= img[1]) continue;
              int64_t ic = ((n * C + ch) * img[0] + ih) * img[1] + iw, cc = ((n * C + ch) * K + k) * L[0] * L[1] + l;
              if (c->op == FOLD) y[ic] += x[cc];
              else y[cc] = x[ic];
            }
      int64_t sf[4] = {N, C, o[0], o[1]}, su[3] = {N, C * K, L[0] * L[1]};
      *nd = c->op == FOLD ? 4 : 3;
      memcpy(shape, c->op == FOLD ? sf : su, (size_t)*nd * sizeof *shape);
      break;
    }
    case MAXPOOL: case AVGPOOL: case ADAPTIVE: {
      y = calloc((size_t)(N * C * o[0] * o[1]), sizeof *y);
      for (int64_t nc = 0; nc < N * C; nc++)
        for (int64_t oi = 0; oi < o[0]; oi++)
          for (int64_t oj = 0; oj < o[1]; oj++) {
            int64_t lo[2], hi[2], step[2];
            double m = -INFINITY, sum = 0, div = 1;
            if (c->op == ADAPTIVE) {
              int64_t in[2] = {H, W}, oo[2] = {oi, oj};
              for (int i = 0; i < 2; i++) {
                lo[i] = oo[i] * in[i] / o[i];
                hi[i] = ((oo[i] + 1) * in[i] + o[i] - 1) / o[i];
                step[i] = 1;
              }
              div = (double)((hi[0] - lo[0]) * (hi[1] - lo[1]));
            } else {
              int64_t oo[2] = {oi, oj}, in[2] = {H, W}, cnt = 1, all = 1;
              for (int i = 0; i < 2; i++) {
                lo[i] = oo[i] * g.s[i] - g.pb[i];
                hi[i] = lo[i] + g.d[i] * (g.k[i] - 1) + 1;
                step[i] = g.d[i];
                int64_t end = hi[i] < in[i] + g.pb[i] ? hi[i] : in[i] + g.pb[i]; /* avg: PyTorch's divisor */
                all *= end - lo[i];
                cnt *= (end < in[i] ? end : in[i]) - (lo[i] > 0 ? lo[i] : 0);
              }
              div = (double)(c->exclude ? cnt : all);
            }
            for (int64_t ih = lo[0]; ih < hi[0]; ih += step[0])
              for (int64_t iw = lo[1]; iw < hi[1]; iw += step[1]) {
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                double v = x[(nc * H + ih) * W + iw];
                if (v > m || isnan(v)) m = isnan(m) ? m : v;
                sum += v;
              }
            y[(nc * o[0] + oi) * o[1] + oj] = c->op == MAXPOOL ? m : sum / div;
          }
      *nd = 4;
      int64_t s4[4] = {N, C, o[0], o[1]};
      memcpy(shape, s4, sizeof s4);
      break;
    }
  }
#undef X
  return y;
}

/* ---- inputs ----------------------------------------------------------------------------- */

static double *pattern(int64_t n, int seed) {
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = -1 + 2 * (double)((i * 7919 + seed * 104729) % 1009) / 1009.0;
  return v;
}

/* ---- forward against the naive loops ---------------------------------------------------- */

START_TEST(conv_and_pool_match_naive_loops) {
  clt_device *dev = TU_DEV;
  for (int ci = 0; ci < NCASES; ci++) {
    const tcase *c = &cases[ci];
    int wnd = c->op == CONV1D ? 3 : 4;
    int64_t nx = tu_prod(c->xnd, c->x), nw = has_w(c) ? tu_prod(wnd, c->w) : 0, nb = c->op == CONVT ? c->w[1] * or1(c->groups) : c->w[0];
    double *xv = pattern(nx, 1 + ci), *wv = pattern(nw, 100 + ci), *bv = pattern(nb, 200 + ci);
    for (int dt = 0; dt < 2; dt++)
      for (int strided = 0; strided < 2; strided++) {
        clt_dtype t = dt ? CLT_FLOAT64 : CLT_FLOAT32;
        clt_scope_begin();
        clt_tensor *x = tu_make(dev, t, c->xnd, c->x, xv, strided), *w = has_w(c) ? tu_make(dev, t, wnd, c->w, wv, strided) : NULL;
        clt_tensor *b = c->bias ? tu_make(dev, t, 1, &nb, bv, false) : NULL;
        /* the reference reads the values the device holds (float32 rounds them) */
        double *xr = tu_values(x), *wr = w ? tu_values(w) : NULL, *br = b ? tu_values(b) : NULL;
        int nd = 0;
        int64_t shape[4];
        double *want = reference(c, xr, wr, br, &nd, shape);
        tu_check_close(run(c, x, w, b), nd, shape, want, dt ? 1e-12 : 2e-5, strided ? "(strided)" : "", c->name, dev);
        free(xr);
        free(wr);
        free(br);
        free(want);
        clt_scope_end();
      }
    free(xv);
    free(wv);
    free(bv);
  }
}
END_TEST

/* ---- gradients -------------------------------------------------------------------------- */

typedef struct {
  const tcase *c;
  bool strided; /* the inputs arrive with their last two dims swapped and are transposed back */
} gcase;

static clt_tensor *grad_fn(clt_tensor *const *in, void *user) {
  gcase *g = user;
  const tcase *c = g->c;
  clt_tensor *x = g->strided ? clt_transpose(in[0], -1, -2) : in[0];
  clt_tensor *w = has_w(c) ? (g->strided ? clt_transpose(in[1], -1, -2) : in[1]) : NULL;
  return run(c, x, w, c->bias ? in[2] : NULL);
}

START_TEST(conv_and_pool_gradcheck) {
  clt_device *dev = TU_DEV;
  for (int ci = 0; ci < NCASES; ci++) {
    const tcase *c = &cases[ci];
    gcase g = {c, ci % 2 == 1};
    int wnd = c->op == CONV1D ? 3 : 4;
    int64_t nx = tu_prod(c->xnd, c->x), nw = has_w(c) ? tu_prod(wnd, c->w) : 0, nb = c->op == CONVT ? c->w[1] * or1(c->groups) : c->w[0];
    double *xv = pattern(nx, 1 + ci), *wv = pattern(nw, 100 + ci), *bv = pattern(nb, 200 + ci);
    clt_scope_begin();
    int64_t xs[4], ws[4];
    memcpy(xs, c->x, sizeof xs);
    memcpy(ws, c->w, sizeof ws);
    if (g.strided) { /* the swapped shapes; the values are any values */
      xs[c->xnd - 1] = c->x[c->xnd - 2];
      xs[c->xnd - 2] = c->x[c->xnd - 1];
      ws[wnd - 1] = c->w[wnd - 2];
      ws[wnd - 2] = c->w[wnd - 1];
    }
    clt_tensor *in[3] = {clt_from_host(dev, CLT_FLOAT64, c->xnd, xs, xv), NULL, NULL};
    int n = 1;
    if (has_w(c)) in[n++] = clt_from_host(dev, CLT_FLOAT64, wnd, ws, wv);
    if (c->bias) in[n++] = clt_from_host(dev, CLT_FLOAT64, 1, &nb, bv);
    ck_assert_msg(clt_gradcheck(grad_fn, &g, n, in, NULL) == CLT_OK, "%s on %s: %s", c->name, clt_device_spec(dev),
                  clt_last_error());
    clt_scope_end();
    free(xv);
    free(wv);
    free(bv);
  }
}
END_TEST

/* ---- PyTorch's answers ------------------------------------------------------------------ */

typedef struct {
  char name[32];
  int nd;
  int64_t shape[4];
  double *v;
} ftensor;

typedef struct {
  tcase c;
  char name[64];
  ftensor t[8]; /* x, w, b, gy, y, gx, gw, gb; v NULL where absent */
} fcase;

static const char *const tnames[8] = {"x", "w", "b", "gy", "y", "gx", "gw", "gb"};

/* Reads the next case; false at the end of the file. */
static bool read_case(FILE *f, fcase *fc) {
  memset(fc, 0, sizeof *fc);
  char op[32];
  int64_t v[16];
  if (fscanf(f, " case %63s %31s", fc->name, op) != 2) return false;
  for (int i = 0; i < 16; i++) ck_assert_int_eq(fscanf(f, "%lld", (long long *)&v[i]), 1);
  tcase *c = &fc->c;
  c->name = fc->name;
  c->op = -1;
  for (int i = 0; i < 8; i++)
    if (strcmp(op, op_names[i]) == 0) c->op = i;
  ck_assert_msg(c->op >= 0, "unknown op %s", op);
  c->k[0] = v[0], c->k[1] = v[1], c->s[0] = v[2], c->s[1] = v[3], c->p[0] = v[4], c->p[1] = v[5];
  c->d[0] = v[6], c->d[1] = v[7], c->groups = v[8], c->same = v[9], c->ceil = v[10], c->exclude = v[11];
  c->opad[0] = v[12], c->opad[1] = v[13], c->out[0] = v[14], c->out[1] = v[15];
  for (;;) {
    long pos = ftell(f);
    char tag[8], name[32];
    if (fscanf(f, " %7s", tag) != 1 || strcmp(tag, "t") != 0) {
      fseek(f, pos, SEEK_SET);
      break;
    }
    int slot = -1, nd;
    ck_assert_int_eq(fscanf(f, "%31s %d", name, &nd), 2);
    for (int i = 0; i < 8; i++)
      if (strcmp(name, tnames[i]) == 0) slot = i;
    ck_assert_msg(slot >= 0 && nd >= 1 && nd <= 4, "bad tensor %s", name);
    ftensor *t = &fc->t[slot];
    t->nd = nd;
    for (int d = 0; d < nd; d++) ck_assert_int_eq(fscanf(f, "%lld", (long long *)&t->shape[d]), 1);
    int64_t n = tu_prod(nd, t->shape);
    t->v = malloc((size_t)n * sizeof *t->v);
    for (int64_t i = 0; i < n; i++) {
      char num[64];
      ck_assert_int_eq(fscanf(f, "%63s", num), 1);
      t->v[i] = strtod(num, NULL); /* "nan" too */
    }
  }
  c->xnd = fc->t[0].nd;
  memcpy(c->x, fc->t[0].shape, sizeof c->x);
  memcpy(c->w, fc->t[1].shape, sizeof c->w);
  c->bias = fc->t[2].v != NULL;
  return true;
}

START_TEST(conv_matches_pytorch) {
  clt_device *dev = TU_DEV;
  FILE *f = fopen(fixture_path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", fixture_path);
  fcase fc;
  int ncase = 0;
  while (read_case(f, &fc)) {
    const tcase *c = &fc.c;
    for (int strided = 0; strided < 2; strided++) {
      clt_scope_begin();
      clt_tensor *in[3] = {NULL, NULL, NULL};
      for (int i = 0; i < 3; i++) {
        if (!fc.t[i].v) continue;
        in[i] = tu_make(dev, CLT_FLOAT64, fc.t[i].nd, fc.t[i].shape, fc.t[i].v, strided && i < 2);
        clt_set_requires_grad(in[i], true);
      }
      clt_tensor *y = run(c, in[0], in[1], in[2]);
      tu_check_close(y, fc.t[4].nd, fc.t[4].shape, fc.t[4].v, 1e-10, "forward", fc.name, dev);
      clt_tensor *gy = clt_from_host(dev, CLT_FLOAT64, fc.t[3].nd, fc.t[3].shape, fc.t[3].v);
      ck_assert_msg(clt_backward(y, gy) == CLT_OK, "%s: %s", fc.name, clt_last_error());
      for (int i = 0; i < 3; i++)
        if (in[i]) tu_check_close(clt_grad(in[i]), fc.t[5 + i].nd, fc.t[5 + i].shape, fc.t[5 + i].v, 1e-10, tnames[5 + i], fc.name, dev);
      clt_scope_end();
    }
    for (int i = 0; i < 8; i++) free(fc.t[i].v);
    ncase++;
  }
  fclose(f);
  ck_assert_msg(ncase >= 12, "%s holds %d cases", fixture_path, ncase);
}
END_TEST

/* ---- max_pool2d's choice ---------------------------------------------------------------- */

/* The window's element that takes the gradient, as PyTorch's CPU and CUDA kernels choose it:
 * the first largest in row-major order, a NaN over any number and a later NaN over an earlier
 * one (torch 2.15: max_pool2d over [[nan, 1], [nan, 2]] gives index 2), an all -inf window its
 * first element inside the image. One window per image here, every form of the kernel (2x2,
 * 3x3, any size), both dtypes. */
START_TEST(max_pool2d_ties_and_nans_choose_as_pytorch) {
  clt_device *dev = TU_DEV;
  static const struct {
    int64_t k;
    double x[9];
    int want; /* the place that gets the gradient */
    bool nan;
  } cases[] = {
      {2, {NAN, 1, NAN, 2}, 2, true},
      {2, {1, NAN, 3, 3}, 1, true},
      {2, {2, 5, 5, 1}, 1, false},
      {3, {0, 4, NAN, 4, NAN, NAN, 9, 4, -1}, 5, true},
      {3, {-1, 7, 0, 7, 2, 7, 7, 1, 7}, 1, false},
      {1, {NAN}, 0, true},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
    for (int dt = 0; dt < 2; dt++)
      for (int pad = 0; pad < 2; pad++) { /* pad: a 1-wide border of -inf windows' padding around it */
        int64_t k = cases[c].k, n = k * k;
        clt_scope_begin();
        clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, 4, (const int64_t[]){1, 1, k, k}, cases[c].x);
        x = clt_cast(x, dt ? CLT_FLOAT64 : CLT_FLOAT32);
        ck_assert(clt_set_requires_grad(x, true) == CLT_OK);
        clt_pool2d_opts o = {.stride = {k + 2, k + 2}};
        clt_tensor *y = pad && k > 1 ? clt_max_pool2d(x, k + 1, k + 1, &(clt_pool2d_opts){.stride = {9, 9}, .padding = {1, 1}})
                                     : clt_max_pool2d(x, k, k, &o);
        ck_assert_msg(y != NULL, "%s", clt_last_error());
        double got;
        ck_assert(clt_item(clt_sum(y, CLT_ALL_DIMS, false), &got) == CLT_OK);
        ck_assert_msg(cases[c].nan ? isnan(got) : got == cases[c].x[cases[c].want], "case %zu on %s: %g", c,
                      clt_device_spec(dev), got);
        ck_assert(clt_backward(clt_sum(y, CLT_ALL_DIMS, false), NULL) == CLT_OK);
        double *g = tu_values(clt_grad(x));
        for (int64_t i = 0; i < n; i++)
          ck_assert_msg(g[i] == (i == cases[c].want), "case %zu (%s, pad %d) on %s: gradient %g at %lld", c,
                        dt ? "float64" : "float32", pad, clt_device_spec(dev), g[i], (long long)i);
        free(g);
        clt_scope_end();
      }
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(conv_errors_name_the_argument) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, 4, (const int64_t[]){2, 4, 5, 5});
  clt_tensor *w = clt_zeros(dev, CLT_FLOAT32, 4, (const int64_t[]){6, 2, 3, 3});
  clt_tensor *x3 = clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){2, 4, 5});
  clt_tensor *w3 = clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){6, 4, 3});
  clt_tensor *xd = clt_zeros(dev, CLT_FLOAT64, 4, (const int64_t[]){2, 4, 5, 5});
  clt_tensor *xi = clt_zeros(dev, CLT_INT32, 4, (const int64_t[]){2, 4, 5, 5});
  clt_tensor *b5 = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){5});

  ck_assert_ptr_null(clt_conv2d(x, w, NULL, NULL)); /* groups 1: w needs 4 input channels */
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_conv2d", "w [6,2,3,3]", "x [2,4,5,5]", "groups 1");
  ck_assert_ptr_null(clt_conv2d(x, w, NULL, &(clt_conv2d_opts){.groups = 3}));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_conv2d", "x [2,4,5,5]", "groups 3");
  ck_assert_ptr_null(clt_conv2d(x, w, b5, &(clt_conv2d_opts){.groups = 2}));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_conv2d", "b [5]", "[6]");
  ck_assert_ptr_null(clt_conv2d(x3, w, NULL, NULL));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_conv2d", "x [2,4,5]", "4-d");
  ck_assert_ptr_null(clt_conv2d(xd, w, NULL, &(clt_conv2d_opts){.groups = 2}));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_conv2d", "w has dtype float32", "float64");
  ck_assert_ptr_null(clt_conv2d(xi, w, NULL, NULL));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_conv2d", "x must be float32 or float64", "int32");
  ck_assert_ptr_null(clt_conv2d(x, w, NULL, &(clt_conv2d_opts){.stride = {2, 1}, .groups = 2, .padding_same = true}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_conv2d", "padding_same needs stride 1");
  ck_assert_ptr_null(clt_conv2d(x, w, NULL, &(clt_conv2d_opts){.stride = {1, -1}, .groups = 2}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_conv2d", "opts->stride[1] is -1");
  ck_assert_ptr_null(clt_conv2d(x, w, NULL, &(clt_conv2d_opts){.dilation = {3, 1}, .groups = 2}));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_conv2d", "x [2,4,5,5]", "spatial dim 0 of size 5", "kernel's extent 7");
  ck_assert_ptr_null(clt_conv1d(x3, w3, NULL, &(clt_conv1d_opts){.padding = -2}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_conv1d", "opts->padding is -2");
  ck_assert_ptr_null(clt_conv1d(x3, w3, NULL, &(clt_conv1d_opts){.stride = 2, .padding_same = true}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_conv1d", "padding_same needs stride 1");
  ck_assert_ptr_null(clt_conv1d(x, w3, NULL, NULL));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_conv1d", "x [2,4,5,5]", "3-d");
  ck_assert_ptr_null(clt_conv_transpose2d(x, w, NULL, &(clt_conv_transpose2d_opts){.stride = {2, 2}, .output_padding = {2, 0}}));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_conv_transpose2d", "w [6,2,3,3]", "x [2,4,5,5]");
  clt_tensor *wt = clt_zeros(dev, CLT_FLOAT32, 4, (const int64_t[]){4, 2, 3, 3});
  ck_assert_ptr_null(clt_conv_transpose2d(x, wt, NULL, &(clt_conv_transpose2d_opts){.stride = {2, 2}, .output_padding = {2, 0}}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_conv_transpose2d", "output_padding[0] 2", "stride 2");
  ck_assert_ptr_null(clt_unfold(x, 0, 2, NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_unfold", "kh is 0");
  ck_assert_ptr_null(clt_unfold(x, 2, 2, &(clt_conv2d_opts){.groups = 2}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_unfold", "opts->groups");
  clt_tensor *cols = clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){1, 8, 5});
  ck_assert_ptr_null(clt_fold(cols, 4, 4, 2, 2, NULL));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_fold", "cols [1,8,5]", "has 5 blocks", "3 x 3");
  ck_assert_ptr_null(clt_fold(cols, 4, 4, 3, 3, NULL));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_fold", "cols [1,8,5]", "multiple of kh kw");
  ck_assert_ptr_null(clt_max_pool2d(x, 2, 2, &(clt_pool2d_opts){.padding = {2, 0}}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_max_pool2d", "opts->padding[0] 2", "half");
  ck_assert_ptr_null(clt_max_pool2d(x, 6, 2, NULL));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_max_pool2d", "x [2,4,5,5]", "kernel's extent 6");
  ck_assert_ptr_null(clt_avg_pool2d(x, 2, 2, &(clt_pool2d_opts){.dilation = {2, 2}}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_avg_pool2d", "dilation");
  ck_assert_ptr_null(clt_avg_pool2d(x3, 2, 2, NULL));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_avg_pool2d", "x [2,4,5]", "4-d");
  ck_assert_ptr_null(clt_adaptive_avg_pool2d(x, 0, 2));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_adaptive_avg_pool2d", "out_h is 0");
  /* NULL in, NULL out, the first error kept */
  ck_assert_ptr_null(clt_conv2d(NULL, w, NULL, NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_conv2d", "x");
  ck_assert_ptr_null(clt_max_pool2d(clt_avg_pool2d(x3, 2, 2, NULL), 2, 2, NULL));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_avg_pool2d", "x [2,4,5]");
  clt_scope_end();
}
END_TEST

/* An empty batch gives an empty result of the right shape, forward and backward. */
START_TEST(conv_empty_batch) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, 4, (const int64_t[]){0, 4, 5, 5});
  clt_tensor *w = clt_ones(dev, CLT_FLOAT32, 4, (const int64_t[]){6, 2, 3, 3});
  clt_set_requires_grad(x, true);
  clt_set_requires_grad(w, true);
  clt_tensor *y = clt_conv2d(x, w, NULL, &(clt_conv2d_opts){.groups = 2});
  ck_assert_msg(y != NULL, "%s", clt_last_error());
  tu_assert_values(y, 4, (const int64_t[]){0, 6, 3, 3}, NULL);
  clt_tensor *p = clt_max_pool2d(y, 2, 2, &(clt_pool2d_opts){.ceil_mode = true});
  clt_tensor *a = clt_avg_pool2d(p, 2, 2, NULL);
  ck_assert_msg(a != NULL, "%s", clt_last_error());
  tu_assert_values(a, 4, (const int64_t[]){0, 6, 1, 1}, NULL);
  ck_assert_msg(clt_backward(clt_sum(a, CLT_ALL_DIMS, false), NULL) == CLT_OK, "%s", clt_last_error());
  double g;
  ck_assert_int_eq(clt_item(clt_sum(clt_grad(w), CLT_ALL_DIMS, false), &g), CLT_OK);
  ck_assert(g == 0);
  clt_scope_end();
}
END_TEST

/* Convolutions, pooling, unfold and fold take their windows through the backend's window
 * kernels (lib/backend.h: clt__win_args), not through gather and scatter_add: the index those
 * need came from the host on every call, and scatter_add's float atomics are compare-and-swap
 * loops (half of the digits CNN's step on PoCL). Here a backend that refuses gather and
 * scatter_add still runs them all, forward and backward, to the answer of the real one. */
static clt_status refuse_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                                const clt__storage *idx, clt_dtype dt, clt_dtype idt) {
  (void)dev, (void)it, (void)dim, (void)out, (void)x, (void)idx, (void)dt, (void)idt;
  return clt__err(CLT_ERR_BACKEND, "gather refused");
}
static clt_status refuse_scatter(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *idx,
                                 const clt__storage *src, clt_dtype dt, clt_dtype idt) {
  (void)dev, (void)it, (void)dim, (void)out, (void)idx, (void)src, (void)dt, (void)idt;
  return clt__err(CLT_ERR_BACKEND, "scatter_add refused");
}

static double windows_loss(clt_device *dev) {
  double l = NAN, *xv = pattern(2 * 3 * 8 * 8, 5), *wv = pattern(4 * 3 * 3 * 3, 6);
  clt_scope_begin();
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, 4, (const int64_t[]){2, 3, 8, 8}, xv);
  clt_tensor *w = clt_from_host(dev, CLT_FLOAT64, 4, (const int64_t[]){4, 3, 3, 3}, wv);
  ck_assert(x && w && clt_set_requires_grad(x, true) == CLT_OK && clt_set_requires_grad(w, true) == CLT_OK);
  clt_tensor *h = clt_conv2d(x, w, NULL, &(clt_conv2d_opts){.padding = {1, 2}, .stride = {1, 2}, .dilation = {2, 1}});
  clt_tensor *p = clt_avg_pool2d(h, 2, 2, &(clt_pool2d_opts){.padding = {1, 1}, .stride = {1, 1}});
  clt_tensor *m = clt_max_pool2d(p, 3, 3, &(clt_pool2d_opts){.padding = {1, 1}, .stride = {1, 1}, .ceil_mode = true});
  clt_tensor *t = clt_conv_transpose2d(m, w, NULL, &(clt_conv_transpose2d_opts){.stride = {2, 1}});
  clt_tensor *loss = clt_sum(clt_square(t), CLT_ALL_DIMS, false);
  double gx = 0, gw = 0;
  if (loss && clt_backward(loss, NULL) == CLT_OK && clt_item(loss, &l) == CLT_OK &&
      clt_item(clt_sum(clt_mul(clt_grad(x), x), CLT_ALL_DIMS, false), &gx) == CLT_OK &&
      clt_item(clt_sum(clt_mul(clt_grad(w), w), CLT_ALL_DIMS, false), &gw) == CLT_OK)
    l += 1e3 * gx + 1e6 * gw; /* the gradients count too */
  else
    l = NAN;
  clt_scope_end();
  free(xv);
  free(wv);
  return l;
}

START_TEST(conv_windows_need_no_gather) {
  clt_device *dev = TU_DEV;
  double want = windows_loss(dev);
  ck_assert_msg(isfinite(want), "%s", clt_last_error());
  const clt__backend *real = clt__device_swap_backend(dev, NULL);
  clt__device_swap_backend(dev, real);
  clt__backend refusing = *real;
  refusing.gather = refuse_gather;
  refusing.scatter_add = refuse_scatter;
  clt__device_swap_backend(dev, &refusing);
  double got = windows_loss(dev);
  clt__device_swap_backend(dev, real);
  ck_assert_msg(got == want, "on %s without gather and scatter_add: %.17g, not %.17g (%s)", clt_device_spec(dev), got, want,
                clt_last_error());
}
END_TEST

/* conv2d with a bias, as a CNN's layer, backward: the calls into the backend's table, each a
 * launch or a host GEMM on OpenCL devices. conv2d is one node over columns laid out so that a
 * product can take several images (lib/conv.c: bw_conv2d): its backward is y's gradient put in
 * that order once (a copy), b's gradient as its row sums (a reduce), w's as one product (the
 * batch is small enough here), the columns' as one batch of products and col2im: 6 calls with
 * relu's gradient. Composed from matmul, add and views it took 9: w's gradient as a product per
 * image summed over the batch, b's through a permuted copy, and copies of the views that held
 * w's and b's gradients. */
static const clt__backend *counted;
static int calls;
static clt_status count_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  calls++;
  return counted->ew(dev, p, it, st);
}
static clt_status count_copy(clt_device *dev, const clt__iter *it, clt__storage *dst, const clt__storage *src, size_t esize) {
  calls++;
  return counted->copy(dev, it, dst, src, esize);
}
static clt_status count_fill(clt_device *dev, const clt__iter *it, clt__storage *dst, size_t esize, const void *value) {
  calls++;
  return counted->fill(dev, it, dst, esize, value);
}
static clt_status count_reduce(clt_device *dev, const clt__reduce_args *r) {
  calls++;
  return counted->reduce(dev, r);
}
static int64_t most_batch; /* the largest batch of products one gemm call took */
static clt_status count_gemm(clt_device *dev, const clt__gemm_args *g) {
  calls++;
  if (g->batch > most_batch) most_batch = g->batch;
  return counted->gemm(dev, g);
}
static clt_status count_windows(clt_device *dev, const clt__win_args *a) {
  calls++;
  return counted->windows(dev, a);
}

START_TEST(conv2d_backward_calls) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_randn(dev, CLT_FLOAT32, 4, (const int64_t[]){8, 3, 6, 6});
  clt_tensor *w = clt_randn(dev, CLT_FLOAT32, 4, (const int64_t[]){4, 3, 3, 3});
  clt_tensor *b = clt_randn(dev, CLT_FLOAT32, 1, (const int64_t[]){4});
  ck_assert(clt_set_requires_grad(x, true) == CLT_OK && clt_set_requires_grad(w, true) == CLT_OK &&
            clt_set_requires_grad(b, true) == CLT_OK);
  clt_tensor *y = clt_relu(clt_conv2d(x, w, b, &(clt_conv2d_opts){.padding = {1, 1}}));
  clt_tensor *g = clt_randn(dev, CLT_FLOAT32, 4, (const int64_t[]){8, 4, 6, 6});
  ck_assert_msg(g && clt_eval(y) == CLT_OK && clt_device_synchronize(dev) == CLT_OK, "%s", clt_last_error());
  counted = clt__device_swap_backend(dev, NULL);
  clt__backend counting = *counted;
  counting.ew = count_ew;
  counting.copy = count_copy;
  counting.fill = count_fill;
  counting.reduce = count_reduce;
  counting.gemm = count_gemm;
  counting.windows = count_windows;
  clt__device_swap_backend(dev, &counting);
  calls = 0;
  clt_status s = clt_backward(y, g);
  if (s == CLT_OK) s = clt_device_synchronize(dev); /* recorded elementwise chains run */
  clt__device_swap_backend(dev, counted);
  ck_assert_msg(s == CLT_OK, "%s", clt_last_error());
  ck_assert_msg(calls <= 6, "conv2d's backward on %s made %d backend calls, not 6", clt_device_spec(dev), calls);
  ck_assert(clt_grad(x) && clt_grad(w) && clt_grad(b));
  clt_scope_end();
}
END_TEST

/* x's gradient (float64: lib/blas.c's one-thread limit is OpenBLAS's 2^18 multiply-adds on
 * every machine) as one product over the whole batch's columns where that product runs on one
 * thread (a few small images), and as a product per image where it would not (64 images of 16
 * channels: 4.7M): one gemm call, of batch 1 or N. Before, it was always a product per image,
 * however small: 64 products of 32 x 16 x 144 a step for the digits CNN's second layer where
 * oneDNN on one thread ran it as one 2-3x faster. The forward without groups is one gemm call
 * of batch N, y NCHW, which the host's GEMM runs as one product where that is on one thread
 * (lib/blas.c: run_merged). */
START_TEST(conv2d_products_take_the_batch) {
  clt_device *dev = TU_DEV;
  static const struct { int64_t N, C, O, H, want; } cases[] = {{4, 3, 4, 6, 1}, {64, 16, 32, 4, 64}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    clt_scope_begin();
    int64_t N = cases[i].N, C = cases[i].C, O = cases[i].O, H = cases[i].H;
    clt_tensor *x = clt_randn(dev, CLT_FLOAT64, 4, (const int64_t[]){N, C, H, H});
    clt_tensor *w = clt_randn(dev, CLT_FLOAT64, 4, (const int64_t[]){O, C, 3, 3});
    clt_tensor *g = clt_randn(dev, CLT_FLOAT64, 4, (const int64_t[]){N, O, H, H});
    ck_assert(clt_set_requires_grad(x, true) == CLT_OK);
    ck_assert_msg(g && clt_device_synchronize(dev) == CLT_OK, "%s", clt_last_error());
    counted = clt__device_swap_backend(dev, NULL);
    clt__backend counting = *counted;
    counting.gemm = count_gemm;
    clt__device_swap_backend(dev, &counting);
    calls = 0;
    most_batch = 0;
    clt_tensor *y = clt_conv2d(x, w, NULL, &(clt_conv2d_opts){.padding = {1, 1}});
    int fwd = calls;
    int64_t fwd_batch = most_batch;
    most_batch = 0;
    clt_status s = y ? clt_backward(y, g) : clt_last_status();
    clt__device_swap_backend(dev, counted);
    ck_assert_msg(s == CLT_OK, "%s", clt_last_error());
    ck_assert_msg(fwd == 1 && fwd_batch == N && calls == 2 && most_batch == cases[i].want,
                  "conv2d of %lld images of %lld channels on %s: %d gemm calls forward (batch %lld), %d in all "
                  "(batch %lld); want 1 of batch N and 2, the second of batch %lld",
                  (long long)N, (long long)C, clt_device_spec(dev), fwd, (long long)fwd_batch, calls, (long long)most_batch,
                  (long long)cases[i].want);
    clt_scope_end();
  }
}
END_TEST

/* The largest |a - b|. */
static double max_diff(clt_tensor *a, clt_tensor *b) {
  double d = NAN;
  clt_tensor *m = clt_max(clt_abs(clt_sub(a, b)), 0, NULL, false);
  ck_assert_msg(m && clt_item(m, &d) == CLT_OK, "%s", clt_last_error());
  return d;
}

/* conv2d's gradients where w's is summed over chunks of images (lib/conv.c: w_chunks; here 2 of
 * 8) and where it is one product, against the same sums composed from unfold, matmul and fold:
 * w's = sum over images of g unfold(x)^T, x's = fold(w^T g), b's = g summed over N, H, W. */
START_TEST(conv2d_gradients_match_unfold) {
  clt_device *dev = TU_DEV;
  for (int big = 0; big < 2; big++) {
    clt_scope_begin();
    int64_t N = big ? 16 : 2, C = 4, O = 8, H = 8;
    clt_tensor *x = clt_randn(dev, CLT_FLOAT64, 4, (const int64_t[]){N, C, H, H});
    clt_tensor *w = clt_randn(dev, CLT_FLOAT64, 4, (const int64_t[]){O, C, 3, 3});
    clt_tensor *b = clt_randn(dev, CLT_FLOAT64, 1, (const int64_t[]){O});
    clt_tensor *g = clt_randn(dev, CLT_FLOAT64, 4, (const int64_t[]){N, O, H, H});
    ck_assert(clt_set_requires_grad(x, true) == CLT_OK && clt_set_requires_grad(w, true) == CLT_OK &&
              clt_set_requires_grad(b, true) == CLT_OK);
    clt_conv2d_opts pad = {.padding = {1, 1}};
    ck_assert_msg(clt_backward(clt_conv2d(x, w, b, &pad), g) == CLT_OK, "%s", clt_last_error());
    clt_tensor *gx, *gw, *gb, *g3 = clt_reshape(g, 3, (const int64_t[]){N, O, H * H});
    clt_tensor *u = clt_unfold(clt_detach(x), 3, 3, &pad); /* [N, C 9, L] */
    gw = clt_reshape(clt_sum(clt_matmul(g3, clt_transpose(u, 1, 2)), 1, (const int[]){0}, false), 4,
                     (const int64_t[]){O, C, 3, 3});
    clt_tensor *wt = clt_transpose(clt_reshape(clt_detach(w), 2, (const int64_t[]){O, C * 9}), 0, 1);
    gx = clt_fold(clt_matmul(wt, g3), H, H, 3, 3, &pad);
    gb = clt_sum(g, 3, (const int[]){0, 2, 3}, false);
    ck_assert_msg(max_diff(clt_grad(w), gw) < 1e-10, "%s w, N %lld: %g", clt_device_spec(dev), (long long)N, max_diff(clt_grad(w), gw));
    ck_assert_msg(max_diff(clt_grad(x), gx) < 1e-10, "%s x, N %lld: %g", clt_device_spec(dev), (long long)N, max_diff(clt_grad(x), gx));
    ck_assert_msg(max_diff(clt_grad(b), gb) < 1e-10, "%s b, N %lld: %g", clt_device_spec(dev), (long long)N, max_diff(clt_grad(b), gb));
    clt_scope_end();
  }
}
END_TEST

/* Kernels conv2d (forward, and backward from gy into fresh leaves: copies of x, w and b, where
 * not NULL) launches on dev, everything before it done; *fwd gets the forward's. */
static unsigned long conv_launches(clt_device *dev, clt_tensor *x, clt_tensor *w, clt_tensor *b, clt_tensor *gy,
                                   const clt_conv2d_opts *o, unsigned long *fwd) {
  x = clt_clone(clt_detach(x)), w = clt_clone(clt_detach(w)), b = b ? clt_clone(clt_detach(b)) : NULL;
  ck_assert_msg(x && w && clt_set_requires_grad(x, true) == CLT_OK && clt_set_requires_grad(w, true) == CLT_OK &&
                (!b || clt_set_requires_grad(b, true) == CLT_OK) && clt_device_synchronize(dev) == CLT_OK,
                "%s", clt_last_error());
  unsigned long before = atomic_load(&clt__kernel_launches);
  clt_tensor *y = clt_conv2d(x, w, b, o);
  clt_status s = y ? clt_device_synchronize(dev) : clt_last_status();
  *fwd = atomic_load(&clt__kernel_launches) - before;
  if (s == CLT_OK) s = clt_backward(y, gy);
  if (s == CLT_OK) s = clt_device_synchronize(dev);
  ck_assert_msg(s == CLT_OK, "%s", clt_last_error());
  return atomic_load(&clt__kernel_launches) - before;
}

/* conv2d's bias as its product's epilogue (one value per row, lib/matmul.c; per group a
 * permuting add) and the bias's gradient as the row sums of w's gradient's product (lib/conv.c),
 * against conv2d without a bias plus a broadcast add: the values and the gradients of x, w and b,
 * float32 and float64, with stride, padding, dilation, groups, and w's gradient in chunks of
 * images (float64, 16 images). Under CLT_GEMM=kernel and clblast (tests/meson.build) kernels
 * run the epilogues after the product. On PoCL with the host's GEMM (auto) the bias costs no
 * launch without groups, forward or backward (w's gradient one product): before, an add and a
 * sum reduction per layer. */
START_TEST(conv2d_bias_in_the_product) {
  clt_device *dev = TU_DEV;
  /* free: the bias costs no launch (without groups, and w's gradient one product: the last
   * case's is two of 8 images in float64, and without oneDNN in float32) */
  static const struct { int64_t N, C, O, H, s, p, d, G; bool free; } cases[] = {
      {3, 2, 4, 6, 1, 1, 1, 1, true}, {2, 3, 5, 7, 2, 0, 1, 1, true}, {2, 2, 3, 8, 1, 2, 2, 1, true},
      {2, 4, 6, 5, 1, 1, 1, 2, false}, {16, 4, 8, 8, 1, 1, 1, 1, false}};
  const clt_dtype dts[2] = {CLT_FLOAT32, CLT_FLOAT64};
  const char *provider = getenv("CLT_GEMM"), *wait = getenv("CLT_GEMM_WAIT");
  bool pocl = false;
#ifdef CLT_HAVE_OPENCL
  clt_cl_details det;
  pocl = dev != tu_dev[0] && clt_cl_device_get_details(dev, &det) == CLT_OK && strstr(det.platform, "Portable") &&
         !(provider && *provider) && !(wait && *wait);
#else
  (void)provider, (void)wait;
#endif
  for (int t = 0; t < 2; t++)
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
      clt_scope_begin();
      int64_t N = cases[c].N, C = cases[c].C, O = cases[c].O, H = cases[c].H, G = cases[c].G;
      clt_conv2d_opts o = {{cases[c].s, cases[c].s}, {cases[c].p, cases[c].p}, {cases[c].d, cases[c].d}, G, false};
      clt_tensor *x = clt_randn(dev, dts[t], 4, (const int64_t[]){N, C, H, H});
      clt_tensor *w = clt_randn(dev, dts[t], 4, (const int64_t[]){O, C / G, 3, 3});
      clt_tensor *b = clt_randn(dev, dts[t], 1, (const int64_t[]){O});
      clt_tensor *x2 = clt_clone(x), *w2 = clt_clone(w), *b2 = clt_clone(b);
      clt_tensor *leaves[6] = {x, w, b, x2, w2, b2};
      for (int i = 0; i < 6; i++) ck_assert_msg(clt_set_requires_grad(leaves[i], true) == CLT_OK, "%s", clt_last_error());
      clt_tensor *y = clt_conv2d(x, w, b, &o);
      clt_tensor *y2 = clt_add(clt_conv2d(x2, w2, NULL, &o), clt_reshape(b2, 3, (const int64_t[]){O, 1, 1}));
      ck_assert_msg(y && y2, "%s", clt_last_error());
      clt_tensor *gy = clt_randn_like(y);
      ck_assert_msg(clt_backward(y, gy) == CLT_OK && clt_backward(y2, gy) == CLT_OK, "%s", clt_last_error());
      double tol = dts[t] == CLT_FLOAT32 ? 1e-4 : 1e-11;
      clt_tensor *got[4] = {y, clt_grad(x), clt_grad(w), clt_grad(b)}, *want[4] = {y2, clt_grad(x2), clt_grad(w2), clt_grad(b2)};
      static const char *const what[4] = {"y", "x's gradient", "w's gradient", "b's gradient"};
      for (int i = 0; i < 4; i++) {
        ck_assert_msg(got[i] && want[i], "%s", clt_last_error());
        double diff = max_diff(got[i], want[i]);
        ck_assert_msg(diff <= tol, "%s, %s case %zu: %s differs by %g", clt_device_spec(dev), clt_dtype_name(dts[t]), c,
                      what[i], diff);
      }
      if (pocl && cases[c].free) {
        unsigned long fwd, fwd0, with = conv_launches(dev, x, w, b, gy, &o, &fwd), without = conv_launches(dev, x2, w2, NULL, gy, &o, &fwd0);
        /* the forward: im2col alone (before, a permuting add or copy after the product too) */
        ck_assert_msg(with == without && fwd == 1 && fwd0 == 1,
                      "%s case %zu on %s: conv2d and its backward launched %lu kernels with a bias (%lu forward), %lu "
                      "without (%lu); want the forward's im2col alone", clt_dtype_name(dts[t]), c, clt_device_spec(dev),
                      with, fwd, without, fwd0);
      }
      clt_scope_end();
    }
}
END_TEST

/* Operands on two devices are refused, naming them. */
START_TEST(conv_mixed_devices) {
  clt_device *dev = TU_DEV;
  if (dev == tu_dev[0]) return; /* needs a second device */
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, 4, (const int64_t[]){1, 2, 5, 5});
  clt_tensor *w = clt_zeros(tu_dev[0], CLT_FLOAT32, 4, (const int64_t[]){3, 2, 3, 3});
  ck_assert_ptr_null(clt_conv2d(x, w, NULL, NULL));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_conv2d");
  ck_assert_ptr_null(clt_conv_transpose2d(x, clt_zeros(dev, CLT_FLOAT32, 4, (const int64_t[]){2, 3, 3, 3}),
                                          clt_zeros(tu_dev[0], CLT_FLOAT32, 1, (const int64_t[]){3}), NULL));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_conv_transpose2d");
  clt_scope_end();
}
END_TEST

/* ---- faults ----------------------------------------------------------------------------- */

/* Every op here, forward and backward, on small shapes; *out gets the loss. Stops at the first
 * failure so that the error read is the failing call's. */
static clt_status workload(clt_device *dev, double *out) {
  clt_status st = CLT_OK;
  clt_scope_begin();
  double *xv = pattern(2 * 2 * 5 * 5, 3), *wv = pattern(4 * 1 * 3 * 3, 4);
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, 4, (const int64_t[]){2, 2, 5, 5}, xv);
  clt_tensor *w = clt_from_host(dev, CLT_FLOAT64, 4, (const int64_t[]){4, 1, 3, 3}, wv);
  clt_tensor *b = clt_zeros(dev, CLT_FLOAT64, 1, (const int64_t[]){4});
  free(xv);
  free(wv);
  if (!x || !w || !b) goto fail;
  if ((st = clt_set_requires_grad(x, true)) != CLT_OK || (st = clt_set_requires_grad(w, true)) != CLT_OK) goto done;
  clt_tensor *h = clt_conv2d(clt_transpose(x, 2, 3), w, b, &(clt_conv2d_opts){.padding = {1, 1}, .groups = 2});
  clt_tensor *p = clt_max_pool2d(h, 2, 2, &(clt_pool2d_opts){.padding = {1, 1}});
  clt_tensor *a = clt_avg_pool2d(p, 2, 2, &(clt_pool2d_opts){.stride = {1, 1}, .exclude_pad = true});
  clt_tensor *t = clt_conv_transpose2d(a, w, NULL, &(clt_conv_transpose2d_opts){.stride = {2, 2}, .groups = 4});
  clt_tensor *u = t ? clt_fold(clt_unfold(t, 2, 2, NULL), clt_shape(t)[2], clt_shape(t)[3], 2, 2, NULL) : NULL;
  clt_tensor *q = clt_adaptive_avg_pool2d(u, 2, 3);
  clt_tensor *c1 = clt_conv1d(clt_flatten(q, 2, 3), clt_ones(dev, CLT_FLOAT64, 3, (const int64_t[]){1, 4, 2}), NULL, NULL);
  clt_tensor *loss = clt_sum(clt_square(c1), CLT_ALL_DIMS, false);
  if (!loss) goto fail;
  if ((st = clt_backward(loss, NULL)) != CLT_OK || (st = clt_item(loss, out)) != CLT_OK) goto done;
  goto done;
fail:
  st = clt_last_status();
  if (st == CLT_OK) st = CLT_ERR_STATE; /* a NULL without an error */
done:
  clt_scope_end();
  return st;
}

/* Every fault point of the workload fails it cleanly: an error, nothing left alive, and the
 * next clean run gives the same loss (to rounding: on parallel devices scatter_add, which fold
 * and max_pool2d's gradient use, adds in any order). */
START_TEST(conv_survives_every_fault) { tu_fault_sweep(TU_DEV, workload, 1e-12, 51); }
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("conv");
  TCase *tc = tu_tcase("conv");
  TU_DEVICES(tc, conv_and_pool_match_naive_loops);
  TU_DEVICES(tc, conv_and_pool_gradcheck);
  TU_DEVICES(tc, conv_matches_pytorch);
  TU_DEVICES(tc, conv_errors_name_the_argument);
  TU_DEVICES(tc, conv_survives_every_fault);
  TU_DEVICES(tc, conv_empty_batch);
  TU_DEVICES(tc, conv_mixed_devices);
  TU_DEVICES(tc, conv_windows_need_no_gather);
  TU_DEVICES(tc, conv2d_backward_calls);
  TU_DEVICES(tc, conv2d_gradients_match_unfold);
  TU_DEVICES(tc, conv2d_products_take_the_batch);
  TU_DEVICES(tc, conv2d_bias_in_the_product);
  TU_DEVICES(tc, max_pool2d_ties_and_nans_choose_as_pytorch);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  const char *dir = getenv("CLT_FIXTURES");
  snprintf(fixture_path, sizeof fixture_path, "%s/conv_refs.txt", dir ? dir : "tests/fixtures");
  return tu_main(suite, TU_MANY_KERNELS);
}
