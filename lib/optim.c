/* Optimizers: per-parameter state on the parameter's device; a step makes one backend call (one
 * fused kernel on OpenCL) per CLT__OPTIM_SLOTS parameters of a dtype. */
#include <math.h>
#include <string.h>

#include "dispatch.h"
#include "clt/nn.h"
#include "ew.h"
#include "optim.h"

struct clt_optim {
  clt_optim_config cfg;
  int n;
  clt_tensor **params;
  clt_tensor **s1, **s2; /* SGD: momentum buffer; Adam: m, v (created on the first step) */
  int64_t steps;
};

clt_optim_config clt_optim_defaults(clt_optim_kind kind) {
  clt_optim_config c = {.kind = kind, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  if (kind == CLT_OPTIM_SGD) c.lr = 0.01;
  if (kind == CLT_OPTIM_ADAMW) c.weight_decay = 0.01;
  return c;
}

static clt_status check_config(const clt_optim_config *c) {
  if (c->kind != CLT_OPTIM_SGD && c->kind != CLT_OPTIM_ADAM && c->kind != CLT_OPTIM_ADAMW)
    return clt__err(CLT_ERR_INVALID_ARG, "optimizer kind %d is not SGD, Adam or AdamW", (int)c->kind);
  if (!(c->lr >= 0) || !isfinite(c->lr)) return clt__err(CLT_ERR_INVALID_ARG, "lr %g must be >= 0", c->lr);
  if (!(c->weight_decay >= 0)) return clt__err(CLT_ERR_INVALID_ARG, "weight_decay %g must be >= 0", c->weight_decay);
  if (c->kind == CLT_OPTIM_SGD) {
    if (!(c->momentum >= 0)) return clt__err(CLT_ERR_INVALID_ARG, "momentum %g must be >= 0", c->momentum);
    if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
      return clt__err(CLT_ERR_INVALID_ARG, "nesterov needs momentum > 0 and dampening 0");
  } else {
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
      return clt__err(CLT_ERR_INVALID_ARG, "betas (%g, %g) must be in [0, 1)", c->beta1, c->beta2);
    if (!(c->eps >= 0)) return clt__err(CLT_ERR_INVALID_ARG, "eps %g must be >= 0", c->eps);
  }
  return CLT_OK;
}

void clt_optim_release(clt_optim *o) {
  if (!o) return;
  for (int i = 0; i < o->n; i++) {
    clt__tensor_release(o->params[i]);
    if (o->s1) clt__tensor_release(o->s1[i]);
    if (o->s2) clt__tensor_release(o->s2[i]);
  }
  clt__free_mem(o->params);
  clt__free_mem(o->s1);
  clt__free_mem(o->s2);
  clt__free_mem(o);
}

clt_status clt_optim_create(const clt_optim_config *config, int n, clt_tensor *const *params, clt_optim **out) {
  clt__api("clt_optim_create");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!config) return clt__err(CLT_ERR_INVALID_ARG, "argument config is NULL");
  if (n < 1 || !params) return clt__err(CLT_ERR_INVALID_ARG, "needs at least one parameter (n is %d)", n);
  clt_status s = check_config(config);
  if (s != CLT_OK) return s;
  for (int i = 0; i < n; i++) {
    clt_tensor *p = params[i];
    if (!p) return clt__err(CLT_ERR_INVALID_ARG, "params[%d] is NULL", i);
    if (!p->requires_grad || p->grad_fn || !clt_dtype_is_float(p->dtype))
      return clt__err(CLT_ERR_INVALID_ARG, "params[%d] is not a float leaf that requires grad", i);
    if (!clt__is_contig(p) || p->offset != 0)
      return clt__err(CLT_ERR_INVALID_ARG, "params[%d] is a view; parameters must own contiguous storage", i);
    if (!clt__same_device(p->st->dev, params[0]->st->dev))
      return clt__err(CLT_ERR_DEVICE_MISMATCH, "params[%d] is on %s, params[0] on %s", i, p->st->dev->info.spec,
                      params[0]->st->dev->info.spec);
    /* each parameter is stepped once a step, and a step's launch may update several at once:
     * the same memory twice would be stepped twice, by work-items racing on it */
    for (int j = 0; j < i; j++)
      if (params[j]->st == p->st)
        return clt__err(CLT_ERR_INVALID_ARG, "params[%d] and params[%d] are the same parameter (or share its memory); "
                        "list each parameter once", j, i);
  }
  clt_optim *o = clt__calloc(1, sizeof *o);
  if (o) {
    o->params = clt__calloc((size_t)n, sizeof *o->params);
    o->s1 = clt__calloc((size_t)n, sizeof *o->s1);
    o->s2 = clt__calloc((size_t)n, sizeof *o->s2);
  }
  if (!o || !o->params || !o->s1 || !o->s2) {
    clt_optim_release(o);
    return clt__err(CLT_ERR_OOM, "cannot allocate an optimizer for %d parameters", n);
  }
  o->cfg = *config;
  o->n = n;
  for (int i = 0; i < n; i++) o->params[i] = clt__retain(params[i]);
  *out = o;
  return CLT_OK;
}

