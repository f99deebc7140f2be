/* Losses, linear layers, dropout and initialisers. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "dispatch.h"
#include "ew.h"
#include "grad.h"
#include "reduce.h"

static clt_tensor *reduced(clt_tensor *l, clt_reduction r) {
  if (r == CLT_REDUCTION_NONE) return clt__retain(l);
  clt_tensor *out = r == CLT_REDUCTION_SUM ? clt__sum(l, 0, NULL, false) : clt__mean(l, 0, NULL, false);
  return clt__grad_reduce(out, l, r == CLT_REDUCTION_SUM ? CLT__RK_SUM : CLT__RK_MEAN, 0, NULL, 0);
}

static clt_status check_reduction(clt_reduction r) {
  if (r == CLT_REDUCTION_MEAN || r == CLT_REDUCTION_SUM || r == CLT_REDUCTION_NONE) return CLT_OK;
  return clt__err(CLT_ERR_INVALID_ARG, "reduction %d is not CLT_REDUCTION_MEAN, _SUM or _NONE", (int)r);
}

/* loss = reduce(f(input - target)) for f = square (mse) or abs (l1). */
static clt_tensor *distance_loss(clt_op f, clt_tensor *input, clt_tensor *target, clt_reduction r) {
  if (check_reduction(r) != CLT_OK) return NULL;
  clt_tensor *d = clt__rec_binary(CLT_OP_sub, input, target);
  clt_tensor *e = d ? clt__rec_unary(f, d, 0, 0) : NULL;
  clt_tensor *out = e ? reduced(e, r) : NULL;
  clt__tensor_release(d);
  clt__tensor_release(e);
  return out;
}

clt_tensor *clt_mse_loss(clt_tensor *input, clt_tensor *target, clt_reduction reduction) {
  clt__api("clt_mse_loss");
  if (!input || !target) return clt__null_arg(input ? "target" : "input"), NULL;
  return clt__ret(distance_loss(CLT_OP_square, input, target, reduction));
}

clt_tensor *clt_l1_loss(clt_tensor *input, clt_tensor *target, clt_reduction reduction) {
  clt__api("clt_l1_loss");
  if (!input || !target) return clt__null_arg(input ? "target" : "input"), NULL;
  return clt__ret(distance_loss(CLT_OP_abs, input, target, reduction));
}

/* ---- cross entropy ---------------------------------------------------------------------- */

static clt_status check_labels(clt_tensor *logits, clt_tensor *labels, int64_t *N, int64_t *C) {
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  if (clt__check_same_device(logits, labels) != CLT_OK) return clt_last_status();
  if (!clt_dtype_is_float(logits->dtype))
    return clt__err(CLT_ERR_DTYPE, "logits must be float, not %s", clt_dtype_name(logits->dtype));
  if (labels->dtype != CLT_INT32 && labels->dtype != CLT_INT64)
    return clt__err(CLT_ERR_DTYPE, "labels must be int32 or int64, not %s", clt_dtype_name(labels->dtype));
  bool ok = (logits->ndim == 2 && labels->ndim == 1 && labels->shape[0] == logits->shape[0]) ||
            (logits->ndim == 1 && labels->ndim == 0);
  if (!ok)
    return clt__err(CLT_ERR_SHAPE, "logits %s and labels %s: need logits [N, C] with labels [N], or [C] with a 0-d label",
                    clt__shape_str(a, logits->ndim, logits->shape), clt__shape_str(b, labels->ndim, labels->shape));
  *N = logits->ndim == 2 ? logits->shape[0] : 1;
  *C = logits->shape[logits->ndim - 1];
  if (*C == 0 && *N > 0) return clt__err(CLT_ERR_SHAPE, "logits have no classes (C is 0)");
  return clt__check_index_range(labels, *C, "label");
}

