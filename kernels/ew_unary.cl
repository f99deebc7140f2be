/* Unary elementwise ops, stamped for one dtype T (built with -DCLT_DT). Each unary row of the op
 * table (lib/optable.h) gets <op>_fwd (contiguous operands, element offsets) and <op>_fwd_s
 * (any strides, through clt_iter); p0 and p1 are the op's parameters. K_<op> is the op's
 * expression. */

#define K_neg(a, p0, p1) (-(a))
/* sign(NaN) and sign(-0) are +0, as PyTorch's */
#define K_sign(a, p0, p1) ((T)(((a) > 0) - ((a) < 0)))
#if CLT_IS_FLOAT
#define K_abs(a, p0, p1) fabs(a)
#else
#define K_abs(a, p0, p1) ((T)abs(a)) /* the builtin: clang turns a ternary into llvm.abs, which Oclgrind lacks */
#endif
#define K_square(a, p0, p1) ((a) * (a))
#define K_relu(a, p0, p1) ((a) < 0 ? (T)0 : (a))
#define K_clamp(a, p0, p1) ((a) < (p0) ? (p0) : ((a) > (p1) ? (p1) : (a)))

#define K_exp(a, p0, p1) CLT_EXP(a)
#define K_exp16(a) clt_expf16(a) /* float32 only: exp_fwd16 below */
#define K_expm1(a, p0, p1) expm1(a)
#define K_log(a, p0, p1) log(a)
#define K_log1p(a, p0, p1) log1p(a)
#define K_sqrt(a, p0, p1) sqrt(a)
#define K_rsqrt(a, p0, p1) rsqrt(a)
#define K_reciprocal(a, p0, p1) ((T)1 / (a))
#define K_sin(a, p0, p1) sin(a)
#define K_cos(a, p0, p1) cos(a)
#if CLT_IS_FLOAT
/* tanh without the driver's tanh in the tails: PoCL's float tanh saturates at +-0.99999994,
 * so tanh(20) and tanh(inf) were not 1 and their gradient 1 - t^2 was 1.2e-7 instead of 0
 * (DESIGN.md). For |x| >= 0.625, 1 - 2E / (1 + E) with E = e^(-2|x|) from clt's exp: the
 * subtracted term is below 0.46 and carries its few ulp into the result scaled by itself (to
 * 0.5 ulp and a fraction, where (1 - E) / (1 + E) rounded three times), and the result is
 * exactly 1 once E < 2^-25, and at inf. Below, float takes Cephes' odd polynomial for tanhf,
 * double the library's tanh, exact there; the sign goes on last, so tanh(-0) is -0. In float32
 * within 1 ulp of tanh rounded once from double, 99.65% exact (PoCL, every 97th float in
 * [-12, 12]; tests/test_ew.c), and faster than PoCL's tanh (7.8-9.6 against 6.3-6.6 GB/s at
 * n = 1e6). */
T clt_tanh(T x) {
  T a = fabs(x), e = CLT_EXP((T)-2 * a), big = (T)1 - (T)2 * e / ((T)1 + e);
#if CLT_DT == 0 || CLT_DT == 6 || CLT_DT == 7
  T z = a * a;
  T small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
             3.33332819422e-1f) * z * a + a;
#else
  T small = tanh(a);
#endif
  return copysign(a < (T)0.625 ? small : big, x);
}
#endif
#define K_tanh(a, p0, p1) clt_tanh(a)
#define K_sigmoid(a, p0, p1) ((T)1 / ((T)1 + CLT_EXP(-(a))))
#define K_leaky_relu(a, p0, p1) ((a) > 0 ? (a) : (a) * (p0))
#define K_elu(a, p0, p1) ((a) > 0 ? (a) : (p0) * expm1(a))
/* ERF: CLT_ERF, or clt_erff16 in gelu_fwd16 below */
#define K_gelu_E(a, ERF) ((T)0.5 * (a) * ((T)1 + ERF((a) * (T)0.70710678118654752440)))
#define K_gelu(a, p0, p1) K_gelu_E(a, CLT_ERF)
#if CLT_IS_FLOAT
T clt_gelu_tanh(T x) { /* common.clh: CLT_GELU_TANH_U */
  T u = CLT_GELU_TANH_U(x), e = CLT_GELU_TANH_E(u);
  return x * (u >= 0 ? (T)1 : e) / ((T)1 + e);
}
#endif
#define K_gelu_tanh(a, p0, p1) clt_gelu_tanh(a)
#define K_silu(a, p0, p1) ((a) / ((T)1 + CLT_EXP(-(a))))
#define K_softplus(a, p0, p1) ((a) > (T)20 ? (a) : log1p(CLT_EXP(a)))