/* Runs the parameters of parts (their indices in idx) through one backend call: optim_steps
 * where there are several and the backend has it (one launch on OpenCL instead of one each),
 * else optim_step each; their versions move once stepped. *done: how many were stepped (all or
 * none through optim_steps; those before the failing call through optim_step). */
static clt_status run_parts(clt_optim *o, const clt__optim_hp *hp, clt_dtype dt, int n, const clt__optim_part *parts,
                            const int *idx, int *done) {
  *done = 0;
  if (n == 0) return CLT_OK;
  clt_device *dev = parts[0].p->dev;
  clt_status s = CLT_OK;
  if (n > 1 && dev->be->optim_steps) {
    if ((s = clt__run_optim_steps(dev, hp, dt, n, parts)) == CLT_OK) *done = n;
  } else
    for (int i = 0; i < n && s == CLT_OK; i++) {
      clt__optim_hp h = *hp;
      h.first = parts[i].first;
      const clt__optim_part *x = &parts[i];
      if ((s = clt__run_optim_step(dev, &h, dt, x->n, x->p, x->po, x->g, x->go, x->s1, x->s2)) == CLT_OK) *done = i + 1;
    }
  for (int i = 0; i < *done; i++) atomic_fetch_add(&o->params[idx[i]]->st->version, 1);
  return s;
}

/* A parameter not stepped after all forgets the state its first step created, so that its next
 * step is a first step again (SGD's momentum buffer starts as the gradient there). */
static void unstart(clt_optim *o, int i) {
  clt__tensor_release(o->s1[i]);
  clt__tensor_release(o->s2[i]);
  o->s1[i] = o->s2[i] = NULL;
}

