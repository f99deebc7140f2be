/* The dynamic loss scaler of mixed-precision training (clt/amp.h), as PyTorch's GradScaler. */
#include <math.h>

#include "clt/amp.h"
#include "core.h"
#include "ew.h"
#include "optim.h"
#include "grad.h"
#include "reduce.h"

struct clt_grad_scaler {
  clt_grad_scaler_config c;
  double scale;
  int64_t clean; /* steps in a row without inf or NaN since the scale last changed */
  bool unscaled, found_inf;
};

clt_grad_scaler_config clt_grad_scaler_defaults(void) {
  return (clt_grad_scaler_config){.init_scale = 65536.0, .growth_factor = 2.0, .backoff_factor = 0.5,
                                  .growth_interval = 2000, .enabled = true};
}

clt_status clt_grad_scaler_create(const clt_grad_scaler_config *config, clt_grad_scaler **out) {
  clt__api("clt_grad_scaler_create");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  clt_grad_scaler_config c = config ? *config : clt_grad_scaler_defaults();
  if (!(c.init_scale > 0) || isinf(c.init_scale))
    return clt__err(CLT_ERR_INVALID_ARG, "init_scale %g must be finite and > 0", c.init_scale);
  if (!(c.growth_factor > 1) || isinf(c.growth_factor))
    return clt__err(CLT_ERR_INVALID_ARG, "growth_factor %g must be finite and > 1", c.growth_factor);
  if (!(c.backoff_factor > 0 && c.backoff_factor < 1))
    return clt__err(CLT_ERR_INVALID_ARG, "backoff_factor %g must be in (0, 1)", c.backoff_factor);
  if (c.growth_interval < 1)
    return clt__err(CLT_ERR_INVALID_ARG, "growth_interval %lld must be >= 1", (long long)c.growth_interval);
  clt_grad_scaler *s = clt__malloc(sizeof *s);
  if (!s) return clt__err(CLT_ERR_OOM, "cannot allocate a grad scaler");
  *s = (clt_grad_scaler){.c = c, .scale = c.enabled ? c.init_scale : 1.0};
  *out = s;
  return CLT_OK;
}

void clt_grad_scaler_release(clt_grad_scaler *s) { clt__free_mem(s); }

double clt_grad_scaler_get_scale(const clt_grad_scaler *s) { return s ? s->scale : NAN; }

clt_tensor *clt_grad_scaler_scale(clt_grad_scaler *s, clt_tensor *loss) {
  clt__api("clt_grad_scaler_scale");
  if (!s || !loss) return clt__null_arg(s ? "loss" : "s"), NULL;
  if (!s->c.enabled) return clt__ret(clt__retain(loss));
  clt_tensor *l32 = loss->dtype == CLT_FLOAT64 ? clt__retain(loss) : clt__rec_cast(loss, CLT_FLOAT32);
  clt_tensor *out = l32 ? clt__rec_scalar(CLT_OP_mul, l32, s->scale, false) : NULL;
  clt__tensor_release(l32);
  return clt__ret(out);
}

/* g / scale in place; *bad = whether g holds inf or NaN: sum(g * 0) is NaN exactly then (it
 * cannot overflow), added into *acc on g's device so that the step reads one number. */
static clt_status unscale_one(clt_tensor *g, double inv, clt_tensor **acc) {
  const double sc[2] = {inv, 0};
  clt_status st = clt__ew_run(CLT_OP_mul, g, &g, 1, g->dtype, sc, 1);
  if (st != CLT_OK) return st;
  clt_tensor *z = clt__binary_scalar(CLT_OP_mul, g, 0.0, false), *zs = z ? clt__sum(z, 0, NULL, false) : NULL;
  clt_tensor *zd = zs ? clt__cast(zs, CLT_FLOAT32) : NULL;
  clt_tensor *there = zd && *acc ? clt__to(zd, (*acc)->st->dev) : clt__retain(zd);
  clt_tensor *sum = there && *acc ? clt__binary(CLT_OP_add, *acc, there) : clt__retain(there);
  st = sum ? CLT_OK : clt_last_status();
  clt__tensor_release(z);
  clt__tensor_release(zs);
  clt__tensor_release(zd);
  clt__tensor_release(there);
  clt__tensor_release(*acc);
  *acc = sum;
  return st;
}

static clt_status unscale(clt_grad_scaler *s, int n, clt_tensor *const *params) {
  if (s->unscaled)
    return clt__err(CLT_ERR_STATE, "the gradients were unscaled already since the last clt_grad_scaler_update");
  s->found_inf = false;
  if (!s->c.enabled) {
    s->unscaled = true;
    return CLT_OK;
  }
  clt_tensor *acc = NULL;
  clt_status st = CLT_OK;
  for (int i = 0; i < n && st == CLT_OK; i++) {
    clt_tensor *g = params[i] ? params[i]->grad : NULL;
    if (g && g->numel) st = unscale_one(g, 1.0 / s->scale, &acc);
  }
  if (st == CLT_OK && acc) {
    unsigned char buf[8];
    st = clt__to_host(acc, buf);
    s->found_inf = st == CLT_OK && isnan(clt__load_f64(acc->dtype, buf));
  }
  clt__tensor_release(acc);
  if (st == CLT_OK) s->unscaled = true;
  return st;
}

clt_status clt_grad_scaler_unscale(clt_grad_scaler *s, int n, clt_tensor *const *params, bool *found_inf) {
  clt__api("clt_grad_scaler_unscale");
  if (!s) return clt__null_arg("s");
  if (n < 0 || (n > 0 && !params)) return clt__err(CLT_ERR_INVALID_ARG, "n %d with params %s", n, params ? "given" : "NULL");
  clt_status st = unscale(s, n, params);
  if (found_inf) *found_inf = s->found_inf;
  return st;
}

clt_status clt_grad_scaler_step(clt_grad_scaler *s, clt_optim *o, bool *stepped) {
  clt__api("clt_grad_scaler_step");
  if (stepped) *stepped = false;
  if (!s || !o) return clt__null_arg(s ? "o" : "s");
  clt_status st = CLT_OK;
  if (!s->unscaled) {
    int n = clt__optim_count(o);
    clt_tensor **ps = clt__malloc(sizeof *ps * (size_t)(n ? n : 1));
    if (!ps) return clt__err(CLT_ERR_OOM, "cannot allocate %d parameter pointers", n);
    for (int i = 0; i < n; i++) ps[i] = (clt_tensor *)clt__optim_param(o, i);
    st = unscale(s, n, ps);
    clt__free_mem(ps);
  }
  if (st != CLT_OK || s->found_inf) return st;
  st = clt_optim_step(o);
  if (st == CLT_OK && stepped) *stepped = true;
  return st;
}

clt_status clt_grad_scaler_update(clt_grad_scaler *s) {
  clt__api("clt_grad_scaler_update");
  if (!s) return clt__null_arg("s");
  if (s->c.enabled && s->unscaled) {
    if (s->found_inf) {
      s->scale *= s->c.backoff_factor;
      s->clean = 0;
    } else if (++s->clean >= s->c.growth_interval) {
      s->scale *= s->c.growth_factor;
      s->clean = 0;
    }
  }
  s->unscaled = false;
  s->found_inf = false;
  return CLT_OK;
}
