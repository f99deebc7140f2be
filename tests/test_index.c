#define _POSIX_C_SOURCE 200809L
/* cat, stack, index_select, gather, scatter_add, one_hot: known values, every device against
 * the host, errors. */
#include <stdio.h>

#include "tu.h"
#ifdef CLT_HAVE_OPENCL
#include "clt/clt_cl.h"
#endif

static clt_tensor *ar(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  return clt_reshape(clt_arange(dev, dt, 0, (double)n, 1), ndim, shape);
}

START_TEST(cat_and_stack) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *a = ar(dev, CLT_INT32, CLT_SHAPE(2, 2)), *b = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(2, 1), 9);
  clt_tensor *ts[3] = {a, b, clt_transpose(a, 0, 1)};
  tu_assert_values(clt_cat(3, ts, 1), 2, (const int64_t[]){2, 5}, (const double[]){0, 1, 9, 0, 2, 2, 3, 9, 1, 3});
  ck_assert_int_eq(clt_dtype_of(clt_cat(3, ts, -1)), CLT_FLOAT32);
  /* a legacy empty 1-d tensor is skipped; CLT_TENSORS spells the (n, tensors) pair */
  tu_assert_values(clt_cat(CLT_TENSORS(a, clt_zeros(dev, CLT_INT32, CLT_SHAPE(0))), 0), 2, (const int64_t[]){2, 2},
                   (const double[]){0, 1, 2, 3});
  ck_assert_ptr_null(clt_cat(CLT_TENSORS(a, clt_ones(dev, CLT_INT32, CLT_SHAPE(3, 3))), 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_cat: tensor 1 has shape [3,3], which does not match [2,2] outside dim 0");
  ck_assert_ptr_null(clt_cat(0, ts, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_cat: needs at least one tensor (n is 0)");
  clt_tensor *v[3] = {clt_arange(dev, CLT_INT64, 0, 3, 1), clt_arange(dev, CLT_INT64, 3, 6, 1),
                      clt_slice(clt_arange(dev, CLT_INT64, 0, 12, 1), 0, 6, 12, 2)};
  tu_assert_values(clt_stack(3, v, 0), 2, (const int64_t[]){3, 3}, (const double[]){0, 1, 2, 3, 4, 5, 6, 8, 10});
  tu_assert_values(clt_stack(3, v, -1), 2, (const int64_t[]){3, 3}, (const double[]){0, 3, 6, 1, 4, 8, 2, 5, 10});
  clt_tensor *w[2] = {v[0], a};
  ck_assert_ptr_null(clt_stack(2, w, 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_stack: tensor 1 has shape [2,2], tensor 0 [3]; stack needs one shape");
  clt_scope_end();
}
END_TEST

/* An index's values known from where clt wrote them (clt_from_host, a gather from such a tensor)
 * spare the check its device work; nothing that can change the values lets a stale range pass an
 * index that is out of range: in-place ops, the caller's own writes through clt_host_data or the
 * OpenCL buffer, and failed checks fall back to reading the values. */
START_TEST(known_ranges_never_hide_a_bad_index) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = ar(dev, CLT_FLOAT32, CLT_SHAPE(3, 4));
  clt_tensor *labels = clt_from_host(dev, CLT_INT64, CLT_SHAPE(6), (const int64_t[]){0, 1, 2, 3, 2, 7});
  /* the storage holds a 7, but this slice does not: the precise check passes it */
  clt_tensor *ok = clt_slice(labels, 0, 0, 5, 1);
  ck_assert_int_eq(clt_size(clt_index_select(x, 1, ok), 1), 5);
  ck_assert_ptr_null(clt_index_select(x, 1, labels));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "selection index 7 is out of range for size 4");
  /* a gather's result inherits the range; an in-place write drops it */
  clt_tensor *g = clt_index_select(labels, 0, clt_from_host(dev, CLT_INT64, CLT_SHAPE(3), (const int64_t[]){0, 3, 4}));
  tu_assert_values(clt_index_select(x, 1, g), 2, (const int64_t[]){3, 3}, (const double[]){0, 3, 2, 4, 7, 6, 8, 11, 10});
  ck_assert_int_eq(clt_add_(g, clt_full(dev, CLT_INT64, 0, NULL, 2)), CLT_OK); /* 2, 5, 4 */
  ck_assert_ptr_null(clt_index_select(x, 1, g));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "selection index 5 is out of range for size 4");
  ck_assert_int_eq(clt_fill_(g, 1), CLT_OK);
  tu_assert_values(clt_index_select(x, 1, g), 2, (const int64_t[]){3, 3}, (const double[]){1, 1, 1, 5, 5, 5, 9, 9, 9});
  ck_assert_int_eq(clt_copy_(g, clt_from_host(dev, CLT_INT64, CLT_SHAPE(3), (const int64_t[]){0, 9, 0})), CLT_OK);
  ck_assert_ptr_null(clt_index_select(x, 1, g));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "selection index 9 is out of range for size 4");
  /* the caller's own writes */
  clt_tensor *w = clt_from_host(dev, CLT_INT32, CLT_SHAPE(2), (const int32_t[]){1, 2});
  ck_assert_int_eq(clt_size(clt_index_select(x, 1, w), 1), 2);
  if (clt_device_type_of(dev) == CLT_DEVICE_HOST) {
    int32_t *p = clt_host_data(w);
    p[1] = 4;
  } else {
#ifdef CLT_HAVE_OPENCL
    cl_mem buf;
    size_t off;
    cl_command_queue q;
    ck_assert_int_eq(clt_cl_tensor_get_buffer(w, &buf, &off), CLT_OK);
    ck_assert_int_eq(clt_cl_device_get(dev, NULL, NULL, &q), CLT_OK);
    const int32_t four = 4;
    ck_assert_int_eq(clEnqueueWriteBuffer(q, buf, CL_TRUE, off + sizeof four, sizeof four, &four, 0, NULL, NULL), CL_SUCCESS);
#endif
  }
  ck_assert_ptr_null(clt_index_select(x, 1, w));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "selection index 4 is out of range for size 4");
  /* cross entropy's labels, gathered from known ones */
  clt_tensor *logits = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), (const float[]){1, 2, 3, 1, 2, 3});
  clt_tensor *y = clt_index_select(labels, 0, clt_from_host(dev, CLT_INT64, CLT_SHAPE(2), (const int64_t[]){1, 2}));
  double ce = 0; /* labels 1 and 2: logsumexp(1, 2, 3) - (2 + 3) / 2 */
  ck_assert_int_eq(clt_item(clt_cross_entropy(logits, y, CLT_REDUCTION_MEAN), &ce), CLT_OK);
  ck_assert_double_eq_tol(ce, 0.907605964444377, 1e-6);
  ck_assert_ptr_null(clt_cross_entropy(logits, clt_index_select(labels, 0, clt_from_host(dev, CLT_INT64, CLT_SHAPE(2), (const int64_t[]){0, 3})), CLT_REDUCTION_MEAN));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "label index 3 is out of range for size 3");
  clt_scope_end();
}
END_TEST

