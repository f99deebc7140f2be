/* Gradient kernels for the differentiable elementwise ops, one launch each, stamped for a float
 * dtype T: G_<kernel> for each kernel the op table's gradient terms name (lib/optable.h: KERN2,
 * KERN3). Two-input kernels get the incoming gradient g and a saved tensor s plus the op's
 * parameters p0, p1; three-input kernels get g and a binary op's operands a, b. Each has a
 * contiguous form <name> and a strided one <name>_s. */

#if CLT_IS_FLOAT
#define SQRT_2_PI ((T)0.79788456080286535588)  /* sqrt(2 / pi) */
#define INV_SQRT_2PI ((T)0.39894228040143267794) /* 1 / sqrt(2 pi) */

#define G_abs_bwd(g, s, p0, p1) ((s) > 0 ? (g) : (s) < 0 ? -(g) : (T)0)
#define G_square_bwd(g, s, p0, p1) ((T)2 * (g) * (s))
/* Comparisons are written so that NaN takes the branch PyTorch's formulas give it: relu and
 * elu pass g at NaN (their zero branch is x <= 0), maximum and minimum give g to both operands
 * where either is NaN (their zero branch is a < b, a > b). */
#define G_relu_bwd(g, s, p0, p1) ((s) <= 0 ? (T)0 : (g))
/* g strictly inside (lo, hi), as PyTorch 2.x (0 at the bounds and at NaN); an infinite bound is
 * no bound (ops.h), so x = -inf passes g under lo = -inf as under PyTorch's min=None */
#define G_clamp_bwd(g, s, p0, p1) \
  (((s) > (p0) || (p0) == -INFINITY) && ((s) < (p1) || (p1) == INFINITY) ? (g) : (T)0)
#define G_exp_bwd(g, s, p0, p1) ((g) * (s))
#define G_expm1_bwd(g, s, p0, p1) ((g) * ((s) + (T)1))
#define G_log_bwd(g, s, p0, p1) ((g) / (s))
#define G_log1p_bwd(g, s, p0, p1) ((g) / ((T)1 + (s)))
#define G_sqrt_bwd(g, s, p0, p1) ((g) / ((T)2 * (s)))
#define G_rsqrt_bwd(g, s, p0, p1) ((T)-0.5 * (g) * (s) * (s) * (s))
#define G_reciprocal_bwd(g, s, p0, p1) (-(g) * (s) * (s))
#define G_sin_bwd(g, s, p0, p1) ((g) * cos(s))
#define G_cos_bwd(g, s, p0, p1) (-(g) * sin(s))
#define G_tanh_bwd(g, s, p0, p1) ((g) * ((T)1 - (s) * (s)))
#define G_sigmoid_bwd(g, s, p0, p1) ((g) * (s) * ((T)1 - (s)))
#define G_leaky_relu_bwd(g, s, p0, p1) ((s) > 0 ? (g) : (g) * (p0))
#define G_elu_bwd(g, s, p0, p1) ((s) <= 0 ? (g) * (p0) * CLT_EXP(s) : (g))
/* ERF, EXP: CLT_ERF and CLT_EXP, or their 16-lane forms in gelu_bwd16 below */
#define G_gelu_bwd_E(g, s, ERF, EXP) \
  ((g) * ((T)0.5 * ((T)1 + ERF((s) * (T)0.70710678118654752440)) + (s) * INV_SQRT_2PI * EXP((T)-0.5 * (s) * (s))))
#define G_gelu_bwd(g, s, p0, p1) G_gelu_bwd_E(g, s, CLT_ERF, CLT_EXP)
/* d/dx x s(2u) = s + x s (1 - s) 2u' with s = sigmoid(2u) (common.clh: CLT_GELU_TANH_U).
 * Where s (1 - s) is 0 (|x| beyond about 10 in float) so is the second term, whose 2u' may
 * overflow (x^2 past 1e19): x * 0 then, which keeps +-inf NaN, as PyTorch's. */
