/* Fused attention on OpenCL (kernels/attn.cl): one launch each way, a work-item per batch. */
#include "cl_internal.h"

static void arg_t(clt__cl_args *a, clt_dtype dt, double v) {
  uint8_t b[8];
  clt__store_f64(dt, b, v);
  clt__cl_arg(a, clt_dtype_size(dt), b);
}

/* A tensor's buffer and its layout (offset, then the strides of b0, b1, row, column). */
static void tensor_args(clt__cl_args *a, const clt__storage *st, int64_t off, const int64_t *s) {
  cl_mem m = clt__cl_mem(st);
  cl_long8 l = {{off, s[0], s[1], s[2], s[3], 0, 0, 0}};
  CLT__ARG(a, m);
  CLT__ARG(a, l);
}

static void dims_args(clt__cl_args *a, const clt__attn_args *x, int64_t items) {
  cl_long8 d = {{x->B1, x->L, x->S, x->E, x->Ev, x->causal, items, 0}};
  CLT__ARG(a, d);
  arg_t(a, x->dt, x->scale);
}

/* n work-items (batches), each a long loop, in groups of at most 8: at least 8 groups for the
 * transformer's 256 heads, so both of PoCL's threads share them (groups of 1, 8 and 32 measured
 * alike there, 180-210 us fwd+bwd). */
static clt_status launch(clt__cl_dev *d, const clt__cl_args *a, const clt__cl_kernel_entry *k, size_t n) {
  size_t l = k->local < 8 ? k->local : 8;
  return clt__cl_launch_groups(d, a, (n + l - 1) / l, l);
}

/* The kernel name's entry with the arguments both directions open with: q, k, v, the result. */
static clt_status begin(clt__cl_dev *d, const clt__attn_args *x, const char *name, clt__cl_kernel_entry **k,
                        clt__cl_args *a) {
  clt_status s = clt__cl_kernel(d, CLT__KFAM_attn, (int)x->dt, name, k);
  if (s != CLT_OK) return s;
  clt__cl_args_init(a, *k);
  tensor_args(a, x->q, x->qo, x->qs);
  tensor_args(a, x->k, x->ko, x->ks);
  tensor_args(a, x->v, x->vo, x->vs);
  tensor_args(a, x->out, x->oo, x->os);
  return CLT_OK;
}

clt_status clt__cl_attn_fwd(clt_device *dev, const clt__attn_args *x) {
  clt__cl_dev *d = clt__cl(dev);
  clt__cl_kernel_entry *k;
  clt__cl_args a;
  clt_status s = begin(d, x, "attn_fwd", &k, &a);
  if (s != CLT_OK) return s;
  int64_t n = x->B0 * x->B1;
  cl_mem lm = clt__cl_mem(x->lse);
  CLT__ARG(&a, lm);
  dims_args(&a, x, n);
  return launch(d, &a, k, (size_t)n);
}

clt_status clt__cl_attn_bwd(clt_device *dev, const clt__attn_args *x) {
  clt__cl_dev *d = clt__cl(dev);
  clt__cl_kernel_entry *k;
  clt__cl_args a;
  clt_status s = begin(d, x, "attn_bwd", &k, &a);
  if (s != CLT_OK) return s;
  int64_t n = x->B0 * x->B1;
  cl_mem lm = clt__cl_mem(x->lse), qm = clt__cl_mem(x->dq), km = clt__cl_mem(x->dk), vm = clt__cl_mem(x->dv);
  tensor_args(&a, x->g, x->go, x->gs);
  CLT__ARG(&a, lm);
  CLT__ARG(&a, qm);
  CLT__ARG(&a, km);
  CLT__ARG(&a, vm);
  dims_args(&a, x, n);
  return launch(d, &a, k, (size_t)n);
}
