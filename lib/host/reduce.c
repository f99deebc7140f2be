/* Host reference reductions: one pass per output in double (floats) or int64 (integers),
 * in order, so argmax/argmin find the first extreme; float32 and float64 sums and extremes read
 * in order or down columns take typed loops (fast_reduce). */
#include <math.h>
#include <stdlib.h>

#include "host.h"

/* The typed loops vectorized: GCC's -O2 leaves loops of unknown length scalar (host/ew.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

static double load(const clt__storage *st, clt_dtype dt, int64_t i) {
  return clt__load_f64(dt, (const char *)st->ptr + (size_t)i * clt_dtype_size(dt));
}

/* NaN beats everything and the first of equals stays. */
static bool better(double v, double best, bool want_max) {
  if (isnan(best)) return false;
  if (isnan(v)) return true;
  return want_max ? v > best : v < best;
}

static double safe_m(double m) { return isfinite(m) ? m : 0.0; }

/* The e of the slice scale 2^-e for max |x| in dtype dt (kernels/reduce.cl: clt_slice_exp). */
static int slice_exp(double maxabs, clt_dtype dt) {
  int lo = dt == CLT_FLOAT32 ? -100 : -1000, hi = dt == CLT_FLOAT32 ? 126 : 1022; /* 2^-e stays normal */
  int e = maxabs > 0 && isfinite(maxabs) ? ilogb(maxabs) : maxabs > 0 ? hi : lo - 1;
  return (e < lo - 1 ? lo - 1 : e > hi - 1 ? hi - 1 : e) + 1;
}

/* CLT__R_PRODX: the exclusive prefix products in double (kept in pre), times the exclusive
 * suffix products, rounded once: each element the product of the slice's others, zeros, infs
 * and NaNs included (kernels/reduce.cl: reduce_prodx). */
static clt_status prod_others(const clt__reduce_args *r) {
  const clt__rlayout *L = &r->L;
  double *pre = malloc((size_t)L->R * sizeof *pre);
  if (!pre) return clt__err(CLT_ERR_OOM, "cannot allocate %lld doubles for prod's gradient", (long long)L->R);
  size_t es = clt_dtype_size(r->dt);
  for (int64_t a = 0; a < L->A; a++)
    for (int64_t b = 0; b < L->B; b++) {
      int64_t base = L->off + a * L->sA + b * L->sB, o = r->out_off + a * L->R * L->B + b;
      double p = 1;
      for (int64_t i = 0; i < L->R; i++) {
        pre[i] = p;
        p *= load(r->in, r->dt, base + i * L->sR);
      }
      p = 1;
      for (int64_t i = L->R - 1; i >= 0; i--) {
        clt__store_f64(r->odt, (char *)r->out->ptr + (size_t)(o + i * L->B) * es, pre[i] * p);
        p *= load(r->in, r->dt, base + i * L->sR);
      }
    }
  free(pre);
  return CLT_OK;
}

/* ---- typed loops for float32 and float64 ------------------------------------------------
 * The loops above load every element through clt__load_f64 (a switch per element): a float32
 * sum of 1e6 elements took 2.9 ms, where PyTorch takes 25-30 us. These read the dtype itself.
 * Sums go in blocks of FAST_BLOCK elements, each into FAST_LANES independent accumulators of
 * the dtype (vector registers) combined pairwise, the blocks' sums added in double: the error
 * of a block is that of a sum of FAST_BLOCK / FAST_LANES terms, smaller than a sequential
 * float sum's, and nothing past a block rounds to float. Extremes take each lane's extreme by
 * comparison, then the index as the first element equal to the extreme: the first of equal
 * values, as the loop above; a slice holding a NaN or an infinity goes through the plain loop
 * (NaN flags of int beside the float lanes kept GCC from vectorizing: 330 us for 1e6). */
#define FAST_LANES 32
#define FAST_BLOCK 4096

