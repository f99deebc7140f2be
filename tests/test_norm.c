/* Normalization (clt/nn.h: batch, layer, group and RMS norm): every option against naive float64
 * loops written here, on every device, float32 and float64, contiguous and strided inputs;
 * running statistics; float32 stability on data far from zero; gradients by clt_gradcheck;
 * PyTorch's answers (tests/fixtures/norm_refs.txt, from tools/make_norm_refs.py); bad shapes;
 * every fault point of a workload over all four, forward and backward. */
#include <float.h>
#include <stdio.h>

#include "ew.h" /* clt__kernel_launches */
#include "tu.h"

static char fixture_path[512];

enum { BN, LN, GN, RMS };
static const char *const op_names[] = {"batch_norm", "layer_norm", "group_norm", "rms_norm"};

/* One call. k: the normalized dims (layer and RMS norm) or the groups (group norm). */
typedef struct {
  const char *name;
  int op, nd;
  int64_t x[4];
  int64_t k;
  bool w, b, training, running;
  double momentum, eps; /* eps < 0: the default */
} ncase;

static const ncase cases[] = {
    {"batch_norm train 2-d", BN, 2, {6, 3}, 0, true, true, true, true, 0.1, 1e-5},
    {"batch_norm train 3-d plain", BN, 3, {3, 2, 5}, 0, false, false, true, true, 0.3, -1},
    {"batch_norm train 4-d no running", BN, 4, {2, 3, 2, 3}, 0, true, true, true, false, 0.1, 1e-3},
    {"batch_norm eval 4-d", BN, 4, {2, 3, 3, 2}, 0, true, true, false, true, 0.1, 1e-5},
    {"batch_norm eval 3-d weight only", BN, 3, {2, 4, 3}, 0, true, false, false, true, 0.1, 0.5},
    {"layer_norm 2-d", LN, 2, {4, 6}, 1, true, true, false, false, 0, 1e-5},
    {"layer_norm 3-d over 2", LN, 3, {2, 3, 4}, 2, true, true, false, false, 0, -1},
    {"layer_norm 4-d over 3 plain", LN, 4, {2, 2, 3, 2}, 3, false, false, false, false, 0, 1e-2},
    {"layer_norm bias only", LN, 3, {3, 2, 5}, 1, false, true, false, false, 0, 1e-5},
    {"group_norm 4-d", GN, 4, {2, 6, 2, 2}, 3, true, true, false, false, 0, 1e-5},
    {"group_norm 3-d plain", GN, 3, {2, 4, 3}, 2, false, false, false, false, 0, -1},
    {"group_norm 2-d per channel", GN, 2, {3, 4}, 4, true, true, false, false, 0, 1e-5},
    {"rms_norm 2-d default eps", RMS, 2, {4, 5}, 1, true, false, false, false, 0, -1},
    {"rms_norm 3-d over 2 plain", RMS, 3, {2, 3, 4}, 2, false, false, false, false, 0, 1e-6},
};
#define NCASES (int)(sizeof cases / sizeof *cases)

static int64_t prod(int n, const int64_t *s) {
  int64_t p = 1;
  for (int i = 0; i < n; i++) p *= s[i];
  return p;
}

/* The channels of the affine parameters (batch and group norm: C; else the normalized dims). */
static int pnd(const ncase *c) { return c->op == BN || c->op == GN ? 1 : (int)c->k; }
static const int64_t *pshape(const ncase *c) { return c->op == BN || c->op == GN ? &c->x[1] : &c->x[c->nd - c->k]; }

static clt_tensor *run(const ncase *c, clt_tensor *x, clt_tensor *w, clt_tensor *b, clt_tensor *rm, clt_tensor *rv) {
  switch (c->op) {
    case BN: return clt_batch_norm(x, rm, rv, w, b, c->training, c->momentum, c->eps);
    case LN: return clt_layer_norm(x, (int)c->k, pshape(c), w, b, c->eps);
    case GN: return clt_group_norm(x, c->k, w, b, c->eps);
    default: return clt_rms_norm(x, (int)c->k, pshape(c), w, c->eps);
  }
}

/* ---- the naive reference ---------------------------------------------------------------- */

/* Statistic i's elements of x (their row-major indices) and each one's affine channel, written
 * out per op. Returns how many. */
static int64_t members(const ncase *c, int64_t i, int64_t *idx, int64_t *ch) {
  int64_t N = c->x[0], n = 0;
  if (c->op == BN || c->op == GN) {
    int64_t C = c->x[1], HW = prod(c->nd - 2, c->x + 2);
    int64_t G = c->op == GN ? c->k : C, Cg = C / G;
    int64_t n0 = c->op == GN ? i / G : 0, n1 = c->op == GN ? n0 + 1 : N, g = c->op == GN ? i % G : i;
    for (int64_t s = n0; s < n1; s++)
      for (int64_t cc = g * Cg; cc < (g + 1) * Cg; cc++)
        for (int64_t h = 0; h < HW; h++) {
          idx[n] = (s * C + cc) * HW + h;
          ch[n++] = cc;
        }
  } else {
    int64_t D = prod((int)c->k, c->x + c->nd - c->k);
    for (int64_t j = 0; j < D; j++) {
      idx[n] = i * D + j;
      ch[n++] = j;
    }
  }
  return n;
}

static int64_t nstats(const ncase *c) {
  if (c->op == BN) return c->x[1];
  if (c->op == GN) return c->x[0] * c->k;
  return prod(c->nd - (int)c->k, c->x);
}

