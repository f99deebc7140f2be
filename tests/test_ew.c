/* Elementwise ops, driven by the op table: every row on every device against the host
 * reference, over contiguous, transposed, strided and broadcast inputs, every dtype the row
 * takes; promotion; special values; casts; bad input; the $CLT_CHECK mode. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "ew.h"
#include "fusion.h"
#include "tu.h"

/* Float32 results may differ from the host's double-rounded-once reference by the OpenCL
 * built-ins' error bounds (up to 16 ulp for pow and erf). */
static void assert_close(const clt_tensor *got, const clt_tensor *want, const char *what) {
  ck_assert_ptr_nonnull(got);
  ck_assert_ptr_nonnull(want);
  ck_assert_msg(clt_dtype_of(got) == clt_dtype_of(want), "%s: dtype %s, want %s", what,
                clt_dtype_name(clt_dtype_of(got)), clt_dtype_name(clt_dtype_of(want)));
  ck_assert_int_eq(clt_ndim(got), clt_ndim(want));
  for (int d = 0; d < clt_ndim(got); d++) ck_assert_int_eq(clt_shape(got)[d], clt_shape(want)[d]);
  double *g = tu_values(got), *w = tu_values(want);
  clt_dtype dt = clt_dtype_of(got);
  /* 16-bit results round a float32 computed on the device and on the host, which may differ by
   * a float32 ulp or so: one 16-bit ulp either way (2^-10, 2^-7 relative) */
  double rtol = dt == CLT_FLOAT32 ? 1e-5 : dt == CLT_FLOAT64 ? 1e-12 : dt == CLT_FLOAT16 ? 0x1p-10 : dt == CLT_BFLOAT16 ? 0x1p-7 : 0;
  double atol = dt == CLT_FLOAT32 ? 1e-6 : dt == CLT_FLOAT16 ? 1e-6 : dt == CLT_BFLOAT16 ? 1e-6 : 1e-14;
  for (int64_t i = 0; i < clt_numel(got); i++) {
    bool ok = (isnan(g[i]) && isnan(w[i])) || g[i] == w[i] ||
              (clt_dtype_is_float(dt) && fabs(g[i] - w[i]) <= atol + rtol * fabs(w[i]));
    ck_assert_msg(ok, "%s: element %lld is %.17g, the host reference %.17g", what, (long long)i, g[i], w[i]);
  }
  free(g);
  free(w);
}

/* Inputs in the domain the op table gives each operand (lib/optable.h): positive for logs,
 * roots and pow's base, away from 0 for divisors, small exponents. */
static double input_value(clt_op op, int64_t i, int which) {
  double u = (double)((i * 37 + which * 11) % 23) / 23.0; /* 0..1 */
  return clt__domain_value((clt__domain)clt__op_table[op].domain[which], u);
}

/* The parameters an op is tested with: integral bounds (an integer clamp stays integer; a
 * fractional bound makes float32), else 0.3. */
static void test_params(clt_op op, double *p0, double *p1) {
  bool bounds = clt__op_table[op].rule == CLT__R_INT_BOUNDS;
  *p0 = bounds ? -1.0 : 0.3;
  *p1 = bounds ? 1.0 : 0;
}

static clt_tensor *make_input(clt_device *dev, clt_op op, clt_dtype dt, int ndim, const int64_t *shape, int which) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  uint8_t *raw = malloc((size_t)(n ? n : 1) * 8);
  for (int64_t i = 0; i < n; i++) {
    v[i] = input_value(op, i, which);
    if (!clt_dtype_is_float(dt)) v[i] = dt == CLT_BOOL ? (double)((i + which) % 3 == 0) : floor(v[i] * 2);
    if (dt == CLT_UINT8) v[i] = fabs(v[i]);
    if (clt__op_table[op].domain[which] == CLT__DOM_EXPONENT && !clt_dtype_is_float(dt)) v[i] = (double)(i % 4);
    clt__store_f64(dt, raw + (size_t)i * clt_dtype_size(dt), v[i]);
  }
  clt_tensor *t = clt_from_host(dev, dt, ndim, shape, raw);
  free(v);
  free(raw);
  ck_assert_ptr_nonnull(t);
  return t;
}

static const clt_dtype all_dtypes[] = {CLT_FLOAT32, CLT_FLOAT64, CLT_INT32, CLT_INT64, CLT_UINT8, CLT_BOOL, CLT_FLOAT16, CLT_BFLOAT16};

/* Whether the op takes tensors of dtype dt: bool arithmetic is logical where PyTorch defines it
 * (div computes in float32), float-only ops promote integers. */
static bool takes(clt_op op, clt_dtype dt) { return clt__op_takes_bool(op, dt, dt); }

/* The op on the device under test equals the op on the host, for four layouts of the input:
 * contiguous, transposed, sliced with a step, and (binary) broadcast. */
START_TEST(unary_ops_match_the_host) {
  clt_device *dev = TU_DEV;
  for (int op = 0; op < CLT_OP_COUNT; op++) {
    if (!clt__op_valid(op) || !clt__op_is_unary((clt_op)op)) continue;
    for (size_t k = 0; k < 6; k++) {
      clt_dtype dt = all_dtypes[k];
      if (!takes((clt_op)op, dt)) continue;
      clt_scope_begin();
      double p0, p1;
      test_params((clt_op)op, &p0, &p1);
      clt_tensor *x = make_input(dev, (clt_op)op, dt, CLT_SHAPE(5, 6), 0);
      clt_tensor *xh = clt_to(x, tu_dev[0]);
      clt_tensor *views[3] = {x, clt_transpose(x, 0, 1), clt_slice(clt_slice(x, 0, 1, 5, 2), 1, 0, 6, 3)};
      clt_tensor *hviews[3] = {xh, clt_transpose(xh, 0, 1), clt_slice(clt_slice(xh, 0, 1, 5, 2), 1, 0, 6, 3)};
      for (int v = 0; v < 3; v++) {
        char what[96];
        snprintf(what, sizeof what, "%s(%s, view %d) on %s", clt_op_name((clt_op)op), clt_dtype_name(dt), v,
                 clt_device_spec(dev));
        clt_tensor *got = clt_unary((clt_op)op, views[v], p0, p1);
        ck_assert_msg(got != NULL, "%s: %s", what, clt_last_error());
        assert_close(got, clt_unary((clt_op)op, hviews[v], p0, p1), what);
        clt_dtype want_dt = clt__op_out_dtype(op, clt__op_table[op].rule == CLT__R_FLOAT && !clt_dtype_is_float(dt)
                                                      ? CLT_FLOAT32 : dt);
        ck_assert_int_eq(clt_dtype_of(got), want_dt);
      }
      clt_scope_end();
    }
  }
}
END_TEST

START_TEST(binary_ops_match_the_host) {
  clt_device *dev = TU_DEV;
  for (int op = 0; op < CLT_OP_COUNT; op++) {
    if (!clt__op_valid(op) || clt__op_arity((clt_op)op) != 2) continue;
    for (size_t k = 0; k < 6; k++) {
      clt_dtype dt = all_dtypes[k];
      if (!takes((clt_op)op, dt)) continue;
      clt_scope_begin();
      clt_tensor *a = make_input(dev, (clt_op)op, dt, CLT_SHAPE(4, 6), 0);
      clt_tensor *b = make_input(dev, (clt_op)op, dt, CLT_SHAPE(4, 6), 1);
      clt_tensor *col = make_input(dev, (clt_op)op, dt, CLT_SHAPE(4, 1), 1);
      clt_tensor *row = make_input(dev, (clt_op)op, dt, CLT_SHAPE(6), 1);
      clt_tensor *A[4] = {a, clt_transpose(clt_transpose(a, 0, 1), 0, 1), a, clt_slice(a, 1, 0, 6, 2)};
      clt_tensor *B[4] = {b, clt_contiguous(clt_transpose(clt_contiguous(clt_transpose(b, 0, 1)), 0, 1)), col,
                          clt_slice(row, 0, 1, 6, 2)};
      for (int v = 0; v < 4; v++) {
        char what[96];
        snprintf(what, sizeof what, "%s(%s, layout %d) on %s", clt_op_name((clt_op)op), clt_dtype_name(dt), v,
                 clt_device_spec(dev));
        clt_tensor *got = clt_binary((clt_op)op, A[v], B[v]);
        ck_assert_msg(got != NULL, "%s: %s", what, clt_last_error());
        clt_tensor *want = clt_binary((clt_op)op, clt_to(A[v], tu_dev[0]), clt_to(B[v], tu_dev[0]));
        assert_close(got, want, what);
      }
      if (clt__op_table[op].forms & 1 << CLT__FORM_SCALAR) {
        double s = clt__op_table[op].domain[1] == CLT__DOM_EXPONENT ? 2.0 : 1.5;
        clt_tensor *ah = clt_to(a, tu_dev[0]);
        assert_close(clt_binary_scalar((clt_op)op, clt_transpose(a, 0, 1), s),
                     clt_binary_scalar((clt_op)op, clt_transpose(ah, 0, 1), s), "scalar form");
        /* a op s equals a op full(s), a 0-d tensor of the scalar's dtype (int64, or float32 as
         * PyTorch's default dtype for a Python float) */
        clt_tensor *full = clt_full(tu_dev[0], s == floor(s) ? CLT_INT64 : CLT_FLOAT32, 0, NULL, s);
        assert_close(clt_binary_scalar((clt_op)op, ah, s), clt_binary((clt_op)op, ah, full), "scalar vs 0-d tensor");
      }
      clt_scope_end();
    }
  }
  /* the reversed scalar forms */
  clt_scope_begin();
  clt_tensor *x = clt_arange(dev, CLT_FLOAT32, 1, 5, 1);
  tu_assert_values(clt_rsub_scalar(x, 10), 1, (const int64_t[]){4}, (const double[]){9, 8, 7, 6});
  tu_assert_values(clt_rdiv_scalar(x, 12), 1, (const int64_t[]){4}, (const double[]){12, 6, 4, 3});
  tu_assert_values(clt_rpow_scalar(x, 2), 1, (const int64_t[]){4}, (const double[]){2, 4, 8, 16});
  clt_scope_end();
}
END_TEST

