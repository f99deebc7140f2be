/* Errors, dtypes, the fault-injection hook, the leak list, and unwinding scopes and no-grad
 * regions on an early return. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>

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

/* The leak list's text for the tensors alive now (one a line, oldest first). */
static char *leak_text(int64_t *n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  *n = clt_leak_report(f);
  fclose(f);
  return buf;
}

/* Tensors a clt function returned are listed with their dtype, shape, device and maker until
 * their last reference goes; one returned twice (clt_to onto its own device) is listed once;
 * the core's own temporaries never are. */
START_TEST(live_tensors_are_listed_with_their_maker) {
  clt_device *dev = TU_DEV;
  int64_t base = clt_leak_report(NULL), n;
  char want[128];
  clt_tensor *a = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2, 3)), *at = clt_transpose(a, 0, 1);
  clt_tensor *b = clt_matmul(a, at);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(clt_leak_report(NULL), base + 3);
  ck_assert_ptr_eq(clt_to(a, dev), a); /* a second reference to a, listed once */
  ck_assert_int_eq(clt_leak_report(NULL), base + 3);
  clt_release(a);
  char *text = leak_text(&n);
  ck_assert_int_eq(n, base + 3);
  snprintf(want, sizeof want, "  float32 [2,3] on %s, made by clt_zeros\n", clt_device_spec(dev));
  ck_assert_msg(strstr(text, want), "%s", text);
  snprintf(want, sizeof want, "  float32 [3,2] on %s, made by clt_transpose\n", clt_device_spec(dev));
  ck_assert_msg(strstr(text, want), "%s", text);
  snprintf(want, sizeof want, "  float32 [2,2] on %s, made by clt_matmul\n", clt_device_spec(dev));
  ck_assert_msg(strstr(text, want), "%s", text);
  ck_assert_msg(strstr(text, " still alive:\n"), "%s", text);
  ck_assert_msg(strstr(text, "clt_zeros") < strstr(text, "clt_matmul"), "oldest first: %s", text);
  free(text);
  clt_release(a);
  clt_release(b);
  ck_assert_int_eq(clt_leak_report(NULL), base + 1); /* the transpose, which holds a's storage */
  /* a leaf that requires grad says so; a scope's tensors leave the list with the scope */
  clt_scope_begin();
  clt_tensor *w = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(4));
  clt_set_requires_grad(w, true);
  ck_assert_ptr_nonnull(clt_relu(w));
  ck_assert_int_eq(clt_leak_report(NULL), base + 3);
  text = leak_text(&n);
  snprintf(want, sizeof want, "  float32 [4] on %s, made by clt_ones (requires grad)\n", clt_device_spec(dev));
  ck_assert_msg(strstr(text, want), "%s", text);
  free(text);
  clt_scope_end();
  ck_assert_int_eq(clt_leak_report(NULL), base + 1);
  clt_release(at);
  ck_assert_int_eq(clt_leak_report(NULL), base);
  text = leak_text(&n); /* nothing alive: no text */
  ck_assert_str_eq(text, "");
  free(text);
}
END_TEST

/* clt_scope_unwind ends the scopes an early return leaves open, releasing their tensors and
 * keeping the error that caused the return; clt_no_grad_unwind does the same for no-grad. */
static clt_status step_that_fails(clt_device *dev) {
  int depth = clt_scope_depth(), ng = clt_no_grad_depth();
  clt_scope_begin();
  clt_no_grad_begin();
  clt_scope_begin();
  clt_tensor *x = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 3));
  clt_tensor *y = clt_matmul(x, x); /* [2,3] @ [2,3]: a shape error */
  if (!y) {
    clt_status st = clt_last_status();
    clt_scope_unwind(depth);
    clt_no_grad_unwind(ng);
    return st;
  }
  return CLT_OK;
}

START_TEST(scopes_and_no_grad_unwind_on_an_early_return) {
  clt_device *dev = TU_DEV;
  long live = atomic_load(&clt__live[CLT__LIVE_TENSORS]);
  ck_assert_int_eq(clt_scope_depth(), 0);
  ck_assert_int_eq(clt_no_grad_depth(), 0);
  ck_assert_int_eq(step_that_fails(dev), CLT_ERR_SHAPE);
  ck_assert_int_eq(clt_scope_depth(), 0);
  ck_assert_int_eq(clt_no_grad_depth(), 0);
  ck_assert(clt_is_grad_enabled());
  ck_assert_int_eq(atomic_load(&clt__live[CLT__LIVE_TENSORS]), live); /* x went with its scope */
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_matmul: shapes [2,3] and [2,3] do not multiply");
  /* unwinding to the depth there is does nothing; past it, or below zero, is refused */
  clt_scope_begin();
  clt_no_grad_begin();
  ck_assert_int_eq(clt_scope_unwind(1), CLT_OK);
  ck_assert_int_eq(clt_scope_depth(), 1);
  ck_assert_int_eq(clt_scope_unwind(2), CLT_ERR_STATE);
  TU_ASSERT_ERR(CLT_ERR_STATE, "clt_scope_unwind: depth 2: 1 scopes are open");
  ck_assert_int_eq(clt_scope_unwind(-1), CLT_ERR_STATE);
  clt_clear_error();
  ck_assert_int_eq(clt_no_grad_unwind(2), CLT_ERR_STATE);
  TU_ASSERT_ERR(CLT_ERR_STATE, "clt_no_grad_unwind: depth 2: 1 no-grad regions are open");
  ck_assert_int_eq(clt_no_grad_unwind(-1), CLT_ERR_STATE);
  clt_clear_error();
  ck_assert(!clt_is_grad_enabled());
  ck_assert_int_eq(clt_no_grad_unwind(0), CLT_OK);
  ck_assert(clt_is_grad_enabled());
  ck_assert_int_eq(clt_scope_unwind(0), CLT_OK);
  ck_assert_int_eq(clt_scope_depth(), 0);
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
  TU_DEVICES(tc, live_tensors_are_listed_with_their_maker);
  TU_DEVICES(tc, scopes_and_no_grad_unwind_on_an_early_return);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
