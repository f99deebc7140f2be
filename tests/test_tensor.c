/* Tensor creation, dtypes, shapes, random numbers and printing, on every device. */
#include "tu.h"

static const clt_dtype all_dtypes[] = {CLT_FLOAT32, CLT_FLOAT64, CLT_INT32, CLT_INT64, CLT_UINT8, CLT_BOOL};

START_TEST(full_every_dtype) {
  clt_device *dev = TU_DEV;
  for (size_t k = 0; k < 6; k++) {
    clt_dtype dt = all_dtypes[k];
    clt_tensor *z = clt_zeros(dev, dt, CLT_SHAPE(3, 5));
    clt_tensor *o = clt_ones(dev, dt, CLT_SHAPE(3, 5));
    clt_tensor *f = clt_full(dev, dt, CLT_SHAPE(3, 5), 7.0);
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(clt_dtype_of(f), dt);
    ck_assert_ptr_eq(clt_device_of(f), dev);
    double want_f = dt == CLT_BOOL ? 1.0 : 7.0, zeros[15] = {0}, ones[15], sevens[15];
    for (int i = 0; i < 15; i++) ones[i] = 1.0, sevens[i] = want_f;
    tu_assert_values(z, 2, (const int64_t[]){3, 5}, zeros);
    tu_assert_values(o, 2, (const int64_t[]){3, 5}, ones);
    tu_assert_values(f, 2, (const int64_t[]){3, 5}, sevens);
    clt_release(z);
    clt_release(o);
    clt_release(f);
  }
  /* conversions of the fill value: truncation, saturation, NaN, negative zero */
  clt_tensor *t = clt_full(dev, CLT_INT32, CLT_SHAPE(2), -2.9);
  tu_assert_values(t, 1, (const int64_t[]){2}, (const double[]){-2, -2});
  clt_release(t);
  t = clt_full(dev, CLT_UINT8, CLT_SHAPE(2), 300.0);
  tu_assert_values(t, 1, (const int64_t[]){2}, (const double[]){255, 255});
  clt_release(t);
  t = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(2), NAN);
  tu_assert_values(t, 1, (const int64_t[]){2}, (const double[]){NAN, NAN});
  clt_release(t);
  t = clt_full(dev, CLT_INT64, CLT_SHAPE(1), 9007199254740993.0);
  int64_t big;
  ck_assert_int_eq(clt_item_int64(t, &big), CLT_OK);
  ck_assert_int_eq(big, 9007199254740992LL); /* the double argument rounds first */
  clt_release(t);
}
END_TEST

START_TEST(scalars_and_empty_tensors) {
  clt_device *dev = TU_DEV;
  clt_tensor *s = clt_full(dev, CLT_FLOAT64, 0, NULL, 2.5);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(clt_ndim(s), 0);
  ck_assert_int_eq(clt_numel(s), 1);
  double v;
  ck_assert_int_eq(clt_item(s, &v), CLT_OK);
  ck_assert(v == 2.5);
  ck_assert(clt_is_contiguous(s));
  clt_release(s);
  clt_memory_stats before, after;
  clt_device_get_memory_stats(dev, &before);
  clt_tensor *e = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(3, 0, 2));
  clt_device_get_memory_stats(dev, &after);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(after.bytes_in_use, before.bytes_in_use); /* no zero-byte buffer */
  ck_assert_int_eq(clt_numel(e), 0);
  ck_assert_int_eq(clt_to_host(e, NULL, 0), CLT_OK);
  ck_assert_int_eq(clt_item(e, &v), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_item: the tensor has shape [3,0,2] (0 elements); one is needed");
  clt_tensor *r = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(0));
  ck_assert_ptr_nonnull(r);
  clt_tensor *a = clt_arange(dev, CLT_INT64, 5, 5, 1);
  ck_assert_int_eq(clt_numel(a), 0);
  clt_release(a);
  clt_release(r);
  clt_release(e);
}
END_TEST