START_TEST(index_select_and_gather) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = ar(dev, CLT_FLOAT32, CLT_SHAPE(3, 4));
  clt_tensor *i64 = clt_from_host(dev, CLT_INT64, CLT_SHAPE(3), (const int64_t[]){3, 0, 3});
  tu_assert_values(clt_index_select(x, 1, i64), 2, (const int64_t[]){3, 3}, (const double[]){3, 0, 3, 7, 4, 7, 11, 8, 11});
  clt_tensor *i32 = clt_from_host(dev, CLT_INT32, CLT_SHAPE(2), (const int32_t[]){2, 1});
  tu_assert_values(clt_index_select(x, 0, i32), 2, (const int64_t[]){2, 4}, (const double[]){8, 9, 10, 11, 4, 5, 6, 7});
  tu_assert_values(clt_index_select(clt_transpose(x, 0, 1), 0, i32), 2, (const int64_t[]){2, 3},
                   (const double[]){2, 6, 10, 1, 5, 9});
  clt_tensor *gi = clt_from_host(dev, CLT_INT64, CLT_SHAPE(3, 2), (const int64_t[]){0, 3, 1, 1, 2, 0});
  tu_assert_values(clt_gather(x, 1, gi), 2, (const int64_t[]){3, 2}, (const double[]){0, 3, 5, 5, 10, 8});
  clt_tensor *g0 = clt_from_host(dev, CLT_INT32, CLT_SHAPE(1, 4), (const int32_t[]){2, 0, 1, 2});
  tu_assert_values(clt_gather(x, 0, g0), 2, (const int64_t[]){1, 4}, (const double[]){8, 1, 6, 11});
  /* every element size, against the host */
  const clt_dtype dts[] = {CLT_UINT8, CLT_INT32, CLT_FLOAT64};
  for (int k = 0; k < 3; k++) {
    clt_tensor *y = clt_permute(ar(dev, dts[k], CLT_SHAPE(4, 5, 6)), CLT_DIMS(1, 2, 0));
    clt_manual_seed(3);
    clt_tensor *r = clt_cast(clt_mul_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(5, 3, 4)), 5.99), CLT_INT64);
    clt_tensor *got = clt_gather(y, 1, r);
    clt_tensor *want = clt_gather(clt_to(y, tu_dev[0]), 1, clt_to(r, tu_dev[0]));
    double *gv = tu_values(got);
    tu_assert_values(want, 3, (const int64_t[]){5, 3, 4}, gv);
    free(gv);
  }
  /* errors */
  clt_tensor *oob = clt_from_host(dev, CLT_INT64, CLT_SHAPE(2), (const int64_t[]){1, 4});
  ck_assert_ptr_null(clt_index_select(x, 1, oob));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_index_select: selection index 4 is out of range for size 4");
  /* an index past 4096 entries is checked by reductions on the device, not read back whole */
  int32_t *many = malloc(5000 * sizeof *many);
  for (int i = 0; i < 5000; i++) many[i] = i % 4;
  clt_tensor *big = clt_from_host(dev, CLT_INT32, CLT_SHAPE(5000), many);
  ck_assert_int_eq(clt_size(clt_index_select(x, 1, big), 1), 5000);
  for (int bad = 0; bad < 2; bad++) {
    many[4321] = bad ? -2 : 9;
    big = clt_from_host(dev, CLT_INT32, CLT_SHAPE(5000), many);
    ck_assert_ptr_null(clt_index_select(x, 1, big));
    TU_ASSERT_ERR(CLT_ERR_INDEX, bad ? "clt_index_select: selection index -2 is out of range for size 4"
                                     : "clt_index_select: selection index 9 is out of range for size 4");
    ck_assert_ptr_null(clt_index_select(x, 1, clt_slice(big, 0, 4000, 5000, 1))); /* small again: read back */
    TU_ASSERT_ERR(CLT_ERR_INDEX, "out of range for size 4");
  }
  free(many);
  clt_tensor *neg = clt_from_host(dev, CLT_INT32, CLT_SHAPE(1, 1), (const int32_t[]){-1});
  ck_assert_ptr_null(clt_gather(x, 0, neg));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_gather: gather: index -1 is out of range for size 3");
  ck_assert_ptr_null(clt_gather(x, 1, clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(3, 1))));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_gather: index has dtype float32; int32 or int64 is needed");
  ck_assert_ptr_null(clt_gather(x, 1, clt_zeros(dev, CLT_INT64, CLT_SHAPE(4, 1))));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_gather: index of shape [4,1] does not fit x of shape [3,4] outside dim 1");
  ck_assert_ptr_null(clt_index_select(x, 0, clt_zeros(dev, CLT_INT64, CLT_SHAPE(1, 1))));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_index_select: index must be 0-d or 1-d, not 2-d");
  clt_scope_end();
}
END_TEST

