/* Losses, linear, dropout, initialisers, optimizers, safetensors and .npy directories. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "dispatch.h"
#include "ew.h"
#include "tu.h"
#ifdef CLT_HAVE_OPENCL
#include "clt/clt_cl.h"
#endif

static char fixture_dir[512];

static clt_tensor *vals(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape, double lo, double hi, int seed) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * (double)((i * 7919 + seed * 104729) % 1009) / 1009.0;
  clt_tensor *t = clt_cast(clt_from_host(dev, CLT_FLOAT64, ndim, shape, v), dt);
  free(v);
  return t;
}

static void assert_close(clt_tensor *got, clt_tensor *want, double tol, const char *what) {
  ck_assert_msg(got != NULL && want != NULL, "%s: %s", what, clt_last_error());
  ck_assert_msg(clt_dtype_of(got) == clt_dtype_of(want), "%s: dtype %s, want %s", what, clt_dtype_name(clt_dtype_of(got)),
                clt_dtype_name(clt_dtype_of(want)));
  ck_assert_msg(clt_ndim(got) == clt_ndim(want), "%s: %d dims, want %d", what, clt_ndim(got), clt_ndim(want));
  for (int d = 0; d < clt_ndim(got); d++)
    ck_assert_msg(clt_shape(got)[d] == clt_shape(want)[d], "%s: dim %d is %lld, want %lld", what, d,
                  (long long)clt_shape(got)[d], (long long)clt_shape(want)[d]);
  double *g = tu_values(got), *w = tu_values(want);
  for (int64_t i = 0; i < clt_numel(got); i++)
    ck_assert_msg(fabs(g[i] - w[i]) <= tol * (1 + fabs(w[i])), "%s: element %lld is %.9g, want %.9g", what, (long long)i,
                  g[i], w[i]);
  free(g);
  free(w);
}

/* ---- losses ----------------------------------------------------------------------------- */

typedef struct {
  int kind, reduction;
  clt_tensor *labels;
} loss_case;

static clt_tensor *loss_fn(clt_tensor *const *in, void *u) {
  loss_case *c = u;
  clt_reduction r = (clt_reduction)c->reduction;
  switch (c->kind) {
    case 0: return clt_mse_loss(in[0], in[1], r);
    case 1: return clt_l1_loss(in[0], in[1], r);
    case 2: return clt_cross_entropy(in[0], c->labels, r);
    case 3: return clt_nll_loss(clt_log_softmax(in[0], 1), c->labels, r);
    default: return clt_binary_cross_entropy_with_logits(in[0], clt_sigmoid(in[1]), r);
  }
}

START_TEST(losses_gradcheck) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  for (int kind = 0; kind < 5; kind++)
    for (int r = 0; r < 3; r++)
      for (int lt = 0; lt < 2; lt++) {
        clt_tensor *labels = lt ? clt_from_host(dev, CLT_INT32, CLT_SHAPE(4), (const int32_t[]){2, 0, 4, 2})
                                : clt_from_host(dev, CLT_INT64, CLT_SHAPE(4), (const int64_t[]){1, 3, 0, 4});
        loss_case c = {kind, r, labels};
        clt_tensor *in[2] = {vals(dev, CLT_FLOAT64, CLT_SHAPE(4, 5), -2, 2, kind), vals(dev, CLT_FLOAT64, CLT_SHAPE(4, 5), -1.5, 1.7, 9)};
        clt_status s = clt_gradcheck(loss_fn, &c, kind >= 2 && kind <= 3 ? 1 : 2, in, NULL);
        ck_assert_msg(s == CLT_OK, "loss %d reduction %d labels %d on %s: %s", kind, r, lt, clt_device_spec(dev),
                      clt_last_error());
      }
  clt_scope_end();
}
END_TEST

START_TEST(losses_match_their_definitions) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = vals(dev, CLT_FLOAT32, CLT_SHAPE(6, 5), -3, 3, 1), *t = vals(dev, CLT_FLOAT32, CLT_SHAPE(6, 5), -1, 1, 2);
  clt_tensor *y = clt_from_host(dev, CLT_INT64, CLT_SHAPE(6), (const int64_t[]){0, 4, 2, 2, 1, 3});
  assert_close(clt_mse_loss(x, t, CLT_REDUCTION_MEAN), clt_mean(clt_square(clt_sub(x, t)), CLT_ALL_DIMS, false), 1e-6, "mse");
  assert_close(clt_l1_loss(x, t, CLT_REDUCTION_SUM), clt_sum(clt_abs(clt_sub(x, t)), CLT_ALL_DIMS, false), 1e-6, "l1");
  /* cross entropy = -log_softmax at the label */
  clt_tensor *ls = clt_log_softmax(x, 1);
  clt_tensor *picked = clt_neg(clt_squeeze(clt_gather(ls, 1, clt_unsqueeze(y, 1)), 1));
  assert_close(clt_cross_entropy(x, y, CLT_REDUCTION_NONE), picked, 1e-6, "cross_entropy none");
  assert_close(clt_cross_entropy(x, y, CLT_REDUCTION_MEAN), clt_mean(picked, CLT_ALL_DIMS, false), 1e-6, "cross_entropy mean");
  assert_close(clt_nll_loss(ls, y, CLT_REDUCTION_SUM), clt_sum(picked, CLT_ALL_DIMS, false), 1e-6, "nll");
  /* bce with logits = -(t log s(x) + (1 - t) log(1 - s(x))) */
  clt_tensor *p = clt_sigmoid(t), *s = clt_sigmoid(x);
  clt_tensor *ref = clt_neg(clt_add(clt_mul(p, clt_log(s)), clt_mul(clt_rsub_scalar(p, 1), clt_log(clt_rsub_scalar(s, 1)))));
  assert_close(clt_binary_cross_entropy_with_logits(x, p, CLT_REDUCTION_NONE), ref, 1e-5, "bce");
  /* stable for large logits: no overflow, no NaN */
  clt_tensor *big = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), (const float[]){1000, 0, -1000, 50, 51, 52});
  clt_tensor *lab = clt_from_host(dev, CLT_INT32, CLT_SHAPE(2), (const int32_t[]){0, 1});
  assert_close(clt_cross_entropy(big, lab, CLT_REDUCTION_NONE),
               clt_from_host(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(2), (const float[]){0, 1.4076059644443801f}), 1e-6,
               "cross_entropy of large logits");
  double b;
  ck_assert_int_eq(clt_item(clt_binary_cross_entropy_with_logits(clt_full(dev, CLT_FLOAT32, CLT_SHAPE(1), 1000),
                                                                  clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(1)), CLT_REDUCTION_SUM), &b),
                   CLT_OK);
  ck_assert_double_eq_tol(b, 1000, 1e-3);
  /* a 1-d logits vector with a 0-d label */
  assert_close(clt_cross_entropy(clt_slice(big, 0, 1, 2, 1), clt_from_host(dev, CLT_INT64, CLT_SHAPE(1), (const int64_t[]){2}),
                                 CLT_REDUCTION_MEAN),
               clt_full(tu_dev[0], CLT_FLOAT32, 0, NULL, 0.40760596444438), 1e-6, "cross_entropy of one row");
  clt_scope_end();
}
END_TEST

