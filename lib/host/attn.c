/* Host reference of the fused attention (lib/backend.h: clt__attn_args): plain loops in double,
 * the softmax in two passes over each row's scores (the max, then the sum of exp(score - max)). */
#include <math.h>

#include "host.h"

static double ld(const clt__storage *s, clt_dtype dt, int64_t i) {
  return clt__load_f64(dt, (const char *)s->ptr + (size_t)i * clt_dtype_size(dt));
}

static void st(clt__storage *s, clt_dtype dt, int64_t i, double v) {
  clt__store_f64(dt, (char *)s->ptr + (size_t)i * clt_dtype_size(dt), v);
}

/* Element (b0, b1, r, c) of a tensor from off at strides s. */
static int64_t at(int64_t off, const int64_t *s, int64_t b0, int64_t b1, int64_t r, int64_t c) {
  return off + b0 * s[0] + b1 * s[1] + r * s[2] + c * s[3];
}

/* The keys row i attends to: 0 .. keys(i) - 1. The others still take part with probability 0,
 * as in the kernels (kernels/attn.cl) and the composite path's products: 0 times a NaN or an
 * infinity in their v (or k, in the gradients) is NaN there, and PyTorch's answer too. */
static int64_t keys(const clt__attn_args *a, int64_t i) { return a->causal && i + 1 < a->S ? i + 1 : a->S; }

/* Row i's scaled score against key j. */
static double score(const clt__attn_args *a, int64_t b0, int64_t b1, int64_t i, int64_t j) {
  double s = 0;
  for (int64_t e = 0; e < a->E; e++)
    s += ld(a->q, a->dt, at(a->qo, a->qs, b0, b1, i, e)) * ld(a->k, a->dt, at(a->ko, a->ks, b0, b1, j, e));
  return s * a->scale;
}

clt_status clt__host_attn_fwd(clt_device *dev, const clt__attn_args *a) {
  (void)dev;
  clt_dtype dt = a->dt;
  double acc[CLT__ATTN_MAX];
  for (int64_t b0 = 0; b0 < a->B0; b0++)
    for (int64_t b1 = 0; b1 < a->B1; b1++)
      for (int64_t i = 0; i < a->L; i++) {
        int64_t n = keys(a, i);
        double m = -INFINITY, l = 0;
        for (int64_t j = 0; j < n; j++) m = fmax(m, score(a, b0, b1, i, j));
        for (int64_t e = 0; e < a->Ev; e++) acc[e] = 0;
        for (int64_t j = 0; j < a->S; j++) {
          double p = j < n ? exp(score(a, b0, b1, i, j) - m) : 0;
          l += p;
          for (int64_t e = 0; e < a->Ev; e++) acc[e] += p * ld(a->v, dt, at(a->vo, a->vs, b0, b1, j, e));
        }
        for (int64_t e = 0; e < a->Ev; e++) st(a->out, dt, at(a->oo, a->os, b0, b1, i, e), acc[e] / l);
        int64_t r = (b0 * a->B1 + b1) * a->L + i;
        st(a->lse, dt, 2 * r, m);
        st(a->lse, dt, 2 * r + 1, l);
      }
  return CLT_OK;
}

/* With p = exp(score - m) / l, dp_j = g_i . v_j and D_i = g_i . out_i (= sum_j p_j dp_j):
 * ds = p (dp - D); dq_i = scale sum_j ds k_j, dk_j = scale sum_i ds q_i, dv_j = sum_i p g_i. */
clt_status clt__host_attn_bwd(clt_device *dev, const clt__attn_args *a) {
  (void)dev;
  clt_dtype dt = a->dt;
  int64_t L = a->L, S = a->S, E = a->E, Ev = a->Ev;
  double *dk = clt__malloc((size_t)(S * (E + Ev)) * sizeof *dk), *dv = dk + S * E, dq[CLT__ATTN_MAX];
  if (!dk) return clt__err(CLT_ERR_OOM, "cannot allocate %lld sums", (long long)(S * (E + Ev)));
  for (int64_t b0 = 0; b0 < a->B0; b0++)
    for (int64_t b1 = 0; b1 < a->B1; b1++) {
      int64_t b = b0 * a->B1 + b1;
      for (int64_t x = 0; x < S * (E + Ev); x++) dk[x] = 0;
      for (int64_t i = 0; i < L; i++) {
        double m = ld(a->lse, dt, 2 * (b * L + i)), l = ld(a->lse, dt, 2 * (b * L + i) + 1), D = 0;
        for (int64_t e = 0; e < Ev; e++)
          D += ld(a->g, dt, at(a->go, a->gs, b0, b1, i, e)) * ld(a->out, dt, at(a->oo, a->os, b0, b1, i, e));
        for (int64_t e = 0; e < E; e++) dq[e] = 0;
        for (int64_t j = 0, n = keys(a, i); j < S; j++) {
          double p = j < n ? exp(score(a, b0, b1, i, j) - m) / l : 0, dp = 0;
          for (int64_t e = 0; e < Ev; e++) {
            double g = ld(a->g, dt, at(a->go, a->gs, b0, b1, i, e));
            dp += g * ld(a->v, dt, at(a->vo, a->vs, b0, b1, j, e));
            dv[j * Ev + e] += p * g;
          }
          double ds = p * (dp - D) * a->scale;
          for (int64_t e = 0; e < E; e++) {
            dq[e] += ds * ld(a->k, dt, at(a->ko, a->ks, b0, b1, j, e));
            dk[j * E + e] += ds * ld(a->q, dt, at(a->qo, a->qs, b0, b1, i, e));
          }
        }
        if (a->dq)
          for (int64_t e = 0; e < E; e++) st(a->dq, dt, (b * L + i) * E + e, dq[e]);
      }
      for (int64_t j = 0; j < S; j++) {
        for (int64_t e = 0; a->dk && e < E; e++) st(a->dk, dt, (b * S + j) * E + e, dk[j * E + e]);
        for (int64_t e = 0; a->dv && e < Ev; e++) st(a->dv, dt, (b * S + j) * Ev + e, dv[j * Ev + e]);
      }
    }
  clt__free_mem(dk);
  return CLT_OK;
}