static double default_eps(const ncase *c, clt_dtype dt) {
  if (c->eps >= 0) return c->eps;
  return c->op != RMS ? 1e-5 : dt == CLT_FLOAT32 ? FLT_EPSILON : DBL_EPSILON;
}

/* y for x (and w, b, NULL where absent), and batch norm's running statistics rm, rv updated in
 * place (training) or used (eval). */
static double *reference(const ncase *c, clt_dtype dt, const double *x, const double *w, const double *b, double *rm,
                         double *rv) {
  int64_t n = prod(c->nd, c->x), *idx = malloc((size_t)n * sizeof *idx), *ch = malloc((size_t)n * sizeof *ch);
  double *y = malloc((size_t)n * sizeof *y), eps = default_eps(c, dt);
  for (int64_t i = 0; i < nstats(c); i++) {
    int64_t m = members(c, i, idx, ch);
    double mean = 0, var = 0;
    if (c->op == BN && !c->training) {
      mean = rm[i];
      var = rv[i];
    } else {
      for (int64_t j = 0; c->op != RMS && j < m; j++) mean += x[idx[j]] / (double)m;
      for (int64_t j = 0; j < m; j++) var += (x[idx[j]] - mean) * (x[idx[j]] - mean) / (double)m;
      if (c->op == BN && rm) {
        rm[i] = (1 - c->momentum) * rm[i] + c->momentum * mean;
        rv[i] = (1 - c->momentum) * rv[i] + c->momentum * var * (double)m / (double)(m - 1);
      }
    }
    for (int64_t j = 0; j < m; j++)
      y[idx[j]] = (x[idx[j]] - mean) / sqrt(var + eps) * (w ? w[ch[j]] : 1) + (b ? b[ch[j]] : 0);
  }
  free(idx);
  free(ch);
  return y;
}

/* ---- inputs ----------------------------------------------------------------------------- */

static double *pattern(int64_t n, int seed, double scale, double shift) {
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = shift + scale * (-1 + 2 * (double)((i * 7919 + seed * 104729) % 1009) / 1009.0);
  return v;
}

/* A tensor of shape holding v (row-major), of dtype dt; strided: a transposed view of a tensor
 * with the last two dims swapped, so that its strides are not row-major. */
static clt_tensor *on(clt_device *dev, clt_dtype dt, int nd, const int64_t *shape, const double *v) {
  /* cast on the host: a device may lack fp64 (norm_no_fp64) */
  return clt_to(clt_cast(clt_from_host(tu_dev[0], CLT_FLOAT64, nd, shape, v), dt), dev);
}

static clt_tensor *make(clt_device *dev, clt_dtype dt, int nd, const int64_t *shape, const double *v, bool strided) {
  if (!strided || nd < 2) return on(dev, dt, nd, shape, v);
  int64_t s[4], n = prod(nd, shape), R = shape[nd - 2], Cc = shape[nd - 1];
  memcpy(s, shape, (size_t)nd * sizeof *s);
  s[nd - 2] = Cc;
  s[nd - 1] = R;
  double *t = malloc((size_t)(n ? n : 1) * sizeof *t);
  for (int64_t i = 0; i < n; i++) { /* t[.., j, r] = v[.., r, j] */
    int64_t m = i / (R * Cc), r = i / Cc % R, j = i % Cc;
    t[(m * Cc + j) * R + r] = v[i];
  }
  clt_tensor *out = clt_transpose(on(dev, dt, nd, s, t), -1, -2);
  free(t);
  return out;
}

/* n values of v as every other element of a [2 n] tensor, from element 1 (strided) or as a
 * contiguous [n] one. */
static clt_tensor *make_vec(clt_device *dev, clt_dtype dt, int64_t n, const double *v, bool strided) {
  if (!strided) return make(dev, dt, 1, &n, v, false);
  int64_t n2 = 2 * n;
  double *t = calloc((size_t)n2, sizeof *t);
  for (int64_t i = 0; i < n; i++) t[2 * i + 1] = v[i];
  clt_tensor *out = clt_slice(make(dev, dt, 1, &n2, t, false), 0, 1, n2, 2);
  free(t);
  return out;
}

static void check_close(clt_tensor *got, int64_t n, const double *want, double tol, const char *what, const char *name,
                        clt_device *dev) {
  ck_assert_msg(got != NULL, "%s %s on %s: %s", name, what, clt_device_spec(dev), clt_last_error());
  ck_assert_msg(clt_numel(got) == n, "%s %s: %lld elements, want %lld", name, what, (long long)clt_numel(got), (long long)n);
  double *v = tu_values(got);
  for (int64_t i = 0; i < n; i++)
    ck_assert_msg(fabs(v[i] - want[i]) <= tol * (1 + fabs(want[i])), "%s %s on %s (%s): element %lld is %.12g, want %.12g",
                  name, what, clt_device_spec(dev), clt_dtype_name(clt_dtype_of(got)), (long long)i, v[i], want[i]);
  free(v);
}

/* ---- forward against the naive loops ---------------------------------------------------- */

