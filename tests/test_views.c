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
  /* one element along dim needs no step: a huge step must not overflow the stride (UBSan), nor
   * in the backward pass */
  clt_tensor *mf = clt_cast(m, CLT_FLOAT32);
  clt_set_requires_grad(mf, true);
  clt_tensor *one_row = clt_slice(mf, 0, 1, 4, INT64_MAX);
  tu_assert_values(one_row, 2, (const int64_t[]){1, 5}, (const double[]){5, 6, 7, 8, 9});
  ck_assert_int_eq(clt_backward(clt_sum(one_row, CLT_ALL_DIMS, false), NULL), CLT_OK);
  double g[20] = {0};
  for (int j = 5; j < 10; j++) g[j] = 1;
  tu_assert_values(clt_grad(mf), 2, (const int64_t[]){4, 5}, g);
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

/* clt_permute takes the length of dims and checks it against t's ndim (a shorter list was read
 * past its end). */
START_TEST(permute_checks_the_length_of_dims) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = base(dev, CLT_INT32, CLT_SHAPE(2, 3, 4));
  ck_assert_ptr_null(clt_permute(x, CLT_DIMS(1, 0)));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_permute: ndims is 2 for a 3-d tensor; dims must list all 3 dims");
  ck_assert_ptr_null(clt_permute(x, CLT_DIMS(0, 1, 2, 3)));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_permute: ndims is 4 for a 3-d tensor");
  ck_assert_ptr_null(clt_permute(x, 3, NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_permute: argument dims is NULL");
  clt_tensor *p = clt_permute(x, CLT_DIMS(-1, 0, 1)); /* [4,2,3] */
  ck_assert_int_eq(clt_shape(p)[0], 4);
  ck_assert_int_eq(clt_strides(p)[0], 1);
  clt_tensor *s = clt_full(dev, CLT_FLOAT32, 0, NULL, 2);
  tu_assert_values(clt_permute(s, 0, NULL), 0, NULL, (const double[]){2});
  ck_assert_ptr_null(clt_permute(s, CLT_DIMS(0)));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_permute: ndims is 1 for a 0-d tensor");
  clt_scope_end();
}
END_TEST

#define P62 ((int64_t)1 << 62)
#define REFUSED(call, st, ...)  \
  do {                          \
    ck_assert_ptr_null(call);   \
    TU_ASSERT_ERR(st, __VA_ARGS__); \
  } while (0)

/* Every path that makes a tensor or a view checks its sizes: they must multiply to at most
 * 2^63 - 1, a 0 counted as 1 (so strides fit too; PyTorch refuses (0, 2^62, 2^62) as well).
 * Expanded views are where such shapes come from: before, [1,1] expanded to [3, 2^62] wrapped
 * to a negative element count and printing it read past the heap. */
START_TEST(sizes_past_int64_are_refused) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *one = clt_ones(dev, CLT_UINT8, CLT_SHAPE(1, 1));
  REFUSED(clt_expand(one, CLT_SHAPE(3, P62)), CLT_ERR_OVERFLOW,
          "clt_expand: shape [3,4611686018427387904] has more than 2^63 - 1 elements");
  REFUSED(clt_expand(one, CLT_SHAPE(P62, 2)), CLT_ERR_OVERFLOW, "clt_expand: shape [4611686018427387904,2] has more");
  REFUSED(clt_expand(one, CLT_SHAPE(2, 2, -1, P62)), CLT_ERR_OVERFLOW, "clt_expand: shape [2,2,1,4611686018427387904]");
  clt_tensor *none = clt_zeros(dev, CLT_UINT8, CLT_SHAPE(0, 1, 1));
  REFUSED(clt_expand(none, CLT_SHAPE(0, P62, P62)), CLT_ERR_OVERFLOW,
          "clt_expand: shape [0,4611686018427387904,4611686018427387904] overflows: its sizes other than 0 multiply "
          "past 2^63 - 1");
  REFUSED(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(0, P62, P62)), CLT_ERR_OVERFLOW,
          "clt_zeros: shape [0,4611686018427387904,4611686018427387904] overflows");
  REFUSED(clt_empty(dev, CLT_FLOAT32, CLT_SHAPE(P62, P62, 0)), CLT_ERR_OVERFLOW, "clt_empty: shape");
  clt_tensor *flat0 = clt_zeros(dev, CLT_UINT8, CLT_SHAPE(0));
  REFUSED(clt_reshape(flat0, CLT_SHAPE(0, P62, P62)), CLT_ERR_OVERFLOW, "clt_reshape: shape [0,4611686018427387904,");
  REFUSED(clt_view(flat0, CLT_SHAPE(P62, 0, P62)), CLT_ERR_OVERFLOW, "clt_view: shape [4611686018427387904,0,");
  REFUSED(clt_reshape(flat0, CLT_SHAPE(-1, P62, P62)), CLT_ERR_SHAPE,
          "clt_reshape: shape [-1,4611686018427387904,4611686018427387904] is invalid for a tensor of shape [0]");
  uint8_t byte = 1;
  REFUSED(clt_wrap_host(CLT_UINT8, CLT_SHAPE(0, P62, P62), NULL, &byte, NULL, NULL), CLT_ERR_OVERFLOW,
          "clt_wrap_host: shape [0,4611686018427387904,4611686018427387904] overflows");
  /* views that fit, and results that would not */
  clt_tensor *tall = clt_expand(one, CLT_SHAPE(P62, 1)), *row = clt_ones(dev, CLT_UINT8, CLT_SHAPE(1, 4));
  ck_assert_int_eq(clt_numel(tall), P62);
  REFUSED(clt_add(tall, row), CLT_ERR_OVERFLOW,
          "clt_add: shapes [4611686018427387904,1] and [1,4] broadcast to [4611686018427387904,4], whose sizes multiply "
          "past 2^63 - 1");
  REFUSED(clt_where(clt_ones(dev, CLT_BOOL, CLT_SHAPE(1)), tall, row), CLT_ERR_OVERFLOW,
          "clt_where: shapes [4611686018427387904,1] and [1,4] broadcast to");
  clt_tensor *f1 = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(1, 1, 1, 1));
  REFUSED(clt_matmul(clt_expand(f1, CLT_SHAPE((int64_t)1 << 40, 1, 1, 1)), clt_expand(f1, CLT_SHAPE(1, (int64_t)1 << 40, 1, 1))),
          CLT_ERR_OVERFLOW, "clt_matmul: shapes [1099511627776,1] and [1,1099511627776] broadcast to");
  clt_tensor *wide0 = clt_expand(clt_zeros(dev, CLT_UINT8, CLT_SHAPE(0, 1)), CLT_SHAPE(0, P62));
  REFUSED(clt_cat(2, (clt_tensor *[]){wide0, wide0}, 1), CLT_ERR_OVERFLOW,
          "clt_cat: the sizes along dim 1 add up past 2^63 - 1 at tensor 1 (shape [0,4611686018427387904])");
  clt_tensor *half = clt_expand(one, CLT_SHAPE(P62 / 2, 2));
  REFUSED(clt_cat(2, (clt_tensor *[]){half, half}, 0), CLT_ERR_OVERFLOW,
          "clt_cat: the joined shape [4611686018427387904,2] has more than 2^63 - 1 elements");
  clt_tensor *vec = clt_expand(clt_ones(dev, CLT_UINT8, CLT_SHAPE(1)), CLT_SHAPE(P62));
  REFUSED(clt_stack(2, (clt_tensor *[]){vec, vec}, 0), CLT_ERR_OVERFLOW,
          "clt_stack: the joined shape [2,4611686018427387904] has more than 2^63 - 1 elements");
  REFUSED(clt_stack(2, (clt_tensor *[]){vec, vec}, 1), CLT_ERR_OVERFLOW,
          "clt_stack: the joined shape [4611686018427387904,2] has more than 2^63 - 1 elements");
  clt_scope_end();
}
END_TEST

