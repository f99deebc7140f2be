/* Host reference reductions: one pass per output in double (floats) or int64 (integers),
 * in order, so argmax/argmin find the first extreme. */
#include <math.h>
#include <stdlib.h>

#include "host.h"

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

clt_status clt__host_reduce(clt_device *dev, const clt__reduce_args *r) {
  (void)dev;
  if (r->op == CLT__R_PRODX) return prod_others(r);
  const clt__rlayout *L = &r->L;
  bool is_float = clt_dtype_is_float(r->dt);
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
      for (int64_t i = 0; i < L->R; i++) {
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

clt_status clt__host_softmax(clt_device *dev, const clt__softmax_args *s) {
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
