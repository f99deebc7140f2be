/* Casts from one dtype T (built with -DCLT_DT) to every dtype: to_<dtype> and to_<dtype>_s.
 * Floats to integers saturate and NaN becomes 0 (OpenCL's _sat conversions); integers to
 * narrower integers wrap; anything to bool is != 0. The host (lib/host/ew.c) does the same. */

#define CLT_CAST_KERNELS(name, OT, EXPR)                                                          \
  __kernel void to_##name(__global OT *out, long oo, __global const T *in, long io, long n) {    \
    long i = get_global_id(0);                                                                    \
    if (i < n) {                                                                                  \
      T v = in[io + i];                                                                           \
      out[oo + i] = EXPR;                                                                         \
    }                                                                                             \
  }                                                                                               \
  __kernel void to_##name##_s(__global OT *out, __global const T *in, clt_walk it) {             \
    CLT_WALK_BEGIN(it);                                                                          \
      T v = in[off1];                                                                          \
      out[off0] = EXPR;                                                                        \
  }

#if CLT_IS_FLOAT
/* NaN is mapped to 0 explicitly: the spec's _sat conversions should do it, but NVIDIA's driver
 * 580 turns NaN into LONG_MIN in convert_long_sat (found by the cast test on an H100). */
#define CLT_TO_INT(OT) (isnan(v) ? (OT)0 : convert_##OT##_sat(v))
#else
#define CLT_TO_INT(OT) ((OT)v)
#endif

CLT_CAST_KERNELS(float32, float, (float)v)
#if CLT_FP64
CLT_CAST_KERNELS(float64, double, (double)v)
#endif
CLT_CAST_KERNELS(int32, int, CLT_TO_INT(int))
CLT_CAST_KERNELS(int64, long, CLT_TO_INT(long))
CLT_CAST_KERNELS(uint8, uchar, CLT_TO_INT(uchar))
CLT_CAST_KERNELS(bool, clt_bool, (clt_bool)(v != (T)0))