/* Empty tensors whose other sizes are large but fit: every op walks nothing and forms no size
 * product that overflows (UBSan checks the products in the ASan build). */
START_TEST(empty_tensors_with_large_dims) {
  clt_device *dev = TU_DEV;
  const int64_t B = (int64_t)1 << 31;
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(0, B, B));
  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(clt_numel(x), 0);
  tu_assert_values(clt_sum(x, CLT_ALL_DIMS, false), 0, NULL, (const double[]){0});
  tu_assert_values(clt_sum(x, CLT_DIMS(1, 2), false), 1, (const int64_t[]){0}, NULL);
  tu_assert_values(clt_mean(x, CLT_DIMS(-1, 1), true), 3, (const int64_t[]){0, 1, 1}, NULL);
  tu_assert_values(clt_max(x, CLT_DIMS(1), false), 2, (const int64_t[]){0, B}, NULL);
  tu_assert_values(clt_logsumexp(x, CLT_DIMS(2), false), 2, (const int64_t[]){0, B}, NULL);
  tu_assert_values(clt_argmin(x, CLT_DIMS(2), true), 3, (const int64_t[]){0, B, 1}, NULL);
  REFUSED(clt_max(x, CLT_DIMS(0), false), CLT_ERR_SHAPE, "clt_max: max of a tensor of shape [0,2147483648,2147483648]");
  REFUSED(clt_argmax(x, CLT_ALL_DIMS, false), CLT_ERR_SHAPE, "clt_argmax: argmax over an empty dim has no value");
  tu_assert_values(clt_softmax(x, 1), 3, (const int64_t[]){0, B, B}, NULL);
  tu_assert_values(clt_contiguous(clt_transpose(x, 0, 2)), 3, (const int64_t[]){B, B, 0}, NULL);
  tu_assert_values(clt_contiguous(clt_permute(x, CLT_DIMS(1, 0, 2))), 3, (const int64_t[]){B, 0, B}, NULL);
  tu_assert_values(clt_flatten(x, 0, -1), 1, (const int64_t[]){0}, NULL);
  tu_assert_values(clt_flatten(x, 1, 2), 2, (const int64_t[]){0, (int64_t)1 << 62}, NULL);
  tu_assert_values(clt_reshape(x, CLT_SHAPE(B, -1, B)), 3, (const int64_t[]){B, 0, B}, NULL);
  tu_assert_values(clt_unsqueeze(x, 1), 4, (const int64_t[]){0, 1, B, B}, NULL);
  tu_assert_values(clt_slice(x, 1, 1, INT64_MAX, INT64_MAX / 2), 3, (const int64_t[]){0, 1, B}, NULL);
  tu_assert_values(clt_expand(clt_unsqueeze(x, 0), CLT_SHAPE(1, 0, B, B)), 4, (const int64_t[]){1, 0, B, B}, NULL);
  clt_tensor *col = clt_expand(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(1)), CLT_SHAPE(B)); /* a view, no memory */
  tu_assert_values(clt_mul(x, col), 3, (const int64_t[]){0, B, B}, NULL);
  tu_assert_values(clt_matmul(x, clt_expand(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(1, 1)), CLT_SHAPE(B, 2))), 3,
                   (const int64_t[]){0, B, 2}, NULL);
  tu_assert_values(clt_cat(2, (clt_tensor *[]){x, x}, 0), 3, (const int64_t[]){0, B, B}, NULL);
  tu_assert_values(clt_cat(2, (clt_tensor *[]){x, clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(0, 1, B))}, 1), 3,
                   (const int64_t[]){0, B + 1, B}, NULL);
  REFUSED(clt_cat(2, (clt_tensor *[]){x, x}, 1), CLT_ERR_OVERFLOW,
          "clt_cat: the joined shape [0,4294967296,2147483648] overflows: its sizes other than 0 multiply past 2^63 - 1");
  REFUSED(clt_stack(2, (clt_tensor *[]){x, x}, 0), CLT_ERR_OVERFLOW, "clt_stack: the joined shape [2,0,2147483648,2147483648]");
  tu_assert_values(clt_index_select(x, 1, clt_zeros(dev, CLT_INT64, CLT_SHAPE(1))), 3, (const int64_t[]){0, 1, B}, NULL);
  char text[128];
  ck_assert_int_eq(clt_format(x, text, sizeof text, NULL), CLT_OK);
  ck_assert_str_eq(text, dev == tu_dev[0] ? "tensor([], size=(0, 2147483648, 2147483648))"
                                          : "tensor([], size=(0, 2147483648, 2147483648), device='cl:0')");
  ck_assert_int_eq(clt_to_host(x, NULL, 0), CLT_OK);
  clt_scope_end();
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
  TU_DEVICES(tc, permute_checks_the_length_of_dims);
  TU_DEVICES(tc, sizes_past_int64_are_refused);
  TU_DEVICES(tc, empty_tensors_with_large_dims);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