START_TEST(norm_matches_naive_loops) {
  clt_device *dev = TU_DEV;
  for (int ci = 0; ci < NCASES; ci++) {
    const ncase *c = &cases[ci];
    int64_t nx = prod(c->nd, c->x), np = prod(pnd(c), pshape(c)), C = c->x[1];
    double *xv = pattern(nx, 1 + ci, 2, 0.5), *wv = pattern(np, 100 + ci, 1, 0), *bv = pattern(np, 200 + ci, 1, 0);
    double *rmv = pattern(C, 300 + ci, 1, 0), *rvv = pattern(C, 400 + ci, 0.5, 1);
    for (int dt = 0; dt < 2; dt++)
      for (int strided = 0; strided < 2; strided++) {
        clt_dtype t = dt ? CLT_FLOAT64 : CLT_FLOAT32;
        clt_scope_begin();
        clt_tensor *x = make(dev, t, c->nd, c->x, xv, strided);
        clt_tensor *w = c->w ? make(dev, t, pnd(c), pshape(c), wv, strided) : NULL;
        clt_tensor *b = c->b ? make(dev, t, pnd(c), pshape(c), bv, false) : NULL;
        clt_tensor *rm = c->running ? make_vec(dev, t, C, rmv, strided) : NULL;
        clt_tensor *rv = c->running ? make_vec(dev, t, C, rvv, strided) : NULL;
        /* the reference reads the values the device holds (float32 rounds them) */
        double *xr = tu_values(x), *wr = w ? tu_values(w) : NULL, *br = b ? tu_values(b) : NULL;
        double *rmr = rm ? tu_values(rm) : NULL, *rvr = rv ? tu_values(rv) : NULL;
        double *want = reference(c, t, xr, wr, br, rmr, rvr);
        double tol = dt ? 1e-12 : 2e-5;
        const char *what = strided ? "(strided)" : "";
        check_close(run(c, x, w, b, rm, rv), nx, want, tol, what, c->name, dev);
        if (rm) check_close(rm, C, rmr, tol, "running_mean", c->name, dev);
        if (rv) check_close(rv, C, rvr, tol, "running_var", c->name, dev);
        free(xr);
        free(wr);
        free(br);
        free(rmr);
        free(rvr);
        free(want);
        clt_scope_end();
      }
    free(xv);
    free(wv);
    free(bv);
    free(rmv);
    free(rvv);
  }
}
END_TEST

/* float32 data at 1e4 + noise of spread 1: the two-pass statistics keep the variance (one pass
 * of E[x^2] - E[x]^2 in float32 loses it: 1e8 against an ulp of 8), and the mean kept as a pair
 * keeps the deviations exact (a float32 mean is off by up to ulp(1e4) / 2 = 5e-4). The forward
 * is held to float64 loops over the same float32 inputs, the gradients to clt's own float64 ones
 * (themselves checked by gradcheck and against PyTorch). The suite runs this test again with
 * $CLT_DISABLE_FP64=1 (tests/meson.build: norm_no_fp64), where kernels/norm.cl sums in float. */
START_TEST(norm_float32_far_from_zero) {
  clt_device *dev = TU_DEV;
  for (int ci = 0; ci < NCASES; ci++) {
    const ncase *c = &cases[ci];
    if (c->op == BN && !c->training) continue; /* the running statistics set the scale */
    int64_t nx = prod(c->nd, c->x), np = prod(pnd(c), pshape(c)), C = c->x[1];
    double *xv = pattern(nx, 7 + ci, 1, 1e4), *wv = pattern(np, 5, 1, 0), *bv = pattern(np, 6, 1, 0);
    double *gv = pattern(nx, 11 + ci, 1, 0.25), *rmv = pattern(C, 8, 0, 0), *rvv = pattern(C, 9, 0, 1);
    clt_scope_begin();
    clt_tensor *in[2][3], *rm = NULL, *rv = NULL, *y[2];
    in[0][0] = make(dev, CLT_FLOAT32, c->nd, c->x, xv, ci % 2 == 1);
    in[0][1] = c->w ? make(dev, CLT_FLOAT32, pnd(c), pshape(c), wv, false) : NULL;
    in[0][2] = c->b ? make(dev, CLT_FLOAT32, pnd(c), pshape(c), bv, false) : NULL;
    for (int i = 0; i < 3; i++) /* float64 over the same (float32) values, on the host */
      in[1][i] = in[0][i] ? clt_cast(clt_to(in[0][i], tu_dev[0]), CLT_FLOAT64) : NULL;
    for (int d = 0; d < 2; d++) { /* float32 on dev, then the float64 reference */
      for (int i = 0; i < 3; i++)
        if (in[d][i]) clt_set_requires_grad(in[d][i], true);
      if (!d && c->running) {
        rm = make_vec(dev, CLT_FLOAT32, C, rmv, false);
        rv = make_vec(dev, CLT_FLOAT32, C, rvv, false);
      }
      y[d] = run(c, in[d][0], in[d][1], in[d][2], d ? NULL : rm, d ? NULL : rv);
      clt_tensor *gy = make(d ? tu_dev[0] : dev, d ? CLT_FLOAT64 : CLT_FLOAT32, c->nd, c->x, gv, false);
      ck_assert_msg(y[d] && clt_backward(y[d], gy) == CLT_OK, "%s: %s", c->name, clt_last_error());
    }
    double *xr = tu_values(in[0][0]), *wr = c->w ? tu_values(in[0][1]) : NULL, *br = c->b ? tu_values(in[0][2]) : NULL;
    double *want = reference(c, CLT_FLOAT32, xr, wr, br, rmv, rvv);
    check_close(y[0], nx, want, 1e-5, "(1e4 + noise, float32)", c->name, dev);
    if (rv) check_close(rv, C, rvv, 1e-5, "running_var (1e4 + noise)", c->name, dev);
    for (int i = 0; i < 3; i++) {
      if (!in[0][i]) continue;
      double *g64 = tu_values(clt_grad(in[1][i]));
      check_close(clt_grad(in[0][i]), clt_numel(in[0][i]), g64, 1e-4, i == 0 ? "gx (1e4 + noise)" : i == 1 ? "gw (1e4 + noise)" : "gb (1e4 + noise)",
                  c->name, dev);
      free(g64);
    }
    free(xr);
    free(wr);
    free(br);
    free(want);
    clt_scope_end();
    free(xv);
    free(wv);
    free(bv);
    free(gv);
    free(rmv);
    free(rvv);
  }
}
END_TEST

