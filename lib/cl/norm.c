/* Fused normalization on OpenCL (kernels/norm.cl): the forward in one launch of a work-group
 * per statistic (or of a work-item per statistic, see stat_kernel), the backward in one such
 * launch (dx) and one of a work-item per channel (dw, db). */
#include <stdio.h>

#include "cl_internal.h"

/* kernels/norm.cl's flags */
enum { NORM_RMS = 1, NORM_FIXED = 2, NORM_W = 4, NORM_B = 8, NORM_RUNNING = 16, NORM_ACC = 32 };

static void arg_t(clt__cl_args *a, clt_dtype dt, double v) {
  uint8_t b[8];
  clt__store_f64(dt, b, v);
  clt__cl_arg(a, clt_dtype_size(dt), b);
}

/* The shape arguments every kernel ends with. */
static void shape_args(clt__cl_args *a, const clt__norm_args *x, cl_int flags) {
  cl_long v[5] = {x->P, x->S, x->Q, x->smod, x->cdiv};
  for (int i = 0; i < 5; i++) CLT__ARG(a, v[i]);
  CLT__ARG(a, flags);
}

/* Lanes per statistic: its lanes walk the rows of Q elements, so lanes past Q would only
 * join the barriers; on PoCL, which runs a group's lanes in loops between barriers, layer norm
 * over rows of 32 in groups of 256 spent 8 times the work (the transformer's step on PoCL: 40% of
 * its time in norm_fwd). A power of two (the kernels' tree), at least 32 (a GPU's warp). */
static size_t lanes(const clt__cl_kernel_entry *k, const clt__norm_args *x) {
  size_t l = 32;
  while (l < (size_t)x->Q && l < k->local) l *= 2;
  return l < k->local ? l : k->local;
}

/* CPUs take the kernels' _row forms (a work-item per statistic, no barrier): PoCL runs a
 * work-group's lanes one after another between barriers and pays for each group, so the
 * grouped form lost even where it splits a statistic between lanes (layer norm over the
 * transformer's 512 rows of 32: 240 us per launch, 40% of its step; batch norm over
 * [32,64,28,28]'s 64 channels: 2x slower than a work-item per channel). GPUs keep the groups. */
static bool by_row(const clt__cl_dev *d) { return !d->gpu_kernels; }

/* base's kernel (norm_fwd, norm_bwd_dx) in the shape by_row picks. */
static clt_status stat_kernel(clt__cl_dev *d, const clt__norm_args *x, const char *base, clt__cl_kernel_entry **k) {
  char name[32];
  snprintf(name, sizeof name, "%s%s", base, by_row(d) ? "_row" : "");
  return clt__cl_kernel(d, CLT__KFAM_norm, (int)x->dt, name, k);
}

/* n work-items, each with a loop over many elements: in groups small enough that there are at
 * least 8 (a work-group runs on one core; 64 channels in one group of 256 used one). */
static clt_status launch_items(clt__cl_dev *d, const clt__cl_args *a, const clt__cl_kernel_entry *k, size_t n) {
  if (n == 0) return CLT_OK;
  size_t l = k->local;
  while (l > 1 && n / l < 8) l /= 2;
  return clt__cl_launch_groups(d, a, (n + l - 1) / l, l);
}

/* A launch of stat_kernel's kernel: a work-item or a work-group per statistic. */
static clt_status launch_stats(clt__cl_dev *d, const clt__cl_args *a, const clt__cl_kernel_entry *k,
                               const clt__norm_args *x) {
  if (by_row(d)) return launch_items(d, a, k, (size_t)x->S);
  return clt__cl_launch_groups(d, a, (size_t)x->S, lanes(k, x));
}

static cl_int base_flags(const clt__norm_args *x) { return (x->rms ? NORM_RMS : 0) | (x->fixed ? NORM_FIXED : 0); }

/* An absent buffer's place is taken by x's (never read or written). */
static cl_mem mem_or(const clt__storage *st, cl_mem other) { return st ? clt__cl_mem(st) : other; }