START_TEST(where_matches_the_host) {
  clt_device *dev = TU_DEV;
  for (size_t k = 0; k < 6; k++) {
    clt_scope_begin();
    clt_dtype dt = all_dtypes[k];
    clt_tensor *c = make_input(dev, CLT_OP_where, CLT_BOOL, CLT_SHAPE(3, 1, 5), 0);
    clt_tensor *a = make_input(dev, CLT_OP_where, dt, CLT_SHAPE(4, 5), 0);
    clt_tensor *b = make_input(dev, CLT_OP_where, dt, CLT_SHAPE(1), 1);
    clt_tensor *got = clt_where(c, a, b);
    ck_assert_int_eq(clt_ndim(got), 3);
    ck_assert_int_eq(clt_shape(got)[1], 4);
    assert_close(got, clt_where(clt_to(c, tu_dev[0]), clt_to(a, tu_dev[0]), clt_to(b, tu_dev[0])), "where");
    /* a float condition counts nonzero as true */
    tu_assert_values(clt_where(clt_arange(dev, CLT_FLOAT32, -1, 2, 1), clt_ones(dev, CLT_INT32, CLT_SHAPE(3)),
                               clt_zeros(dev, CLT_INT32, CLT_SHAPE(3))),
                     1, (const int64_t[]){3}, (const double[]){1, 0, 1});
    clt_scope_end();
  }
}
END_TEST

/* Every public function of the op table's rows (clt/elementwise.h), named here through the
 * table: clt_<op>, clt_<op>_scalar, clt_r<op>_scalar. */
#define UFN_P0 UFN0
#define UFN_P1(a) UFN1
#define UFN_P2(a, b) UFN2
#define UFN0(fn, op) {op, 0, fn, NULL, NULL},
#define UFN1(fn, op) {op, 1, NULL, fn, NULL},
#define UFN2(fn, op) {op, 2, NULL, NULL, fn},
#define U_FN(name, v, rule, params, g, dom, doc) UFN_##params(clt_##name, CLT_OP_##name)
static const struct {
  clt_op op;
  int np;
  clt_tensor *(*f0)(clt_tensor *);
  clt_tensor *(*f1)(clt_tensor *, double);
  clt_tensor *(*f2)(clt_tensor *, double, double);
} unary_fns[] = {CLT_UNARY_OPS(U_FN)};

#define BFN_S_T(f) NULL
#define BFN_S_TS(f) f
#define BFN_S_TSR(f) f
#define BFN_R_T(f) NULL
#define BFN_R_TS(f) NULL
#define BFN_R_TSR(f) f
#define B_FN(name, v, rule, forms, ga, gb, gs, gr, da, db, doc) \
  {CLT_OP_##name, clt_##name, BFN_S_##forms(clt_##name##_scalar), BFN_R_##forms(clt_r##name##_scalar)},
static const struct {
  clt_op op;
  clt_tensor *(*f)(clt_tensor *, clt_tensor *);
  clt_tensor *(*scalar)(clt_tensor *, double);
  clt_tensor *(*rscalar)(clt_tensor *, double);
} binary_fns[] = {CLT_BINARY_OPS(B_FN)};

/* a and b hold the same values, bit for bit (NaN for NaN). */
static void assert_same(clt_tensor *got, clt_tensor *want, const char *what) {
  ck_assert_msg(got != NULL && want != NULL, "%s: %s", what, clt_last_error());
  ck_assert_int_eq(clt_dtype_of(got), clt_dtype_of(want));
  ck_assert_int_eq(clt_numel(got), clt_numel(want));
  double *g = tu_values(got), *w = tu_values(want);
  for (int64_t i = 0; i < clt_numel(got); i++)
    ck_assert_msg(isnan(w[i]) ? isnan(g[i]) : memcmp(&g[i], &w[i], sizeof *g) == 0, "%s, element %lld: %.17g, want %.17g",
                  what, (long long)i, g[i], w[i]);
  free(g);
  free(w);
}

/* Each public function is the op of its row: the same values as clt_unary, clt_binary and
 * clt_binary_scalar give for the op's value (s op b: as clt_binary with s a 0-d tensor), and the
 * rows cover every value of clt_op that names an op. */
START_TEST(public_functions_are_their_rows) {
  clt_device *dev = TU_DEV;
  int covered = 0, valid = 0;
  for (int op = 0; op < CLT_OP_COUNT; op++) valid += clt__op_valid(op);
  char what[96];
  for (size_t k = 0; k < sizeof unary_fns / sizeof *unary_fns; k++) {
    clt_scope_begin();
    clt_op op = unary_fns[k].op;
    double p0, p1;
    test_params(op, &p0, &p1);
    clt_tensor *x = make_input(dev, op, CLT_FLOAT32, CLT_SHAPE(3, 5), 0);
    clt_tensor *got = unary_fns[k].np == 0   ? unary_fns[k].f0(x)
                      : unary_fns[k].np == 1 ? unary_fns[k].f1(x, p0)
                                             : unary_fns[k].f2(x, p0, p1);
    ck_assert_int_eq(unary_fns[k].np, clt__op_table[op].nparams);
    snprintf(what, sizeof what, "clt_%s on %s", clt_op_name(op), clt_device_spec(dev));
    assert_same(got, clt_unary(op, x, unary_fns[k].np > 0 ? p0 : 0, unary_fns[k].np > 1 ? p1 : 0), what);
    covered++;
    clt_scope_end();
  }
  for (size_t k = 0; k < sizeof binary_fns / sizeof *binary_fns; k++) {
    clt_scope_begin();
    clt_op op = binary_fns[k].op;
    clt_tensor *a = make_input(dev, op, CLT_FLOAT32, CLT_SHAPE(3, 5), 0), *b = make_input(dev, op, CLT_FLOAT32, CLT_SHAPE(5), 1);
    snprintf(what, sizeof what, "clt_%s on %s", clt_op_name(op), clt_device_spec(dev));
    assert_same(binary_fns[k].f(a, b), clt_binary(op, a, b), what);
    int forms = clt__op_table[op].forms;
    ck_assert((binary_fns[k].scalar != NULL) == ((forms & 1 << CLT__FORM_SCALAR) != 0));
    ck_assert((binary_fns[k].rscalar != NULL) == ((forms & 1 << CLT__FORM_RSCALAR) != 0));
    /* scalars float32 holds exactly (the host computes a op s with s in double) */
    double s = round(8 * clt__domain_value((clt__domain)clt__op_table[op].domain[1], 0.7)) / 8;
    double r = round(8 * clt__domain_value((clt__domain)clt__op_table[op].domain[0], 0.7)) / 8;
    if (binary_fns[k].scalar) {
      snprintf(what, sizeof what, "clt_%s_scalar on %s", clt_op_name(op), clt_device_spec(dev));
      assert_same(binary_fns[k].scalar(a, s), clt_binary_scalar(op, a, s), what);
    }
    if (binary_fns[k].rscalar) {
      snprintf(what, sizeof what, "clt_r%s_scalar on %s", clt_op_name(op), clt_device_spec(dev));
      assert_same(binary_fns[k].rscalar(b, r), clt_binary(op, clt_full(dev, CLT_FLOAT32, 0, NULL, r), b), what);
    }
    covered++;
    clt_scope_end();
  }
  clt_scope_begin();
  clt_tensor *c = make_input(dev, CLT_OP_where, CLT_BOOL, CLT_SHAPE(5), 0), *a = clt_ones(dev, CLT_INT32, CLT_SHAPE(5));
  tu_assert_values(clt_where(c, a, clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(5))), 1, (const int64_t[]){5},
                   (const double[]){1, 0, 0, 1, 0});
  covered++; /* the one ternary row */
  clt_scope_end();
  ck_assert_int_eq(covered, valid);
}
END_TEST

/* ---- elementwise programs --------------------------------------------------------------- */

/* Runs program p over in[0 .. p->nin) into a new tensor of the program's dtype and out's shape
 * (NULL, recorded, on failure). */
