/* Reductions and softmax: every reduction, over one dim, several, all, with and without
 * keepdim, on contiguous and strided inputs of every dtype it takes, on every device but the
 * host against the host (test_known holds every device to values written down); accuracy of
 * float sums on 1e7 elements; NaN, empty and bad input. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <stdio.h>

#include "ew.h"
#include "tu.h"

static void assert_close_tol(const clt_tensor *got, const clt_tensor *want, double rtol, double atol, const char *what) {
  ck_assert_msg(got != NULL, "%s: %s", what, clt_last_error());
  ck_assert_ptr_nonnull(want);
  ck_assert_msg(clt_dtype_of(got) == clt_dtype_of(want), "%s: dtype %s, want %s", what,
                clt_dtype_name(clt_dtype_of(got)), clt_dtype_name(clt_dtype_of(want)));
  ck_assert_int_eq(clt_ndim(got), clt_ndim(want));
  for (int d = 0; d < clt_ndim(got); d++) ck_assert_int_eq(clt_shape(got)[d], clt_shape(want)[d]);
  double *g = tu_values(got), *w = tu_values(want);
  for (int64_t i = 0; i < clt_numel(got); i++)
    ck_assert_msg((isnan(g[i]) && isnan(w[i])) || g[i] == w[i] || fabs(g[i] - w[i]) <= atol + rtol * fabs(w[i]),
                  "%s: element %lld is %.17g, the host reference %.17g", what, (long long)i, g[i], w[i]);
  free(g);
  free(w);
}

typedef enum { R_SUM, R_PROD, R_MEAN, R_MAX, R_MIN, R_VAR, R_STD, R_LSE, R_COUNT } rkind;
static const char *rname[] = {"sum", "prod", "mean", "max", "min", "var", "std", "logsumexp"};

static clt_tensor *apply(rkind k, clt_tensor *x, int nd, const int *dims, bool keep) {
  switch (k) {
    case R_SUM: return clt_sum(x, nd, dims, keep);
    case R_PROD: return clt_prod(x, nd, dims, keep);
    case R_MEAN: return clt_mean(x, nd, dims, keep);
    case R_MAX: return clt_max(x, nd, dims, keep);
    case R_MIN: return clt_min(x, nd, dims, keep);
    case R_VAR: return clt_var(x, nd, dims, 1, keep);
    case R_STD: return clt_std(x, nd, dims, 0, keep);
    default: return clt_logsumexp(x, nd, dims, keep);
  }
}

static bool float_only(rkind k) { return k == R_MEAN || k == R_VAR || k == R_STD; }

static clt_tensor *input(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape, rkind k) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  uint8_t *raw = malloc((size_t)n * 8);
  for (int64_t i = 0; i < n; i++) {
    double v = (double)((i * 29 + 7) % 17) / 4.0 - 2.0; /* -2 .. 2 with repeats (ties) */
    if (k == R_PROD) v = 0.75 + (double)(i % 5) / 8.0;
    if (!clt_dtype_is_float(dt)) v = dt == CLT_BOOL ? (double)(i % 3 != 0) : floor(v * 3);
    if (dt == CLT_UINT8) v = fabs(v);
    if (k == R_PROD && !clt_dtype_is_float(dt)) v = 1 + (i % 7 == 0);
    clt__store_f64(dt, raw + (size_t)i * clt_dtype_size(dt), v);
  }
  clt_tensor *t = clt_from_host(dev, dt, ndim, shape, raw);
  free(raw);
  return t;
}

START_TEST(reductions_match_the_host) {
  clt_device *dev = TU_DEV;
  const clt_dtype dts[] = {CLT_FLOAT32, CLT_FLOAT64, CLT_INT32, CLT_INT64, CLT_UINT8, CLT_BOOL};
  struct { int nd; int dims[3]; } sets[] = {{0, {0}}, {1, {0}}, {1, {1}}, {1, {-1}}, {2, {0, 2}}, {2, {1, 2}}, {3, {0, 1, 2}}};
  for (int k = 0; k < R_COUNT; k++)
    for (size_t t = 0; t < 6; t++) {
      if (float_only((rkind)k) && !clt_dtype_is_float(dts[t])) continue;
      if (dts[t] == CLT_BOOL && (k == R_LSE || k == R_PROD)) continue;
      clt_scope_begin();
      clt_tensor *x = input(dev, dts[t], CLT_SHAPE(3, 40, 5), (rkind)k);
      /* rows of 43: 8-wide vector reads (kernels/reduce.cl) plus a tail */
      clt_tensor *y = input(dev, dts[t], CLT_SHAPE(2, 3, 43), (rkind)k);
      clt_tensor *views[4] = {x, clt_permute(x, CLT_DIMS(2, 0, 1)), clt_slice(x, 1, 3, 40, 3), y};
      for (int v = 0; v < 4; v++)
        for (size_t s = 0; s < sizeof sets / sizeof *sets; s++)
          for (int keep = 0; keep < 2; keep++) {
            char what[128];
            snprintf(what, sizeof what, "%s(%s, view %d, dims set %zu, keepdim %d) on %s", rname[k],
                     clt_dtype_name(dts[t]), v, s, keep, clt_device_spec(dev));
            clt_tensor *got = apply((rkind)k, views[v], sets[s].nd, sets[s].dims, keep);
            clt_tensor *want = apply((rkind)k, clt_to(views[v], tu_dev[0]), sets[s].nd, sets[s].dims, keep);
            bool f32 = clt_dtype_of(views[v]) == CLT_FLOAT32 || k == R_LSE;
            assert_close_tol(got, want, f32 ? 2e-5 : 1e-12, f32 ? 1e-5 : 1e-12, what);
          }
      clt_scope_end();
    }
}
END_TEST