/* The per-row gradient from g: g/N (mean) or g (sum) for every row, g itself (none). */
static clt_status bw_cross_entropy(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt_tensor *x = clt__saved(n, 0), *y = x ? clt__saved(n, 1) : NULL, *lse = y ? clt__saved(n, 2) : NULL;
  if (!lse) return clt_last_status();
  int64_t N = n->args.cross_entropy.N, C = n->args.cross_entropy.C;
  clt_reduction r = n->args.cross_entropy.reduction;
  clt_tensor *gr = r == CLT_REDUCTION_MEAN ? clt__binary_scalar(CLT_OP_mul, g, 1.0 / (double)(N ? N : 1), false)
                                           : clt__contiguous(g);
  clt_tensor *out = gr ? clt__empty(x->st->dev, x->dtype, x->ndim, x->shape) : NULL;
  clt_status s = out ? CLT_OK : clt_last_status();
  if (s == CLT_OK && N * C > 0) {
    clt__ce_args a = {.dt = x->dtype, .idt = y->dtype, .N = N, .C = C, .x = x->st, .xo = x->offset, .y = y->st,
                      .yo = y->offset, .lse = lse->st, .g = gr->st, .go = gr->offset,
                      .gs = r == CLT_REDUCTION_NONE ? 1 : 0, .out = out->st};
    s = clt__run_ce_bwd(x->st->dev, &a);
  }
  clt__tensor_release(gr);
  if (s != CLT_OK) {
    clt__tensor_release(out);
    return s;
  }
  gin[0] = out;
  return CLT_OK;
}

static clt_tensor *cross_entropy(clt_tensor *logits, clt_tensor *labels, clt_reduction r) {
  int64_t N, C;
  if (check_reduction(r) != CLT_OK || check_labels(logits, labels, &N, &C) != CLT_OK) return NULL;
  clt_device *dev = logits->st->dev;
  clt_tensor *x = clt__contiguous(logits), *y = x ? clt__contiguous(labels) : NULL;
  clt_tensor *rows = y ? clt__empty(dev, logits->dtype, labels->ndim, labels->shape) : NULL;
  clt_tensor *lse = rows ? clt__empty(dev, logits->dtype, 2, (const int64_t[]){N, 2}) : NULL; /* max, sum */
  clt_tensor *out = NULL;
  if (lse && N > 0) {
    clt__ce_args a = {.dt = x->dtype, .idt = y->dtype, .N = N, .C = C, .x = x->st, .xo = x->offset, .y = y->st,
                      .yo = y->offset, .loss = rows->st, .lse = lse->st};
    if (clt__run_ce_fwd(dev, &a) != CLT_OK) goto done;
  }
  if (!lse) goto done;
  out = r == CLT_REDUCTION_NONE ? clt__retain(rows)
        : r == CLT_REDUCTION_SUM ? clt__sum(rows, 0, NULL, false)
                                 : clt__mean(rows, 0, NULL, false);
  if (out && clt__grad_needed(1, &logits)) {
    clt_tensor *saved[3] = {x, y, lse};
    clt__node *n = clt__record(&out, "cross_entropy", bw_cross_entropy, 1, &logits, 3, saved);
    if (n) {
      n->args.cross_entropy.reduction = r;
      n->args.cross_entropy.N = N;
      n->args.cross_entropy.C = C;
    }
  }
done:
  clt__tensor_release(x);
  clt__tensor_release(y);
  clt__tensor_release(rows);
  clt__tensor_release(lse);
  return out;
}

clt_tensor *clt_cross_entropy(clt_tensor *logits, clt_tensor *labels, clt_reduction reduction) {
  clt__api("clt_cross_entropy");
  if (!logits || !labels) return clt__null_arg(logits ? "labels" : "logits"), NULL;
  if (clt__is16(logits->dtype)) { /* the fused kernels in float32, the loss rounded once */
    clt_tensor *x = clt__rec_cast(logits, CLT_FLOAT32), *l = x ? cross_entropy(x, labels, reduction) : NULL;
    clt__tensor_release(x);
    return clt__ret(clt__rec_narrow(l, logits->dtype));
  }
  return clt__ret(cross_entropy(logits, labels, reduction));
}

