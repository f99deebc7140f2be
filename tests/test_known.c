/* Known values written here, on every device: reductions over a dim (mean, var and std with
 * their corrections, prod), binary ops and their scalar forms, comparisons, logical ops, where,
 * reversed scalar forms, promotions and casts, and the unary wrappers (leaky_relu's and elu's
 * parameters among them) against libm in double.
 * The other suites hold each device to the host reference; the host and the devices share code
 * (lib/reduce.c computes the scale factors and the var/std denominator once for both), so a
 * mistake there passes every comparison with the host and is caught only here. */
#include <stdio.h>

#include "ew.h"
#include "tu.h"

/* Asserts t has the shape, the dtype and, within rtol (0: exactly; NaN matches NaN), the values. */
static void expect(clt_tensor *t, clt_dtype dt, int ndim, const int64_t *shape, const double *want, double rtol,
                   const char *what) {
  ck_assert_msg(t != NULL, "%s: %s", what, clt_last_error());
  ck_assert_msg(clt_dtype_of(t) == dt, "%s: dtype %s, want %s", what, clt_dtype_name(clt_dtype_of(t)),
                clt_dtype_name(dt));
  ck_assert_msg(clt_ndim(t) == ndim, "%s: %d dims, want %d", what, clt_ndim(t), ndim);
  for (int d = 0; d < ndim; d++)
    ck_assert_msg(clt_shape(t)[d] == shape[d], "%s: dim %d is %lld, want %lld", what, d, (long long)clt_shape(t)[d],
                  (long long)shape[d]);
  double *v = tu_values(t);
  for (int64_t i = 0; i < clt_numel(t); i++)
    ck_assert_msg((isnan(v[i]) && isnan(want[i])) || fabs(v[i] - want[i]) <= rtol * fabs(want[i]) || v[i] == want[i],
                  "%s on %s: element %lld is %.9g, want %.9g", what, clt_device_spec(clt_device_of(t)), (long long)i,
                  v[i], want[i]);
  free(v);
}

static double tol_of(clt_dtype dt) { return dt == CLT_FLOAT32 ? 2e-6 : 1e-12; }

/* The float dtypes dev computes in. */
static int float_dtypes(clt_device *dev, clt_dtype out[2]) {
  clt_device_info in;
  ck_assert_int_eq(clt_device_get_info(dev, &in), CLT_OK);
  out[0] = CLT_FLOAT32;
  out[1] = CLT_FLOAT64;
  return in.fp64 ? 2 : 1;
}

/* ---- reductions ------------------------------------------------------------------------- */

/* x = [[1, 2, 3, 4], [2, 4, 6, 8], [0, 0, 0, 10]]: sum 40, sum of squares 250. */
static const double X34[12] = {1, 2, 3, 4, 2, 4, 6, 8, 0, 0, 0, 10};

typedef enum { R_MEAN, R_VAR, R_STD, R_PROD } rkind;
static const char *const rnames[] = {"mean", "var", "std", "prod"};