START_TEST(argmax_argmin_match_the_host) {
  clt_device *dev = TU_DEV;
  const clt_dtype dts[] = {CLT_FLOAT32, CLT_FLOAT64, CLT_INT32, CLT_INT64, CLT_UINT8, CLT_BOOL};
  for (size_t t = 0; t < 6; t++) {
    clt_scope_begin();
    clt_tensor *x = input(dev, dts[t], CLT_SHAPE(4, 300, 3), R_SUM);
    clt_tensor *views[2] = {x, clt_transpose(x, 0, 2)};
    for (int v = 0; v < 2; v++)
      for (int dim = -1; dim < 3; dim++)
        for (int keep = 0; keep < 2; keep++) {
          int nd = dim < 0 ? 0 : 1; /* dim -1 stands for all dims */
          clt_tensor *h = clt_to(views[v], tu_dev[0]);
          assert_close_tol(clt_argmax(views[v], nd, &dim, keep), clt_argmax(h, nd, &dim, keep), 0, 0, "argmax");
          assert_close_tol(clt_argmin(views[v], nd, &dim, keep), clt_argmin(h, nd, &dim, keep), 0, 0, "argmin");
        }
    clt_scope_end();
  }
}
END_TEST

/* argmax/argmin along contiguous float rows long enough for kernels/reduce.cl's 8-lane path
 * (each lane keeps its first best; of equal lanes the first index wins; NaN wins, the first
 * NaN): ties in several lanes, a NaN in the vector part, two NaNs, a NaN in the tail, rows
 * split into chunks (1000), against the host. */
START_TEST(argmax_argmin_long_rows_match_the_host) {
  clt_device *dev = TU_DEV;
  static const int64_t widths[] = {16, 301, 1000};
  for (int dt = 0; dt < 2; dt++)
    for (size_t w = 0; w < 3; w++) {
      int64_t R = widths[w], A = 6;
      double *v = malloc((size_t)(A * R) * sizeof *v);
      for (int64_t i = 0; i < A * R; i++) v[i] = (double)((i * 29 + 7) % 5); /* 0..4, many ties */
      v[1 * R + 11] = NAN;
      v[2 * R + 13] = NAN;
      v[2 * R + 6] = NAN;
      v[3 * R + R - 1] = NAN;
      for (int64_t r = 0; r < R; r++) v[4 * R + r] = 1; /* all equal: index 0 */
      v[5 * R + R - 2] = 9; /* the max in the last elements */
      uint8_t *raw = malloc((size_t)(A * R) * 8);
      clt_dtype t = dt ? CLT_FLOAT64 : CLT_FLOAT32;
      for (int64_t i = 0; i < A * R; i++) clt__store_f64(t, raw + (size_t)i * clt_dtype_size(t), v[i]);
      clt_scope_begin();
      clt_tensor *x = clt_from_host(dev, t, CLT_SHAPE(A, R), raw), *h = clt_to(x, tu_dev[0]);
      assert_close_tol(clt_argmax(x, CLT_DIMS(1), false), clt_argmax(h, CLT_DIMS(1), false), 0, 0, "argmax, long rows");
      assert_close_tol(clt_argmin(x, CLT_DIMS(1), false), clt_argmin(h, CLT_DIMS(1), false), 0, 0, "argmin, long rows");
      assert_close_tol(clt_max(x, CLT_DIMS(1), false), clt_max(h, CLT_DIMS(1), false), 0, 0, "max, long rows");
      clt_scope_end();
      free(raw);
      free(v);
    }
}
END_TEST

START_TEST(argmax_argmin_known_values) {
  clt_device *dev = TU_DEV;
  /* the first of equal values, and NaN beats every number */
  clt_scope_begin();
  clt_tensor *t = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(6), (const float[]){1, 3, 3, NAN, 2, NAN});
  tu_assert_values(clt_argmax(t, CLT_DIMS(0), false), 0, NULL, (const double[]){3});
  tu_assert_values(clt_argmin(t, CLT_DIMS(0), false), 0, NULL, (const double[]){3});
  tu_assert_values(clt_argmax(clt_slice(t, 0, 0, 3, 1), CLT_DIMS(0), false), 0, NULL, (const double[]){1});
  tu_assert_values(clt_max(t, CLT_ALL_DIMS, false), 0, NULL, (const double[]){NAN});
  tu_assert_values(clt_sum(t, CLT_ALL_DIMS, false), 0, NULL, (const double[]){NAN});
  /* a 1e5-element argmax needs several passes on a device */
  clt_tensor *big = clt_arange(dev, CLT_FLOAT32, 0, 100000, 1);
  tu_assert_values(clt_argmax(big, CLT_ALL_DIMS, false), 0, NULL, (const double[]){99999});
  tu_assert_values(clt_argmin(big, CLT_DIMS(0), true), 1, (const int64_t[]){1}, (const double[]){0});
  clt_scope_end();
}
END_TEST

