/* clt: the op table. Every elementwise op is one row, and everything about the op that is not
 * an expression comes from it: the public enum and functions (include/clt/elementwise.h is
 * generated from it), the names, the dtype rules and the dispatch (lib/ew.c), the saved values
 * and the backward (lib/grad.c), the host reference loops (lib/host/ew.c), the OpenCL kernels
 * (kernels/, which are built with this file prepended) and the table-driven tests. Only macros
 * here: this file is valid C and valid OpenCL C (no variadic macros). Internal: not installed.
 *
 * Adding an elementwise op:
 *   1. its row below, with the next free value (values are the ABI: never reuse or change one);
 *   2. its kernel expression K_<op> in kernels/ew_unary.cl or kernels/ew_binary.cl;
 *   3. its host expression H_<op> in lib/host/ew.c;
 *   4. for a gradient kernel (KERN2/KERN3 below), its expression G_<kernel> in
 *      kernels/ew_grad.cl and H_<kernel> in lib/host/ew.c;
 * then `meson compile -C build regen` rewrites include/clt/elementwise.h and tests/abi.txt.
 * The tests (ew, autograd, known, torch_refs, surface) pick the row up, domain included.
 *
 * ---- Rows --------------------------------------------------------------------------------
 *
 * Unary:   X(name, value, rule, params, grad, domain, doc)
 * Binary:  X(name, value, rule, forms, grad_a, grad_b, grad_as, grad_sb, domain_a, domain_b, doc)
 * Ternary: X(name, value, rule, args, grad_0, grad_1, grad_2, doc)
 *
 *   value   the clt_op value: explicit and append-only (the ABI of libclt.so.0).
 *   rule    the dtype rule: what the op computes in and gives, and what it does with bool.
 *             INT          integers stay integers; bool refused
 *             INT_BOUNDS   INT, and the two parameters are bounds that promote as scalars
 *                          (clamp(int32, -0.5, 1) is float32; an infinite bound is no bound)
 *             INT_OR       integers stay integers; where the operands promote to bool, logical or
 *             INT_AND      ... logical and
 *             INT_NOBOOL   integers stay integers; any bool operand refused (as PyTorch's sub)
 *             FLOAT        floats; integers (and, binary, bools) compute in float32
 *             CMP          operands promote to a common dtype; the result is bool
 *             LOGIC        any dtypes, nonzero is true; the result is bool
 *             WHERE        the condition is bool; the other two promote
 *           Unary ops refuse bool tensors, except LOGIC ones.
 *   params  the unary op's scalar parameters, by name: P0, P1(slope), P2(lo, hi).
 *   forms   the binary op's public functions: T clt_<op>(a, b); TS and clt_<op>_scalar(a, s)
 *           (a op s); TSR and clt_r<op>_scalar(b, s) (s op b).
 *   args    the ternary op's argument names: ARGS3(cond, a, b).
 *   grad    the gradient of each input (unary: x; binary: a and b, then the one tensor of
 *           a op s and of s op b; ternary: each input), a term:
 *             NONE              no gradient (not differentiable, or no such form)
 *             PASS              g itself
 *             ZEROS             zeros
 *             OP(op, x, y, z)   another op of this table on operands (_ where unused)
 *             KERN2(x, y)       this slot's gradient kernel on two operands, with the op's
 *             KERN3(x, y, z)    parameters p0, p1 (a op s, s op b: p0 is s). The kernel is
 *                               <op>_bwd (unary x; binary a; ternary 0), <op>_bwd_b (b),
 *                               <op>_scalar_bwd (a op s), r<op>_bwd (s op b), <op>_bwd_c
 *                               (ternary 2): G_<kernel> in kernels/ew_grad.cl, H_<kernel>
 *                               in lib/host/ew.c
 *             GK(k, x, y, z)    the kernel k another slot defines, on other operands
 *           Operands: G the incoming gradient, A and B the inputs (unary: A is x; ternary: A, B
 *           and C are inputs 0, 1, 2; s op b: the tensor is B), Y the result, S the scalar s (a
 *           0-d tensor of g's dtype; the second operand of a binary OP takes it as the scalar
 *           form), Z a 0-d zero. Backward saves exactly the A, B, C and Y its terms name.
 *   domain  where the tests draw an operand from: REAL, POS (positive: logs, roots, pow's
 *           base), NONZERO (divisors), EXPONENT (pow's exponent: small, integers 0..3).
 *   doc     one line for the generated header; the rules ops share are in clt/ops.h. */
