/* Public functions and error paths no other suite reaches: clt_retain, clt_device_type_name,
 * the safetensors name __metadata__, cross entropy without classes, clamp with NaN bounds,
 * cat / gather / index_select / scatter_add on 0-d tensors, gradcheck with grad mode off,
 * one_hot with -1 classes on an empty index, optimizer parameters that are views or on two
 * devices, and a stream that cannot be written. (tests/test_exports.py fails when an exported
 * function is called by no test.) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "tu.h"

START_TEST(retain_adds_a_reference) {
  clt_device *dev = TU_DEV;
  clt_tensor *t = clt_arange(dev, CLT_FLOAT32, 0, 3, 1);
  long tensors = atomic_load(&clt__live[CLT__LIVE_TENSORS]);
  ck_assert_ptr_eq(clt_retain(t), t);
  ck_assert_ptr_null(clt_retain(NULL));
  clt_release(t);
  /* still alive through the second reference */
  ck_assert_int_eq(atomic_load(&clt__live[CLT__LIVE_TENSORS]), tensors);
  tu_assert_values(t, 1, (const int64_t[]){3}, (const double[]){0, 1, 2});
  clt_release(t);
  ck_assert_int_eq(atomic_load(&clt__live[CLT__LIVE_TENSORS]), tensors - 1);
}
END_TEST

START_TEST(device_type_names) {
  static const struct {
    clt_device_type type;
    const char *name;
  } names[] = {{CLT_DEVICE_HOST, "host"},
               {CLT_DEVICE_CPU, "cpu"},
               {CLT_DEVICE_GPU, "gpu"},
               {CLT_DEVICE_ACCELERATOR, "accelerator"},
               {CLT_DEVICE_OTHER, "other"},
               {(clt_device_type)99, "other"}};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) ck_assert_str_eq(clt_device_type_name(names[i].type), names[i].name);
  ck_assert_str_eq(clt_device_type_name(clt_device_type_of(tu_dev[0])), "host");
  if (tu_cl()) ck_assert_str_ne(clt_device_type_name(clt_device_type_of(tu_cl())), "host");
}
END_TEST