/* Cross entropy over rows of 16 classes or more, which kernels/loss.cl reads 8 at a time (then
 * the rest one by one), against the host: rows of 37 and 1000 classes, the largest logit in the
 * vector part, in the tail, at a label, and a row with an infinite logit. */
START_TEST(cross_entropy_wide_rows_match_the_host) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  static const int64_t widths[] = {16, 37, 1000};
  for (size_t w = 0; w < 3; w++) {
    int64_t C = widths[w], N = 5;
    float *x = malloc((size_t)(N * C) * sizeof *x);
    for (int64_t i = 0; i < N * C; i++) x[i] = (float)((i * 37 + 11) % 23) / 3.0f - 4.0f;
    x[0 * C + 3] = 30; /* row 0: the max in the first vector */
    x[1 * C + C - 1] = 25; /* row 1: in the tail (or the last vector) */
    x[3 * C + 9] = INFINITY;
    int64_t y[5] = {3, C - 1, 0, 9, C / 2};
    clt_tensor *lx = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(N, C), x), *ly = clt_from_host(dev, CLT_INT64, CLT_SHAPE(N), y);
    clt_tensor *got = clt_cross_entropy(lx, ly, CLT_REDUCTION_NONE);
    clt_tensor *want = clt_cross_entropy(clt_to(lx, tu_dev[0]), clt_to(ly, tu_dev[0]), CLT_REDUCTION_NONE);
    double *g = tu_values(got), *h = tu_values(want);
    for (int64_t i = 0; i < N; i++)
      ck_assert_msg((isnan(g[i]) && isnan(h[i])) || fabs(g[i] - h[i]) <= 1e-5 + 1e-5 * fabs(h[i]),
                    "C = %lld, row %lld on %s: %.9g, the host %.9g", (long long)C, (long long)i, clt_device_spec(dev),
                    g[i], h[i]);
    free(g);
    free(h);
    free(x);
  }
  clt_scope_end();
}
END_TEST

START_TEST(loss_errors) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(3, 4));
  clt_tensor *y = clt_from_host(dev, CLT_INT64, CLT_SHAPE(3), (const int64_t[]){0, 4, 1});
  ck_assert_ptr_null(clt_cross_entropy(x, y, CLT_REDUCTION_MEAN));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_cross_entropy: label index 4 is out of range for size 4");
  ck_assert_ptr_null(clt_cross_entropy(x, clt_zeros(dev, CLT_INT64, CLT_SHAPE(2)), CLT_REDUCTION_MEAN));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_cross_entropy: logits [3,4] and labels [2]: need logits [N, C] with labels [N]");
  ck_assert_ptr_null(clt_cross_entropy(x, clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(3)), CLT_REDUCTION_MEAN));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_cross_entropy: labels must be int32 or int64, not float32");
  ck_assert_ptr_null(clt_nll_loss(clt_zeros(dev, CLT_INT32, CLT_SHAPE(3, 4)), y, CLT_REDUCTION_MEAN));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_nll_loss: logits must be float, not int32");
  ck_assert_ptr_null(clt_mse_loss(x, clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(5)), CLT_REDUCTION_MEAN));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_mse_loss: shapes [3,4] and [5] cannot broadcast");
  ck_assert_ptr_null(clt_mse_loss(x, x, (clt_reduction)7));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "reduction 7 is not");
  ck_assert_ptr_null(clt_binary_cross_entropy_with_logits(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(4)), x, CLT_REDUCTION_MEAN));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "target [3,4] does not broadcast to the logits' shape [4]");
  clt_scope_end();
}
END_TEST

/* ---- layers and initialisers ------------------------------------------------------------ */

static clt_tensor *linear_fn(clt_tensor *const *in, void *u) {
  (void)u;
  return clt_linear(in[0], in[1], in[2]);
}

static clt_tensor *dropout_fn(clt_tensor *const *in, void *u) {
  (void)u;
  clt_manual_seed(7); /* the same mask in every evaluation */
  return clt_dropout(in[0], 0.3, true);
}

START_TEST(linear_and_dropout) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = vals(dev, CLT_FLOAT64, CLT_SHAPE(2, 3, 4), -1, 1, 1), *w = vals(dev, CLT_FLOAT64, CLT_SHAPE(5, 4), -1, 1, 2);
  clt_tensor *b = vals(dev, CLT_FLOAT64, CLT_SHAPE(5), -1, 1, 3);
  assert_close(clt_linear(x, w, b), clt_add(clt_matmul(x, clt_transpose(w, 0, 1)), b), 1e-12, "linear");
  assert_close(clt_linear(x, w, NULL), clt_matmul(x, clt_transpose(w, 0, 1)), 1e-12, "linear without bias");
  clt_tensor *in[3] = {x, w, b};
  ck_assert_msg(clt_gradcheck(linear_fn, NULL, 3, in, NULL) == CLT_OK, "%s", clt_last_error());
  /* x of more than 2 dims runs as one [M, in] matrix: a non-contiguous x (copied first) gives
   * matmul's values and gradients */
  clt_tensor *base = vals(dev, CLT_FLOAT64, CLT_SHAPE(3, 2, 4), -1, 1, 4), *g[2][3];
  for (int k = 0; k < 2; k++) {
    clt_tensor *leaf[3] = {clt_detach(base), clt_detach(w), clt_detach(b)};
    for (int i = 0; i < 3; i++) ck_assert_int_eq(clt_set_requires_grad(leaf[i], true), CLT_OK);
    clt_tensor *xt = clt_transpose(leaf[0], 0, 1);
    clt_tensor *y = k ? clt_add(clt_matmul(xt, clt_transpose(leaf[1], 0, 1)), leaf[2]) : clt_linear(xt, leaf[1], leaf[2]);
    ck_assert_int_eq(clt_backward(clt_sum(clt_mul(y, y), CLT_ALL_DIMS, false), NULL), CLT_OK);
    for (int i = 0; i < 3; i++) g[k][i] = clt_grad(leaf[i]);
  }
  for (int i = 0; i < 3; i++) assert_close(g[0][i], g[1][i], 1e-12, "linear's gradients, x strided");
  ck_assert_ptr_null(clt_linear(x, clt_transpose(w, 0, 1), b));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_linear: x [2,3,4] and w [4,5]: need x [..., in] and w [out, in]");
  ck_assert_ptr_null(clt_linear(x, w, clt_zeros(dev, CLT_FLOAT64, CLT_SHAPE(4))));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_linear: b [4] must be [5]");
  /* dropout: identity outside training, zeros at p = 1, keeps about 1 - p scaled by 1/(1-p) */
  ck_assert_ptr_eq(clt_dropout(x, 0.5, false), x);
  tu_assert_values(clt_sum(clt_dropout(x, 1, true), CLT_ALL_DIMS, false), 0, NULL, (const double[]){0});
  clt_tensor *ones = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(10000));
  clt_manual_seed(3);
  clt_tensor *d = clt_dropout(ones, 0.25, true);
  double m;
  ck_assert_int_eq(clt_item(clt_mean(d, CLT_ALL_DIMS, false), &m), CLT_OK);
  ck_assert_double_eq_tol(m, 1.0, 0.03);
  clt_manual_seed(3);
  assert_close(clt_dropout(clt_ones(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(10000)), 0.25, true), d, 0,
               "the same mask on the host");
  clt_tensor *xi = vals(dev, CLT_FLOAT64, CLT_SHAPE(20), -1, 1, 5);
  ck_assert_msg(clt_gradcheck(dropout_fn, NULL, 1, &xi, NULL) == CLT_OK, "%s", clt_last_error());
  ck_assert_ptr_null(clt_dropout(x, 1.5, true));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_dropout: p 1.5 is not a probability in [0, 1]");
  clt_scope_end();
}
END_TEST

