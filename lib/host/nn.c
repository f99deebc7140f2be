/* Host reference of the fused cross entropy and the optimizer steps, in double. */
#include <math.h>

#include "clt/nn.h"
#include "host.h"

static double ld(const clt__storage *s, clt_dtype dt, int64_t i) {
  return clt__load_f64(dt, (const char *)s->ptr + (size_t)i * clt_dtype_size(dt));
}

static void st(clt__storage *s, clt_dtype dt, int64_t i, double v) {
  clt__store_f64(dt, (char *)s->ptr + (size_t)i * clt_dtype_size(dt), v);
}

static int64_t label(const clt__ce_args *a, int64_t i) {
  return clt__load_i64(a->idt, (const char *)a->y->ptr + (size_t)(a->yo + i) * clt_dtype_size(a->idt));
}

clt_status clt__host_ce_fwd(clt_device *dev, const clt__ce_args *a) {
  (void)dev;
  for (int64_t i = 0; i < a->N; i++) {
    int64_t r = a->xo + i * a->C;
    double m = ld(a->x, a->dt, r), s = 0;
    for (int64_t c = 1; c < a->C; c++) m = fmax(m, ld(a->x, a->dt, r + c));
    double ms = isfinite(m) ? m : 0;
    for (int64_t c = 0; c < a->C; c++) s += exp(ld(a->x, a->dt, r + c) - ms);
    int64_t t = label(a, i);
    st(a->lse, a->dt, 2 * i, ms); /* kernels/loss.cl: the softmax is exp(x - m) / s */
    st(a->lse, a->dt, 2 * i + 1, s);
    st(a->loss, a->dt, i, t >= 0 && t < a->C ? (ms - ld(a->x, a->dt, r + t)) + log(s) : NAN);
  }
  return CLT_OK;
}

clt_status clt__host_ce_bwd(clt_device *dev, const clt__ce_args *a) {
  (void)dev;
  for (int64_t i = 0; i < a->N; i++) {
    double m = ld(a->lse, a->dt, 2 * i), s = ld(a->lse, a->dt, 2 * i + 1), g = ld(a->g, a->dt, a->go + i * a->gs);
    int64_t t = label(a, i);
    for (int64_t c = 0; c < a->C; c++) {
      double p = exp(ld(a->x, a->dt, a->xo + i * a->C + c) - m) / s;
      st(a->out, a->dt, i * a->C + c, (p - (c == t ? 1.0 : 0.0)) * g);
    }
  }
  return CLT_OK;
}

clt_status clt__host_optim_step(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                                int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2) {
  (void)dev;
  for (int64_t i = 0; i < n; i++) {
    double x = ld(p, dt, po + i), gr = ld(g, dt, go + i);
    if (hp->kind == CLT_OPTIM_SGD) {
      gr += hp->weight_decay * x;
      if (hp->momentum != 0) {
        double b = hp->first ? gr : hp->momentum * ld(s1, dt, i) + (1 - hp->dampening) * gr;
        st(s1, dt, i, b);
        gr = hp->nesterov ? gr + hp->momentum * b : b;
      }
      st(p, dt, po + i, x - hp->lr * gr);
    } else {
      if (hp->kind == CLT_OPTIM_ADAMW) x *= 1 - hp->lr * hp->weight_decay;
      else gr += hp->weight_decay * x;
      double m = hp->beta1 * ld(s1, dt, i) + (1 - hp->beta1) * gr;
      double v = hp->beta2 * ld(s2, dt, i) + (1 - hp->beta2) * gr * gr;
      st(s1, dt, i, m);
      st(s2, dt, i, v);
      st(p, dt, po + i, x - (hp->lr / hp->bc1) * m / (sqrt(v) / sqrt(hp->bc2) + hp->eps));
    }
  }
  return CLT_OK;
}

clt_status clt__host_optim_steps(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int n,
                                 const clt__optim_part *parts) {
  for (int i = 0; i < n; i++) {
    clt__optim_hp h = *hp;
    h.first = parts[i].first;
    const clt__optim_part *x = &parts[i];
    clt_status s = clt__host_optim_step(dev, &h, dt, x->n, x->p, x->po, x->g, x->go, x->s1, x->s2);
    if (s != CLT_OK) return s;
  }
  return CLT_OK;
}