/* argmax/argmin over every dim with keepdim keep every dim as size 1, as PyTorch (before: a 0-d
 * result). */
START_TEST(arg_over_all_dims_keeps_every_dim) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_from_host(dev, CLT_INT32, CLT_SHAPE(2, 1, 3), (const int32_t[]){1, 5, 2, 7, 0, 3});
  tu_assert_values(clt_argmax(x, CLT_ALL_DIMS, true), 3, (const int64_t[]){1, 1, 1}, (const double[]){3});
  tu_assert_values(clt_argmin(x, CLT_ALL_DIMS, true), 3, (const int64_t[]){1, 1, 1}, (const double[]){4});
  tu_assert_values(clt_argmax(x, CLT_ALL_DIMS, false), 0, NULL, (const double[]){3});
  tu_assert_values(clt_argmax(clt_transpose(x, 0, 2), CLT_ALL_DIMS, true), 3, (const int64_t[]){1, 1, 1},
                   (const double[]){1}); /* row-major order of the view: [[1,7]],[[5,0]],[[2,3]] */
  tu_assert_values(clt_argmin(x, CLT_DIMS(-1), true), 3, (const int64_t[]){2, 1, 1}, (const double[]){0, 1});
  clt_tensor *s = clt_full(dev, CLT_FLOAT32, 0, NULL, 4);
  tu_assert_values(clt_argmax(s, CLT_ALL_DIMS, true), 0, NULL, (const double[]){0}); /* 0-d stays 0-d */
  ck_assert_ptr_null(clt_argmax(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(0, 3)), CLT_ALL_DIMS, true));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_argmax: argmax over an empty dim has no value");
  /* one dim or all of them: a list of two is no argmax, and a count needs its list */
  ck_assert_ptr_null(clt_argmax(x, CLT_DIMS(0, 2), false));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_argmax: argmax takes one dim or all of them (ndims 0), not ndims 2");
  ck_assert_ptr_null(clt_argmin(x, 1, NULL, false));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_argmin: argmin takes one dim or all of them (ndims 0), not ndims 1 with dims NULL");
  clt_scope_end();
}
END_TEST

/* Float32 sums of 1e7 elements stay within a pairwise sum's error bound of the exact sum (long
 * double here). */
START_TEST(sums_of_ten_million_are_accurate) {
  clt_device *dev = TU_DEV;
  const int64_t n = 10000000;
  clt_scope_begin();
  clt_manual_seed(11);
  clt_tensor *x = clt_rand(dev, CLT_FLOAT32, 1, &n);
  float *v = malloc((size_t)n * sizeof *v);
  ck_assert_int_eq(clt_to_host(x, v, (size_t)n * sizeof *v), CLT_OK);
  long double exact = 0, abs_sum = 0;
  for (int64_t i = 0; i < n; i++) {
    exact += v[i];
    abs_sum += fabsl((long double)v[i]);
  }
  free(v);
  double got;
  ck_assert_int_eq(clt_item(clt_sum(x, CLT_ALL_DIMS, false), &got), CLT_OK);
  /* a pairwise sum's bound, ceil(log2 n) eps sum|x| (n eps sum|x|, a sequential sum's, is 1.19
   * sum|x| here and would pass a sum of 0) */
  double err = fabs(got - (double)exact), bound = ceil(log2((double)n)) * FLT_EPSILON * (double)abs_sum;
  ck_assert_msg(err <= bound, "error %g exceeds ceil(log2 n) eps sum|x| = %g", err, bound);
  double mean;
  ck_assert_int_eq(clt_item(clt_mean(x, CLT_ALL_DIMS, false), &mean), CLT_OK);
  ck_assert_double_eq_tol(mean, (double)(exact / n), 1e-6);
  clt_scope_end();
}
END_TEST

START_TEST(softmax_matches_the_host) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  for (int dt = 0; dt < 2; dt++) {
    clt_tensor *x = input(dev, dt ? CLT_FLOAT64 : CLT_FLOAT32, CLT_SHAPE(3, 7, 5), R_SUM);
    for (int dim = -3; dim < 3; dim++) {
      clt_tensor *xv = clt_transpose(x, 0, 2);
      clt_tensor *h = clt_to(xv, tu_dev[0]);
      double tol = dt ? 1e-12 : 1e-6;
      assert_close_tol(clt_softmax(xv, dim), clt_softmax(h, dim), tol, tol, "softmax");
      assert_close_tol(clt_log_softmax(xv, dim), clt_log_softmax(h, dim), tol, tol, "log_softmax");
    }
  }
  clt_scope_end();
}
END_TEST

/* Rows of up to 64 take the one-launch path (lib/reduce.c: SOFTMAX_ROWS_MAX), longer ones the
 * reductions, but many long contiguous rows on CPU devices the one-launch path again, 16 at a
 * time (kernels/reduce.cl: CLT_SM_VEC_ROW; rows of 1003: a tail of 11), rows of 8 to 31 8 at a
 * time (13: a tail of 5; 5: the scalar path): all, rows of -inf, with +inf and with NaN,
 * strided, against the host. */
