/* Lazy elementwise chains (lib/fusion.h): one kernel per chain, results identical to the ops
 * run one by one ($CLT_FUSION=0), every materialization point, errors, faults and leaks. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ew.h"
#include "fusion.h"
#include "tu.h"

static clt_tensor *filled(clt_device *dev, clt_dtype dt, int nd, const int64_t *shape, int salt, clt__domain dom) {
  int64_t n = tu_prod(nd, shape);
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = clt__domain_value(dom, (double)((i * 37 + salt * 11) % 29) / 29.0);
  if (dt != CLT_FLOAT32 && dt != CLT_FLOAT64)
    for (int64_t i = 0; i < n; i++) v[i] = (double)(((i * 7 + salt) % 5) - 2) + (dom == CLT__DOM_POS ? 3 : 0);
  unsigned char *raw = malloc((size_t)(n ? n : 1) * 8);
  for (int64_t i = 0; i < n; i++) clt__store_f64(dt, raw + (size_t)i * clt_dtype_size(dt), v[i]);
  clt_tensor *t = clt_from_host(dev, dt, nd, shape, raw);
  free(raw);
  free(v);
  return t;
}

static unsigned long launches(void) { return atomic_load(&clt__kernel_launches); }

/* The bytes of t (row-major); the caller frees. */
static unsigned char *bytes_of(clt_tensor *t) {
  size_t n = (size_t)clt_numel(t) * clt_dtype_size(clt_dtype_of(t));
  unsigned char *b = malloc(n ? n : 1);
  ck_assert_int_eq(clt_to_host(t, b, n), CLT_OK);
  return b;
}

/* gelu(x * w + b) with w a row broadcast over x's rows and b a column. */
static clt_tensor *gelu_affine(clt_tensor *x, clt_tensor *w, clt_tensor *b) {
  clt_tensor *t1 = clt_mul(x, w), *t2 = clt_add(t1, b), *y = clt_gelu(t2);
  clt_release(t1);
  clt_release(t2);
  return y;
}

START_TEST(one_kernel_per_chain) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  clt__fusion_set(1);
  clt_tensor *x = filled(dev, CLT_FLOAT32, 2, (int64_t[]){30, 40}, 1, CLT__DOM_REAL);
  clt_tensor *w = filled(dev, CLT_FLOAT32, 1, (int64_t[]){40}, 2, CLT__DOM_REAL);
  clt_tensor *b = filled(dev, CLT_FLOAT32, 2, (int64_t[]){30, 1}, 3, CLT__DOM_REAL);
  clt_tensor *y = gelu_affine(x, w, b);
  unsigned long before = launches();
  unsigned char *fused = bytes_of(y);
  ck_assert_uint_eq(launches() - before, 1);
  long programs = atomic_load(&clt__live[CLT__LIVE_PROGRAMS]);
  /* the same chain at another size and other values compiles nothing */
  clt_tensor *x2 = filled(dev, CLT_FLOAT32, 2, (int64_t[]){7, 40}, 4, CLT__DOM_REAL);
  clt_tensor *b2 = filled(dev, CLT_FLOAT32, 2, (int64_t[]){7, 1}, 5, CLT__DOM_REAL);
  clt_tensor *y2 = gelu_affine(x2, w, b2);
  free(bytes_of(y2));
  ck_assert_int_eq(atomic_load(&clt__live[CLT__LIVE_PROGRAMS]), programs);
  clt__fusion_set(0);
  before = launches();
  clt_tensor *y0 = gelu_affine(x, w, b);
  unsigned char *plain = bytes_of(y0);
  ck_assert_uint_eq(launches() - before, 3);
  ck_assert_int_eq(memcmp(fused, plain, 30 * 40 * 4), 0);
  setenv("CLT_FUSION", "0", 1); /* the environment's switch: each op launches at once */
  clt__fusion_set(-1);
  before = launches();
  clt_tensor *e = clt_exp(x);
  ck_assert_uint_eq(launches() - before, 1);
  clt_release(e);
  unsetenv("CLT_FUSION");
  clt__fusion_set(-1);
  e = clt_exp(x);
  ck_assert_uint_eq(launches() - before, 1);
  clt_release(e);
  free(fused);
  free(plain);
  clt_release(y0);
  clt_release(y2);
  clt_release(x2);
  clt_release(b2);
  clt_release(y);
  clt_release(x);
  clt_release(w);
  clt_release(b);
}
END_TEST

