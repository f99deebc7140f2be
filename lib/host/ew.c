/* Host reference of the elementwise ops and casts. Floats compute in double and round once;
 * integers compute in int64 with two's-complement wrapping (as the kernels' 32- and 64-bit
 * integers do), then narrow. The H_<op> expressions are written independently of the kernels'
 * K_<op>, so that comparing the two checks both. */
#include <math.h>
#include <string.h>

#include "ew.h"
#include "host/host.h"

/* The contiguous rows vectorized: GCC's -O2 (its very cheap cost model) leaves loops of unknown
 * length scalar, and an add of 1e4 floats then took 3 us on the calling thread. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

/* Wrapping integer arithmetic (signed overflow is undefined in C). */
static inline int64_t wadd(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t wsub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t wmul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static inline int64_t wneg(int64_t a) { return (int64_t)(0 - (uint64_t)a); }
static inline double dadd(double a, double b) { return a + b; }
static inline double dsub(double a, double b) { return a - b; }
static inline double dmul(double a, double b) { return a * b; }
static inline double dneg(double a) { return -a; }
#define ADD(a, b) _Generic((a), int64_t: wadd, default: dadd)(a, b)
#define SUB(a, b) _Generic((a), int64_t: wsub, default: dsub)(a, b)
#define MUL(a, b) _Generic((a), int64_t: wmul, default: dmul)(a, b)
#define NEG(a) _Generic((a), int64_t: wneg, default: dneg)(a)

static int64_t ipow(int64_t a, int64_t b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  int64_t r = 1;
  for (; b; b >>= 1) {
    if (b & 1) r = wmul(r, a);
    a = wmul(a, a);
  }
  return r;
}
#define POW(a, b) _Generic((a), int64_t: ipow, default: pow)(a, b)
/* PyTorch's power by a scalar exponent (kernels/common.clh: CLT_POW_SCALAR) */
static double pow_scalar(double x, double e) { return e == 0.5 ? sqrt(x) : e == -0.5 ? 1.0 / sqrt(x) : pow(x, e); }
#define POW_SCALAR(a, b) _Generic((a), int64_t: ipow, default: pow_scalar)(a, b)
static inline int64_t iabs(int64_t a) { return a < 0 ? wneg(a) : a; }
#define ABS(a) _Generic((a), int64_t: iabs, default: fabs)(a) /* fabs: abs(-0.0) is +0 */

#define H_neg(a, p0, p1) NEG(a)
#define H_abs(a, p0, p1) ABS(a)
#define H_sign(a, p0, p1) (((a) > 0) - ((a) < 0)) /* NaN and -0 give +0, as PyTorch */
#define H_square(a, p0, p1) MUL(a, a)
#define H_relu(a, p0, p1) ((a) < 0 ? 0 : (a))
#define H_clamp(a, p0, p1) ((a) < (p0) ? (p0) : (a) > (p1) ? (p1) : (a))
#define H_exp(a, p0, p1) exp(a)
#define H_expm1(a, p0, p1) expm1(a)
#define H_log(a, p0, p1) log(a)
#define H_log1p(a, p0, p1) log1p(a)
#define H_sqrt(a, p0, p1) sqrt(a)
#define H_rsqrt(a, p0, p1) (1.0 / sqrt(a))
#define H_reciprocal(a, p0, p1) (1.0 / (a))
#define H_sin(a, p0, p1) sin(a)
#define H_cos(a, p0, p1) cos(a)
#define H_tanh(a, p0, p1) tanh(a)
#define H_sigmoid(a, p0, p1) (1.0 / (1.0 + exp(-(a))))
#define H_leaky_relu(a, p0, p1) ((a) > 0 ? (a) : (a) * (p0))
#define H_elu(a, p0, p1) ((a) > 0 ? (a) : (p0) * expm1(a))
#define H_gelu(a, p0, p1) (0.5 * (a) * (1.0 + erf((a) / sqrt(2.0))))
/* gelu_tanh: 0.5 x (1 + tanh u) = x sigmoid(2u), in forms exact in both tails (kernels/common.clh) */
static double gelu_tanh_u(double x) { return sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x); }
static double sigmoid_2u(double u) { /* without cancellation, and 0 or 1 (never NaN) for u = -+inf */
  return u >= 0 ? 1.0 / (1.0 + exp(-2.0 * u)) : exp(2.0 * u) / (1.0 + exp(2.0 * u));
}
#define H_gelu_tanh(a, p0, p1) ((a) * sigmoid_2u(gelu_tanh_u(a)))
#define H_silu(a, p0, p1) ((a) / (1.0 + exp(-(a))))
#define H_softplus(a, p0, p1) ((a) > 20.0 ? (a) : log1p(exp(a)))
#define H_logical_not(a, p0, p1) ((a) == 0)

