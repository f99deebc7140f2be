/* The dispatch door (lib/dispatch.h): under $CLT_CHECK=1 every compute entry of a backend's
 * table is rerun on the reference backend and compared, on every device whose table is not the
 * reference one; a wrong result planted in any entry through the table is caught and named; the
 * door is a fault point; a backend's failure is told with the op and the device. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>

#include "dispatch.h"
#include "ew.h"
#include "tu.h"

/* ---- a table that plants a wrong result ------------------------------------------------- */

/* The device's own table, and the copy of it the test installs: not the reference (so that the
 * door checks it, also on the host), with one entry replaced by a wrapper that calls the real
 * entry and then spoils the first element of its result. */
static const clt__backend *real;
static clt__backend planted;

/* Element off (dtype dt) of st made wrong, through the real table. */
static clt_status spoil(clt_device *dev, const clt__storage *st, int64_t off, clt_dtype dt) {
  uint8_t b[8];
  size_t es = clt_dtype_size(dt);
  clt_status s = real->read(dev, st, (size_t)off * es, b, es);
  if (s != CLT_OK) return s;
  double v = clt__load_f64(dt, b);
  clt__store_f64(dt, b, dt == CLT_BOOL ? (v == 0) : v == 7 ? 3 : 7);
  return real->write(dev, (clt__storage *)st, (size_t)off * es, b, es);
}

/* The dtype of an element of esize bytes, compared exactly. */
static clt_dtype exact_dtype(size_t esize) { return esize == 1 ? CLT_UINT8 : esize == 4 ? CLT_INT32 : CLT_INT64; }

static clt_status bad_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  clt_status s = real->ew(dev, p, it, st);
  return s == CLT_OK ? spoil(dev, st[0], it->offset[0], clt__ew_prog_out_dtype(p)) : s;
}
static clt_status bad_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                           const clt__storage *src, clt_dtype sdt) {
  clt_status s = real->cast(dev, it, dst, ddt, src, sdt);
  return s == CLT_OK ? spoil(dev, dst, it->offset[0], ddt) : s;
}
static clt_status bad_copy(clt_device *dev, const clt__iter *it, clt__storage *dst, const clt__storage *src,
                           size_t esize) {
  clt_status s = real->copy(dev, it, dst, src, esize);
  return s == CLT_OK ? spoil(dev, dst, it->offset[0], exact_dtype(esize)) : s;
}
static clt_status bad_fill(clt_device *dev, const clt__iter *it, clt__storage *dst, size_t esize, const void *value) {
  clt_status s = real->fill(dev, it, dst, esize, value);
  return s == CLT_OK ? spoil(dev, dst, it->offset[0], exact_dtype(esize)) : s;
}
static clt_status bad_rand(clt_device *dev, clt__storage *dst, int64_t off, int64_t n, clt_dtype dt, uint64_t seed,
                           uint64_t counter) {
  clt_status s = real->rand_uniform(dev, dst, off, n, dt, seed, counter);
  return s == CLT_OK ? spoil(dev, dst, off, dt) : s;
}
static clt_status bad_reduce(clt_device *dev, const clt__reduce_args *r) {
  clt_status s = real->reduce(dev, r);
  if (s != CLT_OK) return s;
  return r->out ? spoil(dev, r->out, r->out_off, r->odt) : spoil(dev, r->idx, r->idx_off, CLT_INT64);
}
static clt_status bad_softmax(clt_device *dev, const clt__softmax_args *a) {
  clt_status s = real->softmax(dev, a);
  return s == CLT_OK ? spoil(dev, a->out, a->out_off, a->dt) : s;
}
static clt_status bad_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                             const clt__storage *index, clt_dtype dt, clt_dtype idt) {
  clt_status s = real->gather(dev, it, dim, out, x, index, dt, idt);
  return s == CLT_OK ? spoil(dev, out, it->offset[0], dt) : s;
}
static clt_status bad_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                                  const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt) {
  clt_status s = real->scatter_add(dev, it, dim, out, index, src, dt, idt);
  return s == CLT_OK ? spoil(dev, out, 0, dt) : s;
}
static clt_status bad_gemm(clt_device *dev, const clt__gemm_args *g) {
  clt_status s = real->gemm(dev, g);
  return s == CLT_OK ? spoil(dev, g->c, g->c_off, g->dt) : s;
}
static clt_status bad_ce_fwd(clt_device *dev, const clt__ce_args *a) {
  clt_status s = real->ce_fwd(dev, a);
  return s == CLT_OK ? spoil(dev, a->loss, 0, a->dt) : s;
}
static clt_status bad_ce_bwd(clt_device *dev, const clt__ce_args *a) {
  clt_status s = real->ce_bwd(dev, a);
  return s == CLT_OK ? spoil(dev, a->out, 0, a->dt) : s;
}
static clt_status bad_optim_step(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                                 int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2) {
  clt_status s = real->optim_step(dev, hp, dt, n, p, po, g, go, s1, s2);
  return s == CLT_OK ? spoil(dev, p, po, dt) : s;
}
static clt_status bad_norm_fwd(clt_device *dev, const clt__norm_args *a) {
  clt_status s = real->norm_fwd(dev, a);
  return s == CLT_OK ? spoil(dev, a->y, 0, a->dt) : s;
}
/* The running mean, which the forward updates in place (its own span of the check). */
static clt_status bad_norm_running(clt_device *dev, const clt__norm_args *a) {
  clt_status s = real->norm_fwd(dev, a);
  return s == CLT_OK && a->rm && !a->fixed ? spoil(dev, a->rm, a->rm_off + a->rm_stride, a->dt) : s;
}
static clt_status bad_norm_bwd(clt_device *dev, const clt__norm_args *a) {
  clt_status s = real->norm_bwd(dev, a);
  return s == CLT_OK && a->dw ? spoil(dev, a->dw, 0, a->dt) : s;
}
/* The windows' values (im2col's columns, col2im's image, max pooling's largest elements and
 * its gradient), or max pooling's indices. */
