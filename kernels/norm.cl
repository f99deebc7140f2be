/* Fused normalization (batch, layer, group and RMS norm; lib/backend.h: clt__norm_args),
 * stamped for a float dtype T. x is [P, S, Q] contiguous from xo; statistic s covers the P Q
 * elements (p, s, q), whose affine channel is ((s % smod) Q + q) / cdiv. One work-item per
 * statistic (forward, dx) or per channel (dw, db), each a loop over its elements: the
 * statistics in two passes (the mean, then the sum of squared deviations from it), so data far
 * from zero (1e4 + noise) keeps its variance, accumulated in ACC (double where the device has
 * fp64, as the host reference; else T). */

#if CLT_IS_FLOAT
#if CLT_FP64
typedef double ACC;
#else
typedef T ACC;
#endif

/* flags */
#define NORM_RMS 1
#define NORM_FIXED 2
#define NORM_W 4
#define NORM_B 8
#define NORM_RUNNING 16

#define NORM_AT(p, s, q) (((p) * S + (s)) * Q + (q))
#define NORM_CH(s, q) ((((s) % smod) * Q + (q)) / cdiv)

__kernel void norm_fwd(__global const T *x, long xo, __global const T *w, long wo, __global const T *b, long bo,
                       __global T *y, __global T *st, __global T *rm, long rmo, long rms, __global T *rv, long rvo,
                       long rvs, long P, long S, long Q, long smod, long cdiv, int flags, T eps, T mom) {
  long s = get_global_id(0);
  if (s >= S) return;
  ACC M = (ACC)(P * Q), mean = 0, rstd;
  if (flags & NORM_FIXED) {
    mean = rm[rmo + s * rms];
    rstd = (ACC)1 / sqrt((ACC)rv[rvo + s * rvs] + (ACC)eps);
  } else {
    ACC sum = 0, ss = 0;
    if (!(flags & NORM_RMS)) {
      for (long p = 0; p < P; p++)
        for (long q = 0; q < Q; q++) sum += x[xo + NORM_AT(p, s, q)];
      mean = sum / M;
    }
    for (long p = 0; p < P; p++)
      for (long q = 0; q < Q; q++) {
        ACC d = (ACC)x[xo + NORM_AT(p, s, q)] - mean;
        ss += d * d;
      }
    rstd = (ACC)1 / sqrt(ss / M + (ACC)eps);
    if (flags & NORM_RUNNING) {
      long i = rmo + s * rms, j = rvo + s * rvs;
      rm[i] = ((ACC)1 - (ACC)mom) * rm[i] + (ACC)mom * mean;
      rv[j] = ((ACC)1 - (ACC)mom) * rv[j] + (ACC)mom * ss / (M - 1);
    }
  }
  st[2 * s] = mean;
  st[2 * s + 1] = rstd;
  for (long p = 0; p < P; p++)
    for (long q = 0; q < Q; q++) {
      long c = NORM_CH(s, q), i = NORM_AT(p, s, q);
      ACC v = ((ACC)x[xo + i] - mean) * rstd;
      if (flags & NORM_W) v *= w[wo + c];
      if (flags & NORM_B) v += b[bo + c];
      y[i] = v;
    }
}

/* dx = rstd (g w - mean(g w) - xhat mean(g w xhat)) over statistic s's elements (RMS norm:
 * without mean(g w); fixed statistics: rstd g w). The statistics come from the forward: xhat
 * is recomputed from x, mean and rstd, not from a second pass over the data. */
__kernel void norm_bwd_dx(__global const T *g, long go, __global const T *x, long xo, __global const T *st,
                          __global const T *w, long wo, __global T *dx, long P, long S, long Q, long smod, long cdiv,
                          int flags) {
  long s = get_global_id(0);
  if (s >= S) return;
  ACC M = (ACC)(P * Q), mean = st[2 * s], rstd = st[2 * s + 1], A = 0, B = 0;
  if (!(flags & NORM_FIXED))
    for (long p = 0; p < P; p++)
      for (long q = 0; q < Q; q++) {
        long i = NORM_AT(p, s, q);
        ACC gw = (flags & NORM_W) ? (ACC)g[go + i] * w[wo + NORM_CH(s, q)] : (ACC)g[go + i];
        A += gw;
        B += gw * (((ACC)x[xo + i] - mean) * rstd);
      }
  A = (flags & (NORM_FIXED | NORM_RMS)) ? 0 : A / M;
  B = B / M;
  for (long p = 0; p < P; p++)
    for (long q = 0; q < Q; q++) {
      long i = NORM_AT(p, s, q);
      ACC gw = (flags & NORM_W) ? (ACC)g[go + i] * w[wo + NORM_CH(s, q)] : (ACC)g[go + i];
      dx[i] = rstd * (gw - A - ((ACC)x[xo + i] - mean) * rstd * B);
    }
}

/* dw[c] = sum g xhat, db[c] = sum g over channel c's elements: t = c cdiv .. c cdiv + cdiv - 1
 * gives s % smod = t / Q and q = t % Q, for every s = k smod + t / Q and every p. */
__kernel void norm_bwd_dw(__global const T *g, long go, __global const T *x, long xo, __global const T *st,
                          __global T *dw, __global T *db, long P, long S, long Q, long smod, long cdiv, int flags) {
  long c = get_global_id(0);
  if (c >= smod * Q / cdiv) return;
  ACC sw = 0, sb = 0;
  for (long p = 0; p < P; p++)
    for (long k = 0; k < S / smod; k++)
      for (long t = c * cdiv; t < (c + 1) * cdiv; t++) {
        long s = k * smod + t / Q, i = NORM_AT(p, s, t % Q);
        ACC gv = g[go + i];
        sw += gv * (((ACC)x[xo + i] - st[2 * s]) * st[2 * s + 1]);
        sb += gv;
      }
  if (flags & NORM_W) dw[c] = sw;
  if (flags & NORM_B) db[c] = sb;
}
#endif