/* linear's weight gradient reaches the leaf as its own contiguous tensor, made in w's layout by
 * the product (g^T x, not (x^T g)^T), with no copy: before, each linear layer's backward copied
 * it (10 copies in each step of the transformer). The values are g^T x's, for 2-d and 3-d x. */
START_TEST(linear_weight_gradient_not_copied) {
  clt_device *dev = TU_DEV;
  for (int k = 0; k < 4; k++) {
    clt_dtype dt = k % 2 ? CLT_FLOAT64 : CLT_FLOAT32;
    clt_scope_begin();
    clt_tensor *x = k < 2 ? vals(dev, dt, CLT_SHAPE(6, 4), -1, 1, 1) : vals(dev, dt, CLT_SHAPE(2, 3, 4), -1, 1, 1);
    clt_tensor *w = vals(dev, dt, CLT_SHAPE(5, 4), -1, 1, 2), *b = vals(dev, dt, CLT_SHAPE(5), -1, 1, 3);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(clt_set_requires_grad(i == 0 ? x : i == 1 ? w : b, true), CLT_OK);
    clt_tensor *y = clt_linear(x, w, b), *l = clt_sum(clt_mul(y, y), CLT_ALL_DIMS, false);
    ck_assert_msg(l != NULL, "%s", clt_last_error());
    int copies;
    clt_status st = tu_backward_counting_copies(l, &copies);
    ck_assert_msg(st == CLT_OK, "%s", clt_last_error());
    ck_assert_msg(copies == 0, "%s, x of %d dims on %s: %d copies in linear's backward", clt_dtype_name(dt),
                  clt_ndim(x), clt_device_spec(dev), copies);
    clt_tensor *gw = clt_grad(w);
    ck_assert(gw && clt_is_contiguous(gw));
    /* d sum(y^2) / dw = (2 y)^T x over the rows of x */
    clt_tensor *x2 = clt_reshape(clt_detach(x), CLT_SHAPE(-1, 4)), *y2 = clt_reshape(clt_detach(y), CLT_SHAPE(-1, 5));
    clt_tensor *want = clt_matmul(clt_transpose(clt_mul_scalar(y2, 2), 0, 1), x2);
    assert_close(gw, want, dt == CLT_FLOAT32 ? 1e-5 : 1e-12, "w's gradient");
    clt_scope_end();
  }
}
END_TEST

/* The test's leaves of one linear case: x (its shape, or built transposed: a strided view), w
 * [5, in] (or a transposed view), b [5] (or every second element of a [10]). */
typedef struct {
  int nd;
  int64_t shape[3];
  bool tx, tw, sb;
} linear_case;

static clt_tensor *linear_leaf(clt_device *dev, clt_dtype dt, int which, const linear_case *c) {
  int64_t s[3];
  int nd = which == 0 ? c->nd : which == 1 ? 2 : 1;
  bool t = which == 0 ? c->tx && c->nd > 1 : which == 1 && c->tw;
  if (which == 0) memcpy(s, c->shape, sizeof s);
  else if (which == 1) s[0] = 5, s[1] = c->shape[c->nd - 1];
  else s[0] = c->sb ? 10 : 5;
  if (t) { /* built with its last two dims swapped, then viewed back */
    int64_t k = s[nd - 1];
    s[nd - 1] = s[nd - 2], s[nd - 2] = k;
  }
  clt_tensor *v = vals(dev, dt, nd, s, -1, 1, which + 1);
  if (t) v = clt_transpose(v, nd - 2, nd - 1);
  if (which == 2 && c->sb) v = clt_slice(v, 0, 1, 10, 2);
  return v;
}

/* linear runs its bias in the product's epilogue and takes the bias gradient from the weight
 * gradient's product (lib/blas.c, lib/cl/gemm.c: no add or reduction command on PoCL's host
 * route; kernels elsewhere, $CLT_GEMM=kernel or clblast): its values and the gradients of x, w
 * and b are matmul-and-add's, for x of 1, 2 and 3 dims, one row, strided x, w and b, float32
 * and float64 (and the 16-bit types, through float32), and a product large enough to take oneDNN
 * where it is chosen (nn_onednn). */
START_TEST(linear_bias_in_the_product) {
  clt_device *dev = TU_DEV;
  static const linear_case cases[] = {{1, {4}, false, false, false},    {2, {6, 4}, false, false, false},
                                      {3, {2, 3, 4}, false, false, false}, {2, {1, 4}, false, false, false},
                                      {2, {6, 4}, true, true, false},    {3, {2, 3, 4}, true, false, true},
                                      {2, {33, 7}, false, true, true},   {3, {4, 64, 9}, false, false, false},
                                      /* past 2^18 multiply-adds: the provider chosen by measurement */
                                      {2, {1024, 64}, false, false, true}};
  for (int d = 0; d < 4; d++) {
    /* 16-bit: float32 copies through one product, y rounded once where matmul-and-add rounds
     * twice: a few of the type's ulps apart */
    static const clt_dtype dts[4] = {CLT_FLOAT32, CLT_FLOAT64, CLT_BFLOAT16, CLT_FLOAT16};
    static const double tols[4] = {1e-5, 1e-12, 3e-2, 4e-3};
    clt_dtype dt = dts[d];
    double tol = tols[d];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
      if (d >= 2 && cases[c].shape[0] == 1024) continue; /* kept quick */
      clt_scope_begin();
      clt_tensor *y[2], *g[2][3];
      for (int k = 0; k < 2; k++) {
        clt_tensor *leaf[3];
        for (int i = 0; i < 3; i++) {
          leaf[i] = linear_leaf(dev, dt, i, &cases[c]);
          ck_assert_int_eq(clt_set_requires_grad(leaf[i], true), CLT_OK);
        }
        y[k] = k ? clt_add(clt_matmul(leaf[0], clt_transpose(leaf[1], 0, 1)), leaf[2]) : clt_linear(leaf[0], leaf[1], leaf[2]);
        ck_assert_msg(y[k] != NULL, "%s", clt_last_error());
        /* a gradient that differs from row to row and column to column (not from y: the 16-bit
         * types' y differs by an ulp between the two) */
        clt_tensor *gy = vals(dev, dt, clt_ndim(y[k]), clt_shape(y[k]), -1, 1, 9);
        clt_tensor *l = clt_sum(clt_mul(y[k], gy), CLT_ALL_DIMS, false);
        ck_assert_int_eq(clt_backward(l, NULL), CLT_OK);
        for (int i = 0; i < 3; i++) g[k][i] = clt_grad(leaf[i]);
      }
      char what[160];
      snprintf(what, sizeof what, "%s case %zu on %s: linear", clt_dtype_name(dt), c, clt_device_spec(dev));
      assert_close(y[0], y[1], tol, what);
      static const char *const name[3] = {"x", "w", "b"};
      for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "%s case %zu on %s: %s's gradient", clt_dtype_name(dt), c, clt_device_spec(dev),
                 name[i]);
        assert_close(g[0][i], g[1][i], tol, what);
      }
      clt_scope_end();
    }
  }
  /* the layer's forward and its backward from a given gradient launch no kernel of their own
   * where the host's GEMM runs on the buffers' own memory (PoCL, auto provider): before, an add
   * and a sum reduction per layer */
