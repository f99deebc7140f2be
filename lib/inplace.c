/* In-place ops, and their place in the autograd graph. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "dispatch.h"
#include "ew.h"
#include "grad.h"

static void bump(clt_tensor *t) {
  clt__range_forget(t->st);
  atomic_fetch_add(&t->st->version, 1);
}

/* Whether an in-place op on t (and other) records, and whether it may. */
/* Called first by every in-place op: t's known value range goes now, written or not (a
 * failure after the kernel ran, as $CLT_CHECK's, leaves the version as it was). */
static clt_status may_record(const char *op, clt_tensor *t, clt_tensor *other, bool *record) {
  clt__range_forget(t->st);
  clt_tensor *in[2] = {t, other};
  *record = clt_dtype_is_float(t->dtype) && clt__grad_needed(other ? 2 : 1, in);
  if (!*record) return CLT_OK;
  if (t->requires_grad && !t->grad_fn)
    return clt__err(CLT_ERR_AUTOGRAD,
                    "%s on a leaf that requires grad while recording; modify it inside clt_no_grad_begin() .. end, "
                    "or clone it",
                    op);
  if (t->is_view)
    return clt__err(CLT_ERR_AUTOGRAD, "%s on a view while recording is not supported; clone the view first", op);
  return CLT_OK;
}

/* A node for an in-place op on t: its inputs are t as it was and the others; t becomes its
 * result. */
static clt_status record_inplace(clt_tensor *t, const char *name, clt__backward_fn bw, int nin, clt_tensor *const *in,
                                 int nsaved, clt_tensor *const *saved, clt__node **out) {
  *out = NULL; /* NULL on failure too */
  clt_tensor *tmp = clt__view_of(t, t->ndim, t->shape, t->strides, t->offset);
  if (!tmp) return clt_last_status();
  clt__node *n = clt__record(&tmp, name, bw, nin, in, nsaved, saved);
  if (!n) return clt_last_status();
  atomic_fetch_add(&n->refs, 1);
  clt__tensor_release(tmp);
  clt__node_release(t->grad_fn);
  t->grad_fn = n;
  t->requires_grad = true;
  *out = n;
  return CLT_OK;
}

static clt_status no_grad_bw(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  (void)n;
  (void)g;
  (void)gin;
  return CLT_OK;
}

static clt_status copy_bw(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  (void)n;
  gin[1] = clt__retain(g);
  return CLT_OK;
}

/* other converted to t's dtype, refusing what t cannot hold. */
static clt_tensor *operand_for(clt_tensor *t, clt_tensor *other, clt_op op) {
  clt_dtype rt = clt_result_type(t, other);
  if (op == CLT_OP_div && !clt_dtype_is_float(rt)) rt = CLT_FLOAT32;
  if (clt_dtype_is_float(rt) && !clt_dtype_is_float(t->dtype)) {
    clt__err(CLT_ERR_DTYPE, "the %s result (%s) cannot be stored in a %s tensor", clt_op_name(op), clt_dtype_name(rt),
             clt_dtype_name(t->dtype));
    return NULL;
  }
  if (t->dtype == CLT_BOOL && op != CLT_OP_COUNT) {
    clt__err(CLT_ERR_DTYPE, "%s is not defined for bool tensors", clt_op_name(op));
    return NULL;
  }
  return other->dtype == t->dtype ? clt__retain(other) : clt__cast(other, t->dtype);
}

static clt_status check_fits(clt_tensor *t, clt_tensor *other) {
  int nd;
  int64_t shape[CLT_MAX_DIMS];
  if (clt__check_same_device(t, other) != CLT_OK ||
      clt__broadcast_shapes(t->ndim, t->shape, other->ndim, other->shape, &nd, shape) != CLT_OK)
    return clt_last_status();
  bool same = nd == t->ndim;
  for (int d = 0; d < nd && same; d++) same = shape[d] == t->shape[d];
  if (same) return CLT_OK;
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  return clt__err(CLT_ERR_SHAPE, "other of shape %s does not broadcast to the tensor's shape %s",
                  clt__shape_str(a, other->ndim, other->shape), clt__shape_str(b, t->ndim, t->shape));
}