#define K_logical_not(a, p0, p1) ((a) == (T)0)

/* Fused chains (lib/cl/ew.c) take the expressions above without these kernels. */
#ifndef CLT_EW_EXPR_ONLY
/* The kernels of each row (lib/optable.h), for the dtypes its rule takes: OT is the result's
 * type (T or clt_bool; memory is read and written through common.clh's CLT_LOAD and
 * CLT_OSTORE_<OT>, so 16-bit storage computes in float). The name is pasted where the row is
 * received (see ew_binary.cl). */
#define CLT_UNARY_KERNELS(FWD, FWD_S, K, OT)                                                      \
  __kernel void FWD(__global CLT_OST_##OT *out, long oo, __global const CLT_ST *in, long io, long n,  \
                    T p0, T p1) {                                                                 \
    long i = get_global_id(0);                                                                    \
    if (i < n) {                                                                                  \
      T a = CLT_LOAD(in, io + i);                                                                 \
      CLT_OSTORE_##OT(out, oo + i, K(a, p0, p1));                                                 \
    }                                                                                             \
  }                                                                                               \
  __kernel void FWD_S(__global CLT_OST_##OT *out, __global const CLT_ST *in, clt_walk it, T p0, T p1) { \
    CLT_WALK_BEGIN(it);                                                                           \
      T a = CLT_LOAD(in, off1);                                                                   \
      CLT_OSTORE_##OT(out, off0, K(a, p0, p1));                                                   \
  }                                                                                               \
  CLT_UNARY_WIDE_##OT(FWD, K)
/* <op>_fwd_w: CLT_WIDE elements per work-item, for 16-bit results on CPU devices (common.clh) */
#ifdef CLT_WLOAD
#define CLT_UNARY_WIDE_T(FWD, K) CLT_WIDE_KERNEL1(FWD##_w, K(v, p0, p1))
#else
#define CLT_UNARY_WIDE_T(FWD, K)
#endif
#define CLT_UNARY_WIDE_clt_bool(FWD, K)

#define CLT_UNARY_ROW(name, v, rule, params, g, dom, doc) CLT_UNARY_##rule(name##_fwd, name##_fwd_s, K_##name)
#if CLT_IS_FLOAT || CLT_IS_INT
#define CLT_UNARY_INT(FWD, FWD_S, K) CLT_UNARY_KERNELS(FWD, FWD_S, K, T)
#else
#define CLT_UNARY_INT(FWD, FWD_S, K)
#endif
#define CLT_UNARY_INT_BOUNDS CLT_UNARY_INT
#if CLT_IS_FLOAT
#define CLT_UNARY_FLOAT(FWD, FWD_S, K) CLT_UNARY_KERNELS(FWD, FWD_S, K, T)
#else
#define CLT_UNARY_FLOAT(FWD, FWD_S, K)
#endif
#define CLT_UNARY_LOGIC(FWD, FWD_S, K) CLT_UNARY_KERNELS(FWD, FWD_S, K, clt_bool)
CLT_UNARY_OPS(CLT_UNARY_ROW)

#if defined(CLT_DT) && CLT_DT == 0
/* exp and gelu of a contiguous float32 run, 16 elements per work-item (lib/cl/ew.c picks them
 * on CPU devices): explicit vectors, which PoCL compiles to twice the speed of the one-element
 * kernel (exp: 45 against 22 GB/s at n = 1e6; gelu of 512 x 128: 34-42 against 58 us); the
 * last work-item finishes the run element by element, with the same operations. */
#define CLT_FWD16(NAME, K16, K)                                                                    \
  __kernel void NAME(__global T *out, long oo, __global const T *in, long io, long n, T p0, T p1) { \
    long i = get_global_id(0) * 16;                                                                \
    if (i + 16 <= n)                                                                               \
      vstore16(K16(vload16(0, in + io + i)), 0, out + oo + i);                                     \
    else                                                                                           \
      for (long j = i; j < n; j++) out[oo + j] = K(in[io + j], p0, p1);                            \
  }
#define K_gelu16(a) K_gelu_E(a, clt_erff16)
CLT_FWD16(exp_fwd16, K_exp16, K_exp)
CLT_FWD16(gelu_fwd16, K_gelu16, K_gelu)
#endif

#endif