/* By default a chain's first run on a device is its ops one by one (nothing compiled for it), the
 * second one generated kernel; the bytes are the same. */
START_TEST(fused_from_the_second_run) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  clt__fusion_set(-1);
  clt_tensor *x = filled(dev, CLT_FLOAT32, 2, (int64_t[]){6, 5}, 1, CLT__DOM_REAL);
  unsigned char *got[3];
  for (int run = 0; run < 3; run++) {
    /* a chain no other test runs: its counts start here */
    clt_tensor *t = clt_mul_scalar(x, 0.75), *u = clt_maximum(t, x), *y = clt_softplus(u);
    unsigned long before = launches();
    got[run] = bytes_of(y);
    ck_assert_uint_eq(launches() - before, run == 0 ? 3 : 1);
    clt_release(t);
    clt_release(u);
    clt_release(y);
  }
  ck_assert_int_eq(memcmp(got[0], got[1], 30 * 4), 0);
  ck_assert_int_eq(memcmp(got[0], got[2], 30 * 4), 0);
  for (int run = 0; run < 3; run++) free(got[run]);
  clt_release(x);
}
END_TEST

/* A chain of n ops: y = op(neg(a) [, b]) for each form the row has, and the same with fusion
 * off; bytes compared. */
typedef clt_tensor *(*chain_fn)(clt_op op, clt_tensor *a, clt_tensor *b, int form);

static clt_tensor *unary_chain(clt_op op, clt_tensor *a, clt_tensor *b, int form) {
  (void)form;
  /* a * b keeps the operand in the op's domain where b is positive */
  clt_tensor *t = clt_mul(a, b), *y = t ? clt_unary(op, t, 0.3, 1.2) : NULL;
  clt_release(t);
  return y;
}

/* form 0: op(t, b) with t recorded; 1: t op 0.5; 2: 0.5 op t; 3: op(|b|, t), both recorded */
static clt_tensor *binary_chain(clt_op op, clt_tensor *a, clt_tensor *b, int form) {
  clt_tensor *t = clt_mul_scalar(a, 1.0), *y = NULL;
  if (form == 0) y = clt_binary(op, t, b);
  else if (form == 1 && clt__op_table[op].forms & (1 << CLT__FORM_SCALAR)) y = clt_binary_scalar(op, t, 0.5);
  else if (form == 2 && clt__op_table[op].forms & (1 << CLT__FORM_RSCALAR)) {
    clt__api("binary_chain");
    y = clt__binary_scalar(op, t, 0.5, true);
  } else if (form == 3) {
    clt_tensor *u = clt_abs(b);
    y = clt_binary(op, u, t);
    clt_release(u);
  }
  clt_release(t);
  return y;
}

static void compare(clt_device *dev, chain_fn fn, clt_op op, clt_dtype dt, int form, const char *what) {
  int nd = 2;
  int64_t sa[2] = {9, 13}, sb[2] = {9, 13};
  clt__domain da = (clt__domain)clt__op_table[op].domain[0], db = (clt__domain)clt__op_table[op].domain[1];
  if (clt__op_table[op].arity == 1) db = CLT__DOM_POS, da = da == CLT__DOM_REAL ? CLT__DOM_REAL : da;
  clt_tensor *a = filled(dev, dt, nd, sa, 1, da), *b = filled(dev, dt, nd, sb, 2, db);
  clt__fusion_set(1);
  clt_tensor *y1 = fn(op, a, b, form);
  if (y1) ck_assert_int_eq(clt_eval(y1), CLT_OK); /* one generated kernel (mode 1) */
  clt__fusion_set(0);
  clt_tensor *y0 = fn(op, a, b, form);
  clt__fusion_set(-1);
  ck_assert_msg((y1 == NULL) == (y0 == NULL), "%s %s: fused %p, unfused %p (%s)", what, clt_op_name(op), (void *)y1,
                (void *)y0, clt_last_error());
  if (y1) {
    ck_assert_int_eq(clt_dtype_of(y1), clt_dtype_of(y0));
    unsigned char *g1 = bytes_of(y1), *g0 = bytes_of(y0);
    size_t n = (size_t)clt_numel(y0) * clt_dtype_size(clt_dtype_of(y0));
    for (size_t i = 0; i < n; i++)
      ck_assert_msg(g1[i] == g0[i], "%s %s %s: byte %zu differs fused and unfused", what, clt_op_name(op),
                    clt_dtype_name(dt), i);
    free(g1);
    free(g0);
  }
  clt_release(y1);
  clt_release(y0);
  clt_release(a);
  clt_release(b);
}