static clt_status bad_windows(clt_device *dev, const clt__win_args *a) {
  clt_status s = real->windows(dev, a);
  return s == CLT_OK ? spoil(dev, a->y, 0, a->dt) : s;
}
/* Only the windows' gradients (col2im, max pooling's), so that the forward passes. */
static clt_status bad_window_grads(clt_device *dev, const clt__win_args *a) {
  clt_status s = real->windows(dev, a);
  return s == CLT_OK && (a->kind == CLT__WIN_COL2IM || a->kind == CLT__WIN_MAX_BWD) ? spoil(dev, a->y, 0, a->dt) : s;
}
static clt_status bad_window_indices(clt_device *dev, const clt__win_args *a) {
  clt_status s = real->windows(dev, a);
  return s == CLT_OK && a->yi ? spoil(dev, a->yi, 0, CLT_INT64) : s;
}

/* ---- one public call per entry ---------------------------------------------------------- */

/* An r x c matrix of values in [-2, 2] (none of them 7), written from the host: no entry of the
 * table makes it. */
static clt_tensor *mat(clt_device *dev, int64_t r, int64_t c) {
  float v[64];
  for (int64_t i = 0; i < r * c && i < 64; i++) v[i] = 2.0f * sinf((float)i);
  return clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(r, c), v);
}