T clt_gelu_tanh_d(T x) {
  T u = CLT_GELU_TANH_U(x), e = CLT_GELU_TANH_E(u), r = (T)1 / ((T)1 + e), st = e * r * r;
  return (u >= 0 ? r : e * r) + (st == 0 ? x * (T)0 : st * x * (T)2 * SQRT_2_PI * ((T)1 + (T)0.134145 * x * x));
}
#define G_gelu_tanh_bwd(g, s, p0, p1) ((g) * clt_gelu_tanh_d(s))
T clt_silu_d(T x) {
  T sg = (T)1 / ((T)1 + CLT_EXP(-x));
  return sg * ((T)1 + x * ((T)1 - sg));
}
#define G_silu_bwd(g, s, p0, p1) ((g) * clt_silu_d(s))
#define G_softplus_bwd(g, s, p0, p1) ((s) > (T)20 ? (g) : (g) / ((T)1 + CLT_EXP(-(s))))
/* b x^(b-1), pow's gradient for its base (sc: b is the scalar form's exponent, common.clh:
 * CLT_POW_SCALAR). b - 1 rounds (for |b| < 1/2, and for b < -1/2 with low bits), and its
 * rounding error lo times ln x came out in the result (1e-7 (2.9e-39)^(1e-7 - 1) was 23 ulp off):
 * lo, exact by Knuth's two-sum, puts it back as x^lo. x^(b-1) overflows where b x^(b-1) need
 * not, for tiny x and |b| < 1 ((2.6e-39)^(-1 - 1e-7) is inf, -1e-7 times it -3.8e31): then
 * (b / x) x^b where that is finite. */
T clt_pow_d(T x, T b, int sc) {
  T hi = b - (T)1, t = hi - b, lo = (b - (hi - t)) - ((T)1 + t), c = lo * log(x);
  T p = sc ? CLT_POW_SCALAR(x, hi) : pow(x, hi), r = b * (lo != 0 && isfinite(c) ? p * CLT_EXP(c) : p);
  if (isinf(p)) {
    T q = b / x * (sc ? CLT_POW_SCALAR(x, b) : pow(x, b));
    if (isfinite(q)) r = q;
  }
  return r;
}
/* a^b log a, pow's gradient for its exponent: a^b overflows where the product need not
 * (2^128 ln 2 is 2.4e38): then a^(b/2) log a a^(b/2). Not where log a is infinite (a = +-0 or
 * inf): a^b is then infinite itself, and the halves lost its sign ((-0)^-1 log(-0) is +inf, as
 * PyTorch's; the halves gave -inf). */
T clt_pow_log(T a, T b) {
  T p = pow(a, b), l = log(a), h = isinf(p) && isfinite(l) ? pow(a, b * (T)0.5) : (T)1;
  return isinf(p) && isfinite(l) ? h * l * h : p * l;
}
#define G_pow_scalar_bwd(g, s, p0, p1) ((p0) == 0 ? (T)0 : (g) * clt_pow_d(s, p0, 1))
/* a / b^2, div's gradient for b: as a / (b b) where b b is a normal number, else as (a / b) / b,
 * whose a / b then over- or underflows only where the result does. b b overflowed for |b| >
 * 1.8e19 (b = 1e20 gave -0) and underflowed to 0 below 1e-19 (a = 0, b = 1e-40 gave NaN); and
 * (a / b) / b alone, PyTorch's form, rounds a / b among the subnormals for tiny a and |b| < 1
 * (-1.4e-45 / 2e-5 / 2e-5 was 92 ulp off). */
#if CLT_DT == 0 || CLT_DT == 6 || CLT_DT == 7 /* T is float */
#define CLT_SQRT_MIN 0x1p-63f /* squares of [CLT_SQRT_MIN, CLT_SQRT_MAX] are normal */
#define CLT_SQRT_MAX 0x1p63f
#else
#define CLT_SQRT_MIN 0x1p-511
#define CLT_SQRT_MAX 0x1p511
#endif
T clt_div_b2(T a, T b) { return fabs(b) >= CLT_SQRT_MIN && fabs(b) <= CLT_SQRT_MAX ? a / (b * b) : a / b / b; }
#define G_rdiv_bwd(g, s, p0, p1) (-(g) * clt_div_b2(p0, s))
/* s is the result p0^x: with base +-0 the exponent is >= 0 exactly where s (+-0 or 1) is at
 * most 1 in magnitude, and there the gradient is 0, as PyTorch's (not 0 * log 0); below, s is
 * +-inf ((-0)^-1 is -inf) and the gradient g s log 0 */
#define G_rpow_bwd(g, s, p0, p1) ((p0) == 0 && fabs(s) <= 1 ? (T)0 : (g) * (s) * log(p0))

#define G_div_bwd_b(g, a, b) (-(g) * clt_div_b2(a, b))
#define G_pow_bwd(g, a, b) ((b) == 0 ? (T)0 : (g) * clt_pow_d(a, b, 0))
#define G_pow_bwd_b(g, a, b) ((a) == 0 && (b) >= 0 ? (T)0 : (g) * clt_pow_log(a, b))
#define G_maximum_bwd(g, a, b) ((a) == (b) ? (g) * (T)0.5 : (a) < (b) ? (T)0 : (g))
#define G_minimum_bwd(g, a, b) ((a) == (b) ? (g) * (T)0.5 : (a) > (b) ? (T)0 : (g))
/* binary cross entropy of logit x against target y, stable: max(x,0) - x y + log(1 + exp(-|x|)) */
#define G_bce_logits(x, y, p0, p1) (fmax((x), (T)0) - (x) * (y) + log1p(CLT_EXP(-fabs(x))))
#define G_bce_logits_bwd(g, x, y) ((g) * ((T)1 / ((T)1 + CLT_EXP(-(x))) - (y)))

