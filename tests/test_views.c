/* Views share storage; contiguous copies gather them. Every device must agree with the
 * expected values written out here. */
#include "tu.h"

/* base = arange(n) reshaped, on dev */
static clt_tensor *base(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  clt_tensor *a = clt_arange(dev, dt, 0, (double)n, 1);
  clt_tensor *r = clt_reshape(a, ndim, shape);
  clt_release(a);
  ck_assert_ptr_nonnull(r);
  return r;
}

START_TEST(reshape_views_when_it_can) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = base(dev, CLT_FLOAT32, CLT_SHAPE(2, 3, 4));
  clt_tensor *r = clt_reshape(x, CLT_SHAPE(6, -1));
  ck_assert(clt_shares_storage(r, x));
  ck_assert_int_eq(clt_shape(r)[1], 4);
  clt_tensor *t = clt_transpose(x, 0, 2); /* [4,3,2] */
  clt_tensor *c = clt_reshape(t, CLT_SHAPE(-1));
  ck_assert(!clt_shares_storage(c, x)); /* not expressible as a view: copied */
  double want[24];
  for (int i = 0, k = 0; i < 4; i++)
    for (int j = 0; j < 3; j++)
      for (int l = 0; l < 2; l++) want[k++] = l * 12 + j * 4 + i;
  tu_assert_values(c, 1, (const int64_t[]){24}, want);
  ck_assert_ptr_null(clt_view(t, CLT_SHAPE(24)));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_view: a tensor of shape [4,3,2] with these strides cannot be viewed as [24]");
  /* merging the two dims that are still contiguous works as a view */
  clt_tensor *p = clt_transpose(x, 0, 1); /* [3,2,4]: dim 2 contiguous */
  clt_tensor *v = clt_view(p, CLT_SHAPE(3, 2, 2, 2));
  ck_assert(clt_shares_storage(v, x));
  ck_assert_ptr_null(clt_reshape(x, CLT_SHAPE(-1, -1)));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_reshape: shape [-1,-1] has more than one -1");
  ck_assert_ptr_null(clt_reshape(x, CLT_SHAPE(5, -1)));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_reshape: shape [5,-1] is invalid for a tensor of shape [2,3,4] (24 elements)");
  ck_assert_ptr_null(clt_reshape(x, CLT_SHAPE(2, 2)));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "shape [2,2] is invalid");
  ck_assert_ptr_null(clt_reshape(x, CLT_SHAPE(-2, 12)));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "has a negative size");
  clt_tensor *s = clt_reshape(clt_slice(x, 0, 1, 2, 1), 0, NULL); /* wrong numel for a scalar */
  ck_assert_ptr_null(s);
  clt_clear_error();
  clt_tensor *one = clt_full(dev, CLT_INT32, 0, NULL, 4);
  clt_tensor *o3 = clt_reshape(one, CLT_SHAPE(1, 1, 1));
  tu_assert_values(o3, 3, (const int64_t[]){1, 1, 1}, (const double[]){4});
  tu_assert_values(clt_reshape(o3, 0, NULL), 0, NULL, (const double[]){4});
  clt_scope_end();
}
END_TEST

/* Strided walks of every rank up to 6 (beyond the 4 dims one OpenCL launch takes, so split into
 * several), odd row lengths and broadcasts: contiguous copies and a binary op against values
 * computed here from the strides. */
START_TEST(strided_walks_of_any_rank) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  static const int64_t shape[6] = {2, 3, 5, 2, 3, 7}; /* 1260 elements */
  clt_tensor *x = base(dev, CLT_FLOAT32, 6, shape);
  int64_t st[6];
  st[5] = 1;
  for (int d = 4; d >= 0; d--) st[d] = st[d + 1] * shape[d + 1];
  for (int rank = 2; rank <= 6; rank++) {
    /* reverse the last `rank` dims: nothing merges, the walk has `rank` dims */
    int perm[6];
    for (int d = 0; d < 6; d++) perm[d] = d < 6 - rank ? d : 6 - 1 - (d - (6 - rank));
    clt_tensor *p = clt_permute(x, 6, perm);
    ck_assert_ptr_nonnull(p);
    int64_t pshape[6], idx[6] = {0};
    for (int d = 0; d < 6; d++) pshape[d] = shape[perm[d]];
    double *want = malloc(sizeof(double) * 1260), *want2 = malloc(sizeof(double) * 1260);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(want2);
    for (int64_t i = 0; i < 1260; i++) {
      int64_t off = 0;
      for (int d = 0; d < 6; d++) off += idx[d] * st[perm[d]];
      want[i] = (double)off;
      want2[i] = (double)off + (double)idx[5] * 1000; /* plus a row broadcast of the last dim */
      for (int d = 5; d >= 0 && ++idx[d] == pshape[d]; d--) idx[d] = 0;
    }
    tu_assert_values(clt_contiguous(p), 6, pshape, want);
    clt_tensor *row = clt_mul_scalar(clt_arange(dev, CLT_FLOAT32, 0, (double)pshape[5], 1), 1000);
    tu_assert_values(clt_add(p, row), 6, pshape, want2);
    free(want);
    free(want2);
  }
  clt_scope_end();
}
END_TEST

