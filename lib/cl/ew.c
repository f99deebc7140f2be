/* Elementwise ops and casts on OpenCL: one kernel launch per op, the contiguous kernel when
 * every operand is contiguous after merging dims, the strided one (clt_iter) otherwise. */
#include <stdio.h>
#include <string.h>

#include "../ew.h"
#include "cl_internal.h"

/* Sets arguments: each operand's buffer (and element offset when contiguous), then n, or leaves
 * the walk's slot (its index in *walk_arg) for clt__cl_launch_iter. */
static void operand_args(clt__cl_args *a, const clt__iter *it, clt__storage *const *st, int nops, cl_uint *walk_arg) {
  for (int k = 0; k < nops; k++) {
    cl_mem m = clt__cl_mem(st[k]);
    CLT__ARG(a, m);
    if (it->contiguous) {
      cl_long off = it->offset[k];
      CLT__ARG(a, off);
    }
  }
  if (it->contiguous) {
    cl_long n = it->numel;
    CLT__ARG(a, n);
  } else {
    *walk_arg = clt__cl_arg_slot(a, sizeof(clt__cl_walk));
  }
}

clt_status clt__cl_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  const clt__ew_instr *ins = &p->ins[0];
  bool in_order = p->n == 1;
  for (int k = 0; in_order && k < clt__op_table[ins->op].arity - (ins->scalar ? 1 : 0); k++) in_order = ins->in[k] == k;
  if (!in_order) /* fused kernels: issue 16 */
    return clt__err(CLT_ERR_UNSUPPORTED, "elementwise programs of %d instructions do not run on OpenCL devices yet "
                    "(one instruction over its inputs in order does)", p->n);
  clt__cl_dev *d = clt__cl(dev);
  int op = ins->op, scalar = ins->scalar;
  clt_dtype dt = (clt_dtype)ins->dt;
  const clt__op_info *info = &clt__op_table[op];
  bool grad = info->rule == CLT__R_KERNEL;
  bool unary = info->arity == 1;
  bool with_params = unary || grad || scalar != 0; /* (operands, [n|it], p0, p1) */
  const char *sfx = scalar == 1 ? "_c" : scalar == 2 ? "_rc" : "";
  char name[64];
  if (grad)
    snprintf(name, sizeof name, "%s%s", info->name, it->contiguous ? "" : "_s");
  else
    snprintf(name, sizeof name, "%s_fwd%s%s", info->name, sfx, it->contiguous ? "" : (scalar ? "s" : "_s"));
  /* float32 exp of a contiguous run on a CPU device: 16 elements per work-item (ew_unary.cl) */
  bool wide = op == CLT_OP_exp && dt == CLT_FLOAT32 && it->contiguous && d->is_cpu;
  if (wide) snprintf(name, sizeof name, "exp_fwd16");
  int fam = grad ? CLT__KFAM_ew_grad : unary ? CLT__KFAM_ew_unary : CLT__KFAM_ew_binary;
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, fam, (int)dt, name, &k);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  cl_uint walk = 0;
  operand_args(&a, it, st, it->nops, &walk);
  if (with_params) {
    uint8_t pv[2][8] = {{0}};
    clt_dtype pdt = dt == CLT_FLOAT16 || dt == CLT_BFLOAT16 ? CLT_FLOAT32 : dt; /* their kernels' T is float */
    clt__store_f64(pdt, pv[0], ins->p[0]);
    clt__store_f64(pdt, pv[1], ins->p[1]);
    clt__cl_arg(&a, clt_dtype_size(pdt), pv[0]);
    clt__cl_arg(&a, clt_dtype_size(pdt), pv[1]);
  }
  if (wide) return clt__cl_launch(d, &a, (size_t)((it->numel + 15) / 16));
  return clt__cl_launch_iter(d, &a, walk, it);
}

clt_status clt__cl_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                          const clt__storage *src, clt_dtype sdt) {
  clt__cl_dev *d = clt__cl(dev);
  char name[32];
  snprintf(name, sizeof name, "to_%s%s", clt_dtype_name(ddt), it->contiguous ? "" : "_s");
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_cast, (int)sdt, name, &k);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  cl_uint walk = 0;
  clt__storage *st[2] = {dst, (clt__storage *)src};
  operand_args(&a, it, st, 2, &walk);
  return clt__cl_launch_iter(d, &a, walk, it);
}