START_TEST(shape_errors) {
  clt_device *dev = TU_DEV;
  ck_assert_ptr_null(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2, -1)));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_zeros: shape [2,-1] has a negative size in dim 1");
  ck_assert_ptr_null(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(INT64_MAX, 3)));
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_zeros: shape [9223372036854775807,3] has more than 2^63 - 1 elements");
  ck_assert_ptr_null(clt_zeros(dev, CLT_FLOAT64, CLT_SHAPE(INT64_MAX / 4)));
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "overflow the address space");
  ck_assert_ptr_null(clt_ones(dev, CLT_FLOAT32, 2, NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_ones: shape is NULL with ndim 2");
  ck_assert_ptr_null(clt_ones(dev, CLT_FLOAT32, -1, NULL));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_ones: shape has -1 dims");
  ck_assert_ptr_null(clt_empty(NULL, CLT_FLOAT32, CLT_SHAPE(2)));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_empty: argument dev is NULL");
  ck_assert_ptr_null(clt_full(dev, (clt_dtype)99, CLT_SHAPE(2), 0));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_full: dtype 99 is not a clt dtype");
  /* host memory exhaustion is an error, not an abort */
  ck_assert_ptr_null(clt_empty(tu_dev[0], CLT_UINT8, CLT_SHAPE((int64_t)1 << 62)));
  ck_assert(clt_last_status() == CLT_ERR_OOM);
  clt_clear_error();
  /* eight dims are fine */
  clt_tensor *t = clt_ones(dev, CLT_INT32, CLT_SHAPE(1, 2, 1, 2, 1, 2, 1, 2));
  ck_assert_int_eq(clt_numel(t), 16);
  ck_assert_int_eq(clt_size(t, -1), 2);
  ck_assert_int_eq(clt_size(t, 8), -1);
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_size: dim 8 is out of range for a 8-d tensor (expected -8..7)");
  clt_release(t);
}
END_TEST

START_TEST(arange_like_torch) {
  clt_device *dev = TU_DEV;
  clt_tensor *a = clt_arange(dev, CLT_FLOAT32, 0, 1, 0.25);
  tu_assert_values(a, 1, (const int64_t[]){4}, (const double[]){0, 0.25, 0.5, 0.75});
  clt_release(a);
  a = clt_arange(dev, CLT_INT32, 10, 0, -3);
  tu_assert_values(a, 1, (const int64_t[]){4}, (const double[]){10, 7, 4, 1});
  clt_release(a);
  a = clt_arange(dev, CLT_FLOAT64, 1, 2.5, 0.5);
  tu_assert_values(a, 1, (const int64_t[]){3}, (const double[]){1, 1.5, 2});
  clt_release(a);
  ck_assert_ptr_null(clt_arange(dev, CLT_FLOAT32, 0, 1, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_arange: start 0, end 1, step 0: need finite values and step != 0");
  ck_assert_ptr_null(clt_arange(dev, CLT_FLOAT32, 0, INFINITY, 1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "need finite values");
}
END_TEST

START_TEST(philox_known_answers) {
  /* Random123's kat_vectors for philox4x32_10 */
  uint32_t out[4];
  clt__philox4x32((const uint32_t[]){0, 0, 0, 0}, (const uint32_t[]){0, 0}, out);
  ck_assert_uint_eq(out[0], 0x6627e8d5u);
  ck_assert_uint_eq(out[1], 0xe169c58du);
  ck_assert_uint_eq(out[2], 0xbc57ac4cu);
  ck_assert_uint_eq(out[3], 0x9b00dbd8u);
  clt__philox4x32((const uint32_t[]){0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                  (const uint32_t[]){0xffffffffu, 0xffffffffu}, out);
  ck_assert_uint_eq(out[0], 0x408f276du);
  ck_assert_uint_eq(out[1], 0x41c83b0eu);
  ck_assert_uint_eq(out[2], 0xa20bc7c6u);
  ck_assert_uint_eq(out[3], 0x6d5451fdu);
  clt__philox4x32((const uint32_t[]){0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                  (const uint32_t[]){0xa4093822u, 0x299f31d0u}, out);
  ck_assert_uint_eq(out[0], 0xd16cfe09u);
  ck_assert_uint_eq(out[1], 0x94fdccebu);
  ck_assert_uint_eq(out[2], 0x5001e420u);
  ck_assert_uint_eq(out[3], 0x24126ea1u);
}
END_TEST

/* The same seed gives the same numbers, bit for bit, on every device. */
START_TEST(rand_is_the_same_everywhere) {
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = k ? CLT_FLOAT64 : CLT_FLOAT32;
    const int64_t n = 1001; /* not a multiple of the block */
    double *vals[TU_MAX_DEV];
    for (int d = 0; d < tu_ndev; d++) {
      clt_manual_seed(1234);
      clt_tensor *a = clt_rand(tu_dev[d], dt, 1, &n);
      clt_tensor *b = clt_rand(tu_dev[d], dt, CLT_SHAPE(3)); /* advances the counter */
      ck_assert_ptr_nonnull(a);
      vals[d] = tu_values(a);
      double *bv = tu_values(b);
      ck_assert(bv[0] != vals[d][0]);
      free(bv);
      clt_release(a);
      clt_release(b);
    }
    double sum = 0, lo = 1, hi = 0;
    for (int64_t i = 0; i < n; i++) {
      for (int d = 1; d < tu_ndev; d++)
        ck_assert_msg(vals[d][i] == vals[0][i], "%s element %lld: %.17g on %s, %.17g on host", clt_dtype_name(dt),
                      (long long)i, vals[d][i], clt_device_spec(tu_dev[d]), vals[0][i]);
      sum += vals[0][i];
      lo = fmin(lo, vals[0][i]);
      hi = fmax(hi, vals[0][i]);
    }
    ck_assert(lo >= 0 && hi < 1);
    ck_assert_double_eq_tol(sum / (double)n, 0.5, 0.05);
    for (int d = 0; d < tu_ndev; d++) free(vals[d]);
  }
  uint64_t seed, off;
  clt_manual_seed(77);
  clt_rng_get_state(&seed, &off);
  ck_assert_uint_eq(seed, 77);
  ck_assert_uint_eq(off, 0);
  clt_tensor *t = clt_rand(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(9));
  clt_rng_get_state(&seed, &off);
  ck_assert_uint_eq(off, 3);
  clt_release(t);
  ck_assert_ptr_null(clt_rand(tu_dev[0], CLT_INT32, CLT_SHAPE(2)));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_rand: dtype int32 is not a float dtype");
}
END_TEST

START_TEST(randn_statistics_and_reproducibility) {
  clt_device *dev = TU_DEV;
  const int64_t n = 100001;
  clt_manual_seed(5);
  clt_tensor *a = clt_randn(dev, CLT_FLOAT32, 1, &n);
  clt_rng_set_state(5, 0);
  clt_tensor *b = clt_randn(tu_dev[0], CLT_FLOAT32, 1, &n);
  double *av = tu_values(a), *bv = tu_values(b), mean = 0, var = 0;
  for (int64_t i = 0; i < n; i++) {
    ck_assert(av[i] == bv[i]);
    mean += av[i];
  }
  mean /= (double)n;
  for (int64_t i = 0; i < n; i++) var += (av[i] - mean) * (av[i] - mean);
  var /= (double)(n - 1);
  ck_assert_double_eq_tol(mean, 0.0, 0.02);
  ck_assert_double_eq_tol(var, 1.0, 0.02);
  free(av);
  free(bv);
  clt_release(a);
  clt_release(b);
  ck_assert_ptr_null(clt_randn(dev, CLT_BOOL, CLT_SHAPE(2)));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_randn: dtype bool is not a float dtype");
}
END_TEST

static void assert_prints(clt_tensor *t, const char *want) {
  ck_assert_ptr_nonnull(t);
  char buf[4096];
  size_t need = 0;
  ck_assert_int_eq(clt_format(t, buf, sizeof buf, &need), CLT_OK);
  ck_assert_msg(strcmp(buf, want) == 0, "printed\n%s\nwanted\n%s", buf, want);
  ck_assert_uint_eq(need, strlen(want));
  clt_release(t);
}

START_TEST(prints_like_pytorch) {
  clt_device *h = tu_dev[0];
  clt_scope_begin(); /* releases the inner tensors of nested calls */
  assert_prints(clt_from_host(h, CLT_INT32, CLT_SHAPE(2, 2), (const int32_t[]){2, 0, 2, 3}),
                "tensor([[2, 0],\n        [2, 3]], dtype=int32)");
  assert_prints(clt_from_host(h, CLT_FLOAT32, CLT_SHAPE(3), (const float[]){1, 2, 3}), "tensor([1., 2., 3.])");
  assert_prints(clt_from_host(h, CLT_FLOAT32, CLT_SHAPE(3), (const float[]){1.5f, -2, 0.25f}),
                "tensor([ 1.5000, -2.0000,  0.2500])");
  assert_prints(clt_from_host(h, CLT_FLOAT64, CLT_SHAPE(2), (const double[]){1e-5, 1}),
                "tensor([1.0000e-05, 1.0000e+00], dtype=float64)");
  assert_prints(clt_from_host(h, CLT_FLOAT32, CLT_SHAPE(3), (const float[]){NAN, INFINITY, 1}),
                "tensor([nan, inf, 1.])");
  assert_prints(clt_full(h, CLT_FLOAT32, 0, NULL, 3.0), "tensor(3.)");
  assert_prints(clt_full(h, CLT_INT64, 0, NULL, 7), "tensor(7)");
  assert_prints(clt_from_host(h, CLT_BOOL, CLT_SHAPE(2), (const uint8_t[]){1, 0}), "tensor([ True, False])");
  assert_prints(clt_ones(h, CLT_UINT8, CLT_SHAPE(2)), "tensor([1, 1], dtype=uint8)");
  assert_prints(clt_zeros(h, CLT_FLOAT32, CLT_SHAPE(0)), "tensor([])");
  assert_prints(clt_zeros(h, CLT_FLOAT32, CLT_SHAPE(2, 0)), "tensor([], size=(2, 0))");
  assert_prints(clt_arange(h, CLT_INT64, 0, 8, 1), "tensor([0, 1, 2, 3, 4, 5, 6, 7])");
  assert_prints(clt_reshape(clt_arange(h, CLT_INT64, 0, 8, 1), CLT_SHAPE(2, 2, 2)),
                "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])");
  assert_prints(clt_arange(h, CLT_INT64, 0, 2000, 1), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  assert_prints(clt_arange(h, CLT_FLOAT32, 0, 20, 1),
                "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
                "        14., 15., 16., 17., 18., 19.])");
  assert_prints(clt_reshape(clt_arange(h, CLT_INT64, 0, 1100, 1), CLT_SHAPE(100, 11)),
                "tensor([[   0,    1,    2,  ...,    8,    9,   10],\n"
                "        [  11,   12,   13,  ...,   19,   20,   21],\n"
                "        [  22,   23,   24,  ...,   30,   31,   32],\n"
                "        ...,\n"
                "        [1067, 1068, 1069,  ..., 1075, 1076, 1077],\n"
                "        [1078, 1079, 1080,  ..., 1086, 1087, 1088],\n"
                "        [1089, 1090, 1091,  ..., 1097, 1098, 1099]])");
  clt_scope_end();
}
END_TEST

START_TEST(prints_the_device) {
  clt_tensor *t = clt_from_host(tu_cl(), CLT_INT32, CLT_SHAPE(2, 2), (const int32_t[]){2, 0, 2, 3});
  char want[128];
  snprintf(want, sizeof want, "tensor([[2, 0],\n        [2, 3]], dtype=int32, device='%s')", clt_device_spec(tu_cl()));
  assert_prints(t, want);
  FILE *f = tmpfile();
  t = clt_ones(tu_cl(), CLT_FLOAT32, CLT_SHAPE(1));
  ck_assert_int_eq(clt_print(t, f), CLT_OK);
  clt_release(t);
  fclose(f);
  ck_assert_int_eq(clt_print(NULL, stdout), CLT_ERR_INVALID_ARG);
  clt_clear_error();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("tensor");
  TCase *tc = tu_tcase("creation");
  TU_DEVICES(tc, full_every_dtype);
  TU_DEVICES(tc, scalars_and_empty_tensors);
  TU_DEVICES(tc, shape_errors);
  TU_DEVICES(tc, arange_like_torch);
  tcase_add_test(tc, philox_known_answers);
  tcase_add_test(tc, rand_is_the_same_everywhere);
  TU_DEVICES(tc, randn_statistics_and_reproducibility);
  suite_add_tcase(s, tc);
  tc = tu_tcase("print");
  tcase_add_test(tc, prints_like_pytorch);
  if (tu_cl()) tcase_add_test(tc, prints_the_device);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
