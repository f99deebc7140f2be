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

#if CLT_IS_FLOAT
/* var, std and their gradient's mean work on x 2^-e, e per output from its slice's largest |x|
 * (reduce_maxabs): 2^e > max |x|, so the scaled values are below 1 in magnitude, their mean
 * and deviations below 2, and the sum of squared deviations neither overflows (for |x| past
 * 1.8e19 in float, (x - mean)^2 did: std([1e20, -1e20]) was inf) nor underflows (below 1e-19:
 * std([1e-30, -1e-30]) was 0). The scaling is exact: e is clamped so that 2^-e is a normal
 * float, and the post-ops scale back with ldexp. lib/reduce_host.c does the same. */
#if CLT_DT == 0
#define CLT_EXP_LO -100
#define CLT_EXP_HI 126
/* e = ilogb(max) + 1, clamped, and 2^-e, read and written as bits (a subnormal or 0 max gives
 * the low clamp, inf the high one) */
int clt_slice_exp(T maxabs) { return clamp((int)((as_uint(maxabs) >> 23) & 0xff) - 126, CLT_EXP_LO, CLT_EXP_HI); }
#define CLT_SLICE_SCALE(maxabs) as_float((uint)(127 - clt_slice_exp(maxabs)) << 23)
#else
#define CLT_EXP_LO -1000
#define CLT_EXP_HI 1022
int clt_slice_exp(T maxabs) { return clamp((int)((as_ulong(maxabs) >> 52) & 0x7ff) - 1022, CLT_EXP_LO, CLT_EXP_HI); }
#define CLT_SLICE_SCALE(maxabs) as_double((ulong)(1023 - clt_slice_exp(maxabs)) << 52)
#endif
#endif

/* The post-op (lib/reduce.h: clt__rpost) of the output whose first-pass vector m is at mi. */
ACC clt_post(ACC acc, int post, ACC scale, __global const T *m, long mi) {
#if CLT_IS_FLOAT
  if (post == 1) return acc * scale;
  if (post == 2) return ldexp(sqrt(acc * scale), clt_slice_exp(m[mi])); /* std */
  if (post == 3) return log(acc) + SAFE_M(m[mi]);
  if (post == 4) return ldexp(acc * scale, 2 * clt_slice_exp(m[mi])); /* var */
  if (post == 5) return ldexp(acc * scale, clt_slice_exp(m[mi]));     /* mean of x 2^-e */
#endif
  return acc;
}

/* A float chunk that is contiguous (sR = 1) is read 16 elements at a time into 4 x 16
 * accumulators: the loop is no longer bound by the latency of one add, and PoCL runs it on
 * vector registers (float sums over rows: 10 -> 40+ GB/s with one vector of 8; a sum of 1e6
 * floats in 256 chunks 90 -> 130 GB/s with four of 16; the library's exp 2x faster on 16 lanes
 * than on 8). The accumulators, then the lanes, combine pairwise at the end, which also makes
 * the rounding error smaller, not larger, than a sequential sum's. */
#if CLT_DT == 0
typedef float16 T16;
typedef float8 T8;
typedef float4 T4;
typedef float2 T2;
#elif CLT_DT == 1
typedef double16 T16;
typedef double8 T8;
typedef double4 T4;
typedef double2 T2;
#endif
/* C(v.lo, v.hi) of a 16-lane vector v, lane by lane: Oclgrind 21.10 reports the lanes of
 * a 16-to-8 split (.lo, .hi, .even, swizzles) as uninitialized, and so every result of
 * tools/oclgrind.sh's reductions; C takes and gives scalars. SEL: the lane that beats the other
 * by GT (> or <), else the first. */
#define CLT_PICK(a, b, GT) ((b) GT (a) ? (b) : (a))
#define CLT_FOLD16(C, v)                      \
  ((T8)(C((v).s0, (v).s8), C((v).s1, (v).s9), \
    C((v).s2, (v).sa), C((v).s3, (v).sb),     \
    C((v).s4, (v).sc), C((v).s5, (v).sd),     \
    C((v).s6, (v).se), C((v).s7, (v).sf)))