START_TEST(equal_to_unfused_over_the_table) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  const clt_dtype dts[] = {CLT_FLOAT32, CLT_INT32};
  for (int op = 0; op < CLT_OP_COUNT; op++) {
    if (!clt__op_valid(op)) continue;
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
      clt_dtype dt = dts[d];
      int rule = clt__op_table[op].rule;
      if (dt == CLT_INT32 && rule == CLT__R_FLOAT) continue;
      if (clt__op_table[op].arity == 1) compare(dev, unary_chain, (clt_op)op, dt, 0, "unary");
      else if (clt__op_table[op].arity == 2)
        for (int form = 0; form < 4; form++) compare(dev, binary_chain, (clt_op)op, dt, form, "binary");
    }
  }
}
END_TEST

/* where over a comparison, with broadcasting: cond [4, 1], a [4, 6], b [6]. */
static clt_tensor *where_chain(clt_tensor *a, clt_tensor *b, clt_tensor *c) {
  clt_tensor *cond = clt_gt(c, clt_zeros(clt_device_of(c), CLT_FLOAT32, CLT_SHAPE(1)));
  return clt_where(cond, clt_mul(a, b), b); /* in a scope */
}

START_TEST(where_and_broadcast) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  clt_scope_begin();
  clt_tensor *a = filled(dev, CLT_FLOAT32, 2, (int64_t[]){4, 6}, 1, CLT__DOM_REAL);
  clt_tensor *b = filled(dev, CLT_FLOAT32, 1, (int64_t[]){6}, 2, CLT__DOM_REAL);
  clt_tensor *c = filled(dev, CLT_FLOAT32, 2, (int64_t[]){4, 1}, 3, CLT__DOM_REAL);
  clt__fusion_set(1);
  clt_tensor *y1 = where_chain(a, b, c);
  ck_assert_int_eq(clt_eval(y1), CLT_OK);
  clt__fusion_set(0);
  clt_tensor *y0 = where_chain(a, b, c);
  clt__fusion_set(-1);
  unsigned char *g1 = bytes_of(y1), *g0 = bytes_of(y0);
  ck_assert_int_eq(clt_numel(y1), 24);
  ck_assert_int_eq(memcmp(g1, g0, 24 * 4), 0);
  free(g1);
  free(g0);
  clt_scope_end();
}
END_TEST

/* Unread results are never computed; reading one later runs its own recipe. */
START_TEST(unread_results_cost_nothing) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  clt__fusion_set(1);
  clt_tensor *x = filled(dev, CLT_FLOAT32, 1, (int64_t[]){100}, 1, CLT__DOM_REAL);
  unsigned long before = launches();
  clt_tensor *t1 = clt_exp(x), *t2 = clt_add_scalar(t1, 1), *t3 = clt_mul(t2, t1);
  clt_release(clt_sqrt(t3)); /* never read */
  ck_assert_uint_eq(launches() - before, 0);
  double v3, v1;
  clt_tensor *s3 = clt_slice(t3, 0, 5, 6, 1), *s1 = clt_slice(t1, 0, 5, 6, 1);
  ck_assert_int_eq(clt_eval(t3), CLT_OK);
  ck_assert_uint_eq(launches() - before, 1);
  ck_assert_int_eq(clt_eval(t3), CLT_OK); /* once */
  ck_assert_int_eq(clt_item(s3, &v3), CLT_OK);
  ck_assert_uint_eq(launches() - before, 1);
  ck_assert_int_eq(clt_item(s1, &v1), CLT_OK);
  ck_assert_uint_eq(launches() - before, 2);
  ck_assert_double_eq(v3, ((float)v1 + 1.0f) * (float)v1);
  clt_release(s3);
  clt_release(s1);
  clt_release(t1);
  clt_release(t2);
  clt_release(t3);
  clt_release(x);
  clt__fusion_set(-1);
}
END_TEST