START_TEST(flatten_transpose_permute) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = base(dev, CLT_INT64, CLT_SHAPE(2, 3, 4));
  clt_tensor *f = clt_flatten(x, 1, -1);
  ck_assert_int_eq(clt_ndim(f), 2);
  ck_assert_int_eq(clt_shape(f)[1], 12);
  tu_assert_values(clt_flatten(clt_full(dev, CLT_INT32, 0, NULL, 3), 0, -1), 1, (const int64_t[]){1}, (const double[]){3});
  ck_assert_ptr_null(clt_flatten(x, 2, 1));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_flatten: start_dim 2 comes after end_dim 1");
  clt_tensor *t = clt_transpose(x, -1, 0); /* [4,3,2] */
  ck_assert(!clt_is_contiguous(t));
  ck_assert_int_eq(clt_strides(t)[0], 1);
  ck_assert_int_eq(clt_strides(t)[2], 12);
  clt_tensor *tt = clt_transpose(t, 0, 2);
  ck_assert(clt_is_contiguous(tt));
  ck_assert_ptr_null(clt_transpose(x, 0, 3));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_transpose: dim1 3 is out of range for a 3-d tensor (expected -3..2)");
  clt_tensor *p = clt_permute(x, CLT_DIMS(2, 0, 1)); /* [4,2,3] */
  double want[24];
  for (int i = 0, k = 0; i < 4; i++)
    for (int j = 0; j < 2; j++)
      for (int l = 0; l < 3; l++) want[k++] = j * 12 + l * 4 + i;
  tu_assert_values(clt_contiguous(p), 3, (const int64_t[]){4, 2, 3}, want);
  ck_assert_ptr_null(clt_permute(x, CLT_DIMS(0, 0, 1)));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_permute: dims repeats dim 0; it must be a permutation of 0..2");
  clt_tensor *s0 = clt_transpose(clt_full(dev, CLT_FLOAT32, 0, NULL, 1), 0, -1); /* 0-d: allowed */
  ck_assert_int_eq(clt_ndim(s0), 0);
  clt_scope_end();
}
END_TEST

