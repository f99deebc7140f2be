/* Fused normalization (batch, layer, group and RMS norm; lib/backend.h: clt__norm_args),
 * stamped for a float dtype T. x is [P, S, Q] contiguous from xo; statistic s covers the P Q
 * elements (p, s, q), whose affine channel is ((s % smod) Q + q) / cdiv. One work-group per
 * statistic (forward, dx; lanes read a row's consecutive elements, partial sums combined in local
 * memory; on CPUs their _row forms: one work-item per statistic, see
 * NORM_FWD) or one work-item per channel (dw, db, a loop over its elements): the statistics
 * in two passes (the mean, then the sum of squared deviations from it), so data far
 * from zero (1e4 + noise) keeps its variance, accumulated in ACC (double where the device has
 * fp64, as the host reference; else T with compensated sums), and the mean kept as a pair
 * (lib/backend.h: clt__norm_args.stats) so that deviations from it stay exact in float32. */

#if CLT_IS_FLOAT
/* Sums as (s, c): plain in double (c stays 0); in float (a device without fp64) Neumaier's
 * compensated sum, whose error does not grow with the count. */
#if CLT_FP64
typedef double ACC;
void norm_add(ACC *s, ACC *c, ACC v) { *s += v; }
#else
typedef T ACC;
void norm_add(ACC *s, ACC *c, ACC v) {
  ACC t = *s + v;
  *c += fabs(*s) >= fabs(v) ? (*s - t) + v : (v - t) + *s;
  *s = t;
}
#endif

/* Lane lid's (s, c) takes in lane j's. */
void norm_combine(__local ACC *ls, __local ACC *lc, uint lid, uint j) {
  ACC s = ls[lid], c = lc[lid];
  norm_add(&s, &c, ls[j]);
  ls[lid] = s;
  lc[lid] = c + lc[j];
}

/* The work-group's total of every lane's (*s, *c), into every lane's. */
void norm_wg_sum(__local ACC *ls, __local ACC *lc, ACC *s, ACC *c) {
  uint lid = get_local_id(0);
  ls[lid] = *s;
  lc[lid] = *c;
  CLT_WG_TREE(lid, get_local_size(0), 1, norm_combine(ls, lc, lid, j))
  *s = ls[0];
  *c = lc[0];
  barrier(CLK_LOCAL_MEM_FENCE); /* every lane has read them before the next sum */
}

/* flags */
#define NORM_RMS 1
#define NORM_FIXED 2
#define NORM_W 4
#define NORM_B 8
#define NORM_RUNNING 16
#define NORM_ACC 32 /* norm_bwd_dx: dx += the gradient (lib/backend.h: dx_acc) */

#define NORM_AT(p, s, q) (((p) * S + (s)) * Q + (q))
/* the channel of (p, s, q) from cb = (s % smod) Q: no division in layer and RMS norm (cdiv 1) */
#define NORM_CH(cb, q) (cdiv == 1 ? (cb) + (q) : ((cb) + (q)) / cdiv)
/* x - mean with the mean as (hi, lo) (lib/backend.h: clt__norm_args.stats) */
#define NORM_DEV(v, hi, lo) (((ACC)(v) - (ACC)(hi)) - (ACC)(lo))
/* Lane lid's share of statistic s's elements: each row of Q, lanes L apart (contiguous reads
 * across the lanes). */
#define NORM_EACH(p, q) \
  for (long p = 0; p < P; p++) \
    for (long q = lid; q < Q; q += L)

/* The mean of a statistic's (sum, sc) over M elements as (hi, lo) (lib/backend.h:
 * clt__norm_args.stats): double: the rest of the mean; float: sum - hi M exactly (fma), plus the
 * sum's rest, then hi the float nearest the mean, as the host's (and $CLT_CHECK's) split has it. */
void norm_mean(ACC sum, ACC sc, ACC M, T *hi, T *lo) {
  ACC mean = (sum + sc) / M;
  *hi = (T)mean;
#if CLT_FP64
  *lo = (T)(mean - (ACC)*hi);
#else
  *lo = (fma(-(ACC)*hi, M, sum) + sc) / M;
  T h = *hi + *lo;
  *lo = (*hi - h) + *lo;
  *hi = h;
#endif
}