/* ---- gradients -------------------------------------------------------------------------- */

typedef struct {
  const ncase *c;
  bool strided; /* x arrives with its last two dims swapped and is transposed back */
  clt_tensor *rm, *rv;
} gcase;

static clt_tensor *grad_fn(clt_tensor *const *in, void *user) {
  gcase *g = user;
  const ncase *c = g->c;
  int i = 1;
  clt_tensor *x = g->strided ? clt_transpose(in[0], -1, -2) : in[0];
  clt_tensor *w = c->w ? in[i++] : NULL, *b = c->b ? in[i++] : NULL;
  return run(c, x, w, b, g->rm, g->rv);
}

START_TEST(norm_gradcheck) {
  clt_device *dev = TU_DEV;
  for (int ci = 0; ci < NCASES; ci++) {
    const ncase *c = &cases[ci];
    int64_t nx = prod(c->nd, c->x), np = prod(pnd(c), pshape(c)), C = c->x[1];
    double *xv = pattern(nx, 1 + ci, 2, 0.5), *wv = pattern(np, 100 + ci, 1, 0), *bv = pattern(np, 200 + ci, 1, 0);
    double *rmv = pattern(C, 300 + ci, 1, 0), *rvv = pattern(C, 400 + ci, 0.5, 1);
    clt_scope_begin();
    gcase g = {c, ci % 2 == 1, NULL, NULL};
    if (c->running) {
      g.rm = make_vec(dev, CLT_FLOAT64, C, rmv, false);
      g.rv = make_vec(dev, CLT_FLOAT64, C, rvv, false);
    }
    int64_t xs[4];
    memcpy(xs, c->x, sizeof xs);
    if (g.strided) { /* the swapped shape; the values are any values */
      xs[c->nd - 1] = c->x[c->nd - 2];
      xs[c->nd - 2] = c->x[c->nd - 1];
    }
    clt_tensor *in[3] = {clt_from_host(dev, CLT_FLOAT64, c->nd, xs, xv), NULL, NULL};
    int n = 1;
    if (c->w) in[n++] = clt_from_host(dev, CLT_FLOAT64, pnd(c), pshape(c), wv);
    if (c->b) in[n++] = clt_from_host(dev, CLT_FLOAT64, pnd(c), pshape(c), bv);
    ck_assert_msg(clt_gradcheck(grad_fn, &g, n, in, NULL) == CLT_OK, "%s on %s: %s", c->name, clt_device_spec(dev),
                  clt_last_error());
    clt_scope_end();
    free(xv);
    free(wv);
    free(bv);
    free(rmv);
    free(rvv);
  }
}
END_TEST

/* ---- PyTorch's answers ------------------------------------------------------------------ */

typedef struct {
  int nd;
  int64_t shape[4];
  double *v;
} ftensor;

/* x, w, b, rm, rv (inputs), gy, y, rm_after, rv_after, gx, gw, gb; v NULL where absent */
enum { FX, FW, FB, FRM, FRV, FGY, FY, FRM2, FRV2, FGX, FGW, FGB, FN };
static const char *const tnames[FN] = {"x", "w", "b", "rm", "rv", "gy", "y", "rm_after", "rv_after", "gx", "gw", "gb"};

typedef struct {
  ncase c;
  char name[64];
  ftensor t[FN];
} fcase;

/* Reads the next case; false at the end of the file. */
static bool read_case(FILE *f, fcase *fc) {
  memset(fc, 0, sizeof *fc);
  char op[32];
  long long k;
  int training;
  if (fscanf(f, " case %63s %31s %lld %d %lf %lf", fc->name, op, &k, &training, &fc->c.momentum, &fc->c.eps) != 6)
    return false;
  ncase *c = &fc->c;
  c->name = fc->name;
  c->op = -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(op, op_names[i]) == 0) c->op = i;
  ck_assert_msg(c->op >= 0, "unknown op %s", op);
  c->k = k;
  c->training = training;
  for (;;) {
    long pos = ftell(f);
    char tag[8], name[32];
    if (fscanf(f, " %7s", tag) != 1 || strcmp(tag, "t") != 0) {
      fseek(f, pos, SEEK_SET);
      break;
    }
    int slot = -1, nd;
    ck_assert_int_eq(fscanf(f, "%31s %d", name, &nd), 2);
    for (int i = 0; i < FN; i++)
      if (strcmp(name, tnames[i]) == 0) slot = i;
    ck_assert_msg(slot >= 0 && nd >= 1 && nd <= 4, "bad tensor %s", name);
    ftensor *t = &fc->t[slot];
    t->nd = nd;
    for (int d = 0; d < nd; d++) ck_assert_int_eq(fscanf(f, "%lld", (long long *)&t->shape[d]), 1);
    int64_t n = prod(nd, t->shape);
    t->v = malloc((size_t)n * sizeof *t->v);
    for (int64_t i = 0; i < n; i++) ck_assert_int_eq(fscanf(f, "%lf", &t->v[i]), 1);
  }
  c->nd = fc->t[FX].nd;
  memcpy(c->x, fc->t[FX].shape, sizeof c->x);
  c->w = fc->t[FW].v != NULL;
  c->b = fc->t[FB].v != NULL;
  c->running = fc->t[FRM].v != NULL;
  return true;
}