static const struct {
  rkind kind;
  int ndims, dims[2];
  double correction;
  bool keepdim;
  int ndim;
  int64_t shape[2];
  double want[4];
} reductions[] = {
    {R_MEAN, 1, {1}, 0, false, 1, {3}, {2.5, 5, 2.5}},
    {R_MEAN, 1, {0}, 0, true, 2, {1, 4}, {1, 2, 3, 22.0 / 3}},
    {R_MEAN, 1, {-1}, 0, true, 2, {3, 1}, {2.5, 5, 2.5}},
    {R_MEAN, 2, {0, 1}, 0, false, 0, {0}, {40.0 / 12}},
    /* row sums of squared deviations 5, 20, 75; column ones 2, 8, 18, 56/3 */
    {R_VAR, 1, {1}, 1, false, 1, {3}, {5.0 / 3, 20.0 / 3, 25}},
    {R_VAR, 1, {1}, 0, false, 1, {3}, {1.25, 5, 18.75}},
    {R_VAR, 1, {1}, 2, true, 2, {3, 1}, {2.5, 10, 37.5}},
    {R_VAR, 1, {0}, 1, false, 1, {4}, {1, 4, 9, 28.0 / 3}},
    {R_VAR, 2, {0, 1}, 1, false, 0, {0}, {(250 - 1600.0 / 12) / 11}},
    {R_VAR, 2, {1, 0}, 0, false, 0, {0}, {(250 - 1600.0 / 12) / 12}},
    {R_STD, 1, {1}, 1, false, 1, {3}, {1.2909944487358056, 2.5819888974716112, 5}},
    {R_STD, 1, {1}, 0, false, 1, {3}, {1.118033988749895, 2.23606797749979, 4.330127018922194}},
    {R_STD, 1, {0}, 1, true, 2, {1, 4}, {1, 2, 3, 3.0550504633038935}},
    {R_PROD, 1, {1}, 0, false, 1, {3}, {24, 384, 0}},
    {R_PROD, 1, {0}, 0, false, 1, {4}, {0, 0, 0, 320}},
    {R_PROD, 1, {-2}, 0, true, 2, {1, 4}, {0, 0, 0, 320}},
};

static clt_tensor *reduce(rkind k, clt_tensor *x, int ndims, const int *dims, double correction, bool keepdim) {
  switch (k) {
    case R_MEAN: return clt_mean(x, ndims, dims, keepdim);
    case R_VAR: return clt_var(x, ndims, dims, correction, keepdim);
    case R_STD: return clt_std(x, ndims, dims, correction, keepdim);
    default: return clt_prod(x, ndims, dims, keepdim);
  }
}

START_TEST(reductions_over_dims) {
  clt_device *dev = TU_DEV;
  clt_dtype dts[2];
  for (int k = 0, nd = float_dtypes(dev, dts); k < nd; k++) {
    clt_scope_begin();
    clt_tensor *x = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(3, 4), X34), dts[k]);
    /* the same values through a transposed view: the reduced dim is then the strided one */
    clt_tensor *xt = clt_transpose(clt_contiguous(clt_transpose(x, 0, 1)), 0, 1);
    for (size_t i = 0; i < sizeof reductions / sizeof *reductions; i++)
      for (int v = 0; v < 2; v++) {
        char what[128];
        snprintf(what, sizeof what, "%s (row %zu, %s, %s)", rnames[reductions[i].kind], i, clt_dtype_name(dts[k]),
                 v ? "transposed" : "contiguous");
        expect(reduce(reductions[i].kind, v ? xt : x, reductions[i].ndims, reductions[i].dims, reductions[i].correction,
                      reductions[i].keepdim),
               dts[k], reductions[i].ndim, reductions[i].shape, reductions[i].want, tol_of(dts[k]), what);
      }
    /* as many or fewer elements than the correction: 0 / 0 as PyTorch gives it */
    clt_tensor *col = clt_slice(x, 1, 3, 4, 1);
    expect(clt_var(col, CLT_DIMS(1), 1, false), dts[k], 1, (const int64_t[]){3}, (const double[]){NAN, NAN, NAN}, 0,
           "var of one element");
    expect(clt_std(col, CLT_DIMS(1), 2, false), dts[k], 1, (const int64_t[]){3}, (const double[]){NAN, NAN, NAN}, 0,
           "std of one element, correction 2");
    clt_scope_end();
  }
}
END_TEST

/* ---- binary ops, comparisons, logical ops, where ----------------------------------------- */

typedef clt_tensor *(*binary_fn)(clt_tensor *, clt_tensor *);
typedef clt_tensor *(*scalar_fn)(clt_tensor *, double);

/* a = [[-2, 0, 3], [1.5, -0.5, 4]] against the row b = [1, -2, 3] (broadcast), or the scalar 1.5 */
static const double A23[6] = {-2, 0, 3, 1.5, -0.5, 4}, B3[3] = {1, -2, 3};