/* A recorded result sees its inputs as they were: an in-place op on an input, a fill, a copy
 * into it, or an optimizer step runs the recipes that read it first. */
START_TEST(inputs_written_in_place) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  clt__fusion_set(1);
  clt_scope_begin();
  clt_tensor *x = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(8), 2.0), *w = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(8), 3.0);
  clt_tensor *y1 = clt_mul(x, w);
  ck_assert_int_eq(clt_add_(x, w), CLT_OK); /* x = 5 */
  clt_tensor *y2 = clt_mul(x, w);
  ck_assert_int_eq(clt_fill_(w, 10.0), CLT_OK);
  clt_tensor *y3 = clt_add(x, w); /* 15 */
  clt_tensor *y4 = clt_add(y3, y3); /* 30, one recipe read twice */
  ck_assert_int_eq(clt_copy_(x, w), CLT_OK);
  double v;
  ck_assert_int_eq(clt_item(clt_sum(y1, CLT_ALL_DIMS, false), &v), CLT_OK);
  ck_assert_double_eq(v, 8 * 6.0);
  ck_assert_int_eq(clt_item(clt_sum(y2, CLT_ALL_DIMS, false), &v), CLT_OK);
  ck_assert_double_eq(v, 8 * 15.0);
  ck_assert_int_eq(clt_item(clt_sum(y4, CLT_ALL_DIMS, false), &v), CLT_OK);
  ck_assert_double_eq(v, 8 * 30.0);
  /* a view of a recorded result is read through its storage */
  clt_tensor *y5 = clt_mul_scalar(x, 2); /* x = 10 now: 20 */
  clt_tensor *v5 = clt_transpose(clt_reshape(y5, CLT_SHAPE(2, 4)), 0, 1);
  clt_tensor *z = clt_add(v5, v5); /* reads a view: y5 runs first */
  ck_assert_int_eq(clt_item(clt_sum(z, CLT_ALL_DIMS, false), &v), CLT_OK);
  ck_assert_double_eq(v, 8 * 40.0);
  clt_scope_end();
  clt__fusion_set(-1);
}
END_TEST

/* A recipe keeps its inputs: they may be released before it runs; an op that takes a recipe in
 * whole and reads a view of the same result (which runs the recipe first) keeps them too. */
START_TEST(inputs_released_early) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  clt__fusion_set(1);
  clt_tensor *x = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(3, 3), 2.0);
  clt_tensor *t = clt_mul(x, x); /* 4 */
  clt_release(x);
  clt_tensor *tt = clt_transpose(t, 0, 1);
  clt_tensor *z = clt_add(t, tt); /* t taken in whole, then run for the view */
  clt_release(tt);
  clt_release(t);
  float v[9];
  ck_assert_int_eq(clt_to_host(z, v, sizeof v), CLT_OK);
  for (int i = 0; i < 9; i++) ck_assert_float_eq(v[i], 8.0f);
  clt_release(z);
  clt__fusion_set(-1);
}
END_TEST