#ifndef CLT_OPTABLE_H
#define CLT_OPTABLE_H

/* clang-format off */
#define CLT_UNARY_OPS(X)                                                                          \
  X(neg,        0, INT,        P0,         OP(neg, G, _, _), REAL, "-x")                          \
  X(abs,        1, INT,        P0,         KERN2(G, A),      REAL, "|x|; abs(-0) is +0")          \
  X(sign,       2, INT,        P0,         ZEROS,            REAL, "-1, 0 or 1; sign(NaN) and sign(-0) are +0") \
  X(square,     3, INT,        P0,         KERN2(G, A),      REAL, "x * x")                       \
  X(relu,       4, INT,        P0,         KERN2(G, Y),      REAL, "max(x, 0); NaN stays NaN")    \
  X(clamp,      5, INT_BOUNDS, P2(lo, hi), KERN2(G, A),      REAL,                                \
    "min(max(x, lo), hi); an infinite bound is no bound, NaN stays NaN (see clt/ops.h)")         \
  X(exp,        6, FLOAT,      P0,         KERN2(G, Y),      REAL, "e^x")                         \
  X(expm1,      7, FLOAT,      P0,         KERN2(G, Y),      REAL, "e^x - 1")                     \
  X(log,        8, FLOAT,      P0,         KERN2(G, A),      POS,  "the natural logarithm")       \
  X(log1p,      9, FLOAT,      P0,         KERN2(G, A),      POS,  "log(1 + x)")                  \
  X(sqrt,      10, FLOAT,      P0,         KERN2(G, Y),      POS,  "the square root")             \
  X(rsqrt,     11, FLOAT,      P0,         KERN2(G, Y),      POS,  "1 / sqrt(x)")                 \
  X(reciprocal, 12, FLOAT,     P0,         KERN2(G, Y),      POS,  "1 / x")                       \
  X(sin,       13, FLOAT,      P0,         KERN2(G, A),      REAL, "sine")                        \
  X(cos,       14, FLOAT,      P0,         KERN2(G, A),      REAL, "cosine")                      \
  X(tanh,      15, FLOAT,      P0,         KERN2(G, Y),      REAL, "hyperbolic tangent; exactly +-1 from |x| = 9.1 in float32") \
  X(sigmoid,   16, FLOAT,      P0,         KERN2(G, Y),      REAL, "1 / (1 + e^-x)")              \
  X(leaky_relu, 17, FLOAT,     P1(slope),  KERN2(G, A),      REAL, "x where x > 0, else slope * x") \
  X(elu,       18, FLOAT,      P1(alpha),  KERN2(G, A),      REAL, "x where x > 0, else alpha * (e^x - 1)") \
  X(gelu,      19, FLOAT,      P0,         KERN2(G, A),      REAL, "x * Phi(x), with the erf")    \
  X(gelu_tanh, 20, FLOAT,      P0,         KERN2(G, A),      REAL,                                \
    "gelu's tanh approximation, x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) (see clt/ops.h)") \
  X(silu,      21, FLOAT,      P0,         KERN2(G, A),      REAL, "x * sigmoid(x)")              \
  X(softplus,  22, FLOAT,      P0,         KERN2(G, A),      REAL,                                \
    "log(1 + e^x), and x itself above 20 (PyTorch's threshold)")                                  \
  X(logical_not, 39, LOGIC,    P0,         NONE,             REAL, "x == 0")