clt_status clt_optim_step(clt_optim *o) {
  clt__api("clt_optim_step");
  if (!o) return clt__err(CLT_ERR_INVALID_ARG, "argument o is NULL");
  const clt_optim_config *c = &o->cfg;
  int64_t t = o->steps + 1;
  clt__optim_hp hp = {.kind = c->kind, .lr = c->lr, .weight_decay = c->weight_decay, .momentum = c->momentum,
                      .dampening = c->dampening, .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps,
                      .bc1 = 1 - pow(c->beta1, (double)t), .bc2 = 1 - pow(c->beta2, (double)t), .nesterov = c->nesterov};
  bool need_s1 = c->kind != CLT_OPTIM_SGD || c->momentum != 0, need_s2 = c->kind != CLT_OPTIM_SGD;
  /* parameters of one dtype gathered into calls of up to CLT__OPTIM_SLOTS */
  clt__optim_part parts[CLT__OPTIM_SLOTS];
  int idx[CLT__OPTIM_SLOTS], np = 0, done = 0;
  clt_dtype dt = CLT_FLOAT32;
  clt_status s = CLT_OK;
  for (int i = 0; i < o->n && s == CLT_OK; i++) {
    clt_tensor *p = o->params[i], *g = p->grad;
    if (!g) continue; /* no gradient yet: PyTorch skips it too */
    clt_device *dev = p->st->dev;
    bool first = need_s1 && !o->s1[i];
    if (first && !(o->s1[i] = clt__full(dev, p->dtype, p->ndim, p->shape, 0.0))) s = clt_last_status();
    else if (need_s2 && !o->s2[i] && !(o->s2[i] = clt__full(dev, p->dtype, p->ndim, p->shape, 0.0)))
      s = clt_last_status();
    else if (g->dtype != p->dtype || !clt__is_contig(g))
      s = clt__err(CLT_ERR_STATE, "the gradient of params[%d] is not a contiguous %s tensor", i, clt_dtype_name(p->dtype));
    if (s != CLT_OK) {
      if (first) unstart(o, i);
      break;
    }
    if (p->numel == 0) continue;
    if (np == CLT__OPTIM_SLOTS || (np > 0 && p->dtype != dt)) {
      s = run_parts(o, &hp, dt, np, parts, idx, &done);
      if (s != CLT_OK) {
        if (first) unstart(o, i); /* not gathered yet */
        break;
      }
      np = done = 0;
    }
    dt = p->dtype;
    idx[np] = i;
    parts[np++] = (clt__optim_part){.n = p->numel, .po = p->offset, .go = g->offset, .p = p->st, .g = g->st,
                                    .s1 = o->s1[i] ? o->s1[i]->st : NULL, .s2 = o->s2[i] ? o->s2[i]->st : NULL,
                                    .first = first};
  }
  if (s == CLT_OK) s = run_parts(o, &hp, dt, np, parts, idx, &done);
  /* After a failure the calls already made stay made (their parameters stepped); the gathered
   * parameters not stepped stay as they were, their first step still to come. */
  if (s != CLT_OK)
    for (int k = done; k < np; k++)
      if (parts[k].first) unstart(o, idx[k]);
  if (s == CLT_OK) o->steps = t;
  return s;
}

clt_status clt_optim_zero_grad(clt_optim *o) {
  if (!o) {
    clt__api("clt_optim_zero_grad");
    return clt__err(CLT_ERR_INVALID_ARG, "argument o is NULL");
  }
  for (int i = 0; i < o->n; i++) { /* dropped, as PyTorch's zero_grad(set_to_none=True) */
    clt__tensor_release(o->params[i]->grad);
    o->params[i]->grad = NULL;
  }
  return CLT_OK;
}

clt_status clt_optim_set_lr(clt_optim *o, double lr) {
  clt__api("clt_optim_set_lr");
  if (!o) return clt__err(CLT_ERR_INVALID_ARG, "argument o is NULL");
  if (!(lr >= 0) || !isfinite(lr)) return clt__err(CLT_ERR_INVALID_ARG, "lr %g must be >= 0", lr);
  o->cfg.lr = lr;
  return CLT_OK;
}

clt_status clt_optim_get_lr(const clt_optim *o, double *lr) {
  clt__api("clt_optim_get_lr");
  if (!o || !lr) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", o ? "lr" : "o");
  *lr = o->cfg.lr;
  return CLT_OK;
}

int64_t clt_optim_steps(const clt_optim *o) { return o ? o->steps : -1; }

const clt_optim_config *clt__optim_config(const clt_optim *o) { return &o->cfg; }
int clt__optim_count(const clt_optim *o) { return o->n; }
const clt_tensor *clt__optim_param(const clt_optim *o, int i) { return o->params[i]; }

/* ---- state, for checkpoints ------------------------------------------------------------- */

