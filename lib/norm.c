/* Batch, layer, group and RMS norm (include/clt/nn.h): each views its input as [P, S, Q] with a
 * channel rule (lib/backend.h: clt__norm_args) and runs one fused backend entry each way
 * (norm_fwd, norm_bwd) through the dispatch door. The forward's per-statistic mean and rstd
 * ([S, 3]: lib/backend.h) are saved for the backward, which needs no second pass for them. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "dispatch.h"
#include "ew.h"

#define SHAPE(buf, t) clt__shape_str(buf, (t)->ndim, (t)->shape)

/* ---- argument checks -------------------------------------------------------------------- */

static clt_status check_x(const clt_tensor *x, int min_ndim) {
  char a[CLT__SHAPE_STR];
  if (x->dtype != CLT_FLOAT32 && x->dtype != CLT_FLOAT64)
    return clt__err(CLT_ERR_DTYPE, "x must be float32 or float64, not %s", clt_dtype_name(x->dtype));
  if (x->ndim < min_ndim)
    return clt__err(CLT_ERR_SHAPE, "x %s must have at least %d dims ([N, C, ...])", SHAPE(a, x), min_ndim);
  return CLT_OK;
}

/* t (NULL: absent, fine) beside x: same device and dtype, and shape [want] (n dims). */
static clt_status check_param(const clt_tensor *x, const clt_tensor *t, const char *arg, int n, const int64_t *want,
                              const char *what) {
  if (!t) return CLT_OK;
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR], c[CLT__SHAPE_STR];
  if (clt__check_same_device(x, t) != CLT_OK) return clt_last_status();
  if (t->dtype != x->dtype)
    return clt__err(CLT_ERR_DTYPE, "%s has dtype %s and x %s; they must match", arg, clt_dtype_name(t->dtype),
                    clt_dtype_name(x->dtype));
  bool ok = t->ndim == n;
  for (int d = 0; ok && d < n; d++) ok = t->shape[d] == want[d];
  if (!ok)
    return clt__err(CLT_ERR_SHAPE, "%s %s must be %s (%s of x %s)", arg, SHAPE(b, t), clt__shape_str(a, n, want), what,
                    SHAPE(c, x));
  return CLT_OK;
}

static int64_t prod(const int64_t *s, int from, int to) {
  int64_t p = 1;
  for (int d = from; d < to; d++) p *= s[d];
  return p;
}

/* ---- the op and its gradient ------------------------------------------------------------ */

/* The layout of a (P, S, Q, smod, cdiv, rms, fixed) and which inputs the node has. */
static void layout_to_node(clt__node *n, const clt__norm_args *a, bool has_w, bool has_b) {
  n->args.norm.P = a->P;
  n->args.norm.S = a->S;
  n->args.norm.Q = a->Q;
  n->args.norm.smod = a->smod;
  n->args.norm.cdiv = a->cdiv;
  n->args.norm.rms = a->rms;
  n->args.norm.fixed = a->fixed;
  n->args.norm.has_w = has_w;
  n->args.norm.has_b = has_b;
}

/* A tensor shaped like input i of n: its gradient. */
static clt_tensor *like_input(clt__node *n, int i, clt_device *dev, bool zero) {
  const clt__edge *e = &n->next[i];
  return zero ? clt__full(dev, e->dtype, e->ndim, e->shape, 0) : clt__empty(dev, e->dtype, e->ndim, e->shape);
}