#define CLT_FOLD16_SEL(v, GT)                                       \
  ((T8)(CLT_PICK((v).s0, (v).s8, GT), CLT_PICK((v).s1, (v).s9, GT), \
    CLT_PICK((v).s2, (v).sa, GT), CLT_PICK((v).s3, (v).sb, GT),     \
    CLT_PICK((v).s4, (v).sc, GT), CLT_PICK((v).s5, (v).sd, GT),     \
    CLT_PICK((v).s6, (v).se, GT), CLT_PICK((v).s7, (v).sf, GT)))
/* acc (a vector) STEPped by v, kept in accumulator A */
#define CLT_VSTEP(A, V, STEP) \
  {                           \
    T16 v = (V), acc = (A);   \
    STEP;                     \
    A = acc;                  \
  }
#if CLT_IS_FLOAT
#define CLT_VEC_CHUNK(INIT, STEP, COMB)                                                               \
  if (sR == 1 && r1 - r0 >= 32) {                                                                     \
    __global const T *p = in + base;                                                                  \
    T16 a0 = (T16)(INIT), a1 = a0, a2 = a0, a3 = a0;                                                  \
    long r = r0;                                                                                      \
    for (; r + 64 <= r1; r += 64) {                                                                   \
      CLT_VSTEP(a0, vload16(0, p + r), STEP)                                                          \
      CLT_VSTEP(a1, vload16(0, p + r + 16), STEP)                                                     \
      CLT_VSTEP(a2, vload16(0, p + r + 32), STEP)                                                     \
      CLT_VSTEP(a3, vload16(0, p + r + 48), STEP)                                                     \
    }                                                                                                 \
    for (; r + 16 <= r1; r += 16) CLT_VSTEP(a0, vload16(0, p + r), STEP)                              \
    T16 a16 = COMB(COMB(a0, a1), COMB(a2, a3));                                                       \
    T8 h8 = CLT_FOLD16(COMB, a16);                                                                    \
    T4 h4 = COMB(h8.lo, h8.hi);                                                                       \
    T2 h2 = COMB(h4.lo, h4.hi);                                                                       \
    acc = COMB(h2.x, h2.y);                                                                           \
    r0 = r;                                                                                           \
  }
#else
#define CLT_VEC_CHUNK(INIT, STEP, COMB)
#endif
#define COMB_ADD(x, y) ((x) + (y))
#define COMB_MUL(x, y) ((x) * (y))
#define CLT_MAXC(x, y) ((y) > (x) ? (y) : (x))

/* PRE declares what STEP reads per output (a statement, or nothing). */
#define CLT_ACC_KERNEL(NAME, INIT, PRE, STEP, COMB)                                                   \
  __kernel void NAME(CLT_REDUCE_ARGS, __global ACC *out, long oo, __global const T *m, long mo,       \
                     int post, ACC scale) {                                                           \
    CLT_REDUCE_INDEX                                                                                  \
    PRE                                                                                               \
    ACC acc = INIT;                                                                                   \
    CLT_VEC_CHUNK(INIT, STEP, COMB)                                                                   \
    for (long r = r0; r < r1; r++) {                                                                  \
      ACC v = (ACC)in[base + r * sR];                                                                 \
      STEP;                                                                                           \
    }                                                                                                 \
    out[oo + o] = nchunks == 1 ? clt_post(acc, post, scale, m, mo + a * B + b) : acc;                 \
  }

/* Sums and products down columns (sB = 1) on CPU devices: a work-item per 16 adjacent columns
 * and chunk of R reads them as one vector per r, two rows at a time into two accumulators, so
 * that its loop runs on vector registers (PoCL does not vectorize across work-items whose bodies
 * hold a loop) and 64 bytes, a cache line, per row. The last work-item of a row takes the
 * columns left over one by one. (Measured on PoCL, x.sum(0) over 1000 columns, n = 1e6: 8
 * columns and one accumulator per work-item 53 GB/s; 16 and two 60-87; a work-item per chunk of
 * whole rows, accumulating into its partial row in memory, 29.) */
