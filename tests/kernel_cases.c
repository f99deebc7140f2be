/* Reduction and gradient kernels on small shapes, each checked against the host device: the
 * workload tools/oclgrind.sh runs under Oclgrind (--data-races --uninitialized --check-api),
 * small enough for its interpreter. Exit status 0 when every case matches the host. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "clt.h"

static int failures;

static bool same_shape_and_dtype(const clt_tensor *a, const clt_tensor *b) {
  if (clt_dtype_of(a) != clt_dtype_of(b) || clt_ndim(a) != clt_ndim(b)) return false;
  for (int d = 0; d < clt_ndim(a); d++)
    if (clt_shape(a)[d] != clt_shape(b)[d]) return false;
  return true;
}

static void compare(const char *what, clt_tensor *got, clt_tensor *want) {
  if (!got || !want) {
    printf("FAIL %s: %s\n", what, clt_last_error());
    failures++;
    clt_clear_error();
    return;
  }
  if (!same_shape_and_dtype(got, want)) {
    printf("FAIL %s: %d dims of %s against the host's %d of %s\n", what, clt_ndim(got), clt_dtype_name(clt_dtype_of(got)),
           clt_ndim(want), clt_dtype_name(clt_dtype_of(want)));
    failures++;
    return;
  }
  int64_t n = clt_numel(want);
  double *g = malloc(sizeof(double) * (size_t)(n ? n : 1)), *w = malloc(sizeof(double) * (size_t)(n ? n : 1));
  clt_tensor *gd = clt_cast(got, CLT_FLOAT64), *wd = clt_cast(want, CLT_FLOAT64);
  int bad = -2;
  if (g && w && gd && wd && clt_to_host(gd, g, sizeof(double) * (size_t)n) == CLT_OK &&
      clt_to_host(wd, w, sizeof(double) * (size_t)n) == CLT_OK) {
    bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
      if (!(fabs(g[i] - w[i]) <= 1e-4 + 1e-4 * fabs(w[i])) && !(isnan(g[i]) && isnan(w[i]))) bad = (int)i;
  }
  if (bad != -1) {
    printf("FAIL %s: %s\n", what, bad == -2 ? "cannot read the results" : "differs from the host");
    failures++;
  }
  free(g);
  free(w);
  clt_release(gd);
  clt_release(wd);
}

/* Gradients of a small graph on dev and on the host. */
static void grads(const char *what, clt_device *dev, clt_device *host, int kind) {
  clt_scope_begin();
  clt_manual_seed(7);
  clt_tensor *x[2] = {clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(6, 9)), NULL};
  clt_tensor *y = clt_from_host(dev, CLT_INT64, CLT_SHAPE(6), (const int64_t[]){0, 3, 8, 1, 1, 5});
  clt_tensor *wt = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(9, 4));
  clt_tensor *xs[2][2];
  for (int side = 0; side < 2; side++) {
    clt_device *d = side ? host : dev;
    clt_tensor *a = side ? clt_to(x[0], host) : x[0], *w = side ? clt_to(wt, host) : wt, *t = side ? clt_to(y, host) : y;
    clt_set_requires_grad(a, true);
    clt_set_requires_grad(w, true);
    clt_tensor *out;
    switch (kind) {
      case 0: out = clt_cross_entropy(a, t, CLT_REDUCTION_MEAN); break;
      case 1: out = clt_sum(clt_mul(clt_softmax(a, 1), clt_tanh(a)), CLT_ALL_DIMS, false); break;
      case 2: out = clt_mean(clt_square(clt_matmul(clt_relu(a), w)), CLT_ALL_DIMS, false); break;
      case 3: out = clt_sum(clt_var(clt_exp(clt_transpose(a, 0, 1)), CLT_DIMS(1), 1, false), CLT_ALL_DIMS, false); break;
      case 4: out = clt_sum(clt_logsumexp(clt_div(a, clt_add_scalar(clt_abs(a), 1)), CLT_DIMS(0), false), CLT_ALL_DIMS, false); break;
      case 5: /* the four norms over a [6, 9] */
        out = clt_sum(clt_mul(clt_tanh(a), clt_add(clt_add(clt_batch_norm(a, NULL, NULL, NULL, NULL, true, 0.1, -1),
                                                           clt_group_norm(a, 3, NULL, NULL, -1)),
                                                   clt_add(clt_layer_norm(a, CLT_SHAPE(9), NULL, NULL, -1),
                                                           clt_rms_norm(a, CLT_SHAPE(9), NULL, -1)))),
                      CLT_ALL_DIMS, false);
        break;
      default: { /* affine group norm: weight and bias from w's first 18 values */
        clt_tensor *f = clt_flatten(w, 0, 1);
        clt_tensor *gn = clt_group_norm(a, 3, clt_slice(f, 0, 0, 9, 1), clt_slice(f, 0, 9, 18, 1), -1);
        out = clt_sum(clt_mul(gn, clt_sin(a)), CLT_ALL_DIMS, false);
      }
    }
    if (!out || clt_backward(out, NULL) != CLT_OK) {
      printf("FAIL %s: %s\n", what, clt_last_error());
      failures++;
      clt_clear_error();
      clt_scope_end();
      return;
    }
    (void)d;
    xs[side][0] = clt_grad(a);
    xs[side][1] = clt_grad(w);
  }
  compare(what, xs[0][0], xs[1][0]);
  if (kind == 2 || kind == 6) compare(what, xs[0][1], xs[1][1]);
  clt_scope_end();
}

