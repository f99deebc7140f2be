/* Backward functions of every differentiable op, and the recording helpers the public op
 * functions call. Backward runs in no-grad mode and uses the internal (unrecorded) ops; the
 * engine sums each input gradient down to the input's shape and casts it to its dtype. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "ew.h"
#include "grad.h"
#include "reduce.h"

/* ---- small helpers ---------------------------------------------------------------------- */

static clt_tensor *scalar_like(clt_tensor *g, double v) { return clt__full(g->st->dev, g->dtype, 0, NULL, v); }

static clt_tensor *zeros_shaped(clt_tensor *g, int ndim, const int64_t *shape) {
  return clt__full(g->st->dev, g->dtype, ndim, shape, 0.0);
}

/* g (any layout) as a tensor of shape: a view of a contiguous copy. */
clt_tensor *clt__reshaped_plain(clt_tensor *g, int ndim, const int64_t *shape) {
  /* a view where g's strides allow, as PyTorch's grad.reshape (a transposed gradient kept its
   * layout through the next reshape only by a copy) */
  clt_tensor *view;
  if (g->numel > 0 && clt__reshape_view(g, ndim, shape, &view)) return view;
  clt_tensor *c = clt__contiguous(g);
  if (!c) return NULL;
  int64_t st[CLT_MAX_DIMS];
  clt__contig_strides(ndim, shape, st);
  clt_tensor *v = clt__view_of(c, ndim, shape, st, c->offset);
  clt__tensor_release(c);
  return v;
}

static clt_tensor *mul(clt_tensor *a, clt_tensor *b) { return clt__binary(CLT_OP_mul, a, b); }

/* ---- elementwise ------------------------------------------------------------------------ */

/* The values a node's gradient terms read (optable.h: the operands of a term), made once each:
 * the saved inputs and result in g's dtype (where's condition stays bool), s and 0 as 0-d
 * tensors of g's dtype. */
typedef struct {
  clt__node *n;
  clt_tensor *g, *v[CLT__GO_Z + 1];
} term_env;

/* Saved tensor i of n (NULL when none was saved) as the operand the op computed with: in the
 * dtype of its result, which g has. A binary op promotes its operands before it computes
 * (div(int32, float32) divides floats, pow(float64, float32) doubles), and so must its
 * gradient: the gradient kernels read every operand in g's dtype. NULL on failure. */
static clt_tensor *operand(clt__node *n, int i, clt_dtype dt) {
  clt_tensor *t = clt__saved(n, i);
  return !t ? NULL : t->dtype == dt ? clt__retain(t) : clt__cast(t, dt);
}

/* The saved slot of each operand: inputs 0 .. 2 (the tensor of a scalar form is A or B, as the
 * row names it), then the result. */
static int slot_of(int x) { return x == CLT__GO_Y ? 3 : x - CLT__GO_A; }

static clt_tensor *term_value(term_env *e, int x) {
  if (x == CLT__GO_G) return e->g;
  if (e->v[x]) return e->v[x];
  clt__node *n = e->n;
  if (x == CLT__GO_S || x == CLT__GO_Z) {
    e->v[x] = scalar_like(e->g, x == CLT__GO_S ? n->args.ew.p[0] : 0.0);
  } else {
    int slot = slot_of(x);
    bool cond = clt__op_table[n->args.ew.op].rule == CLT__R_WHERE && x == CLT__GO_A; /* where's condition */
    if (n->nsaved > slot && n->saved[slot]) e->v[x] = operand(n, slot, cond ? CLT_BOOL : e->g->dtype);
    else clt__err(CLT_ERR_AUTOGRAD, "backward of %s: operand %d was not saved", n->name, x);
  }
  return e->v[x];
}