#ifdef CLT_HAVE_OPENCL
  clt_cl_details det;
  const char *provider = getenv("CLT_GEMM"), *wait = getenv("CLT_GEMM_WAIT");
  if (dev != tu_dev[0] && clt_cl_device_get_details(dev, &det) == CLT_OK && strstr(det.platform, "Portable") &&
      !(provider && *provider) && !(wait && *wait)) {
    clt_scope_begin();
    clt_tensor *x = vals(dev, CLT_FLOAT32, CLT_SHAPE(16, 8), -1, 1, 1), *w = vals(dev, CLT_FLOAT32, CLT_SHAPE(5, 8), -1, 1, 2);
    clt_tensor *b = vals(dev, CLT_FLOAT32, CLT_SHAPE(5), -1, 1, 3), *gy = vals(dev, CLT_FLOAT32, CLT_SHAPE(16, 5), -1, 1, 4);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(clt_set_requires_grad(i == 0 ? x : i == 1 ? w : b, true), CLT_OK);
    ck_assert_int_eq(clt_eval(gy), CLT_OK);
    unsigned long before = atomic_load(&clt__kernel_launches);
    clt_tensor *y = clt_linear(x, w, b);
    ck_assert_int_eq(clt_backward(y, gy), CLT_OK);
    ck_assert_msg(atomic_load(&clt__kernel_launches) == before, "linear and its backward launched %lu kernels",
                  atomic_load(&clt__kernel_launches) - before);
    clt_tensor *want = clt_sum(gy, 1, (const int[]){0}, false);
    assert_close(clt_grad(b), want, 1e-6, "b's gradient, from the GEMM");
    clt_scope_end();
  }
#endif
}
END_TEST

START_TEST(initialisers) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *w = clt_empty(dev, CLT_FLOAT32, CLT_SHAPE(200, 300));
  clt_manual_seed(11);
  ck_assert_int_eq(clt_init_kaiming_uniform_(w, sqrt(5.0)), CLT_OK);
  double mx, mn, bound = 1.0 / sqrt(300.0);
  clt_item(clt_max(w, CLT_ALL_DIMS, false), &mx);
  clt_item(clt_min(w, CLT_ALL_DIMS, false), &mn);
  ck_assert(mx <= bound && mx > 0.95 * bound && mn >= -bound && mn < -0.95 * bound);
  clt_tensor *h = clt_empty(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(200, 300));
  clt_manual_seed(11);
  clt_init_kaiming_uniform_(h, sqrt(5.0));
  assert_close(w, h, 0, "kaiming on the host and the device"); /* the same numbers everywhere */
  ck_assert_int_eq(clt_init_xavier_uniform_(w, 1.0), CLT_OK);
  clt_item(clt_max(clt_abs(w), CLT_ALL_DIMS, false), &mx);
  ck_assert(mx <= sqrt(6.0 / 500.0));
  ck_assert_int_eq(clt_init_normal_(w, 2, 0.5), CLT_OK);
  double mean, sd;
  clt_item(clt_mean(w, CLT_ALL_DIMS, false), &mean);
  clt_item(clt_std(w, CLT_ALL_DIMS, 1, false), &sd);
  ck_assert_double_eq_tol(mean, 2, 0.01);
  ck_assert_double_eq_tol(sd, 0.5, 0.01);
  ck_assert_int_eq(clt_init_uniform_(w, -3, -1), CLT_OK);
  clt_item(clt_max(w, CLT_ALL_DIMS, false), &mx);
  ck_assert(mx < -1);
  ck_assert_int_eq(clt_init_kaiming_uniform_(clt_empty(dev, CLT_FLOAT32, CLT_SHAPE(5)), 0), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_init_kaiming_uniform_: fan in and fan out need at least 2 dims, not shape [5]");
  ck_assert_int_eq(clt_init_uniform_(clt_empty(dev, CLT_INT32, CLT_SHAPE(5)), 0, 1), CLT_ERR_DTYPE);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "initialisers fill float tensors, not int32");
  ck_assert_int_eq(clt_init_uniform_(w, 1, 0), CLT_ERR_INVALID_ARG);
  clt_clear_error();
  clt_scope_end();
}
END_TEST

/* ---- optimizers ------------------------------------------------------------------------- */

/* Twenty steps on f(p) = sum((p - t)^2 * c) from p0, returning p. */
static clt_tensor *descend(clt_device *dev, const clt_optim_config *cfg, int steps) {
  clt_tensor *p = vals(dev, CLT_FLOAT32, CLT_SHAPE(3, 4), -1, 1, 4), *t = vals(dev, CLT_FLOAT32, CLT_SHAPE(3, 4), -2, 2, 5);
  clt_keep(p);
  clt_set_requires_grad(p, true);
  clt_optim *o;
  ck_assert_int_eq(clt_optim_create(cfg, 1, &p, &o), CLT_OK);
  for (int i = 0; i < steps; i++) {
    clt_scope_begin();
    clt_tensor *l = clt_sum(clt_mul_scalar(clt_square(clt_sub(p, t)), 1.5), CLT_ALL_DIMS, false);
    ck_assert_int_eq(clt_optim_zero_grad(o), CLT_OK);
    ck_assert_int_eq(clt_backward(l, NULL), CLT_OK);
    ck_assert_int_eq(clt_optim_step(o), CLT_OK);
    clt_scope_end();
  }
  ck_assert_int_eq(clt_optim_steps(o), steps);
  clt_optim_release(o);
  clt_set_requires_grad(p, false);
  return p;
}

/* The same two steps of SGD with momentum and Adam, worked out here in double. */
static void reference_steps(const clt_optim_config *c, double p, double t, int steps, double *out) {
  double buf = 0, m = 0, v = 0;
  for (int s = 1; s <= steps; s++) {
    double g = 3 * (p - t);
    if (c->kind == CLT_OPTIM_SGD) {
      g += c->weight_decay * p;
      if (c->momentum != 0) {
        buf = s == 1 ? g : c->momentum * buf + (1 - c->dampening) * g;
        g = c->nesterov ? g + c->momentum * buf : buf;
      }
      p -= c->lr * g;
    } else {
      if (c->kind == CLT_OPTIM_ADAMW) p *= 1 - c->lr * c->weight_decay;
      else g += c->weight_decay * p;
      m = c->beta1 * m + (1 - c->beta1) * g;
      v = c->beta2 * v + (1 - c->beta2) * g * g;
      p -= c->lr / (1 - pow(c->beta1, s)) * m / (sqrt(v) / sqrt(1 - pow(c->beta2, s)) + c->eps);
    }
  }
  *out = p;
}