START_TEST(softmax_rows_short_and_long) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  static const int64_t lens[] = {1, 5, 8, 13, 64, 65, 200, 1003};
  clt_device_info info;
  ck_assert_int_eq(clt_device_get_info(dev, &info), CLT_OK);
  for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
    for (int dt = 0; dt < 2; dt++) {
      /* 6 rows, and for the longest as many as make CPU devices take the one-launch path (8 per
       * compute unit, lib/reduce.c: softmax_by_rows) */
      int64_t n = lens[li], rows = lens[li] > 1000 ? 8 * (int64_t)info.compute_units + 3 : 6;
      double *v = malloc((size_t)(rows * n) * sizeof *v);
      for (int64_t i = 0; i < rows * n; i++) v[i] = sin((double)i * 0.7) * 5;
      for (int64_t j = 0; j < n; j++) v[j] = -INFINITY; /* row 0: nothing finite */
      v[n + n / 2] = INFINITY;                          /* row 1: an infinity */
      v[2 * n + n - 1] = NAN;                           /* row 2: a NaN */
      v[3 * n] = 1e30;                                  /* row 3: one element far above the rest */
      clt_dtype t = dt ? CLT_FLOAT64 : CLT_FLOAT32;
      clt_tensor *h = clt_cast(clt_from_host(tu_dev[0], CLT_FLOAT64, CLT_SHAPE(rows, n), v), t);
      clt_tensor *x = clt_to(h, dev);
      double tol = dt ? 1e-12 : 1e-6;
      char what[64];
      for (int lg = 0; lg < 2; lg++) {
        clt_tensor *(*fn)(clt_tensor *, int) = lg ? clt_log_softmax : clt_softmax;
        snprintf(what, sizeof what, "%s rows of %lld (%s)", lg ? "log_softmax" : "softmax", (long long)n,
                 clt_dtype_name(t));
        assert_close_tol(fn(x, 1), fn(h, 1), tol, tol, what);
        /* the rows as columns: a strided walk along dim 0 */
        clt_tensor *xt = clt_transpose(clt_contiguous(clt_transpose(x, 0, 1)), 0, 1);
        assert_close_tol(fn(xt, 1), fn(h, 1), tol, tol, what);
      }
      free(v);
    }
  clt_scope_end();
}
END_TEST

START_TEST(softmax_sums_to_one_and_is_stable) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  for (int dt = 0; dt < 2; dt++) {
    clt_tensor *xv = clt_transpose(input(dev, dt ? CLT_FLOAT64 : CLT_FLOAT32, CLT_SHAPE(3, 7, 5), R_SUM), 0, 2);
    for (int dim = -3; dim < 3; dim++) {
      /* rows sum to one, and log_softmax is its log */
      clt_tensor *ones = clt_sum(clt_softmax(xv, dim), CLT_DIMS(dim), false);
      clt_tensor *lse = clt_logsumexp(clt_log_softmax(xv, dim), CLT_DIMS(dim), false);
      double *o = tu_values(ones), *l = tu_values(lse);
      for (int64_t i = 0; i < clt_numel(ones); i++) {
        ck_assert_double_eq_tol(o[i], 1.0, 1e-5);
        ck_assert_double_eq_tol(l[i], 0.0, 1e-5);
      }
      free(o);
      free(l);
    }
  }
  /* huge inputs do not overflow: the max is subtracted first */
  clt_tensor *big = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(1, 3), (const float[]){1000, 1001, 1002});
  clt_tensor *p = clt_softmax(big, 1);
  tu_assert_values(clt_gt_scalar(p, 0), 2, (const int64_t[]){1, 3}, (const double[]){1, 1, 1});
  double lse;
  ck_assert_int_eq(clt_item(clt_logsumexp(big, CLT_ALL_DIMS, false), &lse), CLT_OK);
  ck_assert_double_eq_tol(lse, 1002.4076059644443, 1e-3);
  clt_tensor *neg = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(2), -INFINITY);
  tu_assert_values(clt_logsumexp(neg, CLT_ALL_DIMS, false), 0, NULL, (const double[]){-INFINITY});
  /* integers promote to float32 */
  ck_assert_int_eq(clt_dtype_of(clt_softmax(clt_arange(dev, CLT_INT32, 0, 4, 1), 0)), CLT_FLOAT32);
  clt_scope_end();
}
END_TEST

/* The CPU-shaped kernels' chunking (lib/cl/reduce.c: chunks_for, reduce.cl): a flat length
 * that is no multiple of the chunk (rounded to 64) nor of a vector, rows of an odd length
 * (vector part and tail), columns whose count leaves a tail of 11 for the 16-column kernel
 * and whose rows cross the 64-row chunks, and the transposed input read as columns. Values
 * repeat (ties for the arg ops); a second round puts NaNs into the vector part of one row and
 * of the flat input (a NaN wins max and argmax, the first NaN its index) and an inf into
 * another row. Float32 and float64, against the host. */