START_TEST(reserved_safetensors_name) {
  char path[] = "/tmp/clt-surface-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  unlink(path);
  clt_tensor *t = clt_zeros(TU_DEV, CLT_FLOAT32, CLT_SHAPE(2));
  const char *names[2] = {"w", "__metadata__"};
  clt_tensor *ts[2] = {t, t};
  ck_assert_int_eq(clt_save_safetensors(path, 2, names, ts), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_save_safetensors: the name __metadata__ is reserved");
  ck_assert_int_ne(access(path, F_OK), 0); /* nothing written */
  clt_release(t);
}
END_TEST

static clt_tensor *sum_of(clt_tensor *const *in, void *user) {
  (void)user;
  return clt_sum(in[0], CLT_ALL_DIMS, false);
}

START_TEST(errors_no_other_test_reaches) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  /* cross entropy over no classes */
  clt_tensor *labels = clt_zeros(dev, CLT_INT64, CLT_SHAPE(2));
  ck_assert_ptr_null(clt_cross_entropy(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2, 0)), labels, CLT_REDUCTION_MEAN));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_cross_entropy: logits have no classes (C is 0)");
  /* clamp with a NaN bound, out of place and in place */
  clt_tensor *x = clt_arange(dev, CLT_FLOAT32, -2, 2, 1);
  ck_assert_ptr_null(clt_clamp(x, NAN, 1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_clamp: min and max must not be NaN");
  ck_assert_ptr_null(clt_clamp(x, -1, NAN));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_clamp: min and max must not be NaN");
  ck_assert_int_eq(clt_clamp_(x, NAN, 1), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_clamp_: min nan must not exceed max 1 (nor be NaN)");
  tu_assert_values(x, 1, (const int64_t[]){4}, (const double[]){-2, -1, 0, 1}); /* untouched */
  /* 0-d tensors where a dim is needed */
  clt_tensor *s = clt_full(dev, CLT_FLOAT32, 0, NULL, 3), *i0 = clt_zeros(dev, CLT_INT64, 0, NULL);
  clt_tensor *two[2] = {s, s};
  ck_assert_ptr_null(clt_cat(2, two, 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_cat: cannot concatenate 0-d tensors (use clt_stack)");
  ck_assert_ptr_null(clt_gather(s, 0, i0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_gather: cannot gather from a 0-d tensor");
  ck_assert_ptr_null(clt_index_select(s, 0, i0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_index_select: cannot index a 0-d tensor");
  ck_assert_ptr_null(clt_scatter_add(s, 0, i0, s));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_scatter_add: cannot scatter into a 0-d tensor");
  /* one_hot cannot infer the classes of no labels */
  ck_assert_ptr_null(clt_one_hot(clt_zeros(dev, CLT_INT64, CLT_SHAPE(0)), -1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_one_hot: num_classes -1 needs a non-empty index");
  /* gradcheck needs grad mode */
  clt_tensor *in = clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(2));
  ck_assert_int_eq(clt_no_grad_begin(), CLT_OK);
  ck_assert_int_eq(clt_gradcheck(sum_of, NULL, 1, &in, NULL), CLT_ERR_STATE);
  ck_assert_int_eq(clt_no_grad_end(), CLT_OK);
  TU_ASSERT_ERR(CLT_ERR_STATE, "clt_gradcheck: grad mode is off (inside clt_no_grad_begin)");
  ck_assert_int_eq(clt_gradcheck(sum_of, NULL, 1, &in, NULL), CLT_OK);
  clt_scope_end();
}
END_TEST

/* Optimizer parameters must own their storage and share one device. */
START_TEST(optimizer_parameters_own_their_storage) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *w = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2, 3)), *b = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(4));
  ck_assert_int_eq(clt_set_requires_grad(w, true), CLT_OK);
  ck_assert_int_eq(clt_set_requires_grad(b, true), CLT_OK);
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_SGD);
  clt_optim *o = (clt_optim *)1;
  /* a view of a leaf is a leaf of its own but shares w's storage */
  clt_tensor *view[2] = {w, clt_detach(clt_slice(b, 0, 0, 4, 2))};
  ck_assert_int_eq(clt_set_requires_grad(view[1], true), CLT_OK);
  ck_assert_int_eq(clt_optim_create(&cfg, 2, view, &o), CLT_ERR_INVALID_ARG);
  ck_assert_ptr_null(o);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_optim_create: params[1] is a view; parameters must own contiguous storage");
  if (tu_cl() && dev != tu_cl()) {
    clt_tensor *elsewhere = clt_zeros(tu_cl(), CLT_FLOAT32, CLT_SHAPE(4));
    ck_assert_int_eq(clt_set_requires_grad(elsewhere, true), CLT_OK);
    clt_tensor *two[2] = {w, elsewhere};
    ck_assert_int_eq(clt_optim_create(&cfg, 2, two, &o), CLT_ERR_DEVICE_MISMATCH);
    TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_optim_create: params[1] is on ", ", params[0] on host");
  }
  clt_scope_end();
}
END_TEST

START_TEST(failed_stream_write) {
  char path[] = "/tmp/clt-surface-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  FILE *ro = fopen(path, "r"); /* writes fail at once, whatever the buffering */
  ck_assert_ptr_nonnull(ro);
  clt_tensor *t = clt_ones(TU_DEV, CLT_INT32, CLT_SHAPE(2));
  ck_assert_int_eq(clt_print(t, ro), CLT_ERR_IO);
  TU_ASSERT_ERR(CLT_ERR_IO, "clt_print: writing to the stream failed");
  fclose(ro);
  unlink(path);
  clt_release(t);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("surface");
  TCase *tc = tu_tcase("surface");
  TU_DEVICES(tc, retain_adds_a_reference);
  tcase_add_test(tc, device_type_names);
  TU_DEVICES(tc, reserved_safetensors_name);
  TU_DEVICES(tc, errors_no_other_test_reaches);
  TU_DEVICES(tc, optimizer_parameters_own_their_storage);
  TU_DEVICES(tc, failed_stream_write);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