/* Fused chains (lib/cl/ew.c) take the expressions above without these kernels. */
#ifndef CLT_EW_EXPR_ONLY
#define CLT_GRAD2(NAME, NAME_S, G)                                                                   \
  __kernel void NAME(__global CLT_ST *out, long oo, __global const CLT_ST *g, long go,                \
                     __global const CLT_ST *s, long so, long n, T p0, T p1) {                         \
    long i = get_global_id(0);                                                                       \
    if (i < n) {                                                                                     \
      T gv = CLT_LOAD(g, go + i), sv = CLT_LOAD(s, so + i);                                          \
      CLT_STORE(out, oo + i, G(gv, sv, p0, p1));                                                     \
    }                                                                                                \
  }                                                                                                  \
  __kernel void NAME_S(__global CLT_ST *out, __global const CLT_ST *g, __global const CLT_ST *s,      \
                       clt_walk it, T p0, T p1) {                                                    \
    CLT_WALK_BEGIN(it);                                                                              \
      T gv = CLT_LOAD(g, off1), sv = CLT_LOAD(s, off2);                                              \
      CLT_STORE(out, off0, G(gv, sv, p0, p1));                                                       \
  }                                                                                                  \
  CLT_GRAD2_WIDE(NAME, G)
/* <kernel>_w: CLT_WIDE elements per work-item, for 16-bit dtypes on CPU devices (common.clh) */
#ifdef CLT_WLOAD
#define CLT_GRAD_PARAMS , T p0, T p1
#define CLT_GRAD2_WIDE(NAME, G) CLT_WIDE_KERNEL2(NAME##_w, G(v, w, p0, p1), CLT_GRAD_PARAMS)
#else
#define CLT_GRAD2_WIDE(NAME, G)
#endif

#define CLT_GRAD3(NAME, NAME_S, G)                                                                   \
  __kernel void NAME(__global CLT_ST *out, long oo, __global const CLT_ST *g, long go,                \
                     __global const CLT_ST *a, long ao, __global const CLT_ST *b, long bo, long n,    \
                     T p0, T p1) {                                                                   \
    long i = get_global_id(0);                                                                       \
    if (i < n) {                                                                                     \
      T gv = CLT_LOAD(g, go + i), av = CLT_LOAD(a, ao + i), bv = CLT_LOAD(b, bo + i);                \
      CLT_STORE(out, oo + i, G(gv, av, bv));                                                         \
    }                                                                                                \
  }                                                                                                  \
  __kernel void NAME_S(__global CLT_ST *out, __global const CLT_ST *g, __global const CLT_ST *a,     \
                       __global const CLT_ST *b, clt_walk it, T p0, T p1) {                          \
    CLT_WALK_BEGIN(it);                                                                              \
      T gv = CLT_LOAD(g, off1), av = CLT_LOAD(a, off2), bv = CLT_LOAD(b, off3);                      \
      CLT_STORE(out, off0, G(gv, av, bv));                                                           \
  }

/* Every gradient kernel the op table's rows name (KERN2, KERN3) and the loss kernels */
#define CLT__GK_EMIT(k, nin) CLT_GRAD##nin(k, k##_s, G_##k)
CLT_GRAD_KERNELS
#undef CLT__GK_EMIT

#if defined(CLT_DT) && CLT_DT == 0
/* gelu's gradient over contiguous float32 runs, 16 elements per work-item, for CPU devices
 * (lib/cl/ew.c; ew_unary.cl: gelu_fwd16): the last work-item finishes element by element. */
__kernel void gelu_bwd16(__global T *out, long oo, __global const T *g, long go, __global const T *s, long so,
                         long n, T p0, T p1) {
  long i = get_global_id(0) * 16;
  if (i + 16 <= n)
    vstore16(G_gelu_bwd_E(vload16(0, g + go + i), vload16(0, s + so + i), clt_erff16, clt_expf16), 0, out + oo + i);
  else
    for (long j = i; j < n; j++) out[oo + j] = G_gelu_bwd(g[go + j], s[so + j], p0, p1);
}
#endif
#endif
#endif
