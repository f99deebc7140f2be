/* Autograd: gradcheck (float64 central differences) for every differentiable op on every
 * device, with broadcast shapes, views and non-contiguous inputs; accumulation, diamonds,
 * no-grad, detach, in-place ops and their version errors, backward twice, memory. */
#include <float.h>
#include <stdio.h>

#include "dispatch.h"
#include "ew.h"
#include "tu.h"

/* ---- gradcheck cases -------------------------------------------------------------------- */

typedef struct {
  const char *name;
  clt_tensor *(*fn)(clt_tensor *const *in, void *user);
  int n;
  int ndim[3];
  int64_t shape[3][4];
  double lo, hi; /* input range, away from kinks */
  int iparam;
  double param; /* lo == hi: an op of the table (iparam), its inputs in their domains (lib/optable.h) */
} gcase;

static clt_tensor *c_unary(clt_tensor *const *in, void *u) {
  const gcase *c = u;
  bool bounds = clt__op_table[c->iparam].rule == CLT__R_INT_BOUNDS; /* kinks away from the inputs */
  double p0 = bounds ? -0.5 : 0.3, p1 = bounds ? 0.6 : 0;
  return clt_unary((clt_op)c->iparam, clt_transpose(in[0], 0, 1), p0, p1); /* a non-contiguous input */
}
static clt_tensor *c_binary(clt_tensor *const *in, void *u) {
  return clt_binary((clt_op)((const gcase *)u)->iparam, in[0], in[1]);
}
static clt_tensor *c_scalar(clt_tensor *const *in, void *u) {
  const gcase *c = u;
  return clt_binary_scalar((clt_op)c->iparam, in[0], c->param);
}
/* s op b through the op's own function (clt_r<op>_scalar), from the table */
#define R_FN(name, v, rule, forms, ga, gb, gs, gr, da, db, doc) R_FN_##forms(clt_r##name##_scalar, CLT_OP_##name)
#define R_FN_T(fn, op)
#define R_FN_TS(fn, op)
#define R_FN_TSR(fn, op) {op, fn},
static const struct {
  clt_op op;
  clt_tensor *(*fn)(clt_tensor *b, double s);
} rscalar_fns[] = {CLT_BINARY_OPS(R_FN)};

static clt_tensor *(*rscalar_fn(clt_op op))(clt_tensor *, double) {
  for (size_t k = 0; k < sizeof rscalar_fns / sizeof *rscalar_fns; k++)
    if (rscalar_fns[k].op == op) return rscalar_fns[k].fn;
  ck_abort_msg("%s has no scalar-first form", clt_op_name(op));
  return NULL;
}
static clt_tensor *c_rscalar(clt_tensor *const *in, void *u) {
  const gcase *c = u;
  return rscalar_fn((clt_op)c->iparam)(in[0], c->param);
}
static clt_tensor *c_where(clt_tensor *const *in, void *u) {
  (void)u;
  return clt_where(clt_gt_scalar(in[0], 0.1), in[1], in[2]);
}
static const int d01[2] = {0, 1};
static clt_tensor *c_reduce(clt_tensor *const *in, void *u) {
  const gcase *c = u;
  int nd = c->iparam % 10 == 0 ? 0 : c->iparam % 10 == 1 ? 1 : 2; /* all dims, dim 1, dims 0 and 1 */
  const int *dims = nd == 1 ? &d01[1] : d01;
  bool keep = c->iparam >= 100;
  switch ((c->iparam / 10) % 10) {
    case 0: return clt_sum(in[0], nd, dims, keep);
    case 1: return clt_mean(in[0], nd, dims, keep);
    case 2: return clt_prod(in[0], nd, dims, keep);
    case 3: return clt_max(in[0], nd, dims, keep);
    case 4: return clt_min(in[0], nd, dims, keep);
    case 5: return clt_var(in[0], nd, dims, 1, keep);
    case 6: return clt_std(in[0], nd, dims, 0, keep);
    default: return clt_logsumexp(in[0], nd, dims, keep);
  }
}
static clt_tensor *c_softmax(clt_tensor *const *in, void *u) {
  const gcase *c = u;
  return c->param ? clt_log_softmax(in[0], c->iparam) : clt_softmax(in[0], c->iparam);
}
static clt_tensor *c_matmul(clt_tensor *const *in, void *u) {
  (void)u;
  return clt_matmul(in[0], in[1]);
}
static clt_tensor *c_matmul_t(clt_tensor *const *in, void *u) {
  (void)u;
  return clt_matmul(clt_transpose(in[0], -1, -2), in[1]);
}
static clt_tensor *c_views(clt_tensor *const *in, void *u) {
  const gcase *c = u;
  clt_tensor *x = in[0]; /* [2,3,4] */
  switch (c->iparam) {
    case 0: return clt_reshape(x, CLT_SHAPE(4, 6));
    case 1: return clt_transpose(x, 0, 2);
    case 2: return clt_permute(x, CLT_DIMS(1, 2, 0));
    case 3: return clt_slice(clt_slice(x, 2, 1, 4, 2), 1, -2, INT64_MAX, 1);
    case 4: return clt_expand(clt_unsqueeze(x, 1), CLT_SHAPE(2, 5, 3, 4));
    case 5: return clt_squeeze(clt_unsqueeze(x, -1), -1);
    case 6: return clt_flatten(clt_transpose(x, 0, 1), 0, 1);
    case 7: return clt_contiguous(clt_transpose(x, 1, 2));
    case 8: return clt_clone(x);
    default: return clt_view(x, CLT_SHAPE(2, 12));
  }
}
static clt_tensor *c_join(clt_tensor *const *in, void *u) {
  const gcase *c = u;
  clt_tensor *ts[3] = {in[0], clt_transpose(in[1], 0, 1), in[0]};
  return c->iparam ? clt_stack(3, ts, 1) : clt_cat(3, ts, 1);
}
static clt_tensor *c_index(clt_tensor *const *in, void *u) {
  const gcase *c = u;
  clt_device *dev = clt_device_of(in[0]);
  clt_tensor *i1 = clt_from_host(dev, CLT_INT64, CLT_SHAPE(5), (const int64_t[]){2, 0, 2, 3, 1});
  clt_tensor *i2 = clt_from_host(dev, CLT_INT32, CLT_SHAPE(3, 2), (const int32_t[]){0, 3, 1, 1, 2, 0});
  switch (c->iparam) {
    case 0: return clt_index_select(in[0], 1, i1);
    case 1: return clt_gather(in[0], 1, i2);
    default: return clt_scatter_add(in[0], 1, i2, in[1]);
  }
}
static clt_tensor *c_chain(clt_tensor *const *in, void *u) {
  (void)u; /* a small network: linear, activation, softmax, loss-like reduction */
  clt_tensor *h = clt_tanh(clt_add(clt_matmul(in[0], in[1]), in[2]));
  return clt_mean(clt_log_softmax(h, -1), CLT_DIMS(0), false);
}

#define S1(a) 1, {a}
#define SH(...) {__VA_ARGS__}

static gcase cases[256];
static int ncases;

static void add_case(gcase c) { cases[ncases++] = c; }

/* Whether the form of op passes a gradient to some input. */
static bool differentiable(int op, clt__form form) {
  const clt__op_info *o = &clt__op_table[op];
  for (int i = 0; i < (form == CLT__FORM_TENSOR ? o->arity : 1); i++)
    if (o->grad[form][i].kind != CLT__T_NONE) return true;
  return false;
}

