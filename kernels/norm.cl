/* Fused normalization (batch, layer, group and RMS norm; lib/backend.h: clt__norm_args),
 * stamped for a float dtype T. x is [P, S, Q] contiguous from xo; statistic s covers the P Q
 * elements (p, s, q), whose affine channel is ((s % smod) Q + q) / cdiv. One work-item per
 * statistic (forward, dx) or per channel (dw, db), each a loop over its elements: the
 * statistics in two passes (the mean, then the sum of squared deviations from it), so data far
 * from zero (1e4 + noise) keeps its variance, accumulated in ACC (double where the device has
 * fp64, as the host reference; else T with compensated sums), and the mean kept as a pair
 * (lib/backend.h: clt__norm_args.stats) so that deviations from it stay exact in float32. */

#if CLT_IS_FLOAT
/* Sums of ACC: plain in double; in float (a device without fp64) Neumaier's compensated sum,
 * whose error does not grow with the count. */
#if CLT_FP64
typedef double ACC;
#define NSUM(s) ACC s = 0
#define NADD(s, v) s += (v)
#define NGET(s) (s)
#define NREST(s) ((ACC)0)
#else
typedef T ACC;
#define NSUM(s) ACC s = 0, s##_c = 0
#define NADD(s, v)                                          \
  {                                                         \
    ACC v_ = (v), t_ = s + v_;                              \
    s##_c += fabs(s) >= fabs(v_) ? (s - t_) + v_ : (v_ - t_) + s; \
    s = t_;                                                 \
  }
#define NGET(s) (s + s##_c)
#define NREST(s) (s##_c)
#endif

/* flags */
#define NORM_RMS 1
#define NORM_FIXED 2
#define NORM_W 4
#define NORM_B 8
#define NORM_RUNNING 16

#define NORM_AT(p, s, q) (((p) * S + (s)) * Q + (q))
#define NORM_CH(s, q) ((((s) % smod) * Q + (q)) / cdiv)
/* x - mean with the mean as (hi, lo) (lib/backend.h: clt__norm_args.stats) */
#define NORM_DEV(v, hi, lo) (((ACC)(v) - (ACC)(hi)) - (ACC)(lo))

__kernel void norm_fwd(__global const T *x, long xo, __global const T *w, long wo, __global const T *b, long bo,
                       __global T *y, __global T *st, __global T *rm, long rmo, long rms, __global T *rv, long rvo,
                       long rvs, long P, long S, long Q, long smod, long cdiv, int flags, T eps, T mom) {
  long s = get_global_id(0);
  if (s >= S) return;
  ACC M = (ACC)(P * Q), rstd;
  T hi = 0, lo = 0;
  if (flags & NORM_FIXED) {
    hi = rm[rmo + s * rms];
    rstd = (ACC)1 / sqrt((ACC)rv[rvo + s * rvs] + (ACC)eps);
  } else {
    if (!(flags & NORM_RMS)) {
      NSUM(sum);
      for (long p = 0; p < P; p++)
        for (long q = 0; q < Q; q++) NADD(sum, (ACC)x[xo + NORM_AT(p, s, q)]);
      ACC mean = NGET(sum) / M;
      hi = (T)mean;
      /* double: the rest of the mean; float: sum - hi M exactly (fma), plus the sum's rest */
#if CLT_FP64
      lo = (T)(mean - (ACC)hi);
#else
      lo = (fma(-(ACC)hi, M, sum) + NREST(sum)) / M;
      { /* hi the float nearest the mean, as the host's (and $CLT_CHECK's) split has it */
        T h = hi + lo;
        lo = (hi - h) + lo;
        hi = h;
      }
#endif
    }
    NSUM(ss);
    for (long p = 0; p < P; p++)
      for (long q = 0; q < Q; q++) {
        ACC d = NORM_DEV(x[xo + NORM_AT(p, s, q)], hi, lo);
        NADD(ss, d * d);
      }
    rstd = (ACC)1 / sqrt(NGET(ss) / M + (ACC)eps);
    if (flags & NORM_RUNNING) {
      long i = rmo + s * rms, j = rvo + s * rvs;
      rm[i] = ((ACC)1 - (ACC)mom) * rm[i] + (ACC)mom * ((ACC)hi + (ACC)lo);
      rv[j] = ((ACC)1 - (ACC)mom) * rv[j] + (ACC)mom * NGET(ss) / (M - 1);
    }
  }
  st[3 * s] = hi;
  st[3 * s + 1] = lo;
  st[3 * s + 2] = rstd;
  for (long p = 0; p < P; p++)
    for (long q = 0; q < Q; q++) {
      long c = NORM_CH(s, q), i = NORM_AT(p, s, q);
      ACC v = NORM_DEV(x[xo + i], hi, lo) * rstd;
      if (flags & NORM_W) v *= w[wo + c];
      if (flags & NORM_B) v += b[bo + c];
      y[i] = v;
    }
}