#define H_add(a, b, sc) ADD(a, b)
#define H_sub(a, b, sc) SUB(a, b)
#define H_mul(a, b, sc) MUL(a, b)
#define H_div(a, b, sc) ((a) / (b))
#define H_pow(a, b, sc) ((sc) ? POW_SCALAR(a, b) : POW(a, b))
#define H_maximum(a, b, sc) (((a) != (a) || (a) > (b)) ? (a) : (b))
#define H_minimum(a, b, sc) (((a) != (a) || (a) < (b)) ? (a) : (b))
#define H_eq(a, b, sc) ((a) == (b))
#define H_ne(a, b, sc) ((a) != (b))
#define H_lt(a, b, sc) ((a) < (b))
#define H_le(a, b, sc) ((a) <= (b))
#define H_gt(a, b, sc) ((a) > (b))
#define H_ge(a, b, sc) ((a) >= (b))
#define H_logical_and(a, b, sc) ((a) != 0 && (b) != 0)
#define H_logical_or(a, b, sc) ((a) != 0 || (b) != 0)
#define H_logical_xor(a, b, sc) (((a) != 0) != ((b) != 0))

typedef struct {
  char *base[CLT__MAX_OPS];
  double p0, p1;
  int64_t ip0, ip1; /* p0 and p1 of an integer unary op (clamp's bounds) */
  int scalar;
  clt_dtype sdt, ddt; /* casts */
} ew_ctx;

/* Row functions, one per (op, dtype): ST is the storage type, CT the compute type. An integer
 * row takes its parameters saturated into the dtype (an infinite clamp bound converted to
 * int64 was undefined: clamp(int32 x, -1, inf) gave 0s on x86). */
