/* Reductions: dims to reduce -> the canonical [A, R, B] walk (a contiguous copy when the kept
 * and reduced dims cannot be expressed so), then one backend call per pass. */
#include <math.h>
#include <string.h>

#include "dispatch.h"
#include "grad.h"
#include "ew.h"
#include "reduce.h"

clt_dtype clt__reduce_acc_dtype(clt__rop op, clt_dtype dt) {
  if ((op == CLT__R_SUM || op == CLT__R_PROD) && !clt_dtype_is_float(dt)) return CLT_INT64;
  return dt;
}

/* Which dims are reduced; ndims 0 means all. Records an error for bad or repeated dims. */
static clt_status dims_mask(const clt_tensor *x, int ndims, const int *dims, bool *mask) {
  for (int d = 0; d < CLT_MAX_DIMS; d++) mask[d] = ndims == 0;
  if (ndims < 0 || ndims > CLT_MAX_DIMS || (ndims > 0 && !dims))
    return clt__err(CLT_ERR_INVALID_ARG, "ndims %d with dims %s is not a list of dims", ndims, dims ? "given" : "NULL");
  for (int i = 0; i < ndims; i++) {
    int d;
    if (x->ndim == 0) { /* a 0-d tensor takes dim 0 or -1, as PyTorch */
      if (clt__wrap_dim(dims[i], 1, "dim", &d) != CLT_OK) return clt_last_status();
      continue;
    }
    if (clt__wrap_dim(dims[i], x->ndim, "dim", &d) != CLT_OK) return clt_last_status();
    if (mask[d]) return clt__err(CLT_ERR_INVALID_ARG, "dim %d appears more than once in dims", d);
    mask[d] = true;
  }
  return CLT_OK;
}

/* Merges a run of dims (in order) into one (size n, stride s); false when not contiguous. The
 * products are checked: a stride times a size can pass int64 (wrapped memory may have any
 * strides), and an overflow is no merge. */
static bool merge_dims(const clt_tensor *x, const int *ds, int k, int64_t *n, int64_t *s) {
  *n = 1;
  *s = 1;
  bool first = true;
  for (int i = k - 1; i >= 0; i--) {
    int d = ds[i];
    int64_t span;
    if (x->shape[d] == 1) continue;
    if (first) *s = x->strides[d];
    else if (clt__mul_ovf(*n, *s, &span) || x->strides[d] != span) return false;
    if (clt__mul_ovf(*n, x->shape[d], n)) return false;
    first = false;
  }
  return true;
}

/* The [A, R, B] walk over x for the reduced dims in mask, if the strides allow one. */
static bool plan(const clt_tensor *x, const bool *mask, clt__rlayout *L) {
  int before[CLT_MAX_DIMS], red[CLT_MAX_DIMS], after[CLT_MAX_DIMS], nb = 0, nr = 0, na = 0;
  for (int d = 0; d < x->ndim; d++) {
    if (mask[d]) red[nr++] = d;
    else if (x->shape[d] == 1) continue; /* size-1 kept dims go anywhere */
    else if (nr == 0) before[nb++] = d;
    else after[na++] = d;
  }
  /* a kept dim between reduced ones breaks the pattern unless those reduced dims are size 1 */
  for (int i = 0; i < na; i++)
    for (int j = 0; j < nr; j++)
      if (red[j] > after[i] && x->shape[red[j]] != 1) return false;
  L->off = x->offset;
  return merge_dims(x, before, nb, &L->A, &L->sA) && merge_dims(x, red, nr, &L->R, &L->sR) &&
         merge_dims(x, after, na, &L->B, &L->sB);
}

/* x with the reduced dims last, contiguous, and its walk [A, R, 1]. */
static clt_tensor *permuted_copy(clt_tensor *x, const bool *mask, clt__rlayout *L) {
  int64_t shape[CLT_MAX_DIMS], strides[CLT_MAX_DIMS];
  int k = 0, nkept = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int d = 0; d < x->ndim; d++)
      if (mask[d] == (pass == 1)) {
        shape[k] = x->shape[d];
        strides[k++] = x->strides[d];
        nkept += !pass;
      }
  int64_t A = clt__dims_prod(shape, 0, nkept), R = clt__dims_prod(shape, nkept, k); /* fit: x's shape does */
  clt_tensor *v = clt__view_of(x, x->ndim, shape, strides, x->offset);
  clt_tensor *c = v ? clt__clone(v) : NULL;
  clt__tensor_release(v);
  *L = (clt__rlayout){.A = A, .R = R, .B = 1, .sA = R, .sR = 1, .sB = 1, .off = 0};
  return c;
}