START_TEST(chunked_reductions_match_the_host) {
  clt_device *dev = TU_DEV;
  const int64_t n = 300007, rows = 37, cols = 1003;
  for (int dt = 0; dt < 2; dt++)
    for (int nan = 0; nan < 2; nan++) {
      clt_dtype t = dt ? CLT_FLOAT64 : CLT_FLOAT32;
      double *v = malloc((size_t)n * sizeof *v);
      for (int64_t i = 0; i < n; i++) v[i] = (double)((i * 7919) % 1013) / 64.0 - 4.0;
      if (nan) {
        v[5 * cols + 200] = NAN; /* row 5, in its vector part */
        v[5 * cols + 700] = NAN;
        v[9 * cols + 1001] = INFINITY; /* row 9, in its tail */
        v[200003] = NAN;          /* the flat input: after many chunks */
      }
      uint8_t *raw = malloc((size_t)n * 8);
      for (int64_t i = 0; i < n; i++) clt__store_f64(t, raw + (size_t)i * clt_dtype_size(t), v[i]);
      clt_scope_begin();
      clt_tensor *flat = clt_from_host(dev, t, 1, &n, raw);
      clt_tensor *m = clt_from_host(dev, t, CLT_SHAPE(rows, cols), raw);
      clt_tensor *cm = clt_from_host(dev, t, CLT_SHAPE(299, cols), raw);
      clt_tensor *xt = clt_transpose(cm, 0, 1);
      /* 2999 rows of 27: two chunks of 16 columns' kernel, the second of an odd length */
      clt_tensor *tall = clt_from_host(dev, t, CLT_SHAPE(2999, 27), raw);
      struct { clt_tensor *x; int nd, dim; } cases[] = {{flat, 0, 0}, {m, 1, 1}, {cm, 1, 0},  {xt, 1, 1},
                                                        {m, 1, 0},    {tall, 1, 0}};
      for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        clt_tensor *x = cases[c].x, *h = clt_to(x, tu_dev[0]);
        int nd = cases[c].nd, *d = &cases[c].dim;
        double tol = dt ? 1e-12 : 2e-5;
        char what[96];
        snprintf(what, sizeof what, "case %zu (%s, NaNs %d) on %s", c, clt_dtype_name(t), nan, clt_device_spec(dev));
        assert_close_tol(clt_sum(x, nd, d, false), clt_sum(h, nd, d, false), tol, tol * 10, what);
        assert_close_tol(clt_mean(x, nd, d, false), clt_mean(h, nd, d, false), tol, tol, what);
        assert_close_tol(clt_max(x, nd, d, false), clt_max(h, nd, d, false), 0, 0, what);
        assert_close_tol(clt_min(x, nd, d, false), clt_min(h, nd, d, false), 0, 0, what);
        assert_close_tol(clt_argmax(x, nd, d, false), clt_argmax(h, nd, d, false), 0, 0, what);
        assert_close_tol(clt_argmin(x, nd, d, false), clt_argmin(h, nd, d, false), 0, 0, what);
        assert_close_tol(clt_logsumexp(x, nd, d, false), clt_logsumexp(h, nd, d, false), tol, tol, what);
        assert_close_tol(clt_var(x, nd, d, 1, false), clt_var(h, nd, d, 1, false), tol * 10, tol, what);
      }
      clt_scope_end();
      free(raw);
      free(v);
    }
}
END_TEST

/* Column sums of a few hundred rows, a bias gradient's shape (the digits transformer's 512 x
 * 32 .. 128): one pass on OpenCL (lib/cl/reduce.c: CPU_MIN_ROWS_B16), where chunks of 64 rows
 * took a second pass over their partial sums; float32 and float64, against the host. */
START_TEST(bias_gradient_sums_take_one_launch) {
  clt_device *dev = TU_DEV;
  /* the CPU-shaped kernels' count: GPU devices and CLT_KERNEL_VARIANT=gpu take work-group trees */
  const char *variant = getenv("CLT_KERNEL_VARIANT");
  bool cpu_shaped = clt_device_type_of(dev) == CLT_DEVICE_HOST ||
                    (clt_device_type_of(dev) == CLT_DEVICE_CPU && !(variant && strcmp(variant, "gpu") == 0));
  const int64_t cols[] = {32, 96, 128};
  for (int dt = 0; dt < 2; dt++)
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++) {
      clt_scope_begin();
      clt_dtype t = dt ? CLT_FLOAT64 : CLT_FLOAT32;
      clt_tensor *x = input(dev, t, 2, (const int64_t[]){512, cols[c]}, R_SUM), *h = clt_to(x, tu_dev[0]);
      int d0 = 0;
      unsigned long before = atomic_load(&clt__kernel_launches);
      clt_tensor *got = clt_sum(x, 1, &d0, false);
      ck_assert_ptr_nonnull(got);
      ck_assert_msg(!cpu_shaped || atomic_load(&clt__kernel_launches) - before == 1, "512 x %lld %s: %lu launches",
                    (long long)cols[c], clt_dtype_name(t), atomic_load(&clt__kernel_launches) - before);
      char what[64];
      snprintf(what, sizeof what, "512 x %lld %s", (long long)cols[c], clt_dtype_name(t));
      assert_close_tol(got, clt_sum(h, 1, &d0, false), dt ? 1e-12 : 2e-6, 1e-5, what);
      clt_scope_end();
    }
}
END_TEST