static void build_cases(void) {
  ncases = 0;
  for (int op = 0; op < CLT_OP_COUNT; op++) { /* every differentiable row of the op table */
    if (!clt__op_valid(op) || op == CLT_OP_where) continue;
    const clt__op_info *o = &clt__op_table[op];
    int8_t const *d = o->domain;
    if (o->arity == 1 && differentiable(op, CLT__FORM_TENSOR))
      add_case((gcase){o->name, c_unary, 1, {2}, {{3, 4}}, 0, 0, op, 0});
    if (o->arity != 2) continue;
    if (differentiable(op, CLT__FORM_TENSOR)) {
      add_case((gcase){o->name, c_binary, 2, {2, 1}, {{3, 4}, {4}}, 0, 0, op, 0});
      add_case((gcase){o->name, c_binary, 2, {1, 2}, {{4}, {3, 1}}, 0, 0, op, 0});
    }
    /* a op s with s from b's domain, s op b with s from a's */
    if (o->forms & 1 << CLT__FORM_SCALAR && differentiable(op, CLT__FORM_SCALAR))
      add_case((gcase){o->name, c_scalar, 1, {2}, {{3, 4}}, 0, 0, op, d[1] == CLT__DOM_EXPONENT ? 2.5 : 0.7});
    if (o->forms & 1 << CLT__FORM_RSCALAR && differentiable(op, CLT__FORM_RSCALAR))
      add_case((gcase){o->name, c_rscalar, 1, {2}, {{3, 4}}, 0, 0, op, d[0] == CLT__DOM_POS ? 1.7 : 1.5});
  }
  add_case((gcase){"where", c_where, 3, {2, 2, 1}, {{3, 4}, {3, 4}, {4}}, -1, 1, 0, 0});
  for (int kind = 0; kind < 8; kind++)
    for (int dims = 0; dims < 3; dims++)
      for (int keep = 0; keep < 2; keep++)
        add_case((gcase){"reduction", c_reduce, 1, {3}, {{3, 4, 2}}, kind == 2 ? 0.5 : -2, 2, keep * 100 + kind * 10 + dims, 0});
  for (int dim = -2; dim < 2; dim++) {
    add_case((gcase){"softmax", c_softmax, 1, {2}, {{3, 5}}, -2, 2, dim, 0});
    add_case((gcase){"log_softmax", c_softmax, 1, {2}, {{3, 5}}, -2, 2, dim, 1});
  }
  add_case((gcase){"matmul 2d", c_matmul, 2, {2, 2}, {{3, 4}, {4, 5}}, -1, 1, 0, 0});
  add_case((gcase){"matmul dot", c_matmul, 2, {1, 1}, {{4}, {4}}, -1, 1, 0, 0});
  add_case((gcase){"matmul 2d.1d", c_matmul, 2, {2, 1}, {{3, 4}, {4}}, -1, 1, 0, 0});
  add_case((gcase){"matmul 1d.3d", c_matmul, 2, {1, 3}, {{4}, {2, 4, 3}}, -1, 1, 0, 0});
  add_case((gcase){"matmul broadcast", c_matmul, 2, {3, 2}, {{2, 3, 4}, {4, 2}}, -1, 1, 0, 0});
  add_case((gcase){"matmul transposed", c_matmul_t, 2, {3, 3}, {{2, 4, 3}, {1, 4, 2}}, -1, 1, 0, 0});
  for (int v = 0; v < 10; v++) add_case((gcase){"views", c_views, 1, {3}, {{2, 3, 4}}, -1, 1, v, 0});
  add_case((gcase){"cat", c_join, 2, {2, 2}, {{3, 2}, {2, 3}}, -1, 1, 0, 0});
  add_case((gcase){"stack", c_join, 2, {2, 2}, {{3, 3}, {3, 3}}, -1, 1, 1, 0});
  add_case((gcase){"index_select", c_index, 1, {2}, {{3, 4}}, -1, 1, 0, 0});
  add_case((gcase){"gather", c_index, 1, {2}, {{3, 4}}, -1, 1, 1, 0});
  add_case((gcase){"scatter_add", c_index, 2, {2, 2}, {{3, 4}, {3, 2}}, -1, 1, 2, 0});
  add_case((gcase){"network", c_chain, 3, {2, 2, 1}, {{4, 3}, {3, 5}, {5}}, -1, 1, 0, 0});
}

/* Inputs in [lo, hi), or (lo == hi) in the op table's domain dom, spread so that max/min have
 * no ties and kinks are avoided. */
static clt_tensor *gc_input(clt_device *dev, int ndim, const int64_t *shape, double lo, double hi, int dom, int seed) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) {
    double u = (double)((i * 7919 + (int64_t)seed * 104729) % 1009) / 1009.0;
    v[i] = lo < hi ? lo + (hi - lo) * u : clt__domain_value((clt__domain)dom, u);
    if (fabs(v[i]) < 0.05) v[i] += 0.1; /* away from 0, the kink of relu, abs, ... */
  }
  clt_tensor *t = clt_from_host(dev, CLT_FLOAT64, ndim, shape, v);
  free(v);
  return t;
}

/* The domain input i of an op case is drawn from: s op b's tensor is b. */
static int case_domain(const gcase *c, int i) {
  return clt__op_table[c->iparam].domain[c->fn == c_rscalar ? 1 : i];
}

START_TEST(gradcheck_every_op) {
  clt_device *dev = TU_DEV;
  build_cases();
  ck_assert_int_ge(ncases, 100);
  for (int c = 0; c < ncases; c++) {
    clt_scope_begin();
    clt_tensor *in[3];
    for (int i = 0; i < cases[c].n; i++)
      in[i] = gc_input(dev, cases[c].ndim[i], cases[c].shape[i], cases[c].lo, cases[c].hi,
                       cases[c].lo < cases[c].hi ? 0 : case_domain(&cases[c], i), c * 3 + i);
    clt_status s = clt_gradcheck(cases[c].fn, &cases[c], cases[c].n, in, NULL);
    ck_assert_msg(s == CLT_OK, "%s (case %d, param %d) on %s: %s", cases[c].name, c, cases[c].iparam,
                  clt_device_spec(dev), clt_last_error());
    clt_scope_end();
  }
}
END_TEST

/* gradcheck itself fails on a wrong gradient: relu's forward with exp's gradient cannot pass. */
static clt_tensor *wrong(clt_tensor *const *in, void *u) {
  (void)u;
  clt_tensor *y = clt_relu(in[0]);
  clt_tensor *fake = clt_mul_scalar(clt_detach(y), 0); /* zero, not recorded */
  return clt_add(clt_mul(in[0], in[0]), clt_add(fake, clt_detach(in[0])));
}

START_TEST(gradcheck_catches_wrong_gradients) {
  clt_scope_begin();
  clt_tensor *x = gc_input(TU_DEV, CLT_SHAPE(5), -1, 1, 0, 3);
  ck_assert_int_eq(clt_gradcheck(wrong, NULL, 1, &x, NULL), CLT_ERR_MISMATCH);
  TU_ASSERT_ERR(CLT_ERR_MISMATCH, "clt_gradcheck: input 0 (shape [5]), element 0: analytic gradient");
  ck_assert_int_eq(clt_gradcheck(NULL, NULL, 1, &x, NULL), CLT_ERR_INVALID_ARG);
  clt_clear_error();
  clt_scope_end();
}
END_TEST

/* ---- binary ops over mixed dtypes --------------------------------------------------------- */

static const clt_dtype all_dtypes[] = {CLT_FLOAT32, CLT_FLOAT64, CLT_INT32, CLT_INT64, CLT_UINT8, CLT_BOOL};

/* Operand values of dtype dt for op (which 0: a [2,3], 1: b [3]) in the domain the op table
 * gives the operand: non-integral floats without ties between the operands, positive bases for
 * pow (POS), divisors away from 0 (NONZERO), small exponents (EXPONENT). */
static clt_tensor *mixed_operand(clt_device *dev, clt_op op, clt_dtype dt, int which) {
  static const double fa[6] = {-1.3, 0.7, 2.1, -0.4, 1.6, -2.2}, fb[3] = {0.9, -1.7, 1.2};
  static const double pa[6] = {0.6, 1.4, 2.2, 0.9, 1.7, 2.5}, pb[3] = {-1.5, 0.5, 1.3};
  static const double ia[6] = {-2, 1, 3, -1, 2, 4}, ib[3] = {3, -2, 1};
  static const double ua[6] = {1, 2, 3, 4, 5, 6}, ub[3] = {3, 2, 1};
  static const double ba[6] = {1, 0, 1, 1, 0, 1}, ones[6] = {1, 1, 1, 1, 1, 1};
  clt__domain dom = (clt__domain)clt__op_table[op].domain[which];
  const double *v = clt_dtype_is_float(dt) ? (dom == CLT__DOM_POS ? pa : dom == CLT__DOM_EXPONENT ? pb : which ? fb : fa)
                    : dt == CLT_BOOL        ? (dom != CLT__DOM_REAL || which ? ones : ba)
                    : dt == CLT_UINT8 || dom == CLT__DOM_POS ? (which ? ub : ua)
                                                             : (which ? ib : ia);
  uint8_t raw[6 * 8];
  int64_t n = which ? 3 : 6;
  for (int64_t i = 0; i < n; i++) clt__store_f64(dt, raw + i * (int64_t)clt_dtype_size(dt), v[i]);
  clt_tensor *t = which ? clt_from_host(dev, dt, CLT_SHAPE(3), raw) : clt_from_host(dev, dt, CLT_SHAPE(2, 3), raw);
  ck_assert_ptr_nonnull(t);
  return t;
}