/* The output shape for the reduced dims (size 1 where keepdim). */
static int out_shape(const clt_tensor *x, const bool *mask, bool keepdim, int64_t *shape) {
  int k = 0;
  for (int d = 0; d < x->ndim; d++)
    if (!mask[d]) shape[k++] = x->shape[d];
    else if (keepdim) shape[k++] = 1;
  return k;
}

typedef struct {
  clt_tensor *x; /* the input the walk reads (x itself or a permuted copy); owned */
  clt__rlayout L;
  int ndim;      /* output shape */
  int64_t shape[CLT_MAX_DIMS];
} prepared;

static clt_status prepare(clt_tensor *x, int ndims, const int *dims, bool keepdim, prepared *p) {
  bool mask[CLT_MAX_DIMS];
  clt_status s = dims_mask(x, ndims, dims, mask);
  if (s != CLT_OK) return s;
  p->ndim = out_shape(x, mask, keepdim, p->shape);
  if (x->numel == 0) { /* nothing to walk: only the sizes count (R == 0: an empty reduction) */
    int64_t kept[CLT_MAX_DIMS], red[CLT_MAX_DIMS];
    int nk = 0, nr = 0;
    for (int d = 0; d < x->ndim; d++) {
      if (mask[d]) red[nr++] = x->shape[d];
      else kept[nk++] = x->shape[d];
    }
    p->L = (clt__rlayout){.A = clt__dims_prod(kept, 0, nk), .R = clt__dims_prod(red, 0, nr), .B = 1, .off = x->offset};
    p->x = clt__retain(x);
    return CLT_OK;
  }
  if (plan(x, mask, &p->L)) {
    p->x = clt__retain(x);
  } else if (!(p->x = permuted_copy(x, mask, &p->L))) {
    return clt_last_status();
  }
  return CLT_OK;
}