static const struct {
  const char *name;
  binary_fn fn;
  bool to_bool; /* comparisons give bool */
  double want[6];
} binaries[] = {
    {"add", clt_add, false, {-1, -2, 6, 2.5, -2.5, 7}},
    {"sub", clt_sub, false, {-3, 2, 0, 0.5, 1.5, 1}},
    {"mul", clt_mul, false, {-2, 0, 9, 1.5, 1, 12}},
    {"div", clt_div, false, {-2, 0, 1, 1.5, 0.25, 4.0 / 3}},
    {"pow", clt_pow, false, {-2, INFINITY, 27, 1.5, 4, 64}},
    {"maximum", clt_maximum, false, {1, 0, 3, 1.5, -0.5, 4}},
    {"minimum", clt_minimum, false, {-2, -2, 3, 1, -2, 3}},
    {"eq", clt_eq, true, {0, 0, 1, 0, 0, 0}},
    {"ne", clt_ne, true, {1, 1, 0, 1, 1, 1}},
    {"lt", clt_lt, true, {1, 0, 0, 0, 0, 0}},
    {"le", clt_le, true, {1, 0, 1, 0, 0, 0}},
    {"gt", clt_gt, true, {0, 1, 0, 1, 1, 1}},
    {"ge", clt_ge, true, {0, 1, 1, 1, 1, 1}},
};

static const struct {
  const char *name;
  scalar_fn fn;
  bool to_bool;
  double want[6];
} scalars[] = {
    {"add_scalar", clt_add_scalar, false, {-0.5, 1.5, 4.5, 3, 1, 5.5}},
    {"sub_scalar", clt_sub_scalar, false, {-3.5, -1.5, 1.5, 0, -2, 2.5}},
    {"mul_scalar", clt_mul_scalar, false, {-3, 0, 4.5, 2.25, -0.75, 6}},
    {"div_scalar", clt_div_scalar, false, {-4.0 / 3, 0, 2, 1, -1.0 / 3, 8.0 / 3}},
    {"maximum_scalar", clt_maximum_scalar, false, {1.5, 1.5, 3, 1.5, 1.5, 4}},
    {"minimum_scalar", clt_minimum_scalar, false, {-2, 0, 1.5, 1.5, -0.5, 1.5}},
    {"eq_scalar", clt_eq_scalar, true, {0, 0, 0, 1, 0, 0}},
    {"ne_scalar", clt_ne_scalar, true, {1, 1, 1, 0, 1, 1}},
    {"lt_scalar", clt_lt_scalar, true, {1, 1, 0, 0, 1, 0}},
    {"le_scalar", clt_le_scalar, true, {1, 1, 0, 1, 1, 0}},
    {"gt_scalar", clt_gt_scalar, true, {0, 0, 1, 0, 0, 1}},
    {"ge_scalar", clt_ge_scalar, true, {0, 0, 1, 1, 0, 1}},
};