/* Gradients through a recorded chain are those of the ops run one by one. */
static clt_status grad_run(clt_device *dev, bool fused, unsigned char *out) {
  clt__fusion_set(fused ? 1 : 0);
  clt_scope_begin();
  clt_tensor *x = filled(dev, CLT_FLOAT32, 2, (int64_t[]){5, 7}, 1, CLT__DOM_REAL);
  clt_tensor *w = filled(dev, CLT_FLOAT32, 1, (int64_t[]){7}, 2, CLT__DOM_REAL);
  clt_set_requires_grad(x, true);
  clt_set_requires_grad(w, true);
  clt_tensor *y = clt_tanh(clt_add_scalar(clt_mul(x, w), 0.25));
  clt_status s = clt_backward(clt_sum(clt_mul(y, y), CLT_ALL_DIMS, false), NULL);
  if (s == CLT_OK) s = clt_to_host(clt_grad(x), out, 35 * 4);
  if (s == CLT_OK) s = clt_to_host(clt_grad(w), out + 35 * 4, 7 * 4);
  clt_scope_end();
  clt__fusion_set(-1);
  return s;
}

START_TEST(gradients_through_a_chain) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  unsigned char g1[42 * 4], g0[42 * 4];
  ck_assert_int_eq(grad_run(dev, true, g1), CLT_OK);
  ck_assert_int_eq(grad_run(dev, false, g0), CLT_OK);
  ck_assert_int_eq(memcmp(g1, g0, sizeof g1), 0);
}
END_TEST

/* Shape and dtype errors are the op's own, at once; a failed launch names the chain's ops. */
START_TEST(errors_name_the_op) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  ck_assert_int_eq(clt_eval(NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_eval", "t");
  clt__fusion_set(1);
  clt_tensor *x = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(4, 3)), *w = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2));
  clt_tensor *t = clt_exp(x);
  ck_assert_ptr_null(clt_add(t, w));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_add", "[4,3]", "[2]");
  clt_tensor *y = clt_sin(t);
  clt__fault_arm(1, 0);
  float buf[12];
  /* the first fault point of the read is the chain's launch: sin(exp(x)) as one program */
  clt_status s = clt_to_host(y, buf, sizeof buf);
  clt__fault_reset();
  ck_assert_int_ne(s, CLT_OK);
  TU_ASSERT_ERR(s, "fused chain of exp, sin");
  ck_assert_int_eq(clt_to_host(y, buf, sizeof buf), CLT_OK); /* the recipe stayed: a retry runs it */
  ck_assert_float_eq_tol(buf[0], sinf(expf(1)), 1e-6);
  clt_release(y);
  clt_release(t);
  clt_release(x);
  clt_release(w);
  clt__fusion_set(-1);
}
END_TEST

/* Every fault point of a chain's life fails cleanly, leaks nothing, and the next run is right. */
static clt_status chain_workload(clt_device *dev, double *result) {
  clt_scope_begin();
  clt_tensor *x = clt_arange(dev, CLT_FLOAT32, 0, 12, 1);
  clt_tensor *y = clt_mul_scalar(clt_sigmoid(clt_add_scalar(clt_mul(x, x), -3)), 2);
  clt_status s = y ? clt_item(clt_sum(y, CLT_ALL_DIMS, false), result) : clt_last_status();
  clt_scope_end();
  return s;
}

/* 16-bit chains (float16, bfloat16): a chain over contiguous operands runs as the generated
 * program's wide kernel on CPU devices (CLT_WIDE elements per work-item, the run's end element
 * by element; lib/cl/ew.c: clt_fused_w), over strided ones as its one-element kernel, and op by
 * op with fusion off: all three give the same bits (NaN matching any NaN: an op's NaN is any NaN
 * in the wide kernels, common.clh), each fused one in one launch, at lengths around the width
 * and past 256 work-items, from an odd element offset, over values that include zeros,
 * subnormals, the largest finite, inf and NaN. Each 16-bit result inside a chain is rounded to
 * its type as the ops' stores do (a chain kept in float32 differs in the last bit). Before, an
 * op touching a 16-bit type ran at once (one launch per op). */
static double special16(clt_dtype dt, int64_t i, int salt) {
  const double sub = dt == CLT_FLOAT16 ? 0x1p-20 : 0x1p-130, big = dt == CLT_FLOAT16 ? 65504 : 0x1.fep127;
  const double sp[] = {0, -0.0, sub, -3 * sub, big, -big, INFINITY, -INFINITY, NAN, 1, -1, 0.5};
  int64_t k = i * 7 + salt * 5;
  if (k % 3 == 0) return sp[(k / 3) % 12];
  return ((double)((k * 2654435761u) % 4093) / 1024.0 - 2.0) * (1 + salt * 0.01); /* ordinary values */
}

