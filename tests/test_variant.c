/* The kernel variants (lib/cl/program.c: clt__cl_pick_variant): $CLT_KERNEL_VARIANT picks the
 * CPU- or the GPU-shaped kernels on any OpenCL device, so that PoCL runs both; the GPU-shaped
 * reductions, softmax, cross entropy and tiled copies against the host on shapes that take
 * their several passes, lane layouts and tiles. (tests/meson.build also reruns the suites that
 * launch these kernels with CLT_KERNEL_VARIANT=gpu.) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>

#include "cl/cl_internal.h"
#include "tu.h"

/* The device under test opened again with $CLT_KERNEL_VARIANT = variant (NULL: unset); the
 * caller's value is restored. */
static clt_device *open_with(const char *variant) {
  const char *old = getenv("CLT_KERNEL_VARIANT");
  char *saved = old ? strdup(old) : NULL;
  if (variant) setenv("CLT_KERNEL_VARIANT", variant, 1);
  else unsetenv("CLT_KERNEL_VARIANT");
  clt_device *dev = NULL;
  clt_status st = clt_device_open(clt_device_spec(tu_cl()), &dev);
  if (saved) setenv("CLT_KERNEL_VARIANT", saved, 1);
  else unsetenv("CLT_KERNEL_VARIANT");
  free(saved);
  if (st != CLT_OK) return NULL;
  return dev;
}

static bool has_kernel(clt_device *dev, const char *name) {
  const clt__cl_dev *d = clt__cl(dev);
  for (size_t i = 0; i < d->kernel_cap; i++)
    if (d->kernels[i] && strcmp(d->kernels[i]->name, name) == 0) return true;
  return false;
}

START_TEST(the_switch_picks_the_kernels) {
  struct { const char *env; int gpu; } cases[] = {{NULL, -1}, {"", -1}, {"cpu", 0}, {"gpu", 1}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    clt_device *dev = open_with(cases[c].env);
    ck_assert_msg(dev != NULL, "%s", clt_last_error());
    bool gpu = cases[c].gpu < 0 ? dev->info.type != CLT_DEVICE_CPU : cases[c].gpu == 1;
    ck_assert_int_eq(clt__cl(dev)->gpu_kernels, gpu);
    ck_assert_ptr_nonnull(strstr(clt__cl(dev)->options, gpu ? "-DCLT_GPU=1" : "-DCLT_GPU=0"));
    clt_scope_begin();
    clt_tensor *x = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(300, 70));
    clt_tensor *y = clt_from_host(dev, CLT_INT64, CLT_SHAPE(2), (const int64_t[]){3, 69});
    ck_assert_ptr_nonnull(clt_sum(x, CLT_ALL_DIMS, false));
    ck_assert_ptr_nonnull(clt_softmax(x, 0));
    ck_assert_msg(clt_cross_entropy(clt_slice(x, 0, 0, 2, 1), y, CLT_REDUCTION_SUM) != NULL, "%s", clt_last_error());
    ck_assert_ptr_nonnull(clt_contiguous(clt_transpose(x, 0, 1)));
    ck_assert_int_eq(clt_device_synchronize(dev), CLT_OK);
    ck_assert_int_eq(has_kernel(dev, "reduce_sum_wg"), gpu);
    ck_assert_int_eq(has_kernel(dev, "reduce_sum"), !gpu);
    ck_assert_int_eq(has_kernel(dev, "softmax_apply_b"), gpu);
    ck_assert_int_eq(has_kernel(dev, "ce_fwd_wg_i64"), gpu);
    ck_assert_int_eq(has_kernel(dev, "ce_fwd_i64"), !gpu);
    ck_assert_int_eq(has_kernel(dev, "copy_tiled_4"), gpu);
    ck_assert_int_eq(has_kernel(dev, "copy_strided_4"), !gpu);
    clt_scope_end();
    clt_device_release(dev);
  }
  ck_assert_ptr_null(open_with("vector"));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "CLT_KERNEL_VARIANT", "'vector'", "gpu or cpu");
  clt_clear_error();
}
END_TEST

static void assert_close(clt_tensor *got, clt_tensor *want, double tol, const char *what) {
  ck_assert_msg(got && want, "%s: %s", what, clt_last_error());
  ck_assert_int_eq(clt_dtype_of(got), clt_dtype_of(want));
  ck_assert_int_eq(clt_numel(got), clt_numel(want));
  double *g = tu_values(got), *w = tu_values(want);
  for (int64_t i = 0; i < clt_numel(got); i++)
    ck_assert_msg((isnan(g[i]) && isnan(w[i])) || g[i] == w[i] || fabs(g[i] - w[i]) <= tol * (1 + fabs(w[i])),
                  "%s: element %lld is %.17g, the host's %.17g", what, (long long)i, g[i], w[i]);
  free(g);
  free(w);
}