START_TEST(scatter_add_is_gathers_reverse) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2, 4));
  clt_tensor *idx = clt_from_host(dev, CLT_INT64, CLT_SHAPE(2, 3), (const int64_t[]){0, 3, 0, 1, 1, 1});
  clt_tensor *src = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), (const float[]){1, 2, 3, 4, 5, 6});
  tu_assert_values(clt_scatter_add(x, 1, idx, src), 2, (const int64_t[]){2, 4}, (const double[]){4, 0, 0, 2, 0, 15, 0, 0});
  ck_assert(!clt_shares_storage(clt_scatter_add(x, 1, idx, src), x)); /* x is not changed */
  const clt_dtype dts[] = {CLT_FLOAT32, CLT_FLOAT64, CLT_INT32, CLT_INT64};
  for (int k = 0; k < 4; k++) {
    clt_manual_seed(4);
    clt_tensor *base = clt_cast(ar(dev, CLT_INT32, CLT_SHAPE(6, 7)), dts[k]);
    clt_tensor *r = clt_cast(clt_mul_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(6, 50)), 6.99), CLT_INT32);
    clt_tensor *s = clt_cast(clt_mul_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(6, 50)), 8), dts[k]);
    clt_tensor *got = clt_scatter_add(base, 1, r, s);
    ck_assert_msg(got != NULL, "%s", clt_last_error());
    clt_tensor *want = clt_scatter_add(clt_to(base, tu_dev[0]), 1, clt_to(r, tu_dev[0]), clt_to(s, tu_dev[0]));
    double *g = tu_values(got), *w = tu_values(want);
    for (int i = 0; i < 42; i++) ck_assert_double_eq_tol(g[i], w[i], 1e-4);
    free(g);
    free(w);
  }
  ck_assert_ptr_null(clt_scatter_add(clt_zeros(dev, CLT_UINT8, CLT_SHAPE(2, 4)), 1, idx, src));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_scatter_add: scatter_add supports float32, float64, int32 and int64, not uint8");
  ck_assert_ptr_null(clt_scatter_add(x, 1, idx, clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(2, 3))));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "src has dtype float64, x float32; they must match");
  ck_assert_ptr_null(clt_scatter_add(x, 1, idx, clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 2))));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "index of shape [2,3] is larger than src of shape [2,2]");
  clt_scope_end();
}
END_TEST