START_TEST(optimizers_follow_pytorch) {
  clt_device *dev = TU_DEV;
  clt_optim_config cfgs[5] = {clt_optim_defaults(CLT_OPTIM_SGD), clt_optim_defaults(CLT_OPTIM_SGD),
                              clt_optim_defaults(CLT_OPTIM_SGD), clt_optim_defaults(CLT_OPTIM_ADAM),
                              clt_optim_defaults(CLT_OPTIM_ADAMW)};
  cfgs[1].momentum = 0.9, cfgs[1].dampening = 0.1, cfgs[1].weight_decay = 0.01;
  cfgs[2].momentum = 0.8, cfgs[2].nesterov = true;
  cfgs[3].lr = 0.05, cfgs[3].weight_decay = 0.02;
  cfgs[4].lr = 0.05;
  for (int k = 0; k < 5; k++) {
    clt_scope_begin();
    clt_tensor *p = descend(dev, &cfgs[k], 20), *h = descend(tu_dev[0], &cfgs[k], 20);
    assert_close(p, h, 1e-5, "device against the host trajectory");
    clt_tensor *p2 = descend(dev, &cfgs[k], 2);
    double *pv = tu_values(p2), *p0 = tu_values(vals(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(3, 4), -1, 1, 4));
    double *tv = tu_values(vals(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(3, 4), -2, 2, 5));
    for (int i = 0; i < 12; i++) {
      double want;
      reference_steps(&cfgs[k], p0[i], tv[i], 2, &want);
      ck_assert_msg(fabs(pv[i] - want) <= 1e-5 * (1 + fabs(want)), "config %d element %d: %.9g, want %.9g", k, i, pv[i], want);
    }
    free(pv);
    free(p0);
    free(tv);
    clt_release(p);
    clt_release(h);
    clt_release(p2);
    clt_scope_end();
  }
}
END_TEST

/* Float32 Adam and AdamW with the default betas, ten steps from p = 0 with gradients of one sign
 * (so p is the sum of the steps, each about lr): within float rounding (1e-6 relative) of the
 * steps worked out in double. The OpenCL kernel once formed 1 - beta2 in float from beta2
 * rounded to float (0.000999987 for 0.999), which made every step 6.4e-6 too long; on the
 * digits CNN that put PoCL's 30-epoch loss 1.1e-2 away from the host's and PyTorch's. */
START_TEST(adam_float_coefficients) {
  clt_device *dev = TU_DEV;
  enum { N = 6, STEPS = 10 };
  for (int k = 0; k < 2; k++) {
    clt_optim_config c = clt_optim_defaults(k ? CLT_OPTIM_ADAMW : CLT_OPTIM_ADAM);
    clt_scope_begin();
    clt_tensor *p = clt_keep(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(N)));
    clt_set_requires_grad(p, true);
    clt_optim *o;
    ck_assert_int_eq(clt_optim_create(&c, 1, &p, &o), CLT_OK);
    double g[STEPS][N], want[N] = {0}, m[N] = {0}, v[N] = {0};
    for (int s = 0; s < STEPS; s++) {
      for (int i = 0; i < N; i++) { /* magnitudes 1e-3 .. 10, one sign per element; each a float */
        g[s][i] = (float)((i % 2 ? -1 : 1) * pow(10, i % 5 - 3) * (1 + 0.25 * ((s + i) % 4)));
        double gi = g[s][i];
        want[i] *= 1 - c.lr * c.weight_decay;
        m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
        v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
        want[i] -= c.lr / (1 - pow(c.beta1, s + 1)) * m[i] / (sqrt(v[i]) / sqrt(1 - pow(c.beta2, s + 1)) + c.eps);
      }
      /* the gradient of sum(p g) is g exactly */
      clt_scope_begin();
      clt_tensor *gt = tu_make(dev, CLT_FLOAT32, 1, (const int64_t[]){N}, g[s], false);
      ck_assert_int_eq(clt_optim_zero_grad(o), CLT_OK);
      ck_assert_int_eq(clt_backward(clt_sum(clt_mul(p, gt), CLT_ALL_DIMS, false), NULL), CLT_OK);
      ck_assert_int_eq(clt_optim_step(o), CLT_OK);
      clt_scope_end();
    }
    double *got = tu_values(p);
    for (int i = 0; i < N; i++)
      ck_assert_msg(fabs(got[i] - want[i]) <= 1e-6 * fabs(want[i]), "%s element %d on %s: %.9g, want %.9g (relative %.2g)",
                    k ? "AdamW" : "Adam", i, clt_device_spec(dev), got[i], want[i], (got[i] - want[i]) / want[i]);
    free(got);
    clt_optim_release(o);
    clt_release(p);
    clt_scope_end();
  }
}
END_TEST

/* ---- several parameters per optimizer call ---------------------------------------------- */

static const clt__backend *optim_real_be;
static int optim_calls;

static clt_status counting_optim_step(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n,
                                      clt__storage *p, int64_t po, const clt__storage *g, int64_t go, clt__storage *s1,
                                      clt__storage *s2) {
  optim_calls++;
  return optim_real_be->optim_step(dev, hp, dt, n, p, po, g, go, s1, s2);
}
static clt_status counting_optim_steps(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int n,
                                       const clt__optim_part *parts) {
  optim_calls++;
  return optim_real_be->optim_steps(dev, hp, dt, n, parts);
}

enum { NPARAM = 9 };
/* float32 parameters 0-6 (sizes across work-group edges; 2 never gets a gradient), float64 7-8 */
static const int64_t param_size[NPARAM] = {3, 70, 4, 300, 1, 129, 2, 64, 5};

/* One step of loss sum_k sum(c_k p_k^2) (the gradient changes with p) over the parameters p;
 * nopt optimizers, optimizer j over the parameters from first[j]. */
static void quadratic_step(clt_device *dev, clt_tensor *const *p, clt_optim *const *o, int nopt, int step) {
  clt_scope_begin();
  clt_tensor *loss = NULL;
  for (int i = 0; i < NPARAM; i++) {
    if (i == 2) continue;
    clt_dtype dt = clt_dtype_of(p[i]);
    clt_tensor *c = vals(dev, dt, 1, &param_size[i], 0.5, 1.5, 10 * step + i);
    clt_tensor *l = clt_cast(clt_sum(clt_mul(clt_square(p[i]), c), CLT_ALL_DIMS, false), CLT_FLOAT64);
    loss = loss ? clt_add(loss, l) : l;
  }
  for (int j = 0; j < nopt; j++) ck_assert_int_eq(clt_optim_zero_grad(o[j]), CLT_OK);
  ck_assert_msg(clt_backward(loss, NULL) == CLT_OK, "%s", clt_last_error());
  for (int j = 0; j < nopt; j++) ck_assert_msg(clt_optim_step(o[j]) == CLT_OK, "%s", clt_last_error());
  clt_scope_end();
}

/* An optimizer over many parameters gathers those of a dtype into calls of up to
 * CLT__OPTIM_SLOTS (on OpenCL one launch each instead of one per parameter), and every
 * parameter and state ends bit for bit where an optimizer of its own puts it, for SGD (plain,
 * momentum with dampening, nesterov with weight decay), Adam and AdamW, in float32 and float64:
 * the calls a step makes are counted through the backend table. */
static clt_tensor *leaf(clt_tensor *t) {
  ck_assert_int_eq(clt_set_requires_grad(t, true), CLT_OK);
  return t;
}