static clt_status binary_(clt_op op, clt_tensor *t, clt_tensor *other) {
  bool rec;
  clt_status s;
  if ((s = check_fits(t, other)) != CLT_OK || (s = may_record(clt_op_name(op), t, other, &rec)) != CLT_OK) return s;
  clt_tensor *o = operand_for(t, other, op);
  if (!o) return clt_last_status();
  /* mul_ and div_ need t's old value for other's gradient */
  clt_tensor *old = NULL;
  if (rec && other->requires_grad && (op == CLT_OP_mul || op == CLT_OP_div) && !(old = clt__clone(t))) {
    clt__tensor_release(o);
    return clt_last_status();
  }
  clt_tensor *in[2] = {t, o};
  s = clt__ew_run(op, t, in, 2, t->dtype, NULL, 0);
  if (s == CLT_OK) bump(t);
  if (s == CLT_OK && rec) {
    clt_tensor *rin[2] = {t, other}, *saved[2] = {old, o};
    clt__node *n;
    bool saves = op == CLT_OP_mul || op == CLT_OP_div;
    if ((s = record_inplace(t, clt_op_name(op), clt__bw_ew, 2, rin, saves ? 2 : 0, saved, &n)) == CLT_OK) {
      n->args.ew.op = op;
      n->args.ew.form = CLT__FORM_TENSOR;
    }
  }
  clt__tensor_release(old);
  clt__tensor_release(o);
  return s;
}

static clt_status fill_(clt_tensor *t, double v, const char *name) {
  bool rec;
  clt_status s = may_record(name, t, NULL, &rec);
  if (s != CLT_OK) return s;
  uint8_t pattern[8];
  clt__store_f64(t->dtype, pattern, v);
  if (t->numel > 0) {
    clt__iter it;
    const clt_tensor *ops[1] = {t};
    clt__iter_tensors(&it, 1, ops);
    clt_device *dev = t->st->dev;
    if ((s = clt__run_fill(dev, &it, t->st, clt_dtype_size(t->dtype), pattern)) != CLT_OK) return s;
  }
  bump(t);
  clt__node *n;
  return rec ? record_inplace(t, name, no_grad_bw, 1, &t, 0, NULL, &n) : CLT_OK;
}

clt_status clt_add_(clt_tensor *t, clt_tensor *other) {
  clt__api("clt_add_");
  if (!t || !other) return clt__null_arg(t ? "other" : "t");
  return binary_(CLT_OP_add, t, other);
}

clt_status clt_sub_(clt_tensor *t, clt_tensor *other) {
  clt__api("clt_sub_");
  if (!t || !other) return clt__null_arg(t ? "other" : "t");
  return binary_(CLT_OP_sub, t, other);
}

clt_status clt_mul_(clt_tensor *t, clt_tensor *other) {
  clt__api("clt_mul_");
  if (!t || !other) return clt__null_arg(t ? "other" : "t");
  return binary_(CLT_OP_mul, t, other);
}

clt_status clt_div_(clt_tensor *t, clt_tensor *other) {
  clt__api("clt_div_");
  if (!t || !other) return clt__null_arg(t ? "other" : "t");
  return binary_(CLT_OP_div, t, other);
}

clt_status clt_zero_(clt_tensor *t) {
  clt__api("clt_zero_");
  if (!t) return clt__null_arg("t");
  return fill_(t, 0.0, "zero_");
}

clt_status clt_fill_(clt_tensor *t, double value) {
  clt__api("clt_fill_");
  if (!t) return clt__null_arg("t");
  return fill_(t, value, "fill_");
}