/* One reduction into a new tensor of dtype odt (and, for arg ops, int64 indices). */
static clt_tensor *reduce_into(prepared *p, clt__rop op, clt__rpost post, double scale, clt_dtype odt,
                               const clt_tensor *m) {
  clt_device *dev = p->x->st->dev;
  bool arg = op == CLT__R_ARGMAX || op == CLT__R_ARGMIN;
  clt_tensor *out = clt__empty(dev, arg ? CLT_INT64 : odt, p->ndim, p->shape);
  if (!out || out->numel == 0) return out;
  clt__reduce_args r = {.op = op, .post = post, .scale = scale, .in = p->x->st, .dt = p->x->dtype, .L = p->L,
                        .m = m ? m->st : NULL, .m_off = m ? m->offset : 0, .out = arg ? NULL : out->st,
                        .odt = odt, .idx = arg ? out->st : NULL};
  if (clt__run_reduce(dev, &r) != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  return out;
}

typedef enum { K_SUM, K_PROD, K_MEAN, K_MAX, K_MIN, K_VAR, K_STD, K_LSE, K_MEAN_SCALED } kind;

static const char *kind_name[] = {"sum", "prod", "mean", "max", "min", "var", "std", "logsumexp", "mean"};

/* Var's first three passes into one [3, A*B] tensor: max |x| per output, the mean of x 2^-e,
 * and the mean of x 2^-e minus that mean (lib/reduce.h: CLT__R_SQDEV reads all three). */
static clt_tensor *slice_stats(prepared *p) {
  clt_device *dev = p->x->st->dev;
  int64_t n = p->L.A * p->L.B, n3 = 3 * n;
  clt_tensor *st = clt__empty(dev, p->x->dtype, 1, &n3);
  if (!st) return NULL;
  static const clt__rop ops[3] = {CLT__R_MAXABS, CLT__R_SUMSC, CLT__R_DEVSUM};
  clt_status s = CLT_OK;
  for (int i = 0; i < 3 && s == CLT_OK; i++) {
    clt__reduce_args r = {.op = ops[i], .post = i ? CLT__POST_SCALE : CLT__POST_NONE, .scale = 1.0 / (double)p->L.R,
                          .in = p->x->st, .dt = p->x->dtype, .L = p->L, .m = i ? st->st : NULL, .m_off = st->offset,
                          .out = st->st, .out_off = st->offset + i * n, .odt = p->x->dtype};
    s = clt__run_reduce(dev, &r);
  }
  if (s == CLT_OK) return st;
  clt__tensor_release(st);
  return NULL;
}

static clt_tensor *reduction(kind k, clt_tensor *x, int ndims, const int *dims, bool keepdim, double correction) {
  if (clt__is16(x->dtype)) { /* accumulated in float32 (or wider), rounded once */
    clt_tensor *xf = clt__cast(x, CLT_FLOAT32), *r = xf ? reduction(k, xf, ndims, dims, keepdim, correction) : NULL;
    clt__tensor_release(xf);
    return clt__narrow(r, x->dtype);
  }
  bool needs_float = k == K_MEAN || k == K_VAR || k == K_STD || k == K_MEAN_SCALED;
  if (needs_float && !clt_dtype_is_float(x->dtype)) {
    clt__err(CLT_ERR_DTYPE, "%s needs a float tensor, not %s (cast it first)", kind_name[k], clt_dtype_name(x->dtype));
    return NULL;
  }
  clt_tensor *xf = k == K_LSE && !clt_dtype_is_float(x->dtype) ? clt__cast(x, CLT_FLOAT32) : clt__retain(x);
  if (!xf) return NULL;
  prepared p;
  clt_status s = prepare(xf, ndims, dims, keepdim, &p);
  clt__tensor_release(xf);
  if (s != CLT_OK) return NULL;
  clt_dtype dt = p.x->dtype;
  clt_tensor *out = NULL;
  int64_t R = p.L.R;
  if (R == 0) { /* empty reductions: the identity, or no answer */
    double fill = k == K_SUM ? 0 : k == K_PROD ? 1 : k == K_LSE ? -INFINITY : NAN;
    if (k == K_MAX || k == K_MIN) {
      char sh[CLT__SHAPE_STR];
      clt__err(CLT_ERR_SHAPE, "%s of a tensor of shape %s over an empty dim has no value", kind_name[k],
               clt__shape_str(sh, x->ndim, x->shape));
    } else {
      out = clt__full(x->st->dev, (k == K_SUM || k == K_PROD) ? clt__reduce_acc_dtype(CLT__R_SUM, dt) : dt, p.ndim,
                      p.shape, fill);
    }
    clt__tensor_release(p.x);
    return out;
  }
  switch (k) {
    case K_SUM: out = reduce_into(&p, CLT__R_SUM, CLT__POST_NONE, 1, clt__reduce_acc_dtype(CLT__R_SUM, dt), NULL); break;
    case K_PROD: out = reduce_into(&p, CLT__R_PROD, CLT__POST_NONE, 1, clt__reduce_acc_dtype(CLT__R_PROD, dt), NULL); break;
    case K_MEAN: out = reduce_into(&p, CLT__R_SUM, CLT__POST_SCALE, 1.0 / (double)R, dt, NULL); break;
    case K_MAX: out = reduce_into(&p, CLT__R_MAX, CLT__POST_NONE, 1, dt, NULL); break;
    case K_MIN: out = reduce_into(&p, CLT__R_MIN, CLT__POST_NONE, 1, dt, NULL); break;
    case K_VAR: case K_STD: { /* four passes: slice_stats, then the squared deviations of x 2^-e */
      bool none = p.L.A * p.L.B == 0; /* no output: reduce_into returns the empty result */
      clt_tensor *st = none ? NULL : slice_stats(&p);
      double denom = (double)R - correction;
      if (st || none)
        out = reduce_into(&p, CLT__R_SQDEV, k == K_STD ? CLT__POST_STD : CLT__POST_VAR, 1.0 / (denom > 0 ? denom : 0),
                          dt, st);
      clt__tensor_release(st);
      break;
    }
    case K_LSE: case K_MEAN_SCALED: {
      /* the first pass (max, or max |x|) as a flat [A*B] tensor, then the second against it */
      prepared flat = p;
      flat.ndim = 1;
      flat.shape[0] = p.L.A * p.L.B;
      clt_tensor *m = reduce_into(&flat, k == K_LSE ? CLT__R_MAX : CLT__R_MAXABS, CLT__POST_NONE, 1, dt, NULL);
      if (m && k == K_LSE) out = reduce_into(&p, CLT__R_SUMEXP, CLT__POST_LOG_ADD_M, 1, dt, m);
      else if (m) out = reduce_into(&p, CLT__R_SUMSC, CLT__POST_UNSCALE, 1.0 / (double)R, dt, m);
      clt__tensor_release(m);
      break;
    }
  }
  clt__tensor_release(p.x);
  return out;
}

static clt_tensor *arg_reduction(bool want_max, clt_tensor *x, int ndims, const int *dims, bool keepdim) {
  /* one dim or all of them: an index into more than one dim but not all has no meaning */
  if (ndims < 0 || ndims > 1 || (ndims == 1 && !dims))
    return clt__err(CLT_ERR_INVALID_ARG, "%s takes one dim or all of them (ndims 0), not ndims %d with dims %s",
                    want_max ? "argmax" : "argmin", ndims, dims ? "given" : "NULL"),
           NULL;
  if (clt__is16(x->dtype)) { /* exact in float32: the same order, the same first index */
    clt_tensor *xf = clt__cast(x, CLT_FLOAT32), *r = xf ? arg_reduction(want_max, xf, ndims, dims, keepdim) : NULL;
    clt__tensor_release(xf);
    return r;
  }
  bool all = ndims == 0;
  clt_tensor *flat = NULL;
  bool keep_all = keepdim;
  int d[1] = {all ? 0 : dims[0]};
  int nd = 1;
  if (all) { /* over the flattened tensor */
    flat = clt__contiguous(x);
    if (!flat) return NULL;
    clt_tensor *v = clt__view_of(flat, 1, &flat->numel, (const int64_t[]){1}, flat->offset);
    clt__tensor_release(flat);
    if (!(flat = v)) return NULL;
    keepdim = false;
  }
  clt_tensor *src = flat ? flat : x;
  prepared p;
  clt_tensor *out = NULL;
  if (prepare(src, nd, d, keepdim, &p) == CLT_OK) {
    if (all && keep_all) { /* every dim kept as size 1, as PyTorch */
      p.ndim = x->ndim;
      for (int k = 0; k < x->ndim; k++) p.shape[k] = 1;
    }
    if (p.L.R == 0)
      clt__err(CLT_ERR_SHAPE, "%s over an empty dim has no value", want_max ? "argmax" : "argmin");
    else
      out = reduce_into(&p, want_max ? CLT__R_ARGMAX : CLT__R_ARGMIN, CLT__POST_NONE, 1, p.x->dtype, NULL);
    clt__tensor_release(p.x);
  }
  clt__tensor_release(flat);
  return out;
}

/* Rows of softmax up to this long go to the backend without their max and sum (a work-item
 * per row on OpenCL, kernels/reduce.cl: softmax_rows), longer ones with them from two
 * reductions, which split a row between work-items; but on devices other than GPUs, contiguous
 * rows (the last dim) go without them too when there are at least SOFTMAX_ROWS_PER_CU per
 * compute unit: a CPU core reads its rows from cache three times in one launch, where the two
 * reductions and the apply pass cost 4-5 launches and three trips through memory (softmax over
 * rows of 1000 floats at n = 1e6 on PoCL: 2.2 ms -> 0.37 ms). */
#define SOFTMAX_ROWS_MAX 64
#define SOFTMAX_ROWS_PER_CU 8

static bool softmax_by_rows(const clt_device *dev, int64_t A, int64_t R, int64_t B) {
  if (R <= SOFTMAX_ROWS_MAX) return true;
  return B == 1 && dev->info.type != CLT_DEVICE_GPU &&
         A >= (int64_t)SOFTMAX_ROWS_PER_CU * (int64_t)dev->info.compute_units;
}

static clt_tensor *softmax(clt_tensor *x, int dim, bool log) {
  int d;
  if (clt__wrap_dim(dim, x->ndim > 0 ? x->ndim : 1, "dim", &d) != CLT_OK) return NULL;
  if (clt__is16(x->dtype)) {
    clt_tensor *x32 = clt__cast(x, CLT_FLOAT32), *r = x32 ? softmax(x32, dim, log) : NULL;
    clt__tensor_release(x32);
    return clt__narrow(r, x->dtype);
  }
  clt_tensor *xf = clt_dtype_is_float(x->dtype) ? clt__contiguous(x) : clt__cast(x, CLT_FLOAT32);
  if (!xf) return NULL;
  clt_tensor *out = clt__empty(xf->st->dev, xf->dtype, xf->ndim, xf->shape);
  if (!out || out->numel == 0) {
    clt__tensor_release(xf);
    return out;
  }
  int64_t A = 1, R = xf->ndim ? xf->shape[d] : 1, B = 1;
  for (int i = 0; i < xf->ndim; i++) {
    if (i < d) A = clt__wmul(A, xf->shape[i]);
    if (i > d) B = clt__wmul(B, xf->shape[i]);
  }
  prepared p = {.x = xf, .L = {.A = A, .R = R, .B = B, .sA = R * B, .sR = B, .sB = 1, .off = xf->offset},
                .ndim = 1, .shape = {A * B}};
  /* short rows: the backend finds each row's statistics itself, in one launch on OpenCL */
  bool rows = softmax_by_rows(xf->st->dev, A, R, B);
  clt_tensor *m = rows ? NULL : reduce_into(&p, CLT__R_MAX, CLT__POST_NONE, 1, xf->dtype, NULL);
  clt_tensor *s = m ? reduce_into(&p, CLT__R_SUMEXP, CLT__POST_NONE, 1, xf->dtype, m) : NULL;
  clt__softmax_args a = {.in = xf->st, .dt = xf->dtype, .L = p.L, .m = m ? m->st : NULL, .s = s ? s->st : NULL,
                         .out = out->st, .out_off = 0, .oA = R * B, .oR = B, .oB = 1, .log = log};
  if ((!rows && !s) || clt__run_softmax(xf->st->dev, &a) != CLT_OK) {
    clt__tensor_release(out);
    out = NULL;
  }
  clt__tensor_release(m);
  clt__tensor_release(s);
  clt__tensor_release(xf);
  return out;
}

/* ---- internal entry points (backward functions use these) ------------------------------ */

clt_tensor *clt__sum(clt_tensor *x, int ndims, const int *dims, bool keepdim) {
  return reduction(K_SUM, x, ndims, dims, keepdim, 0);
}
clt_tensor *clt__mean(clt_tensor *x, int ndims, const int *dims, bool keepdim) {
  return reduction(K_MEAN, x, ndims, dims, keepdim, 0);
}
clt_tensor *clt__prod(clt_tensor *x, int ndims, const int *dims, bool keepdim) {
  return reduction(K_PROD, x, ndims, dims, keepdim, 0);
}
clt_tensor *clt__max(clt_tensor *x, int ndims, const int *dims, bool keepdim) {
  return reduction(K_MAX, x, ndims, dims, keepdim, 0);
}
clt_tensor *clt__softmax(clt_tensor *x, int dim, bool log) { return softmax(x, dim, log); }
clt_tensor *clt__mean_scaled(clt_tensor *x, int ndims, const int *dims, bool keepdim) {
  return reduction(K_MEAN_SCALED, x, ndims, dims, keepdim, 0);
}

/* The walk's output is [A, R, B] row-major: x's own shape where x itself is walked (the kept dims
 * before the reduced ones, the rest after), else that of the permuted copy (kept dims, then
 * reduced), viewed back in x's dim order. */
clt_tensor *clt__prod_others(clt_tensor *x, int ndims, const int *dims) {
  if (clt__is16(x->dtype)) {
    clt_tensor *xf = clt__cast(x, CLT_FLOAT32), *r = xf ? clt__prod_others(xf, ndims, dims) : NULL;
    clt__tensor_release(xf);
    return clt__narrow(r, x->dtype);
  }
  bool mask[CLT_MAX_DIMS];
  prepared p;
  if (dims_mask(x, ndims, dims, mask) != CLT_OK || prepare(x, ndims, dims, true, &p) != CLT_OK) return NULL;
  bool copied = p.x != x; /* prepare walks x itself or its permuted copy */
  int order[CLT_MAX_DIMS], k = 0;
  int64_t shape[CLT_MAX_DIMS];
  for (int pass = 0; pass < 2; pass++)
    for (int d = 0; d < x->ndim; d++)
      if (copied ? mask[d] == (pass == 1) : pass == 0) {
        shape[k] = x->shape[d];
        order[k++] = d;
      }
  clt_tensor *base = clt__empty(x->st->dev, x->dtype, x->ndim, shape), *out = NULL;
  if (base && base->numel > 0) {
    clt__reduce_args r = {.op = CLT__R_PRODX, .in = p.x->st, .dt = p.x->dtype, .L = p.L, .out = base->st,
                          .out_off = base->offset, .odt = x->dtype};
    if (clt__run_reduce(x->st->dev, &r) != CLT_OK) {
      clt__tensor_release(base);
      base = NULL;
    }
  }
  if (base) {
    int64_t st[CLT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) st[order[i]] = base->strides[i];
    out = clt__view_of(base, x->ndim, x->shape, st, base->offset);
  }
  clt__tensor_release(base);
  clt__tensor_release(p.x);
  return out;
}

/* ---- public ----------------------------------------------------------------------------- */

#define CLT__DEF_REDUCE(name, k, rk)                                                                       \
  clt_tensor *clt_##name(clt_tensor *x, int ndims, const int *dims, bool keepdim) {                       \
    clt__api("clt_" #name);                                                                                \
    if (!x) return clt__null_arg("x"), NULL;                                                               \
    return clt__ret(clt__grad_reduce(reduction(k, x, ndims, dims, keepdim, 0), x, rk, ndims, dims, 0));    \
  }
CLT__DEF_REDUCE(sum, K_SUM, CLT__RK_SUM)
CLT__DEF_REDUCE(prod, K_PROD, CLT__RK_PROD)
CLT__DEF_REDUCE(mean, K_MEAN, CLT__RK_MEAN)
CLT__DEF_REDUCE(max, K_MAX, CLT__RK_MAX)
CLT__DEF_REDUCE(min, K_MIN, CLT__RK_MIN)
CLT__DEF_REDUCE(logsumexp, K_LSE, CLT__RK_LSE)

clt_tensor *clt_var(clt_tensor *x, int ndims, const int *dims, double correction, bool keepdim) {
  clt__api("clt_var");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(clt__grad_reduce(reduction(K_VAR, x, ndims, dims, keepdim, correction), x, CLT__RK_VAR, ndims, dims,
                                   correction));
}

clt_tensor *clt_std(clt_tensor *x, int ndims, const int *dims, double correction, bool keepdim) {
  clt__api("clt_std");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(clt__grad_reduce(reduction(K_STD, x, ndims, dims, keepdim, correction), x, CLT__RK_STD, ndims, dims,
                                   correction));
}

clt_tensor *clt_argmax(clt_tensor *x, int ndims, const int *dims, bool keepdim) {
  clt__api("clt_argmax");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(arg_reduction(true, x, ndims, dims, keepdim));
}

clt_tensor *clt_argmin(clt_tensor *x, int ndims, const int *dims, bool keepdim) {
  clt__api("clt_argmin");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(arg_reduction(false, x, ndims, dims, keepdim));
}

clt_tensor *clt_softmax(clt_tensor *x, int dim) {
  clt__api("clt_softmax");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(clt__grad_softmax(softmax(x, dim, false), x, dim, false));
}

clt_tensor *clt_log_softmax(clt_tensor *x, int dim) {
  clt__api("clt_log_softmax");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(clt__grad_softmax(softmax(x, dim, true), x, dim, true));
}