/* sum(op(a, b) * w) in float64 on the host, for central differences. */
static double mixed_loss(clt_op op, clt_tensor *a, clt_tensor *b, clt_tensor *w) {
  double v;
  ck_assert_int_eq(clt_item(clt_sum(clt_mul(clt_binary(op, a, b), w), CLT_ALL_DIMS, false), &v), CLT_OK);
  return v;
}

/* Every binary op's gradient for every pair of operand dtypes the op accepts, on every device,
 * with broadcasting: each float operand's gradient, in its own dtype, against central
 * differences of the op in float64 (clt_gradcheck makes every input float64 and cannot see
 * operands of different dtypes). */
START_TEST(binary_gradients_over_mixed_dtypes) {
  clt_device *dev = TU_DEV, *host = tu_dev[0];
  int checked = 0, expected = 0;
  for (int op = 0; op < CLT_OP_COUNT; op++) {
    if (!clt__op_valid(op) || clt__op_arity((clt_op)op) != 2 || !differentiable(op, CLT__FORM_TENSOR)) continue;
    for (size_t i = 0; i < 6; i++)
      for (size_t j = 0; j < 6; j++) {
        clt_dtype da = all_dtypes[i], db = all_dtypes[j];
        if (!clt_dtype_is_float(da) && !clt_dtype_is_float(db)) continue; /* nothing to differentiate */
        bool takes = clt__op_takes_bool((clt_op)op, da, db);
        if (takes) expected += clt_dtype_is_float(da) + clt_dtype_is_float(db);
        clt_scope_begin();
        clt_tensor *in[2] = {mixed_operand(dev, (clt_op)op, da, 0), mixed_operand(dev, (clt_op)op, db, 1)};
        for (int s = 0; s < 2; s++)
          if (clt_dtype_is_float(clt_dtype_of(in[s]))) clt_set_requires_grad(in[s], true);
        clt_tensor *y = clt_binary((clt_op)op, in[0], in[1]);
        ck_assert_msg((y != NULL) == takes, "%s(%s, %s) on %s: %s", clt_op_name((clt_op)op), clt_dtype_name(da),
                      clt_dtype_name(db), clt_device_spec(dev), y ? "computed where the table says it refuses" : clt_last_error());
        if (!y) { /* a pair the op refuses (the table's dtype rule): only as a dtype error */
          ck_assert_msg(clt_last_status() == CLT_ERR_DTYPE, "%s(%s, %s): %s", clt_op_name((clt_op)op),
                        clt_dtype_name(da), clt_dtype_name(db), clt_last_error());
          clt_clear_error();
          clt_scope_end();
          continue;
        }
        double wv[6] = {0.3, -0.7, 0.2, 0.9, -0.4, 0.6};
        clt_tensor *w = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(2, 3), wv);
        ck_assert_int_eq(clt_backward(clt_sum(clt_mul(y, clt_cast(w, clt_dtype_of(y))), CLT_ALL_DIMS, false), NULL),
                         CLT_OK);
        /* the float64 reference: both operands as float64 on the host */
        clt_tensor *wh = clt_to(w, host), *ref[2];
        for (int s = 0; s < 2; s++) ref[s] = clt_cast(clt_detach(clt_to(in[s], host)), CLT_FLOAT64);
        bool f32 = clt_dtype_of(y) == CLT_FLOAT32;
        for (int s = 0; s < 2; s++) {
          if (!clt_dtype_is_float(clt_dtype_of(in[s]))) continue;
          clt_tensor *g = clt_grad(in[s]);
          ck_assert_ptr_nonnull(g);
          ck_assert_int_eq(clt_dtype_of(g), clt_dtype_of(in[s]));
          double *ana = tu_values(g), *x = tu_values(ref[s]);
          for (int64_t e = 0; e < clt_numel(in[s]); e++) {
            double h = 1e-6 * fmax(1.0, fabs(x[e])), l[2];
            for (int side = 0; side < 2; side++) {
              double keep = x[e];
              x[e] = keep + (side ? -h : h);
              clt_tensor *p = clt_from_host(host, CLT_FLOAT64, clt_ndim(ref[s]), clt_shape(ref[s]), x);
              x[e] = keep;
              l[side] = mixed_loss((clt_op)op, s ? ref[0] : p, s ? p : ref[1], wh);
              clt_release(p);
            }
            double num = (l[0] - l[1]) / (2 * h), tol = f32 ? 1e-5 + 1e-4 * fabs(num) : 1e-7 + 1e-6 * fabs(num);
            ck_assert_msg(fabs(ana[e] - num) <= tol, "%s(%s, %s) on %s: gradient of %s element %lld is %.9g, want %.9g",
                          clt_op_name((clt_op)op), clt_dtype_name(da), clt_dtype_name(db), clt_device_spec(dev),
                          s ? "b" : "a", (long long)e, ana[e], num);
          }
          free(ana);
          free(x);
          checked++;
        }
        clt_scope_end();
      }
  }
  ck_assert_int_ge(expected, 7 * 24 - 4); /* the table's 7 binary ops at least (sub refuses 4 pairs, as PyTorch) */
  ck_assert_int_eq(checked, expected);
}
END_TEST

/* s op x (first) or x op s: the scalar forms, reversed ones through their own functions. */
static clt_tensor *scalar_form(clt_op op, bool first, clt_tensor *x, double s) {
  return first ? rscalar_fn(op)(x, s) : clt_binary_scalar(op, x, s);
}

/* The scalar forms' gradients in float32 and float64 on every device, with integral and
 * fractional scalars, against central differences in float64. */
START_TEST(scalar_form_gradients_in_each_float_dtype) {
  clt_device *dev = TU_DEV, *host = tu_dev[0];
  static const double xs[4] = {0.6, 1.3, 2.2, 0.9}, scalars[3] = {2, 0.7, -1.5}, w[4] = {0.3, -0.7, 0.2, 0.9};
  int checked = 0, expected = 0;
  for (int op = 0; op < CLT_OP_COUNT; op++) {
    if (!clt__op_valid(op) || clt__op_arity((clt_op)op) != 2) continue;
    for (int first = 0; first < 2; first++) {
      clt__form form = first ? CLT__FORM_RSCALAR : CLT__FORM_SCALAR;
      if (!(clt__op_table[op].forms & 1 << form) || !differentiable(op, form)) continue;
      expected += 3 * 2;
      for (int si = 0; si < 3; si++)
        for (int d = 0; d < 2; d++) {
          bool pos = first && clt__op_table[op].domain[0] == CLT__DOM_POS; /* s is a: a real power's base > 0 */
          double sc = pos ? fabs(scalars[si]) : scalars[si];
          clt_dtype dt = d ? CLT_FLOAT64 : CLT_FLOAT32;
          clt_scope_begin();
          clt_tensor *x = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(4), xs), dt);
          clt_set_requires_grad(x, true);
          clt_tensor *wt = clt_cast(clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(4), w), dt);
          ck_assert_int_eq(clt_backward(clt_sum(clt_mul(scalar_form((clt_op)op, first, x, sc), wt), CLT_ALL_DIMS, false),
                                        NULL),
                           CLT_OK);
          double *ana = tu_values(clt_grad(x)), v[4];
          memcpy(v, xs, sizeof v);
          for (int e = 0; e < 4; e++) {
            double l[2], h = 1e-6;
            for (int side = 0; side < 2; side++) {
              v[e] = xs[e] + (side ? -h : h);
              clt_tensor *p = clt_from_host(host, CLT_FLOAT64, CLT_SHAPE(4), v);
              clt_tensor *wh = clt_from_host(host, CLT_FLOAT64, CLT_SHAPE(4), w);
              ck_assert_int_eq(clt_item(clt_sum(clt_mul(scalar_form((clt_op)op, first, p, sc), wh), CLT_ALL_DIMS, false),
                                        &l[side]),
                               CLT_OK);
              v[e] = xs[e];
            }
            double num = (l[0] - l[1]) / (2 * h), tol = d ? 1e-7 + 1e-6 * fabs(num) : 1e-5 + 1e-4 * fabs(num);
            ck_assert_msg(fabs(ana[e] - num) <= tol, "%s%s_scalar(%s, %g) on %s: gradient %lld is %.9g, want %.9g",
                          first ? "r" : "", clt_op_name((clt_op)op), clt_dtype_name(dt), sc, clt_device_spec(dev),
                          (long long)e, ana[e], num);
          }
          free(ana);
          checked++;
          clt_scope_end();
        }
    }
  }
  ck_assert_int_ge(expected, (7 + 3) * 3 * 2); /* the table's 7 scalar forms and 3 reversed ones at least */
  ck_assert_int_eq(checked, expected);
}
END_TEST

