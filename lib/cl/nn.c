/* Fused cross entropy and optimizer steps on OpenCL (kernels/loss.cl, kernels/optim.cl). */
#include <math.h>
#include <stdio.h>

#include "cl_internal.h"

static void arg_t(clt__cl_args *a, clt_dtype dt, double v) {
  uint8_t b[8];
  clt__store_f64(dt, b, v);
  clt__cl_arg(a, clt_dtype_size(dt), b);
}

static clt_status ce(clt_device *dev, const clt__ce_args *x, bool bwd) {
  clt__cl_dev *d = clt__cl(dev);
  char name[32];
  bool wg = d->gpu_kernels && !bwd; /* the backward is elementwise either way */
  snprintf(name, sizeof name, "ce_%s_%s", bwd ? "bwd" : wg ? "fwd_wg" : "fwd", x->idt == CLT_INT32 ? "i32" : "i64");
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_loss, (int)x->dt, name, &k);
  if (s != CLT_OK) return s;
  cl_mem xm = clt__cl_mem(x->x), ym = clt__cl_mem(x->y);
  cl_long v[4] = {x->xo, x->yo, x->N, x->C};
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  CLT__ARG(&a, xm);
  CLT__ARG(&a, v[0]);
  CLT__ARG(&a, ym);
  for (int i = 1; i < 4; i++) CLT__ARG(&a, v[i]);
  if (!bwd) {
    cl_mem l = clt__cl_mem(x->loss), e = clt__cl_mem(x->lse);
    CLT__ARG(&a, l);
    CLT__ARG(&a, e);
    if (!wg) return clt__cl_launch(d, &a, (size_t)x->N);
    /* kernels/loss.cl: ce_fwd_wg, rows of 2^lcb lanes, the fewest that cover a row */
    cl_int lcb = 0;
    while (((size_t)1 << lcb) < k->local && ((int64_t)1 << lcb) < x->C) lcb++;
    size_t rows = k->local >> lcb;
    CLT__ARG(&a, lcb);
    return clt__cl_launch(d, &a, ((size_t)x->N + rows - 1) / rows * k->local);
  }
  cl_mem e = clt__cl_mem(x->lse), g = clt__cl_mem(x->g), o = clt__cl_mem(x->out);
  cl_long go = x->go, gs = x->gs;
  CLT__ARG(&a, e);
  CLT__ARG(&a, g);
  CLT__ARG(&a, go);
  CLT__ARG(&a, gs);
  CLT__ARG(&a, o);
  return clt__cl_launch(d, &a, (size_t)(x->N * x->C));
}

clt_status clt__cl_ce_fwd(clt_device *dev, const clt__ce_args *a) { return ce(dev, a, false); }
clt_status clt__cl_ce_bwd(clt_device *dev, const clt__ce_args *a) { return ce(dev, a, true); }

clt_status clt__cl_optim_step(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                              int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2) {
  clt__cl_dev *d = clt__cl(dev);
  bool sgd = hp->kind == CLT_OPTIM_SGD;
  if (po != 0 || go != 0)
    return clt__err(CLT_ERR_INVALID_ARG, "optimizer parameters and gradients must start their storage on %s",
                    dev->info.spec);
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_optim, (int)dt, sgd ? "sgd_step" : "adam_step", &k);
  if (s != CLT_OK) return s;
  cl_mem pm = clt__cl_mem(p), gm = clt__cl_mem(g), m1 = s1 ? clt__cl_mem(s1) : pm, m2 = s2 ? clt__cl_mem(s2) : pm;
  cl_long cn = n;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  CLT__ARG(&a, pm);
  CLT__ARG(&a, gm);
  CLT__ARG(&a, m1);
  if (!sgd) CLT__ARG(&a, m2);
  CLT__ARG(&a, cn);
  /* kernels/optim.cl: the scalars in double, rounded once, as PyTorch's Python floats */
  if (sgd) {
    cl_int nes = hp->nesterov, first = hp->first;
    arg_t(&a, dt, hp->lr);
    arg_t(&a, dt, hp->weight_decay);
    arg_t(&a, dt, hp->momentum);
    arg_t(&a, dt, 1 - hp->dampening);
    CLT__ARG(&a, nes);
    CLT__ARG(&a, first);
  } else {
    cl_int dec = hp->kind == CLT_OPTIM_ADAMW;
    arg_t(&a, dt, hp->weight_decay);
    arg_t(&a, dt, 1 - hp->lr * hp->weight_decay);
    arg_t(&a, dt, hp->beta1);
    arg_t(&a, dt, hp->beta2);
    arg_t(&a, dt, 1 - hp->beta1);
    arg_t(&a, dt, 1 - hp->beta2);
    arg_t(&a, dt, hp->eps);
    arg_t(&a, dt, hp->lr / hp->bc1);
    arg_t(&a, dt, sqrt(hp->bc2));
    CLT__ARG(&a, dec);
  }
  return clt__cl_launch(d, &a, (size_t)n);
}

/* kernels/optim.cl: sgd_steps and adam_steps, each slot's elements from a work-group of their
 * own, the scalars in a T16 (as optim_step's, rounded once from double). */
clt_status clt__cl_optim_steps(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int n,
                               const clt__optim_part *parts) {
  clt__cl_dev *d = clt__cl(dev);
  bool sgd = hp->kind == CLT_OPTIM_SGD;
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_optim, (int)dt, sgd ? "sgd_steps" : "adam_steps", &k);
  if (s != CLT_OK) return s;
  size_t local = k->local, groups = 0;
  cl_long geo[16];
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  for (int i = 0; i < CLT__OPTIM_SLOTS; i++) {
    const clt__optim_part *x = &parts[i < n ? i : 0]; /* unused slots name slot 0's buffers */
    if (x->po != 0 || x->go != 0)
      return clt__err(CLT_ERR_INVALID_ARG, "optimizer parameters and gradients must start their storage on %s",
                      dev->info.spec);
    cl_mem m[4] = {clt__cl_mem(x->p), clt__cl_mem(x->g), clt__cl_mem(x->s1 ? x->s1 : x->p),
                   clt__cl_mem(x->s2 ? x->s2 : x->p)};
    for (int j = 0; j < 4; j++) CLT__ARG(&a, m[j]);
    geo[i] = i < n ? x->n : 0;
    geo[5 + i] = i < n ? (cl_long)groups : CL_LONG_MAX;
    geo[10 + i] = i < n && x->first;
    if (i < n) groups += ((size_t)x->n + local - 1) / local;
  }
  geo[15] = sgd ? hp->nesterov : hp->kind == CLT_OPTIM_ADAMW;
  clt__cl_arg(&a, sizeof geo, geo);
  double h[16] = {0};
  if (sgd) {
    h[0] = hp->lr;
    h[1] = hp->weight_decay;
    h[2] = hp->momentum;
    h[3] = 1 - hp->dampening;
  } else {
    const double v[9] = {hp->weight_decay, 1 - hp->lr * hp->weight_decay, hp->beta1, hp->beta2, 1 - hp->beta1,
                         1 - hp->beta2, hp->eps, hp->lr / hp->bc1, sqrt(hp->bc2)};
    for (int i = 0; i < 9; i++) h[i] = v[i];
  }
  uint8_t hb[16 * 8];
  size_t es = clt_dtype_size(dt);
  for (int i = 0; i < 16; i++) clt__store_f64(dt, hb + (size_t)i * es, h[i]);
  clt__cl_arg(&a, 16 * es, hb);
  return groups ? clt__cl_launch_groups(d, &a, groups, local) : CLT_OK;
}
