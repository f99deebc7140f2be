/* Fused cross entropy over rows of logits x [N, C] (contiguous from xo) with int32 or int64
 * labels y, stamped for a float dtype T. Forward: one work-item per row computes the max m, the
 * sum s of exp(x - m) and the row's loss, and keeps [m, s] per row (st); backward: one
 * work-item per element, (softmax - one_hot) times the row's incoming gradient, the softmax as
 * exp(x - m) / s: exp(x - (m + log s)) lost log s next to a large m (logits [1e6, 1e6] in float
 * gave [0.497, 0.503], [1e30, 1e30, -1e30] gave [0, 1, 0]). A label outside 0..C-1 gives a NaN
 * loss (the core checks labels before launching). */

#if CLT_IS_FLOAT
/* A float32 row's max and sum of exponentials 16 classes at a time (the rest one by one): PoCL
 * does not vectorize a work-item's own loops, and one scalar work-item per row ran cross
 * entropy over 1000 classes at 0.4-0.5 GB/s. The max by compare and select, and the library's
 * vector exp: PoCL calls fmax per lane, and float16 vectors of exp ran 2x float8 and 2-3x
 * clt_expf8 there (rows of 1000 at n = 1e6: 0.69 ms -> 0.19 ms on PoCL). The lanes
 * combine pairwise at the end, as the reductions'. A NaN is skipped by the max but makes s,
 * and so the loss, NaN. */
/* reduce.cl's CLT_FOLD16 and CLT_FOLD16_SEL for float (Oclgrind and 16-to-8 splits) */
#define CLT_PICK(a, b, GT) ((b) GT (a) ? (b) : (a))
#define CLT_CE_FOLD16(C, v)                       \
  ((float8)(C((v).s0, (v).s8), C((v).s1, (v).s9), \
    C((v).s2, (v).sa), C((v).s3, (v).sb),         \
    C((v).s4, (v).sc), C((v).s5, (v).sd),         \
    C((v).s6, (v).se), C((v).s7, (v).sf)))
#define CLT_CE_FOLD16_SEL(v, GT)                                        \
  ((float8)(CLT_PICK((v).s0, (v).s8, GT), CLT_PICK((v).s1, (v).s9, GT), \
    CLT_PICK((v).s2, (v).sa, GT), CLT_PICK((v).s3, (v).sb, GT),         \
    CLT_PICK((v).s4, (v).sc, GT), CLT_PICK((v).s5, (v).sd, GT),         \
    CLT_PICK((v).s6, (v).se, GT), CLT_PICK((v).s7, (v).sf, GT)))
#define CLT_CE_ADD(x, y) ((x) + (y))
#if CLT_DT == 0
#define CLT_CE_VEC_MAX                                                                             \
  if (C >= 32) {                                                                                   \
    float16 mv = vload16(0, row);                                                                  \
    for (c = 16; c + 16 <= C; c += 16) {                                                           \
      float16 v = vload16(0, row + c);                                                             \
      mv = select(mv, v, v > mv);                                                                  \
    }                                                                                              \
    float8 h8 = CLT_CE_FOLD16_SEL(mv, >);                                                          \
    float4 h4 = select(h8.lo, h8.hi, h8.hi > h8.lo);                                               \
    float2 h2 = select(h4.lo, h4.hi, h4.hi > h4.lo);                                               \
    m = h2.y > h2.x ? h2.y : h2.x;                                                                 \
  }
#define CLT_CE_VEC_SUMEXP                                                                          \
  if (C >= 32) {                                                                                   \
    float16 sv = 0;                                                                                \
    for (; c + 16 <= C; c += 16) sv += exp(vload16(0, row + c) - ms);                              \
    float8 h8 = CLT_CE_FOLD16(CLT_CE_ADD, sv);                                                     \
    float4 h4 = h8.lo + h8.hi;                                                                     \
    float2 h2 = h4.lo + h4.hi;                                                                     \
    s = h2.x + h2.y;                                                                               \
  }