/* Each kernel comes in two shapes, stamped from one body by the macros below:
 * - grouped (norm_fwd, norm_bwd_dx): one work-group of L (a power of two) lanes per statistic, the
 *   launch has exactly S groups, so every lane reaches every barrier; lanes' partial sums
 *   combined in local memory. For GPUs.
 * - one work-item per statistic (norm_fwd_row, norm_bwd_dx_row), no barrier: for CPUs, where
 *   PoCL runs a work-group's lanes in loops between barriers and pays for each group (the
 *   transformer's layer norm over 512 rows of 32 in groups of 32 lanes: 240 us per launch, 40%
 *   of its step with the backward; batch norm's 64 channels of 25088: 2x slower grouped). */
#define NORM_IDS_GROUP                                            \
  __local ACC ls[CLT_WG_MAX], lc[CLT_WG_MAX];                     \
  long s = get_group_id(0);                                       \
  uint lid = get_local_id(0), L = get_local_size(0);
#define NORM_SUM_GROUP(s_, c_) norm_wg_sum(ls, lc, &(s_), &(c_))
#define NORM_IDS_ROW         \
  long s = get_global_id(0); \
  uint lid = 0, L = 1;       \
  if (s >= S) return;
#define NORM_SUM_ROW(s_, c_)

#define NORM_FWD(NAME, IDS, SUM)                                                                                 \
  __kernel void NAME(__global const T *x, long xo, __global const T *w, long wo, __global const T *b, long bo,    \
                     __global T *y, __global T *st, __global T *rm, long rmo, long rms, __global T *rv, long rvo, \
                     long rvs, long P, long S, long Q, long smod, long cdiv, int flags, T eps, T mom) {           \
    IDS                                                                                                          \
    long cb = (s % smod) * Q;                                                                                    \
    ACC M = (ACC)(P * Q), rstd;                                                                                  \
    T hi = 0, lo = 0;                                                                                            \
    /* the barriers (SUM) outside any branch: with them inside uniform branches PoCL 3.1 ran the                 \
     * running update below on every lane, or crashed */                                                         \
    ACC sum = 0, sc = 0;                                                                                         \
    if (!(flags & (NORM_FIXED | NORM_RMS))) NORM_EACH(p, q) norm_add(&sum, &sc, (ACC)x[xo + NORM_AT(p, s, q)]);  \
    SUM(sum, sc);                                                                                                \
    if (flags & NORM_FIXED)                                                                                      \
      hi = rm[rmo + s * rms];                                                                                    \
    else if (!(flags & NORM_RMS))                                                                                \
      norm_mean(sum, sc, M, &hi, &lo);                                                                           \
    ACC ss = 0, sc2 = 0;                                                                                         \
    if (!(flags & NORM_FIXED)) NORM_EACH(p, q) {                                                                 \
        ACC d = NORM_DEV(x[xo + NORM_AT(p, s, q)], hi, lo);                                                      \
        norm_add(&ss, &sc2, d * d);                                                                              \
      }                                                                                                          \
    SUM(ss, sc2);                                                                                                \
    ss += sc2;                                                                                                   \
    if (flags & NORM_FIXED) {                                                                                    \
      rstd = (ACC)1 / sqrt((ACC)rv[rvo + s * rvs] + (ACC)eps);                                                   \
    } else {                                                                                                     \
      rstd = (ACC)1 / sqrt(ss / M + (ACC)eps);                                                                   \
      if ((flags & NORM_RUNNING) && lid == 0) {                                                                  \
        long i = rmo + s * rms, j = rvo + s * rvs;                                                               \
        rm[i] = ((ACC)1 - (ACC)mom) * rm[i] + (ACC)mom * ((ACC)hi + (ACC)lo);                                    \
        rv[j] = ((ACC)1 - (ACC)mom) * rv[j] + (ACC)mom * ss / (M - 1);                                           \
      }                                                                                                          \
    }                                                                                                            \
    if (lid == 0) {                                                                                              \
      st[3 * s] = hi;                                                                                            \
      st[3 * s + 1] = lo;                                                                                        \
      st[3 * s + 2] = rstd;                                                                                      \
    }                                                                                                            \
    NORM_EACH(p, q) {                                                                                            \
      long c = NORM_CH(cb, q), i = NORM_AT(p, s, q);                                                             \
      ACC v = NORM_DEV(x[xo + i], hi, lo) * rstd;                                                                \
      if (flags & NORM_W) v *= w[wo + c];                                                                        \
      if (flags & NORM_B) v += b[bo + c];                                                                        \
      y[i] = v;                                                                                                  \
    }                                                                                                            \
  }