/* Every element of t, all equal, as a double */
static double the_value(clt_tensor *t) {
  int64_t n = clt_numel(t);
  double *h = malloc((size_t)n * sizeof *h);
  ck_assert_int_eq(clt_to_host(clt_cast(t, CLT_FLOAT64), h, (size_t)n * sizeof *h), CLT_OK);
  for (int64_t i = 1; i < n; i++) ck_assert_msg(h[i] == h[0], "element %lld is %g, element 0 %g", (long long)i, h[i], h[0]);
  double v = h[0];
  free(h);
  return v;
}

/* A parameter listed twice would be stepped twice a step, by work-items of one launch racing
 * on its memory (found in review: elements of one parameter drifted apart from run to run). */
START_TEST(optim_rejects_a_parameter_listed_twice) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *w = leaf(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(8))), *v = leaf(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(8)));
  clt_tensor *ps[3] = {w, v, w};
  clt_optim_config c = clt_optim_defaults(CLT_OPTIM_ADAMW);
  clt_optim *o = (clt_optim *)1;
  ck_assert_int_eq(clt_optim_create(&c, 3, ps, &o), CLT_ERR_INVALID_ARG);
  ck_assert_ptr_null(o);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "params[0] and params[2] are the same parameter");
  ck_assert_int_eq(clt_optim_create(&c, 2, ps, &o), CLT_OK);
  clt_optim_release(o);
  clt_scope_end();
}
END_TEST

/* A step that fails part way leaves the parameters it did not step as they were, their state
 * too: SGD with momentum and dampening (the first step's buffer is the gradient, later ones
 * momentum * buf + (1 - dampening) * g) over 7 float32 parameters and a float64 one (several
 * calls), each failure point in turn; then a clean step. Each parameter, 1 with gradient 1, is 0
 * after its first step and -1.4 after its second; before the fix a parameter whose first step
 * failed after its buffer was made took the next as a later step (0.5). */
START_TEST(failed_optim_step_leaves_the_rest_as_it_was) {
  clt_device *dev = TU_DEV;
  enum { NP = 8 };
  long points = 0;
  for (long nth = 1;; nth++) {
    clt_scope_begin();
    clt_tensor *w[NP];
    clt_tensor *loss = NULL;
    for (int i = 0; i < NP; i++) {
      w[i] = leaf(clt_full(dev, i == 5 ? CLT_FLOAT64 : CLT_FLOAT32, CLT_SHAPE(3 + i), 1.0));
      clt_tensor *l = clt_sum(clt_cast(w[i], CLT_FLOAT32), CLT_ALL_DIMS, false);
      loss = loss ? clt_add(loss, l) : l;
    }
    ck_assert_int_eq(clt_backward(loss, NULL), CLT_OK);
    clt_optim_config c = clt_optim_defaults(CLT_OPTIM_SGD);
    c.lr = 1, c.momentum = 0.9, c.dampening = 0.5;
    clt_optim *o;
    ck_assert_int_eq(clt_optim_create(&c, NP, w, &o), CLT_OK);
    clt__fault_reset();
    clt__fault_arm(nth, nth % 2 ? -5 : -4);
    clt_status s = clt_optim_step(o);
    bool fired = clt__fault_fired();
    clt__fault_reset();
    double after[NP];
    if (fired) {
      ck_assert_msg(s != CLT_OK, "fault %ld fired but the step succeeded", nth);
      clt_clear_error();
      for (int i = 0; i < NP; i++) {
        after[i] = the_value(w[i]);
        ck_assert_msg(after[i] == 1 || after[i] == 0, "fault %ld: params[%d] is %g after the failed step", nth, i,
                      after[i]);
      }
      ck_assert_int_eq(clt_optim_step(o), CLT_OK);
      for (int i = 0; i < NP; i++) {
        double now = the_value(w[i]);
        ck_assert_msg(now == (after[i] == 1 ? 0 : -1.4f) || (i == 5 && now == (after[i] == 1 ? 0 : -1.4)),
                      "fault %ld: params[%d] went %g -> %g in the clean step after it", nth, i, after[i], now);
      }
      points++;
    }
    clt_optim_release(o);
    clt_scope_end();
    if (!fired) break;
  }
  ck_assert_int_gt(points, 3);
}
END_TEST

START_TEST(optim_batched_matches_single) {
  clt_device *dev = TU_DEV;
  clt_optim_config cfgs[5] = {clt_optim_defaults(CLT_OPTIM_SGD), clt_optim_defaults(CLT_OPTIM_SGD),
                              clt_optim_defaults(CLT_OPTIM_SGD), clt_optim_defaults(CLT_OPTIM_ADAM),
                              clt_optim_defaults(CLT_OPTIM_ADAMW)};
  cfgs[1].momentum = 0.9, cfgs[1].dampening = 0.1;
  cfgs[2].momentum = 0.8, cfgs[2].nesterov = true, cfgs[2].weight_decay = 0.01;
  cfgs[3].lr = 0.05, cfgs[3].weight_decay = 0.02;
  cfgs[4].lr = 0.05;
  for (int k = 0; k < 5; k++) {
    clt_scope_begin();
    clt_tensor *all[NPARAM], *own[NPARAM];
    for (int i = 0; i < NPARAM; i++) {
      clt_dtype dt = i < 7 ? CLT_FLOAT32 : CLT_FLOAT64;
      all[i] = vals(dev, dt, 1, &param_size[i], -1, 1, i);
      own[i] = clt_clone(all[i]);
      ck_assert(clt_set_requires_grad(all[i], true) == CLT_OK && clt_set_requires_grad(own[i], true) == CLT_OK);
    }
    clt_optim *one, *each[NPARAM];
    ck_assert_int_eq(clt_optim_create(&cfgs[k], NPARAM, all, &one), CLT_OK);
    for (int i = 0; i < NPARAM; i++) ck_assert_int_eq(clt_optim_create(&cfgs[k], 1, &own[i], &each[i]), CLT_OK);
    for (int step = 0; step < 3; step++) {
      optim_real_be = clt__device_swap_backend(dev, NULL);
      clt__backend counting = *optim_real_be;
      counting.optim_step = counting_optim_step;
      counting.optim_steps = counting_optim_steps;
      clt__device_swap_backend(dev, &counting);
      optim_calls = 0;
      quadratic_step(dev, all, &one, 1, step);
      int calls = optim_calls;
      clt__device_swap_backend(dev, optim_real_be);
      /* float32: 0, 1, 3, 4, 5 in one call, 6 alone; float64: 7 and 8 */
      ck_assert_msg(calls == 3, "config %d on %s: %d optimizer calls for 8 parameters, not 3", k, clt_device_spec(dev),
                    calls);
      quadratic_step(dev, own, each, NPARAM, step);
    }
    for (int i = 0; i < NPARAM; i++) {
      double *a = tu_values(all[i]), *b = tu_values(own[i]);
      clt_tensor *s[2][2];
      ck_assert_int_eq(clt_optim_get_state(one, i, &s[0][0], &s[0][1]), CLT_OK);
      ck_assert_int_eq(clt_optim_get_state(each[i], 0, &s[1][0], &s[1][1]), CLT_OK);
      for (int64_t e = 0; e < param_size[i]; e++)
        ck_assert_msg(a[e] == b[e], "config %d, parameter %d element %lld on %s: %.17g, alone %.17g", k, i,
                      (long long)e, clt_device_spec(dev), a[e], b[e]);
      for (int j = 0; j < 2; j++) {
        ck_assert(!s[0][j] == !s[1][j]);
        if (!s[0][j]) continue;
        double *x = tu_values(s[0][j]), *y = tu_values(s[1][j]);
        for (int64_t e = 0; e < param_size[i]; e++)
          ck_assert_msg(x[e] == y[e], "config %d, state %d of parameter %d element %lld: %.17g, alone %.17g", k, j, i,
                        (long long)e, x[e], y[e]);
        free(x);
        free(y);
      }
      free(a);
      free(b);
      clt_optim_release(each[i]);
    }
    clt_optim_release(one);
    clt_scope_end();
  }
}
END_TEST