/* One gradient term of the table on the node's values; NULL (recorded) on failure. */
static clt_tensor *run_term(term_env *e, const clt__grad_term *t) {
  clt_tensor *g = e->g, *x[3] = {NULL, NULL, NULL};
  int nx = t->kind == CLT__T_OP || t->kind == CLT__T_KERN ? clt__op_table[t->op].arity : 0;
  bool scalar = t->kind == CLT__T_OP && nx == 2 && t->x[1] == CLT__GO_S; /* the op's scalar form */
  for (int k = 0; k < nx; k++)
    if (!(k == 1 && scalar) && !(x[k] = term_value(e, t->x[k]))) return NULL;
  const double *p = e->n->args.ew.p;
  switch (t->kind) {
    case CLT__T_PASS: return clt__retain(g);
    case CLT__T_ZEROS: return zeros_shaped(g, g->ndim, g->shape);
    case CLT__T_KERN: return clt__ew_grad(t->op, x[0], x[1], x[2], p[0], p[1]);
    case CLT__T_OP:
      if (nx == 1) return clt__unary((clt_op)t->op, x[0], 0, 0);
      if (scalar) return clt__binary_scalar((clt_op)t->op, x[0], p[0], false);
      if (nx == 2) return clt__binary((clt_op)t->op, x[0], x[1]);
      return clt__where(x[0], x[1], x[2]);
    default: return NULL;
  }
}

clt_status clt__bw_ew(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  const clt__op_info *o = &clt__op_table[n->args.ew.op];
  int form = n->args.ew.form, nin = form == CLT__FORM_TENSOR ? o->arity : 1;
  term_env e = {n, g, {NULL}};
  clt_status s = CLT_OK;
  for (int i = 0; i < nin && s == CLT_OK; i++) {
    const clt__grad_term *t = &o->grad[form][i];
    if (t->kind == CLT__T_NONE || !clt__wants(n, i)) continue;
    if (!(gin[i] = run_term(&e, t))) s = clt_last_status();
  }
  for (int k = 0; k <= CLT__GO_Z; k++) clt__tensor_release(e.v[k]);
  return s;
}

clt_tensor *clt__grad_ew(clt_tensor *out, int op, clt_tensor *const *in, int nin, double p0, double p1, int scalar) {
  if (!out || !clt_dtype_is_float(out->dtype) || !clt__grad_needed(nin, in)) return out;
  const clt__op_info *o = &clt__op_table[op];
  int ninputs = scalar ? 1 : o->arity;
  bool any = false;
  for (int i = 0; i < ninputs; i++) any = any || o->grad[scalar][i].kind != CLT__T_NONE;
  if (!any) return out; /* not differentiable */
  /* the values the terms read: the one tensor of a scalar form is A (a op s) or B (s op b) */
  unsigned saves = clt__op_saves(op, (clt__form)scalar);
  clt_tensor *saved[4] = {NULL, NULL, NULL, NULL};
  int nsaved = 0;
  for (int x = CLT__GO_A; x <= CLT__GO_Y; x++) {
    if (!(saves & 1u << x)) continue;
    int slot = slot_of(x);
    saved[slot] = x == CLT__GO_Y ? out : scalar ? in[0] : in[slot];
    nsaved = slot + 1;
  }
  clt__node *n = clt__record(&out, o->name, clt__bw_ew, nin, in, nsaved, saved);
  if (!n) return NULL;
  n->args.ew.op = op;
  n->args.ew.form = scalar;
  n->args.ew.p[0] = p0;
  n->args.ew.p[1] = p1;
  return out;
}

/* ---- casts and views -------------------------------------------------------------------- */

static clt_status bw_identity(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  (void)n;
  gin[0] = clt__retain(g);
  return CLT_OK;
}

clt_tensor *clt__grad_cast(clt_tensor *out, clt_tensor *x) {
  if (!out || !clt_dtype_is_float(out->dtype) || !clt_dtype_is_float(x->dtype) || !clt__grad_needed(1, &x)) return out;
  return clt__record(&out, "cast", bw_identity, 1, &x, 0, NULL) ? out : NULL;
}

/* Views whose gradient is the incoming one reshaped (reshape, view, flatten, squeeze,
 * unsqueeze) or passed through (contiguous, clone; expand's is summed by the engine). */
static clt_status bw_reshape(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  gin[0] = clt__reshaped_plain(g, n->next[0].ndim, n->next[0].shape);
  return gin[0] ? CLT_OK : clt_last_status();
}

static clt_status bw_permute(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  int64_t shape[CLT_MAX_DIMS], strides[CLT_MAX_DIMS];
  for (int d = 0; d < g->ndim; d++) { /* out dim d came from input dim perm[d] */
    shape[n->args.perm[d]] = g->shape[d];
    strides[n->args.perm[d]] = g->strides[d];
  }
  gin[0] = clt__view_of(g, g->ndim, shape, strides, g->offset);
  return gin[0] ? CLT_OK : clt_last_status();
}