/* The reproductions, with PyTorch's values (g = 1). */
START_TEST(mixed_dtype_gradients_known_values) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  struct {
    clt_op op;
    clt_dtype da, db;
    double a[2], b[2];
    int n;
    double ga[2], gb[2];
  } cases[] = {
      {CLT_OP_div, CLT_FLOAT32, CLT_FLOAT64, {3}, {2}, 1, {0.5}, {-0.75}},
      {CLT_OP_div, CLT_INT32, CLT_FLOAT32, {3}, {2}, 1, {NAN}, {-0.75}},
      {CLT_OP_pow, CLT_FLOAT64, CLT_FLOAT32, {2}, {3}, 1, {12}, {8 * 0.69314718055994531}},
      {CLT_OP_maximum, CLT_FLOAT32, CLT_FLOAT64, {3, -1}, {2, 0.5}, 2, {1, 0}, {0, 1}},
      {CLT_OP_minimum, CLT_FLOAT64, CLT_FLOAT32, {3, -1}, {2, 0.5}, 2, {0, 1}, {1, 0}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    uint8_t ra[16], rb[16];
    for (int i = 0; i < cases[c].n; i++) {
      clt__store_f64(cases[c].da, ra + i * (int)clt_dtype_size(cases[c].da), cases[c].a[i]);
      clt__store_f64(cases[c].db, rb + i * (int)clt_dtype_size(cases[c].db), cases[c].b[i]);
    }
    clt_tensor *a = clt_from_host(dev, cases[c].da, CLT_SHAPE(cases[c].n), ra);
    clt_tensor *b = clt_from_host(dev, cases[c].db, CLT_SHAPE(cases[c].n), rb);
    if (clt_dtype_is_float(cases[c].da)) clt_set_requires_grad(a, true);
    clt_set_requires_grad(b, true);
    ck_assert_int_eq(clt_backward(clt_sum(clt_binary(cases[c].op, a, b), CLT_ALL_DIMS, false), NULL), CLT_OK);
    const int64_t shape[1] = {cases[c].n};
    double *gb = tu_values(clt_grad(b));
    for (int i = 0; i < cases[c].n; i++)
      ck_assert_msg(fabs(gb[i] - cases[c].gb[i]) <= 1e-6 * fabs(cases[c].gb[i]), "%s case %zu: grad b[%d] = %.9g, want %.9g",
                    clt_op_name(cases[c].op), c, i, gb[i], cases[c].gb[i]);
    free(gb);
    if (clt_dtype_is_float(cases[c].da)) tu_assert_values(clt_grad(a), 1, shape, cases[c].ga);
  }
  clt_scope_end();
}
END_TEST

/* ---- special values --------------------------------------------------------------------- */

/* t's values equal want (rounded to t's dtype) exactly, NaN for NaN and the sign of zeros
 * included. */
static void assert_bits(clt_tensor *t, const double *want, const char *what) {
  ck_assert_msg(t != NULL, "%s: %s", what, clt_last_error());
  double *v = tu_values(t);
  for (int64_t i = 0; i < clt_numel(t); i++) {
    double w = clt_dtype_of(t) == CLT_FLOAT32 ? (double)(float)want[i] : want[i];
    ck_assert_msg(isnan(w) ? isnan(v[i]) : v[i] == w && signbit(v[i]) == signbit(w),
                  "%s on %s, element %lld: got %g, want %g", what, clt_device_spec(clt_device_of(t)), (long long)i,
                  v[i], w);
  }
  free(v);
}

typedef clt_tensor *(*unary_fn)(clt_tensor *x, double p);
static clt_tensor *f_relu(clt_tensor *x, double p) { return (void)p, clt_relu(x); }
static clt_tensor *f_elu(clt_tensor *x, double p) { return clt_elu(x, p); }
static clt_tensor *f_pow_scalar(clt_tensor *x, double p) { return clt_pow_scalar(x, p); }
static clt_tensor *f_rpow_scalar(clt_tensor *x, double p) { return clt_rpow_scalar(x, p); }
static clt_tensor *f_max_nan(clt_tensor *x, double p) { /* maximum(x, NaN), as a tensor of p */
  return clt_maximum(x, clt_full(clt_device_of(x), clt_dtype_of(x), CLT_SHAPE(1), p));
}
static clt_tensor *f_min_nan(clt_tensor *x, double p) {
  return clt_minimum(clt_full(clt_device_of(x), clt_dtype_of(x), CLT_SHAPE(1), p), x);
}
static clt_tensor *f_softmax(clt_tensor *x, double p) { return p ? clt_log_softmax(x, -1) : clt_softmax(x, -1); }
static clt_tensor *f_gelu_tanh(clt_tensor *x, double p) { return (void)p, clt_gelu_tanh(x); }
static clt_tensor *f_std(clt_tensor *x, double p) { return clt_std(x, CLT_ALL_DIMS, p, false); }
static clt_tensor *f_std_dim1(clt_tensor *x, double p) { return clt_std(x, CLT_DIMS(1), p, false); }

/* Gradients at special values, as PyTorch 2.x gives them (include/clt/ops.h states each):
 * relu and elu pass g at NaN; maximum(x, NaN) and minimum(NaN, x) pass g to x; softmax and
 * log_softmax of a row holding +inf are NaN, gradient included; a power by the scalar 0.5 is
 * sqrt's; gelu_tanh is x and 0 (gradient 1 and 0) far right and left, NaN at -inf (gradient
 * NaN at +-inf); rpow_scalar(0, x) has gradient 0 where x >= 0; std where the std is 0 has gradient
 * 0, on every device, float32 and float64. The gradient is of sum(f(x) * w) with w = 1. */