/* n values as a contiguous tensor at element offset 1 (*cont) and as a view stepping by 3 (*str) */
static void views16(clt_device *dev, clt_dtype dt, int64_t n, int salt, clt_tensor **cont, clt_tensor **str) {
  int64_t m = 3 * n + 1;
  unsigned char *b = calloc((size_t)m, 2), *c = calloc((size_t)m, 2);
  for (int64_t i = 0; i < n; i++) {
    clt__store_f64(dt, b + 2 * (size_t)(i + 1), special16(dt, i, salt));
    clt__store_f64(dt, c + 2 * (size_t)(3 * i), special16(dt, i, salt));
  }
  *cont = clt_slice(clt_from_host(dev, dt, 1, &m, b), 0, 1, n + 1, 1);
  *str = clt_slice(clt_from_host(dev, dt, 1, &m, c), 0, 0, 3 * n, 3);
  free(b);
  free(c);
}

/* relu(x * a + b); x * x - clamp(x, -1, 2); where(x > 0.5, exp(x), 2 - a) * 0.3; sigmoid(b) + a;
 * x * a <= b (a bool result: the one-element kernel, contiguous too) */
#define NCHAIN16 5
static clt_tensor *chain16(int kind, clt_tensor *x, clt_tensor *a, clt_tensor *b) {
  switch (kind) {
    case 0: return clt_relu(clt_add(clt_mul(x, a), b));
    case 1: return clt_sub(clt_mul(x, x), clt_clamp(x, -1, 2));
    case 2: return clt_mul_scalar(clt_where(clt_gt_scalar(x, 0.5), clt_exp(x), clt_rsub_scalar(a, 2)), 0.3);
    case 3: return clt_add(clt_sigmoid(b), a);
    default: return clt_le(clt_mul(x, a), b);
  }
}

static bool nan16(clt_dtype dt, uint16_t h) {
  return (h & 0x7fff) > (dt == CLT_FLOAT16 ? 0x7c00 : 0x7f80);
}

static void same16(clt_tensor *got, clt_tensor *want, const char *what) {
  ck_assert_msg(got && want, "%s: %s", what, clt_last_error());
  clt_dtype dt = clt_dtype_of(want);
  ck_assert_int_eq(clt_dtype_of(got), dt);
  int64_t n = clt_numel(want);
  unsigned char *g = bytes_of(clt_contiguous(got)), *w = bytes_of(clt_contiguous(want));
  for (int64_t i = 0; i < n; i++) {
    uint16_t gi = g[i], wi = w[i];
    if (dt != CLT_BOOL) {
      memcpy(&gi, g + 2 * i, 2);
      memcpy(&wi, w + 2 * i, 2);
    }
    ck_assert_msg(gi == wi || (dt != CLT_BOOL && nan16(dt, gi) && nan16(dt, wi)), "%s: element %lld is %04x, not %04x",
                  what, (long long)i, gi, wi);
  }
  free(g);
  free(w);
}

START_TEST(sixteen_bit_chains_wide_and_strided) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  static const int64_t lengths[] = {1, 31, 32, 33, 95, 250, 8200};
  static const clt_dtype dts[] = {CLT_FLOAT16, CLT_BFLOAT16};
  for (int d = 0; d < 2; d++)
    for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++)
      for (int kind = 0; kind < NCHAIN16; kind++) {
        clt_scope_begin();
        int64_t n = lengths[li];
        clt_tensor *x, *xs, *a, *as, *b, *bs;
        views16(dev, dts[d], n, 0, &x, &xs);
        views16(dev, dts[d], n, 1, &a, &as);
        views16(dev, dts[d], n, 2, &b, &bs);
        char what[96];
        snprintf(what, sizeof what, "chain %d in %s, %lld elements", kind, clt_dtype_name(dts[d]), (long long)n);
        clt__fusion_set(1);
        clt_tensor *wide = chain16(kind, x, a, b), *str = chain16(kind, xs, as, bs);
        unsigned long before = launches();
        ck_assert_int_eq(clt_eval(wide), CLT_OK);
        ck_assert_msg(launches() - before == 1, "%s: %lu launches", what, launches() - before);
        before = launches();
        ck_assert_int_eq(clt_eval(str), CLT_OK);
        ck_assert_msg(launches() - before == 1, "%s, strided: %lu launches", what, launches() - before);
        clt__fusion_set(0);
        clt_tensor *each = chain16(kind, x, a, b), *each_s = chain16(kind, xs, as, bs);
        clt__fusion_set(-1);
        same16(wide, each, what);
        same16(str, each, what);
        same16(each_s, each, what);
        clt_scope_end();
      }
}
END_TEST