static clt_tensor *nll_loss(clt_tensor *logp, clt_tensor *labels, clt_reduction r) {
  int64_t N, C;
  if (check_reduction(r) != CLT_OK || check_labels(logp, labels, &N, &C) != CLT_OK) return NULL;
  /* -logp[i, y_i]: a gather along the classes with the labels as a column */
  int64_t s1[2] = {N, 1}, st1[2] = {labels->ndim ? labels->strides[0] : 0, 1};
  clt_tensor *idx = clt__view_of(labels, logp->ndim, s1 + (logp->ndim == 1), st1 + (logp->ndim == 1), labels->offset);
  clt_tensor *g = idx ? clt__grad_gather(clt__gather(logp, logp->ndim - 1, idx), logp, logp->ndim - 1, idx) : NULL;
  clt_tensor *flat = NULL, *neg = NULL, *out = NULL;
  if (g) { /* [N, 1] (or [1]) back to the labels' shape */
    int64_t st[CLT_MAX_DIMS];
    clt__contig_strides(labels->ndim, labels->shape, st);
    flat = clt__view_of(g, labels->ndim, labels->shape, st, g->offset);
    flat = clt__grad_view(flat, g, "reshape");
  }
  if (flat) neg = clt__rec_unary(CLT_OP_neg, flat, 0, 0);
  if (neg) out = reduced(neg, r);
  clt__tensor_release(idx);
  clt__tensor_release(g);
  clt__tensor_release(flat);
  clt__tensor_release(neg);
  return out;
}

clt_tensor *clt_nll_loss(clt_tensor *logprobs, clt_tensor *labels, clt_reduction reduction) {
  clt__api("clt_nll_loss");
  if (!logprobs || !labels) return clt__null_arg(logprobs ? "labels" : "logprobs"), NULL;
  return clt__ret(nll_loss(logprobs, labels, reduction));
}

/* ---- binary cross entropy with logits --------------------------------------------------- */

static clt_status bw_bce(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt_tensor *x = clt__saved(n, 0), *y = x ? clt__saved(n, 1) : NULL;
  if (!y) return clt_last_status();
  if (clt__wants(n, 0) && !(gin[0] = clt__ew_grad(CLT__G_bce_logits_bwd, g, x, y, 0, 0))) return clt_last_status();
  if (clt__wants(n, 1)) { /* d/dy = -x g */
    clt_tensor *gx = clt__binary(CLT_OP_mul, g, x);
    gin[1] = gx ? clt__unary(CLT_OP_neg, gx, 0, 0) : NULL;
    clt__tensor_release(gx);
    if (!gin[1]) return clt_last_status();
  }
  return CLT_OK;
}

static clt_tensor *bce_logits(clt_tensor *x, clt_tensor *y, clt_reduction r) {
  if (check_reduction(r) != CLT_OK || clt__check_same_device(x, y) != CLT_OK) return NULL;
  if (!clt_dtype_is_float(x->dtype))
    return clt__err(CLT_ERR_DTYPE, "logits must be float, not %s", clt_dtype_name(x->dtype)), NULL;
  clt_tensor *yc = y->dtype == x->dtype ? clt__retain(y) : clt__cast(y, x->dtype);
  if (!yc) return NULL;
  int nd;
  int64_t shape[CLT_MAX_DIMS];
  clt_tensor *l = NULL, *out = NULL;
  if (clt__broadcast_shapes(x->ndim, x->shape, yc->ndim, yc->shape, &nd, shape) == CLT_OK) {
    if (nd != x->ndim) {
      char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
      clt__err(CLT_ERR_SHAPE, "target %s does not broadcast to the logits' shape %s", clt__shape_str(a, y->ndim, y->shape),
               clt__shape_str(b, x->ndim, x->shape));
    } else {
      l = clt__ew_grad(CLT__G_bce_logits, x, yc, NULL, 0, 0);
    }
  }
  clt_tensor *in[2] = {x, y}, *saved[2] = {x, yc};
  if (l && clt__grad_needed(2, in) && !clt__record(&l, "binary_cross_entropy_with_logits", bw_bce, 2, in, 2, saved))
    l = NULL;
  if (l) out = reduced(l, r);
  clt__tensor_release(l);
  clt__tensor_release(yc);
  return out;
}

clt_tensor *clt_binary_cross_entropy_with_logits(clt_tensor *logits, clt_tensor *target, clt_reduction reduction) {
  clt__api("clt_binary_cross_entropy_with_logits");
  if (!logits || !target) return clt__null_arg(logits ? "target" : "logits"), NULL;
  return clt__ret(bce_logits(logits, target, reduction));
}

