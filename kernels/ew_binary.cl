/* Binary elementwise ops, stamped for one input dtype T (built with -DCLT_DT): arithmetic (result
 * T), comparisons and logical ops (result bool), and where. Kernels per op:
 *   <op>_fwd      a, b contiguous (element offsets)      <op>_fwd_s    any strides (clt_iter)
 *   <op>_fwd_c    b is the scalar p0, a contiguous        <op>_fwd_cs   b is p0, a strided
 *   <op>_fwd_rc   a is the scalar p0, b contiguous        <op>_fwd_rcs  a is p0, b strided
 * (the _c forms for rows whose forms are TS or TSR, the _rc forms for TSR rows).
 * The scalar forms take the unary kernels' arguments (out, oo, in, io, n, p0, p1). K_<op>(a, b, sc)
 * is the op's expression; sc is 1 where b is the scalar p0 (the _c forms), which only pow
 * reads: PyTorch computes a power by a Python scalar 0.5 or -0.5 as sqrt or rsqrt (common.clh:
 * CLT_POW_SCALAR), and a power by a tensor with pow. */

#if CLT_IS_INT
/* Integer power by squaring; a negative exponent gives the truncated result (0 unless |a| = 1). */
T clt_ipow(T a, T b) {
#ifndef CLT_IS_UNSIGNED
  if (b < 0) return a == 1 ? (T)1 : a == (T)-1 ? (T)((b & 1) ? -1 : 1) : (T)0;
#endif
  T r = 1;
  while (b) {
    if (b & 1) r *= a;
    a *= a;
    b >>= 1;
  }
  return r;
}
#define K_pow(a, b, sc) clt_ipow(a, b)
#else
#define K_pow(a, b, sc) ((sc) ? CLT_POW_SCALAR(a, b) : pow(a, b))
#endif

#define K_add(a, b, sc) ((a) + (b))
#define K_sub(a, b, sc) ((a) - (b))
#define K_mul(a, b, sc) ((a) * (b))
#define K_div(a, b, sc) ((a) / (b))
#if CLT_IS_FLOAT /* NaN propagates, as in PyTorch */
#define K_maximum(a, b, sc) (((a) > (b) || isnan(a)) ? (a) : (b))
#define K_minimum(a, b, sc) (((a) < (b) || isnan(a)) ? (a) : (b))
#else
#define K_maximum(a, b, sc) ((a) > (b) ? (a) : (b))
#define K_minimum(a, b, sc) ((a) < (b) ? (a) : (b))
#endif
#define K_eq(a, b, sc) ((a) == (b))
#define K_ne(a, b, sc) ((a) != (b))
#define K_lt(a, b, sc) ((a) < (b))
#define K_le(a, b, sc) ((a) <= (b))
#define K_gt(a, b, sc) ((a) > (b))
#define K_ge(a, b, sc) ((a) >= (b))
#define K_logical_and(a, b, sc) ((a) != (T)0 && (b) != (T)0)
#define K_logical_or(a, b, sc) ((a) != (T)0 || (b) != (T)0)
#define K_logical_xor(a, b, sc) (((a) != (T)0) != ((b) != (T)0))

/* Fused chains (lib/cl/ew.c) take the expressions above without these kernels. */
#ifndef CLT_EW_EXPR_ONLY
/* The op's name is pasted (##) where the table's X macro receives it, never passed on bare: an
 * OpenCL implementation may define builtins such as pow as macros, and a bare name would expand
 * on its way through. */
#define CLT_BINARY_TENSOR_KERNELS(FWD, FWD_S, K, OT)                                               \
  __kernel void FWD(__global CLT_OST_##OT *out, long oo, __global const CLT_ST *a, long ao,          \
                    __global const CLT_ST *b, long bo, long n) {                                     \
    long i = get_global_id(0);                                                                     \
    if (i < n) {                                                                                   \
      T x = CLT_LOAD(a, ao + i), y = CLT_LOAD(b, bo + i);                                          \
      CLT_OSTORE_##OT(out, oo + i, (OT)K(x, y, 0));                                                \
    }                                                                                              \
  }                                                                                                \
  __kernel void FWD_S(__global CLT_OST_##OT *out, __global const CLT_ST *a, __global const CLT_ST *b, \
                      clt_walk it) {                                                               \
    CLT_WALK_BEGIN(it);                                                                            \
      T x = CLT_LOAD(a, off1), y = CLT_LOAD(b, off2);                                              \
      CLT_OSTORE_##OT(out, off0, (OT)K(x, y, 0));                                                  \
  }                                                                                                \
  CLT_BINARY_WIDE_##OT(FWD, K(v, w, 0), CLT_NO_PARAMS)

#define CLT_SCALAR_KERNELS(FWD, FWD_S, K, OT, X, Y, SC)                                            \
  __kernel void FWD(__global CLT_OST_##OT *out, long oo, __global const CLT_ST *in, long io, long n, \
                    T p0, T p1) {                                                                  \
    long i = get_global_id(0);                                                                     \
    if (i < n) {                                                                                   \
      T v = CLT_LOAD(in, io + i);                                                                  \
      CLT_OSTORE_##OT(out, oo + i, (OT)K(X, Y, SC));                                               \
    }                                                                                              \
  }                                                                                                \
  __kernel void FWD_S(__global CLT_OST_##OT *out, __global const CLT_ST *in, clt_walk it, T p0, T p1) { \
    CLT_WALK_BEGIN(it);                                                                            \
      T v = CLT_LOAD(in, off1);                                                                    \
      CLT_OSTORE_##OT(out, off0, (OT)K(X, Y, SC));                                                 \
  }                                                                                                \
  CLT_SCALAR_WIDE_##OT(FWD, K(X, Y, SC))