static clt_tensor *run_prog(const clt__ew_prog *p, clt_tensor *const *in, clt_tensor *like) {
  clt_tensor *out = clt__empty(clt_device_of(like), clt__ew_prog_out_dtype(p), clt_ndim(like), clt_shape(like));
  ck_assert_ptr_nonnull(out);
  if (clt__ew_run_prog(p, out, in) != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  return out;
}

/* p over in gives exactly want. */
static void assert_prog(const clt__ew_prog *p, clt_tensor *const *in, clt_tensor *want, const char *what) {
  clt_tensor *got = run_prog(p, in, want);
  assert_same(got, want, what);
  clt__tensor_release(got);
}

static int add(clt__ew_prog *p, int op, clt_dtype dt, int r0, int r1, int r2, double p0, double p1, int scalar) {
  const int in[3] = {r0, r1, r2};
  const double params[2] = {p0, p1};
  int r = clt__ew_prog_add(p, op, dt, in, params, scalar);
  ck_assert_msg(r >= 0, "%s", clt_last_error());
  return r;
}

/* A program of several instructions runs on the host as its instructions do one at a time, bit
 * for bit, over strided and broadcast inputs and rows longer than the interpreter's chunk: a
 * float32 chain through a scalar form, where, clamp's bounds and a comparison into logical ops;
 * a float64 one through a gradient kernel; an integer one (clamp's bounds as integers). The
 * OpenCL backend runs a program whose instructions compute in one dtype as one generated kernel,
 * bit for bit as the ops one at a time, refuses one that mixes dtypes, and runs one-instruction
 * ones as the op. Bad programs are refused, naming what is wrong. */
START_TEST(programs_run_as_their_instructions) {
  clt_device *h = tu_dev[0];
  clt_scope_begin();
  clt_tensor *a = clt_transpose(make_input(h, CLT_OP_add, CLT_FLOAT32, CLT_SHAPE(700, 3), 0), 0, 1); /* [3, 700] */
  clt_tensor *b = make_input(h, CLT_OP_add, CLT_FLOAT32, CLT_SHAPE(700), 1);
  clt_tensor *c = make_input(h, CLT_OP_where, CLT_BOOL, CLT_SHAPE(3, 1), 0);
  clt_tensor *in[3] = {a, b, c};
  clt__ew_prog p;
  clt__ew_prog_init(&p, 3, (const clt_dtype[]){CLT_FLOAT32, CLT_FLOAT32, CLT_BOOL});
  int r = add(&p, CLT_OP_mul, CLT_FLOAT32, 0, 0, 0, 2.5, 0, 1);
  r = add(&p, CLT_OP_add, CLT_FLOAT32, r, 1, 0, 0, 0, 0);
  r = add(&p, CLT_OP_sigmoid, CLT_FLOAT32, r, 0, 0, 0, 0, 0);
  r = add(&p, CLT_OP_where, CLT_FLOAT32, 2, r, 0, 0, 0, 0);
  r = add(&p, CLT_OP_clamp, CLT_FLOAT32, r, 0, 0, -0.25, 0.75, 0);
  r = add(&p, CLT_OP_lt, CLT_FLOAT32, r, 0, 0, 0.5, 0, 1);
  add(&p, CLT_OP_logical_xor, CLT_BOOL, r, 2, 0, 0, 0, 0);
  clt_tensor *want = clt_logical_xor(
      clt_lt_scalar(clt_clamp(clt_where(c, clt_sigmoid(clt_add(clt_mul_scalar(a, 2.5), b)), a), -0.25, 0.75), 0.5), c);
  assert_prog(&p, in, want, "float32 program on the host");
  if (tu_cl()) { /* on OpenCL: float32 then bool refused; the float32 part generated; a single op as the op */
    clt_tensor *ca = clt_to(a, tu_cl()), *cb = clt_to(b, tu_cl()), *cc = clt_to(c, tu_cl()), *cin[3] = {ca, cb, cc};
    ck_assert_ptr_null(run_prog(&p, cin, clt_to(want, tu_cl())));
    TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "elementwise programs whose instructions compute in different dtypes",
                  "fused chain of mul, add, sigmoid, where, clamp, lt, logical_xor");
    clt__ew_prog f32 = p;
    f32.n = 5; /* through clamp: float32 throughout */
    clt__fusion_set(0); /* the reference: the ops one at a time */
    clt_tensor *cwant = clt_clamp(clt_where(cc, clt_sigmoid(clt_add(clt_mul_scalar(ca, 2.5), cb)), ca), -0.25, 0.75);
    clt__fusion_set(-1);
    unsigned long launches = atomic_load(&clt__kernel_launches);
    assert_prog(&f32, cin, cwant, "float32 program on OpenCL");
    ck_assert_uint_eq(atomic_load(&clt__kernel_launches) - launches, 1);
    clt__ew_prog one;
    clt__ew_prog_init(&one, 2, (const clt_dtype[]){CLT_FLOAT32, CLT_FLOAT32});
    add(&one, CLT_OP_add, CLT_FLOAT32, 0, 1, 0, 0, 0, 0);
    clt_tensor *sum = clt_add(ca, cb);
    assert_prog(&one, cin, sum, "one-instruction program on OpenCL");
  }
  /* float64 through a gradient kernel: (g tanh'(x))^2 */
  clt_tensor *g = clt_cast(b, CLT_FLOAT64), *x = clt_cast(clt_contiguous(a), CLT_FLOAT64), *gx[2] = {g, x};
  clt__ew_prog_init(&p, 2, (const clt_dtype[]){CLT_FLOAT64, CLT_FLOAT64});
  int y = add(&p, CLT_OP_tanh, CLT_FLOAT64, 1, 0, 0, 0, 0, 0);
  r = add(&p, CLT__G_tanh_bwd, CLT_FLOAT64, 0, y, 0, 0, 0, 0);
  add(&p, CLT_OP_mul, CLT_FLOAT64, r, r, 0, 0, 0, 0);
  clt_tensor *d = clt__ew_grad(CLT__G_tanh_bwd, g, clt_tanh(x), NULL, 0, 0);
  want = clt_mul(d, d);
  clt__tensor_release(d);
  assert_prog(&p, gx, want, "float64 program through a gradient kernel");
  /* int32: clamp's bounds in the dtype */
  clt_tensor *i = clt_cast(clt_mul_scalar(x, 3), CLT_INT32), *j = clt_cast(g, CLT_INT32), *ij[2] = {i, j};
  clt__ew_prog_init(&p, 2, (const clt_dtype[]){CLT_INT32, CLT_INT32});
  r = add(&p, CLT_OP_add, CLT_INT32, 0, 1, 0, 0, 0, 0);
  r = add(&p, CLT_OP_clamp, CLT_INT32, r, 0, 0, -3, INFINITY, 0);
  add(&p, CLT_OP_mul, CLT_INT32, r, 0, 0, 0, 0, 0);
  want = clt_mul(clt_clamp(clt_add(i, j), -3, INFINITY), i);
  assert_prog(&p, ij, want, "int32 program");
  /* bad programs */
  clt__ew_prog_init(&p, 2, (const clt_dtype[]){CLT_INT32, CLT_INT32});
  add(&p, CLT_OP_add, CLT_INT32, 0, 3, 0, 0, 0, 0);
  ck_assert_ptr_null(run_prog(&p, ij, want));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "instruction 0 (add) reads register 3 before it is written");
  clt__ew_prog_init(&p, 2, (const clt_dtype[]){CLT_INT32, CLT_INT32});
  r = add(&p, CLT_OP_lt, CLT_INT32, 0, 1, 0, 0, 0, 0);
  add(&p, CLT_OP_add, CLT_INT32, r, 1, 0, 0, 0, 0);
  ck_assert_ptr_null(run_prog(&p, ij, want));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "instruction 1 (add) reads register 2 as int32, which holds bool");
  clt__ew_prog_init(&p, 2, (const clt_dtype[]){CLT_FLOAT64, CLT_INT32});
  add(&p, CLT_OP_add, CLT_INT32, 0, 1, 0, 0, 0, 0);
  add(&p, CLT_OP_neg, CLT_INT32, 2, 0, 0, 0, 0, 0);
  ck_assert_ptr_null(run_prog(&p, ij, want));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "instruction 0 (add) reads register 0 as int32, which holds float64");
  for (int k = 0; k < CLT__EW_MAX_INSTR; k++) p.ins[k] = p.ins[0];
  p.n = CLT__EW_MAX_INSTR;
  ck_assert_int_eq(clt__ew_prog_add(&p, CLT_OP_neg, CLT_INT32, (const int[]){0, 0, 0}, NULL, 0), -1);
  char full[64];
  snprintf(full, sizeof full, "elementwise program: more than %d instructions", CLT__EW_MAX_INSTR);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, full);
  clt_scope_end();
}
END_TEST

/* Known values, computed independently (libm in double, or by hand), for the host reference
 * itself; every device is then held to the host. */