bool clt__grad_engine_owned(const clt_tensor *t, const clt__edge *e) {
  if (!t || atomic_load(&t->refs) != 1 || atomic_load(&t->st->refs) != 1 || t->st->wrapped || t->offset != 0 ||
      !clt__is_contig(t) || t->grad_fn || t->requires_grad || t->dtype != e->dtype || t->ndim != e->ndim)
    return false;
  for (int d = 0; d < e->ndim; d++)
    if (t->shape[d] != e->shape[d]) return false;
  return true;
}

/* g into the sliced part of the input's gradient: zeros with g copied in, or, where the input
 * already has a gradient pending that only the engine holds (a sibling slice's, as q, k and v
 * cut from one projection), g added into its part of it, and nothing returned: one launch where
 * a zero fill, a copy and an add over the whole input were three. */
static clt_status bw_slice(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  const clt__edge *e = &n->next[0];
  clt_tensor *acc = e->fn ? e->fn->pending : NULL;
  bool into = clt__grad_engine_owned(acc, e) && acc->dtype == g->dtype;
  clt_tensor *z = into ? acc : zeros_shaped(g, e->ndim, e->shape);
  if (!z) return clt_last_status();
  int dim = n->args.slice.dim;
  int64_t start = n->args.slice.start, step = n->args.slice.step, strides[CLT_MAX_DIMS];
  memcpy(strides, z->strides, sizeof strides);
  if (g->shape[dim] > 1) strides[dim] *= step; /* within z then; one element needs no step (and it may be huge) */
  clt_tensor *v = clt__view_of(z, g->ndim, g->shape, strides, start * z->strides[dim]);
  clt_tensor *in[2] = {v, g};
  clt_status s = !v ? clt_last_status() : into ? clt__ew_run(CLT_OP_add, v, in, 2, v->dtype, NULL, 0) : clt__copy_into(v, g);
  clt__tensor_release(v);
  if (into) return s;
  if (s != CLT_OK) {
    clt__tensor_release(z);
    return s;
  }
  gin[0] = z;
  return CLT_OK;
}

clt_tensor *clt__grad_view(clt_tensor *out, clt_tensor *x, const char *name) {
  if (!out || !clt__grad_needed(1, &x) || !clt_dtype_is_float(x->dtype)) return out;
  clt__backward_fn bw = strcmp(name, "expand") == 0 || strcmp(name, "contiguous") == 0 || strcmp(name, "clone") == 0
                            ? bw_identity
                            : bw_reshape;
  return clt__record(&out, name, bw, 1, &x, 0, NULL) ? out : NULL;
}

clt_tensor *clt__grad_permute(clt_tensor *out, clt_tensor *x, const int *perm) {
  if (!out || !clt__grad_needed(1, &x) || !clt_dtype_is_float(x->dtype)) return out;
  clt__node *n = clt__record(&out, "permute", bw_permute, 1, &x, 0, NULL);
  if (!n) return NULL;
  for (int d = 0; d < x->ndim; d++) n->args.perm[d] = perm[d];
  return out;
}

clt_tensor *clt__grad_slice(clt_tensor *out, clt_tensor *x, int dim, int64_t start, int64_t step) {
  if (!out || !clt__grad_needed(1, &x) || !clt_dtype_is_float(x->dtype)) return out;
  clt__node *n = clt__record(&out, "slice", bw_slice, 1, &x, 0, NULL);
  if (!n) return NULL;
  n->args.slice.dim = dim;
  n->args.slice.start = start;
  n->args.slice.step = step;
  return out;
}

/* ---- reductions ------------------------------------------------------------------------- */

/* g of a reduction's result, viewed with the reduced dims kept (size 1) and expanded to the
 * input's shape (a broadcast view, no copy). */