START_TEST(binary_ops_and_comparisons) {
  clt_device *dev = TU_DEV;
  clt_dtype dts[2];
  for (int k = 0, nd = float_dtypes(dev, dts); k < nd; k++) {
    clt_scope_begin();
    clt_dtype dt = dts[k];
    clt_tensor *a = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(2, 3), A23), dt);
    clt_tensor *b = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(3), B3), dt);
    char what[96];
    for (size_t i = 0; i < sizeof binaries / sizeof *binaries; i++) {
      snprintf(what, sizeof what, "%s (%s)", binaries[i].name, clt_dtype_name(dt));
      expect(binaries[i].fn(a, b), binaries[i].to_bool ? CLT_BOOL : dt, 2, (const int64_t[]){2, 3}, binaries[i].want,
             tol_of(dt), what);
    }
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++) {
      snprintf(what, sizeof what, "%s (%s)", scalars[i].name, clt_dtype_name(dt));
      expect(scalars[i].fn(a, 1.5), scalars[i].to_bool ? CLT_BOOL : dt, 2, (const int64_t[]){2, 3}, scalars[i].want,
             tol_of(dt), what);
    }
    /* NaN: maximum and minimum propagate it from either side; it equals nothing */
    clt_tensor *n1 = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(3), (const double[]){NAN, 1, 2}), dt);
    clt_tensor *n2 = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(3), (const double[]){0, NAN, 2}), dt);
    expect(clt_maximum(n1, n2), dt, 1, (const int64_t[]){3}, (const double[]){NAN, NAN, 2}, 0, "maximum with NaN");
    expect(clt_minimum(n1, n2), dt, 1, (const int64_t[]){3}, (const double[]){NAN, NAN, 2}, 0, "minimum with NaN");
    expect(clt_eq(n1, n1), CLT_BOOL, 1, (const int64_t[]){3}, (const double[]){0, 1, 1}, 0, "NaN == NaN");
    expect(clt_ne(n1, n2), CLT_BOOL, 1, (const int64_t[]){3}, (const double[]){1, 1, 0}, 0, "NaN != x");
    clt_scope_end();
  }
  /* integers stay integers; int32 against int64 promotes */
  clt_scope_begin();
  clt_tensor *i = clt_from_host(dev, CLT_INT32, CLT_SHAPE(4), (const int32_t[]){-7, 0, 5, 9});
  clt_tensor *j = clt_from_host(dev, CLT_INT64, CLT_SHAPE(4), (const int64_t[]){2, -3, 5, -1});
  expect(clt_sub(i, j), CLT_INT64, 1, (const int64_t[]){4}, (const double[]){-9, 3, 0, 10}, 0, "int sub");
  expect(clt_mul(i, j), CLT_INT64, 1, (const int64_t[]){4}, (const double[]){-14, 0, 25, -9}, 0, "int mul");
  expect(clt_maximum(i, j), CLT_INT64, 1, (const int64_t[]){4}, (const double[]){2, 0, 5, 9}, 0, "int maximum");
  expect(clt_le(i, j), CLT_BOOL, 1, (const int64_t[]){4}, (const double[]){1, 0, 1, 0}, 0, "int le");
  clt_scope_end();
}
END_TEST

START_TEST(logical_ops_and_where) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  /* nonzero is true, NaN included */
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(4), (const float[]){0, 1, -2, NAN});
  clt_tensor *y = clt_from_host(dev, CLT_INT32, CLT_SHAPE(4), (const int32_t[]){0, 0, 3, 5});
  const int64_t s4[] = {4};
  expect(clt_logical_and(x, y), CLT_BOOL, 1, s4, (const double[]){0, 0, 1, 1}, 0, "logical_and");
  expect(clt_logical_or(x, y), CLT_BOOL, 1, s4, (const double[]){0, 1, 1, 1}, 0, "logical_or");
  expect(clt_logical_xor(x, y), CLT_BOOL, 1, s4, (const double[]){0, 1, 0, 0}, 0, "logical_xor");
  expect(clt_logical_not(x), CLT_BOOL, 1, s4, (const double[]){1, 0, 0, 0}, 0, "logical_not");
  expect(clt_logical_not(y), CLT_BOOL, 1, s4, (const double[]){1, 1, 0, 0}, 0, "logical_not of ints");
  /* broadcast: a column [2, 1] against a row [3] */
  clt_tensor *col = clt_from_host(dev, CLT_UINT8, CLT_SHAPE(2, 1), (const uint8_t[]){0, 7});
  clt_tensor *row = clt_from_host(dev, CLT_BOOL, CLT_SHAPE(3), (const bool[]){false, true, true});
  expect(clt_logical_xor(col, row), CLT_BOOL, 2, (const int64_t[]){2, 3}, (const double[]){0, 1, 1, 1, 0, 0}, 0,
         "logical_xor broadcast");
  /* where: condition [2, 1], a [2, 3], b 0-d */
  clt_tensor *c = clt_from_host(dev, CLT_BOOL, CLT_SHAPE(2, 1), (const bool[]){true, false});
  clt_tensor *a = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), (const float[]){-2, 0, 3, 1.5f, -0.5f, 4});
  clt_tensor *b = clt_full(dev, CLT_FLOAT32, 0, NULL, 7);
  expect(clt_where(c, a, b), CLT_FLOAT32, 2, (const int64_t[]){2, 3}, (const double[]){-2, 0, 3, 7, 7, 7}, 0, "where");
  expect(clt_where(clt_lt_scalar(a, 0), clt_neg(a), a), CLT_FLOAT32, 2, (const int64_t[]){2, 3},
         (const double[]){2, 0, 3, 1.5, 0.5, 4}, 0, "where as abs");
  clt_tensor *ia = clt_from_host(dev, CLT_INT64, CLT_SHAPE(3), (const int64_t[]){10, 20, 30});
  expect(clt_where(row, ia, clt_full(dev, CLT_INT64, 0, NULL, -1)), CLT_INT64, 1, (const int64_t[]){3},
         (const double[]){-1, 20, 30}, 0, "where of int64");
  clt_scope_end();
}
END_TEST