#if CLT_IS_FLOAT
#define CLT_ACC_KERNEL_B16(NAME, INIT, STEP, COMB)                                                    \
  __kernel void NAME##_b16(CLT_REDUCE_ARGS, __global ACC *out, long oo, __global const T *m, long mo, \
                           int post, ACC scale) {                                                     \
    long B16 = (B + 15) / 16, g = get_global_id(0);                                                   \
    if (g >= A * nchunks * B16) return;                                                               \
    long b = g % B16 * 16, t = g / B16, c = t % nchunks, a = t / nchunks;                             \
    long r0 = c * chunk, r1 = min(R, r0 + chunk);                                                     \
    long base = off + a * sA + b, o = (a * nchunks + c) * B + b;                                      \
    T lanes[16];                                                                                      \
    int nl = (int)min((long)16, B - b);                                                               \
    if (nl == 16) {                                                                                   \
      T16 a0 = (T16)(INIT), a1 = a0;                                                                  \
      __global const T *p = in + base;                                                                \
      long r = r0;                                                                                    \
      for (; r + 2 <= r1; r += 2) {                                                                   \
        {                                                                                             \
          T16 acc = a0, v = vload16(0, p + r * sR);                                                   \
          STEP;                                                                                       \
          a0 = acc;                                                                                   \
        }                                                                                             \
        {                                                                                             \
          T16 acc = a1, v = vload16(0, p + (r + 1) * sR);                                             \
          STEP;                                                                                       \
          a1 = acc;                                                                                   \
        }                                                                                             \
      }                                                                                               \
      if (r < r1) {                                                                                   \
        T16 acc = a0, v = vload16(0, p + r * sR);                                                     \
        STEP;                                                                                         \
        a0 = acc;                                                                                     \
      }                                                                                               \
      vstore16(COMB(a0, a1), 0, lanes);                                                               \
    } else {                                                                                          \
      for (int l = 0; l < nl; l++) {                                                                  \
        T acc = INIT;                                                                                 \
        for (long r = r0; r < r1; r++) {                                                              \
          T v = in[base + l + r * sR];                                                                \
          STEP;                                                                                       \
        }                                                                                             \
        lanes[l] = acc;                                                                               \
      }                                                                                               \
    }                                                                                                 \
    for (int l = 0; l < nl; l++)                                                                      \
      out[oo + o + l] = nchunks == 1 ? clt_post(lanes[l], post, scale, m, mo + a * B + b + l) : lanes[l]; \
  }
#if !CLT_GPU
CLT_ACC_KERNEL_B16(reduce_sum, (T)0, acc += v, COMB_ADD)
CLT_ACC_KERNEL_B16(reduce_prod, (T)1, acc *= v, COMB_MUL)
#endif
#endif

/* The accumulating reductions, each (NAME, INIT, PRE, STEP, COMB), stamped below by the CPU- or
 * the GPU-shaped kernel. m holds max |x| per output (reduce_maxabs); then the mean ms of x 2^-e
 * (reduce_sumsc); then the mean rs of x 2^-e - ms (reduce_devsum), which is what rounding the
 * mean to T lost, so that sqdev's deviations are from the mean itself: without rs a row a few
 * ulp apart came out 3% off (var adds the rounding's square). */
#define CLT_ACC_OPS(X)                     \
  X(reduce_sum, (ACC)0, , acc += v, COMB_ADD) \
  X(reduce_prod, (ACC)1, , acc *= v, COMB_MUL)
#if CLT_IS_FLOAT
#define CLT_SLICE_SC T sc = CLT_SLICE_SCALE(m[mo + a * B + b]);
#define CLT_SLICE_MS T ms = m[mo + (A + a) * B + b];
#define CLT_SLICE_RS T rs = m[mo + (2 * A + a) * B + b];
#define CLT_FLOAT_ACC_OPS(X)                                                                               \
  /* maxabs not by fmax: a call per lane on PoCL */                                                      \
  X(reduce_maxabs, (ACC)0, , acc = fabs(v) > acc ? fabs(v) : acc, CLT_MAXC)                               \
  X(reduce_sumsc, (ACC)0, CLT_SLICE_SC, acc += v * sc, COMB_ADD)                                           \
  X(reduce_devsum, (ACC)0, CLT_SLICE_SC CLT_SLICE_MS, acc += v * sc - ms, COMB_ADD)                        \
  X(reduce_sqdev, (ACC)0, CLT_SLICE_SC CLT_SLICE_MS CLT_SLICE_RS, acc += (v * sc - ms - rs) * (v * sc - ms - rs), \
    COMB_ADD)                                                                                              \
  X(reduce_sumexp, (ACC)0, , acc += exp(v - SAFE_M(m[mo + a * B + b])) /* v may be T8: the library's vector exp */, \
    COMB_ADD)