/* dx = rstd (g w - mean(g w) - xhat mean(g w xhat)) over statistic s's elements (RMS norm:
 * without mean(g w); fixed statistics: rstd g w). xhat comes from x and the forward's
 * statistics, not from a second pass for them. */
__kernel void norm_bwd_dx(__global const T *g, long go, __global const T *x, long xo, __global const T *st,
                          __global const T *w, long wo, __global T *dx, long P, long S, long Q, long smod, long cdiv,
                          int flags) {
  long s = get_global_id(0);
  if (s >= S) return;
  ACC M = (ACC)(P * Q), rstd = st[3 * s + 2];
  T hi = st[3 * s], lo = st[3 * s + 1];
  NSUM(A);
  NSUM(B);
  if (!(flags & NORM_FIXED))
    for (long p = 0; p < P; p++)
      for (long q = 0; q < Q; q++) {
        long i = NORM_AT(p, s, q);
        ACC gw = (flags & NORM_W) ? (ACC)g[go + i] * w[wo + NORM_CH(s, q)] : (ACC)g[go + i];
        NADD(A, gw);
        NADD(B, gw * (NORM_DEV(x[xo + i], hi, lo) * rstd));
      }
  ACC a = (flags & (NORM_FIXED | NORM_RMS)) ? 0 : NGET(A) / M, bm = NGET(B) / M;
  for (long p = 0; p < P; p++)
    for (long q = 0; q < Q; q++) {
      long i = NORM_AT(p, s, q);
      ACC gw = (flags & NORM_W) ? (ACC)g[go + i] * w[wo + NORM_CH(s, q)] : (ACC)g[go + i];
      dx[i] = rstd * (gw - a - NORM_DEV(x[xo + i], hi, lo) * rstd * bm);
    }
}

/* dw[c] = sum g xhat, db[c] = sum g over channel c's elements: t = c cdiv .. c cdiv + cdiv - 1
 * gives s % smod = t / Q and q = t % Q, for every s = k smod + t / Q and every p. */
__kernel void norm_bwd_dw(__global const T *g, long go, __global const T *x, long xo, __global const T *st,
                          __global T *dw, __global T *db, long P, long S, long Q, long smod, long cdiv, int flags) {
  long c = get_global_id(0);
  if (c >= smod * Q / cdiv) return;
  NSUM(sw);
  NSUM(sb);
  for (long p = 0; p < P; p++)
    for (long k = 0; k < S / smod; k++)
      for (long t = c * cdiv; t < (c + 1) * cdiv; t++) {
        long s = k * smod + t / Q, i = NORM_AT(p, s, t % Q);
        ACC gv = g[go + i];
        NADD(sw, gv * (NORM_DEV(x[xo + i], st[3 * s], st[3 * s + 1]) * (ACC)st[3 * s + 2]));
        NADD(sb, gv);
      }
  if (flags & NORM_W) dw[c] = NGET(sw);
  if (flags & NORM_B) db[c] = NGET(sb);
}
#endif