static clt_status bw_norm(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt_tensor *x = clt__saved(n, 0), *stats = x ? clt__saved(n, 1) : NULL;
  clt_tensor *w = stats && n->args.norm.has_w ? clt__saved(n, 2) : NULL;
  if (!stats || (n->args.norm.has_w && !w)) return clt_last_status();
  clt_device *dev = x->st->dev;
  int iw = n->args.norm.has_w ? 1 : -1, ib = n->args.norm.has_b ? 1 + n->args.norm.has_w : -1;
  bool empty = x->numel == 0; /* the parameters' gradients are zeros, nothing runs */
  clt_tensor *gc = clt__contiguous(g), *out[3] = {NULL, NULL, NULL};
  clt_status s = gc ? CLT_OK : clt_last_status();
  /* x's gradient added into the one pending for it, where only the engine holds that (a
   * residual stream's: the transformer's pre-norm blocks, an add each saved), else its own */
  clt_tensor *acc = n->next[0].fn ? n->next[0].fn->pending : NULL;
  bool into = !empty && gc && clt__grad_engine_owned(acc, &n->next[0]) && acc->dtype == x->dtype && acc->st != gc->st &&
              acc->st != x->st;
  if (s == CLT_OK && clt__wants(n, 0) && !into && !(out[0] = like_input(n, 0, dev, false))) s = clt_last_status();
  if (s == CLT_OK && iw > 0 && clt__wants(n, iw) && !(out[1] = like_input(n, iw, dev, empty))) s = clt_last_status();
  if (s == CLT_OK && ib > 0 && clt__wants(n, ib) && !(out[2] = like_input(n, ib, dev, empty))) s = clt_last_status();
  if (s == CLT_OK && !empty) {
    clt__norm_args a = {.dt = x->dtype, .P = n->args.norm.P, .S = n->args.norm.S, .Q = n->args.norm.Q,
                        .smod = n->args.norm.smod, .cdiv = n->args.norm.cdiv, .rms = n->args.norm.rms,
                        .fixed = n->args.norm.fixed, .x = x->st, .xo = x->offset, .w = w ? w->st : NULL,
                        .wo = w ? w->offset : 0, .stats = stats->st, .g = gc->st, .go = gc->offset,
                        .dx = into ? acc->st : out[0] ? out[0]->st : NULL, .dx_acc = into,
                        .dw = out[1] ? out[1]->st : NULL, .db = out[2] ? out[2]->st : NULL};
    s = clt__run_norm_bwd(dev, &a);
  }
  clt__tensor_release(gc);
  if (s != CLT_OK) {
    for (int i = 0; i < 3; i++) clt__tensor_release(out[i]);
    return s;
  }
  gin[0] = out[0];
  if (iw > 0) gin[iw] = out[1];
  if (ib > 0) gin[ib] = out[2];
  return CLT_OK;
}

/* A running statistic updated in place: its known range goes, its version moves on. */
static void bump(clt_tensor *t) {
  clt__range_forget(t->st);
  atomic_fetch_add(&t->st->version, 1);
}

/* y = the normalization a describes of x (layout and options set; storages filled in here),
 * with the running statistics rm, rv (read when a->fixed, else updated when given). */
static clt_tensor *norm(const char *name, clt__norm_args a, clt_tensor *x, clt_tensor *w, clt_tensor *b,
                        clt_tensor *rm, clt_tensor *rv) {
  clt_device *dev = x->st->dev;
  clt_tensor *xc = clt__contiguous(x), *wc = xc && w ? clt__contiguous(w) : NULL, *bc = xc && b ? clt__contiguous(b) : NULL;
  clt_tensor *y = NULL, *stats = NULL;
  if (!xc || (w && !wc) || (b && !bc)) goto done;
  y = clt__empty(dev, x->dtype, x->ndim, x->shape);
  stats = y ? clt__empty(dev, x->dtype, 2, (const int64_t[]){a.S, 3}) : NULL;
  if (!stats) goto fail;
  if (x->numel > 0) {
    a.dt = x->dtype;
    a.x = xc->st;
    a.xo = xc->offset;
    a.w = wc ? wc->st : NULL;
    a.wo = wc ? wc->offset : 0;
    a.b = bc ? bc->st : NULL;
    a.bo = bc ? bc->offset : 0;
    a.y = y->st;
    a.stats = stats->st;
    if (rm) {
      a.rm = rm->st;
      a.rm_off = rm->offset;
      a.rm_stride = rm->strides[0];
      a.rv = rv->st;
      a.rv_off = rv->offset;
      a.rv_stride = rv->strides[0];
    }
    if (rm && !a.fixed) {
      clt__range_forget(rm->st);
      clt__range_forget(rv->st);
    }
    if (clt__run_norm_fwd(dev, &a) != CLT_OK) goto fail;
    if (rm && !a.fixed) {
      bump(rm);
      bump(rv);
    }
  }
  clt_tensor *in[3] = {x, w ? w : b, w ? b : NULL};
  int nin = 1 + (w != NULL) + (b != NULL);
  if (clt__grad_needed(nin, in)) {
    clt_tensor *saved[3] = {xc, stats, wc};
    clt__node *n = clt__record(&y, name, bw_norm, nin, in, wc ? 3 : 2, saved);
    if (n) layout_to_node(n, &a, w != NULL, b != NULL);
  }
  goto done;
fail:
  clt__tensor_release(y);
  y = NULL;
done:
  clt__tensor_release(xc);
  clt__tensor_release(wc);
  clt__tensor_release(bc);
  clt__tensor_release(stats);
  return y;
}