#define DEF_FAST(T, SFX)                                                                            \
  static double sum_##SFX(const T *p, int64_t n) {                                                  \
    double tot = 0;                                                                                 \
    for (int64_t b = 0; b < n; b += FAST_BLOCK) {                                                   \
      int64_t e = n - b > FAST_BLOCK ? b + FAST_BLOCK : n, i = b;                                   \
      T acc[FAST_LANES] = {0};                                                                      \
      for (; i + FAST_LANES <= e; i += FAST_LANES)                                                  \
        for (int j = 0; j < FAST_LANES; j++) acc[j] += p[i + j];                                    \
      for (int w = FAST_LANES / 2; w > 0; w /= 2)                                                   \
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];                                           \
      double s = acc[0];                                                                            \
      for (; i < e; i++) s += p[i];                                                                 \
      tot += s;                                                                                     \
    }                                                                                               \
    return tot;                                                                                     \
  }                                                                                                 \
  /* the index of the first extreme of p[0, n), n > 0; the lanes' loop ends in chk[j] NaN       \
   * where a NaN or an infinity passed, and then the plain loop decides */                         \
  static int64_t ext_##SFX(const T *p, int64_t n, bool want_max) {                                  \
    T acc[FAST_LANES], chk[FAST_LANES];                                                             \
    int64_t i = 0;                                                                                  \
    bool plain = n < FAST_LANES;                                                                    \
    T best = p[0];                                                                                  \
    if (!plain) {                                                                                   \
      for (int j = 0; j < FAST_LANES; j++) {                                                        \
        acc[j] = p[j];                                                                              \
        chk[j] = p[j] * 0;                                                                          \
      }                                                                                             \
      if (want_max)                                                                                 \
        for (i = FAST_LANES; i + FAST_LANES <= n; i += FAST_LANES)                                  \
          for (int j = 0; j < FAST_LANES; j++) {                                                    \
            acc[j] = p[i + j] > acc[j] ? p[i + j] : acc[j];                                         \
            chk[j] += p[i + j] * 0;                                                                 \
          }                                                                                         \
      else                                                                                          \
        for (i = FAST_LANES; i + FAST_LANES <= n; i += FAST_LANES)                                  \
          for (int j = 0; j < FAST_LANES; j++) {                                                    \
            acc[j] = p[i + j] < acc[j] ? p[i + j] : acc[j];                                         \
            chk[j] += p[i + j] * 0;                                                                 \
          }                                                                                         \
      T c = 0;                                                                                      \
      for (int j = 0; j < FAST_LANES; j++) c += chk[j];                                             \
      for (int64_t t = i; t < n; t++) c += p[t] * 0;                                                \
      plain = c != 0;                                                                               \
      best = acc[0];                                                                                \
      for (int j = 1; !plain && j < FAST_LANES; j++)                                                \
        if (want_max ? acc[j] > best : acc[j] < best) best = acc[j];                                \
    }                                                                                               \
    if (plain) { /* NaN wins, the first of equals stays (better, above) */                          \
      int64_t k = 0;                                                                                \
      for (i = 1; i < n && p[k] == p[k]; i++)                                                       \
        if (p[i] != p[i] || (want_max ? p[i] > p[k] : p[i] < p[k])) k = i;                          \
      return k;                                                                                     \
    }                                                                                               \
    for (; i < n; i++)                                                                              \
      if (want_max ? p[i] > best : p[i] < best) best = p[i];                                        \
    int64_t k = 0;                                                                                  \
    for (; k + FAST_LANES <= n; k += FAST_LANES) { /* by blocks: a scalar search cost as much */    \
      int hit = 0;                                                                                  \
      for (int j = 0; j < FAST_LANES; j++) hit |= p[k + j] == best;                                 \
      if (hit) break;                                                                               \
    }                                                                                               \
    while (p[k] != best) k++;                                                                       \
    return k;                                                                                       \
  }                                                                                                 \
  /* sums down columns: each row added to the a's B sums in double */                               \
  static void colsum_##SFX(const T *p, int64_t R, int64_t B, int64_t sR, double *acc) {             \
    for (int64_t b = 0; b < B; b++) acc[b] = 0;                                                     \
    for (int64_t r = 0; r < R; r++)                                                                 \
      for (int64_t b = 0; b < B; b++) acc[b] += p[r * sR + b];                                      \
  }