/* -2 .. 2 in steps of 1/4 with many ties (sums of them are exact in any order), or 0/1 for
 * bool; for products (factors), +-1/2, 1 and 2 (+-1 and 2 for integers), whose products are
 * exact in any order too. */
static clt_tensor *values(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape, bool factors) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  uint8_t *raw = malloc((size_t)n * 8);
  for (int64_t i = 0; i < n; i++) {
    double v = (double)((i * 29 + 7) % 17) / 4.0 - 2.0;
    if (!clt_dtype_is_float(dt)) v = dt == CLT_BOOL ? (double)(i % 3 != 0) : floor(v * 3) + (dt == CLT_UINT8 ? 6 : 0);
    if (factors) v = (clt_dtype_is_float(dt) ? ldexp(1, (int)(i % 3) - 1) : 1 + (i % 3 == 0)) * (i % 7 == 0 ? -1 : 1);
    clt__store_f64(dt, raw + (size_t)i * clt_dtype_size(dt), v);
  }
  clt_tensor *t = clt_from_host(dev, dt, ndim, shape, raw);
  free(raw);
  return t;
}

/* Every reduction over all dims, each dim and two dims, of contiguous, transposed and sliced
 * inputs: [3, 9000, 5] takes two passes on a device of few compute units (chunks of R), and
 * its dims give lanes over r (dim 2), over b (dims 0 and 1) and the x.T case (sA < sR). */
START_TEST(gpu_reductions_match_the_host) {
  clt_device *dev = open_with("gpu"), *host = tu_dev[0];
  ck_assert_msg(dev != NULL, "%s", clt_last_error());
  const clt_dtype dts[] = {CLT_FLOAT32, CLT_FLOAT64, CLT_INT32, CLT_INT64, CLT_UINT8, CLT_BOOL};
  struct { int nd; int dims[2]; } sets[] = {{0, {0}}, {1, {0}}, {1, {1}}, {1, {2}}, {2, {0, 2}}};
  for (size_t t = 0; t < sizeof dts / sizeof *dts; t++) {
    if (dts[t] == CLT_FLOAT64 && !dev->info.fp64) continue;
    clt_scope_begin();
    clt_tensor *x = values(dev, dts[t], CLT_SHAPE(3, 9000, 5), false), *f = values(dev, dts[t], CLT_SHAPE(3, 9000, 5), true);
    clt_tensor *views[3] = {x, clt_transpose(x, 0, 2), clt_slice(x, 1, 1, 9000, 2)};
    clt_tensor *fviews[3] = {f, clt_transpose(f, 0, 2), clt_slice(f, 1, 1, 9000, 2)};
    for (int v = 0; v < 3; v++) {
      clt_tensor *h = clt_to(views[v], host), *fh = clt_to(fviews[v], host);
      bool isf = clt_dtype_is_float(dts[t]);
      double tol = dts[t] == CLT_FLOAT32 ? 1e-5 : 1e-12;
      for (size_t s = 0; s < sizeof sets / sizeof *sets; s++) {
        int nd = sets[s].nd;
        const int *dims = nd ? sets[s].dims : NULL;
        char what[96];
#define CHECK_ON(name, on_dev, on_host, expr_of)                                                         \
  do {                                                                                                  \
    snprintf(what, sizeof what, "%s of %s, view %d, case %d", name, clt_dtype_name(dts[t]), v, (int)s); \
    clt_tensor *X = on_dev;                                                                             \
    clt_tensor *got = expr_of;                                                                          \
    X = on_host;                                                                                        \
    assert_close(got, expr_of, tol, what);                                                              \
  } while (0)
#define CHECK(name, expr_of) CHECK_ON(name, views[v], h, expr_of)
        CHECK("sum", clt_sum(X, nd, dims, false));
        CHECK("max", clt_max(X, nd, dims, true));
        CHECK("min", clt_min(X, nd, dims, false));
        if (dts[t] != CLT_BOOL) CHECK_ON("prod", fviews[v], fh, clt_prod(X, nd, dims, false));
        if (isf) {
          CHECK("mean", clt_mean(X, nd, dims, false));
          CHECK("var", clt_var(X, nd, dims, 1, false));
          CHECK("std", clt_std(X, nd, dims, 0, true));
          CHECK("logsumexp", clt_logsumexp(X, nd, dims, false));
        }
      }
      for (int s = -1; s < 3; s++) {
        char what[96];
        int nd = s < 0 ? 0 : 1; /* s -1 stands for all dims */
        CHECK("argmax", clt_argmax(X, nd, &s, false));
        CHECK("argmin", clt_argmin(X, nd, &s, true));
      }
#undef CHECK
#undef CHECK_ON
    }
    clt_scope_end();
  }
  clt_device_release(dev);
}
END_TEST