/* ---- the four norms --------------------------------------------------------------------- */

static double eps_or(double eps, double dflt) { return eps < 0 ? dflt : eps; }

static clt_tensor *batch_norm(clt_tensor *x, clt_tensor *rm, clt_tensor *rv, clt_tensor *w, clt_tensor *b,
                              bool training, double momentum, double eps) {
  char s1[CLT__SHAPE_STR];
  if (check_x(x, 2) != CLT_OK) return NULL;
  int64_t C = x->shape[1], N = x->shape[0], HW = prod(x->shape, 2, x->ndim);
  if ((rm == NULL) != (rv == NULL) || (!training && !rm)) {
    clt__err(CLT_ERR_INVALID_ARG, "%s: running_mean and running_var must both be given%s, or both NULL",
             rm ? "running_var is NULL" : rv ? "running_mean is NULL" : "running_mean and running_var are NULL",
             training ? "" : " (eval mode normalizes with them)");
    return NULL;
  }
  if (check_param(x, rm, "running_mean", 1, &C, "the channels") != CLT_OK ||
      check_param(x, rv, "running_var", 1, &C, "the channels") != CLT_OK ||
      check_param(x, w, "weight", 1, &C, "the channels") != CLT_OK ||
      check_param(x, b, "bias", 1, &C, "the channels") != CLT_OK)
    return NULL;
  if (training && rm && (rm->requires_grad || rv->requires_grad)) {
    clt__err(CLT_ERR_AUTOGRAD, "%s requires grad; running statistics are updated in place and must not",
             rm->requires_grad ? "running_mean" : "running_var");
    return NULL;
  }
  if (training && N * HW <= 1) {
    clt__err(CLT_ERR_SHAPE, "x %s: training needs more than 1 value per channel", SHAPE(s1, x));
    return NULL;
  }
  clt__norm_args a = {.P = N, .S = C, .Q = HW, .smod = C ? C : 1, .cdiv = HW ? HW : 1, .fixed = !training,
                      .eps = eps_or(eps, 1e-5), .momentum = momentum};
  return norm("batch_norm", a, x, w, b, rm, rv);
}

/* The last k dims of x, which must be normalized_shape. */
static clt_status trailing(const clt_tensor *x, int k, const int64_t *ns) {
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  if (k < 1 || k > x->ndim)
    return clt__err(CLT_ERR_SHAPE, "normalized_shape has %d dims; x %s needs 1 to %d", k, SHAPE(a, x), x->ndim);
  if (!ns) return clt__null_arg("normalized_shape");
  if (memcmp(ns, x->shape + x->ndim - k, (size_t)k * sizeof *ns) != 0)
    return clt__err(CLT_ERR_SHAPE, "normalized_shape %s is not the last %d dims of x %s", clt__shape_str(b, k, ns), k,
                    SHAPE(a, x));
  return CLT_OK;
}