START_TEST(gradients_at_special_values) {
  clt_device *dev = TU_DEV;
  static const struct {
    const char *name;
    unary_fn f;
    double p;
    int ndim;
    int64_t shape[2];
    double x[6], y[6], g[6];
  } cases[] = {
      {"relu", f_relu, 0, 1, {4}, {NAN, 0, 1, -1}, {NAN, 0, 1, 0}, {1, 0, 1, 0}},
      {"elu", f_elu, 0.5, 1, {5}, {NAN, 0, 1, -INFINITY, INFINITY}, {NAN, 0, 1, -0.5, INFINITY}, {1, 0.5, 1, 0, 1}},
      {"maximum(x, NaN)", f_max_nan, NAN, 1, {2}, {1, NAN}, {NAN, NAN}, {1, 1}},
      {"minimum(NaN, x)", f_min_nan, NAN, 1, {2}, {1, -INFINITY}, {NAN, NAN}, {1, 1}},
      {"softmax, a row with +inf", f_softmax, 0, 2, {2, 3}, {1, INFINITY, 2, -INFINITY, 0, 0},
       {NAN, NAN, NAN, 0, 0.5, 0.5}, {NAN, NAN, NAN, 0, 0, 0}},
      {"log_softmax, a row with +inf", f_softmax, 1, 2, {2, 3}, {INFINITY, INFINITY, 1, -INFINITY, -INFINITY, 0},
       {NAN, NAN, NAN, -INFINITY, -INFINITY, 0}, {NAN, NAN, NAN, 1, 1, -2}},
      {"pow_scalar 0.5", f_pow_scalar, 0.5, 1, {4}, {-INFINITY, -0.0, 4, INFINITY}, {NAN, -0.0, 2, INFINITY},
       {NAN, -INFINITY, 0.25, 0}},
      {"pow_scalar 1.5", f_pow_scalar, 1.5, 1, {3}, {-INFINITY, -0.0, 4}, {INFINITY, 0, 8}, {NAN, -0.0, 3}},
      {"rpow_scalar 0", f_rpow_scalar, 0, 1, {5}, {0, 1, 2, -1, NAN}, {1, 0, 0, INFINITY, NAN},
       {0, 0, 0, -INFINITY, NAN}},
      {"gelu_tanh in its tails", f_gelu_tanh, 0, 1, {6}, {1e4, -1e4, 1e30, -1e30, INFINITY, -INFINITY},
       {1e4, -0.0, 1e30, -0.0, INFINITY, NAN}, {1, 0, 1, 0, NAN, NAN}},
      {"std of a constant", f_std, 1, 1, {3}, {2, 2, 2}, {0}, {0, 0, 0}},
      {"std of a 0-d tensor", f_std, 0, 0, {0}, {2}, {0}, {0}},
      {"std of a 0-d tensor, correction 1", f_std, 1, 0, {0}, {2}, {NAN}, {NAN}},
      {"std over a dim of size 1", f_std_dim1, 0, 2, {2, 1}, {2, 3}, {0, 0}, {0, 0}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
    for (int k = 0; k < 2; k++) {
      clt_scope_begin();
      clt_dtype dt = k ? CLT_FLOAT64 : CLT_FLOAT32;
      clt_tensor *x = clt_cast(clt_from_host(dev, CLT_FLOAT64, cases[c].ndim, cases[c].shape, cases[c].x), dt);
      clt_set_requires_grad(x, true);
      clt_tensor *y = cases[c].f(x, cases[c].p);
      char what[96];
      snprintf(what, sizeof what, "%s (%s)", cases[c].name, clt_dtype_name(dt));
      assert_bits(y, cases[c].y, what);
      ck_assert_int_eq(clt_backward(clt_sum(y, CLT_ALL_DIMS, false), NULL), CLT_OK);
      snprintf(what, sizeof what, "gradient of %s (%s)", cases[c].name, clt_dtype_name(dt));
      assert_bits(clt_grad(x), cases[c].g, what);
      clt_scope_end();
    }
}
END_TEST

/* ---- float32 gradients over the whole float32 range ------------------------------------ */

static int64_t float_order(float f) {
  int32_t i;
  memcpy(&i, &f, sizeof i);
  return i < 0 ? (int64_t)INT32_MIN - i : i;
}

/* The gradients of sum(op(a, b)) for a and b, elementwise ([n] each, of dtype src), computed in
 * dtype dt on dev: the host copies of both, as doubles (caller frees). */
static void binary_grads(clt_device *dev, clt_op op, clt_dtype dt, clt_dtype src, const void *a, const void *b,
                         int64_t n, double **ga, double **gb) {
  clt_scope_begin();
  clt_tensor *x[2] = {clt_cast(clt_from_host(dev, src, 1, &n, a), dt), clt_cast(clt_from_host(dev, src, 1, &n, b), dt)};
  for (int i = 0; i < 2; i++) clt_set_requires_grad(x[i], true);
  ck_assert_int_eq(clt_backward(clt_sum(clt_binary(op, x[0], x[1]), CLT_ALL_DIMS, false), NULL), CLT_OK);
  *ga = tu_values(clt_grad(x[0]));
  *gb = tu_values(clt_grad(x[1]));
  clt_scope_end();
}

/* Float32 gradients of div and pow on every device against the float64 reference (the host's
 * float64 gradients of the same operands, rounded once): where that is a normal float or
 * infinite, within 4 ulp for div (OpenCL's division may be 2.5 ulp off) and 32 for pow (its
 * pow 16); where it is subnormal, within 4 and 64 steps of the smallest subnormal. Measured on
 * PoCL: 1 ulp and 0 steps for div, 2 ulp and 6 steps for pow. Operands cover the float32 range
 * (every 7th power of two with two mantissas, both signs, for div; positive bases and
 * exponents from -30 to 130 for pow), so that a / b^2 is formed where b * b overflows or
 * underflows (b = 1e20, b = 1e-40) and pow's gradients where a power alone overflows. */
START_TEST(float32_gradients_over_the_float32_range) {
  clt_device *dev = TU_DEV;
  float mag[128];
  int nm = 0;
  for (int k = -149; k <= 127; k += 7)
    for (int m = 0; m < 2; m++) mag[nm++] = ldexpf(m ? 1.37f : 1.0f, k);
  static const float exps[] = {-30, -2.5f, -1, -0.5f, -1e-7f, 1e-7f, 0.5f, 1, 2.5f, 30, 127.5f, 130};
  int64_t cap = 4 * 128 * 128, n;
  float *a = malloc((size_t)cap * sizeof *a), *b = malloc((size_t)cap * sizeof *b);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  for (int which = 0; which < 2; which++) {
    clt_op op = which ? CLT_OP_pow : CLT_OP_div;
    n = 0;
    for (int i = -1; i < nm; i++)
      for (int j = 0; j < (which ? (int)(sizeof exps / sizeof *exps) : 2 * nm); j++) {
        a[n] = i < 0 ? 0.0f : mag[i] * (which || n % 2 ? 1 : -1);
        b[n++] = which ? exps[j] : (j % 2 ? -1 : 1) * mag[j / 2];
      }
    double *ga, *gb, *ra, *rb;
    binary_grads(dev, op, CLT_FLOAT32, CLT_FLOAT32, a, b, n, &ga, &gb);
    binary_grads(tu_dev[0], op, CLT_FLOAT64, CLT_FLOAT32, a, b, n, &ra, &rb);
    int64_t worst = 0, worst_sub = 0;
    for (int64_t i = 0; i < 2 * n; i++) {
      float got = (float)(i < n ? ga[i] : gb[i - n]), want = (float)(i < n ? ra[i] : rb[i - n]);
      int64_t e = i % n;
      if (which && i < n && a[e] == 0) continue; /* d/da a^b at a = 0: 0 * inf forms on purpose */
      if (isnan(want) || isnan(got)) {
        ck_assert_msg(isnan(want) && isnan(got), "%s(%.9g, %.9g) on %s: gradient of %s %.9g, want %.9g",
                      clt_op_name(op), a[e], b[e], clt_device_spec(dev), i < n ? "a" : "b", got, want);
        continue;
      }
      bool sub = fabsf(want) < FLT_MIN;
      int64_t d = sub ? (int64_t)fabs(((double)got - want) / 0x1p-149) : llabs(float_order(got) - float_order(want));
      if (sub && d > worst_sub) worst_sub = d;
      if (!sub && d > worst) worst = d;
      ck_assert_msg(d <= (sub ? (which ? 64 : 4) : (which ? 32 : 4)), "%s(%.9g, %.9g) on %s: gradient of %s %.9g, want %.9g (%lld %s)",
                    clt_op_name(op), a[e], b[e], clt_device_spec(dev), i < n ? "a" : "b", got, want, (long long)d,
                    sub ? "subnormal steps" : "ulp");
    }
    printf("%s float32 gradients on %s: %lld values, at most %lld ulp, %lld subnormal steps\n", clt_op_name(op),
           clt_device_spec(dev), (long long)(2 * n), (long long)worst, (long long)worst_sub);
    free(ga);
    free(gb);
    free(ra);
    free(rb);
  }
  free(a);
  free(b);
}
END_TEST

/* The float32 reproductions, float32 and float64 on every device: div's gradient for b
 * at b = 1e20 (b * b overflowed: -0) and at a = 0, b = 1e-40 (b * b underflowed: NaN); pow's for
 * a tiny base (a^(b-1) overflowed: -inf) and for an overflowing power (2^128 ln 2); and their
 * float64 counterparts, which the host got wrong too. */
START_TEST(div_and_pow_gradients_known_values) {
  clt_device *dev = TU_DEV;
  static const struct {
    clt_op op;
    double a, b;
    int which; /* the gradient of a (0) or b (1) */
    double want;
  } cases[] = {
      {CLT_OP_div, 1e30, 1e20, 1, -1e-10},
      {CLT_OP_div, 0, 1e-40, 1, -0.0},
      {CLT_OP_div, 1, 1e-20, 1, -INFINITY}, /* float32; 1e40 in float64 */
      {CLT_OP_pow, 2.6e-39, -1e-7, 0, 0}, /* b a^(b-1), computed below */
      {CLT_OP_pow, 2, 128, 1, 2.358657632255133e38},
      /* the same beyond float32's range: float64 only */
      {CLT_OP_div, 1e300, 1e200, 1, -1e-100},
      {CLT_OP_pow, 2, 1024, 1, 1.2460659279417838e308},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
    for (int k = 0; k < 2; k++) {
      clt_dtype dt = k ? CLT_FLOAT64 : CLT_FLOAT32;
      if (!k && (fabs(cases[c].a) > FLT_MAX || fabs(cases[c].b) > 1e30)) continue;
      double fa = k ? cases[c].a : (float)cases[c].a, fb = k ? cases[c].b : (float)cases[c].b;
      double *ga, *gb, got, want = cases[c].want;
      binary_grads(dev, cases[c].op, dt, CLT_FLOAT64, &fa, &fb, 1, &ga, &gb);
      got = cases[c].which ? gb[0] : ga[0];
      free(ga);
      free(gb);
      if (cases[c].op == CLT_OP_pow && cases[c].which == 0) want = (double)fb * pow((double)fa, (double)fb - 1);
      if (isinf(want) && k) want = -(double)fa / ((double)fb * fb);
      if (k == 0) want = (double)(float)want;
      ck_assert_msg((got == want && signbit(got) == signbit(want)) || fabs(got - want) <= 1e-6 * fabs(want),
                    "%s(%g, %g) on %s, %s: gradient of %s %.9g, want %.9g", clt_op_name(cases[c].op), cases[c].a,
                    cases[c].b, clt_device_spec(dev), clt_dtype_name(dt), cases[c].which ? "b" : "a", got, want);
    }
}
END_TEST

/* ---- semantics -------------------------------------------------------------------------- */

START_TEST(pytorch_tutorial_example) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 2), (const float[]){1, 2, 3, 4});
  ck_assert_int_eq(clt_set_requires_grad(x, true), CLT_OK);
  clt_tensor *loss = clt_mean(clt_mul(x, x), CLT_ALL_DIMS, false);
  ck_assert(clt_requires_grad(loss));
  ck_assert_str_eq(clt_grad_fn_name(loss), "mean");
  ck_assert_ptr_null(clt_grad(x)); /* no gradient yet, and no error */
  ck_assert_int_eq(clt_last_status(), CLT_OK);
  ck_assert_int_eq(clt_backward(loss, NULL), CLT_OK);
  tu_assert_values(clt_grad(x), 2, (const int64_t[]){2, 2}, (const double[]){0.5, 1, 1.5, 2});
  clt_scope_end();
}
END_TEST