#define CLT_BINARY_OPS(X)                                                                         \
  X(add,      23, INT_OR,     TS,  PASS, PASS, PASS, NONE, REAL, REAL, "a + b")                   \
  X(sub,      24, INT_NOBOOL, TSR, PASS, OP(neg, G, _, _), PASS, OP(neg, G, _, _), REAL, REAL, "a - b") \
  X(mul,      25, INT_AND,    TS,  OP(mul, G, B, _), OP(mul, G, A, _), OP(mul, G, S, _), NONE,    \
    REAL, REAL, "a * b")                                                                          \
  X(pow,      26, INT,        TSR, KERN3(G, A, B), KERN3(G, A, B), KERN2(G, A), KERN2(G, Y),      \
    POS, EXPONENT, "a to the power b; a power by a scalar 0.5 or -0.5 is sqrt or rsqrt (see clt/ops.h)") \
  X(maximum,  27, INT_OR,     TS,  KERN3(G, A, B), GK(maximum_bwd, G, B, A), GK(maximum_bwd, G, A, S), \
    NONE, REAL, REAL, "the larger of a and b; NaN wins; ties split the gradient")                \
  X(minimum,  28, INT_AND,    TS,  KERN3(G, A, B), GK(minimum_bwd, G, B, A), GK(minimum_bwd, G, A, S), \
    NONE, REAL, REAL, "the smaller of a and b; NaN wins; ties split the gradient")               \
  X(div,      29, FLOAT,      TSR, OP(div, G, B, _), KERN3(G, A, B), OP(div, G, S, _), KERN2(G, B), \
    REAL, NONZERO, "a / b, true division")                                                        \
  X(eq,       30, CMP,        TS,  NONE, NONE, NONE, NONE, REAL, REAL, "a == b")                  \
  X(ne,       31, CMP,        TS,  NONE, NONE, NONE, NONE, REAL, REAL, "a != b")                  \
  X(lt,       32, CMP,        TS,  NONE, NONE, NONE, NONE, REAL, REAL, "a < b")                   \
  X(le,       33, CMP,        TS,  NONE, NONE, NONE, NONE, REAL, REAL, "a <= b")                  \
  X(gt,       34, CMP,        TS,  NONE, NONE, NONE, NONE, REAL, REAL, "a > b")                   \
  X(ge,       35, CMP,        TS,  NONE, NONE, NONE, NONE, REAL, REAL, "a >= b")                  \
  X(logical_and, 36, LOGIC,   T,   NONE, NONE, NONE, NONE, REAL, REAL, "a and b")                 \
  X(logical_or,  37, LOGIC,   T,   NONE, NONE, NONE, NONE, REAL, REAL, "a or b")                  \
  X(logical_xor, 38, LOGIC,   T,   NONE, NONE, NONE, NONE, REAL, REAL, "a xor b")

#define CLT_TERNARY_OPS(X)                                                                        \
  X(where,    40, WHERE, ARGS3(cond, a, b), NONE, OP(where, A, G, Z), OP(where, A, Z, G),         \
    "a where cond is true (nonzero), else b; the three broadcast together, a and b promote")
/* clang-format on */

/* Fused loss kernels of lib/nn.c (not ops): X(kernel, inputs), defined like gradient kernels
 * (G_<kernel>, H_<kernel>). bce_logits takes logits and targets, bce_logits_bwd g and both. */
#define CLT_LOSS_KERNELS(X) \
  X(bce_logits, 2)          \
  X(bce_logits_bwd, 3)

/* Every gradient and loss kernel once, as CLT__GK_EMIT(kernel, inputs), which the user defines
 * before expanding CLT_GRAD_KERNELS (and undefines after). A row's KERN2/KERN3 terms name its
 * kernels: the term's head is pasted onto CLT__GK_, which takes the kernel's name next. Names
 * are pasted where the row is received, never passed on bare: an OpenCL implementation may
 * define builtins such as pow as macros. */
#define CLT_GRAD_KERNELS                  \
  CLT_UNARY_OPS(CLT__GK_UNARY)            \
  CLT_BINARY_OPS(CLT__GK_BINARY)          \
  CLT_TERNARY_OPS(CLT__GK_TERNARY)        \
  CLT_LOSS_KERNELS(CLT__GK_EMIT)
#define CLT__GK_UNARY(name, v, rule, params, g, dom, doc) CLT__GK_##g(name##_bwd)
#define CLT__GK_BINARY(name, v, rule, forms, ga, gb, gs, gr, da, db, doc) \
  CLT__GK_##ga(name##_bwd) CLT__GK_##gb(name##_bwd_b) CLT__GK_##gs(name##_scalar_bwd) CLT__GK_##gr(r##name##_bwd)
#define CLT__GK_TERNARY(name, v, rule, args, g0, g1, g2, doc) \
  CLT__GK_##g0(name##_bwd) CLT__GK_##g1(name##_bwd_b) CLT__GK_##g2(name##_bwd_c)
#define CLT__GK_NONE(k)
#define CLT__GK_PASS(k)
#define CLT__GK_ZEROS(k)
#define CLT__GK_OP(o, x, y, z) CLT__GK_SKIP
#define CLT__GK_GK(o, x, y, z) CLT__GK_SKIP
#define CLT__GK_SKIP(k)
#define CLT__GK_KERN2(x, y) CLT__GK_EMIT2
#define CLT__GK_KERN3(x, y, z) CLT__GK_EMIT3
#define CLT__GK_EMIT2(k) CLT__GK_EMIT(k, 2)
#define CLT__GK_EMIT3(k) CLT__GK_EMIT(k, 3)

#endif