static clt_status check_index(const clt_optim *o, int i) {
  if (!o) return clt__err(CLT_ERR_INVALID_ARG, "argument o is NULL");
  if (i < 0 || i >= o->n) return clt__err(CLT_ERR_INDEX, "parameter %d of an optimizer over %d", i, o->n);
  return CLT_OK;
}

clt_status clt_optim_get_state(const clt_optim *o, int i, clt_tensor **s1, clt_tensor **s2) {
  clt__api("clt_optim_get_state");
  clt_status s = check_index(o, i);
  if (s != CLT_OK) return s;
  if (!s1 || !s2) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", s1 ? "s2" : "s1");
  *s1 = clt__ret(clt__retain(o->s1[i]));
  *s2 = clt__ret(clt__retain(o->s2[i]));
  return CLT_OK;
}

/* A buffer of its own for parameter p, holding src's values. */
static clt_tensor *own_copy(const clt_tensor *p, const clt_tensor *src) {
  /* clt__to may return a new reference to src itself: a count, not a change to the tensor */
  clt_tensor *on = clt__to((clt_tensor *)src, p->st->dev);
  clt_tensor *typed = on && on->dtype != p->dtype ? clt__cast(on, p->dtype) : clt__retain(on);
  clt_tensor *c = typed ? clt__clone(typed) : NULL;
  clt__tensor_release(on);
  clt__tensor_release(typed);
  return c;
}

clt_status clt_optim_set_state(clt_optim *o, int i, const clt_tensor *s1, const clt_tensor *s2) {
  clt__api("clt_optim_set_state");
  clt_status s = check_index(o, i);
  if (s != CLT_OK) return s;
  const clt_optim_config *c = &o->cfg;
  bool want1 = c->kind != CLT_OPTIM_SGD || c->momentum != 0, want2 = c->kind != CLT_OPTIM_SGD;
  if ((s1 && !want1) || (s2 && !want2))
    return clt__err(CLT_ERR_INVALID_ARG, "%s keeps no %s", want1 ? "SGD" : "SGD without momentum",
                    s2 && !want2 ? "second buffer (s2)" : "state (s1)");
  if (want2 && !s1 != !s2) return clt__err(CLT_ERR_INVALID_ARG, "Adam's moments go together: s1 and s2 both or neither");
  const clt_tensor *p = o->params[i];
  const clt_tensor *in[2] = {s1, s2};
  clt_tensor *own[2] = {NULL, NULL};
  for (int k = 0; k < 2 && s == CLT_OK; k++) {
    if (!in[k]) continue;
    bool same = in[k]->ndim == p->ndim && clt_dtype_is_float(in[k]->dtype);
    for (int d = 0; same && d < p->ndim; d++) same = in[k]->shape[d] == p->shape[d];
    char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
    if (!same)
      s = clt__err(CLT_ERR_SHAPE, "s%d is a %s tensor %s, parameter %d a float one %s", k + 1,
                   clt_dtype_name(in[k]->dtype), clt__shape_str(a, in[k]->ndim, in[k]->shape), i,
                   clt__shape_str(b, p->ndim, p->shape));
    else if (!(own[k] = own_copy(p, in[k])))
      s = clt_last_status();
  }
  if (s != CLT_OK) {
    clt__tensor_release(own[0]);
    clt__tensor_release(own[1]);
    return s;
  }
  clt__tensor_release(o->s1[i]);
  clt__tensor_release(o->s2[i]);
  o->s1[i] = own[0];
  o->s2[i] = own[1];
  return CLT_OK;
}

clt_status clt_optim_set_steps(clt_optim *o, int64_t steps) {
  clt__api("clt_optim_set_steps");
  if (!o) return clt__err(CLT_ERR_INVALID_ARG, "argument o is NULL");
  if (steps < 0) return clt__err(CLT_ERR_INVALID_ARG, "steps %lld must be >= 0", (long long)steps);
  o->steps = steps;
  return CLT_OK;
}