START_TEST(accumulation_diamonds_and_retain) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(3), (const double[]){1, 2, 3});
  clt_set_requires_grad(x, true);
  /* x used twice (a diamond): d/dx sum(x*x + 3x) = 2x + 3 */
  clt_tensor *y = clt_sum(clt_add(clt_mul(x, x), clt_mul_scalar(x, 3)), CLT_ALL_DIMS, false);
  ck_assert_int_eq(clt_backward_ex(y, NULL, true), CLT_OK);
  tu_assert_values(clt_grad(x), 1, (const int64_t[]){3}, (const double[]){5, 7, 9});
  ck_assert_int_eq(clt_backward(y, NULL), CLT_OK); /* retained: a second pass accumulates */
  tu_assert_values(clt_grad(x), 1, (const int64_t[]){3}, (const double[]){10, 14, 18});
  ck_assert_int_eq(clt_backward(y, NULL), CLT_ERR_AUTOGRAD); /* freed now */
  TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "clt_backward: backward through mul a second time", "retain_graph");
  ck_assert_int_eq(clt_zero_grad(x), CLT_OK);
  tu_assert_values(clt_grad(x), 1, (const int64_t[]){3}, (const double[]){0, 0, 0});
  /* an explicit grad for a non-scalar result */
  clt_tensor *z = clt_mul_scalar(x, 2);
  ck_assert_int_eq(clt_backward(z, NULL), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_backward: grad can be NULL only for a tensor of one element, not of shape [3]");
  ck_assert_int_eq(clt_backward(z, clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(2))), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_backward: grad has shape [2], the tensor [3]");
  ck_assert_int_eq(clt_backward(z, clt_full(dev, CLT_FLOAT32, CLT_SHAPE(3), 0.5)), CLT_OK);
  tu_assert_values(clt_grad(x), 1, (const int64_t[]){3}, (const double[]){1, 1, 1});
  /* a leaf as the root */
  ck_assert_int_eq(clt_backward(x, clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(3))), CLT_OK);
  tu_assert_values(clt_grad(x), 1, (const int64_t[]){3}, (const double[]){2, 2, 2});
  clt_scope_end();
}
END_TEST

START_TEST(no_grad_detach_and_leaves) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 2));
  clt_set_requires_grad(x, true);
  ck_assert(clt_is_grad_enabled());
  ck_assert_int_eq(clt_no_grad_begin(), CLT_OK);
  ck_assert_int_eq(clt_no_grad_begin(), CLT_OK); /* nests */
  ck_assert(!clt_requires_grad(clt_exp(x)));
  ck_assert_int_eq(clt_no_grad_end(), CLT_OK);
  ck_assert(!clt_is_grad_enabled());
  ck_assert_int_eq(clt_no_grad_end(), CLT_OK);
  ck_assert_int_eq(clt_no_grad_end(), CLT_ERR_STATE);
  TU_ASSERT_ERR(CLT_ERR_STATE, "clt_no_grad_end: no clt_no_grad_begin() is open");
  ck_assert(clt_requires_grad(clt_exp(x)));
  clt_tensor *d = clt_detach(x);
  ck_assert(!clt_requires_grad(d) && clt_is_leaf(d) && clt_shares_storage(d, x));
  ck_assert_ptr_null(clt_grad_fn_name(d));
  ck_assert_int_eq(clt_fill_(d, 5), CLT_OK); /* the detached alias writes through */
  tu_assert_values(x, 2, (const int64_t[]){2, 2}, (const double[]){5, 5, 5, 5});
  ck_assert(!clt_requires_grad(clt_gt_scalar(x, 1))); /* bool results never require grad */
  ck_assert(!clt_requires_grad(clt_argmax(x, CLT_ALL_DIMS, false)));
  ck_assert(!clt_requires_grad(clt_cast(x, CLT_INT32)));
  ck_assert_int_eq(clt_set_requires_grad(clt_ones(dev, CLT_INT32, CLT_SHAPE(2)), true), CLT_ERR_DTYPE);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_set_requires_grad: only float tensors can require grad, not int32");
  ck_assert_int_eq(clt_set_requires_grad(clt_exp(x), true), CLT_ERR_AUTOGRAD);
  TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "the tensor was made by exp and is not a leaf");
  ck_assert_int_eq(clt_backward(d, NULL), CLT_ERR_AUTOGRAD);
  TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "clt_backward: the tensor does not require grad");
  /* a float cast passes gradients through, in the input's dtype */
  clt_tensor *x64 = clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(2));
  clt_set_requires_grad(x64, true);
  ck_assert_int_eq(clt_backward(clt_sum(clt_mul_scalar(clt_cast(x64, CLT_FLOAT32), 3), CLT_ALL_DIMS, false), NULL), CLT_OK);
  ck_assert_int_eq(clt_dtype_of(clt_grad(x64)), CLT_FLOAT64);
  tu_assert_values(clt_grad(x64), 1, (const int64_t[]){2}, (const double[]){3, 3});
  clt_scope_end();
}
END_TEST

START_TEST(inplace_ops_and_versions) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *t = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2, 3));
  ck_assert_int_eq(clt_add_(t, clt_arange(dev, CLT_INT32, 0, 3, 1)), CLT_OK); /* broadcast, int into float */
  ck_assert_int_eq(clt_mul_(t, clt_full(dev, CLT_FLOAT32, CLT_SHAPE(2, 1), 2)), CLT_OK);
  ck_assert_int_eq(clt_sub_(t, clt_ones(dev, CLT_FLOAT32, 0, NULL)), CLT_OK);
  ck_assert_int_eq(clt_div_(t, clt_full(dev, CLT_FLOAT32, CLT_SHAPE(3), 2)), CLT_OK);
  tu_assert_values(t, 2, (const int64_t[]){2, 3}, (const double[]){-0.5, 0.5, 1.5, -0.5, 0.5, 1.5});
  ck_assert_int_eq(clt_clamp_(t, 0, 1), CLT_OK);
  tu_assert_values(t, 2, (const int64_t[]){2, 3}, (const double[]){0, 0.5, 1, 0, 0.5, 1});
  ck_assert_int_eq(clt_copy_(clt_slice(t, 1, 1, 3, 1), clt_full(dev, CLT_FLOAT64, CLT_SHAPE(1), 7)), CLT_OK);
  tu_assert_values(t, 2, (const int64_t[]){2, 3}, (const double[]){0, 7, 7, 0, 7, 7});
  ck_assert_int_eq(clt_zero_(clt_transpose(t, 0, 1)), CLT_OK);
  tu_assert_values(t, 2, (const int64_t[]){2, 3}, (const double[]){0, 0, 0, 0, 0, 0});
  clt_tensor *i = clt_zeros(dev, CLT_INT32, CLT_SHAPE(2));
  ck_assert_int_eq(clt_add_(i, clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2))), CLT_ERR_DTYPE);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_add_: the add result (float32) cannot be stored in a int32 tensor");
  ck_assert_int_eq(clt_div_(i, i), CLT_ERR_DTYPE);
  clt_clear_error();
  ck_assert_int_eq(clt_add_(i, clt_ones(dev, CLT_INT32, CLT_SHAPE(3))), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_add_: shapes [2] and [3] cannot broadcast");
  ck_assert_int_eq(clt_add_(clt_ones(dev, CLT_INT32, CLT_SHAPE(1)), i), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_add_: other of shape [2] does not broadcast to the tensor's shape [1]");
  /* in-place on a leaf that requires grad, while recording */
  clt_tensor *w = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2));
  clt_set_requires_grad(w, true);
  ck_assert_int_eq(clt_add_(w, w), CLT_ERR_AUTOGRAD);
  TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "clt_add_: add on a leaf that requires grad while recording");
  clt_no_grad_begin(); /* allowed without recording, as optimizers do */
  ck_assert_int_eq(clt_mul_(w, clt_full(dev, CLT_FLOAT32, CLT_SHAPE(2), 3)), CLT_OK);
  clt_no_grad_end();
  tu_assert_values(w, 1, (const int64_t[]){2}, (const double[]){3, 3});
  clt_scope_end();
}
END_TEST