START_TEST(host_reference_known_values) {
  clt_device *h = tu_dev[0];
  struct { clt_op op; double x, p0, p1, want; } cases[] = {
      {CLT_OP_neg, 2, 0, 0, -2}, {CLT_OP_abs, -2.5, 0, 0, 2.5}, {CLT_OP_sign, -0.5, 0, 0, -1},
      {CLT_OP_square, -3, 0, 0, 9}, {CLT_OP_relu, -1, 0, 0, 0}, {CLT_OP_relu, 2, 0, 0, 2},
      {CLT_OP_clamp, 5, -1, 2, 2}, {CLT_OP_clamp, -5, -1, 2, -1}, {CLT_OP_exp, 1, 0, 0, 2.718281828459045},
      {CLT_OP_expm1, 1e-10, 0, 0, 1.00000000005e-10}, {CLT_OP_log, 2.718281828459045, 0, 0, 1},
      {CLT_OP_log1p, 1e-10, 0, 0, 9.9999999995e-11}, {CLT_OP_sqrt, 2, 0, 0, 1.4142135623730951},
      {CLT_OP_rsqrt, 4, 0, 0, 0.5}, {CLT_OP_reciprocal, 8, 0, 0, 0.125}, {CLT_OP_sin, 1, 0, 0, 0.8414709848078965},
      {CLT_OP_cos, 1, 0, 0, 0.5403023058681398}, {CLT_OP_tanh, 1, 0, 0, 0.7615941559557649},
      {CLT_OP_sigmoid, 0, 0, 0, 0.5}, {CLT_OP_sigmoid, -800, 0, 0, 0}, {CLT_OP_leaky_relu, -2, 0.1, 0, -0.2},
      {CLT_OP_elu, -1, 1, 0, -0.6321205588285577}, {CLT_OP_gelu, 1, 0, 0, 0.8413447460685429},
      {CLT_OP_gelu_tanh, 1, 0, 0, 0.8411919906082768}, {CLT_OP_silu, 1, 0, 0, 0.7310585786300049},
      {CLT_OP_softplus, 1, 0, 0, 1.3132616875182228}, {CLT_OP_softplus, 30, 0, 0, 30},
      {CLT_OP_softplus, -800, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    clt_tensor *x = clt_full(h, CLT_FLOAT64, 0, NULL, cases[i].x);
    clt_tensor *y = clt_unary(cases[i].op, x, cases[i].p0, cases[i].p1);
    double got;
    ck_assert_int_eq(clt_item(y, &got), CLT_OK);
    ck_assert_msg(fabs(got - cases[i].want) <= 1e-15 + 1e-14 * fabs(cases[i].want), "%s(%g) = %.17g, want %.17g",
                  clt_op_name(cases[i].op), cases[i].x, got, cases[i].want);
    clt_release(x);
    clt_release(y);
  }
}
END_TEST

START_TEST(ieee_special_values) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  const float v[5] = {NAN, INFINITY, -INFINITY, 0.0f, -1.0f};
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(5), v);
  tu_assert_values(clt_relu(x), 1, (const int64_t[]){5}, (const double[]){NAN, INFINITY, 0, 0, 0});
  tu_assert_values(clt_clamp(x, -2, 2), 1, (const int64_t[]){5}, (const double[]){NAN, 2, -2, 0, -1});
  clt_tensor *xh = clt_to(x, tu_dev[0]);
  tu_assert_values(clt_slice(clt_exp(x), 0, 0, 4, 1), 1, (const int64_t[]){4}, (const double[]){NAN, INFINITY, 0, 1});
  assert_close(clt_exp(x), clt_exp(xh), "exp of special values");
  tu_assert_values(clt_log(x), 1, (const int64_t[]){5}, (const double[]){NAN, INFINITY, NAN, -INFINITY, NAN});
  tu_assert_values(clt_slice(clt_sigmoid(x), 0, 0, 4, 1), 1, (const int64_t[]){4}, (const double[]){NAN, 1, 0, 0.5});
  assert_close(clt_sigmoid(x), clt_sigmoid(xh), "sigmoid of special values");
  tu_assert_values(clt_maximum_scalar(x, 0), 1, (const int64_t[]){5}, (const double[]){NAN, INFINITY, 0, 0, 0});
  tu_assert_values(clt_minimum_scalar(x, 0), 1, (const int64_t[]){5}, (const double[]){NAN, 0, -INFINITY, 0, -1});
  tu_assert_values(clt_eq(x, x), 1, (const int64_t[]){5}, (const double[]){0, 1, 1, 1, 1});
  tu_assert_values(clt_ne(x, x), 1, (const int64_t[]){5}, (const double[]){1, 0, 0, 0, 0});
  tu_assert_values(clt_div_scalar(x, 0), 1, (const int64_t[]){5}, (const double[]){NAN, INFINITY, -INFINITY, NAN, -INFINITY});
  tu_assert_values(clt_sign(x), 1, (const int64_t[]){5}, (const double[]){0, 1, -1, 0, -1});
  tu_assert_values(clt_cast(x, CLT_INT32), 1, (const int64_t[]){5}, (const double[]){0, 2147483647, -2147483648.0, 0, -1});
  tu_assert_values(clt_cast(x, CLT_BOOL), 1, (const int64_t[]){5}, (const double[]){1, 1, 1, 0, 1});
  clt_scope_end();
}
END_TEST

/* t's values equal want exactly, NaN for NaN and the sign of zeros included. */
static void assert_bits(clt_tensor *t, const double *want, const char *what) {
  ck_assert_ptr_nonnull(t);
  double *v = tu_values(t);
  for (int64_t i = 0; i < clt_numel(t); i++)
    ck_assert_msg(isnan(want[i]) ? isnan(v[i]) : v[i] == want[i] && signbit(v[i]) == signbit(want[i]),
                  "%s on %s, element %lld: got %g, want %g", what, clt_device_spec(clt_device_of(t)), (long long)i,
                  v[i], want[i]);
  free(v);
}

/* The special values ops.h decides, as PyTorch 2.x gives them: sign(NaN) and sign(-0) are +0,
 * abs(-0) is +0, and a power by the scalar 0.5 or -0.5 is sqrt or rsqrt (so (-inf)^0.5 is NaN
 * and (-0)^0.5 is -0) where a power by a tensor keeps pow's values. */
START_TEST(special_values_as_pytorch) {
  clt_device *dev = TU_DEV;
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = k ? CLT_FLOAT64 : CLT_FLOAT32;
    clt_scope_begin();
    const double v[6] = {NAN, -0.0, -INFINITY, INFINITY, 4, -1};
    clt_tensor *x = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(6), v), dt);
    assert_bits(clt_sign(x), (const double[]){0, 0, -1, 1, 1, -1}, "sign");
    assert_bits(clt_abs(x), (const double[]){NAN, 0, INFINITY, INFINITY, 4, 1}, "abs");
    assert_bits(clt_pow_scalar(x, 0.5), (const double[]){NAN, -0.0, NAN, INFINITY, 2, NAN}, "pow_scalar 0.5");
    assert_bits(clt_pow_scalar(x, -0.5), (const double[]){NAN, -INFINITY, NAN, 0, 0.5, NAN}, "pow_scalar -0.5");
    assert_bits(clt_pow_scalar(x, 3), (const double[]){NAN, -0.0, -INFINITY, INFINITY, 64, -1}, "pow_scalar 3");
    clt_tensor *half = clt_full(dev, dt, CLT_SHAPE(6), 0.5);
    assert_bits(clt_pow(x, half), (const double[]){NAN, 0, INFINITY, INFINITY, 2, NAN}, "pow by a tensor of 0.5");
    clt_scope_end();
  }
}
END_TEST

/* Float32 exp (kernels/common.clh: clt_expf, also behind sigmoid, silu, softmax and the losses)
 * over its whole range, every 613th float from -110 to 95 (overflow, subnormals and underflow
 * included): within 2 ulp of exp rounded once from double (measured over every 37th float:
 * at most 1, 99% exact), and exact at the edges. */
static int64_t float_order(float f) {
  int32_t i;
  memcpy(&i, &f, sizeof i);
  return i < 0 ? (int64_t)INT32_MIN - i : i;
}

START_TEST(exp_float_within_2_ulp) {
  clt_device *dev = TU_DEV;
  size_t cap = 2u << 20, n = 0;
  float *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(y);
  const float edges[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 88.72283f, 88.7228f, 88.72284f, -87.33655f,
                         -103.2789f, -103.972f, -104.0f, 89.0f, 1e-30f, -1e-30f};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) x[n++] = edges[i];
  const int64_t step = tu_sweep_step(613);
  for (int64_t o = float_order(-110.0f); o < float_order(95.0f) && n < cap; o += step) {
    int32_t bits = (int32_t)(o < 0 ? (int64_t)INT32_MIN - o : o);
    memcpy(&x[n++], &bits, sizeof bits);
  }
  clt_scope_begin();
  clt_tensor *t = clt_from_host(dev, CLT_FLOAT32, 1, (const int64_t[]){(int64_t)n}, x);
  ck_assert_int_eq(clt_to_host(clt_exp(t), y, n * sizeof *y), CLT_OK);
  /* the same values through the strided kernel (CPU devices run a contiguous float32 exp 16
   * elements per work-item): bit for bit the same */
  float *ys = malloc(n * sizeof *ys), *x2 = calloc(2 * n, sizeof *x2);
  ck_assert_ptr_nonnull(ys);
  ck_assert_ptr_nonnull(x2);
  for (size_t i = 0; i < n; i++) x2[2 * i] = x[i];
  clt_tensor *pairs = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE((int64_t)n, 2), x2);
  ck_assert_int_eq(clt_to_host(clt_exp(clt_slice(pairs, 1, 0, 1, 1)), ys, n * sizeof *ys), CLT_OK);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(memcmp(&y[i], &ys[i], sizeof *y) == 0, "exp(%.9g): %.9g contiguous, %.9g strided", x[i], y[i], ys[i]);
  free(ys);
  free(x2);
  for (size_t i = 0; i < n; i++) {
    float want = (float)exp((double)x[i]);
    int64_t ulp = isnan(want) ? (isnan(y[i]) ? 0 : INT32_MAX) : llabs(float_order(want) - float_order(y[i]));
    ck_assert_msg(ulp <= (i < sizeof edges / sizeof edges[0] ? 0 : 2), "exp(%.9g) on %s is %.9g, want %.9g (%lld ulp)",
                  x[i], clt_device_spec(dev), y[i], want, (long long)ulp);
  }
  clt_scope_end();
  free(x);
  free(y);
}
END_TEST