static clt_tensor *expand_back(clt__node *n, clt_tensor *g) {
  const clt__edge *e = &n->next[0];
  uint64_t mask = n->args.reduce.mask;
  int64_t keep[CLT_MAX_DIMS];
  for (int d = 0; d < e->ndim; d++) keep[d] = (mask >> d) & 1 ? 1 : e->shape[d];
  clt_tensor *k = clt__reshaped_plain(g, e->ndim, keep);
  if (!k) return NULL;
  int64_t st[CLT_MAX_DIMS];
  clt__broadcast_strides(k, e->ndim, e->shape, st);
  clt_tensor *x = clt__view_of(k, e->ndim, e->shape, st, k->offset);
  clt__tensor_release(k);
  return x;
}

static int mask_dims(const clt__node *n, int *dims) {
  int nd = 0;
  for (int d = 0; d < n->next[0].ndim; d++)
    if ((n->args.reduce.mask >> d) & 1) dims[nd++] = d;
  return nd;
}

static clt_status bw_reduce(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt__rkind k = (clt__rkind)n->args.reduce.kind;
  clt_tensor *x = NULL, *y = NULL;
  if (n->nsaved > 0 && n->saved[0] && !(x = clt__saved(n, 0))) return clt_last_status();
  if (n->nsaved > 1 && n->saved[1] && !(y = clt__saved(n, 1))) return clt_last_status();
  clt_tensor *ge = expand_back(n, g), *r = NULL;
  if (!ge) return clt_last_status();
  int dims[CLT_MAX_DIMS], nd = mask_dims(n, dims);
  double R = n->args.reduce.count;
  switch (k) {
    case CLT__RK_SUM: r = clt__retain(ge); break;
    case CLT__RK_MEAN: r = clt__binary_scalar(CLT_OP_mul, ge, 1.0 / R, false); break;
    case CLT__RK_MAX: case CLT__RK_MIN: { /* split evenly between the tied extremes */
      clt_tensor *yk = expand_back(n, y);
      clt_tensor *eq = yk ? clt__binary(CLT_OP_eq, x, yk) : NULL, *m = eq ? clt__cast(eq, g->dtype) : NULL;
      clt_tensor *cnt = m ? clt__sum(m, nd, dims, true) : NULL, *gm = cnt ? mul(ge, m) : NULL;
      if (gm) r = clt__binary(CLT_OP_div, gm, cnt);
      clt__tensor_release(yk);
      clt__tensor_release(eq);
      clt__tensor_release(m);
      clt__tensor_release(cnt);
      clt__tensor_release(gm);
      break;
    }
    case CLT__RK_PROD: { /* the product of the others, as PyTorch's safe (cumprod) form: exact with
                            zeros, infs and NaNs in the slice, where prod / x was NaN at an inf */
      clt_tensor *others = clt__prod_others(x, nd, dims);
      if (others) r = mul(ge, others);
      clt__tensor_release(others);
      break;
    }
    case CLT__RK_VAR: case CLT__RK_STD: {
      /* var: 2 g d / denom; std: g (d / std) / denom, 0 where the std is 0, as PyTorch; d = x -
       * mean, the mean as var computes it (no overflow for |x| near the float range's end), and
       * d / std first, so that neither underflows for tiny x nor overflows for huge x */
      double c = n->args.reduce.correction, inv = 1.0 / (R - c > 0 ? R - c : 0);
      clt_tensor *m = clt__mean_scaled(x, nd, dims, true), *d = m ? clt__binary(CLT_OP_sub, x, m) : NULL;
      clt_tensor *q = NULL, *yk = NULL, *z = NULL, *y0 = NULL, *qm = NULL, *gq = NULL;
      if (d && k == CLT__RK_VAR && (gq = mul(ge, d))) r = clt__binary_scalar(CLT_OP_mul, gq, 2 * inv, false);
      if (d && k == CLT__RK_STD && (yk = expand_back(n, y)) && (q = clt__binary(CLT_OP_div, d, yk)) &&
          (z = scalar_like(q, 0.0)) && (y0 = clt__binary(CLT_OP_eq, yk, z)) && (qm = clt__where(y0, z, q)) &&
          (gq = mul(ge, qm)))
        r = clt__binary_scalar(CLT_OP_mul, gq, inv, false);
      clt_tensor *tmp[] = {m, d, q, yk, z, y0, qm, gq};
      for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
      break;
    }
    case CLT__RK_LSE: {
      clt_tensor *yk = expand_back(n, y), *d = yk ? clt__binary(CLT_OP_sub, x, yk) : NULL;
      clt_tensor *e = d ? clt__unary(CLT_OP_exp, d, 0, 0) : NULL;
      if (e) r = mul(ge, e);
      clt__tensor_release(yk);
      clt__tensor_release(d);
      clt__tensor_release(e);
      break;
    }
  }
  clt__tensor_release(ge);
  gin[0] = r;
  return r ? CLT_OK : clt_last_status();
}