DEF_FAST(float, f32)
DEF_FAST(double, f64)

/* var's, std's and logsumexp's passes over a slice read in order (the loop below, typed): in
 * double, as there, in FAST_FOLD lanes. */
#define FAST_FOLD 4
#define FOLD_LOOP(EXPR, COMB)                                                                       \
  for (; i + FAST_FOLD <= n; i += FAST_FOLD)                                                        \
    for (int j = 0; j < FAST_FOLD; j++) {                                                           \
      double v = p[i + j], t = (EXPR);                                                              \
      acc[j] = COMB(acc[j], t);                                                                     \
    }                                                                                               \
  for (; i < n; i++) {                                                                              \
    double v = p[i], t = (EXPR);                                                                    \
    acc[0] = COMB(acc[0], t);                                                                       \
  }                                                                                                 \
  return COMB(COMB(acc[0], acc[1]), COMB(acc[2], acc[3]));
#define FOLD_ADD(x, y) ((x) + (y))
#define FOLD_MAX(x, y) ((y) > (x) ? (y) : (x)) /* as fmax: NaN (y) ignored */
/* float32's exp(x - m) as the kernels compute it, in float (expf: logsumexp over 1e6 floats
 * 7.6 ms with exp in double, 2.9 with expf) */
#define EXP_f32(v, mm) (double)expf((float)(v) - (float)(mm))
#define EXP_f64(v, mm) exp((v) - (mm))
#define DEF_FOLD(T, SFX)                                                                            \
  static double fold_##SFX(clt__rop op, const T *p, int64_t n, double sc, double ms, double rs, double mm) { \
    double acc[FAST_FOLD] = {0};                                                                    \
    int64_t i = 0;                                                                                  \
    switch (op) {                                                                                   \
      case CLT__R_SQDEV: FOLD_LOOP((v * sc - ms - rs) * (v * sc - ms - rs), FOLD_ADD)               \
      case CLT__R_DEVSUM: FOLD_LOOP(v * sc - ms, FOLD_ADD)                                          \
      case CLT__R_SUMSC: FOLD_LOOP(v * sc, FOLD_ADD)                                                \
      case CLT__R_MAXABS: FOLD_LOOP(fabs(v), FOLD_MAX)                                              \
      default: FOLD_LOOP(EXP_##SFX(v, mm), FOLD_ADD) /* CLT__R_SUMEXP */                            \
    }                                                                                               \
  }
DEF_FOLD(float, f32)
DEF_FOLD(double, f64)

static bool foldable(const clt__reduce_args *r) {
  return (r->dt == CLT_FLOAT32 || r->dt == CLT_FLOAT64) && r->L.sR == 1 &&
         (r->op == CLT__R_SQDEV || r->op == CLT__R_DEVSUM || r->op == CLT__R_SUMSC || r->op == CLT__R_MAXABS ||
          r->op == CLT__R_SUMEXP);
}

/* Stores a float result (post-op SCALE applied) at output o. */
static void fast_store(const clt__reduce_args *r, int64_t o, double v) {
  if (r->post == CLT__POST_SCALE) v *= r->scale;
  clt__store_f64(r->odt, (char *)r->out->ptr + (size_t)(r->out_off + o) * clt_dtype_size(r->odt), v);
}

/* The typed loops when they apply (*done): float32 or float64 in, its own dtype out, sums
 * (plain or scaled: mean) and extremes along R read in order, or sums down columns (sB = 1). */