/* A tensor saved for backward and changed in place afterwards fails backward, naming the op
 * and the versions, instead of giving a wrong gradient. */
START_TEST(modified_saved_tensor_is_an_error) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_arange(dev, CLT_FLOAT32, 1, 4, 1);
  clt_set_requires_grad(x, true);
  clt_tensor *y = clt_exp(x); /* saves its result */
  clt_tensor *loss = clt_sum(y, CLT_ALL_DIMS, false);
  ck_assert_int_eq(clt_add_(y, clt_ones(dev, CLT_FLOAT32, 0, NULL)), CLT_OK);
  ck_assert_int_eq(clt_backward(loss, NULL), CLT_ERR_AUTOGRAD);
  TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "clt_backward: a tensor exp saved for its gradient was modified by an in-place op",
                "(version 0 when saved, 1 now)");
  /* the same through a view of the saved tensor: versions are shared by views */
  clt_tensor *a = clt_arange(dev, CLT_FLOAT32, 1, 5, 1);
  clt_set_requires_grad(a, true);
  clt_tensor *b = clt_mul(a, clt_detach(a)); /* saves the detached alias */
  clt_tensor *l2 = clt_sum(b, CLT_ALL_DIMS, false);
  clt_no_grad_begin();
  clt_fill_(clt_slice(a, 0, 0, 1, 1), 9);
  clt_no_grad_end();
  ck_assert_int_eq(clt_backward(l2, NULL), CLT_ERR_AUTOGRAD);
  TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "saved for its gradient was modified");
  /* in-place on a tensor an op made joins the graph: d/dx sum((2x + 1)^2) = 4 (2x + 1) */
  clt_tensor *p = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2), (const float[]){1, 2});
  clt_set_requires_grad(p, true);
  clt_tensor *q = clt_mul_scalar(p, 2);
  ck_assert_int_eq(clt_add_(q, clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2))), CLT_OK);
  ck_assert_str_eq(clt_grad_fn_name(q), "add");
  ck_assert_int_eq(clt_backward(clt_sum(clt_mul(q, q), CLT_ALL_DIMS, false), NULL), CLT_OK);
  tu_assert_values(clt_grad(p), 1, (const int64_t[]){2}, (const double[]){12, 20});
  clt_scope_end();
}
END_TEST

/* A node saves what its gradient reads and nothing else (the op table's terms): the scalar forms
 * of add, sub, mul and div read no tensor, so modifying their input in place afterwards is no
 * error (as PyTorch; they saved it and failed), while pow's (which reads a) and s / b (which
 * reads b) still fail. Each gradient is still right. */
START_TEST(nodes_save_what_their_gradient_reads) {
  clt_device *dev = TU_DEV;
  static const struct {
    clt_op op;
    bool first, saves;
    double grad; /* d/dx of op(x, 3) (first: op(3, x)) at x = 2 */
  } cases[] = {
      {CLT_OP_add, false, false, 1},  {CLT_OP_sub, false, false, 1}, {CLT_OP_sub, true, false, -1},
      {CLT_OP_mul, false, false, 3},  {CLT_OP_div, false, false, 1.0f / 3},
      {CLT_OP_pow, false, true, 12},  {CLT_OP_div, true, true, -0.75},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    clt_scope_begin();
    clt_tensor *p = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(2), 2);
    clt_set_requires_grad(p, true);
    clt_tensor *x = clt_mul_scalar(p, 1); /* not a leaf, so it may be modified in place */
    clt_tensor *y = cases[k].first ? rscalar_fn(cases[k].op)(x, 3) : clt_binary_scalar(cases[k].op, x, 3);
    ck_assert_int_eq(clt_add_(x, clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2))), CLT_OK);
    clt_status st = clt_backward(clt_sum(y, CLT_ALL_DIMS, false), NULL);
    ck_assert_msg(st == (cases[k].saves ? CLT_ERR_AUTOGRAD : CLT_OK), "%s%s_scalar on %s: %s", cases[k].first ? "r" : "",
                  clt_op_name(cases[k].op), clt_device_spec(dev), st == CLT_OK ? "no error" : clt_last_error());
    if (st == CLT_OK)
      tu_assert_values(clt_grad(p), 1, (const int64_t[]){2}, (const double[]){cases[k].grad, cases[k].grad});
    else
      TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "saved for its gradient was modified by an in-place op");
    clt_clear_error();
    clt_scope_end();
  }
}
END_TEST

/* 1000 steps of forward, backward and zero_grad leave host and device memory flat, and the
 * graph goes with the last tensor that reaches it. */
START_TEST(memory_stays_flat) {
  clt_device *dev = TU_DEV;
  clt_manual_seed(1);
  clt_tensor *w = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(8, 4)), *b = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(4));
  clt_set_requires_grad(w, true);
  clt_set_requires_grad(b, true);
  clt_tensor *x = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(16, 8));
  long tensors = 0;
  clt_memory_stats m0 = {0}, m1;
  for (int i = 0; i < 1000; i++) {
    clt_scope_begin();
    clt_tensor *h = clt_relu(clt_add(clt_matmul(x, w), b));
    clt_tensor *loss = clt_mean(clt_log_softmax(h, 1), CLT_ALL_DIMS, false);
    ck_assert_int_eq(clt_backward(loss, NULL), CLT_OK);
    clt_zero_grad(w);
    clt_zero_grad(b);
    clt_scope_end();
    if (i == 9) {
      tensors = atomic_load(&clt__live[CLT__LIVE_TENSORS]);
      clt_device_get_memory_stats(dev, &m0);
    }
  }
  clt_device_get_memory_stats(dev, &m1);
  ck_assert_int_eq(atomic_load(&clt__live[CLT__LIVE_TENSORS]), tensors);
  ck_assert_uint_eq(m1.bytes_in_use, m0.bytes_in_use);
  ck_assert_uint_le(m1.bytes_in_use + m1.bytes_cached, m0.bytes_in_use + m0.bytes_cached + 4096);
  clt_release(w);
  clt_release(b);
  clt_release(x);
}
END_TEST

/* ---- PyTorch 2.15's answers (tests/torch_refs/ found them) ---------------------------- */

static clt_tensor *f_clamp(clt_tensor *x, double p) { /* p: which bounds */
  return p == 0   ? clt_clamp(x, -0.5, 1)
         : p == 1 ? clt_clamp(x, -INFINITY, 1)
         : p == 2 ? clt_clamp(x, -1, INFINITY)
                  : clt_clamp(x, 0.1, 0.7);
}
static clt_tensor *f_pow_base(clt_tensor *x, double p) { /* p ** x, p a tensor: x's gradient */
  return clt_pow(clt_full(clt_device_of(x), clt_dtype_of(x), CLT_SHAPE(1), p), x);
}

/* Values and gradients (of sum(f(x))) where the suite against PyTorch found clt's differ, as
 * PyTorch 2.15 gives them (include/clt/ops.h states each), on every device in float32 and
 * float64: clamp passes g strictly inside its bounds (g was passed at them), an infinite bound
 * being no bound, and compares in the tensor's dtype (on the host, float32 0.1 > 0.1 passed g);
 * pow's exponent gradient and rpow_scalar's at a base of -0 keep the sign of
 * (-0)^x (pow(-0, -1) gave -inf, rpow_scalar(-0, -1) gave 0, for +inf). */