START_TEST(empty_and_bad_input) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *e = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2, 0));
  tu_assert_values(clt_sum(e, CLT_DIMS(1), false), 1, (const int64_t[]){2}, (const double[]){0, 0});
  tu_assert_values(clt_prod(e, CLT_DIMS(1), false), 1, (const int64_t[]){2}, (const double[]){1, 1});
  tu_assert_values(clt_mean(e, CLT_DIMS(1), false), 1, (const int64_t[]){2}, (const double[]){NAN, NAN});
  tu_assert_values(clt_sum(e, CLT_DIMS(0), false), 1, (const int64_t[]){0}, NULL);
  ck_assert_ptr_null(clt_max(e, CLT_DIMS(1), false));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_max: max of a tensor of shape [2,0] over an empty dim has no value");
  ck_assert_ptr_null(clt_argmax(e, CLT_DIMS(1), false));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_argmax: argmax over an empty dim has no value");
  clt_tensor *x = clt_ones(dev, CLT_INT32, CLT_SHAPE(2, 3));
  ck_assert_ptr_null(clt_mean(x, CLT_ALL_DIMS, false));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_mean: mean needs a float tensor, not int32");
  ck_assert_ptr_null(clt_sum(x, CLT_DIMS(2), false));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_sum: dim 2 is out of range for a 2-d tensor (expected -2..1)");
  ck_assert_ptr_null(clt_sum(x, CLT_DIMS(1, -1), false));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_sum: dim 1 appears more than once in dims");
  ck_assert_ptr_null(clt_sum(x, 2, NULL, false));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "ndims 2 with dims NULL");
  ck_assert_ptr_null(clt_softmax(x, 5));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_softmax: dim 5 is out of range");
  ck_assert_int_eq(clt_dtype_of(clt_sum(x, CLT_ALL_DIMS, false)), CLT_INT64);
  ck_assert_int_eq(clt_dtype_of(clt_max(x, CLT_ALL_DIMS, false)), CLT_INT32);
  /* 0-d input: dim 0 and -1 are allowed */
  clt_tensor *s = clt_full(dev, CLT_FLOAT64, 0, NULL, 4);
  tu_assert_values(clt_sum(s, CLT_DIMS(0), true), 0, NULL, (const double[]){4});
  tu_assert_values(clt_var(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(1)), CLT_ALL_DIMS, 1, false), 0, NULL,
                   (const double[]){NAN});
  clt_scope_end();
}
END_TEST

START_TEST(check_mode_runs_reductions_twice) {
  clt_scope_begin();
  setenv("CLT_CHECK", "1", 1);
  clt_tensor *x = input(tu_cl(), CLT_FLOAT32, CLT_SHAPE(30, 70), R_SUM);
  ck_assert_ptr_nonnull(clt_var(x, CLT_DIMS(0), 1, false));
  ck_assert_ptr_nonnull(clt_argmax(x, CLT_DIMS(1), false));
  ck_assert_ptr_nonnull(clt_log_softmax(x, 1));
  ck_assert_int_eq(clt_last_status(), CLT_OK);
  unsetenv("CLT_CHECK");
  clt_scope_end();
}
END_TEST

/* ---- var and std over the float32 range ------------------------------------------------- */

static int64_t float_order(float f) {
  int32_t i;
  memcpy(&i, &f, sizeof i);
  return i < 0 ? (int64_t)INT32_MIN - i : i;
}

/* got (float32 results) against want (the float64 reference's, rounded once): within ulp where
 * want is normal or infinite, within sub steps of the smallest subnormal where it is
 * subnormal; the worst ulp and steps into worst. */
static void assert_ulp(const double *got, const double *want, int64_t n, int64_t ulp, int64_t sub, int64_t *worst,
                       const char *what) {
  for (int64_t i = 0; i < n; i++) {
    float g = (float)got[i], w = (float)want[i];
    if (isnan(w) || isnan(g)) {
      ck_assert_msg(isnan(w) && isnan(g), "%s, output %lld: %.9g, want %.9g", what, (long long)i, g, w);
      continue;
    }
    bool s = fabsf(w) < FLT_MIN;
    int64_t d = s ? (int64_t)fabs(((double)g - w) / 0x1p-149) : llabs(float_order(g) - float_order(w));
    if (d > worst[s]) worst[s] = d;
    ck_assert_msg(d <= (s ? sub : ulp), "%s, output %lld: %.9g, want %.9g (%lld %s)", what, (long long)i, g, w,
                  (long long)d, s ? "subnormal steps" : "ulp");
  }
}

/* Float32 var and std on every device against the float64 reference (the host's float64 var
 * and std of the same float32 values, rounded once), over rows scaled by every 4th power of two
 * from 2^-149 to 2^127: alternating signs, mixed values, a large offset with a tiny spread,
 * constants, and magnitudes 2^80 apart in one row; over rows (B = 1) and columns (B > 1); and
 * rows of 4096 (partial sums over chunks). Within 8 ulp where the reference is normal or
 * infinite (var past 3.4e38 is inf), 8 subnormal steps where it is subnormal (measured on PoCL:
 * 1 ulp, 0 steps). Squares of deviations used to overflow past |x| = 1.8e19 (std([1e20, -1e20])
 * was inf) and underflow below 1e-19 (std([1e-30, -1e-30]) was 0) on OpenCL, and rounding the
 * mean to float32 made rows a few ulp apart 3% off on every device. */