static clt_status fast_reduce(const clt__reduce_args *r, bool *done) {
  clt__rlayout Lc = r->L, *L = &Lc;
  /* one output per a, a stepping by one element (x.T.sum(1)): the same outputs as b, down
   * columns (lib/cl/reduce.c does the same) */
  if (L->B == 1 && L->A > 1 && L->R > 1 && L->sA == 1 && L->sR > 1)
    Lc = (clt__rlayout){.A = 1, .R = L->R, .B = L->A, .sA = 0, .sR = L->sR, .sB = 1, .off = L->off};
  bool f32 = r->dt == CLT_FLOAT32, sum = r->op == CLT__R_SUM;
  bool ext = r->op == CLT__R_MAX || r->op == CLT__R_MIN || r->op == CLT__R_ARGMAX || r->op == CLT__R_ARGMIN;
  *done = false;
  if ((!f32 && r->dt != CLT_FLOAT64) || (!sum && !ext) || (r->post != CLT__POST_NONE && r->post != CLT__POST_SCALE) ||
      (r->out && r->odt != r->dt) || L->R == 0)
    return CLT_OK;
  bool cols = sum && L->sR != 1 && L->sB == 1 && L->B > 1;
  if (L->sR != 1 && !cols) return CLT_OK;
  size_t es = clt_dtype_size(r->dt);
  if (cols) {
    double *acc = malloc((size_t)L->B * sizeof *acc);
    if (!acc) return clt__err(CLT_ERR_OOM, "cannot allocate %lld doubles for a sum down columns", (long long)L->B);
    for (int64_t a = 0; a < L->A; a++) {
      const char *p = (const char *)r->in->ptr + (size_t)(L->off + a * L->sA) * es;
      if (f32) colsum_f32((const float *)p, L->R, L->B, L->sR, acc);
      else colsum_f64((const double *)p, L->R, L->B, L->sR, acc);
      for (int64_t b = 0; b < L->B; b++) fast_store(r, a * L->B + b, acc[b]);
    }
    free(acc);
    *done = true;
    return CLT_OK;
  }
  bool want_max = r->op == CLT__R_MAX || r->op == CLT__R_ARGMAX;
  for (int64_t a = 0; a < L->A; a++)
    for (int64_t b = 0; b < L->B; b++) {
      int64_t o = a * L->B + b;
      const char *p = (const char *)r->in->ptr + (size_t)(L->off + a * L->sA + b * L->sB) * es;
      if (sum) {
        fast_store(r, o, f32 ? sum_f32((const float *)p, L->R) : sum_f64((const double *)p, L->R));
        continue;
      }
      int64_t k = f32 ? ext_f32((const float *)p, L->R, want_max) : ext_f64((const double *)p, L->R, want_max);
      if (r->idx) ((int64_t *)r->idx->ptr)[r->idx_off + o] = k;
      if (r->out) fast_store(r, o, clt__load_f64(r->dt, p + (size_t)k * es));
    }
  *done = true;
  return CLT_OK;
}