static clt_status run_exp(clt_device *dev) { return clt_exp(mat(dev, 3, 4)) ? CLT_OK : clt_last_status(); }
static clt_status run_cast(clt_device *dev) {
  return clt_cast(mat(dev, 3, 4), CLT_INT32) ? CLT_OK : clt_last_status();
}
static clt_status run_copy(clt_device *dev) {
  return clt_contiguous(clt_transpose(mat(dev, 3, 4), 0, 1)) ? CLT_OK : clt_last_status();
}
static clt_status run_fill(clt_device *dev) {
  return clt_full(dev, CLT_FLOAT32, CLT_SHAPE(2, 5), 2.5) ? CLT_OK : clt_last_status();
}
static clt_status run_rand(clt_device *dev) {
  return clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(40)) ? CLT_OK : clt_last_status();
}
static clt_status run_sum(clt_device *dev) {
  return clt_sum(mat(dev, 3, 4), CLT_DIMS(1), false) ? CLT_OK : clt_last_status();
}
static clt_status run_argmax(clt_device *dev) {
  return clt_argmax(mat(dev, 3, 4), CLT_DIMS(1), false) ? CLT_OK : clt_last_status();
}
static clt_status run_softmax(clt_device *dev) {
  return clt_softmax(mat(dev, 3, 4), 1) ? CLT_OK : clt_last_status();
}
static clt_tensor *rows(clt_device *dev) {
  return clt_from_host(dev, CLT_INT64, CLT_SHAPE(3, 2), (const int64_t[]){0, 3, 1, 1, 2, 0});
}
static clt_status run_gather(clt_device *dev) {
  return clt_gather(mat(dev, 3, 4), 1, rows(dev)) ? CLT_OK : clt_last_status();
}
static clt_status run_scatter_add(clt_device *dev) {
  return clt_scatter_add(mat(dev, 3, 4), 1, rows(dev), mat(dev, 3, 2)) ? CLT_OK : clt_last_status();
}
static clt_status run_matmul(clt_device *dev) {
  return clt_matmul(mat(dev, 3, 4), mat(dev, 4, 5)) ? CLT_OK : clt_last_status();
}
static clt_tensor *labels(clt_device *dev) { return clt_from_host(dev, CLT_INT64, CLT_SHAPE(3), (const int64_t[]){2, 0, 3}); }
static clt_status run_cross_entropy(clt_device *dev) {
  return clt_cross_entropy(mat(dev, 3, 4), labels(dev), CLT_REDUCTION_NONE) ? CLT_OK : clt_last_status();
}
static clt_status run_cross_entropy_backward(clt_device *dev) {
  clt_tensor *x = mat(dev, 3, 4);
  clt_set_requires_grad(x, true);
  clt_tensor *loss = clt_cross_entropy(x, labels(dev), CLT_REDUCTION_SUM);
  return loss ? clt_backward(loss, NULL) : clt_last_status();
}
static clt_status run_adam(clt_device *dev) {
  clt_tensor *w = mat(dev, 3, 4);
  clt_set_requires_grad(w, true);
  clt_status s = clt_backward(clt_sum(clt_mul(w, w), CLT_ALL_DIMS, false), NULL);
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  clt_optim *o = NULL;
  if (s == CLT_OK) s = clt_optim_create(&cfg, 1, &w, &o);
  if (s == CLT_OK) s = clt_optim_step(o);
  clt_optim_release(o);
  return s;
}

static clt_status run_layer_norm(clt_device *dev) {
  return clt_layer_norm(mat(dev, 3, 4), CLT_SHAPE(4), NULL, NULL, -1) ? CLT_OK : clt_last_status();
}
static clt_status run_batch_norm(clt_device *dev) {
  clt_tensor *rm = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(4)), *rv = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(4));
  return clt_batch_norm(mat(dev, 3, 4), rm, rv, NULL, NULL, true, 0.1, -1) ? CLT_OK : clt_last_status();
}
static clt_status run_group_norm_backward(clt_device *dev) {
  clt_tensor *w = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(4));
  clt_set_requires_grad(w, true);
  clt_tensor *y = clt_group_norm(mat(dev, 3, 4), 2, w, NULL, -1);
  return y ? clt_backward(clt_sum(clt_mul(y, mat(dev, 3, 4)), CLT_ALL_DIMS, false), NULL) : clt_last_status();
}

/* A [1, c, h, w] image of mat's values. */
static clt_tensor *image(clt_device *dev, int64_t c, int64_t h, int64_t w) {
  return clt_reshape(mat(dev, c, h * w), CLT_SHAPE(1, c, h, w));
}
static clt_status run_unfold(clt_device *dev) {
  return clt_unfold(image(dev, 2, 4, 4), 3, 3, NULL) ? CLT_OK : clt_last_status();
}
/* conv2d's columns are laid out for one product over the batch (lib/backend.h: cols_cn) */
static clt_tensor *conv(clt_device *dev, bool grad) {
  clt_tensor *x = clt_reshape(mat(dev, 4, 8), CLT_SHAPE(2, 1, 4, 4));
  if (grad) clt_set_requires_grad(x, true);
  return clt_conv2d(x, clt_reshape(mat(dev, 2, 9), CLT_SHAPE(2, 1, 3, 3)), NULL, &(clt_conv2d_opts){.padding = {1, 1}});
}
static clt_status run_conv2d(clt_device *dev) { return conv(dev, false) ? CLT_OK : clt_last_status(); }
static clt_status run_conv2d_backward(clt_device *dev) {
  clt_tensor *y = conv(dev, true);
  return y ? clt_backward(clt_sum(clt_mul(y, y), CLT_ALL_DIMS, false), NULL) : clt_last_status();
}
static clt_status run_max_pool2d(clt_device *dev) {
  return clt_max_pool2d(image(dev, 2, 4, 4), 2, 2, NULL) ? CLT_OK : clt_last_status();
}
static clt_status run_max_pool2d_backward(clt_device *dev) {
  clt_tensor *x = image(dev, 2, 4, 4);
  clt_set_requires_grad(x, true);
  clt_tensor *y = clt_max_pool2d(x, 2, 2, NULL);
  return y ? clt_backward(clt_sum(clt_mul(y, y), CLT_ALL_DIMS, false), NULL) : clt_last_status();
}