NORM_FWD(norm_fwd, NORM_IDS_GROUP, NORM_SUM_GROUP)
NORM_FWD(norm_fwd_row, NORM_IDS_ROW, NORM_SUM_ROW)

/* dx = rstd (g w - mean(g w) - xhat mean(g w xhat)) over statistic s's elements (RMS norm:
 * without mean(g w); fixed statistics: rstd g w), in the forward's two shapes. xhat comes from
 * x and the forward's statistics, not from a second pass for them. */
#define NORM_BWD_DX(NAME, IDS, SUM)                                                                              \
  __kernel void NAME(__global const T *g, long go, __global const T *x, long xo, __global const T *st,           \
                     __global const T *w, long wo, __global T *dx, long P, long S, long Q, long smod, long cdiv,  \
                     int flags) {                                                                                \
    IDS                                                                                                          \
    long cb = (s % smod) * Q;                                                                                    \
    ACC M = (ACC)(P * Q), rstd = st[3 * s + 2], A = 0, Ac = 0, B = 0, Bc = 0;                                    \
    T hi = st[3 * s], lo = st[3 * s + 1];                                                                        \
    if (!(flags & NORM_FIXED)) NORM_EACH(p, q) {                                                                 \
        long i = NORM_AT(p, s, q);                                                                               \
        ACC gw = (flags & NORM_W) ? (ACC)g[go + i] * w[wo + NORM_CH(cb, q)] : (ACC)g[go + i];                    \
        norm_add(&A, &Ac, gw);                                                                                   \
        norm_add(&B, &Bc, gw * (NORM_DEV(x[xo + i], hi, lo) * rstd));                                            \
      }                                                                                                          \
    SUM(A, Ac); /* outside the branch: see NORM_FWD */                                                           \
    SUM(B, Bc);                                                                                                  \
    ACC a = (flags & (NORM_FIXED | NORM_RMS)) ? 0 : (A + Ac) / M, bm = (B + Bc) / M;                             \
    NORM_EACH(p, q) {                                                                                            \
      long i = NORM_AT(p, s, q);                                                                                 \
      ACC gw = (flags & NORM_W) ? (ACC)g[go + i] * w[wo + NORM_CH(cb, q)] : (ACC)g[go + i];                      \
      T v = (T)(rstd * (gw - a - NORM_DEV(x[xo + i], hi, lo) * rstd * bm));                                      \
      dx[i] = (flags & NORM_ACC) ? dx[i] + v : v;                                                                \
    }                                                                                                            \
  }
NORM_BWD_DX(norm_bwd_dx, NORM_IDS_GROUP, NORM_SUM_GROUP)
NORM_BWD_DX(norm_bwd_dx_row, NORM_IDS_ROW, NORM_SUM_ROW)

/* dw[c] = sum g xhat, db[c] = sum g over channel c's elements: t = c cdiv .. c cdiv + cdiv - 1
 * gives s % smod = t / Q and q = t % Q, for every s = t / Q + k smod and every p. Walked as
 * runs of t within one row of Q (j = t / Q fixed: two divisions per run), each run over every s
 * in the innermost loop's consecutive elements (t outermost read batch norm's channel 200 KB
 * apart: 7 ms for [32,64,28,28] on PoCL, 2.4 now; group norm's too, s outside t). */
__kernel void norm_bwd_dw(__global const T *g, long go, __global const T *x, long xo, __global const T *st,
                          __global T *dw, __global T *db, long P, long S, long Q, long smod, long cdiv, int flags) {
  long c = get_global_id(0);
  if (c >= smod * Q / cdiv) return;
  ACC sw = 0, swc = 0, sb = 0, sbc = 0;
  for (long p = 0; p < P; p++)
    for (long t = c * cdiv, len; t < (c + 1) * cdiv; t += len) {
      long j = t / Q, q0 = t % Q;
      len = min((c + 1) * cdiv - t, Q - q0);
      for (long s = j; s < S; s += smod) {
        ACC mhi = st[3 * s], mlo = st[3 * s + 1], rstd = st[3 * s + 2];
        for (long q = q0; q < q0 + len; q++) {
          long i = NORM_AT(p, s, q);
          ACC gv = g[go + i];
          norm_add(&sw, &swc, gv * (NORM_DEV(x[xo + i], mhi, mlo) * rstd));
          norm_add(&sb, &sbc, gv);
        }
      }
    }
  if (flags & NORM_W) dw[c] = sw + swc;
  if (flags & NORM_B) db[c] = sb + sbc;
}
#endif