clt_tensor *clt__grad_reduce(clt_tensor *out, clt_tensor *x, clt__rkind k, int ndims, const int *dims, double correction) {
  if (!out || !clt_dtype_is_float(out->dtype) || !clt_dtype_is_float(x->dtype) || !clt__grad_needed(1, &x)) return out;
  static const char *names[] = {"sum", "mean", "prod", "max", "min", "var", "std", "logsumexp"};
  uint64_t mask = 0;
  int64_t R = 1;
  for (int d = 0; d < x->ndim; d++) {
    bool in = ndims == 0;
    for (int i = 0; i < ndims && !in; i++) in = (dims[i] < 0 ? dims[i] + x->ndim : dims[i]) == d;
    if (in) {
      mask |= (uint64_t)1 << d;
      R = clt__wmul(R, x->shape[d]);
    }
  }
  clt_tensor *saved[2] = {NULL, NULL};
  int nsaved = 0;
  if (k != CLT__RK_SUM && k != CLT__RK_MEAN) {
    saved[0] = x;
    saved[1] = (k == CLT__RK_MAX || k == CLT__RK_MIN || k == CLT__RK_STD || k == CLT__RK_LSE) ? out : NULL;
    nsaved = 2;
  }
  clt__node *n = clt__record(&out, names[k], bw_reduce, 1, &x, nsaved, saved);
  if (!n) return NULL;
  n->args.reduce.mask = mask;
  n->args.reduce.kind = k;
  n->args.reduce.correction = correction;
  n->args.reduce.count = (double)R;
  return out;
}

/* softmax: y (g - sum(g y)); log_softmax: g - exp(y) sum(g). */
static clt_status bw_softmax(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt_tensor *y = clt__saved(n, 0);
  if (!y) return clt_last_status();
  int dim = n->args.softmax.dim;
  bool log = n->args.softmax.log;
  clt_tensor *r = NULL;
  if (log) {
    clt_tensor *s = clt__sum(g, 1, &dim, true), *e = s ? clt__unary(CLT_OP_exp, y, 0, 0) : NULL;
    clt_tensor *es = e ? mul(e, s) : NULL;
    if (es) r = clt__binary(CLT_OP_sub, g, es);
    clt__tensor_release(s);
    clt__tensor_release(e);
    clt__tensor_release(es);
  } else {
    clt_tensor *gy = mul(g, y), *s = gy ? clt__sum(gy, 1, &dim, true) : NULL;
    clt_tensor *d = s ? clt__binary(CLT_OP_sub, g, s) : NULL;
    if (d) r = mul(y, d);
    clt__tensor_release(gy);
    clt__tensor_release(s);
    clt__tensor_release(d);
  }
  gin[0] = r;
  return r ? CLT_OK : clt_last_status();
}

clt_tensor *clt__grad_softmax(clt_tensor *out, clt_tensor *x, int dim, bool log) {
  if (!out || !clt_dtype_is_float(x->dtype) || !clt__grad_needed(1, &x)) return out;
  clt__node *n = clt__record(&out, log ? "log_softmax" : "softmax", bw_softmax, 1, &x, 1, &out);
  if (!n) return NULL;
  n->args.softmax.dim = dim < 0 ? dim + (x->ndim > 0 ? x->ndim : 1) : dim;
  n->args.softmax.log = log;
  return out;
}

/* ---- matmul ----------------------------------------------------------------------------- */

/* t with a dim of size 1 inserted at d (a view). */
static clt_tensor *unsq(clt_tensor *t, int d) {
  int64_t s[CLT_MAX_DIMS], st[CLT_MAX_DIMS];
  for (int i = 0, k = 0; i <= t->ndim; i++) {
    if (i == d) {
      s[i] = 1;
      st[i] = 1;
    } else {
      s[i] = t->shape[k];
      st[i] = t->strides[k++];
    }
  }
  return clt__view_of(t, t->ndim + 1, s, st, t->offset);
}