START_TEST(gradients_as_pytorch_2_15) {
  clt_device *dev = TU_DEV;
  static const struct {
    const char *name;
    unary_fn f;
    double p;
    int n;
    double x[8], y[8], g[8];
  } cases[] = {
      {"clamp(x, -0.5, 1)", f_clamp, 0, 6, {-0.5, 1, 0.25, -0.6, 1.1, NAN}, {-0.5, 1, 0.25, -0.5, 1, NAN}, {0, 0, 1, 0, 0, 0}},
      {"clamp(x, -inf, 1)", f_clamp, 1, 6, {-INFINITY, 1, 0, INFINITY, NAN, -1}, {-INFINITY, 1, 0, 1, NAN, -1},
       {1, 0, 1, 0, 0, 1}},
      {"clamp(x, -1, inf)", f_clamp, 2, 6, {-INFINITY, -1, 0, INFINITY, NAN, 2}, {-1, -1, 0, INFINITY, NAN, 2},
       {0, 0, 1, 1, 0, 1}},
      {"clamp(x, 0.1, 0.7)", f_clamp, 3, 3, {0.1, 0.7, 0.4}, {0.1, 0.7, 0.4}, {0, 0, 1}},
      {"rpow_scalar(-0, x)", f_rpow_scalar, -0.0, 8, {-1, -2, 1, 0, -INFINITY, 2, NAN, INFINITY},
       {-INFINITY, INFINITY, -0.0, 1, INFINITY, 0, NAN, 0}, {INFINITY, -INFINITY, 0, 0, -INFINITY, 0, NAN, 0}},
      {"pow(-0, x)", f_pow_base, -0.0, 5, {-1, -2, 1, 0.5, -0.5}, {-INFINITY, INFINITY, -0.0, 0, INFINITY},
       {INFINITY, -INFINITY, 0, 0, -INFINITY}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
    for (int k = 0; k < 2; k++) {
      clt_scope_begin();
      clt_dtype dt = k ? CLT_FLOAT64 : CLT_FLOAT32;
      clt_tensor *x = clt_cast(clt_from_host(dev, CLT_FLOAT64, 1, (const int64_t[]){cases[c].n}, cases[c].x), dt);
      clt_set_requires_grad(x, true);
      clt_tensor *y = cases[c].f(x, cases[c].p);
      char what[96];
      snprintf(what, sizeof what, "%s (%s)", cases[c].name, clt_dtype_name(dt));
      assert_bits(y, cases[c].y, what);
      ck_assert_int_eq(clt_backward(clt_sum(y, CLT_ALL_DIMS, false), NULL), CLT_OK);
      snprintf(what, sizeof what, "gradient of %s (%s)", cases[c].name, clt_dtype_name(dt));
      assert_bits(clt_grad(x), cases[c].g, what);
      clt_scope_end();
    }
}
END_TEST

/* cat skips an empty 1-d input (PyTorch's legacy empty tensors) but gives it a gradient, an
 * empty one of its own dtype, as PyTorch; it had none. */
START_TEST(cat_gives_a_skipped_empty_input_a_gradient) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *e = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(0)), *a = clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(2, 3));
  clt_tensor *b = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(1, 3));
  clt_tensor *in[4] = {e, a, e, b};
  clt_set_requires_grad(e, true);
  clt_set_requires_grad(a, true);
  clt_tensor *y = clt_cat(4, in, 0);
  ck_assert_int_eq(clt_backward(clt_sum(clt_mul_scalar(y, 2), CLT_ALL_DIMS, false), NULL), CLT_OK);
  clt_tensor *ge = clt_grad(e);
  ck_assert_msg(ge != NULL, "the empty input has no gradient");
  ck_assert_int_eq(clt_dtype_of(ge), CLT_FLOAT32);
  tu_assert_values(ge, 1, (const int64_t[]){0}, NULL);
  tu_assert_values(clt_grad(a), 2, (const int64_t[]){2, 3}, (const double[]){2, 2, 2, 2, 2, 2});
  clt_scope_end();
}
END_TEST

/* ---- gradients of heads cut from one projection ------------------------------------------ */

static const clt__backend *moves_real_be;
static int moves_copies, moves_fills;

static clt_status moves_copy(clt_device *dev, const clt__iter *it, clt__storage *dst, const clt__storage *src,
                             size_t esize) {
  moves_copies++;
  return moves_real_be->copy(dev, it, dst, src, esize);
}
static clt_status moves_fill(clt_device *dev, const clt__iter *it, clt__storage *dst, size_t esize, const void *value) {
  moves_fills++;
  return moves_real_be->fill(dev, it, dst, esize, value);
}

/* q, k and v cut from one projection h [B, T, 3 H E] as tools/models.c does (a view [B, T, 3,
 * H, E], a slice, a squeeze, a transpose) and given gradients of their own layout: each goes
 * back through views (reshape's gradient is a view where the strides allow, as PyTorch's), and
 * the second and third slices add into the gradient the first made: one fill (and the seed's)
 * and one copy in all, where each slice took a fill and a copy and each squeeze a copy (4 and 6). x's gradient
 * is exactly that of contiguous copies of the heads (the sums meet only zeros). */
START_TEST(heads_cut_from_one_projection_share_a_gradient) {
  clt_device *dev = TU_DEV;
  enum { B = 2, T = 3, H = 2, E = 4 };
  double *grad[2];
  for (int copied = 0; copied < 2; copied++) {
    clt_scope_begin();
    double xv[B * T * 3 * H * E], cv[B * H * T * E];
    for (int i = 0; i < B * T * 3 * H * E; i++) xv[i] = (double)(i % 11) - 5;
    clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, 3, (const int64_t[]){B, T, 3 * H * E}, xv);
    ck_assert(x && clt_set_requires_grad(x, true) == CLT_OK);
    clt_tensor *parts = clt_reshape(clt_mul_scalar(x, 2), 5, (const int64_t[]){B, T, 3, H, E}), *loss = NULL;
    for (int i = 0; i < 3; i++) {
      clt_tensor *head = clt_transpose(clt_squeeze(clt_slice(parts, 2, i, i + 1, 1), 2), 1, 2);
      if (copied) head = clt_contiguous(head);
      for (int j = 0; j < B * H * T * E; j++) cv[j] = (double)((j * 7 + i) % 13) - 6;
      clt_tensor *c = clt_from_host(dev, CLT_FLOAT64, 4, (const int64_t[]){B, H, T, E}, cv);
      clt_tensor *l = clt_sum(clt_mul(head, c), CLT_ALL_DIMS, false);
      loss = loss ? clt_add(loss, l) : l;
    }
    ck_assert_msg(loss != NULL, "%s", clt_last_error());
    moves_real_be = clt__device_swap_backend(dev, NULL);
    clt__backend counting = *moves_real_be;
    counting.copy = moves_copy;
    counting.fill = moves_fill;
    clt__device_swap_backend(dev, &counting);
    moves_copies = moves_fills = 0;
    clt_status st = clt_backward(loss, NULL);
    clt__device_swap_backend(dev, moves_real_be);
    ck_assert_msg(st == CLT_OK, "%s", clt_last_error());
    if (!copied)
      ck_assert_msg(moves_copies == 1 && moves_fills == 2, "on %s: %d copies and %d fills, not 1 and 2 (the seed's)",
                    clt_device_spec(dev), moves_copies, moves_fills);
    grad[copied] = tu_values(clt_grad(x));
    clt_scope_end();
  }
  for (int i = 0; i < B * T * 3 * H * E; i++)
    ck_assert_msg(grad[0][i] == grad[1][i], "x's gradient at %d: %.17g, through copies %.17g", i, grad[0][i], grad[1][i]);
  free(grad[0]);
  free(grad[1]);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("autograd");
  TCase *tc = tu_tcase("autograd");
  TU_DEVICES(tc, gradcheck_every_op);
  TU_DEVICES(tc, heads_cut_from_one_projection_share_a_gradient);
  TU_DEVICES(tc, gradcheck_catches_wrong_gradients);
  TU_DEVICES(tc, binary_gradients_over_mixed_dtypes);
  TU_DEVICES(tc, scalar_form_gradients_in_each_float_dtype);
  TU_DEVICES(tc, mixed_dtype_gradients_known_values);
  TU_DEVICES(tc, gradients_at_special_values);
  TU_DEVICES(tc, float32_gradients_over_the_float32_range);
  TU_DEVICES(tc, div_and_pow_gradients_known_values);
  TU_DEVICES(tc, pytorch_tutorial_example);
  TU_DEVICES(tc, accumulation_diamonds_and_retain);
  TU_DEVICES(tc, no_grad_detach_and_leaves);
  TU_DEVICES(tc, inplace_ops_and_versions);
  TU_DEVICES(tc, modified_saved_tensor_is_an_error);
  TU_DEVICES(tc, nodes_save_what_their_gradient_reads);
  TU_DEVICES(tc, memory_stays_flat);
  TU_DEVICES(tc, gradients_as_pytorch_2_15);
  TU_DEVICES(tc, cat_gives_a_skipped_empty_input_a_gradient);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