START_TEST(optimizer_errors) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *p = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(4));
  clt_optim *o = NULL;
  clt_optim_config c = clt_optim_defaults(CLT_OPTIM_ADAM);
  ck_assert_int_eq(clt_optim_create(&c, 1, &p, &o), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_optim_create: params[0] is not a float leaf that requires grad");
  clt_set_requires_grad(p, true);
  clt_tensor *v = clt_slice(p, 0, 1, 3, 1);
  ck_assert_int_eq(clt_optim_create(&c, 1, &v, &o), CLT_ERR_INVALID_ARG);
  clt_clear_error();
  c.beta1 = 1.5;
  ck_assert_int_eq(clt_optim_create(&c, 1, &p, &o), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "betas (1.5, 0.999) must be in [0, 1)");
  clt_optim_config s = clt_optim_defaults(CLT_OPTIM_SGD);
  s.nesterov = true;
  ck_assert_int_eq(clt_optim_create(&s, 1, &p, &o), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "nesterov needs momentum > 0 and dampening 0");
  s.nesterov = false;
  ck_assert_int_eq(clt_optim_create(&s, 1, &p, &o), CLT_OK);
  ck_assert_int_eq(clt_optim_step(o), CLT_OK); /* no gradient yet: nothing to do */
  ck_assert_int_eq(clt_optim_set_lr(o, -1), CLT_ERR_INVALID_ARG);
  clt_clear_error();
  clt_optim_release(o);
  clt_optim_release(NULL);
  clt_scope_end();
}
END_TEST

/* ---- files ------------------------------------------------------------------------------ */

static void temp_path(char *buf, size_t cap) {
  snprintf(buf, cap, "/tmp/clt-st-XXXXXX");
  int fd = mkstemp(buf);
  ck_assert_int_ge(fd, 0);
  close(fd);
}

START_TEST(safetensors_from_python_and_back) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  char path[600];
  snprintf(path, sizeof path, "%s/safetensors/good.safetensors", fixture_dir);
  clt_tensor_list *l;
  ck_assert_msg(clt_load_safetensors(path, dev, &l) == CLT_OK, "%s", clt_last_error());
  ck_assert_int_eq(clt_tensor_list_size(l), 8);
  tu_assert_values(clt_tensor_list_find(l, "f32"), 2, (const int64_t[]){2, 3}, (const double[]){-2, -0.5, 1, 2.5, 4, 5.5});
  tu_assert_values(clt_tensor_list_find(l, "f64"), 1, (const int64_t[]){4}, (const double[]){-2, -0.5, 1, 2.5});
  tu_assert_values(clt_tensor_list_find(l, "i32"), 2, (const int64_t[]){2, 3}, (const double[]){-10, -3, 4, 11, 18, 25});
  tu_assert_values(clt_tensor_list_find(l, "i64"), 1, (const int64_t[]){5}, (const double[]){-10, -3, 4, 11, 18});
  tu_assert_values(clt_tensor_list_find(l, "u8"), 1, (const int64_t[]){3}, (const double[]){0, 40, 80});
  tu_assert_values(clt_tensor_list_find(l, "bool"), 1, (const int64_t[]){4}, (const double[]){0, 1, 0, 1});
  tu_assert_values(clt_tensor_list_find(l, "scalar"), 0, NULL, (const double[]){2.5});
  tu_assert_values(clt_tensor_list_find(l, "empty"), 2, (const int64_t[]){0, 3}, NULL);
  ck_assert_int_eq(clt_dtype_of(clt_tensor_list_find(l, "bool")), CLT_BOOL);
  ck_assert_ptr_eq(clt_device_of(clt_tensor_list_at(l, 0)), dev);
  ck_assert_ptr_null(clt_tensor_list_find(l, "nope"));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_tensor_list_find: no tensor is named 'nope'");
  /* save them again (a view among them), load that, compare */
  char out[64];
  temp_path(out, sizeof out);
  const char *names[3] = {"a.weight", "b", "t"};
  clt_tensor *ts[3] = {clt_tensor_list_find(l, "f32"), clt_tensor_list_find(l, "i64"),
                       clt_transpose(clt_tensor_list_find(l, "f32"), 0, 1)};
  ck_assert_int_eq(clt_save_safetensors(out, 3, names, ts), CLT_OK);
  clt_tensor_list *back;
  ck_assert_int_eq(clt_load_safetensors(out, NULL, &back), CLT_OK);
  ck_assert_str_eq(clt_tensor_list_name(back, 0), "a.weight");
  tu_assert_values(clt_tensor_list_find(back, "t"), 2, (const int64_t[]){3, 2}, (const double[]){-2, 2.5, -0.5, 4, 1, 5.5});
  /* the format: 8-byte length, JSON padded to 8 bytes with spaces, data after it */
  FILE *f = fopen(out, "rb");
  unsigned char hdr[8];
  ck_assert_uint_eq(fread(hdr, 1, 8, f), 8);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)hdr[i] << (8 * i);
  ck_assert_uint_eq(hl % 8, 0);
  char *json = calloc(hl + 1, 1);
  ck_assert_uint_eq(fread(json, 1, hl, f), hl);
  fclose(f);
  ck_assert_ptr_nonnull(strstr(json, "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"));
  ck_assert_ptr_nonnull(strstr(json, "\"b\":{\"dtype\":\"I64\",\"shape\":[5],\"data_offsets\":[24,64]}"));
  free(json);
  clt_tensor_list_release(back);
  clt_tensor_list_release(l);
  remove(out);
  const char *dup[2] = {"x", "x"};
  ck_assert_int_eq(clt_save_safetensors(out, 2, dup, ts), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_save_safetensors: the name 'x' appears twice");
  clt_scope_end();
}
END_TEST