static clt_tensor *transposed(clt_tensor *t) {
  int64_t s[CLT_MAX_DIMS], st[CLT_MAX_DIMS];
  memcpy(s, t->shape, sizeof s);
  memcpy(st, t->strides, sizeof st);
  int a = t->ndim - 2, b = t->ndim - 1;
  s[a] = t->shape[b], s[b] = t->shape[a], st[a] = t->strides[b], st[b] = t->strides[a];
  return clt__view_of(t, t->ndim, s, st, t->offset);
}

/* Whether matrix t (2-d) is laid out column by column (a transpose of a row-major matrix, as
 * linear's w^T): its gradient is then best made in that layout too. */
static bool column_major(const clt_tensor *t) {
  return t->ndim == 2 && t->shape[0] > 1 && t->shape[1] > 1 && t->strides[0] == 1 && t->strides[1] >= t->shape[0];
}

/* x y as the transpose of the product y^T x^T: the result column-major, so that a gradient
 * flowing back through a transpose (linear's w^T) reaches the leaf contiguous, as its own
 * storage, where x y would reach it as a transposed view the engine copies (PyTorch's
 * mm_mat2_backward picks the layout from the strides the same way). ysum (may be NULL): the
 * sums of y's columns, from the product's epilogue (y^T's row sums). */
static clt_tensor *product_transposed(clt_tensor *x, clt_tensor *y, clt_tensor **ysum) {
  clt_tensor *xt = transposed(x), *yt = xt ? transposed(y) : NULL, *p = yt ? clt__matmul_ep(yt, xt, NULL, ysum) : NULL;
  clt_tensor *r = p ? transposed(p) : NULL;
  clt__tensor_release(xt);
  clt__tensor_release(yt);
  clt__tensor_release(p);
  return r;
}

/* The gradients of the product A B (2-d-or-more operands) from G, its result's gradient as GEMM
 * reads it: *ga = G B^T where wa, *gb = A^T G where wb, each summed to its operand's shape; and
 * where gsum is not NULL (G 2-d), *gsum = the sums of G's columns, a linear layer's bias
 * gradient, taken by the GEMM of A^T G where that runs as (G^T A)^T, else by a reduction. */
static clt_status product_grads(clt_tensor *A, clt_tensor *B, clt_tensor *G, bool wa, bool wb, clt_tensor **ga,
                                clt_tensor **gb, clt_tensor **gsum) {
  clt_status s = CLT_OK;
  if (wa) { /* dA = G B^T */
    clt_tensor *bt = transposed(B), *p = !bt                                         ? NULL
                                        : column_major(A) && B->ndim == 2 && G->ndim == 2 ? product_transposed(G, bt, NULL)
                                                                                          : clt__matmul(G, bt);
    if (!p || !(*ga = clt__sum_to(p, A->ndim, A->shape))) s = clt_last_status();
    clt__tensor_release(bt);
    clt__tensor_release(p);
  }
  if (s == CLT_OK && wb) { /* dB = A^T G */
    bool tr = column_major(B) && A->ndim == 2 && G->ndim == 2;
    clt_tensor *at = transposed(A), *p = !at ? NULL : tr ? product_transposed(at, G, gsum) : clt__matmul(at, G);
    if (!p || !(*gb = clt__sum_to(p, B->ndim, B->shape))) s = clt_last_status();
    clt__tensor_release(at);
    clt__tensor_release(p);
  }
  if (s == CLT_OK && gsum && !*gsum && !(*gsum = clt__sum(G, 1, (const int[]){0}, false))) s = clt_last_status();
  return s;
}