/* Reversed scalar forms, a float condition, int to float promotion of float ops, and casts
 * that wrap or saturate. */
START_TEST(reversed_forms_promotions_and_casts) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  const int64_t s3[] = {3}, s4[] = {4};
  clt_tensor *x = clt_arange(dev, CLT_FLOAT32, 1, 5, 1);
  expect(clt_rsub_scalar(x, 10), CLT_FLOAT32, 1, s4, (const double[]){9, 8, 7, 6}, 0, "rsub_scalar");
  expect(clt_rdiv_scalar(x, 12), CLT_FLOAT32, 1, s4, (const double[]){12, 6, 4, 3}, 0, "rdiv_scalar");
  expect(clt_rpow_scalar(x, 2), CLT_FLOAT32, 1, s4, (const double[]){2, 4, 8, 16}, 0, "rpow_scalar");
  expect(clt_where(clt_arange(dev, CLT_FLOAT32, -1, 2, 1), clt_ones(dev, CLT_INT32, CLT_SHAPE(3)),
                   clt_zeros(dev, CLT_INT32, CLT_SHAPE(3))),
         CLT_INT32, 1, s3, (const double[]){1, 0, 1}, 0, "where with a float condition");
  clt_tensor *i = clt_from_host(dev, CLT_INT32, CLT_SHAPE(3), (const int32_t[]){1, 4, 9});
  expect(clt_sqrt(i), CLT_FLOAT32, 1, s3, (const double[]){1, 2, 3}, 0, "sqrt of int32");
  expect(clt_div(i, i), CLT_FLOAT32, 1, s3, (const double[]){1, 1, 1}, 0, "div of int32");
  clt_tensor *w = clt_from_host(dev, CLT_INT32, CLT_SHAPE(3), (const int32_t[]){-1, 256, 511});
  expect(clt_cast(w, CLT_UINT8), CLT_UINT8, 1, s3, (const double[]){255, 0, 255}, 0, "int32 -> uint8 wraps");
  expect(clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(3), (const double[]){1e30, -1e30, -2.7}), CLT_INT64),
         CLT_INT64, 1, s3, (const double[]){9223372036854775807.0, -9223372036854775808.0, -2}, 0,
         "float64 -> int64 saturates, truncates");
  expect(clt_cast(clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(3), (const float[]){0, -0.5f, NAN}), CLT_BOOL), CLT_BOOL, 1,
         s3, (const double[]){0, 1, 1}, 0, "float32 -> bool");
  clt_scope_end();
}
END_TEST

/* ---- unary wrappers against libm -------------------------------------------------------- */

static double gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double gelu_tanh(double x) { return 0.5 * x * (1 + tanh(0.7978845608028654 /* sqrt(2 / pi) */ * (x + 0.044715 * x * x * x))); }
static double silu(double x) { return x / (1 + exp(-x)); }
static double softplus(double x) { return log1p(exp(x)); }
static double rsqrt(double x) { return 1 / sqrt(x); }
static double recip(double x) { return 1 / x; }

