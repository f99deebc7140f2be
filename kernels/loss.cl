/* Fused cross entropy over rows of logits x [N, C] (contiguous from xo) with int32 or int64
 * labels y, stamped for a float dtype T. Forward: one work-item per row computes the max, the
 * log-sum-exp and the row's loss; backward: one work-item per element, (softmax - one_hot) times
 * the row's incoming gradient. A label outside 0..C-1 gives a NaN loss (the core checks labels
 * before launching). */

#if CLT_IS_FLOAT
#define CLT_CE(IS, IT)                                                                                     \
  __kernel void ce_fwd_##IS(__global const T *x, long xo, __global const IT *y, long yo, long N, long C,  \
                            __global T *loss, __global T *lse) {                                           \
    long i = get_global_id(0);                                                                             \
    if (i >= N) return;                                                                                    \
    __global const T *row = x + xo + i * C;                                                                \
    T m = row[0];                                                                                          \
    for (long c = 1; c < C; c++) m = fmax(m, row[c]);                                                      \
    T ms = isfinite(m) ? m : (T)0, s = 0;                                                                  \
    for (long c = 0; c < C; c++) s += CLT_EXP(row[c] - ms);                                                    \
    T ls = log(s);                                                                                         \
    long t = (long)y[yo + i];                                                                              \
    lse[i] = ms + ls;                                                                                      \
    /* (m - x_t) + log s: exact where the label holds the max, unlike (m + log s) - x_t */                 \
    loss[i] = t >= 0 && t < C ? (ms - row[t]) + ls : NAN;                                                  \
  }                                                                                                        \
  __kernel void ce_bwd_##IS(__global const T *x, long xo, __global const IT *y, long yo, long N, long C,  \
                            __global const T *lse, __global const T *g, long go, long gs, __global T *out) { \
    long k = get_global_id(0);                                                                             \
    if (k >= N * C) return;                                                                                \
    long i = k / C, c = k % C;                                                                             \
    T p = CLT_EXP(x[xo + k] - lse[i]);                                                                         \
    out[k] = (p - (c == (long)y[yo + i] ? (T)1 : (T)0)) * g[go + i * gs];                                  \
  }

CLT_CE(i32, int)
CLT_CE(i64, long)
#endif