#define PARAM(CT, v, iv) _Generic((CT)0, int64_t: (iv), default: (v))
#define UNARY_ROW(name, sfx, ST, CT, OT)                                                        \
  static void u_##name##_##sfx(void *vc, const int64_t *off, int64_t n, const int64_t *step) { \
    ew_ctx *c = vc;                                                                             \
    OT *o = (OT *)c->base[0] + off[0];                                                          \
    const ST *x = (const ST *)c->base[1] + off[1];                                              \
    CT p0 = (CT)PARAM(CT, c->p0, c->ip0), p1 = (CT)PARAM(CT, c->p1, c->ip1);                    \
    (void)p0;                                                                                   \
    (void)p1;                                                                                   \
    if (step[0] == 1 && step[1] == 1) {                                                         \
      for (int64_t i = 0; i < n; i++) o[i] = (OT)(H_##name((CT)x[i], p0, p1));                  \
      return;                                                                                   \
    }                                                                                           \
    for (int64_t i = 0; i < n; i++) {                                                           \
      CT a = (CT)x[i * step[1]];                                                                \
      o[i * step[0]] = (OT)(H_##name(a, p0, p1));                                               \
    }                                                                                           \
  }

/* Binary rows (OT: the output's storage type). A scalar (c->p0) replaces b (scalar 1) or a
 * (scalar 2); the one tensor input is then operand 1. One loop per form, with no branch
 * inside. */
#define BINARY_ROW(name, sfx, ST, CT, OT)                                                          \
  static void b_##name##_##sfx(void *vc, const int64_t *off, int64_t n, const int64_t *step) {    \
    ew_ctx *c = vc;                                                                                \
    OT *o = (OT *)c->base[0] + off[0];                                                             \
    const ST *x = (const ST *)c->base[1] + off[1];                                                 \
    int64_t so = step[0], sx = step[1];                                                            \
    CT s = (CT)c->p0;                                                                              \
    if (c->scalar == 1) {                                                                          \
      for (int64_t i = 0; i < n; i++) {                                                            \
        CT a = (CT)x[i * sx];                                                                      \
        o[i * so] = (OT)(H_##name(a, s, 1));                                                       \
      }                                                                                            \
    } else if (c->scalar == 2) {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                                            \
        CT b = (CT)x[i * sx];                                                                      \
        o[i * so] = (OT)(H_##name(s, b, 0));                                                       \
      }                                                                                            \
    } else {                                                                                       \
      const ST *y = (const ST *)c->base[2] + off[2];                                               \
      int64_t sy = step[2];                                                                        \
      if (so == 1 && sx == 1 && sy == 1) {                                                         \
        for (int64_t i = 0; i < n; i++) o[i] = (OT)(H_##name((CT)x[i], (CT)y[i], 0));              \
        return;                                                                                    \
      }                                                                                            \
      for (int64_t i = 0; i < n; i++) {                                                            \
        CT a = (CT)x[i * sx], b = (CT)y[i * sy];                                                   \
        o[i * so] = (OT)(H_##name(a, b, 0));                                                       \
      }                                                                                            \
    }                                                                                              \
  }

#define WHERE_ROW(name, sfx, ST, CT, OT)                                                        \
  static void w_##sfx(void *vc, const int64_t *off, int64_t n, const int64_t *step) {           \
    ew_ctx *c = vc;                                                                             \
    ST *o = (ST *)c->base[0] + off[0];                                                          \
    const uint8_t *m = (const uint8_t *)c->base[1] + off[1];                                    \
    const ST *x = (const ST *)c->base[2] + off[2], *y = (const ST *)c->base[3] + off[3];        \
    for (int64_t i = 0; i < n; i++) o[i * step[0]] = m[i * step[1]] ? x[i * step[2]] : y[i * step[3]]; \
  }

/* M(name, suffix, storage type, compute type, output type) for each dtype of a kind. */
#define FOR_FLOATS(M, name, SAME, OUT) M(name, f32, float, double, SAME(float, OUT)) M(name, f64, double, double, SAME(double, OUT))
#define FOR_INTS(M, name, SAME, OUT)                                                            \
  M(name, i32, int32_t, int64_t, SAME(int32_t, OUT)) M(name, i64, int64_t, int64_t, SAME(int64_t, OUT)) \
  M(name, u8, uint8_t, int64_t, SAME(uint8_t, OUT))
#define FOR_BOOL(M, name, SAME, OUT) M(name, b, uint8_t, int64_t, SAME(uint8_t, OUT))
#define AS_INPUT(ST, OUT) ST
#define AS_BOOL(ST, OUT) uint8_t

/* The row functions of every op, for the dtypes its dtype rule takes (optable.h): INT rules
 * floats and integers (a bool sum or product runs as logical_or or logical_and), FLOAT floats,
 * CMP and LOGIC every dtype with a bool result. */
#define U_ROWS(name, v, rule, params, g, dom, doc) U_ROWS_##rule(name)
#define U_ROWS_INT(name) FOR_FLOATS(UNARY_ROW, name, AS_INPUT, ) FOR_INTS(UNARY_ROW, name, AS_INPUT, )
#define U_ROWS_INT_BOUNDS U_ROWS_INT
#define U_ROWS_FLOAT(name) FOR_FLOATS(UNARY_ROW, name, AS_INPUT, )
#define U_ROWS_LOGIC(name) \
  FOR_FLOATS(UNARY_ROW, name, AS_BOOL, ) FOR_INTS(UNARY_ROW, name, AS_BOOL, ) FOR_BOOL(UNARY_ROW, name, AS_BOOL, )
#define B_ROWS(name, v, rule, forms, ga, gb, gs, gr, da, db, doc) B_ROWS_##rule(name)
#define B_ROWS_INT(name) FOR_FLOATS(BINARY_ROW, name, AS_INPUT, ) FOR_INTS(BINARY_ROW, name, AS_INPUT, )
#define B_ROWS_INT_OR B_ROWS_INT
#define B_ROWS_INT_AND B_ROWS_INT
#define B_ROWS_INT_NOBOOL B_ROWS_INT
#define B_ROWS_FLOAT(name) FOR_FLOATS(BINARY_ROW, name, AS_INPUT, )
#define B_ROWS_CMP(name) \
  FOR_FLOATS(BINARY_ROW, name, AS_BOOL, ) FOR_INTS(BINARY_ROW, name, AS_BOOL, ) FOR_BOOL(BINARY_ROW, name, AS_BOOL, )
#define B_ROWS_LOGIC B_ROWS_CMP

CLT_UNARY_OPS(U_ROWS)
CLT_BINARY_OPS(B_ROWS)
FOR_FLOATS(WHERE_ROW, where, AS_INPUT, )
FOR_INTS(WHERE_ROW, where, AS_INPUT, )
FOR_BOOL(WHERE_ROW, where, AS_INPUT, )

/* Gradients, in double: g is the incoming gradient, s the saved input or result, (a, b) the
 * operands of a binary op. */
static double gelu_d(double x) {
  return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
}
/* s(2u) + x sech^2(u) u' / 2; where sech^2 is 0 so is the second term (x^2 may overflow), and
 * x * 0 keeps +-inf NaN, as PyTorch's */
static double gelu_tanh_d(double x) {
  double u = gelu_tanh_u(x), c = cosh(u), sech2 = 1.0 / (c * c);
  return sigmoid_2u(u) + (sech2 == 0 ? x * 0.0
                                     : 0.5 * x * sech2 * sqrt(2.0 / 3.14159265358979323846) * (1.0 + 3.0 * 0.044715 * x * x));
}
static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }
#define H_abs_bwd(g, s, p0, p1) ((s) > 0 ? (g) : (s) < 0 ? -(g) : 0.0)
#define H_square_bwd(g, s, p0, p1) (2.0 * (g) * (s))
#define H_relu_bwd(g, s, p0, p1) ((s) <= 0 ? 0.0 : (g))
#define H_clamp_bwd(g, s, p0, p1) (((s) > (p0) || (p0) == -INFINITY) && ((s) < (p1) || (p1) == INFINITY) ? (g) : 0.0)
#define H_exp_bwd(g, s, p0, p1) ((g) * (s))
#define H_expm1_bwd(g, s, p0, p1) ((g) * ((s) + 1.0))
#define H_log_bwd(g, s, p0, p1) ((g) / (s))
#define H_log1p_bwd(g, s, p0, p1) ((g) / (1.0 + (s)))
#define H_sqrt_bwd(g, s, p0, p1) ((g) / (2.0 * (s)))
#define H_rsqrt_bwd(g, s, p0, p1) (-0.5 * (g) * (s) * (s) * (s))
#define H_reciprocal_bwd(g, s, p0, p1) (-(g) * (s) * (s))
#define H_sin_bwd(g, s, p0, p1) ((g) * cos(s))
#define H_cos_bwd(g, s, p0, p1) (-(g) * sin(s))
#define H_tanh_bwd(g, s, p0, p1) ((g) * (1.0 - (s) * (s)))
#define H_sigmoid_bwd(g, s, p0, p1) ((g) * (s) * (1.0 - (s)))
#define H_leaky_relu_bwd(g, s, p0, p1) ((s) > 0 ? (g) : (g) * (p0))
#define H_elu_bwd(g, s, p0, p1) ((s) <= 0 ? (g) * (p0) * exp(s) : (g))
#define H_gelu_bwd(g, s, p0, p1) ((g) * gelu_d(s))
#define H_gelu_tanh_bwd(g, s, p0, p1) ((g) * gelu_tanh_d(s))
#define H_silu_bwd(g, s, p0, p1) ((g) * sigm(s) * (1.0 + (s) * (1.0 - sigm(s))))
#define H_softplus_bwd(g, s, p0, p1) ((s) > 20.0 ? (g) : (g) * sigm(s))
/* b x^(b-1), falling back on (b / x) x^b where x^(b-1) alone overflows (float64 operands; see
 * kernels/ew_grad.cl: clt_pow_d) */
static double pow_d(double x, double b, double (*pw)(double, double)) {
  double p = pw(x, b - 1.0), q = isinf(p) ? b / x * pw(x, b) : NAN;
  return isfinite(q) ? q : b * p;
}
/* a^b log a, as (a^(b/2) log a) a^(b/2) where a^b alone overflows and log a is finite
 * (kernels/ew_grad.cl: clt_pow_log) */
static double pow_log(double a, double b) {
  double p = pow(a, b), l = log(a);
  if (!isinf(p) || !isfinite(l)) return p * l;
  double h = pow(a, 0.5 * b);
  return h * l * h;
}
#define H_pow_scalar_bwd(g, s, p0, p1) ((p0) == 0 ? 0.0 : (g) * pow_d(s, p0, pow_scalar))
/* a / b^2 without a rounding among the subnormals or an overflow the result has not
 * (kernels/ew_grad.cl: clt_div_b2), for float64 operands */
static double div_b2(double a, double b) { return fabs(b) >= 0x1p-511 && fabs(b) <= 0x1p511 ? a / (b * b) : a / b / b; }
#define H_rdiv_bwd(g, s, p0, p1) (-(g) * div_b2(p0, s))
#define H_rpow_bwd(g, s, p0, p1) ((p0) == 0 && fabs(s) <= 1 ? 0.0 : (g) * (s) * log(p0))
#define H_div_bwd_b(g, a, b) (-(g) * div_b2(a, b))
#define H_pow_bwd(g, a, b) ((b) == 0 ? 0.0 : (g) * pow_d(a, b, pow))
#define H_pow_bwd_b(g, a, b) ((a) == 0 && (b) >= 0 ? 0.0 : (g) * pow_log(a, b))
#define H_maximum_bwd(g, a, b) ((a) == (b) ? 0.5 * (g) : (a) < (b) ? 0.0 : (g))
#define H_minimum_bwd(g, a, b) ((a) == (b) ? 0.5 * (g) : (a) > (b) ? 0.0 : (g))
#define H_bce_logits(x, y, p0, p1) (((x) > 0 ? (x) : 0.0) - (x) * (y) + log1p(exp(-fabs(x))))
#define H_bce_logits_bwd(g, x, y) ((g) * (sigm(x) - (y)))

#define GRAD2_ROW(name, sfx, ST, CT, OT)                                                         \
  static void g_##name##_##sfx(void *vc, const int64_t *off, int64_t n, const int64_t *step) {  \
    ew_ctx *c = vc;                                                                              \
    ST *o = (ST *)c->base[0] + off[0];                                                           \
    const ST *g = (const ST *)c->base[1] + off[1], *s = (const ST *)c->base[2] + off[2];         \
    double p0 = c->p0, p1 = c->p1;                                                               \
    (void)p0;                                                                                    \
    (void)p1;                                                                                    \
    for (int64_t i = 0; i < n; i++) {                                                            \
      double gv = g[i * step[1]], sv = s[i * step[2]];                                           \
      o[i * step[0]] = (ST)(H_##name(gv, sv, p0, p1));                                           \
    }                                                                                            \
  }
#define GRAD3_ROW(name, sfx, ST, CT, OT)                                                         \
  static void g_##name##_##sfx(void *vc, const int64_t *off, int64_t n, const int64_t *step) {  \
    ew_ctx *c = vc;                                                                              \
    ST *o = (ST *)c->base[0] + off[0];                                                           \
    const ST *g = (const ST *)c->base[1] + off[1], *a = (const ST *)c->base[2] + off[2];         \
    const ST *b = (const ST *)c->base[3] + off[3];                                               \
    for (int64_t i = 0; i < n; i++) {                                                            \
      double gv = g[i * step[1]], av = a[i * step[2]], bv = b[i * step[3]];                      \
      o[i * step[0]] = (ST)(H_##name(gv, av, bv));                                               \
    }                                                                                            \
  }
#define CLT__GK_EMIT(k, nin) FOR_FLOATS(GRAD##nin##_ROW, k, AS_INPUT, )
CLT_GRAD_KERNELS
#undef CLT__GK_EMIT

/* The row function of every (op, input dtype); NULL where the core never asks. */
#define TAB_F(p, name) [CLT_FLOAT32] = p##name##_f32, [CLT_FLOAT64] = p##name##_f64
#define TAB_I(p, name) [CLT_INT32] = p##name##_i32, [CLT_INT64] = p##name##_i64, [CLT_UINT8] = p##name##_u8
#define TAB_B(p, name) [CLT_BOOL] = p##name##_b
#define U_TAB(name, v, rule, params, g, dom, doc) [CLT_OP_##name] = {U_TAB_##rule(u_, name)},
#define U_TAB_INT(p, name) TAB_F(p, name), TAB_I(p, name)
#define U_TAB_INT_BOUNDS U_TAB_INT
#define U_TAB_FLOAT(p, name) TAB_F(p, name)
#define U_TAB_LOGIC(p, name) TAB_F(p, name), TAB_I(p, name), TAB_B(p, name)
#define B_TAB(name, v, rule, forms, ga, gb, gs, gr, da, db, doc) [CLT_OP_##name] = {B_TAB_##rule(b_, name)},
#define B_TAB_INT U_TAB_INT
#define B_TAB_INT_OR U_TAB_INT
#define B_TAB_INT_AND U_TAB_INT
#define B_TAB_INT_NOBOOL U_TAB_INT
#define B_TAB_FLOAT U_TAB_FLOAT
#define B_TAB_CMP U_TAB_LOGIC
#define B_TAB_LOGIC U_TAB_LOGIC

#define CLT__GK_EMIT(k, nin) [CLT__G_##k] = {TAB_F(g_, k)},
static const clt__host_run_fn rows[CLT__EW_COUNT][CLT_DTYPE_COUNT] = {
    CLT_UNARY_OPS(U_TAB) CLT_BINARY_OPS(B_TAB)
    [CLT_OP_where] = {[CLT_FLOAT32] = w_f32, [CLT_FLOAT64] = w_f64, [CLT_INT32] = w_i32, [CLT_INT64] = w_i64,
                      [CLT_UINT8] = w_u8, [CLT_BOOL] = w_b},
    CLT_GRAD_KERNELS
};
#undef CLT__GK_EMIT

/* The ops whose parameters are bounds in the op's dtype (INT_BOUNDS), and their gradient
 * kernels: the host takes the bounds in dt, as the kernels' T p0, p1 (float32 compares in
 * float: 0.1f > 0.1 must not pass g). Other parameters stay double. */
#define U_BOUNDS(name, v, rule, params, g, dom, doc) U_BOUNDS_##rule(name)
#define U_BOUNDS_INT_BOUNDS(name) [CLT_OP_##name] = true, [CLT__G_##name##_bwd] = true,
#define U_BOUNDS_INT(name)
#define U_BOUNDS_FLOAT(name)
#define U_BOUNDS_LOGIC(name)
static const bool bounds_params[CLT__EW_COUNT] = {CLT_UNARY_OPS(U_BOUNDS)};

/* The context of one instruction: its operands' bases and its parameters, as the row
 * functions read them. */
static clt_status instr_ctx(const clt__ew_instr *i, ew_ctx *c, clt__host_run_fn *fn) {
  clt_dtype dt = (clt_dtype)i->dt;
  *fn = rows[i->op][dt];
  if (!*fn)
    return clt__err(CLT_ERR_DTYPE, "%s has no host implementation for %s", clt__op_table[i->op].name, clt_dtype_name(dt));
  *c = (ew_ctx){.scalar = i->scalar, .p0 = i->p[0], .p1 = i->p[1]};
  if (bounds_params[i->op]) {
    double *p[2] = {&c->p0, &c->p1};
    int64_t *ip[2] = {&c->ip0, &c->ip1};
    for (int k = 0; k < 2; k++) { /* through memory: GCC 12's SLP vectorizer dropped (double)(float)p casts */
      uint8_t b[8];
      clt__store_f64(dt, b, i->p[k]);
      if (clt_dtype_is_float(dt)) *p[k] = clt__load_f64(dt, b);
      else *ip[k] = clt__load_i64(dt, b);
    }
  }
  return CLT_OK;
}

/* A program of several instructions, CHUNK elements of a row at a time: each instruction runs
 * the same row function as alone, from its operands (the walk's inputs or earlier results,
 * kept in their dtype) into a temporary, the last one into the output. So a program gives
 * exactly what its instructions give one at a time. */
#define CHUNK 256

typedef struct {
  const clt__ew_prog *p;
  char *base[CLT__MAX_OPS];
  ew_ctx c[CLT__EW_MAX_INSTR];
  clt__host_run_fn fn[CLT__EW_MAX_INSTR];
  double tmp[CLT__EW_MAX_INSTR][CHUNK]; /* room for CHUNK elements of any dtype */
} prog_ctx;

static void prog_row(void *vc, const int64_t *off, int64_t n, const int64_t *step) {
  prog_ctx *pc = vc;
  const clt__ew_prog *p = pc->p;
  for (int64_t at = 0; at < n; at += CHUNK) {
    int64_t m = n - at < CHUNK ? n - at : CHUNK;
    for (int k = 0; k < p->n; k++) {
      const clt__ew_instr *i = &p->ins[k];
      ew_ctx *c = &pc->c[k];
      int64_t o[CLT__MAX_OPS], s[CLT__MAX_OPS];
      bool last = k == p->n - 1;
      c->base[0] = last ? pc->base[0] : (char *)pc->tmp[k];
      o[0] = last ? off[0] + at * step[0] : 0;
      s[0] = last ? step[0] : 1;
      for (int j = 0; j < 3; j++) {
        int r = i->in[j];
        bool input = r < p->nin;
        c->base[j + 1] = input ? pc->base[r + 1] : (char *)pc->tmp[r - p->nin];
        o[j + 1] = input ? off[r + 1] + at * step[r + 1] : 0;
        s[j + 1] = input ? step[r + 1] : 1;
      }
      pc->fn[k](c, o, m, s);
    }
  }
}

static bool is16(clt_dtype dt) { return dt == CLT_FLOAT16 || dt == CLT_BFLOAT16; }

/* A program over float16 or bfloat16 operands (the OpenCL kernels load them as float and round
 * their stores): each 16-bit operand's whole storage converted element for element into float32
 * memory, so that the walk's offsets and strides still apply, the program run in float32 over
 * them, and the walked elements of a 16-bit output rounded back once. */
static clt_status host_ew16(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  clt__ew_prog w = *p;
  for (int k = 0; k < p->nin; k++)
    if (is16((clt_dtype)p->in_dt[k])) w.in_dt[k] = CLT_FLOAT32;
  for (int n = 0; n < p->n; n++)
    if (is16((clt_dtype)p->ins[n].dt)) w.ins[n].dt = CLT_FLOAT32;
  clt__storage wide[CLT__MAX_OPS], *wst[CLT__MAX_OPS];
  clt_status s = CLT_OK;
  memset(wide, 0, sizeof wide);
  for (int k = 0; k < it->nops; k++) {
    clt_dtype dt = k == 0 ? clt__ew_prog_out_dtype(p) : (clt_dtype)p->in_dt[k - 1];
    wst[k] = st[k];
    if (!is16(dt) || s != CLT_OK) continue;
    size_t n = st[k]->nbytes / 2;
    float *f = clt__malloc(n ? n * sizeof *f : 1);
    if (!f) {
      s = clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes for a float32 copy of a %s operand", n * sizeof *f,
                   clt_dtype_name(dt));
      continue;
    }
    if (k > 0) clt_16bit_to_float(dt, n, st[k]->ptr, f);
    wide[k].ptr = f;
    wide[k].nbytes = n * sizeof *f;
    wide[k].dev = st[k]->dev;
    wst[k] = &wide[k];
  }
  if (s == CLT_OK) s = clt__host_ew(dev, &w, it, wst);
  clt_dtype odt = clt__ew_prog_out_dtype(p);
  if (s == CLT_OK && is16(odt)) {
    clt__iter back;
    const int64_t *strides[2] = {it->strides[0], it->strides[0]};
    const int64_t offsets[2] = {it->offset[0], it->offset[0]};
    clt__iter_build(&back, it->ndim, it->shape, 2, strides, offsets);
    s = clt__host_cast(dev, &back, st[0], odt, &wide[0], CLT_FLOAT32);
  }
  for (int k = 0; k < it->nops; k++) clt__free_mem(wide[k].ptr);
  return s;
}