typedef clt_tensor *(*unary_fn)(clt_tensor *);
static const struct {
  const char *name;
  unary_fn fn;
  double (*ref)(double);
} unaries[] = {
    {"sqrt", clt_sqrt, sqrt},         {"rsqrt", clt_rsqrt, rsqrt}, {"reciprocal", clt_reciprocal, recip},
    {"log1p", clt_log1p, log1p},      {"expm1", clt_expm1, expm1}, {"sin", clt_sin, sin},
    {"cos", clt_cos, cos},            {"gelu", clt_gelu, gelu},    {"gelu_tanh", clt_gelu_tanh, gelu_tanh},
    {"silu", clt_silu, silu},         {"softplus", clt_softplus, softplus},
};

/* Whether the op table defines the op for positive inputs only (its domain, lib/optable.h). */
static bool positive_only(const char *name) {
  for (int op = 0; op < CLT_OP_COUNT; op++)
    if (clt__op_valid(op) && !strcmp(clt__op_table[op].name, name)) return clt__op_table[op].domain[0] == CLT__DOM_POS;
  ck_abort_msg("%s is not in the op table", name);
  return false;
}

static const double SIGNED[5] = {-1.5, -0.25, 0, 0.5, 2}, POSITIVE[5] = {0.25, 1, 2.5, 4, 9};

START_TEST(unary_wrappers_and_their_parameters) {
  clt_device *dev = TU_DEV;
  clt_dtype dts[2];
  for (int k = 0, nd = float_dtypes(dev, dts); k < nd; k++) {
    clt_scope_begin();
    clt_dtype dt = dts[k];
    clt_tensor *xs = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(5), SIGNED), dt);
    clt_tensor *xp = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(5), POSITIVE), dt);
    const int64_t s5[] = {5};
    char what[96];
    for (size_t i = 0; i < sizeof unaries / sizeof *unaries; i++) {
      bool positive = positive_only(unaries[i].name);
      const double *in = positive ? POSITIVE : SIGNED;
      double want[5];
      for (int e = 0; e < 5; e++) want[e] = unaries[i].ref(in[e]);
      snprintf(what, sizeof what, "%s (%s)", unaries[i].name, clt_dtype_name(dt));
      expect(unaries[i].fn(positive ? xp : xs), dt, 1, s5, want, 4 * tol_of(dt), what);
    }
    /* the parameter reaches the kernel: two values each, neither the default */
    static const double slopes[2] = {0.2, 3}, alphas[2] = {0.5, 2};
    for (int p = 0; p < 2; p++) {
      double lr[5], el[5];
      for (int e = 0; e < 5; e++) {
        lr[e] = SIGNED[e] > 0 ? SIGNED[e] : slopes[p] * SIGNED[e];
        el[e] = SIGNED[e] > 0 ? SIGNED[e] : alphas[p] * expm1(SIGNED[e]);
      }
      snprintf(what, sizeof what, "leaky_relu slope %g (%s)", slopes[p], clt_dtype_name(dt));
      expect(clt_leaky_relu(xs, slopes[p]), dt, 1, s5, lr, tol_of(dt), what);
      snprintf(what, sizeof what, "elu alpha %g (%s)", alphas[p], clt_dtype_name(dt));
      expect(clt_elu(xs, alphas[p]), dt, 1, s5, el, 4 * tol_of(dt), what);
    }
    clt_scope_end();
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("known");
  TCase *tc = tu_tcase("known");
  TU_DEVICES(tc, reductions_over_dims);
  TU_DEVICES(tc, binary_ops_and_comparisons);
  TU_DEVICES(tc, logical_ops_and_where);
  TU_DEVICES(tc, reversed_forms_promotions_and_casts);
  TU_DEVICES(tc, unary_wrappers_and_their_parameters);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
