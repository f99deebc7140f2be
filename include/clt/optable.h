/* clt: the op table. Every elementwise op is one row; the public enum and names
 * (clt/ops.h), the dispatch and host reference functions (lib/), and the OpenCL kernels
 * (kernels/, which are built with this file prepended) all come from these lists. Only macros
 * here: this file is valid C and valid OpenCL C.
 *
 * Row: X(name, nparams, saves)
 *   nparams  scalar parameters the op takes (leaky_relu's slope, clamp's min and max)
 *   saves    what its backward needs: IN (the input), OUT (the result), NONE
 *
 * Adding an op: add its row, its kernel expression K_<name> in kernels/ (ew_unary.cl or
 * ew_binary.cl), its host expression H_<name> in lib/ew_host.c, and for a differentiable op its
 * gradient (kernels/ew_grad.cl, lib/ew_host.c). The table-driven tests pick the row up. */
#ifndef CLT_OPTABLE_H
#define CLT_OPTABLE_H

/* Unary ops defined for every numeric dtype (integers stay integers). */
#define CLT_UNARY_INT_OPS(X) \
  X(neg, 0, NONE)            \
  X(abs, 0, IN)              \
  X(sign, 0, NONE)           \
  X(square, 0, IN)           \
  X(relu, 0, OUT)            \
  X(clamp, 2, IN)

/* Unary ops defined for floats; integer inputs are promoted to float32 first. */
#define CLT_UNARY_FLOAT_OPS(X) \
  X(exp, 0, OUT)               \
  X(expm1, 0, OUT)             \
  X(log, 0, IN)                \
  X(log1p, 0, IN)              \
  X(sqrt, 0, OUT)              \
  X(rsqrt, 0, OUT)             \
  X(reciprocal, 0, OUT)        \
  X(sin, 0, IN)                \
  X(cos, 0, IN)                \
  X(tanh, 0, OUT)              \
  X(sigmoid, 0, OUT)           \
  X(leaky_relu, 1, IN)         \
  X(elu, 1, IN)                \
  X(gelu, 0, IN)               \
  X(gelu_tanh, 0, IN)          \
  X(silu, 0, IN)               \
  X(softplus, 0, IN)

/* Binary ops with broadcasting, for every numeric dtype. */
#define CLT_BINARY_INT_OPS(X) \
  X(add, 0, NONE)             \
  X(sub, 0, NONE)             \
  X(mul, 0, IN)               \
  X(pow, 0, IN)               \
  X(maximum, 0, IN)           \
  X(minimum, 0, IN)

/* Binary ops defined for floats; integer inputs are promoted to float32 first. */
#define CLT_BINARY_FLOAT_OPS(X) X(div, 0, IN)

/* Comparisons: inputs promoted to a common dtype, result bool. */
#define CLT_COMPARE_OPS(X) \
  X(eq, 0, NONE)           \
  X(ne, 0, NONE)           \
  X(lt, 0, NONE)           \
  X(le, 0, NONE)           \
  X(gt, 0, NONE)           \
  X(ge, 0, NONE)

/* Logical ops: any dtype, nonzero is true, result bool. */
#define CLT_LOGICAL_OPS(X) \
  X(logical_and, 0, NONE)  \
  X(logical_or, 0, NONE)   \
  X(logical_xor, 0, NONE)

#define CLT_UNARY_OPS(X) CLT_UNARY_INT_OPS(X) CLT_UNARY_FLOAT_OPS(X)
#define CLT_BINARY_OPS(X) CLT_BINARY_INT_OPS(X) CLT_BINARY_FLOAT_OPS(X)

/* Every elementwise op, in enum order. logical_not and where have rows of their own shape. */
#define CLT_ELEMENTWISE_OPS(X) \
  CLT_UNARY_OPS(X)             \
  CLT_BINARY_OPS(X)            \
  CLT_COMPARE_OPS(X)           \
  CLT_LOGICAL_OPS(X)           \
  X(logical_not, 0, NONE)      \
  X(where, 0, NONE)

/* Gradient kernels and fused loss kernels (float dtypes), one launch each: X(name, inputs). With 2
 * inputs they take the incoming gradient g and one saved tensor s (the op's input or result, per
 * its row above) and the op's parameters (bce_logits: logits and targets); with 3, g and both
 * operands a, b of a binary op. */
#define CLT_GRAD_KERNELS(X) \
  X(abs_bwd, 2)             \
  X(square_bwd, 2)          \
  X(relu_bwd, 2)            \
  X(clamp_bwd, 2)           \
  X(exp_bwd, 2)             \
  X(expm1_bwd, 2)           \
  X(log_bwd, 2)             \
  X(log1p_bwd, 2)           \
  X(sqrt_bwd, 2)            \
  X(rsqrt_bwd, 2)           \
  X(reciprocal_bwd, 2)      \
  X(sin_bwd, 2)             \
  X(cos_bwd, 2)             \
  X(tanh_bwd, 2)            \
  X(sigmoid_bwd, 2)         \
  X(leaky_relu_bwd, 2)      \
  X(elu_bwd, 2)             \
  X(gelu_bwd, 2)            \
  X(gelu_tanh_bwd, 2)       \
  X(silu_bwd, 2)            \
  X(softplus_bwd, 2)        \
  X(pow_scalar_bwd, 2)      \
  X(rdiv_bwd, 2)            \
  X(rpow_bwd, 2)            \
  X(div_bwd_b, 3)           \
  X(pow_bwd_a, 3)           \
  X(pow_bwd_b, 3)           \
  X(maximum_bwd, 3)         \
  X(minimum_bwd, 3)         \
  X(bce_logits, 2)          \
  X(bce_logits_bwd, 3)

#endif
