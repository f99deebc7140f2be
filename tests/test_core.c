/* Errors, dtypes and the fault-injection hook. */
#include <pthread.h>

#include "tu.h"

START_TEST(status_names_come_from_one_list) {
#define CHECK_NAME(name, value, text)                          \
  ck_assert_str_eq(clt_status_name(name), #name);            \
  ck_assert_str_eq(clt_status_string(name), text);           \
  ck_assert_int_eq((int)name, value);
  CLT_STATUS_LIST(CHECK_NAME)
#undef CHECK_NAME
  ck_assert_str_eq(clt_status_name((clt_status)-999), "CLT_ERR_UNKNOWN");
  ck_assert_str_eq(clt_status_string((clt_status)-999), "unknown status");
}
END_TEST

START_TEST(last_error_is_never_null_and_names_the_function) {
  clt_clear_error();
  ck_assert_ptr_nonnull(clt_last_error());
  ck_assert_str_eq(clt_last_error(), "");
  ck_assert_int_eq(clt_last_status(), CLT_OK);
  ck_assert_ptr_null(clt_zeros(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(2, -3)));
  ck_assert_int_eq(clt_last_status(), CLT_ERR_SHAPE);
  ck_assert_str_eq(clt_last_error(), "clt_zeros: shape [2,-3] has a negative size in dim 1");
  /* a success does not clear the record; clt_clear_error does */
  clt_tensor *t = clt_zeros(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(2));
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(clt_last_status(), CLT_ERR_SHAPE);
  clt_release(t);
  clt_clear_error();
  ck_assert_int_eq(clt_last_status(), CLT_OK);
}
END_TEST

START_TEST(a_null_input_keeps_the_first_error) {
  clt_tensor *bad = clt_zeros(tu_dev[0], (clt_dtype)42, CLT_SHAPE(2));
  ck_assert_ptr_null(bad);
  ck_assert_ptr_null(clt_transpose(clt_reshape(bad, CLT_SHAPE(2, 1)), 0, 1));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_zeros: dtype 42 is not a clt dtype");
  /* with no earlier error, the NULL itself is reported */
  ck_assert_ptr_null(clt_contiguous(NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_contiguous: argument t is NULL");
}
END_TEST

static void *other_thread(void *arg) {
  (void)arg;
  /* a fresh thread starts with no error, and its errors stay its own */
  bool clean = clt_last_status() == CLT_OK && clt_last_error()[0] == '\0';
  clt_scope_end(); /* fails: no scope */
  return (void *)(intptr_t)(clean && clt_last_status() == CLT_ERR_STATE);
}

START_TEST(errors_are_thread_local) {
  ck_assert_ptr_null(clt_ones(tu_dev[0], CLT_FLOAT32, 9, (const int64_t[9]){1}));
  pthread_t th;
  void *ok = NULL;
  ck_assert_int_eq(pthread_create(&th, NULL, other_thread, NULL), 0);
  ck_assert_int_eq(pthread_join(th, &ok), 0);
  ck_assert_ptr_eq(ok, (void *)1);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_ones: shape has 9 dims; 0 to 8 are allowed");
}
END_TEST

START_TEST(dtype_attributes) {
  ck_assert_str_eq(clt_dtype_name(CLT_FLOAT32), "float32");
  ck_assert_str_eq(clt_dtype_name(CLT_BOOL), "bool");
  ck_assert_ptr_null(clt_dtype_name(CLT_DTYPE_COUNT));
  ck_assert_uint_eq(clt_dtype_size(CLT_FLOAT64), 8);
  ck_assert_uint_eq(clt_dtype_size(CLT_UINT8), 1);
  ck_assert_uint_eq(clt_dtype_size((clt_dtype)-1), 0);
  ck_assert(clt_dtype_is_float(CLT_FLOAT64));
  ck_assert(!clt_dtype_is_float(CLT_INT64));
  ck_assert_str_eq(clt_version(), "0.1.0");
}
END_TEST

START_TEST(fault_hook_fails_the_nth_allocation) {
  clt_device *dev = TU_DEV;
  /* count the fault points of one creation, then fail each in turn */
  clt__fault_reset();
  clt_tensor *t = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(64));
  ck_assert_ptr_nonnull(t);
  clt_release(t);
  clt__fault_reset();
  t = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(64)); /* warm: kernels and pool already there */
  long points = clt__fault_count();
  clt_release(t);
  clt_device_empty_cache(dev);
  ck_assert_int_gt(points, 1);
  for (long n = 1; n <= points + 1; n++) {
    clt_device_empty_cache(dev);
    clt__fault_reset();
    clt__fault_arm(n, -4 /* CL_MEM_OBJECT_ALLOCATION_FAILURE */);
    clt_clear_error();
    t = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(64));
    if (clt__fault_fired()) {
      ck_assert_msg(t == NULL, "fault point %ld of %ld fired but clt_ones succeeded", n, points);
      ck_assert_msg(clt_last_status() == CLT_ERR_OOM || clt_last_status() == CLT_ERR_DEVICE_OOM ||
                        clt_last_status() == CLT_ERR_BACKEND,
                    "fault %ld: %s", n, clt_last_error());
      ck_assert(strncmp(clt_last_error(), "clt_ones: ", 10) == 0);
    } else {
      ck_assert_int_eq(n, points + 1);
      ck_assert_ptr_nonnull(t);
    }
    clt_release(t);
  }
  clt__fault_reset();
  clt_clear_error();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("core");
  TCase *tc = tu_tcase("errors");
  tcase_add_test(tc, status_names_come_from_one_list);
  tcase_add_test(tc, last_error_is_never_null_and_names_the_function);
  tcase_add_test(tc, a_null_input_keeps_the_first_error);
  tcase_add_test(tc, errors_are_thread_local);
  tcase_add_test(tc, dtype_attributes);
  TU_DEVICES(tc, fault_hook_fails_the_nth_allocation);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