/* The gelus in float32 against the float64 reference (the host's, rounded once) over every
 * 9973rd float in [-40, 40] and the tails: exact where |x| > 40 (x or -0), elsewhere within
 * - gelu_tanh: 4 + 4 |u| ulp, u = sqrt(2/pi) (x + 0.044715 x^3): e^(-2u) carries u's float
 *   rounding error times |2u|, as any float formula does (measured on PoCL: at most 1 ulp for
 *   x > 0, 97 ulp near x = -9.8 where u = -41 and the result is 2e-35). PoCL's float tanh made
 *   the old formula 6e-8 wrong far left on any scale: gelu_tanh(-1e4) was -3e-4.
 * - gelu (erf; on OpenCL common.clh's clt_erff, PoCL's erf being 20x slower): 4 ulp plus
 *   |x| 2^-24 absolutely, since 1 + erf(x / sqrt 2) cancels for negative x (erf near -1 is
 *   known to an ulp of 1, 2^-24, as with any float erf). */
static bool gelu_tanh_close(double x, float y, float want, int64_t ulp) {
  (void)y, (void)want;
  double u = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
  return (double)ulp <= 4 + 4 * fabs(u);
}
static bool gelu_close(double x, float y, float want, int64_t ulp) {
  double ulp_of_want = nextafterf(fabsf(want), INFINITY) - fabsf(want);
  return ulp <= 4 || fabs((double)y - (double)want) <= 4 * ulp_of_want + fabs(x) * 0x1p-24;
}

START_TEST(gelus_float32_in_range_and_tails) {
  static const struct {
    const char *name;
    clt_tensor *(*fn)(clt_tensor *);
    bool (*close)(double x, float y, float want, int64_t ulp);
  } gelus[] = {{"gelu_tanh", clt_gelu_tanh, gelu_tanh_close}, {"gelu", clt_gelu, gelu_close}};
  clt_device *dev = TU_DEV;
  size_t cap = 1u << 18, n = 0;
  float *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(y);
  const float tails[] = {1e4f, -1e4f, 1e30f, -1e30f, 3e38f, -3e38f, 50.0f, -50.0f, 1e-30f, -1e-30f, 0.0f, -0.0f};
  for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) x[n++] = tails[i];
  const int64_t step = tu_sweep_step(9973);
  for (int64_t o = float_order(-40.0f); o < float_order(40.0f) && n < cap; o += step) {
    int32_t bits = (int32_t)(o < 0 ? (int64_t)INT32_MIN - o : o);
    memcpy(&x[n++], &bits, sizeof bits);
  }
  for (size_t g = 0; g < sizeof gelus / sizeof *gelus; g++) {
    clt_scope_begin();
    const int64_t shape[1] = {(int64_t)n};
    clt_tensor *t = clt_from_host(dev, CLT_FLOAT32, 1, shape, x);
    ck_assert_int_eq(clt_to_host(gelus[g].fn(t), y, n * sizeof *y), CLT_OK);
    double *ref = tu_values(gelus[g].fn(clt_cast(clt_to(t, tu_dev[0]), CLT_FLOAT64)));
    int64_t worst = 0;
    for (size_t i = 0; i < n; i++) {
      float want = (float)ref[i];
      int64_t ulp = llabs(float_order(want) - float_order(y[i]));
      bool close = fabsf(x[i]) > 40 ? ulp == 0 : gelus[g].close((double)x[i], y[i], want, ulp);
      ck_assert_msg(close && signbit(y[i]) == signbit(want), "%s(%.9g) on %s is %.9g, want %.9g (%lld ulp)",
                    gelus[g].name, x[i], clt_device_spec(dev), y[i], want, (long long)ulp);
      if (ulp > worst) worst = ulp;
    }
    printf("%s float32 on %s: %zu values, at most %lld ulp from float64\n", gelus[g].name, clt_device_spec(dev), n,
           (long long)worst);
    free(ref);
    clt_scope_end();
  }
  free(x);
  free(y);
}
END_TEST

/* exp, gelu and gelu's gradient over contiguous float32 runs, which CPU devices take 16 elements
 * per work-item (ew_unary.cl: exp_fwd16, gelu_fwd16; ew_grad.cl: gelu_bwd16), give the strided
 * kernels' results bit for bit (the same operations on vectors): 16 * 37 + 11 elements (a
 * tail) of -12 .. 12, NaN, +-inf and -0, read once as a contiguous run and once through a view
 * with stride 2. */
START_TEST(wide_float32_kernels_match_the_strided_ones) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  const int64_t n = 16 * 37 + 11;
  float *v = malloc((size_t)(2 * n) * sizeof *v), *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
  for (int64_t i = 0; i < 2 * n; i++) v[i] = (float)sin((double)i * 0.37) * 12.0f;
  v[2 * 5] = NAN, v[2 * 40] = INFINITY, v[2 * 41] = -INFINITY, v[2 * 300] = -0.0f, v[2 * (n - 2)] = NAN;
  clt_tensor *two = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(n, 2), v);
  clt_tensor *xs = clt_reshape(clt_slice(two, 1, 0, 1, 1), 1, &n), *x = clt_contiguous(xs);
  clt_tensor *gs = clt_reshape(clt_slice(two, 1, 1, 2, 1), 1, &n), *g = clt_contiguous(gs);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(g);
  ck_assert(!clt_is_contiguous(xs) && !clt_is_contiguous(gs));
  struct { const char *what; clt_tensor *wide, *strided; } c[] = {
      {"exp", clt_exp(x), clt_exp(xs)},
      {"gelu", clt_gelu(x), clt_gelu(xs)},
      {"gelu_bwd", clt__ew_grad(CLT__G_gelu_bwd, g, x, NULL, 0, 0), clt__ew_grad(CLT__G_gelu_bwd, gs, xs, NULL, 0, 0)}};
  for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
    ck_assert_int_eq(clt_to_host(c[k].wide, a, (size_t)n * sizeof *a), CLT_OK);
    ck_assert_int_eq(clt_to_host(c[k].strided, b, (size_t)n * sizeof *b), CLT_OK);
    for (int64_t i = 0; i < n; i++)
      ck_assert_msg(memcmp(&a[i], &b[i], sizeof *a) == 0 || (isnan(a[i]) && isnan(b[i])),
                    "%s element %lld on %s: %.9g contiguous, %.9g strided", c[k].what, (long long)i,
                    clt_device_spec(dev), a[i], b[i]);
  }
  clt_release(c[2].wide); /* clt__ew_grad's results are not the scope's */
  clt_release(c[2].strided);
  free(v);
  free(a);
  free(b);
  clt_scope_end();
}
END_TEST

/* Result layouts: row-major, except where every tensor input shares one dense permuted layout,
 * which the result then takes (as PyTorch); values as the host's either way. */
START_TEST(results_keep_a_shared_permuted_layout) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *a = clt_reshape(clt_arange(dev, CLT_FLOAT32, 0, 24, 1), CLT_SHAPE(2, 3, 4));
  clt_tensor *b = clt_reshape(clt_arange(dev, CLT_FLOAT32, 24, 48, 1), CLT_SHAPE(2, 3, 4));
  clt_tensor *at = clt_permute(a, CLT_DIMS(2, 0, 1)), *bt = clt_permute(b, CLT_DIMS(2, 0, 1));
  clt_tensor *sum = clt_add(at, bt), *e = clt_exp(at), *sc = clt_mul_scalar(at, 2);
  clt_tensor *w = clt_where(clt_gt(at, bt), at, bt);
  clt_tensor *kept[4] = {sum, e, sc, w};
  for (int i = 0; i < 4; i++) {
    ck_assert_msg(kept[i] != NULL, "%s", clt_last_error());
    ck_assert(!clt_is_contiguous(kept[i]));
    for (int d = 0; d < 3; d++) ck_assert_int_eq(clt_strides(kept[i])[d], clt_strides(at)[d]);
  }
  clt_tensor *ah = clt_to(at, tu_dev[0]), *bh = clt_to(bt, tu_dev[0]);
  assert_close(sum, clt_add(ah, bh), "a.T + b.T");
  assert_close(e, clt_exp(ah), "exp(a.T)");
  assert_close(sc, clt_mul_scalar(ah, 2), "a.T * 2");
  assert_close(w, clt_where(clt_gt(ah, bh), ah, bh), "where on a.T, b.T");
  assert_close(clt_contiguous(sum), clt_contiguous(clt_add(ah, bh)), "contiguous(a.T + b.T)");
  /* mixed layouts, broadcasting, plain transposes of contiguous inputs: row-major */
  ck_assert(clt_is_contiguous(clt_add(at, clt_contiguous(bt))));
  ck_assert(clt_is_contiguous(clt_add(at, clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(1)))));
  ck_assert(clt_is_contiguous(clt_exp(clt_slice(at, 0, 0, 4, 2)))); /* strided, not dense */
  ck_assert(clt_is_contiguous(clt_exp(a)));
  /* a gradient through such a result */
  clt_tensor *x = clt_clone(at);
  clt_set_requires_grad(x, true);
  ck_assert_int_eq(clt_backward(clt_sum(clt_mul(clt_transpose(clt_exp(clt_transpose(x, 0, 1)), 0, 1), x), CLT_ALL_DIMS, false), NULL), CLT_OK);
  clt_tensor *g = clt_grad(x);
  clt_tensor *xh = clt_to(x, tu_dev[0]);
  assert_close(g, clt_mul(clt_exp(xh), clt_add_scalar(xh, 1)), "d/dx sum(exp(x) x)");
  clt_scope_end();
}
END_TEST

