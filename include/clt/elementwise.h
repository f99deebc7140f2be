/* clt: the elementwise ops, one declaration per function.
 *
 * GENERATED from the op table (lib/optable.h) by tools/gen_elementwise_h.c: do not edit. After
 * changing the table, `meson compile -C build regen` rewrites this file (the lint test
 * elementwise_h fails while it is out of date). Include clt.h or clt/ops.h, which says what
 * these ops share: broadcasting, dtype promotion, layouts, IEEE special values. */
#ifndef CLT_ELEMENTWISE_H
#define CLT_ELEMENTWISE_H

#include "clt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every elementwise op, for clt_unary, clt_binary and clt_binary_scalar. The values are part
 * of the ABI and never change: a new op takes the next free value. */
typedef enum clt_op {
  CLT_OP_neg = 0,
  CLT_OP_abs = 1,
  CLT_OP_sign = 2,
  CLT_OP_square = 3,
  CLT_OP_relu = 4,
  CLT_OP_clamp = 5,
  CLT_OP_exp = 6,
  CLT_OP_expm1 = 7,
  CLT_OP_log = 8,
  CLT_OP_log1p = 9,
  CLT_OP_sqrt = 10,
  CLT_OP_rsqrt = 11,
  CLT_OP_reciprocal = 12,
  CLT_OP_sin = 13,
  CLT_OP_cos = 14,
  CLT_OP_tanh = 15,
  CLT_OP_sigmoid = 16,
  CLT_OP_leaky_relu = 17,
  CLT_OP_elu = 18,
  CLT_OP_gelu = 19,
  CLT_OP_gelu_tanh = 20,
  CLT_OP_silu = 21,
  CLT_OP_softplus = 22,
  CLT_OP_add = 23,
  CLT_OP_sub = 24,
  CLT_OP_mul = 25,
  CLT_OP_pow = 26,
  CLT_OP_maximum = 27,
  CLT_OP_minimum = 28,
  CLT_OP_div = 29,
  CLT_OP_eq = 30,
  CLT_OP_ne = 31,
  CLT_OP_lt = 32,
  CLT_OP_le = 33,
  CLT_OP_gt = 34,
  CLT_OP_ge = 35,
  CLT_OP_logical_and = 36,
  CLT_OP_logical_or = 37,
  CLT_OP_logical_xor = 38,
  CLT_OP_logical_not = 39,
  CLT_OP_where = 40,
  CLT_OP_COUNT = 41 /* one more than the largest value; grows as ops are added */
} clt_op;

/* ---- unary ------------------------------------------------------------------------------- */

/* -x; integers stay integers */
CLT_API clt_tensor *clt_neg(clt_tensor *x);

/* |x|; abs(-0) is +0; integers stay integers */
CLT_API clt_tensor *clt_abs(clt_tensor *x);

/* -1, 0 or 1; sign(NaN) and sign(-0) are +0; integers stay integers */
CLT_API clt_tensor *clt_sign(clt_tensor *x);

/* x * x; integers stay integers */
CLT_API clt_tensor *clt_square(clt_tensor *x);

/* max(x, 0); NaN stays NaN; integers stay integers */
CLT_API clt_tensor *clt_relu(clt_tensor *x);

/* min(max(x, lo), hi); an infinite bound is no bound, NaN stays NaN (see clt/ops.h); integers
 * stay integers unless a finite bound is fractional */
CLT_API clt_tensor *clt_clamp(clt_tensor *x, double lo, double hi);

/* e^x; integers compute in float32 */
CLT_API clt_tensor *clt_exp(clt_tensor *x);

/* e^x - 1; integers compute in float32 */
CLT_API clt_tensor *clt_expm1(clt_tensor *x);

/* the natural logarithm; integers compute in float32 */
CLT_API clt_tensor *clt_log(clt_tensor *x);

/* log(1 + x); integers compute in float32 */
CLT_API clt_tensor *clt_log1p(clt_tensor *x);

/* the square root; integers compute in float32 */
CLT_API clt_tensor *clt_sqrt(clt_tensor *x);

/* 1 / sqrt(x); integers compute in float32 */
CLT_API clt_tensor *clt_rsqrt(clt_tensor *x);

/* 1 / x; integers compute in float32 */
CLT_API clt_tensor *clt_reciprocal(clt_tensor *x);

/* sine; integers compute in float32 */
CLT_API clt_tensor *clt_sin(clt_tensor *x);

/* cosine; integers compute in float32 */
CLT_API clt_tensor *clt_cos(clt_tensor *x);

/* hyperbolic tangent; exactly +-1 from |x| = 9.1 in float32; integers compute in float32 */
CLT_API clt_tensor *clt_tanh(clt_tensor *x);

/* 1 / (1 + e^-x); integers compute in float32 */
CLT_API clt_tensor *clt_sigmoid(clt_tensor *x);

/* x where x > 0, else slope * x; integers compute in float32 */
CLT_API clt_tensor *clt_leaky_relu(clt_tensor *x, double slope);

/* x where x > 0, else alpha * (e^x - 1); integers compute in float32 */
CLT_API clt_tensor *clt_elu(clt_tensor *x, double alpha);

/* x * Phi(x), with the erf; integers compute in float32 */
CLT_API clt_tensor *clt_gelu(clt_tensor *x);

/* gelu's tanh approximation, x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) (see clt/ops.h);
 * integers compute in float32 */
CLT_API clt_tensor *clt_gelu_tanh(clt_tensor *x);