START_TEST(norm_matches_pytorch) {
  clt_device *dev = TU_DEV;
  FILE *f = fopen(fixture_path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", fixture_path);
  fcase fc;
  int count = 0;
  while (read_case(f, &fc)) {
    const ncase *c = &fc.c;
    clt_scope_begin();
    clt_tensor *in[5] = {NULL, NULL, NULL, NULL, NULL};
    for (int i = FX; i <= FRV; i++) {
      if (!fc.t[i].v) continue;
      in[i] = make(dev, CLT_FLOAT64, fc.t[i].nd, fc.t[i].shape, fc.t[i].v, i == FX && count % 2 == 1);
      if (i <= FB) clt_set_requires_grad(in[i], true);
    }
    clt_tensor *y = run(c, in[FX], in[FW], in[FB], in[FRM], in[FRV]);
    check_close(y, prod(fc.t[FY].nd, fc.t[FY].shape), fc.t[FY].v, 1e-10, "forward", fc.name, dev);
    for (int i = FRM2; i <= FRV2; i++)
      if (fc.t[i].v) check_close(in[i - FRM2 + FRM], prod(1, fc.t[i].shape), fc.t[i].v, 1e-10, tnames[i], fc.name, dev);
    clt_tensor *gy = clt_from_host(dev, CLT_FLOAT64, fc.t[FGY].nd, fc.t[FGY].shape, fc.t[FGY].v);
    ck_assert_msg(clt_backward(y, gy) == CLT_OK, "%s: %s", fc.name, clt_last_error());
    for (int i = FX; i <= FB; i++)
      if (in[i]) check_close(clt_grad(in[i]), prod(fc.t[FGX + i].nd, fc.t[FGX + i].shape), fc.t[FGX + i].v, 1e-10,
                             tnames[FGX + i], fc.name, dev);
    clt_scope_end();
    for (int i = 0; i < FN; i++) free(fc.t[i].v);
    count++;
  }
  fclose(f);
  ck_assert_msg(count >= 10, "%s holds %d cases", fixture_path, count);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(norm_errors_name_the_argument) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, 4, (const int64_t[]){2, 6, 3, 3});
  clt_tensor *c6 = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){6});
  clt_tensor *c5 = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){5});
  clt_tensor *d6 = clt_zeros(dev, CLT_FLOAT64, 1, (const int64_t[]){6});
  clt_tensor *xi = clt_zeros(dev, CLT_INT32, 2, (const int64_t[]){2, 6});
  clt_tensor *x1 = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){6});
  clt_tensor *g = clt_ones(dev, CLT_FLOAT32, 1, (const int64_t[]){6});
  clt_set_requires_grad(g, true);

  ck_assert_ptr_null(clt_batch_norm(x, c5, c6, NULL, NULL, true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_batch_norm", "running_mean [5]", "[6]", "x [2,6,3,3]");
  ck_assert_ptr_null(clt_batch_norm(x, c6, c5, NULL, NULL, false, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_batch_norm", "running_var [5]", "[6]");
  ck_assert_ptr_null(clt_batch_norm(x, NULL, NULL, c5, NULL, true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_batch_norm", "weight [5]", "[6]");
  ck_assert_ptr_null(clt_batch_norm(x, NULL, NULL, c6, c5, true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_batch_norm", "bias [5]", "[6]");
  ck_assert_ptr_null(clt_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_batch_norm", "running_mean and running_var are NULL", "eval");
  ck_assert_ptr_null(clt_batch_norm(x, c6, NULL, NULL, NULL, true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_batch_norm", "running_var is NULL");
  ck_assert_ptr_null(clt_batch_norm(x, NULL, NULL, d6, NULL, true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_batch_norm", "weight has dtype float64", "float32");
  ck_assert_ptr_null(clt_batch_norm(x1, NULL, NULL, NULL, NULL, true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_batch_norm", "x [6]", "at least 2 dims");
  ck_assert_ptr_null(clt_batch_norm(clt_zeros(dev, CLT_FLOAT32, 2, (const int64_t[]){1, 6}), NULL, NULL, NULL, NULL,
                                    true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_batch_norm", "x [1,6]", "more than 1 value per channel");
  ck_assert_ptr_null(clt_batch_norm(x, g, c6, NULL, NULL, true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "clt_batch_norm", "running_mean requires grad");
  ck_assert_ptr_null(clt_batch_norm(xi, NULL, NULL, NULL, NULL, true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_batch_norm", "x must be float32 or float64", "int32");

  ck_assert_ptr_null(clt_layer_norm(x, 2, (const int64_t[]){3, 4}, NULL, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_layer_norm", "normalized_shape [3,4]", "last 2 dims", "x [2,6,3,3]");
  ck_assert_ptr_null(clt_layer_norm(x, 5, (const int64_t[]){1, 2, 6, 3, 3}, NULL, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_layer_norm", "normalized_shape has 5 dims", "x [2,6,3,3]");
  ck_assert_ptr_null(clt_layer_norm(x, 0, NULL, NULL, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_layer_norm", "normalized_shape has 0 dims");
  ck_assert_ptr_null(clt_layer_norm(x, 2, (const int64_t[]){3, 3}, c6, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_layer_norm", "weight [6]", "[3,3]", "normalized_shape");
  ck_assert_ptr_null(clt_layer_norm(x, 1, (const int64_t[]){3}, NULL, c6, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_layer_norm", "bias [6]", "[3]");
  ck_assert_ptr_null(clt_layer_norm(x, 1, NULL, NULL, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_layer_norm", "normalized_shape is NULL");

  ck_assert_ptr_null(clt_group_norm(x, 4, NULL, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_group_norm", "num_groups 4", "6 channels", "x [2,6,3,3]");
  ck_assert_ptr_null(clt_group_norm(x, 0, NULL, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_group_norm", "num_groups 0");
  ck_assert_ptr_null(clt_group_norm(x, 3, c5, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_group_norm", "weight [5]", "[6]");
  ck_assert_ptr_null(clt_group_norm(x, 3, NULL, d6, -1));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_group_norm", "bias has dtype float64");

  ck_assert_ptr_null(clt_rms_norm(x, 1, (const int64_t[]){4}, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_rms_norm", "normalized_shape [4]", "last 1 dims", "x [2,6,3,3]");
  ck_assert_ptr_null(clt_rms_norm(x, 1, (const int64_t[]){3}, c6, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_rms_norm", "weight [6]", "[3]");

  /* NULL in, NULL out, the first error kept */
  ck_assert_ptr_null(clt_rms_norm(clt_layer_norm(clt_group_norm(clt_batch_norm(NULL, NULL, NULL, NULL, NULL, true, 0.1, -1),
                                                                2, NULL, NULL, -1),
                                                 1, (const int64_t[]){3}, NULL, NULL, -1),
                                  1, (const int64_t[]){3}, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_batch_norm", "argument x is NULL");
  ck_assert_ptr_null(clt_layer_norm(clt_group_norm(x, 4, NULL, NULL, -1), 1, (const int64_t[]){3}, NULL, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_group_norm", "num_groups 4");
  clt_scope_end();
}
END_TEST

/* Empty inputs give empty results, and zero gradients for the parameters. */
START_TEST(norm_empty) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){0, 4, 3});
  clt_tensor *w = clt_ones(dev, CLT_FLOAT32, 1, (const int64_t[]){3}), *b = clt_ones(dev, CLT_FLOAT32, 1, (const int64_t[]){3});
  clt_tensor *wg = clt_ones(dev, CLT_FLOAT32, 1, (const int64_t[]){4});
  clt_set_requires_grad(x, true);
  clt_set_requires_grad(w, true);
  clt_set_requires_grad(b, true);
  clt_set_requires_grad(wg, true);
  clt_tensor *y = clt_layer_norm(x, 1, (const int64_t[]){3}, w, b, -1);
  clt_tensor *z = clt_group_norm(y, 2, wg, NULL, -1);
  ck_assert_msg(z != NULL, "%s", clt_last_error());
  tu_assert_values(z, 3, (const int64_t[]){0, 4, 3}, NULL);
  ck_assert_msg(clt_backward(clt_sum(z, CLT_ALL_DIMS, false), NULL) == CLT_OK, "%s", clt_last_error());
  tu_assert_values(clt_grad(w), 1, (const int64_t[]){3}, (const double[]){0, 0, 0});
  tu_assert_values(clt_grad(b), 1, (const int64_t[]){3}, (const double[]){0, 0, 0});
  tu_assert_values(clt_grad(wg), 1, (const int64_t[]){4}, (const double[]){0, 0, 0, 0});
  clt_scope_end();
}
END_TEST

/* Operands on two devices are refused, naming them. */
START_TEST(norm_mixed_devices) {
  clt_device *dev = TU_DEV;
  if (dev == tu_dev[0]) return; /* needs a second device */
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, 2, (const int64_t[]){2, 3});
  clt_tensor *w = clt_ones(tu_dev[0], CLT_FLOAT32, 1, (const int64_t[]){3});
  ck_assert_ptr_null(clt_layer_norm(x, 1, (const int64_t[]){3}, w, NULL, -1));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_layer_norm");
  ck_assert_ptr_null(clt_batch_norm(x, w, w, NULL, NULL, true, 0.1, -1));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_batch_norm");
  clt_scope_end();
}
END_TEST

/* ---- faults ----------------------------------------------------------------------------- */

/* All four, forward and backward (batch norm in training, with running statistics, then in
 * eval), on small shapes; *out gets the loss. Stops at the first failure so that the error read
 * is the failing call's. */
static clt_status workload(clt_device *dev, double *out) {
  clt_status st = CLT_OK;
  clt_scope_begin();
  double *xv = pattern(2 * 4 * 3 * 3, 3, 1, 0.5);
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, 4, (const int64_t[]){2, 4, 3, 3}, xv);
  clt_tensor *w = clt_full(dev, CLT_FLOAT64, 1, (const int64_t[]){4}, 1.5);
  clt_tensor *b = clt_full(dev, CLT_FLOAT64, 1, (const int64_t[]){4}, 0.25);
  clt_tensor *w3 = clt_full(dev, CLT_FLOAT64, 1, (const int64_t[]){3}, 0.75);
  clt_tensor *rm = clt_zeros(dev, CLT_FLOAT64, 1, (const int64_t[]){4}), *rv = clt_ones(dev, CLT_FLOAT64, 1, (const int64_t[]){4});
  free(xv);
  if (!x || !w || !b || !w3 || !rm || !rv) goto fail;
  if ((st = clt_set_requires_grad(x, true)) != CLT_OK || (st = clt_set_requires_grad(w, true)) != CLT_OK ||
      (st = clt_set_requires_grad(b, true)) != CLT_OK || (st = clt_set_requires_grad(w3, true)) != CLT_OK)
    goto done;
  clt_tensor *h = clt_batch_norm(clt_transpose(x, 2, 3), rm, rv, w, b, true, 0.1, -1);
  clt_tensor *e = clt_batch_norm(h, rm, rv, w, NULL, false, 0.1, -1);
  clt_tensor *gn = clt_group_norm(e, 2, w, b, -1);
  clt_tensor *ln = clt_layer_norm(gn, 2, (const int64_t[]){3, 3}, NULL, NULL, -1);
  clt_tensor *r = clt_rms_norm(ln, 1, (const int64_t[]){3}, w3, -1);
  clt_tensor *loss = clt_sum(clt_mul(r, clt_sin(x)), CLT_ALL_DIMS, false);
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
 * next clean run gives the same loss. */
START_TEST(norm_survives_every_fault) { tu_fault_sweep(TU_DEV, workload, 0, 31); }
END_TEST

/* ---- many statistics: the device's kernels against the host ----------------------------- */

/* 256 statistics and more, in several work-groups whichever kernel shape the device takes (on
 * CPUs a work-item per statistic, lib/cl/norm.c: by_row; with CLT_KERNEL_VARIANT=gpu a group
 * each). Forward, running statistics and every gradient, float32 and float64, held to the
 * host's. */
static const ncase many[] = {
    {"layer_norm 320 rows of 8", LN, 3, {20, 16, 8}, 1, true, true, false, false, 0, 1e-5},
    {"rms_norm 300 rows of 5", RMS, 2, {300, 5}, 1, true, false, false, false, 0, -1},
    {"group_norm 320 groups", GN, 3, {40, 16, 3}, 8, true, true, false, false, 0, 1e-5},
    {"batch_norm train 260 channels", BN, 3, {3, 260, 2}, 0, true, true, true, true, 0.2, 1e-5},
    {"batch_norm eval 300 channels", BN, 2, {5, 300}, 0, true, true, false, true, 0.1, 1e-3},
};

/* y = op(x) and its gradients on dev, for g (running statistics from rmv, rvv, updated). out:
 * y, dx, dw, db, rm, rv as doubles (NULL where absent). */
static void many_run(clt_device *dev, clt_dtype t, const ncase *c, const double *const *v, double **out) {
  int64_t C = c->x[1];
  clt_scope_begin();
  clt_tensor *x = make(dev, t, c->nd, c->x, v[0], false);
  clt_tensor *w = c->w ? make(dev, t, pnd(c), pshape(c), v[1], false) : NULL;
  clt_tensor *b = c->b ? make(dev, t, pnd(c), pshape(c), v[2], false) : NULL;
  clt_tensor *rm = c->running ? make_vec(dev, t, C, v[3], false) : NULL;
  clt_tensor *rv = c->running ? make_vec(dev, t, C, v[4], false) : NULL;
  clt_tensor *g = make(dev, t, c->nd, c->x, v[5], false);
  clt_tensor *const leaves[3] = {x, w, b};
  for (int i = 0; i < 3; i++) ck_assert(!leaves[i] || clt_set_requires_grad(leaves[i], true) == CLT_OK);
  clt_tensor *y = run(c, x, w, b, rm, rv);
  ck_assert_msg(y && clt_backward(y, g) == CLT_OK, "%s on %s: %s", c->name, clt_device_spec(dev), clt_last_error());
  clt_tensor *const got[6] = {y, clt_grad(x), w ? clt_grad(w) : NULL, b ? clt_grad(b) : NULL, rm, rv};
  for (int i = 0; i < 6; i++) out[i] = got[i] ? tu_values(got[i]) : NULL;
  clt_scope_end();
}

START_TEST(norm_many_statistics) {
  clt_device *dev = TU_DEV;
  static const char *const what[6] = {"y", "dx", "dw", "db", "running_mean", "running_var"};
  for (size_t ci = 0; ci < sizeof many / sizeof *many; ci++) {
    const ncase *c = &many[ci];
    int64_t nx = prod(c->nd, c->x), np = prod(pnd(c), pshape(c)), C = c->x[1];
    int64_t n[6] = {nx, nx, np, np, C, C};
    double *v[6] = {pattern(nx, 7, 2, 0.5), pattern(np, 8, 1, 0), pattern(np, 9, 1, 0), pattern(C, 10, 1, 0),
                    pattern(C, 11, 0.5, 1), pattern(nx, 12, 1, 0)};
    clt_device_info info;
    ck_assert_int_eq(clt_device_get_info(dev, &info), CLT_OK);
    for (int dt = 0; dt < (info.fp64 ? 2 : 1); dt++) { /* norm_no_fp64: float32's compensated sums */
      clt_dtype t = dt ? CLT_FLOAT64 : CLT_FLOAT32;
      double *want[6], *got[6];
      many_run(tu_dev[0], t, c, (const double *const *)v, want);
      many_run(dev, t, c, (const double *const *)v, got);
      for (int i = 0; i < 6; i++) {
        ck_assert_msg(!want[i] == !got[i], "%s: %s on one device only", c->name, what[i]);
        for (int64_t j = 0; want[i] && j < n[i]; j++)
          ck_assert_msg(fabs(got[i][j] - want[i][j]) <= (dt ? 1e-12 : 2e-5) * (1 + fabs(want[i][j])),
                        "%s %s on %s (%s): element %lld is %.12g, the host's %.12g", c->name, what[i],
                        clt_device_spec(dev), clt_dtype_name(t), (long long)j, got[i][j], want[i][j]);
        free(want[i]);
        free(got[i]);
      }
    }
    for (int i = 0; i < 6; i++) free(v[i]);
  }
}
END_TEST

/* A pre-norm residual, y = h + 2 layer_norm(h) with h = 1.5 x: the norm's x gradient is added
 * into the one pending for h (the residual's, held by the engine alone) by the norm's backward
 * kernel, not by an add after it (the transformer's step: an add per norm saved), and x's
 * gradient is that of the same graph with the two uses of h apart (h made twice), on every
 * device, float32 and float64. */
static clt_tensor *residual(clt_tensor *x, clt_tensor *w, clt_tensor *b, clt_tensor *c, bool apart, clt_tensor *g) {
  const int64_t ns[1] = {5};
  clt_tensor *h = clt_mul_scalar(x, 1.5), *h2 = apart ? clt_mul_scalar(x, 1.5) : h;
  clt_tensor *y = clt_add(h, clt_mul_scalar(clt_layer_norm(h2, 1, ns, w, b, 1e-5), 2.0));
  /* a product with c: y's gradient (g c) is a tensor the engine alone holds */
  ck_assert_int_eq(clt_backward(clt_mul(y, c), g), CLT_OK);
  return clt_grad(x);
}

START_TEST(norm_gradient_added_into_the_residual) {
  clt_device *dev = TU_DEV;
  clt_device_info info;
  ck_assert_int_eq(clt_device_get_info(dev, &info), CLT_OK);
  for (int k = 0; k < (info.fp64 ? 2 : 1); k++) {
    clt_dtype t = k ? CLT_FLOAT64 : CLT_FLOAT32;
    double *v[5] = {pattern(60, 1, 2, 0.5), pattern(5, 2, 1, 1), pattern(5, 3, 1, 0), pattern(60, 4, 1, 0),
                    pattern(60, 5, 1, 0)};
    double *got[2];
    unsigned long launches[2];
    for (int apart = 0; apart < 2; apart++) {
      clt_scope_begin();
      clt_tensor *x = make(dev, t, 3, (const int64_t[]){3, 4, 5}, v[0], false);
      clt_tensor *w = make(dev, t, 1, (const int64_t[]){5}, v[1], false), *b = make(dev, t, 1, (const int64_t[]){5}, v[2], false);
      clt_tensor *c = make(dev, t, 3, (const int64_t[]){3, 4, 5}, v[3], false), *g = make(dev, t, 3, (const int64_t[]){3, 4, 5}, v[4], false);
      ck_assert_int_eq(clt_set_requires_grad(x, true), CLT_OK);
      ck_assert_int_eq(clt_eval(g), CLT_OK);
      unsigned long before = atomic_load(&clt__kernel_launches);
      clt_tensor *dx = residual(x, w, b, c, apart, g);
      ck_assert_ptr_nonnull(dx);
      got[apart] = tu_values(dx);
      launches[apart] = atomic_load(&clt__kernel_launches) - before;
      clt_scope_end();
    }
    for (int i = 0; i < 60; i++)
      ck_assert_msg(fabs(got[0][i] - got[1][i]) <= (k ? 1e-13 : 2e-6) * (1 + fabs(got[1][i])),
                    "%s on %s: x's gradient %d is %.10g, %.10g with h made twice", clt_dtype_name(t),
                    clt_device_spec(dev), i, got[0][i], got[1][i]);
    /* apart, x's two gradients meet at the leaf, and fusion takes the second mul into other
     * launches (on PoCL 7 launches); h made once took one more than that (8) with an add after
     * the norm's kernel, and as many (7) with the norm adding into h's pending gradient */
    if (dev != tu_dev[0])
      ck_assert_msg(launches[0] <= launches[1], "%s: %lu launches with h made once, %lu with h made twice",
                    clt_dtype_name(t), launches[0], launches[1]);
    for (int i = 0; i < 2; i++) free(got[i]);
    for (int i = 0; i < 5; i++) free(v[i]);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("norm");
  TCase *tc = tu_tcase("norm");
  TU_DEVICES(tc, norm_matches_naive_loops);
  TU_DEVICES(tc, norm_float32_far_from_zero);
  TU_DEVICES(tc, norm_gradcheck);
  TU_DEVICES(tc, norm_matches_pytorch);
  TU_DEVICES(tc, norm_errors_name_the_argument);
  TU_DEVICES(tc, norm_empty);
  TU_DEVICES(tc, norm_mixed_devices);
  TU_VS_HOST(tc, norm_many_statistics);
  TU_DEVICES(tc, norm_survives_every_fault);
  TU_DEVICES(tc, norm_gradient_added_into_the_residual);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  const char *dir = getenv("CLT_FIXTURES");
  snprintf(fixture_path, sizeof fixture_path, "%s/norm_refs.txt", dir ? dir : "tests/fixtures");
  return tu_main(suite, TU_MANY_KERNELS);
}