clt_status clt__host_reduce(clt_device *dev, const clt__reduce_args *r) {
  (void)dev;
  if (r->op == CLT__R_PRODX) return prod_others(r);
  bool done;
  clt_status fs = fast_reduce(r, &done);
  if (fs != CLT_OK || done) return fs;
  const clt__rlayout *L = &r->L;
  bool is_float = clt_dtype_is_float(r->dt), fold = foldable(r);
  size_t ies = clt_dtype_size(r->dt);
  for (int64_t a = 0; a < L->A; a++)
    for (int64_t b = 0; b < L->B; b++) {
      int64_t o = a * L->B + b, base = L->off + a * L->sA + b * L->sB;
      double m = r->m ? load(r->m, r->dt, r->m_off + o) : 0, acc = 0;
      int e = r->m && r->op != CLT__R_SUMEXP ? slice_exp(m, r->dt) : 0; /* m is max |x| */
      bool dev = r->op == CLT__R_SQDEV || r->op == CLT__R_DEVSUM; /* m = [max |x|, mean, residual] */
      double sc = ldexp(1.0, -e), ms = dev ? load(r->m, r->dt, r->m_off + L->A * L->B + o) : 0;
      double rs = r->op == CLT__R_SQDEV ? load(r->m, r->dt, r->m_off + 2 * L->A * L->B + o) : 0;
      int64_t iacc = r->op == CLT__R_PROD ? 1 : 0, best_i = 0;
      if (r->op == CLT__R_PROD) acc = 1;
      if (fold) {
        const char *p = (const char *)r->in->ptr + (size_t)base * ies;
        acc = r->dt == CLT_FLOAT32 ? fold_f32(r->op, (const float *)p, L->R, sc, ms, rs, safe_m(m))
                                   : fold_f64(r->op, (const double *)p, L->R, sc, ms, rs, safe_m(m));
      }
      for (int64_t i = 0; i < (fold ? 0 : L->R); i++) {
        const char *p = (const char *)r->in->ptr + (size_t)(base + i * L->sR) * ies;
        double v = is_float ? clt__load_f64(r->dt, p) : (double)clt__load_i64(r->dt, p);
        switch (r->op) {
          case CLT__R_SUM:
            if (is_float) acc += v;
            else iacc = (int64_t)((uint64_t)iacc + (uint64_t)clt__load_i64(r->dt, p));
            break;
          case CLT__R_PROD:
            if (is_float) acc *= v;
            else iacc = (int64_t)((uint64_t)iacc * (uint64_t)clt__load_i64(r->dt, p));
            break;
          case CLT__R_MAX: case CLT__R_MIN: case CLT__R_ARGMAX: case CLT__R_ARGMIN: {
            bool want_max = r->op == CLT__R_MAX || r->op == CLT__R_ARGMAX;
            if (i == 0 || better(v, acc, want_max)) {
              acc = v;
              best_i = i;
            }
            break;
          }
          case CLT__R_SQDEV: acc += (v * sc - ms - rs) * (v * sc - ms - rs); break;
          case CLT__R_DEVSUM: acc += v * sc - ms; break;
          case CLT__R_SUMEXP: acc += exp(v - safe_m(m)); break;
          case CLT__R_MAXABS: acc = fmax(acc, fabs(v)); break;
          case CLT__R_SUMSC: acc += v * sc; break;
          default: break;
        }
      }
      if ((r->op == CLT__R_SUM || r->op == CLT__R_PROD) && !is_float) acc = (double)iacc;
      switch (r->post) {
        case CLT__POST_SCALE: acc *= r->scale; break;
        case CLT__POST_STD: acc = ldexp(sqrt(acc * r->scale), e); break;
        case CLT__POST_LOG_ADD_M: acc = log(acc) + safe_m(m); break;
        case CLT__POST_VAR: acc = ldexp(acc * r->scale, 2 * e); break;
        case CLT__POST_UNSCALE: acc = ldexp(acc * r->scale, e); break;
        default: break;
      }
      if (r->idx) ((int64_t *)r->idx->ptr)[r->idx_off + o] = best_i;
      if (!r->out) continue;
      char *dst = (char *)r->out->ptr + (size_t)(r->out_off + o) * clt_dtype_size(r->odt);
      if ((r->op == CLT__R_SUM || r->op == CLT__R_PROD) && !is_float) *(int64_t *)dst = iacc;
      else if (!is_float && (r->op == CLT__R_MAX || r->op == CLT__R_MIN)) {
        /* integer extremes copy the element itself (exact for int64) */
        const char *p = (const char *)r->in->ptr + (size_t)(base + best_i * L->sR) * ies;
        for (size_t k = 0; k < ies; k++) dst[k] = p[k];
      } else clt__store_f64(r->odt, dst, acc);
    }
  return CLT_OK;
}

/* Row (a, b)'s max and sum of exp(x - max), each rounded to the dtype as the reductions store
 * them: the statistics of a softmax given without them (lib/backend.h: clt__softmax_args). */