/* x * sigmoid(x); integers compute in float32 */
CLT_API clt_tensor *clt_silu(clt_tensor *x);

/* log(1 + e^x), and x itself above 20 (PyTorch's threshold); integers compute in float32 */
CLT_API clt_tensor *clt_softplus(clt_tensor *x);

/* x == 0; the result is bool */
CLT_API clt_tensor *clt_logical_not(clt_tensor *x);

/* ---- binary, with broadcasting and promotion --------------------------------------------- */

/* a + b; integers stay integers, bools give logical or */
CLT_API clt_tensor *clt_add(clt_tensor *a, clt_tensor *b);
/* clt_add with a scalar second operand: a op s */
CLT_API clt_tensor *clt_add_scalar(clt_tensor *a, double s);

/* a - b; integers stay integers, bool operands are refused */
CLT_API clt_tensor *clt_sub(clt_tensor *a, clt_tensor *b);
/* clt_sub with a scalar second operand: a op s */
CLT_API clt_tensor *clt_sub_scalar(clt_tensor *a, double s);
/* clt_sub with a scalar first operand: s op b */
CLT_API clt_tensor *clt_rsub_scalar(clt_tensor *b, double s);

/* a * b; integers stay integers, bools give logical and */
CLT_API clt_tensor *clt_mul(clt_tensor *a, clt_tensor *b);
/* clt_mul with a scalar second operand: a op s */
CLT_API clt_tensor *clt_mul_scalar(clt_tensor *a, double s);

/* a to the power b; a power by a scalar 0.5 or -0.5 is sqrt or rsqrt (see clt/ops.h); integers
 * stay integers */
CLT_API clt_tensor *clt_pow(clt_tensor *a, clt_tensor *b);
/* clt_pow with a scalar second operand: a op s */
CLT_API clt_tensor *clt_pow_scalar(clt_tensor *a, double s);
/* clt_pow with a scalar first operand: s op b */
CLT_API clt_tensor *clt_rpow_scalar(clt_tensor *b, double s);

/* the larger of a and b; NaN wins; ties split the gradient; integers stay integers, bools give
 * logical or */
CLT_API clt_tensor *clt_maximum(clt_tensor *a, clt_tensor *b);
/* clt_maximum with a scalar second operand: a op s */
CLT_API clt_tensor *clt_maximum_scalar(clt_tensor *a, double s);

/* the smaller of a and b; NaN wins; ties split the gradient; integers stay integers, bools give
 * logical and */
CLT_API clt_tensor *clt_minimum(clt_tensor *a, clt_tensor *b);
/* clt_minimum with a scalar second operand: a op s */
CLT_API clt_tensor *clt_minimum_scalar(clt_tensor *a, double s);

/* a / b, true division; integers and bools compute in float32 */
CLT_API clt_tensor *clt_div(clt_tensor *a, clt_tensor *b);
/* clt_div with a scalar second operand: a op s */
CLT_API clt_tensor *clt_div_scalar(clt_tensor *a, double s);
/* clt_div with a scalar first operand: s op b */
CLT_API clt_tensor *clt_rdiv_scalar(clt_tensor *b, double s);

/* a == b; the result is bool */
CLT_API clt_tensor *clt_eq(clt_tensor *a, clt_tensor *b);
/* clt_eq with a scalar second operand: a op s */
CLT_API clt_tensor *clt_eq_scalar(clt_tensor *a, double s);

/* a != b; the result is bool */
CLT_API clt_tensor *clt_ne(clt_tensor *a, clt_tensor *b);
/* clt_ne with a scalar second operand: a op s */
CLT_API clt_tensor *clt_ne_scalar(clt_tensor *a, double s);

/* a < b; the result is bool */
CLT_API clt_tensor *clt_lt(clt_tensor *a, clt_tensor *b);
/* clt_lt with a scalar second operand: a op s */
CLT_API clt_tensor *clt_lt_scalar(clt_tensor *a, double s);

/* a <= b; the result is bool */
CLT_API clt_tensor *clt_le(clt_tensor *a, clt_tensor *b);
/* clt_le with a scalar second operand: a op s */
CLT_API clt_tensor *clt_le_scalar(clt_tensor *a, double s);

/* a > b; the result is bool */
CLT_API clt_tensor *clt_gt(clt_tensor *a, clt_tensor *b);
/* clt_gt with a scalar second operand: a op s */
CLT_API clt_tensor *clt_gt_scalar(clt_tensor *a, double s);

/* a >= b; the result is bool */
CLT_API clt_tensor *clt_ge(clt_tensor *a, clt_tensor *b);
/* clt_ge with a scalar second operand: a op s */
CLT_API clt_tensor *clt_ge_scalar(clt_tensor *a, double s);

/* a and b; the result is bool */
CLT_API clt_tensor *clt_logical_and(clt_tensor *a, clt_tensor *b);

/* a or b; the result is bool */
CLT_API clt_tensor *clt_logical_or(clt_tensor *a, clt_tensor *b);

/* a xor b; the result is bool */
CLT_API clt_tensor *clt_logical_xor(clt_tensor *a, clt_tensor *b);

/* ---- ternary ----------------------------------------------------------------------------- */

/* a where cond is true (nonzero), else b; the three broadcast together, a and b promote */
CLT_API clt_tensor *clt_where(clt_tensor *cond, clt_tensor *a, clt_tensor *b);

#ifdef __cplusplus
}
#endif

#endif