#else
#define CLT_CE_VEC_MAX
#define CLT_CE_VEC_SUMEXP
#endif
#define CLT_CE(IS, IT)                                                                                     \
  __kernel void ce_fwd_##IS(__global const T *x, long xo, __global const IT *y, long yo, long N, long C,  \
                            __global T *loss, __global T *st) {                                            \
    long i = get_global_id(0);                                                                             \
    if (i >= N) return;                                                                                    \
    __global const T *row = x + xo + i * C;                                                                \
    T m = row[0];                                                                                          \
    long c = 1;                                                                                            \
    CLT_CE_VEC_MAX                                                                                         \
    for (; c < C; c++) m = fmax(m, row[c]);                                                                \
    T ms = isfinite(m) ? m : (T)0, s = 0;                                                                  \
    c = 0;                                                                                                 \
    CLT_CE_VEC_SUMEXP                                                                                      \
    for (; c < C; c++) s += CLT_EXP(row[c] - ms);                                                          \
    T ls = log(s);                                                                                         \
    long t = (long)y[yo + i];                                                                              \
    st[2 * i] = ms;                                                                                        \
    st[2 * i + 1] = s;                                                                                     \
    /* (m - x_t) + log s: exact where the label holds the max, unlike (m + log s) - x_t */                 \
    loss[i] = t >= 0 && t < C ? (ms - row[t]) + ls : NAN;                                                  \
  }                                                                                                        \
  __kernel void ce_bwd_##IS(__global const T *x, long xo, __global const IT *y, long yo, long N, long C,  \
                            __global const T *st, __global const T *g, long go, long gs, __global T *out) { \
    long k = get_global_id(0);                                                                             \
    if (k >= N * C) return;                                                                                \
    long i = k / C, c = k % C;                                                                             \
    T p = CLT_EXP(x[xo + k] - st[2 * i]) / st[2 * i + 1];                                                  \
    out[k] = (p - (c == (long)y[yo + i] ? (T)1 : (T)0)) * g[go + i * gs];                                  \
  }

CLT_CE(i32, int)
CLT_CE(i64, long)

#if CLT_GPU
/* The GPU-shaped forward (lib/cl/nn.c): a work-group holds wg / LC rows of LC = 2^lcb lanes;
 * a row's lanes read it LC elements apart and combine its max, then its sum, in local memory
 * (common.clh: CLT_WG_TREE), and its first lane writes as ce_fwd does. The max of fmax ignores NaN as
 * ce_fwd's does (a lane with no element holds NaN). */
#define CLT_CE_WG(IS, IT)                                                                                  \
  __kernel void ce_fwd_wg_##IS(__global const T *x, long xo, __global const IT *y, long yo, long N, long C, \
                               __global T *loss, __global T *st, int lcb) {                                \
    __local T sh[CLT_WG_MAX];                                                                              \
    uint lid = get_local_id(0), LC = 1u << lcb, lc = lid & (LC - 1), lead = lid - lc;                      \
    long i = (long)get_group_id(0) * (long)(get_local_size(0) >> lcb) + (lid >> lcb);                     \
    bool active = i < N;                                                                                   \
    long rb = xo + (active ? i : 0) * C;                                                                   \
    T m = NAN;                                                                                             \
    if (active)                                                                                            \
      for (long c = lc; c < C; c += LC) m = fmax(m, x[rb + c]);                                           \
    sh[lid] = m;                                                                                           \
    CLT_WG_TREE(lc, LC, 1, sh[lid] = fmax(sh[lid], sh[j]))                                                 \
    m = sh[lead];                                                                                          \
    T ms = isfinite(m) ? m : (T)0, s = 0;                                                                  \
    if (active)                                                                                            \
      for (long c = lc; c < C; c += LC) s += CLT_EXP(x[rb + c] - ms);                                     \
    barrier(CLK_LOCAL_MEM_FENCE); /* every lane has read its row's max */                                 \
    sh[lid] = s;                                                                                           \
    CLT_WG_TREE(lc, LC, 1, sh[lid] += sh[j])                                                               \
    if (active && lc == 0) {                                                                               \
      s = sh[lid];                                                                                         \
      long t = (long)y[yo + i];                                                                            \
      st[2 * i] = ms;                                                                                      \
      st[2 * i + 1] = s;                                                                                   \
      loss[i] = t >= 0 && t < C ? (ms - x[rb + t]) + log(s) : NAN;                                         \
    }                                                                                                      \
  }
CLT_CE_WG(i32, int)
CLT_CE_WG(i64, long)
#endif
#endif