/* The first of equal values and the first NaN win across lanes, chunks and passes: 20000
 * elements of 1, a 2 at 7000 and 15000 (argmax 7000), a 0 at 9000 and 19999 (argmin 9000), and
 * with NaN at 12000 and 3000 both take 3000. */
START_TEST(gpu_arg_ops_keep_the_first) {
  clt_device *dev = open_with("gpu");
  ck_assert_msg(dev != NULL, "%s", clt_last_error());
  float *v = malloc(20000 * sizeof *v);
  for (int i = 0; i < 20000; i++) v[i] = 1;
  v[7000] = v[15000] = 2;
  v[9000] = v[19999] = 0;
  clt_scope_begin();
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(20000), v);
  tu_assert_values(clt_argmax(x, CLT_DIMS(0), false), 0, NULL, (const double[]){7000});
  tu_assert_values(clt_argmin(x, CLT_DIMS(0), false), 0, NULL, (const double[]){9000});
  tu_assert_values(clt_argmax(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(20000)), CLT_DIMS(0), false), 0, NULL, (const double[]){0});
  v[12000] = v[3000] = NAN;
  x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(20000), v);
  tu_assert_values(clt_argmax(x, CLT_DIMS(0), false), 0, NULL, (const double[]){3000});
  tu_assert_values(clt_argmin(x, CLT_DIMS(0), false), 0, NULL, (const double[]){3000});
  tu_assert_values(clt_max(x, CLT_ALL_DIMS, false), 0, NULL, (const double[]){NAN});
  /* down columns: the same values as 4 columns of 5000 */
  x = clt_reshape(clt_transpose(clt_reshape(x, CLT_SHAPE(4, 5000)), 0, 1), CLT_SHAPE(5000, 4));
  tu_assert_values(clt_argmax(x, CLT_DIMS(0), false), 1, (const int64_t[]){4}, (const double[]){3000, 2000, 2000, 0});
  clt_scope_end();
  free(v);
  clt_device_release(dev);
}
END_TEST

/* softmax and log_softmax along each dim (rows of 33, 300 and 7; dim 0 and 1 take the kernel
 * along b), of a transposed input too, and cross entropy with 1, 10 and 1000 classes (rows of
 * 1, 16 and 256 lanes), with its gradient, each against the host. */
START_TEST(gpu_softmax_and_cross_entropy_match_the_host) {
  clt_device *dev = open_with("gpu"), *host = tu_dev[0];
  ck_assert_msg(dev != NULL, "%s", clt_last_error());
  clt_scope_begin();
  clt_manual_seed(5);
  clt_tensor *x = clt_mul_scalar(clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(7, 300, 33)), 4);
  clt_tensor *views[2] = {x, clt_transpose(x, 0, 2)};
  for (int v = 0; v < 2; v++)
    for (int d = 0; d < 3; d++) {
      clt_tensor *h = clt_to(views[v], host);
      char what[64];
      snprintf(what, sizeof what, "softmax, view %d, dim %d", v, d);
      assert_close(clt_softmax(views[v], d), clt_softmax(h, d), 1e-5, what);
      snprintf(what, sizeof what, "log_softmax, view %d, dim %d", v, d);
      assert_close(clt_log_softmax(views[v], d), clt_log_softmax(h, d), 1e-5, what);
    }
  const int64_t classes[] = {1, 10, 1000};
  for (int c = 0; c < 3; c++)
    for (int it = 0; it < 2; it++) {
      int64_t n = 37, C = classes[c];
      clt_tensor *logits = clt_mul_scalar(clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(n, C)), 3);
      clt_tensor *labels = clt_cast(clt_mul_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(n)), (double)C - 0.01),
                                    it ? CLT_INT64 : CLT_INT32);
      clt_tensor *lh = clt_to(logits, host), *yh = clt_to(labels, host);
      clt_set_requires_grad(logits, true);
      clt_set_requires_grad(lh, true);
      clt_tensor *loss = clt_cross_entropy(logits, labels, CLT_REDUCTION_NONE);
      clt_tensor *want = clt_cross_entropy(lh, yh, CLT_REDUCTION_NONE);
      char what[64];
      snprintf(what, sizeof what, "cross entropy, %lld classes, %s labels", (long long)C, it ? "int64" : "int32");
      assert_close(loss, want, 1e-5, what);
      ck_assert_int_eq(clt_backward(clt_sum(loss, CLT_ALL_DIMS, false), NULL), CLT_OK);
      ck_assert_int_eq(clt_backward(clt_sum(want, CLT_ALL_DIMS, false), NULL), CLT_OK);
      assert_close(clt_grad(logits), clt_grad(lh), 1e-5, what);
    }
  clt_scope_end();
  clt_device_release(dev);
}
END_TEST