/* Result dtypes, as PyTorch promotes. */
START_TEST(promotion_like_pytorch) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *f32 = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2)), *f64 = clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(2));
  clt_tensor *i32 = clt_ones(dev, CLT_INT32, CLT_SHAPE(2)), *i64 = clt_ones(dev, CLT_INT64, CLT_SHAPE(2));
  clt_tensor *u8 = clt_ones(dev, CLT_UINT8, CLT_SHAPE(2)), *b = clt_ones(dev, CLT_BOOL, CLT_SHAPE(2));
  clt_tensor *f64s = clt_ones(dev, CLT_FLOAT64, 0, NULL), *i64s = clt_ones(dev, CLT_INT64, 0, NULL);
  struct { clt_tensor *a, *b; clt_dtype want; } cases[] = {
      {f32, f64, CLT_FLOAT64}, {i32, f32, CLT_FLOAT32}, {i64, f32, CLT_FLOAT32}, {u8, i32, CLT_INT32},
      {u8, i64, CLT_INT64}, {i32, i64, CLT_INT64}, {b, u8, CLT_UINT8}, {b, f64, CLT_FLOAT64},
      {f32, f64s, CLT_FLOAT32}, {i32, f64s, CLT_FLOAT64}, {u8, i64s, CLT_UINT8}, {b, i64s, CLT_INT64},
      {f64s, i64s, CLT_FLOAT64},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ck_assert_int_eq(clt_result_type(cases[i].a, cases[i].b), cases[i].want);
    ck_assert_int_eq(clt_dtype_of(clt_add(cases[i].a, cases[i].b)), cases[i].want);
  }
  ck_assert_int_eq(clt_dtype_of(clt_div(i32, i32)), CLT_FLOAT32);
  ck_assert_int_eq(clt_dtype_of(clt_exp(u8)), CLT_FLOAT32);
  ck_assert_int_eq(clt_dtype_of(clt_abs(i64)), CLT_INT64);
  ck_assert_int_eq(clt_dtype_of(clt_add_scalar(i32, 2)), CLT_INT32);
  ck_assert_int_eq(clt_dtype_of(clt_add_scalar(i32, 2.5)), CLT_FLOAT32);
  ck_assert_int_eq(clt_dtype_of(clt_mul_scalar(f64, 2.5)), CLT_FLOAT64);
  ck_assert_int_eq(clt_dtype_of(clt_lt_scalar(u8, 2.5)), CLT_BOOL);
  ck_assert_int_eq(clt_dtype_of(clt_logical_and(f32, i32)), CLT_BOOL);
  /* integer arithmetic wraps like the hardware */
  clt_tensor *big = clt_full(dev, CLT_INT32, CLT_SHAPE(1), 2147483647);
  tu_assert_values(clt_add_scalar(big, 1), 1, (const int64_t[]){1}, (const double[]){-2147483648.0});
  tu_assert_values(clt_pow_scalar(clt_full(dev, CLT_INT64, CLT_SHAPE(3), 3), 3), 1, (const int64_t[]){3},
                   (const double[]){27, 27, 27});
  tu_assert_values(clt_pow(clt_arange(dev, CLT_INT32, -2, 3, 1), clt_full(dev, CLT_INT32, CLT_SHAPE(1), -1)), 1,
                   (const int64_t[]){5}, (const double[]){0, -1, 0, 1, 0});
  clt_scope_end();
}
END_TEST

/* Every pair of dtypes, with values that stress the conversion rules. */
START_TEST(casts_match_the_host) {
  clt_device *dev = TU_DEV;
  const double vals[] = {0, 1, -1, 2.7, -2.7, 255, 256, 300, -129, 3e9, -3e9, 1e20, NAN, INFINITY, -INFINITY, 0.5};
  for (size_t s = 0; s < 6; s++) {
    clt_dtype sdt = all_dtypes[s];
    uint8_t raw[16 * 8];
    for (int i = 0; i < 16; i++) {
      double v = vals[i];
      if (!clt_dtype_is_float(sdt) && !isfinite(v)) v = 7;
      if (sdt == CLT_INT32 && fabs(v) > 2e9) v = v > 0 ? 2147483647 : -2147483648.0;
      if (sdt == CLT_INT64 && fabs(v) > 1e19) v = 4611686018427387904.0;
      clt__store_f64(sdt, raw + (size_t)i * clt_dtype_size(sdt), v);
    }
    for (size_t d = 0; d < 6; d++) {
      clt_scope_begin();
      clt_tensor *x = clt_from_host(dev, sdt, CLT_SHAPE(4, 4), raw);
      char what[64];
      snprintf(what, sizeof what, "cast %s -> %s", clt_dtype_name(sdt), clt_dtype_name(all_dtypes[d]));
      clt_tensor *got = clt_cast(clt_transpose(x, 0, 1), all_dtypes[d]);
      assert_close(got, clt_cast(clt_transpose(clt_to(x, tu_dev[0]), 0, 1), all_dtypes[d]), what);
      clt_scope_end();
    }
  }
  clt_scope_begin();
  clt_tensor *w = clt_from_host(dev, CLT_INT32, CLT_SHAPE(3), (const int32_t[]){-1, 256, 511});
  tu_assert_values(clt_cast(w, CLT_UINT8), 1, (const int64_t[]){3}, (const double[]){255, 0, 255});
  tu_assert_values(clt_cast(clt_full(dev, CLT_FLOAT64, CLT_SHAPE(1), 1e30), CLT_INT64), 1, (const int64_t[]){1},
                   (const double[]){9223372036854775807.0});
  ck_assert_ptr_null(clt_cast(w, (clt_dtype)17));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_cast: dtype 17 is not a clt dtype");
  clt_scope_end();
}
END_TEST