#else
#define CLT_FLOAT_ACC_OPS(X)
#endif

/* v beats best: larger (smaller), or NaN over a number; never on ties. */
#if CLT_IS_FLOAT
#define BEATS(v, best, GT) (!isnan(best) && (isnan(v) || (v)GT(best)))
#else
#define BEATS(v, best, GT) ((v)GT(best))
#endif

/* A contiguous float chunk of a first pass (no partial indices in), 16 lanes at a time: the
 * extreme by comparisons and selects only, NaNs noted in a mask on the side (PoCL calls isnan
 * and fmax per lane, and a lane index carried in the loop doubled its cost: argmax over rows of
 * 1000 floats on PoCL ran at 0.6 GB/s scalar, 9 with 8 lanes carrying indices and isnan). The
 * index, when wanted, is then the first element equal to the extreme, or the first NaN: the
 * first of equal values, as the scalar loop, found by a second read of the chunk from cache
 * that stops there. A NaN lane of bv never takes a number, but then the NaN mask decides. The
 * lanes combine by halves, not through a private array indexed by lane (4x slower on PoCL). */
#if CLT_DT == 0
typedef int16 IX16;
typedef int8 IX8;
typedef int4 IX4;
typedef int2 IX2;
#elif CLT_DT == 1
typedef long16 IX16;
typedef long8 IX8;
typedef long4 IX4;
typedef long2 IX2;
#endif
/* any lane of the IX16 variable m set, lane by lane: with any(), with halves ORed together or
 * with a helper function, PoCL ran the max over rows of 1000 floats 4-8x slower (50 us at n =
 * 1e6 this way, 210-400 those) */
#define CLT_OR16(m)                                                                                   \
  ((m.s0 | m.s1 | m.s2 | m.s3 | m.s4 | m.s5 | m.s6 | m.s7 | m.s8 | m.s9 | m.sa | m.sb | m.sc | m.sd | \
    m.se | m.sf) != 0)
#if CLT_IS_FLOAT
#define CLT_VEC_EXTREME(GT)                                                                           \
  if (!has_iin && sR == 1 && r1 - r0 >= 32) {                                                         \
    __global const T *p = in + base;                                                                  \
    T16 bv = vload16(0, p + r0);                                                                      \
    IX16 nanv = bv != bv;                                                                             \
    long r = r0 + 16;                                                                                 \
    for (; r + 16 <= r1; r += 16) {                                                                   \
      T16 v = vload16(0, p + r);                                                                      \
      bv = select(bv, v, v GT bv);                                                                    \
      nanv |= v != v;                                                                                 \
    }                                                                                                 \
    T8 b8 = CLT_FOLD16_SEL(bv, GT);                                                                   \
    T4 b4 = select(b8.lo, b8.hi, b8.hi GT b8.lo);                                                     \
    T2 b2 = select(b4.lo, b4.hi, b4.hi GT b4.lo);                                                     \
    best = b2.y GT b2.x ? b2.y : b2.x;                                                                \
    bool nan = CLT_OR16(nanv);                                                                        \
    for (; r < r1; r++) {                                                                             \
      T v = p[r];                                                                                     \
      nan |= v != v;                                                                                  \
      if (v GT best) best = v;                                                                        \
    }                                                                                                 \
    if (nan) best = NAN;                                                                              \
    if (iout) {                                                                                       \
      long q = r0;                                                                                    \
      if (nan)                                                                                        \
        while (p[q] == p[q]) q++;                                                                     \
      else {                                                                                          \
        for (; q + 16 <= r1; q += 16) {                                                               \
          IX16 eq = vload16(0, p + q) == (T16)best;                                                   \
          if (CLT_OR16(eq)) break;                                                                    \
        }                                                                                             \
        while (p[q] != best) q++;                                                                     \
      }                                                                                               \
      bi = q;                                                                                         \
    }                                                                                                 \
    rs = r1;                                                                                          \
  }