static void row_stats(const clt__softmax_args *s, int64_t a, int64_t b, double *mr, double *sum) {
  const clt__rlayout *L = &s->L;
  int64_t base = L->off + a * L->sA + b * L->sB;
  double m = load(s->in, s->dt, base), acc = 0;
  for (int64_t i = 1; i < L->R; i++) {
    double v = load(s->in, s->dt, base + i * L->sR);
    if (better(v, m, true)) m = v;
  }
  for (int64_t i = 0; i < L->R; i++) acc += exp(load(s->in, s->dt, base + i * L->sR) - safe_m(m));
  unsigned char r[8];
  clt__store_f64(s->dt, r, acc);
  *mr = m;
  *sum = clt__load_f64(s->dt, r);
}

/* A row of softmax or log_softmax found and written by typed loops (float32 or float64 rows read
 * and written in order, no statistics given), as row_stats and the loop below compute it: the
 * max (ext_), each exp(x - m) written as it is summed (float32's in float, as the kernels), then
 * divided in place, one exp per element (softmax over rows of 1e6 floats: 17.6 -> 5.0 ms). */
#define DEF_SOFTMAX_ROW(T, SFX, EXPF)                                                               \
  static void softmax_row_##SFX(const T *p, T *q, int64_t n, bool lg) {                             \
    T mr = p[ext_##SFX(p, n, true)], mm = isfinite(mr) ? mr : 0;                                    \
    double sum = 0;                                                                                 \
    for (int64_t i = 0; i < n; i++) {                                                               \
      T e = EXPF(p[i] - mm);                                                                        \
      if (!lg) q[i] = e;                                                                            \
      sum += e;                                                                                     \
    }                                                                                               \
    T ss = (T)sum + (mr - mr); /* rounded to the dtype as the reductions store it; NaN rows */      \
    if (lg) {                                                                                       \
      T ls = log(ss);                                                                               \
      for (int64_t i = 0; i < n; i++) q[i] = p[i] - mm - ls;                                        \
    } else                                                                                          \
      for (int64_t i = 0; i < n; i++) q[i] = q[i] / ss;                                             \
  }
DEF_SOFTMAX_ROW(float, f32, expf)
DEF_SOFTMAX_ROW(double, f64, exp)

clt_status clt__host_softmax(clt_device *dev, const clt__softmax_args *s) {
  if (!s->m && (s->dt == CLT_FLOAT32 || s->dt == CLT_FLOAT64) && s->L.sR == 1 && s->oR == 1 && s->L.R > 0) {
    size_t es = clt_dtype_size(s->dt);
    for (int64_t a = 0; a < s->L.A; a++)
      for (int64_t b = 0; b < s->L.B; b++) {
        const char *p = (const char *)s->in->ptr + (size_t)(s->L.off + a * s->L.sA + b * s->L.sB) * es;
        char *q = (char *)s->out->ptr + (size_t)(s->out_off + a * s->oA + b * s->oB) * es;
        if (s->dt == CLT_FLOAT32) softmax_row_f32((const float *)p, (float *)q, s->L.R, s->log);
        else softmax_row_f64((const double *)p, (double *)q, s->L.R, s->log);
      }
    return CLT_OK;
  }
  (void)dev;
  const clt__rlayout *L = &s->L;
  for (int64_t a = 0; a < L->A; a++)
    for (int64_t b = 0; b < L->B; b++) {
      int64_t o = a * L->B + b;
      double mr, sum;
      if (s->m) {
        mr = load(s->m, s->dt, o);
        sum = load(s->s, s->dt, o);
      } else
        row_stats(s, a, b, &mr, &sum);
      double m = safe_m(mr);
      sum += mr - mr; /* reduce.cl */
      double ls = s->log ? log(sum) : 0; /* once per row, not per element: log_softmax 4x faster */
      for (int64_t i = 0; i < L->R; i++) {
        double v = load(s->in, s->dt, L->off + a * L->sA + i * L->sR + b * L->sB);
        double y = s->log ? v - m - ls : exp(v - m) / sum;
        clt__store_f64(s->dt, (char *)s->out->ptr + (size_t)(s->out_off + a * s->oA + i * s->oR + b * s->oB) *
                                                        clt_dtype_size(s->dt), y);
      }
    }
  return CLT_OK;
}