int main(void) {
  clt_device *dev, *host;
  if (clt_device_open("cl", &dev) != CLT_OK || clt_device_open("host", &host) != CLT_OK) {
    printf("FAIL open: %s\n", clt_last_error());
    return 1;
  }
  clt_scope_begin();
  clt_manual_seed(3);
  clt_tensor *base[2] = {clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(3, 40, 5)), clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(2, 3, 43))};
  clt_tensor *views[4] = {base[0], clt_permute(base[0], CLT_DIMS(2, 0, 1)), clt_slice(base[0], 1, 3, 40, 3), base[1]};
  struct { int nd; int dims[2]; } sets[] = {{0, {0}}, {1, {0}}, {1, {1}}, {1, {2}}, {2, {0, 2}}};
  for (int v = 0; v < 4; v++) {
    clt_tensor *h = clt_to(views[v], host);
    for (size_t s = 0; s < sizeof sets / sizeof *sets; s++) {
      int nd = sets[s].nd;
      const int *dims = nd ? sets[s].dims : NULL;
      char what[96];
#define CASE(name, k, expr_dev, expr_host)                                 \
  snprintf(what, sizeof what, "%s, view %d, case %d", name, v, (int)(k)); \
  compare(what, expr_dev, expr_host)
      CASE("sum", s, clt_sum(views[v], nd, dims, false), clt_sum(h, nd, dims, false));
      CASE("max", s, clt_max(views[v], nd, dims, false), clt_max(h, nd, dims, false));
      CASE("var", s, clt_var(views[v], nd, dims, 1, false), clt_var(h, nd, dims, 1, false));
      CASE("logsumexp", s, clt_logsumexp(views[v], nd, dims, false), clt_logsumexp(h, nd, dims, false));
    }
    for (int d = 0; d < 3; d++) {
      char what[96];
      CASE("softmax", d, clt_softmax(views[v], d), clt_softmax(h, d));
      CASE("argmax", d, clt_argmax(views[v], 1, &d, false), clt_argmax(h, 1, &d, false));
    }
  }
  /* 5200 elements: two passes of the GPU-shaped reductions on a device of one compute unit */
  clt_tensor *big = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(2, 2600)), *bh = clt_to(big, host);
  compare("sum of 5200", clt_sum(big, CLT_ALL_DIMS, false), clt_sum(bh, CLT_ALL_DIMS, false));
  compare("var of 5200", clt_var(big, CLT_ALL_DIMS, 1, false), clt_var(bh, CLT_ALL_DIMS, 1, false));
  compare("argmax of 5200", clt_argmax(big, CLT_ALL_DIMS, false), clt_argmax(bh, CLT_ALL_DIMS, false));
  compare("min of rows of 2600", clt_min(big, CLT_DIMS(1), false), clt_min(bh, CLT_DIMS(1), false));
  /* the CPU-shaped kernels' vector paths and chunks (lib/cl/reduce.c): 9000 elements in two
   * chunks of whole vectors and a tail; sums down 37 columns (16-column work-items and a tail
   * of 5) in two chunks of 65 rows; rows of 50 (16-lane vectors and a tail) with a NaN, for
   * max, argmax and softmax (20 rows: the one-launch path on a CPU device) */
  clt_tensor *flat = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(9000)), *fh = clt_to(flat, host);
  compare("sum of 9000", clt_sum(flat, CLT_ALL_DIMS, false), clt_sum(fh, CLT_ALL_DIMS, false));
  compare("argmin of 9000", clt_argmin(flat, CLT_ALL_DIMS, false), clt_argmin(fh, CLT_ALL_DIMS, false));
  clt_tensor *cols = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(130, 37)), *ch = clt_to(cols, host);
  compare("sum of 37 columns", clt_sum(cols, CLT_DIMS(0), false), clt_sum(ch, CLT_DIMS(0), false));
  float rows[20 * 50];
  for (int i = 0; i < 20 * 50; i++) rows[i] = (float)((i * 37) % 23) - 11.0f;
  rows[3 * 50 + 20] = NAN;
  clt_tensor *rw = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(20, 50), rows), *rh = clt_to(rw, host);
  compare("max of rows of 50", clt_max(rw, CLT_DIMS(1), false), clt_max(rh, CLT_DIMS(1), false));
  compare("argmax of rows of 50", clt_argmax(rw, CLT_DIMS(1), false), clt_argmax(rh, CLT_DIMS(1), false));
  compare("softmax of rows of 50", clt_softmax(rw, 1), clt_softmax(rh, 1));
  compare("log_softmax of rows of 50", clt_log_softmax(rw, 1), clt_log_softmax(rh, 1));
  clt_tensor *lab = clt_from_host(dev, CLT_INT64, CLT_SHAPE(20), (const int64_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 40,
                                                                                  41, 42, 43, 44, 45, 46, 47, 48, 49});
  compare("cross entropy of rows of 50", clt_cross_entropy(rw, lab, CLT_REDUCTION_NONE),
          clt_cross_entropy(rh, clt_to(lab, host), CLT_REDUCTION_NONE));
  static const char *gname[] = {"cross entropy grad", "softmax * tanh grad", "matmul relu grad", "var of exp grad",
                                 "logsumexp of a/(|a|+1) grad", "the four norms' grad", "affine group norm grad"};
  for (int k = 0; k < 7; k++) grads(gname[k], dev, host, k);
  clt_scope_end();
  clt_device_release(dev);
  clt_device_release(host);
  printf("%s: %d failures\n", failures ? "FAIL" : "ok", failures);
  return failures ? 1 : 0;
}