/* A 16-bit chain's parameters travel as scalar arguments while both of its kernels (the strided
 * clt_fused and the wide clt_fused_w, whose operands take more arguments) stay within the
 * argument record: chains of 1-3 inputs and 7-10 two-parameter ops cross both kernels' bounds for
 * every input count (the wide kernel once failed at its 24th argument from a chain's second run). */
START_TEST(sixteen_bit_chains_of_every_length) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  static const clt_dtype dts[] = {CLT_FLOAT16, CLT_BFLOAT16};
  for (int d = 0; d < 2; d++)
    for (int nin = 1; nin <= 3; nin++)
      for (int nun = 7; nun <= 10; nun++) { /* the bounds: 7-9 ops (wide), 9-10 (strided) */
        clt_scope_begin();
        clt_tensor *x, *xs, *a, *as, *b, *bs;
        views16(dev, dts[d], 100, 0, &x, &xs);
        views16(dev, dts[d], 100, 1, &a, &as);
        views16(dev, dts[d], 100, 2, &b, &bs);
        clt_tensor *got[2];
        for (int fused = 1; fused >= 0; fused--) {
          clt__fusion_set(fused);
          clt_tensor *t = nin > 1 ? clt_add(x, a) : x;
          if (nin > 2) t = clt_add(t, b);
          for (int k = 0; k < nun; k++) t = k % 2 ? clt_neg(t) : clt_relu(t);
          unsigned long before = launches();
          ck_assert_msg(clt_eval(t) == CLT_OK, "%s, %d inputs, %d unary ops, fused %d: %s", clt_dtype_name(dts[d]), nin,
                        nun, fused, clt_last_error());
          if (fused && nin + nun > 1)
            ck_assert_msg(launches() - before == 1, "%s, %d inputs, %d unary ops: %lu launches", clt_dtype_name(dts[d]),
                          nin, nun, launches() - before);
          got[fused] = t;
        }
        clt__fusion_set(-1);
        char what[96];
        snprintf(what, sizeof what, "%s, %d inputs, %d unary ops", clt_dtype_name(dts[d]), nin, nun);
        same16(got[1], got[0], what);
        clt_scope_end();
      }
}
END_TEST

START_TEST(fault_sweep) {
  for (int mode = 1; mode <= 2; mode++) { /* generated kernels; recorded chains run op by op */
    clt__fusion_set(mode);
    tu_fault_sweep(TU_DEV, chain_workload, 1e-6, 3);
  }
  clt__fusion_set(-1);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("fusion");
  TCase *tc = tu_tcase("fusion");
  tcase_add_test(tc, one_kernel_per_chain);
  tcase_add_test(tc, fused_from_the_second_run);
  tcase_add_test(tc, equal_to_unfused_over_the_table);
  tcase_add_test(tc, where_and_broadcast);
  tcase_add_test(tc, unread_results_cost_nothing);
  tcase_add_test(tc, inputs_written_in_place);
  tcase_add_test(tc, inputs_released_early);
  tcase_add_test(tc, gradients_through_a_chain);
  tcase_add_test(tc, errors_name_the_op);
  tcase_add_test(tc, sixteen_bit_chains_wide_and_strided);
  tcase_add_test(tc, sixteen_bit_chains_of_every_length);
  TU_DEVICES(tc, fault_sweep);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