/* Copies of transposes and permutes through tiles (sizes off the 32 x 32 tile, planes in one
 * and two dims, 1-, 4- and 8-byte elements) equal the host's, element for element. */
START_TEST(tiled_copies_match_the_host) {
  clt_device *dev = open_with("gpu"), *host = tu_dev[0];
  ck_assert_msg(dev != NULL, "%s", clt_last_error());
  const clt_dtype dts[] = {CLT_UINT8, CLT_INT32, CLT_INT64};
  for (size_t t = 0; t < 3; t++) {
    clt_scope_begin();
    clt_tensor *a = values(dev, dts[t], CLT_SHAPE(70, 45), false), *b = values(dev, dts[t], CLT_SHAPE(3, 40, 37, 5), false);
    clt_tensor *views[4] = {clt_transpose(a, 0, 1), clt_permute(b, CLT_DIMS(2, 0, 3, 1)), clt_permute(b, CLT_DIMS(3, 1, 2, 0)),
                            clt_transpose(clt_slice(a, 0, 3, 70, 2), 0, 1)};
    for (int v = 0; v < 4; v++) {
      char what[64];
      snprintf(what, sizeof what, "contiguous copy of view %d, %s", v, clt_dtype_name(dts[t]));
      assert_close(clt_contiguous(views[v]), clt_contiguous(clt_to(views[v], host)), 0, what);
    }
    ck_assert(has_kernel(dev, dts[t] == CLT_UINT8 ? "copy_tiled_1" : dts[t] == CLT_INT32 ? "copy_tiled_4" : "copy_tiled_8"));
    clt_scope_end();
  }
  clt_device_release(dev);
}
END_TEST

/* A pass that cannot get its partials' buffer releases the previous pass's partials: a sum of
 * 3e5 elements takes three passes with the CPU-shaped kernels on PoCL (two with the GPU-shaped
 * ones), and every OpenCL call of it fails once in turn. Before, the second pass's failed
 * allocation kept the first pass's partials for good. */
START_TEST(a_failed_pass_releases_the_partials) {
  for (int v = 0; v < 2; v++) {
    clt_device *dev = open_with(v ? "gpu" : "cpu");
    ck_assert_msg(dev != NULL, "%s", clt_last_error());
    clt_tensor *x = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(300000));
    clt_release(clt_sum(x, CLT_ALL_DIMS, false)); /* builds the kernels */
    ck_assert_int_eq(clt_device_synchronize(dev), CLT_OK);
    clt_device_empty_cache(dev);
    clt__fault_reset();
    clt_release(clt_sum(x, CLT_ALL_DIMS, false));
    long points = clt__fault_count(), failed = 0;
    for (long n = 1; n <= points; n++) {
      clt_device_empty_cache(dev);
      long before[CLT__LIVE_COUNT], after[CLT__LIVE_COUNT];
      for (int k = 0; k < CLT__LIVE_COUNT; k++) before[k] = atomic_load(&clt__live[k]);
      clt__fault_reset();
      clt__fault_arm(n, -4 /* CL_MEM_OBJECT_ALLOCATION_FAILURE */);
      clt_tensor *r = clt_sum(x, CLT_ALL_DIMS, false);
      failed += r == NULL;
      clt__fault_reset();
      clt_release(r);
      clt_clear_error();
      clt_device_empty_cache(dev);
      for (int k = 0; k < CLT__LIVE_COUNT; k++) after[k] = atomic_load(&clt__live[k]);
      for (int k = 0; k < CLT__LIVE_COUNT; k++)
        ck_assert_msg(after[k] == before[k], "%s kernels, fault %ld of %ld: live %s went %ld -> %ld", v ? "gpu" : "cpu",
                      n, points, tu_live_name(k), before[k], after[k]);
    }
    ck_assert_int_gt(failed, 0);
    clt_release(x);
    clt_device_release(dev);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("variant");
  TCase *tc = tu_tcase("variant");
  if (tu_cl()) {
    tcase_add_test(tc, the_switch_picks_the_kernels);
    tcase_add_test(tc, gpu_reductions_match_the_host);
    tcase_add_test(tc, gpu_arg_ops_keep_the_first);
    tcase_add_test(tc, gpu_softmax_and_cross_entropy_match_the_host);
    tcase_add_test(tc, tiled_copies_match_the_host);
    tcase_add_test(tc, a_failed_pass_releases_the_partials);
  }
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