/* ---- layers ----------------------------------------------------------------------------- */

static clt_tensor *linear(clt_tensor *x, clt_tensor *w, clt_tensor *b) {
  char a[CLT__SHAPE_STR], c[CLT__SHAPE_STR];
  if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
    return clt__err(CLT_ERR_SHAPE, "x %s and w %s: need x [..., in] and w [out, in]", clt__shape_str(a, x->ndim, x->shape),
                    clt__shape_str(c, w->ndim, w->shape)), NULL;
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
    return clt__err(CLT_ERR_SHAPE, "b %s must be [%lld]", clt__shape_str(a, b->ndim, b->shape), (long long)w->shape[0]),
           NULL;
  if (clt__check_same_device(x, w) != CLT_OK || (b && clt__check_same_device(x, b) != CLT_OK)) return NULL;
  /* One node for the layer: its forward one GEMM with the bias as its epilogue, its backward the
   * two products of matmul's, b's gradient taken by the weight gradient's GEMM (grad.c:
   * bw_linear): on PoCL no command for either, where a recorded add and a reduction took one
   * each (the transformer's step: 16 adds and 11 reductions). x [..., in] as one matrix [M, in]
   * (a view where x's strides allow): one product for y and for each gradient. */
  clt_dtype dt = clt__promote_types(x->dtype, w->dtype);
  if (b) dt = clt__promote_types(dt, b->dtype); /* a wider bias widens the result, as x w^T + b */
  int64_t s[2] = {w->shape[1], w->shape[0]}, st[2] = {w->strides[1], w->strides[0]};
  clt_tensor *wt = clt__view_of(w, 2, s, st, w->offset), *x2 = wt ? clt__linear_rows(x) : NULL;
  clt_tensor *xc = x2 && x2->dtype != dt && clt_dtype_is_float(dt) ? clt__cast(x2, dt) : clt__retain(x2);
  clt_tensor *y = xc ? clt__matmul_ep(xc, wt, b, NULL) : NULL, *out = y;
  if (y && x->ndim != 2) {
    int64_t shape[CLT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = w->shape[0];
    out = clt__reshaped_plain(y, x->ndim, shape);
    clt__tensor_release(y);
  }
  clt__tensor_release(wt);
  clt__tensor_release(x2);
  clt__tensor_release(xc);
  return clt__grad_linear(out, x, w, b);
}

clt_tensor *clt_linear(clt_tensor *x, clt_tensor *w, clt_tensor *b) {
  clt__api("clt_linear");
  if (!x || !w) return clt__null_arg(x ? "w" : "x"), NULL;
  return clt__ret(linear(x, w, b));
}

clt_tensor *clt__dropout(clt_tensor *x, double p, bool train) {
  if (!(p >= 0 && p <= 1)) return clt__err(CLT_ERR_INVALID_ARG, "p %g is not a probability in [0, 1]", p), NULL;
  if (!train || p == 0) return clt__retain(x);
  if (!clt_dtype_is_float(x->dtype))
    return clt__err(CLT_ERR_DTYPE, "dropout needs a float tensor, not %s", clt_dtype_name(x->dtype)), NULL;
  /* mask = (u >= p) / (1 - p), u uniform from the thread's generator; p = 1 zeroes all */
  clt_tensor *u = clt__rand(x->st->dev, x->dtype, x->ndim, x->shape);
  clt_tensor *keep = u ? clt__binary_scalar(CLT_OP_ge, u, p, false) : NULL;
  clt_tensor *m = keep ? clt__cast(keep, x->dtype) : NULL;
  clt_tensor *ms = m ? clt__binary_scalar(CLT_OP_mul, m, p < 1 ? 1.0 / (1.0 - p) : 0.0, false) : NULL;
  clt_tensor *out = ms ? clt__rec_binary(CLT_OP_mul, x, ms) : NULL;
  clt__tensor_release(u);
  clt__tensor_release(keep);
  clt__tensor_release(m);
  clt__tensor_release(ms);
  return out;
}

clt_tensor *clt_dropout(clt_tensor *x, double p, bool train) {
  clt__api("clt_dropout");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(clt__dropout(x, p, train));
}

/* ---- initialisers ----------------------------------------------------------------------- */

/* t = r * scale + shift, in place and unrecorded; r (on the host) is released. The arithmetic
 * runs on the host and the result is copied, so every device gets the same values bit for bit
 * (a device's float multiply-add would round differently). */
static clt_status assign(clt_tensor *t, clt_tensor *r, double scale, double shift) {
  if (!r) return clt_last_status();
  clt_tensor *a = clt__binary_scalar(CLT_OP_mul, r, scale, false), *b = a ? clt__binary_scalar(CLT_OP_add, a, shift, false) : NULL;
  clt_tensor *c = b ? clt__to(b, t->st->dev) : NULL;
  clt_status s = c ? clt__copy_into(t, c) : clt_last_status();
  if (s == CLT_OK) atomic_fetch_add(&t->st->version, 1);
  clt__tensor_release(r);
  clt__tensor_release(a);
  clt__tensor_release(b);
  clt__tensor_release(c);
  return s;
}

/* Random numbers for t, drawn on the host from this thread's generator. */
static clt_tensor *host_random(clt_tensor *t, bool normal) {
  clt_device *host;
  if (clt__host_for(t->st->dev, &host) != CLT_OK) return NULL;
  clt_tensor *r = normal ? clt__randn(host, t->dtype, t->ndim, t->shape) : clt__rand(host, t->dtype, t->ndim, t->shape);
  clt__device_drop(host);
  return r;
}

static clt_status check_init(clt_tensor *t) {
  if (!t) return clt__null_arg("t");
  if (!clt_dtype_is_float(t->dtype))
    return clt__err(CLT_ERR_DTYPE, "initialisers fill float tensors, not %s", clt_dtype_name(t->dtype));
  return CLT_OK;
}

static clt_status init_uniform(clt_tensor *t, double lo, double hi) {
  if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
    return clt__err(CLT_ERR_INVALID_ARG, "bounds %g, %g: need finite lo <= hi", lo, hi);
  return assign(t, host_random(t, false), hi - lo, lo);
}

static clt_status fans(clt_tensor *t, double *fan_in, double *fan_out) {
  *fan_in = *fan_out = 0; /* 0 on failure too */
  if (t->ndim < 2) {
    char a[CLT__SHAPE_STR];
    return clt__err(CLT_ERR_SHAPE, "fan in and fan out need at least 2 dims, not shape %s", clt__shape_str(a, t->ndim, t->shape));
  }
  double rf = 1;
  for (int d = 2; d < t->ndim; d++) rf *= (double)t->shape[d];
  *fan_in = (double)t->shape[1] * rf;
  *fan_out = (double)t->shape[0] * rf;
  return CLT_OK;
}

clt_status clt_init_uniform_(clt_tensor *t, double lo, double hi) {
  clt__api("clt_init_uniform_");
  clt_status s = check_init(t);
  return s == CLT_OK ? init_uniform(t, lo, hi) : s;
}

clt_status clt_init_normal_(clt_tensor *t, double mean, double std) {
  clt__api("clt_init_normal_");
  clt_status s = check_init(t);
  if (s != CLT_OK) return s;
  if (!(std >= 0) || !isfinite(mean)) return clt__err(CLT_ERR_INVALID_ARG, "mean %g, std %g: need std >= 0", mean, std);
  return assign(t, host_random(t, true), std, mean);
}

clt_status clt_init_kaiming_uniform_(clt_tensor *t, double a) {
  clt__api("clt_init_kaiming_uniform_");
  double fi, fo;
  clt_status s = check_init(t);
  if (s != CLT_OK || (s = fans(t, &fi, &fo)) != CLT_OK) return s;
  double bound = fi > 0 ? sqrt(6.0 / ((1.0 + a * a) * fi)) : 0;
  return init_uniform(t, -bound, bound);
}

clt_status clt_init_xavier_uniform_(clt_tensor *t, double gain) {
  clt__api("clt_init_xavier_uniform_");
  double fi, fo;
  clt_status s = check_init(t);
  if (s != CLT_OK || (s = fans(t, &fi, &fo)) != CLT_OK) return s;
  double bound = fi + fo > 0 ? gain * sqrt(6.0 / (fi + fo)) : 0;
  return init_uniform(t, -bound, bound);
}
