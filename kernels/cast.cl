/* Casts from one dtype T (built with -DCLT_DT; read through CLT_LOAD) to every dtype:
 * to_<dtype> and to_<dtype>_s. Floats to integers saturate and NaN becomes 0 (OpenCL's _sat
 * conversions); integers to narrower integers wrap; anything to bool is != 0; anything to a
 * 16-bit float rounds once to nearest even. The host (lib/host/ew.c) does the same. */

#define CLT_PLAIN_STORE(p, i, v) ((p)[i] = (v))
#define CLT_CAST_KERNELS(name, OT, EXPR, STORE)                                                   \
  __kernel void to_##name(__global OT *out, long oo, __global const CLT_ST *in, long io, long n) { \
    long i = get_global_id(0);                                                                    \
    if (i < n) {                                                                                  \
      T v = CLT_LOAD(in, io + i);                                                                 \
      STORE(out, oo + i, EXPR);                                                                   \
    }                                                                                             \
  }                                                                                               \
  __kernel void to_##name##_s(__global OT *out, __global const CLT_ST *in, clt_walk it) {        \
    CLT_WALK_BEGIN(it);                                                                          \
      T v = CLT_LOAD(in, off1);                                                                \
      STORE(out, off0, EXPR);                                                                  \
  }

/* v as a float rounded to odd (toward zero, then the last bit set when inexact): rounding that
 * to nearest even into a 16-bit format, whose mantissa is at least 2 bits shorter, gives v
 * rounded once, where float's own rounding then the 16-bit one could round a value just past
 * a tie to the tie and then to even. Exact sources (float, the 16-bit types, uint8) pass. */
#if CLT_DT == 1 || CLT_DT == 2 || CLT_DT == 3
float clt_to_odd(T v) {
  float f = convert_float_rtz(v);
#if CLT_DT == 1
  bool exact = (double)f == v || v != v;
#else
  bool exact = (T)f == v; /* |f| <= |v|: in range */
#endif
  return exact ? f : as_float(as_uint(f) | 1u);
}
#define CLT_TO_16(v) clt_to_odd(v)
#else
#define CLT_TO_16(v) ((float)(v))
#endif

#if CLT_IS_FLOAT
/* NaN is mapped to 0 explicitly: the spec's _sat conversions should do it, but NVIDIA's driver
 * 580 turns NaN into LONG_MIN in convert_long_sat (found by the cast test on an H100). */
#define CLT_TO_INT(OT) (isnan(v) ? (OT)0 : convert_##OT##_sat(v))
#else
#define CLT_TO_INT(OT) ((OT)v)
#endif

CLT_CAST_KERNELS(float32, float, (float)v, CLT_PLAIN_STORE)
#if CLT_FP64
CLT_CAST_KERNELS(float64, double, (double)v, CLT_PLAIN_STORE)
#endif
CLT_CAST_KERNELS(int32, int, CLT_TO_INT(int), CLT_PLAIN_STORE)
CLT_CAST_KERNELS(int64, long, CLT_TO_INT(long), CLT_PLAIN_STORE)
CLT_CAST_KERNELS(uint8, uchar, CLT_TO_INT(uchar), CLT_PLAIN_STORE)
CLT_CAST_KERNELS(bool, clt_bool, (clt_bool)(v != (T)0), CLT_PLAIN_STORE)
CLT_CAST_KERNELS(float16, ushort, CLT_TO_16(v), CLT_F16_STORE)
CLT_CAST_KERNELS(bfloat16, ushort, CLT_TO_16(v), CLT_BF16_STORE)

/* to_<dtype>_w: CLT_WIDE elements per work-item between float32, float16 and bfloat16 on CPU
 * devices (common.clh), for casts to or from a 16-bit type (lib/cl/ew.c); the last work-item
 * finishes the run element by element. */
#if defined(CLT_WIDE) && (CLT_DT == 0 || CLT_IS_16)
#if CLT_DT == 0
#define CLT_CAST_WLOAD clt_f32_loadw
#else
#define CLT_CAST_WLOAD CLT_WLOAD_EXACT
#endif
#define CLT_CAST_WSTEP(h, WSTORE) WSTORE(out + oo + i + h, CLT_CAST_WLOAD(in + io + i + h));
#define CLT_CAST_WIDE(name, OT, WSTORE, EXPR, STORE)                                                 \
  __kernel void to_##name##_w(__global OT *out, long oo, __global const CLT_ST *in, long io, long n) { \
    long i = get_global_id(0) * CLT_WIDE;                                                            \
    if (i + CLT_WIDE <= n) {                                                                         \
      CLT_WSTEPS(CLT_CAST_WSTEP, WSTORE)                                                             \
    } else                                                                                           \
      for (long j = i; j < n; j++) {                                                                 \
        T v = CLT_LOAD(in, io + j);                                                                  \
        STORE(out, oo + j, EXPR);                                                                    \
      }                                                                                              \
  }
CLT_CAST_WIDE(float32, float, clt_f32_storew, (float)v, CLT_PLAIN_STORE)
CLT_CAST_WIDE(float16, ushort, clt_f16_storew, CLT_TO_16(v), CLT_F16_STORE)
CLT_CAST_WIDE(bfloat16, ushort, clt_bf16_storew, CLT_TO_16(v), CLT_BF16_STORE)
#endif