START_TEST(one_hot_like_pytorch) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *i = clt_from_host(dev, CLT_INT64, CLT_SHAPE(3), (const int64_t[]){0, 2, 1});
  tu_assert_values(clt_one_hot(i, 3), 2, (const int64_t[]){3, 3}, (const double[]){1, 0, 0, 0, 0, 1, 0, 1, 0});
  tu_assert_values(clt_one_hot(i, -1), 2, (const int64_t[]){3, 3}, (const double[]){1, 0, 0, 0, 0, 1, 0, 1, 0});
  clt_tensor *m = clt_from_host(dev, CLT_INT32, CLT_SHAPE(2, 1), (const int32_t[]){1, 0});
  tu_assert_values(clt_one_hot(m, 2), 3, (const int64_t[]){2, 1, 2}, (const double[]){0, 1, 1, 0});
  ck_assert_int_eq(clt_dtype_of(clt_one_hot(m, 2)), CLT_INT64);
  ck_assert_ptr_null(clt_one_hot(i, 2));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_one_hot: one_hot: index 2 is out of range for size 2");
  ck_assert_ptr_null(clt_one_hot(i, -5));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "num_classes -5 must be positive or -1");
  clt_scope_end();
}
END_TEST

START_TEST(check_mode_runs_index_ops_twice) {
  clt_scope_begin();
  setenv("CLT_CHECK", "1", 1);
  clt_tensor *x = ar(tu_cl(), CLT_FLOAT32, CLT_SHAPE(3, 4));
  clt_tensor *i = clt_from_host(tu_cl(), CLT_INT64, CLT_SHAPE(3, 2), (const int64_t[]){0, 3, 1, 1, 2, 0});
  ck_assert_ptr_nonnull(clt_gather(x, 1, i));
  ck_assert_ptr_nonnull(clt_scatter_add(x, 1, i, clt_ones(tu_cl(), CLT_FLOAT32, CLT_SHAPE(3, 2))));
  ck_assert_int_eq(clt_last_status(), CLT_OK);
  unsetenv("CLT_CHECK");
  clt_scope_end();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("index");
  TCase *tc = tu_tcase("index");
  TU_DEVICES(tc, cat_and_stack);
  TU_DEVICES(tc, index_select_and_gather);
  TU_DEVICES(tc, known_ranges_never_hide_a_bad_index);
  TU_DEVICES(tc, scatter_add_is_gathers_reverse);
  TU_DEVICES(tc, one_hot_like_pytorch);
  if (tu_cl()) tcase_add_test(tc, check_mode_runs_index_ops_twice);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