static clt_tensor *last_dims_norm(const char *name, clt_tensor *x, int k, const int64_t *ns, clt_tensor *w,
                                  clt_tensor *b, double eps, bool rms) {
  if (check_x(x, 1) != CLT_OK || trailing(x, k, ns) != CLT_OK ||
      check_param(x, w, "weight", k, ns, "normalized_shape") != CLT_OK ||
      check_param(x, b, "bias", k, ns, "normalized_shape") != CLT_OK)
    return NULL;
  double dflt = !rms ? 1e-5 : x->dtype == CLT_FLOAT32 ? (double)FLT_EPSILON : DBL_EPSILON;
  clt__norm_args a = {.P = 1, .S = prod(x->shape, 0, x->ndim - k), .Q = prod(x->shape, x->ndim - k, x->ndim),
                      .smod = 1, .cdiv = 1, .rms = rms, .eps = eps_or(eps, dflt)};
  return norm(name, a, x, w, b, NULL, NULL);
}

static clt_tensor *group_norm(clt_tensor *x, int64_t G, clt_tensor *w, clt_tensor *b, double eps) {
  char s1[CLT__SHAPE_STR];
  if (check_x(x, 2) != CLT_OK) return NULL;
  int64_t C = x->shape[1], HW = prod(x->shape, 2, x->ndim);
  if (G < 1 || C % G != 0) {
    clt__err(CLT_ERR_SHAPE, "num_groups %lld must be at least 1 and divide the %lld channels of x %s", (long long)G,
             (long long)C, SHAPE(s1, x));
    return NULL;
  }
  if (check_param(x, w, "weight", 1, &C, "the channels") != CLT_OK ||
      check_param(x, b, "bias", 1, &C, "the channels") != CLT_OK)
    return NULL;
  clt__norm_args a = {.P = 1, .S = x->shape[0] * G, .Q = C / G * HW, .smod = G, .cdiv = HW ? HW : 1,
                      .eps = eps_or(eps, 1e-5)};
  return norm("group_norm", a, x, w, b, NULL, NULL);
}

clt_tensor *clt_batch_norm(clt_tensor *x, clt_tensor *running_mean, clt_tensor *running_var, clt_tensor *weight,
                           clt_tensor *bias, bool training, double momentum, double eps) {
  clt__api("clt_batch_norm");
  if (!x) return clt__null_arg("x"), NULL;
  clt_tensor *own[3];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 3, (clt_tensor **const[]){&x, &weight, &bias}, own)) return NULL;
  return clt__ret(clt__widen16_end(batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps), dt, 3, own));
}

clt_tensor *clt_layer_norm(clt_tensor *x, int k, const int64_t *normalized_shape, clt_tensor *weight, clt_tensor *bias,
                           double eps) {
  clt__api("clt_layer_norm");
  if (!x) return clt__null_arg("x"), NULL;
  clt_tensor *own[3];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 3, (clt_tensor **const[]){&x, &weight, &bias}, own)) return NULL;
  return clt__ret(clt__widen16_end(last_dims_norm("layer_norm", x, k, normalized_shape, weight, bias, eps, false), dt, 3, own));
}

clt_tensor *clt_group_norm(clt_tensor *x, int64_t num_groups, clt_tensor *weight, clt_tensor *bias, double eps) {
  clt__api("clt_group_norm");
  if (!x) return clt__null_arg("x"), NULL;
  clt_tensor *own[3];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 3, (clt_tensor **const[]){&x, &weight, &bias}, own)) return NULL;
  return clt__ret(clt__widen16_end(group_norm(x, num_groups, weight, bias, eps), dt, 3, own));
}

clt_tensor *clt_rms_norm(clt_tensor *x, int k, const int64_t *normalized_shape, clt_tensor *weight, double eps) {
  clt__api("clt_rms_norm");
  if (!x) return clt__null_arg("x"), NULL;
  clt_tensor *own[2];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 2, (clt_tensor **const[]){&x, &weight}, own)) return NULL;
  return clt__ret(clt__widen16_end(last_dims_norm("rms_norm", x, k, normalized_shape, weight, NULL, eps, true), dt, 2, own));
}
