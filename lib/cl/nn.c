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