#else
#define CLT_VEC_EXTREME(GT)
#endif

/* max/min, and argmax/argmin carrying indices (iin: the partial indices of a later pass). */
#define CLT_EXTREME_KERNEL(NAME, GT)                                                                  \
  __kernel void NAME(CLT_REDUCE_ARGS, __global T *vout, long vo, __global long *iout, long io,        \
                     __global const long *iin, int has_iin) {                                         \
    CLT_REDUCE_INDEX                                                                                  \
    T best = in[base + r0 * sR];                                                                      \
    long bi = has_iin ? iin[base + r0 * sR] : r0;                                                     \
    long rs = r0 + 1;                                                                                 \
    CLT_VEC_EXTREME(GT)                                                                               \
    for (long r = rs; r < r1; r++) {                                                                  \
      T v = in[base + r * sR];                                                                        \
      if (BEATS(v, best, GT)) {                                                                       \
        best = v;                                                                                     \
        bi = has_iin ? iin[base + r * sR] : r;                                                        \
      }                                                                                               \
    }                                                                                                 \
    if (vout) vout[vo + o] = best;                                                                    \
    if (iout) iout[io + o] = bi;                                                                      \
  }

#if !CLT_GPU
CLT_ACC_OPS(CLT_ACC_KERNEL)
CLT_FLOAT_ACC_OPS(CLT_ACC_KERNEL)
CLT_EXTREME_KERNEL(reduce_max, >)
CLT_EXTREME_KERNEL(reduce_min, <)
#endif

#if CLT_GPU
/* GPU-shaped reductions (lib/cl/reduce.c, CLT_KERNEL_VARIANT): a work-group of wg = 2^k
 * work-items (at most CLT_WG_MAX) holds wg / (LB LR) slots of LB x LR lanes, lanes over b
 * fastest. A slot is one output block of LB adjacent b and one chunk of R of one a; its lanes
 * read the chunk LR rows apart, so a work-group's reads are adjacent in memory whichever of r
 * (LB = 1) or b steps by one element, then combine in local memory, LR/2 lanes at a time.
 * lbb and lrb are log2 LB and log2 LR; the host picks them from a few powers of two, so the
 * launch shape is always the same and no tensor size builds anything. */
#define CLT_WG_INDEX                                                                             \
  uint lid = get_local_id(0), LR = 1u << lrb;                                                    \
  uint lb = lid & ((1u << lbb) - 1), lr = (lid >> lbb) & (LR - 1);                               \
  long nbg = (B + (1L << lbb) - 1) >> lbb;                                                       \
  long slot = (long)get_group_id(0) * (long)(get_local_size(0) >> (lbb + lrb)) + (lid >> (lbb + lrb)); \
  long bg = slot % nbg, t = slot / nbg, c = t % nchunks, a = t / nchunks;                       \
  long b = (bg << lbb) + lb;                                                                     \
  bool active = a < A && b < B;                                                                  \
  long r0 = c * chunk, r1 = min(R, r0 + chunk);                                                  \
  long base = off + a * sA + b * sB;                                                             \
  long o = (a * nchunks + c) * B + b;

#define CLT_WG_ACC_KERNEL(NAME, INIT, PRE, STEP, COMB)                                                \
  __kernel void NAME##_wg(CLT_REDUCE_ARGS, __global ACC *out, long oo, __global const T *m, long mo, \
                          int post, ACC scale, int lbb, int lrb) {                                  \
    __local ACC sh[CLT_WG_MAX];                                                                       \
    CLT_WG_INDEX                                                                                      \
    ACC acc = INIT;                                                                                   \
    if (active) {                                                                                     \
      PRE                                                                                             \
      long i = base + (r0 + lr) * sR, di = (long)LR * sR;                                             \
      for (long r = r0 + lr; r < r1; r += LR, i += di) {                                              \
        ACC v = (ACC)in[i];                                                                           \
        STEP;                                                                                         \
      }                                                                                               \
    }                                                                                                 \
    sh[lid] = acc;                                                                                    \
    CLT_WG_TREE(lr, LR, 1u << lbb, sh[lid] = COMB(sh[lid], sh[j]))                                                       \
    if (active && lr == 0) out[oo + o] = nchunks == 1 ? clt_post(sh[lid], post, scale, m, mo + a * B + b) : sh[lid]; \
  }