/* <op>_fwd_w, <op>_fwd_c_w, <op>_fwd_rc_w: CLT_WIDE elements per work-item, for 16-bit results
 * on CPU devices (common.clh); the scalar forms read v where the one-element kernels do. */
#define CLT_NO_PARAMS
#ifdef CLT_WLOAD
#define CLT_BINARY_WIDE_T(FWD, E, PARAMS) CLT_WIDE_KERNEL2(FWD##_w, E, PARAMS)
#define CLT_SCALAR_WIDE_T(FWD, E) CLT_WIDE_KERNEL1(FWD##_w, E)
#else
#define CLT_BINARY_WIDE_T(FWD, E, PARAMS)
#define CLT_SCALAR_WIDE_T(FWD, E)
#endif
#define CLT_BINARY_WIDE_clt_bool(FWD, E, PARAMS)
#define CLT_SCALAR_WIDE_clt_bool(FWD, E)

/* The kernels of each row (lib/optable.h), for the dtypes its rule takes, and the scalar forms
 * its forms column names: a op s takes p0 as b (sc 1), s op b as a (sc 0). */
#define CLT_BINARY_ROW(name, v, rule, forms, ga, gb, gs, gr, da, db, doc) \
  CLT_BINARY_##rule(name##_fwd, name##_fwd_s, K_##name)                   \
  CLT_FORMS_##forms(name##_fwd_c, name##_fwd_cs, name##_fwd_rc, name##_fwd_rcs, K_##name, CLT_SCALAR_##rule)
#define CLT_FORMS_T(C, CS, RC, RCS, K, SC)
#define CLT_FORMS_TS(C, CS, RC, RCS, K, SC) SC(C, CS, K, v, p0, 1)
#define CLT_FORMS_TSR(C, CS, RC, RCS, K, SC) SC(C, CS, K, v, p0, 1) SC(RC, RCS, K, p0, v, 0)
#if CLT_IS_FLOAT || CLT_IS_INT
#define CLT_BINARY_INT(FWD, FWD_S, K) CLT_BINARY_TENSOR_KERNELS(FWD, FWD_S, K, T)
#define CLT_SCALAR_INT(FWD, FWD_S, K, X, Y, SC) CLT_SCALAR_KERNELS(FWD, FWD_S, K, T, X, Y, SC)
#else
#define CLT_BINARY_INT(FWD, FWD_S, K)
#define CLT_SCALAR_INT(FWD, FWD_S, K, X, Y, SC)
#endif
#if CLT_IS_FLOAT
#define CLT_BINARY_FLOAT(FWD, FWD_S, K) CLT_BINARY_TENSOR_KERNELS(FWD, FWD_S, K, T)
#define CLT_SCALAR_FLOAT(FWD, FWD_S, K, X, Y, SC) CLT_SCALAR_KERNELS(FWD, FWD_S, K, T, X, Y, SC)
#else
#define CLT_BINARY_FLOAT(FWD, FWD_S, K)
#define CLT_SCALAR_FLOAT(FWD, FWD_S, K, X, Y, SC)
#endif
#define CLT_BINARY_INT_OR CLT_BINARY_INT
#define CLT_BINARY_INT_AND CLT_BINARY_INT
#define CLT_BINARY_INT_NOBOOL CLT_BINARY_INT
#define CLT_SCALAR_INT_OR CLT_SCALAR_INT
#define CLT_SCALAR_INT_AND CLT_SCALAR_INT
#define CLT_SCALAR_INT_NOBOOL CLT_SCALAR_INT
#define CLT_BINARY_CMP(FWD, FWD_S, K) CLT_BINARY_TENSOR_KERNELS(FWD, FWD_S, K, clt_bool)
#define CLT_SCALAR_CMP(FWD, FWD_S, K, X, Y, SC) CLT_SCALAR_KERNELS(FWD, FWD_S, K, clt_bool, X, Y, SC)
#define CLT_BINARY_LOGIC CLT_BINARY_CMP
#define CLT_SCALAR_LOGIC CLT_SCALAR_CMP
CLT_BINARY_OPS(CLT_BINARY_ROW)

/* where(cond, a, b): cond is bool. */
__kernel void where_fwd(__global CLT_ST *out, long oo, __global const clt_bool *c, long co, __global const CLT_ST *a,
                        long ao, __global const CLT_ST *b, long bo, long n) {
  long i = get_global_id(0);
  if (i < n) CLT_STORE(out, oo + i, c[co + i] ? CLT_LOAD(a, ao + i) : CLT_LOAD(b, bo + i));
}

__kernel void where_fwd_s(__global CLT_ST *out, __global const clt_bool *c, __global const CLT_ST *a,
                          __global const CLT_ST *b, clt_walk it) {
  CLT_WALK_BEGIN(it);
    CLT_STORE(out, off0, c[off1] ? CLT_LOAD(a, off2) : CLT_LOAD(b, off3));
}
#endif