clt_status clt__host_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  bool wide = false;
  for (int k = 0; k < p->nin; k++) wide = wide || is16((clt_dtype)p->in_dt[k]);
  for (int n = 0; n < p->n; n++) wide = wide || is16((clt_dtype)p->ins[n].dt);
  if (wide) return host_ew16(dev, p, it, st);
  /* one op over the walk's operands in order: its row function straight over the walk (a
   * program reading one input twice, x == x, walks fewer operands than the op has) */
  bool in_order = p->n == 1 && it->nops == p->nin + 1;
  for (int k = 0; in_order && k < clt__op_table[p->ins[0].op].arity - (p->ins[0].scalar ? 1 : 0); k++)
    in_order = p->ins[0].in[k] == k;
  if (in_order) {
    ew_ctx c;
    clt__host_run_fn fn;
    clt_status s = instr_ctx(&p->ins[0], &c, &fn);
    if (s != CLT_OK) return s;
    for (int k = 0; k < it->nops; k++) c.base[k] = st[k]->ptr;
    clt__host_walk(it, fn, &c);
    return CLT_OK;
  }
  clt_status s = clt__ew_prog_check(p);
  if (s != CLT_OK) return s;
  if (it->nops != p->nin + 1)
    return clt__err(CLT_ERR_INVALID_ARG, "elementwise program over %d inputs given a walk over %d operands", p->nin,
                    it->nops);
  prog_ctx *pc = clt__malloc(sizeof *pc);
  if (!pc) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes for an elementwise program", sizeof *pc);
  pc->p = p;
  for (int k = 0; k < it->nops; k++) pc->base[k] = st[k]->ptr;
  for (int k = 0; k < p->n && s == CLT_OK; k++) s = instr_ctx(&p->ins[k], &pc->c[k], &pc->fn[k]);
  if (s == CLT_OK) clt__host_walk(it, prog_row, pc);
  clt__free_mem(pc);
  return s;
}

