/* Reductions over the [A, R, B] walk (lib/reduce.h), stamped for one input dtype T. One
 * work-item per (a, chunk, b) reduces its chunk of R in order; with several chunks it writes
 * partials [A, nchunks, B] that the next pass reduces, and the last pass applies the post-op.
 * Sums and products of integers accumulate in long; max/min, argmax/argmin keep T; NaN wins
 * max/min and argmax/argmin, and the first of equal values wins arg ops, as on the host. */

#if CLT_IS_FLOAT
typedef T ACC;
#define SAFE_M(m) (isfinite(m) ? (m) : (T)0)
#else
typedef long ACC;
#endif

#define CLT_REDUCE_INDEX                                        \
  long g = get_global_id(0);                                    \
  if (g >= A * nchunks * B) return;                             \
  long b = g % B, t = g / B, c = t % nchunks, a = t / nchunks;  \
  long r0 = c * chunk, r1 = min(R, r0 + chunk);                 \
  long base = off + a * sA + b * sB;                            \
  long o = (a * nchunks + c) * B + b;

#define CLT_REDUCE_ARGS                                                                              \
  __global const T *in, long off, long A, long R, long B, long sA, long sR, long sB, long chunk,      \
      long nchunks

ACC clt_post(ACC acc, int post, ACC scale, __global const T *m, long mi) {
#if CLT_IS_FLOAT
  if (post == 1) return acc * scale;
  if (post == 2) return sqrt(acc * scale);
  if (post == 3) return log(acc) + SAFE_M(m[mi]);
#endif
  return acc;
}

#define CLT_ACC_KERNEL(NAME, INIT, STEP)                                                              \
  __kernel void NAME(CLT_REDUCE_ARGS, __global ACC *out, long oo, __global const T *m, long mo,       \
                     int post, ACC scale) {                                                           \
    CLT_REDUCE_INDEX                                                                                  \
    ACC acc = INIT;                                                                                   \
    for (long r = r0; r < r1; r++) {                                                                  \
      ACC v = (ACC)in[base + r * sR];                                                                 \
      STEP;                                                                                           \
    }                                                                                                 \
    out[oo + o] = nchunks == 1 ? clt_post(acc, post, scale, m, mo + a * B + b) : acc;                 \
  }

CLT_ACC_KERNEL(reduce_sum, (ACC)0, acc += v)
CLT_ACC_KERNEL(reduce_prod, (ACC)1, acc *= v)
#if CLT_IS_FLOAT
CLT_ACC_KERNEL(reduce_sqdev, (ACC)0, ACC d = v - m[mo + a * B + b]; acc += d * d)
CLT_ACC_KERNEL(reduce_sumexp, (ACC)0, acc += exp(v - SAFE_M(m[mo + a * B + b])))
#endif

/* v beats best: larger (smaller), or NaN over a number; never on ties. */
#if CLT_IS_FLOAT
#define BEATS(v, best, GT) (!isnan(best) && (isnan(v) || (v)GT(best)))
#else
#define BEATS(v, best, GT) ((v)GT(best))
#endif

/* max/min, and argmax/argmin carrying indices (iin: the partial indices of a later pass). */
#define CLT_EXTREME_KERNEL(NAME, GT)                                                                  \
  __kernel void NAME(CLT_REDUCE_ARGS, __global T *vout, long vo, __global long *iout, long io,        \
                     __global const long *iin, int has_iin) {                                         \
    CLT_REDUCE_INDEX                                                                                  \
    T best = in[base + r0 * sR];                                                                      \
    long bi = has_iin ? iin[base + r0 * sR] : r0;                                                     \
    for (long r = r0 + 1; r < r1; r++) {                                                              \
      T v = in[base + r * sR];                                                                        \
      if (BEATS(v, best, GT)) {                                                                       \
        best = v;                                                                                     \
        bi = has_iin ? iin[base + r * sR] : r;                                                        \
      }                                                                                               \
    }                                                                                                 \
    if (vout) vout[vo + o] = best;                                                                    \
    if (iout) iout[io + o] = bi;                                                                      \
  }

CLT_EXTREME_KERNEL(reduce_max, >)
CLT_EXTREME_KERNEL(reduce_min, <)

#if CLT_IS_FLOAT
/* out (a, r, b) = softmax or log_softmax of in along R, given the max m and the sum s of
 * exp(x - m') per (a, b). */
__kernel void softmax_apply(__global const T *in, long off, long A, long R, long B, long sA, long sR, long sB,
                            __global T *out, long oo, long oA, long oR, long oB, __global const T *m,
                            __global const T *s, int logsm) {
  long g = get_global_id(0);
  if (g >= A * R * B) return;
  long b = g % B, t = g / B, r = t % R, a = t / R;
  T x = in[off + a * sA + r * sR + b * sB], mm = SAFE_M(m[a * B + b]), ss = s[a * B + b];
  out[oo + a * oA + r * oR + b * oB] = logsm ? x - mm - log(ss) : exp(x - mm) / ss;
}
#endif