START_TEST(var_std_over_the_float32_range) {
  clt_device *dev = TU_DEV;
  static const double pat[5][8] = {
      {1, -1, 1, -1, 1, -1, 1, -1},
      {1, 1.5, -0.25, 0.75, -1.75, 0.5, 1.25, -0.125},
      {1, 1 + 0x1p-20, 1, 1, 1 - 0x1p-21, 1, 1, 1},
      {1, 1, 1, 1, 1, 1, 1, 1},
      {1, 0x1p-40, -0x1p-80, 0, -0x1p-60, 0.5, 0, 0x1p-70},
  };
  int64_t rows = 0, cap = 5 * 80;
  float *v = malloc((size_t)cap * 8 * sizeof *v), *big = malloc(3 * 4096 * sizeof *big);
  ck_assert_ptr_nonnull(v);
  ck_assert_ptr_nonnull(big);
  for (int k = -149; k <= 127; k += 4)
    for (int p = 0; p < 5; p++, rows++)
      for (int j = 0; j < 8; j++) v[rows * 8 + j] = (float)ldexp(pat[p][j], k);
  for (int j = 0; j < 4096; j++) { /* long rows: 1e20, 3e38 and 1e-40 scales */
    double u = (double)((j * 37) % 101) / 50.0 - 1.0;
    big[j] = (float)(1e20 * u);
    big[4096 + j] = (float)(3e38 * u);
    big[2 * 4096 + j] = (float)(1e-40 * u);
  }
  int64_t worst[2] = {0, 0};
  clt_scope_begin();
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(rows, 8), v);
  clt_tensor *xl = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(3, 4096), big);
  clt_tensor *views[3] = {x, clt_transpose(clt_contiguous(clt_transpose(x, 0, 1)), 0, 1), xl};
  const int dims[3] = {1, 1, 1};
  for (int c = 0; c < 3; c++)
    for (int corr = 0; corr < 2; corr++)
      for (int st = 0; st < 2; st++) {
        clt_tensor *h = clt_cast(clt_to(views[c], tu_dev[0]), CLT_FLOAT64);
        clt_tensor *got = st ? clt_std(views[c], 1, &dims[c], corr, false) : clt_var(views[c], 1, &dims[c], corr, false);
        clt_tensor *want = st ? clt_std(h, 1, &dims[c], corr, false) : clt_var(h, 1, &dims[c], corr, false);
        ck_assert_msg(got && want, "%s", clt_last_error());
        double *g = tu_values(got), *w = tu_values(want);
        char what[96];
        snprintf(what, sizeof what, "%s (correction %d) of %s rows on %s", st ? "std" : "var", corr,
                 c == 2 ? "long" : c ? "column-major" : "short", clt_device_spec(dev));
        assert_ulp(g, w, clt_numel(got), 8, 8, worst, what);
        free(g);
        free(w);
      }
  /* the value and the ends of the range, with their gradients, which take the mean as
   * var does (the plain mean of 3e38 and 2e38 overflows) */
  static const float ends[3][2] = {{1e20f, -1e20f}, {1e-30f, -1e-30f}, {3e38f, 2e38f}};
  for (int k = 0; k < 3; k++) {
    clt_tensor *e = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2), ends[k]);
    clt_set_requires_grad(e, true);
    clt_tensor *sd = clt_std(e, CLT_ALL_DIMS, 0, false);
    ck_assert_int_eq(clt_backward(sd, NULL), CLT_OK);
    tu_assert_values(sd, 0, NULL, (const double[]){(float)(((double)ends[k][0] - ends[k][1]) / 2)});
    double *g = tu_values(clt_grad(e));
    ck_assert_msg(fabs(g[0] - 0.5) < 1e-6 && fabs(g[1] + 0.5) < 1e-6, "std's gradient at [%g, %g] on %s: [%.9g, %.9g]",
                  ends[k][0], ends[k][1], clt_device_spec(dev), g[0], g[1]);
    free(g);
  }
  /* float32's var of [1e20, -1e20] is inf, as PyTorch's */
  tu_assert_values(clt_var(clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2), ends[0]), CLT_ALL_DIMS, 0, false), 0, NULL,
                   (const double[]){INFINITY});
  clt_scope_end();
  printf("var and std float32 on %s: at most %lld ulp, %lld subnormal steps from float64\n", clt_device_spec(dev),
         (long long)worst[0], (long long)worst[1]);
  free(v);
  free(big);
}
END_TEST

/* prod's gradient is the product of the other elements of each slice (exclusive prefix times
 * suffix products), on every device, float32 and float64, also where the slice holds zeros,
 * infinities or NaN (prod / x gave NaN at an inf, and inf at 3e38 in [3e38, 0.5, 4] in
 * float32, where the product overflows but the others' does not), over one dim of a matrix,
 * its transpose (a strided walk), two dims around a kept one (the permuted copy) and every dim,
 * with keepdim, and under $CLT_CHECK (the device against the host). Against the products
 * formed here in float64 in slice order, rounded once: NaN for NaN, infinities and zeros
 * exact, else within 8 ulp. */