clt_status clt__cl_norm_fwd(clt_device *dev, const clt__norm_args *x) {
  clt__cl_dev *d = clt__cl(dev);
  clt__cl_kernel_entry *k;
  clt_status s = stat_kernel(d, x, "norm_fwd", &k);
  if (s != CLT_OK) return s;
  cl_mem xm = clt__cl_mem(x->x), wm = mem_or(x->w, xm), bm = mem_or(x->b, xm), ym = clt__cl_mem(x->y),
         sm = clt__cl_mem(x->stats), rm = x->rm ? clt__cl_mem(x->rm) : sm, rv = x->rv ? clt__cl_mem(x->rv) : sm;
  cl_long xo = x->xo, wo = x->wo, bo = x->bo, ro = x->rm_off, rs = x->rm_stride, vo = x->rv_off, vs = x->rv_stride;
  cl_int flags = base_flags(x) | (x->w ? NORM_W : 0) | (x->b ? NORM_B : 0) |
                 (!x->fixed && x->rm && x->rv ? NORM_RUNNING : 0);
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  CLT__ARG(&a, xm);
  CLT__ARG(&a, xo);
  CLT__ARG(&a, wm);
  CLT__ARG(&a, wo);
  CLT__ARG(&a, bm);
  CLT__ARG(&a, bo);
  CLT__ARG(&a, ym);
  CLT__ARG(&a, sm);
  CLT__ARG(&a, rm);
  CLT__ARG(&a, ro);
  CLT__ARG(&a, rs);
  CLT__ARG(&a, rv);
  CLT__ARG(&a, vo);
  CLT__ARG(&a, vs);
  shape_args(&a, x, flags);
  arg_t(&a, x->dt, x->eps);
  arg_t(&a, x->dt, x->momentum);
  return launch_stats(d, &a, k, x);
}

clt_status clt__cl_norm_bwd(clt_device *dev, const clt__norm_args *x) {
  clt__cl_dev *d = clt__cl(dev);
  clt__cl_kernel_entry *k;
  cl_mem gm = clt__cl_mem(x->g), xm = clt__cl_mem(x->x), sm = clt__cl_mem(x->stats);
  cl_long go = x->go, xo = x->xo, wo = x->wo;
  clt__cl_args a;
  clt_status s = CLT_OK;
  if (x->dx) {
    if ((s = stat_kernel(d, x, "norm_bwd_dx", &k)) != CLT_OK) return s;
    cl_mem wm = mem_or(x->w, xm), dm = clt__cl_mem(x->dx);
    clt__cl_args_init(&a, k);
    CLT__ARG(&a, gm);
    CLT__ARG(&a, go);
    CLT__ARG(&a, xm);
    CLT__ARG(&a, xo);
    CLT__ARG(&a, sm);
    CLT__ARG(&a, wm);
    CLT__ARG(&a, wo);
    CLT__ARG(&a, dm);
    shape_args(&a, x, base_flags(x) | (x->w ? NORM_W : 0) | (x->dx_acc ? NORM_ACC : 0));
    if ((s = launch_stats(d, &a, k, x)) != CLT_OK) return s;
  }
  if (!x->dw && !x->db) return CLT_OK;
  if ((s = clt__cl_kernel(d, CLT__KFAM_norm, (int)x->dt, "norm_bwd_dw", &k)) != CLT_OK) return s;
  cl_mem dw = mem_or(x->dw, gm), db = mem_or(x->db, gm);
  clt__cl_args_init(&a, k);
  CLT__ARG(&a, gm);
  CLT__ARG(&a, go);
  CLT__ARG(&a, xm);
  CLT__ARG(&a, xo);
  CLT__ARG(&a, sm);
  CLT__ARG(&a, dw);
  CLT__ARG(&a, db);
  shape_args(&a, x, (x->dw ? NORM_W : 0) | (x->db ? NORM_B : 0));
  return launch_items(d, &a, k, (size_t)(x->smod * x->Q / x->cdiv));
}