static void plant_ew(void) { planted.ew = bad_ew; }
static void plant_cast(void) { planted.cast = bad_cast; }
static void plant_copy(void) { planted.copy = bad_copy; }
static void plant_fill(void) { planted.fill = bad_fill; }
static void plant_rand(void) { planted.rand_uniform = bad_rand; }
static void plant_reduce(void) { planted.reduce = bad_reduce; }
static void plant_softmax(void) { planted.softmax = bad_softmax; }
static void plant_gather(void) { planted.gather = bad_gather; }
static void plant_scatter_add(void) { planted.scatter_add = bad_scatter_add; }
static void plant_gemm(void) { planted.gemm = bad_gemm; }
static void plant_ce_fwd(void) { planted.ce_fwd = bad_ce_fwd; }
static void plant_ce_bwd(void) { planted.ce_bwd = bad_ce_bwd; }
static void plant_optim_step(void) { planted.optim_step = bad_optim_step; }
static void plant_norm_fwd(void) { planted.norm_fwd = bad_norm_fwd; }
static void plant_norm_running(void) { planted.norm_fwd = bad_norm_running; }
static void plant_norm_bwd(void) { planted.norm_bwd = bad_norm_bwd; }
static void plant_windows(void) { planted.windows = bad_windows; }
static void plant_window_grads(void) { planted.windows = bad_window_grads; }
static void plant_window_indices(void) { planted.windows = bad_window_indices; }

static const struct {
  void (*plant)(void);
  clt_status (*run)(clt_device *dev);
  const char *api, *op; /* the public function, and the op the message names */
} cases[] = {
    {plant_ew, run_exp, "clt_exp", "exp"},
    {plant_cast, run_cast, "clt_cast", "cast"},
    {plant_copy, run_copy, "clt_contiguous", "copy"},
    {plant_fill, run_fill, "clt_full", "fill"},
    {plant_rand, run_rand, "clt_rand", "rand_uniform"},
    {plant_reduce, run_sum, "clt_sum", "sum"},
    {plant_reduce, run_argmax, "clt_argmax", "argmax"},
    {plant_softmax, run_softmax, "clt_softmax", "softmax"},
    {plant_gather, run_gather, "clt_gather", "gather"},
    {plant_scatter_add, run_scatter_add, "clt_scatter_add", "scatter_add"},
    {plant_gemm, run_matmul, "clt_matmul", "gemm"},
    {plant_ce_fwd, run_cross_entropy, "clt_cross_entropy", "cross_entropy"},
    {plant_ce_bwd, run_cross_entropy_backward, "clt_backward", "cross_entropy's gradient"},
    {plant_optim_step, run_adam, "clt_optim_step", "adam step"},
    {plant_norm_fwd, run_layer_norm, "clt_layer_norm", "normalization"},
    {plant_norm_running, run_batch_norm, "clt_batch_norm", "normalization"},
    {plant_norm_bwd, run_group_norm_backward, "clt_backward", "normalization's gradient"},
    {plant_windows, run_unfold, "clt_unfold", "im2col"},
    {plant_windows, run_conv2d, "clt_conv2d", "im2col"},
    {plant_window_grads, run_conv2d_backward, "clt_backward", "col2im"},
    {plant_windows, run_max_pool2d, "clt_max_pool2d", "max_pool2d"},
    {plant_window_indices, run_max_pool2d, "clt_max_pool2d", "max_pool2d"},
    {plant_window_grads, run_max_pool2d_backward, "clt_backward", "max_pool2d's gradient"},
};
#define NCASES ((int)(sizeof cases / sizeof *cases))