START_TEST(broken_safetensors) {
  const struct { const char *file; clt_status st; const char *msg; } bad[] = {
      {"empty", CLT_ERR_FORMAT, "shorter than its 8-byte header length"},
      {"short_length", CLT_ERR_FORMAT, "shorter than"},
      {"length_past_end", CLT_ERR_FORMAT, "header length 1048576 exceeds the 2 bytes that follow"},
      {"huge_length", CLT_ERR_FORMAT, "header length"},
      {"not_json", CLT_ERR_FORMAT, "header JSON"},
      {"not_object", CLT_ERR_FORMAT, "the header is not a JSON object"},
      {"duplicate_key", CLT_ERR_FORMAT, "duplicate"},
      {"unknown_dtype", CLT_ERR_DTYPE, "safetensors dtype 'F8_E4M3' has no clt equivalent"},
      {"size_mismatch", CLT_ERR_FORMAT, "entry 'a' has 8 data bytes for shape of 3 elements of float32"},
      {"offsets_past_end", CLT_ERR_FORMAT, "entry 'a' ends at byte 16 of 8 data bytes"},
      {"offsets_reversed", CLT_ERR_FORMAT, "data_offsets are not two increasing"},
      {"negative_shape", CLT_ERR_FORMAT, "a shape entry is not a non-negative integer"},
      {"missing_shape", CLT_ERR_FORMAT, "entry 'a' lacks dtype, shape or data_offsets"},
      {"shape_not_ints", CLT_ERR_FORMAT, "a shape entry is not"},
      {"truncated_data", CLT_ERR_FORMAT, "ends at byte 8 of 5 data bytes"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char path[600];
    snprintf(path, sizeof path, "%s/safetensors/bad/%s.safetensors", fixture_dir, bad[i].file);
    clt_tensor_list *l = (clt_tensor_list *)1;
    clt_status s = clt_load_safetensors(path, TU_DEV, &l);
    ck_assert_msg(s == bad[i].st, "%s: %s: %s", bad[i].file, clt_status_name(s), clt_last_error());
    ck_assert_ptr_null(l);
    TU_ASSERT_ERR(bad[i].st, "clt_load_safetensors: ", bad[i].msg);
  }
}
END_TEST

START_TEST(npy_directories) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  char dir[] = "/tmp/clt-npydir-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char sub[64];
  snprintf(sub, sizeof sub, "%s/weights", dir);
  const char *names[2] = {"layer1.weight", "b"};
  clt_tensor *ts[2] = {clt_reshape(clt_arange(dev, CLT_FLOAT32, 0, 6, 1), CLT_SHAPE(2, 3)), clt_ones(dev, CLT_INT64, CLT_SHAPE(2))};
  ck_assert_int_eq(clt_save_npy_dir(sub, 2, names, ts), CLT_OK);
  clt_tensor_list *l;
  ck_assert_int_eq(clt_load_npy_dir(sub, dev, &l), CLT_OK);
  ck_assert_int_eq(clt_tensor_list_size(l), 2);
  ck_assert_str_eq(clt_tensor_list_name(l, 0), "b"); /* name order */
  tu_assert_values(clt_tensor_list_find(l, "layer1.weight"), 2, (const int64_t[]){2, 3}, (const double[]){0, 1, 2, 3, 4, 5});
  clt_tensor_list_release(l);
  const char *bad[1] = {"../escape"};
  ck_assert_int_eq(clt_save_npy_dir(sub, 1, bad, ts), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_save_npy_dir: the name '../escape' cannot be a file name");
  ck_assert_int_eq(clt_load_npy_dir("/nonexistent-clt", dev, &l), CLT_ERR_IO);
  clt_clear_error();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
  clt_scope_end();
}
END_TEST

/* cross_entropy's gradient, softmax(x) - one_hot, next to a large max: the softmax is exp(x - m)
 * / sum, where exp(x - (m + log sum)) lost log sum (float32 [1e6, 1e6] gave [-0.4972, 0.5028],
 * [1e30, 1e30, -1e30] [0, 1, 0] in both dtypes). Within 4 ulp, loss and gradient. */
START_TEST(cross_entropy_gradient_next_to_a_large_max) {
  clt_device *dev = TU_DEV;
  const double x[4][3] = {{1e6, 1e6, 0}, {1e30, 1e30, -1e30}, {-1e30, 3, 1e30}, {0.5, -1, 2}};
  const int32_t labels[4] = {0, 0, 2, 1};
  double want_g[4][3] = {{-0.5, 0.5, 0}, {-0.5, 0.5, 0}, {0, 0, 0}}, want_l[4] = {log(2.0), log(2.0), 0};
  double s = exp(0.5 - 2) + exp(-1 - 2) + 1; /* the last row, from its definition */
  for (int c = 0; c < 3; c++) want_g[3][c] = exp(x[3][c] - 2) / s - (c == 1);
  want_l[3] = 3 + log(s);
  for (int k = 0; k < 2; k++) {
    clt_scope_begin();
    clt_dtype dt = k ? CLT_FLOAT64 : CLT_FLOAT32;
    double eps = k ? 0x1p-52 : 0x1p-23;
    clt_tensor *xt = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(4, 3), x), dt);
    clt_set_requires_grad(xt, true);
    clt_tensor *l = clt_cross_entropy(xt, clt_from_host(dev, CLT_INT32, CLT_SHAPE(4), labels), CLT_REDUCTION_NONE);
    ck_assert_int_eq(clt_backward(clt_sum(l, CLT_ALL_DIMS, false), NULL), CLT_OK);
    double *gl = tu_values(l), *gg = tu_values(clt_grad(xt));
    for (int i = 0; i < 12; i++) {
      double w = want_g[i / 3][i % 3];
      ck_assert_msg(fabs(gg[i] - w) <= 4 * eps * fabs(w), "%s on %s: gradient [%d][%d] is %.9g, want %.9g",
                    clt_dtype_name(dt), clt_device_spec(dev), i / 3, i % 3, gg[i], w);
    }
    for (int i = 0; i < 4; i++)
      ck_assert_msg(fabs(gl[i] - want_l[i]) <= 4 * eps * fabs(want_l[i]), "%s on %s: loss [%d] is %.9g, want %.9g",
                    clt_dtype_name(dt), clt_device_spec(dev), i, gl[i], want_l[i]);
    free(gl);
    free(gg);
    clt_scope_end();
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("nn");
  TCase *tc = tu_tcase("nn");
  TU_DEVICES(tc, losses_gradcheck);
  TU_DEVICES(tc, losses_match_their_definitions);
  TU_DEVICES(tc, cross_entropy_wide_rows_match_the_host);
  TU_DEVICES(tc, loss_errors);
  TU_DEVICES(tc, linear_and_dropout);
  TU_DEVICES(tc, linear_weight_gradient_not_copied);
  TU_DEVICES(tc, linear_bias_in_the_product);
  TU_DEVICES(tc, initialisers);
  TU_DEVICES(tc, optimizers_follow_pytorch);
  TU_DEVICES(tc, adam_float_coefficients);
  TU_DEVICES(tc, optim_batched_matches_single);
  TU_DEVICES(tc, optimizer_errors);
  TU_DEVICES(tc, optim_rejects_a_parameter_listed_twice);
  TU_DEVICES(tc, failed_optim_step_leaves_the_rest_as_it_was);
  TU_DEVICES(tc, safetensors_from_python_and_back);
  TU_DEVICES(tc, broken_safetensors);
  TU_DEVICES(tc, npy_directories);
  TU_DEVICES(tc, cross_entropy_gradient_next_to_a_large_max);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  const char *dir = getenv("CLT_FIXTURES");
  snprintf(fixture_dir, sizeof fixture_dir, "%s", dir ? dir : "tests/fixtures");
  return tu_main(suite, TU_MANY_KERNELS);
}