static clt_status bw_matmul(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt_tensor *a = clt__saved(n, 0), *b = a ? clt__saved(n, 1) : NULL;
  if (!b) return clt_last_status();
  /* the product as 2-d-or-more operands: 1-d ones get their dim of size 1 back */
  clt_tensor *A = a->ndim == 1 ? unsq(a, 0) : clt__retain(a), *B = b->ndim == 1 ? unsq(b, 1) : clt__retain(b);
  clt_tensor *G = NULL;
  if (A && B) {
    clt_tensor *g1 = a->ndim == 1 ? unsq(g, g->ndim - (b->ndim == 1 ? 0 : 1)) : clt__retain(g);
    clt_tensor *g2 = g1 && b->ndim == 1 ? unsq(g1, g1->ndim) : clt__retain(g1);
    /* copied once here where GEMM cannot read it, not by each of the two products (attention's
     * output gradient comes back through the heads' merge as a view of another layout) */
    G = g2 && clt__wants(n, 0) && clt__wants(n, 1) ? clt__gemm_operand(g2) : clt__retain(g2);
    clt__tensor_release(g1);
    clt__tensor_release(g2);
  }
  clt_tensor *ga = NULL, *gb = NULL;
  clt_status s = G ? product_grads(A, B, G, clt__wants(n, 0), clt__wants(n, 1), &ga, &gb, NULL) : clt_last_status();
  /* back to the operands' own shapes, keeping the layouts */
  if (s == CLT_OK && ga &&
      !(gin[0] = a->ndim == A->ndim ? clt__retain(ga) : clt__reshaped_plain(ga, a->ndim, a->shape)))
    s = clt_last_status();
  if (s == CLT_OK && gb &&
      !(gin[1] = b->ndim == B->ndim ? clt__retain(gb) : clt__reshaped_plain(gb, b->ndim, b->shape)))
    s = clt_last_status();
  clt__tensor_release(ga);
  clt__tensor_release(gb);
  clt__tensor_release(A);
  clt__tensor_release(B);
  clt__tensor_release(G);
  return s;
}

/* ---- linear ----------------------------------------------------------------------------- */

clt_tensor *clt__linear_rows(clt_tensor *x) {
  int64_t in = x->shape[x->ndim - 1], rows = 1;
  for (int i = 0; i < x->ndim - 1; i++) rows *= x->shape[i]; /* fits: x's numel does */
  return x->ndim == 2 ? clt__retain(x) : clt__reshaped_plain(x, 2, (const int64_t[]){rows, in});
}

/* x [..., in] as x2 [M, in], w^T as wt (w's transposed view), g as [M, out]: the products of
 * matmul's backward over them, with b's gradient from the weight gradient's GEMM. */
static clt_status bw_linear(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt_tensor *x = clt__saved(n, 0), *w = x ? clt__saved(n, 1) : NULL;
  if (!w) return clt_last_status();
  bool wx = clt__wants(n, 0), ww = clt__wants(n, 1), wb = n->nin > 2 && clt__wants(n, 2);
  clt_tensor *x2 = clt__linear_rows(x), *wt = x2 ? transposed(w) : NULL, *g2 = wt ? clt__linear_rows(g) : NULL;
  clt_tensor *G = g2 && wx && ww ? clt__gemm_operand(g2) : clt__retain(g2);
  clt_tensor *gx = NULL, *gwt = NULL;
  clt_status s = G ? product_grads(x2, wt, G, wx, ww, &gx, &gwt, wb ? &gin[2] : NULL) : clt_last_status();
  if (s == CLT_OK && gx && !(gin[0] = x->ndim == 2 ? clt__retain(gx) : clt__reshaped_plain(gx, x->ndim, x->shape)))
    s = clt_last_status();
  if (s == CLT_OK && gwt && !(gin[1] = transposed(gwt))) s = clt_last_status();
  clt__tensor_release(gx);
  clt__tensor_release(gwt);
  clt__tensor_release(x2);
  clt__tensor_release(wt);
  clt__tensor_release(g2);
  clt__tensor_release(G);
  return s;
}

clt_tensor *clt__grad_linear(clt_tensor *out, clt_tensor *x, clt_tensor *w, clt_tensor *b) {
  clt_tensor *in[3] = {x, w, b};
  int nin = b ? 3 : 2;
  if (!out || !clt__grad_needed(nin, in)) return out;
  return clt__record(&out, "linear", bw_linear, nin, in, 2, in) ? out : NULL;
}

clt_tensor *clt__grad_matmul(clt_tensor *out, clt_tensor *a, clt_tensor *b) {
  clt_tensor *in[2] = {a, b};
  if (!out || !clt__grad_needed(2, in)) return out;
  return clt__record(&out, "matmul", bw_matmul, 2, in, 2, in) ? out : NULL;
}

/* ---- joining and indexing --------------------------------------------------------------- */