clt_status clt_copy_(clt_tensor *t, clt_tensor *src) {
  clt__api("clt_copy_");
  if (!t || !src) return clt__null_arg(t ? "src" : "t");
  bool rec;
  clt_status s;
  if ((s = check_fits(t, src)) != CLT_OK || (s = may_record("copy_", t, src, &rec)) != CLT_OK) return s;
  if (clt_dtype_is_float(src->dtype) && !clt_dtype_is_float(t->dtype))
    return clt__err(CLT_ERR_DTYPE, "copy_ from %s into %s would truncate; cast explicitly", clt_dtype_name(src->dtype),
                    clt_dtype_name(t->dtype));
  clt_tensor *o = src->dtype == t->dtype ? clt__retain(src) : clt__cast(src, t->dtype);
  if (!o) return clt_last_status();
  int64_t st[CLT_MAX_DIMS];
  clt__broadcast_strides(o, t->ndim, t->shape, st);
  clt_tensor *b = clt__view_of(o, t->ndim, t->shape, st, o->offset);
  s = b ? clt__copy_into(t, b) : clt_last_status();
  clt__tensor_release(b);
  clt__tensor_release(o);
  if (s == CLT_OK) bump(t);
  clt__node *n;
  clt_tensor *in[2] = {t, src};
  if (s == CLT_OK && rec) s = record_inplace(t, "copy_", copy_bw, 2, in, 0, NULL, &n);
  return s;
}

clt_status clt_clamp_(clt_tensor *t, double lo, double hi) {
  clt__api("clt_clamp_");
  if (!t) return clt__null_arg("t");
  if (!(lo <= hi)) return clt__err(CLT_ERR_INVALID_ARG, "min %g must not exceed max %g (nor be NaN)", lo, hi);
  if (t->dtype == CLT_BOOL) return clt__err(CLT_ERR_DTYPE, "clamp_ is not defined for bool tensors");
  bool rec;
  clt_status s = may_record("clamp_", t, NULL, &rec);
  if (s != CLT_OK) return s;
  clt_tensor *old = rec ? clt__clone(t) : NULL; /* clamp's gradient needs the values before */
  if (rec && !old) return clt_last_status();
  const double params[2] = {lo, hi};
  s = clt__ew_run(CLT_OP_clamp, t, &t, 1, t->dtype, params, 0);
  if (s == CLT_OK) bump(t);
  clt__node *n;
  if (s == CLT_OK && rec && (s = record_inplace(t, "clamp_", clt__bw_ew, 1, &t, 1, &old, &n)) == CLT_OK) {
    n->args.ew.op = CLT_OP_clamp;
    n->args.ew.form = CLT__FORM_TENSOR;
    n->args.ew.p[0] = lo;
    n->args.ew.p[1] = hi;
  }
  clt__tensor_release(old);
  return s;
}

/* ---- ops5: scalar forms ----------------------------------------------------------------- */

/* s as a 0-d tensor that promotes beside t as a Python number does (a 0-d operand never decides
 * over t's dims, only raises the kind): int64 when integral and within int64, else float64,
 * which keeps s exact for a float64 t and rounds it once for a float32 one. Then the tensor
 * form. */
static clt_status scalar_(clt_op op, clt_tensor *t, double s) {
  if (!t) return clt__null_arg("t");
  clt_dtype dt = isfinite(s) && s == trunc(s) && fabs(s) < 0x1p63 ? CLT_INT64 : CLT_FLOAT64;
  clt_tensor *o = clt__full(t->st->dev, dt, 0, NULL, s);
  if (!o) return clt_last_status();
  clt_status st = binary_(op, t, o);
  clt__tensor_release(o);
  return st;
}

clt_status clt_add_scalar_(clt_tensor *t, double s) {
  clt__api("clt_add_scalar_");
  return scalar_(CLT_OP_add, t, s);
}

clt_status clt_sub_scalar_(clt_tensor *t, double s) {
  clt__api("clt_sub_scalar_");
  return scalar_(CLT_OP_sub, t, s);
}

clt_status clt_mul_scalar_(clt_tensor *t, double s) {
  clt__api("clt_mul_scalar_");
  return scalar_(CLT_OP_mul, t, s);
}

clt_status clt_div_scalar_(clt_tensor *t, double s) {
  clt__api("clt_div_scalar_");
  return scalar_(CLT_OP_div, t, s);
}