START_TEST(bad_inputs) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *a = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 3)), *b = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(4));
  ck_assert_ptr_null(clt_add(a, b));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_add: shapes [2,3] and [4] cannot broadcast (dim 1: 3 vs 4)");
  ck_assert_ptr_null(clt_where(clt_ones(dev, CLT_BOOL, CLT_SHAPE(5)), a, a));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_where: shapes [5] and [2,3] cannot broadcast");
  ck_assert_ptr_null(clt_mul(a, NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_mul: argument b is NULL");
  ck_assert_ptr_null(clt_exp(clt_add(a, b))); /* the first error is kept */
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_add: shapes");
  clt_tensor *bb = clt_ones(dev, CLT_BOOL, CLT_SHAPE(2));
  ck_assert_ptr_null(clt_sub(bb, bb));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_sub: sub of a bool tensor is not supported, as in PyTorch");
  ck_assert_ptr_null(clt_neg(bb));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_neg: neg is not defined for bool tensors");
  ck_assert_ptr_null(clt_unary(CLT_OP_add, a, 0, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_unary: op");
  ck_assert_ptr_null(clt_binary((clt_op)999, a, a));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_binary: op 999 is not a binary op");
  ck_assert_ptr_null(clt_binary_scalar(CLT_OP_logical_and, a, 1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "op logical_and has no scalar form");
  ck_assert_ptr_null(clt_clamp(a, 2, 1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_clamp: min 2 is greater than max 1");
  ck_assert_ptr_null(clt_op_name((clt_op)-1));
  if (tu_cl()) {
    clt_tensor *h = clt_ones(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(2, 3)), *c = clt_ones(tu_cl(), CLT_FLOAT32, CLT_SHAPE(2, 3));
    ck_assert_ptr_null(clt_add(h, c));
    TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_add: tensors are on different devices (host and ", "move one with clt_to()");
  }
  /* empty and 0-d operands */
  tu_assert_values(clt_add(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(0, 3)), clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(3))), 2,
                   (const int64_t[]){0, 3}, NULL);
  tu_assert_values(clt_mul(clt_full(dev, CLT_INT64, 0, NULL, 3), clt_full(dev, CLT_INT64, 0, NULL, 4)), 0, NULL,
                   (const double[]){12});
  clt_scope_end();
}
END_TEST

/* An operand of tests/fixtures/result_types.txt: "<dtype>[2]" (values 1, 2; bool: true, false),
 * "<dtype>[]" (0-d, 2; bool: true), or a scalar "int" (2) or "float" (2.5). */
static bool row_operand(clt_device *dev, const char *desc, clt_tensor **t, double *scalar) {
  *t = NULL;
  if (!strcmp(desc, "int") || !strcmp(desc, "float")) {
    *scalar = desc[0] == 'i' ? 2 : 2.5;
    return true;
  }
  for (size_t k = 0; k < sizeof all_dtypes / sizeof *all_dtypes; k++) {
    const char *name = clt_dtype_name(all_dtypes[k]);
    size_t n = strlen(name);
    if (strncmp(desc, name, n) != 0 || (strcmp(desc + n, "[2]") && strcmp(desc + n, "[]"))) continue;
    bool b = all_dtypes[k] == CLT_BOOL;
    if (desc[n + 1] == ']') {
      *t = clt_full(dev, all_dtypes[k], 0, NULL, b ? 1 : 2);
    } else {
      uint8_t raw[16];
      clt__store_f64(all_dtypes[k], raw, 1);
      clt__store_f64(all_dtypes[k], raw + clt_dtype_size(all_dtypes[k]), b ? 0 : 2);
      *t = clt_from_host(dev, all_dtypes[k], CLT_SHAPE(2), raw);
    }
    return true;
  }
  return false;
}

/* The row's op on the operands: a tensor op, a scalar second (a op s) or first (s op b). */
static clt_tensor *row_result(const char *name, clt_tensor *cond, clt_tensor *a, double sa, clt_tensor *b, double sb) {
  if (!strcmp(name, "where")) return clt_where(cond, a, b);
  clt_op op = CLT_OP_COUNT;
  for (int k = 0; k < CLT_OP_COUNT; k++)
    if (!strcmp(clt_op_name((clt_op)k), name)) op = (clt_op)k;
  ck_assert_msg(op != CLT_OP_COUNT, "unknown op %s", name);
  if (a && b) return clt_binary(op, a, b);
  if (a) return clt_binary_scalar(op, a, sb);
  ck_assert_msg(op == CLT_OP_sub || op == CLT_OP_div || op == CLT_OP_pow, "no scalar-first form of %s", name);
  return op == CLT_OP_sub ? clt_rsub_scalar(b, sa) : op == CLT_OP_div ? clt_rdiv_scalar(b, sa) : clt_rpow_scalar(b, sa);
}

/* clt_result_type and the result dtype (or the refusal) of add, sub, mul, div, pow, maximum, eq
 * and where, over every pair of dtypes as dimensioned tensors, 0-d tensors and scalars, against
 * what PyTorch gave (tests/fixtures/result_types.txt, tools/make_result_types.py). */
START_TEST(result_types_match_pytorch) {
  clt_device *dev = TU_DEV;
  char path[4096], line[160], bad[2048] = "";
  snprintf(path, sizeof path, "%s/result_types.txt", getenv("CLT_FIXTURES"));
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  int rows = 0, wrong = 0;
  while (fgets(line, sizeof line, f)) {
    char op[16], as[24], bs[24], want[16];
    if (line[0] == '#') continue;
    ck_assert_msg(sscanf(line, "%15s %23s %23s %15s", op, as, bs, want) == 4, "bad line: %s", line);
    rows++;
    if (!dev->info.fp64 && (strstr(as, "float64") || strstr(bs, "float64") || !strcmp(want, "float64"))) continue;
    clt_scope_begin();
    clt_tensor *a, *b, *cond = clt_from_host(dev, CLT_BOOL, CLT_SHAPE(2), (const uint8_t[]){1, 0});
    double sa = 0, sb = 0;
    ck_assert_msg(row_operand(dev, as, &a, &sa) && row_operand(dev, bs, &b, &sb), "bad operand: %s", line);
    clt_clear_error();
    const char *got;
    if (!strcmp(op, "result_type")) {
      got = clt_dtype_name(clt_result_type(a, b));
    } else {
      clt_tensor *r = row_result(op, cond, a, sa, b, sb);
      got = r ? clt_dtype_name(clt_dtype_of(r)) : clt_last_status() == CLT_ERR_DTYPE ? "error" : clt_last_error();
    }
    if (strcmp(got, want) != 0 && ++wrong <= 12) {
      size_t n = strlen(bad);
      snprintf(bad + n, sizeof bad - n, "\n  %s %s %s: %s, PyTorch %s", op, as, bs, got, want);
    }
    clt_scope_end();
  }
  fclose(f);
  ck_assert_int_eq(rows, 2624);
  ck_assert_msg(wrong == 0, "%d of %d rows differ on %s:%s", wrong, rows, clt_device_spec(dev), bad);
}
END_TEST

/* Where the promoted dtype is bool, arithmetic is logical (PyTorch's values), and the dtypes the
 * table checks carry the right values. */
START_TEST(bool_arithmetic_is_logical) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *p = clt_from_host(dev, CLT_BOOL, CLT_SHAPE(4), (const uint8_t[]){1, 1, 0, 0});
  clt_tensor *q = clt_from_host(dev, CLT_BOOL, CLT_SHAPE(4), (const uint8_t[]){1, 0, 1, 0});
  tu_assert_values(clt_add(p, q), 1, (const int64_t[]){4}, (const double[]){1, 1, 1, 0});
  tu_assert_values(clt_maximum(p, q), 1, (const int64_t[]){4}, (const double[]){1, 1, 1, 0});
  tu_assert_values(clt_mul(p, q), 1, (const int64_t[]){4}, (const double[]){1, 0, 0, 0});
  tu_assert_values(clt_minimum(p, clt_full(dev, CLT_BOOL, 0, NULL, 1)), 1, (const int64_t[]){4},
                   (const double[]){1, 1, 0, 0});
  ck_assert_int_eq(clt_dtype_of(clt_add(p, q)), CLT_BOOL);
  tu_assert_values(clt_div(p, q), 1, (const int64_t[]){4}, (const double[]){1, INFINITY, 0, NAN});
  tu_assert_values(clt_add(p, clt_full(dev, CLT_INT32, 0, NULL, 5)), 1, (const int64_t[]){4}, (const double[]){6, 6, 5, 5});
  tu_assert_values(clt_add_scalar(p, 2), 1, (const int64_t[]){4}, (const double[]){3, 3, 2, 2});
  clt_tensor *i = clt_from_host(dev, CLT_INT32, CLT_SHAPE(2), (const int32_t[]){1, 2});
  if (dev->info.fp64) {
    clt_tensor *r = clt_add(i, clt_full(dev, CLT_FLOAT64, 0, NULL, 0.1));
    ck_assert_int_eq(clt_dtype_of(r), CLT_FLOAT64);
    tu_assert_values(r, 1, (const int64_t[]){2}, (const double[]){1.1, 2.1}); /* 0.1 kept in float64 */
  }
  ck_assert_ptr_null(clt_sub(i, p));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_sub: sub of a bool tensor is not supported");
  ck_assert_ptr_null(clt_rsub_scalar(p, 1));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_rsub_scalar: sub of a bool tensor is not supported");
  ck_assert_ptr_null(clt_pow(p, q));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_pow: pow is not defined for bool tensors");
  clt_scope_end();
}
END_TEST

/* $CLT_CHECK=1 passes correct kernels and catches a wrong one (a kernel directory where exp is
 * off by one). */
START_TEST(check_mode_catches_a_wrong_kernel) {
  clt_scope_begin();
  setenv("CLT_CHECK", "1", 1);
  clt_tensor *x = clt_reshape(clt_arange(tu_cl(), CLT_FLOAT32, -2, 2, 0.25), CLT_SHAPE(4, 4));
  clt_tensor *y = clt_add(clt_exp(x), clt_transpose(x, 0, 1));
  ck_assert_msg(y != NULL, "%s", clt_last_error());
  ck_assert_ptr_nonnull(clt_cast(y, CLT_INT64));
  const char *src = getenv("CLT_KERNEL_SOURCES");
  ck_assert_ptr_nonnull(src);
  char dir[] = "/tmp/clt-check-XXXXXX", cmd[1024];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(cmd, sizeof cmd,
           "cp %s/kernels/*.cl %s/kernels/common.clh %s/lib/optable.h %s/ && "
           "sed -i -e 's/#define K_exp(a, p0, p1) CLT_EXP(a)/#define K_exp(a, p0, p1) (CLT_EXP(a) + 1)/' "
           "-e 's/#define K_exp16(a) clt_expf16(a)/#define K_exp16(a) (clt_expf16(a) + 1)/' %s/ew_unary.cl",
           src, src, src, dir, dir);
  ck_assert_int_eq(system(cmd), 0);
  setenv("CLT_KERNEL_DIR", dir, 1);
  clt_device *d;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  clt_tensor *x2 = clt_arange(d, CLT_FLOAT32, -2, 2, 0.25);
  ck_assert_ptr_null(clt_exp(x2));
  TU_ASSERT_ERR(CLT_ERR_MISMATCH, "clt_exp: $CLT_CHECK: exp on ", "at element 0 where the host reference gives 0.135335");
  ck_assert_ptr_nonnull(clt_relu(x2)); /* the other kernels are right */
  clt_device_release(d);
  unsetenv("CLT_KERNEL_DIR");
  unsetenv("CLT_CHECK");
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
  clt_scope_end();
}
END_TEST

/* clamp's bounds promote as scalars, as PyTorch's: a fractional one makes an integer tensor's
 * result float32 (it stayed int32: clamp(int32, -0.5, 1) truncated the bound), also through
 * clt_unary, which also checks the bounds now; an infinite one is no bound and changes no dtype,
 * and on the host an integer tensor's infinite bound saturates as on devices (converting it to
 * int64 was undefined: clamp(int32, -1, inf) gave 0s on x86). pow_scalar refuses integers to a
 * negative integer power, naming the exponent (it truncated), as PyTorch; a tensor of negative
 * integer exponents still truncates, as PyTorch's does. */
START_TEST(clamp_bounds_and_integer_powers_as_pytorch) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *i = clt_from_host(dev, CLT_INT32, CLT_SHAPE(5), (const int32_t[]){-3, 0, 1, 5, 100});
  clt_tensor *c[2] = {clt_clamp(i, -0.5, 1), clt_unary(CLT_OP_clamp, i, -0.5, 1)};
  for (int k = 0; k < 2; k++) {
    ck_assert_msg(c[k] && clt_dtype_of(c[k]) == CLT_FLOAT32, "clamp(int32, -0.5, 1) on %s: %s", clt_device_spec(dev),
                  c[k] ? clt_dtype_name(clt_dtype_of(c[k])) : clt_last_error());
    tu_assert_values(c[k], 1, (const int64_t[]){5}, (const double[]){-0.5, 0, 1, 1, 1});
  }
  clt_tensor *lo = clt_clamp(i, -1, INFINITY), *hi = clt_clamp(i, -INFINITY, 2);
  ck_assert_int_eq(clt_dtype_of(lo), CLT_INT32);
  ck_assert_int_eq(clt_dtype_of(hi), CLT_INT32);
  tu_assert_values(lo, 1, (const int64_t[]){5}, (const double[]){-1, 0, 1, 5, 100});
  tu_assert_values(hi, 1, (const int64_t[]){5}, (const double[]){-3, 0, 1, 2, 2});
  clt_tensor *i64 = clt_cast(i, CLT_INT64);
  tu_assert_values(clt_clamp(i64, -INFINITY, INFINITY), 1, (const int64_t[]){5}, (const double[]){-3, 0, 1, 5, 100});
  tu_assert_values(clt_clamp(clt_cast(i, CLT_UINT8), 2, 300), 1, (const int64_t[]){5},
                   (const double[]){253, 2, 2, 5, 100});
  ck_assert_ptr_null(clt_unary(CLT_OP_clamp, i, 2, 1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_unary: min 2 is greater than max 1");
  ck_assert_int_eq(clt_dtype_of(clt_clamp(clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(2)), -0.5, 0.5)), CLT_FLOAT64);
  /* integer powers */
  const clt_dtype ints[4] = {CLT_INT32, CLT_INT64, CLT_UINT8, CLT_BOOL};
  for (int k = 0; k < 4; k++) {
    ck_assert_ptr_null(clt_pow_scalar(clt_cast(i, ints[k]), -2));
    TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_pow_scalar: exponent -2: integers to negative integer powers are not allowed",
                  clt_dtype_name(ints[k]));
  }
  tu_assert_values(clt_pow_scalar(i, -0.5), 1, (const int64_t[]){5}, (const double[]){NAN, INFINITY, 1, 1 / sqrtf(5), 0.1f});
  tu_assert_values(clt_pow_scalar(i, 2), 1, (const int64_t[]){5}, (const double[]){9, 0, 1, 25, 10000});
  clt_tensor *e = clt_from_host(dev, CLT_INT32, CLT_SHAPE(5), (const int32_t[]){-1, -1, -3, -1, -2});
  clt_tensor *base = clt_from_host(dev, CLT_INT32, CLT_SHAPE(5), (const int32_t[]){2, 0, -1, 1, 3});
  tu_assert_values(clt_pow(base, e), 1, (const int64_t[]){5}, (const double[]){0, 0, -1, 1, 0});
  tu_assert_values(clt_rpow_scalar(e, 2), 1, (const int64_t[]){5}, (const double[]){0, 0, 0, 0, 0});
  clt_scope_end();
}
END_TEST

/* f over float32 inputs on dev against the float64 reference (the host's f of the same values
 * in float64, rounded once): the edges, then every step-th float in [lo, hi]; within bound(x)
 * ulp (0: the same number, sign of zero included). Returns the worst ulp seen. */
static int64_t float32_sweep(clt_device *dev, clt_tensor *(*f)(clt_tensor *), const char *name, const float *edges,
                             size_t nedges, float lo, float hi, int64_t step, int64_t (*bound)(float)) {
  step = tu_sweep_step(step);
  size_t cap = nedges + (size_t)((float_order(hi) - float_order(lo)) / step) + 1, n = 0;
  float *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(y);
  for (size_t i = 0; i < nedges; i++) x[n++] = edges[i];
  for (int64_t o = float_order(lo); o <= float_order(hi) && n < cap; o += step) {
    int32_t bits = (int32_t)(o < 0 ? (int64_t)INT32_MIN - o : o);
    memcpy(&x[n++], &bits, sizeof bits);
  }
  clt_scope_begin();
  clt_tensor *t = clt_from_host(dev, CLT_FLOAT32, 1, (const int64_t[]){(int64_t)n}, x);
  ck_assert_int_eq(clt_to_host(f(t), y, n * sizeof *y), CLT_OK);
  double *ref = tu_values(f(clt_cast(clt_to(t, tu_dev[0]), CLT_FLOAT64)));
  int64_t worst = 0;
  for (size_t i = 0; i < n; i++) {
    float want = (float)ref[i];
    int64_t ulp = isnan(want) ? (isnan(y[i]) ? 0 : INT32_MAX) : llabs(float_order(want) - float_order(y[i]));
    if (!isnan(want) && signbit(want) != signbit(y[i])) ulp = INT32_MAX;
    ck_assert_msg(ulp <= bound(x[i]), "%s(%.9g) on %s is %.9g, want %.9g (%lld ulp)", name, x[i], clt_device_spec(dev),
                  y[i], want, (long long)ulp);
    if (ulp > worst) worst = ulp;
  }
  free(ref);
  clt_scope_end();
  free(x);
  free(y);
  return worst;
}

/* tanh is exactly +-1 from |x| = 9.1 on (where tanh rounds to 1 in float32), 0 ulp off, and
 * within 2 ulp below. */
static int64_t tanh_bound(float x) { return fabsf(x) >= 9.1f || isnan(x) ? 0 : 2; }

/* float32 tanh over [-12, 12] (every 9973rd float) and its tails, and its gradient in the
 * tails, on every device: PoCL's tanh saturated at +-0.99999994, so tanh(20) and tanh(inf)
 * were not 1 and their gradient 1 - t^2 was 1.2e-7, not 0 (measured on PoCL over every 97th
 * float in [-12, 12]: at most 1 ulp, 99.65% exact; PoCL's own tanh 99.5%). */
START_TEST(tanh_float32_in_range_and_tails) {
  clt_device *dev = TU_DEV;
  static const float tails[] = {1e4f,   -1e4f,       INFINITY, -INFINITY, 20.0f,  -20.0f, 9.1f, -9.1f, 0.0f, -0.0f,
                                1e-30f, -1e-30f,     NAN,      0.625f,    -0.625f, 0.62499994f, 1e-45f};
  int64_t worst = float32_sweep(dev, clt_tanh, "tanh", tails, sizeof tails / sizeof *tails, -12.0f, 12.0f, 9973,
                                tanh_bound);
  printf("tanh float32 on %s: at most %lld ulp from float64\n", clt_device_spec(dev), (long long)worst);
  for (int k = 0; k < 2; k++) {
    clt_scope_begin();
    clt_tensor *x = clt_cast(clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(6), tails), k ? CLT_FLOAT64 : CLT_FLOAT32);
    clt_set_requires_grad(x, true);
    clt_tensor *y = clt_tanh(x);
    tu_assert_values(y, 1, (const int64_t[]){6}, (const double[]){1, -1, 1, -1, 1, -1});
    ck_assert_int_eq(clt_backward(clt_sum(y, CLT_ALL_DIMS, false), NULL), CLT_OK);
    tu_assert_values(clt_grad(x), 1, (const int64_t[]){6}, (const double[]){0, 0, 0, 0, 0, 0});
    clt_scope_end();
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("ew");
  TCase *tc = tu_tcase("elementwise");
  TU_VS_HOST(tc, unary_ops_match_the_host);
  TU_VS_HOST(tc, binary_ops_match_the_host);
  TU_VS_HOST(tc, where_matches_the_host);
  tcase_add_test(tc, host_reference_known_values);
  TU_DEVICES(tc, public_functions_are_their_rows);
  tcase_add_test(tc, programs_run_as_their_instructions);
  TU_DEVICES(tc, ieee_special_values);
  TU_DEVICES(tc, special_values_as_pytorch);
  TU_DEVICES(tc, exp_float_within_2_ulp);
  TU_DEVICES(tc, gelus_float32_in_range_and_tails);
  TU_DEVICES(tc, wide_float32_kernels_match_the_strided_ones);
  TU_DEVICES(tc, results_keep_a_shared_permuted_layout);
  TU_DEVICES(tc, promotion_like_pytorch);
  TU_DEVICES(tc, result_types_match_pytorch);
  TU_DEVICES(tc, bool_arithmetic_is_logical);
  TU_VS_HOST(tc, casts_match_the_host);
  TU_DEVICES(tc, bad_inputs);
  TU_DEVICES(tc, clamp_bounds_and_integer_powers_as_pytorch);
  TU_DEVICES(tc, tanh_float32_in_range_and_tails);
  if (tu_cl()) tcase_add_test(tc, check_mode_catches_a_wrong_kernel);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