static clt_status bw_cat(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  int dim = n->args.cat.dim;
  bool stack = n->args.cat.stack;
  int64_t at = 0;
  for (int i = 0; i < n->nin; i++) {
    const clt__edge *e = &n->next[i];
    if (!stack && e->ndim == 1 && e->shape[0] == 0 && g->ndim != 1) { /* an empty input cat skipped */
      if (clt__wants(n, i) && !(gin[i] = zeros_shaped(g, 1, e->shape))) return clt_last_status(); /* PyTorch's [0] */
      continue;
    }
    int64_t len = stack ? 1 : e->shape[dim], shape[CLT_MAX_DIMS];
    if (clt__wants(n, i)) {
      memcpy(shape, g->shape, sizeof shape);
      shape[dim] = len;
      clt_tensor *v = clt__view_of(g, g->ndim, shape, g->strides, g->offset + at * g->strides[dim]);
      gin[i] = v && stack ? clt__reshaped_plain(v, e->ndim, e->shape) : clt__retain(v);
      clt__tensor_release(v);
      if (!gin[i]) return clt_last_status();
    }
    at += len;
  }
  return CLT_OK;
}

clt_tensor *clt__grad_cat(clt_tensor *out, clt_tensor *const *ts, int n, int dim, bool stack) {
  if (!out || !clt_dtype_is_float(out->dtype) || !clt__grad_needed(n, ts)) return out;
  clt__node *node = clt__record(&out, stack ? "stack" : "cat", bw_cat, n, ts, 0, NULL);
  if (!node) return NULL;
  node->args.cat.dim = dim < 0 ? dim + out->ndim : dim;
  node->args.cat.stack = stack;
  return out;
}

/* gather (and index_select, a gather over a broadcast index): scatter g back into zeros. */
static clt_status bw_gather(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt_tensor *index = clt__saved(n, 0);
  if (!index) return clt_last_status();
  const clt__edge *e = &n->next[0];
  clt_tensor *z = zeros_shaped(g, e->ndim, e->shape);
  gin[0] = z ? clt__scatter_add(z, n->args.dim, index, g) : NULL;
  clt__tensor_release(z);
  return gin[0] ? CLT_OK : clt_last_status();
}

clt_tensor *clt__grad_gather(clt_tensor *out, clt_tensor *x, int dim, clt_tensor *index) {
  if (!out || !clt_dtype_is_float(x->dtype) || !clt__grad_needed(1, &x)) return out;
  clt__node *n = clt__record(&out, "gather", bw_gather, 1, &x, 1, &index);
  if (!n) return NULL;
  n->args.dim = dim;
  return out;
}

/* scatter_add: x's gradient is g; src's is g gathered where index points. */
static clt_status bw_scatter_add(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  if (clt__wants(n, 0)) gin[0] = clt__retain(g);
  if (!clt__wants(n, 1)) return CLT_OK;
  clt_tensor *index = clt__saved(n, 0);
  if (!index) return clt_last_status();
  clt_tensor *gs = clt__gather(g, n->args.dim, index);
  const clt__edge *e = &n->next[1];
  bool same = gs && gs->ndim == e->ndim;
  for (int d = 0; same && d < e->ndim; d++) same = gs->shape[d] == e->shape[d];
  if (gs && !same) { /* src larger than index: its other elements get no gradient */
    clt_tensor *z = zeros_shaped(g, e->ndim, e->shape);
    clt_tensor *v = z ? clt__view_of(z, gs->ndim, gs->shape, z->strides, 0) : NULL;
    clt_status s = v ? clt__copy_into(v, gs) : clt_last_status();
    clt__tensor_release(v);
    clt__tensor_release(gs);
    gs = s == CLT_OK ? z : (clt__tensor_release(z), NULL);
  }
  gin[1] = gs;
  return gs ? CLT_OK : clt_last_status();
}

clt_tensor *clt__grad_scatter_add(clt_tensor *out, clt_tensor *x, int dim, clt_tensor *index, clt_tensor *src) {
  clt_tensor *in[2] = {x, src};
  if (!out || !clt_dtype_is_float(x->dtype) || !clt__grad_needed(2, in)) return out;
  clt__node *n = clt__record(&out, "scatter_add", bw_scatter_add, 2, in, 1, &index);
  if (!n) return NULL;
  n->args.dim = dim;
  return out;
}