/* Each case on each device: with the device's table copied as it is, the check passes (the
 * device against the reference; on the host, the host against itself); with the one entry
 * spoiled, the call fails with CLT_ERR_MISMATCH naming the call, the op and the device. */
START_TEST(a_wrong_result_in_any_entry_is_caught) {
  clt_device *dev = tu_dev[_i / NCASES];
  int c = _i % NCASES;
  char want[160];
  snprintf(want, sizeof want, "%s: $CLT_CHECK: %s on %s (", cases[c].api, cases[c].op, clt_device_spec(dev));
  setenv("CLT_CHECK", "1", 1);
  for (int spoiled = 0; spoiled < 2; spoiled++) {
    real = dev->be;
    planted = *real;
    planted.reference = false;
    if (spoiled) cases[c].plant();
    clt__device_swap_backend(dev, &planted);
    clt_scope_begin();
    clt_clear_error();
    clt_status s = cases[c].run(dev);
    clt_scope_end();
    ck_assert_ptr_eq(clt__device_swap_backend(dev, real), &planted);
    if (!spoiled) {
      ck_assert_msg(s == CLT_OK, "%s on %s, nothing spoiled: %s", cases[c].api, clt_device_spec(dev), clt_last_error());
    } else {
      ck_assert_msg(s == CLT_ERR_MISMATCH, "%s on %s, %s spoiled: %s (%s)", cases[c].api, clt_device_spec(dev),
                    cases[c].op, clt_status_name(s), clt_last_error());
      TU_ASSERT_ERR(CLT_ERR_MISMATCH, want, "the host reference");
    }
  }
  unsetenv("CLT_CHECK");
}
END_TEST

/* Without $CLT_CHECK the door calls the entry and nothing else: the spoiled result stands. */
START_TEST(without_check_the_door_only_calls) {
  clt_device *dev = TU_DEV;
  unsetenv("CLT_CHECK");
  real = dev->be;
  planted = *real;
  planted.reference = false;
  plant_gemm();
  clt__device_swap_backend(dev, &planted);
  clt_scope_begin();
  clt_tensor *c = clt_matmul(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 3)), clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(3, 2)));
  clt__device_swap_backend(dev, real);
  tu_assert_values(c, 2, (const int64_t[]){2, 2}, (const double[]){7, 3, 3, 3});
  clt_scope_end();
}
END_TEST

/* The door is a fault point on every device, the host's included: the call fails with
 * CLT_ERR_BACKEND naming the entry and the device, and the op and the device are added to the
 * message of any failed backend call. */
START_TEST(the_door_is_a_fault_point_and_names_the_op) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *a = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 3)), *b = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(3, 2));
  ck_assert_ptr_nonnull(b);
  bool found = false;
  for (long n = 1; n < 1000 && !found; n++) { /* the first point the door itself is */
    clt__fault_reset();
    clt__fault_arm(n, 0);
    clt_tensor *c = clt_matmul(a, b);
    const char *call = clt__fault_fired_call();
    found = call && strcmp(call, "dispatch(gemm)") == 0;
    if (!clt__fault_fired()) {
      ck_assert_ptr_nonnull(c);
      break;
    }
    ck_assert_ptr_null(c);
    if (found) {
      char want[96];
      snprintf(want, sizeof want, "clt_matmul: dispatch(gemm) failed on %s", clt_device_spec(dev));
      TU_ASSERT_ERR(CLT_ERR_BACKEND, want, " (in gemm on ");
    }
    clt_clear_error();
  }
  clt__fault_reset();
  ck_assert_msg(found, "no fault point dispatch(gemm) in clt_matmul");
  clt_scope_end();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("dispatch");
  TCase *tc = tu_tcase("dispatch");
  tcase_add_loop_test(tc, a_wrong_result_in_any_entry_is_caught, 0, tu_ndev * NCASES);
  TU_DEVICES(tc, without_check_the_door_only_calls);
  TU_DEVICES(tc, the_door_is_a_fault_point_and_names_the_op);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