START_TEST(slices_with_steps) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = base(dev, CLT_INT32, CLT_SHAPE(10));
  tu_assert_values(clt_slice(x, 0, 1, 8, 3), 1, (const int64_t[]){3}, (const double[]){1, 4, 7});
  tu_assert_values(clt_slice(x, 0, -3, INT64_MAX, 1), 1, (const int64_t[]){3}, (const double[]){7, 8, 9});
  tu_assert_values(clt_slice(x, 0, -100, 2, 1), 1, (const int64_t[]){2}, (const double[]){0, 1});
  tu_assert_values(clt_slice(x, 0, 7, 3, 1), 1, (const int64_t[]){0}, NULL);
  tu_assert_values(clt_slice(x, -1, 20, 30, 2), 1, (const int64_t[]){0}, NULL);
  clt_tensor *m = base(dev, CLT_INT32, CLT_SHAPE(4, 5));
  clt_tensor *s = clt_slice(clt_slice(m, 1, 0, 5, 2), 0, 1, 4, 2); /* rows 1,3; cols 0,2,4 */
  tu_assert_values(s, 2, (const int64_t[]){2, 3}, (const double[]){5, 7, 9, 15, 17, 19});
  ck_assert_int_eq(clt_storage_offset(s), 5);
  ck_assert_ptr_null(clt_slice(x, 0, 0, 5, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_slice: step 0 must be at least 1");
  ck_assert_ptr_null(clt_slice(clt_full(dev, CLT_INT32, 0, NULL, 1), 0, 0, 1, 1));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_slice: cannot slice a 0-d tensor");
  ck_assert_ptr_null(clt_slice(m, 2, 0, 1, 1));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_slice: dim 2 is out of range");
  clt_scope_end();
}
END_TEST

START_TEST(expand_squeeze_unsqueeze) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *c = base(dev, CLT_FLOAT64, CLT_SHAPE(3, 1));
  clt_tensor *e = clt_expand(c, CLT_SHAPE(2, 3, 4));
  ck_assert_int_eq(clt_strides(e)[0], 0);
  ck_assert_int_eq(clt_strides(e)[2], 0);
  double want[24];
  for (int i = 0; i < 24; i++) want[i] = (i / 4) % 3;
  tu_assert_values(e, 3, (const int64_t[]){2, 3, 4}, want);
  tu_assert_values(clt_expand(c, CLT_SHAPE(-1, 2)), 2, (const int64_t[]){3, 2}, (const double[]){0, 0, 1, 1, 2, 2});
  ck_assert_ptr_null(clt_expand(c, CLT_SHAPE(4, 1)));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_expand: cannot expand shape [3,1] to [4,1]: dim 0 has size 3, not 1");
  ck_assert_ptr_null(clt_expand(c, CLT_SHAPE(3)));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "cannot expand a 2-d tensor to 1 dims");
  ck_assert_ptr_null(clt_expand(c, CLT_SHAPE(-1, 3, 1)));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "has size -1 in a new leading dim");
  clt_tensor *q = clt_squeeze(c, 1);
  ck_assert_int_eq(clt_ndim(q), 1);
  ck_assert_int_eq(clt_ndim(clt_squeeze(c, 0)), 2); /* size 3: unchanged */
  clt_tensor *u = clt_unsqueeze(q, 0);
  ck_assert_int_eq(clt_ndim(u), 2);
  ck_assert_int_eq(clt_shape(u)[0], 1);
  clt_tensor *u2 = clt_unsqueeze(q, -1);
  ck_assert_int_eq(clt_shape(u2)[1], 1);
  ck_assert_int_eq(clt_strides(u2)[1], 1);
  ck_assert_ptr_null(clt_unsqueeze(q, 3));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_unsqueeze: dim 3 is out of range");
  clt_tensor *all = clt_squeeze_all(clt_unsqueeze(clt_unsqueeze(q, 0), 2));
  ck_assert_int_eq(clt_ndim(all), 1);
  clt_tensor *eight = clt_ones(dev, CLT_UINT8, CLT_SHAPE(1, 1, 1, 1, 1, 1, 1, 1));
  ck_assert_ptr_null(clt_unsqueeze(eight, 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_unsqueeze: a 8-d tensor cannot gain a dim (at most 8)");
  clt_scope_end();
}
END_TEST

/* A deep chain of views over every element size, made contiguous on the device. */
START_TEST(contiguous_gathers_any_view) {
  clt_device *dev = TU_DEV;
  const clt_dtype dts[] = {CLT_UINT8, CLT_INT32, CLT_FLOAT64};
  for (int k = 0; k < 3; k++) {
    clt_scope_begin();
    clt_tensor *x = base(dev, dts[k], CLT_SHAPE(4, 6));
    ck_assert_ptr_eq(clt_contiguous(x), x); /* already contiguous: the same tensor */
    clt_release(x);                         /* the extra reference contiguous returned */
    x = base(dev, dts[k], CLT_SHAPE(4, 6));
    clt_tensor *v = clt_slice(clt_transpose(x, 0, 1), 0, 1, 6, 2); /* [3,4]: cols 1,3,5 */
    clt_tensor *e = clt_expand(clt_unsqueeze(v, 0), CLT_SHAPE(2, 3, 4));
    clt_tensor *c = clt_contiguous(e);
    ck_assert(clt_is_contiguous(c));
    ck_assert(!clt_shares_storage(c, x));
    double want[24];
    for (int b = 0, n = 0; b < 2; b++)
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) want[n++] = j * 6 + (1 + 2 * i);
    tu_assert_values(c, 3, (const int64_t[]){2, 3, 4}, want);
    clt_tensor *cl = clt_clone(x);
    ck_assert(!clt_shares_storage(cl, x));
    ck_assert(clt_is_contiguous(cl));
    clt_scope_end();
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("views");
  TCase *tc = tu_tcase("views");
  TU_DEVICES(tc, reshape_views_when_it_can);
  TU_DEVICES(tc, flatten_transpose_permute);
  TU_DEVICES(tc, strided_walks_of_any_rank);
  TU_DEVICES(tc, slices_with_steps);
  TU_DEVICES(tc, expand_squeeze_unsqueeze);
  TU_DEVICES(tc, contiguous_gathers_any_view);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