/* max/min and their indices: a lane keeps its first best (bi < 0: no element yet), and the tree
 * takes the other lane's pair when it beats this one, or ties it (equal, or both NaN) with a
 * smaller index, so the first of equal values wins as in one sequential pass. */
#define CLT_WG_EXTREME_KERNEL(NAME, GT)                                                               \
  __kernel void NAME##_wg(CLT_REDUCE_ARGS, __global T *vout, long vo, __global long *iout, long io, \
                          __global const long *iin, int has_iin, int lbb, int lrb) {                \
    __local T sv[CLT_WG_MAX];                                                                         \
    __local long si[CLT_WG_MAX];                                                                      \
    CLT_WG_INDEX                                                                                      \
    T best = 0;                                                                                       \
    long bi = -1;                                                                                     \
    if (active) {                                                                                     \
      long i = base + (r0 + lr) * sR, di = (long)LR * sR;                                             \
      for (long r = r0 + lr; r < r1; r += LR, i += di) {                                              \
        T v = in[i];                                                                                  \
        if (bi < 0 || BEATS(v, best, GT)) {                                                           \
          best = v;                                                                                   \
          bi = has_iin ? iin[i] : r;                                                                  \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
    sv[lid] = best;                                                                                   \
    si[lid] = bi;                                                                                     \
    CLT_WG_TREE(lr, LR, 1u << lbb, if (si[j] >= 0 && (si[lid] < 0 || BEATS(sv[j], sv[lid], GT) ||                       \
                                   (!BEATS(sv[lid], sv[j], GT) && si[j] < si[lid]))) {                \
      sv[lid] = sv[j];                                                                                \
      si[lid] = si[j];                                                                                \
    })                                                                                                \
    if (active && lr == 0) {                                                                          \
      if (vout) vout[vo + o] = sv[lid];                                                               \
      if (iout) iout[io + o] = si[lid];                                                               \
    }                                                                                                 \
  }

CLT_ACC_OPS(CLT_WG_ACC_KERNEL)
CLT_FLOAT_ACC_OPS(CLT_WG_ACC_KERNEL)
CLT_WG_EXTREME_KERNEL(reduce_max, >)
CLT_WG_EXTREME_KERNEL(reduce_min, <)
#endif

#if CLT_IS_FLOAT
/* prod's gradient: out (a, r, b) (row-major [A, R, B] from oo) is the product of the other
 * elements of slice (a, b), the exclusive prefix product times the exclusive suffix product, so
 * zeros, infinities and NaNs count as they do in the product itself (x / prod gave NaN for an
 * inf). One work-item per slice, in order, as the host (lib/reduce_host.c). */
__kernel void reduce_prodx(__global const T *in, long off, long A, long R, long B, long sA, long sR, long sB,
                           __global T *out, long oo) {
  long g = get_global_id(0);
  if (g >= A * B) return;
  long b = g % B, a = g / B, base = off + a * sA + b * sB, o = oo + a * R * B + b;
  T p = 1;
  for (long r = 0; r < R; r++) {
    out[o + r * B] = p;
    p *= in[base + r * sR];
  }
  p = 1;
  for (long r = R - 1; r >= 0; r--) {
    out[o + r * B] *= p;
    p *= in[base + r * sR];
  }
}

/* out (a, r, b) = softmax or log_softmax of in along R, given the max m and the sum s of
 * exp(x - m') per (a, b). A row whose max is infinite or NaN has no normaliser: s + (m - m)
 * makes the whole row NaN, as PyTorch's (a row of -inf already is: 0 / 0). Launched over rows
 * (lib/cl/program.c: clt__cl_launch_rows): dimension 0 is r, dimensions 1-2 the row a * B + b,
 * so the row's division is shared along it (CLT_SM_ALONG_R); or, for the GPU-shaped kernels
 * where b steps by one element, dimension 0 is b and the rows a * R + r (CLT_SM_ALONG_B), so
 * that neighbouring work-items touch neighbouring elements. */
#define CLT_SM_ROW (get_global_id(1) + (long)get_global_size(1) * get_global_id(2))
#define CLT_SM_ALONG_R                                                   \
  long r = get_global_id(0), row = CLT_SM_ROW;                           \
  long b = row % B, a = row / B; /* before the branch: a division there is never hoisted */ \
  if (r >= R || row >= A * B) return;
#define CLT_SM_ALONG_B                      \
  long b = get_global_id(0), row = CLT_SM_ROW; \
  long r = row % R, a = row / R;            \
  if (b >= B || row >= A * R) return;
/* For log_softmax s holds log(s + (m - m)) per row already (softmax_lognorm): a log per element
 * here ran log_softmax over rows of 1000 floats at 0.1 GB/s on PoCL, softmax at 2. */
#define CLT_SOFTMAX_APPLY(NAME, INDEX, SR, OR)                                                                 \
  __kernel void NAME(__global const T *in, long off, long A, long R, long B, long sA, long sR, long sB,     \
                     __global T *out, long oo, long oA, long oR, long oB, __global const T *m,              \
                     __global const T *s, int logsm) {                                                      \
    INDEX                                                                                                   \
    long mi = a * B + b;                                                                                    \
    T x = in[off + a * sA + r * (SR) + b * sB], mr = m[mi], mm = SAFE_M(mr), ss = s[mi] + (mr - mr);        \
    out[oo + a * oA + r * (OR) + b * oB] = logsm ? x - mm - ss : CLT_EXP(x - mm) / ss;                      \
  }
__kernel void softmax_lognorm(__global T *ls, __global const T *m, __global const T *s, long n) {
  long i = get_global_id(0);
  if (i < n) ls[i] = log(s[i] + (m[i] - m[i]));
}
/* _c: along a contiguous dim of both (sR = oR = 1), which the compiler then reads and writes
 * with wide loads and stores rather than gathers and scatters. */
CLT_SOFTMAX_APPLY(softmax_apply, CLT_SM_ALONG_R, sR, oR)
CLT_SOFTMAX_APPLY(softmax_apply_c, CLT_SM_ALONG_R, 1, 1)
#if CLT_GPU
CLT_SOFTMAX_APPLY(softmax_apply_b, CLT_SM_ALONG_B, sR, oR)
#endif

/* softmax or log_softmax of rows in one launch (the backend's softmax given no m and s: short
 * rows, and on CPU devices contiguous rows when there are enough of them, lib/reduce.c:
 * softmax_by_rows): a work-item per row (a, b) takes its max, its sum of exp(x - m) and writes
 * the row, as reduce_max, reduce_sumexp and softmax_apply do in three launches (attention's
 * scores in the digits transformer, rows of 8: 3 launches of 40-150 us on PoCL for 2048 rows;
 * softmax over rows of 1000 floats: 4-5 launches, 3.8 GB/s at n = 1e6). A row is read three
 * times, from cache after the first. A contiguous float row (sR = oR = 1) goes 16 elements at
 * a time (CLT_SM_VEC_ROW; PoCL does not vectorize a work-item's own loops), writes exp(x - m)
 * as it sums them and divides them in place, one exp per element as PyTorch (the library's
 * vector exp: on PoCL float16 vectors of it ran 2x float8 and 2-3x clt_expf8); its max skips
 * NaN, but a NaN still makes the row's sum NaN and so the whole row, as the scalar path's NaN
 * max does. */
#if CLT_DT == 0 || CLT_DT == 1
/* max by comparison: PoCL calls fmax per lane (a row max 2-3x slower) */
#define CLT_VMAX(x, y) select((x), (y), (y) > (x))
/* The vector path of W (16 or 8) lanes; TO8_MAX and TO8_SUM fold a W-lane max or sum to 8. */
#define CLT_SM_VEC_W(W, TO8_MAX, TO8_SUM)                                                 \
  {                                                                                       \
    __global const T *p = in + base;                                                      \
    __global T *q = out + ob;                                                             \
    long rw = R & ~(long)(W - 1), r;                                                      \
    T##W m0 = vload##W(0, p);                                                             \
    for (r = W; r < rw; r += W) m0 = CLT_VMAX(m0, vload##W(0, p + r));                    \
    T8 m8 = TO8_MAX(m0);                                                                  \
    T4 m4 = CLT_VMAX(m8.lo, m8.hi);                                                       \
    T2 m2 = CLT_VMAX(m4.lo, m4.hi);                                                       \
    T mr = m2.y > m2.x ? m2.y : m2.x;                                                     \
    for (r = rw; r < R; r++) mr = p[r] > mr ? p[r] : mr;                                  \
    T mm = SAFE_M(mr);                                                                    \
    T##W sw = 0;                                                                          \
    if (logsm)                                                                            \
      for (r = 0; r < rw; r += W) sw += exp(vload##W(0, p + r) - mm);                     \
    else                                                                                  \
      for (r = 0; r < rw; r += W) {                                                       \
        T##W e = exp(vload##W(0, p + r) - mm);                                            \
        vstore##W(e, 0, q + r);                                                           \
        sw += e;                                                                          \
      }                                                                                   \
    T8 s8 = TO8_SUM(sw);                                                                  \
    T4 s4 = s8.lo + s8.hi;                                                                \
    T2 s2 = s4.lo + s4.hi;                                                                \
    T ss = s2.x + s2.y;                                                                   \
    for (r = rw; r < R; r++) {                                                            \
      T e = exp(p[r] - mm);                                                               \
      if (!logsm) q[r] = e;                                                               \
      ss += e;                                                                            \
    }                                                                                     \
    ss += mr - mr;                                                                        \
    if (logsm) {                                                                          \
      T lss = log(ss);                                                                    \
      for (r = 0; r < rw; r += W) vstore##W(vload##W(0, p + r) - mm - lss, 0, q + r);     \
      for (r = rw; r < R; r++) q[r] = p[r] - mm - lss;                                    \
    } else {                                                                              \
      for (r = 0; r < rw; r += W) vstore##W(vload##W(0, q + r) / ss, 0, q + r);           \
      for (r = rw; r < R; r++) q[r] = q[r] / ss;                                          \
    }                                                                                     \
    return;                                                                               \
  }
#define CLT_SM_MAX16_TO8(v) CLT_FOLD16_SEL(v, >)
#define CLT_SM_SUM16_TO8(v) CLT_FOLD16(COMB_ADD, v)
#define CLT_SM_SAME8(v) (v)
/* Rows of 8 to 31 (attention's scores) take vectors of 8: the scalar path's loops ran one
 * lane, and the rows were 4% of the digits transformer's step. */
#define CLT_SM_VEC_ROW                                                                    \
  if (sR == 1 && oR == 1 && R >= 32) CLT_SM_VEC_W(16, CLT_SM_MAX16_TO8, CLT_SM_SUM16_TO8) \
  if (sR == 1 && oR == 1 && R >= 8) CLT_SM_VEC_W(8, CLT_SM_SAME8, CLT_SM_SAME8)
#else
#define CLT_SM_VEC_ROW
#endif
__kernel void softmax_rows(__global const T *in, long off, long A, long R, long B, long sA, long sR, long sB,
                           __global T *out, long oo, long oA, long oR, long oB, int logsm) {
  long row = get_global_id(0);
  long b = row % B, a = row / B; /* before the branch: a division there is never hoisted */
  if (row >= A * B) return;
  long base = off + a * sA + b * sB, ob = oo + a * oA + b * oB;
  CLT_SM_VEC_ROW
  T mr = in[base];
  for (long r = 1; r < R; r++) {
    T v = in[base + r * sR];
    if (BEATS(v, mr, >)) mr = v;
  }
  T mm = SAFE_M(mr);
  ACC acc = 0;
  if (logsm) {
    for (long r = 0; r < R; r++) acc += CLT_EXP(in[base + r * sR] - mm);
    T ls = log((T)acc + (mr - mr));
    for (long r = 0; r < R; r++) out[ob + r * oR] = in[base + r * sR] - mm - ls;
    return;
  }
  /* exp(x - m) written as it is summed and divided in place, one exp per element (the vector
   * path's way): attention's rows of 8 took two, one of them the library's scalar call */
  for (long r = 0; r < R; r++) {
    T e = CLT_EXP(in[base + r * sR] - mm);
    out[ob + r * oR] = e;
    acc += e;
  }
  T ss = (T)acc + (mr - mr);
  for (long r = 0; r < R; r++) out[ob + r * oR] = out[ob + r * oR] / ss;
}
#endif