static void check_prod_grad(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape, const double *v, int nd,
                            const int *dims, bool transpose) {
  clt_scope_begin();
  clt_tensor *base = clt_cast(clt_from_host(dev, CLT_FLOAT64, ndim, shape, v), dt);
  clt_set_requires_grad(base, true);
  clt_tensor *x = transpose ? clt_transpose(base, 0, 1) : base;
  ck_assert_msg(clt_backward(clt_sum(clt_prod(x, nd, dims, true), CLT_ALL_DIMS, false), NULL) == CLT_OK, "%s",
                clt_last_error());
  clt_tensor *g = transpose ? clt_transpose(clt_grad(base), 0, 1) : clt_grad(base);
  double *xv = tu_values(clt_contiguous(x)), *got = tu_values(clt_contiguous(g));
  bool red[CLT_MAX_DIMS] = {false};
  for (int d = 0; d < ndim; d++) red[d] = nd == 0;
  for (int i = 0; i < nd; i++) red[dims[i]] = true;
  int64_t n = clt_numel(x), xs[CLT_MAX_DIMS], st = 1; /* x's row-major strides */
  for (int d = ndim - 1; d >= 0; d--) {
    xs[d] = st;
    st *= clt_shape(x)[d];
  }
  double eps = dt == CLT_FLOAT32 ? 0x1p-23 : 0x1p-52;
  for (int64_t i = 0; i < n; i++) {
    double want = 1;
    for (int64_t j = 0; j < n; j++) { /* j in i's slice: equal coordinates along every kept dim */
      bool same = j != i;
      for (int d = 0; d < ndim && same; d++)
        same = red[d] || (i / xs[d]) % clt_shape(x)[d] == (j / xs[d]) % clt_shape(x)[d];
      if (same) want *= xv[j];
    }
    want = dt == CLT_FLOAT32 ? (double)(float)want : want;
    bool ok = isnan(want)                   ? isnan(got[i])
              : isinf(want) || want == 0 ? got[i] == want
                                         : fabs(got[i] - want) <= 8 * eps * fabs(want);
    ck_assert_msg(ok, "prod's gradient (%s, %s, %d dims%s) on %s, element %lld: %.9g, want %.9g", clt_dtype_name(dt),
                  transpose ? "transposed" : "contiguous", nd ? nd : ndim, nd ? "" : ", all", clt_device_spec(dev),
                  (long long)i, got[i], want);
  }
  free(xv);
  free(got);
  clt_scope_end();
}

START_TEST(prod_gradient_is_the_product_of_the_others) {
  clt_device *dev = TU_DEV;
  static const double rows[8][3] = {{NAN, 1, 2},      {INFINITY, 1, 2},          {-INFINITY, 1, 2},
                                    {0, -0.0, 0},     {INFINITY, -INFINITY, 0}, {-INFINITY, -INFINITY, -INFINITY},
                                    {0, 2, 3},        {3e38, 0.5, 4}};
  double cube[2][3][4];
  for (int i = 0; i < 24; i++) cube[i / 12][i / 4 % 3][i % 4] = i % 7 == 3 ? 0 : i % 11 == 5 ? INFINITY : 0.5 + 0.1 * i;
  const int d1[1] = {1}, d0[1] = {0}, d02[2] = {0, 2};
  for (int check = 0; check < (dev == tu_dev[0] ? 1 : 2); check++) {
    if (check) setenv("CLT_CHECK", "1", 1);
    for (int k = 0; k < 2; k++) {
      clt_dtype dt = k ? CLT_FLOAT64 : CLT_FLOAT32;
      check_prod_grad(dev, dt, 2, (const int64_t[]){8, 3}, &rows[0][0], 1, d1, false);
      check_prod_grad(dev, dt, 2, (const int64_t[]){8, 3}, &rows[0][0], 1, d0, false);
      check_prod_grad(dev, dt, 2, (const int64_t[]){8, 3}, &rows[0][0], 1, d0, true);
      check_prod_grad(dev, dt, 3, (const int64_t[]){2, 3, 4}, &cube[0][0][0], 2, d02, false);
      check_prod_grad(dev, dt, 3, (const int64_t[]){2, 3, 4}, &cube[0][0][0], 0, NULL, false);
    }
    unsetenv("CLT_CHECK");
  }
  ck_assert_int_eq(clt_last_status(), CLT_OK);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("reduce");
  TCase *tc = tu_tcase("reduce");
  TU_VS_HOST(tc, reductions_match_the_host);
  TU_VS_HOST(tc, argmax_argmin_match_the_host);
  TU_VS_HOST(tc, argmax_argmin_long_rows_match_the_host);
  TU_DEVICES(tc, argmax_argmin_known_values);
  TU_DEVICES(tc, arg_over_all_dims_keeps_every_dim);
  TU_DEVICES(tc, sums_of_ten_million_are_accurate);
  TU_VS_HOST(tc, softmax_matches_the_host);
  TU_VS_HOST(tc, softmax_rows_short_and_long);
  TU_DEVICES(tc, softmax_sums_to_one_and_is_stable);
  TU_DEVICES(tc, empty_and_bad_input);
  TU_VS_HOST(tc, chunked_reductions_match_the_host);
  TU_VS_HOST(tc, bias_gradient_sums_take_one_launch);
  if (tu_cl()) tcase_add_test(tc, check_mode_runs_reductions_twice);
  suite_add_tcase(s, tc);
  TCase *num = tu_tcase("reduce_numerics");
  TU_DEVICES(num, var_std_over_the_float32_range);
  TU_DEVICES(num, prod_gradient_is_the_product_of_the_others);
  suite_add_tcase(s, num);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