/* ---- casts ------------------------------------------------------------------------------ */

static void cast_row(void *vc, const int64_t *off, int64_t n, const int64_t *step) {
  ew_ctx *c = vc;
  size_t ss = clt_dtype_size(c->sdt), ds = clt_dtype_size(c->ddt);
  const char *x = c->base[1] + (size_t)off[1] * ss;
  char *o = c->base[0] + (size_t)off[0] * ds;
  bool from_float = clt_dtype_is_float(c->sdt), to_float = clt_dtype_is_float(c->ddt);
  for (int64_t i = 0; i < n; i++) {
    const char *src = x + (size_t)(i * step[1]) * ss;
    char *dst = o + (size_t)(i * step[0]) * ds;
    if (from_float || to_float || c->ddt == CLT_BOOL) {
      /* floats saturate into integers (NaN is 0); integers and bools convert exactly enough */
      double v = from_float ? clt__load_f64(c->sdt, src) : (double)clt__load_i64(c->sdt, src);
      if (c->ddt == CLT_BOOL) *(uint8_t *)dst = from_float ? v != 0.0 : clt__load_i64(c->sdt, src) != 0;
      else if (!from_float) clt__store_i64(c->ddt, dst, clt__load_i64(c->sdt, src)); /* one rounding */
      else clt__store_f64(c->ddt, dst, v);
    } else { /* integer to integer: two's-complement truncation */
      uint64_t u = (uint64_t)clt__load_i64(c->sdt, src);
      if (ds == 1) *(uint8_t *)dst = (uint8_t)u;
      else if (ds == 4) { uint32_t w = (uint32_t)u; memcpy(dst, &w, 4); }
      else memcpy(dst, &u, 8);
    }
  }
}

clt_status clt__host_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                          const clt__storage *src, clt_dtype sdt) {
  (void)dev;
  ew_ctx c = {.sdt = sdt, .ddt = ddt};
  c.base[0] = dst->ptr;
  c.base[1] = src->ptr;
  clt__host_walk(it, cast_row, &c);
  return CLT_OK;
}
