/* cat, stack, index_select, gather, scatter_add, one_hot. */
#include <string.h>

#include "dispatch.h"
#include "ew.h"
#include "grad.h"
#include "reduce.h"

/* dst (a view) = src converted to dst's dtype. */
static clt_status copy_cast_into(clt_tensor *dst, clt_tensor *src) {
  if (dst->numel == 0) return CLT_OK;
  if (dst->dtype == src->dtype) return clt__copy_into(dst, src);
  clt__iter it;
  const clt_tensor *ops[2] = {dst, src};
  clt__iter_tensors(&it, 2, ops);
  return clt__run_cast(dst->st->dev, &it, dst->st, dst->dtype, src->st, src->dtype);
}

static clt_tensor *cat(clt_tensor *const *ts, int n, int dim) {
  if (n < 1 || !ts) return clt__err(CLT_ERR_INVALID_ARG, "needs at least one tensor (n is %d)", n), NULL;
  int first = -1;
  clt_dtype dt = CLT_BOOL;
  for (int i = 0; i < n; i++) {
    if (!ts[i]) return clt__null_arg("tensors[i]"), NULL;
    if (ts[i]->ndim == 1 && ts[i]->numel == 0) continue; /* PyTorch's legacy empty tensors */
    dt = first < 0 ? ts[i]->dtype : clt__promote_types(dt, ts[i]->dtype);
    if (first < 0) first = i;
  }
  if (first < 0) return clt__empty(ts[0]->st->dev, ts[0]->dtype, 1, (const int64_t[]){0});
  const clt_tensor *ref = ts[first];
  if (ref->ndim == 0) return clt__err(CLT_ERR_SHAPE, "cannot concatenate 0-d tensors (use clt_stack)"), NULL;
  int d;
  if (clt__wrap_dim(dim, ref->ndim, "dim", &d) != CLT_OK) return NULL;
  int64_t shape[CLT_MAX_DIMS];
  memcpy(shape, ref->shape, sizeof shape);
  shape[d] = 0;
  for (int i = 0; i < n; i++) {
    const clt_tensor *t = ts[i];
    if (t->ndim == 1 && t->numel == 0) continue;
    if (clt__check_same_device(ref, t) != CLT_OK) return NULL;
    bool ok = t->ndim == ref->ndim;
    for (int k = 0; k < ref->ndim && ok; k++) ok = k == d || t->shape[k] == ref->shape[k];
    if (!ok) {
      char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
      clt__err(CLT_ERR_SHAPE, "tensor %d has shape %s, which does not match %s outside dim %d", i,
               clt__shape_str(a, t->ndim, t->shape), clt__shape_str(b, ref->ndim, ref->shape), d);
      return NULL;
    }
    if (clt__add_ovf(shape[d], t->shape[d], &shape[d])) {
      char a[CLT__SHAPE_STR];
      clt__err(CLT_ERR_OVERFLOW, "the sizes along dim %d add up past 2^63 - 1 at tensor %d (shape %s)", d, i,
               clt__shape_str(a, t->ndim, t->shape));
      return NULL;
    }
  }
  if (clt__check_shape(ref->ndim, shape, NULL, "the joined shape") != CLT_OK) return NULL;
  clt_tensor *out = clt__empty(ref->st->dev, dt, ref->ndim, shape);
  int64_t at = 0;
  for (int i = 0; i < n && out; i++) {
    clt_tensor *t = ts[i];
    if (t->ndim == 1 && t->numel == 0) continue;
    int64_t vs[CLT_MAX_DIMS];
    memcpy(vs, out->shape, sizeof vs);
    vs[d] = t->shape[d];
    clt_tensor *view = clt__view_of(out, out->ndim, vs, out->strides, at * out->strides[d]);
    clt_status s = view ? copy_cast_into(view, t) : clt_last_status();
    clt__tensor_release(view);
    if (s != CLT_OK) {
      clt__tensor_release(out);
      out = NULL;
    }
    at += t->shape[d];
  }
  return out;
}

static clt_tensor *stack(clt_tensor *const *ts, int n, int dim) {
  if (n < 1 || !ts) return clt__err(CLT_ERR_INVALID_ARG, "needs at least one tensor (n is %d)", n), NULL;
  for (int i = 0; i < n; i++)
    if (!ts[i]) return clt__null_arg("tensors[i]"), NULL;
  const clt_tensor *ref = ts[0];
  if (ref->ndim >= CLT_MAX_DIMS) return clt__err(CLT_ERR_SHAPE, "stacking %d-d tensors exceeds %d dims", ref->ndim, CLT_MAX_DIMS), NULL;
  int d;
  if (clt__wrap_dim(dim, ref->ndim + 1, "dim", &d) != CLT_OK) return NULL;
  clt_tensor **views = clt__calloc((size_t)n, sizeof *views);
  if (!views) return clt__err(CLT_ERR_OOM, "cannot allocate %d views", n), NULL;
  clt_tensor *out = NULL;
  bool ok = true;
  for (int i = 0; i < n && ok; i++) {
    const clt_tensor *t = ts[i];
    ok = t->ndim == ref->ndim;
    for (int k = 0; k < ref->ndim && ok; k++) ok = t->shape[k] == ref->shape[k];
    if (!ok) {
      char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
      clt__err(CLT_ERR_SHAPE, "tensor %d has shape %s, tensor 0 %s; stack needs one shape", i,
               clt__shape_str(a, t->ndim, t->shape), clt__shape_str(b, ref->ndim, ref->shape));
      break;
    }
    int64_t s[CLT_MAX_DIMS], st[CLT_MAX_DIMS];
    for (int k = 0, j = 0; k <= t->ndim; k++) {
      if (k == d) {
        s[k] = 1;
        st[k] = 1;
      } else {
        s[k] = t->shape[j];
        st[k] = t->strides[j++];
      }
    }
    ok = (views[i] = clt__view_of(t, t->ndim + 1, s, st, t->offset)) != NULL;
  }
  if (ok) out = cat(views, n, d);
  for (int i = 0; i < n; i++) clt__tensor_release(views[i]);
  clt__free_mem(views);
  return out;
}

/* ---- indices ---------------------------------------------------------------------------- */

static clt_status check_index_dtype(const clt_tensor *index) {
  if (index->dtype == CLT_INT32 || index->dtype == CLT_INT64) return CLT_OK;
  return clt__err(CLT_ERR_DTYPE, "index has dtype %s; int32 or int64 is needed", clt_dtype_name(index->dtype));
}

/* Every entry of index in [0, limit). A small index (a batch's labels or rows) is read back
 * whole and checked on the host: one read instead of two reductions and a read (on PoCL each
 * launch costs a few microseconds of the queue's time). A larger one is reduced to its min and
 * max on the device, which are read back. */
#define CLT__INDEX_READ_BACK 4096
clt_status clt__check_index_range(clt_tensor *index, int64_t limit, const char *what) {
  if (index->numel == 0) return CLT_OK;
  int64_t known_lo, known_hi; /* every element of the storage, so of this view, is within */
  if (clt__range_get(index->st, &known_lo, &known_hi) && known_lo >= 0 && known_hi < limit) return CLT_OK;
  if (index->numel <= CLT__INDEX_READ_BACK) {
    size_t es = clt_dtype_size(index->dtype), nbytes;
    if (clt__nbytes(index->numel, index->dtype, &nbytes) != CLT_OK) return clt_last_status();
    uint8_t *vals = clt__malloc(nbytes);
    if (!vals) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes to check an index", nbytes);
    clt_status s = clt__to_host(index, vals);
    int64_t bad = 0;
    bool found = false;
    for (int64_t i = 0; s == CLT_OK && i < index->numel && !found; i++) {
      int64_t v = clt__load_i64(index->dtype, vals + (size_t)i * es);
      if (v < 0 || v >= limit) bad = v, found = true;
    }
    clt__free_mem(vals);
    if (s != CLT_OK) return s;
    if (found)
      return clt__err(CLT_ERR_INDEX, "%s index %lld is out of range for size %lld", what, (long long)bad, (long long)limit);
    return CLT_OK;
  }
  clt_tensor *flat = clt__contiguous(index);
  clt_tensor *v = flat ? clt__view_of(flat, 1, &flat->numel, (const int64_t[]){1}, flat->offset) : NULL;
  clt_tensor *mm = v ? clt__empty(v->st->dev, index->dtype, 1, (const int64_t[]){2}) : NULL; /* [min, max] */
  clt_status s = mm ? CLT_OK : clt_last_status();
  uint8_t buf[16];
  if (s == CLT_OK) {
    clt_device *dev = v->st->dev;
    clt__rlayout L = {.A = 1, .R = v->numel, .B = 1, .sA = 0, .sR = 1, .sB = 0, .off = v->offset};
    for (int k = 0; k < 2 && s == CLT_OK; k++) {
      clt__reduce_args r = {.op = k ? CLT__R_MAX : CLT__R_MIN, .in = v->st, .dt = v->dtype, .L = L, .out = mm->st,
                            .out_off = k, .odt = v->dtype};
      s = clt__run_reduce(dev, &r);
    }
    if (s == CLT_OK) s = dev->be->read(dev, mm->st, 0, buf, 2 * clt_dtype_size(index->dtype)); /* one wait */
  }
  clt__tensor_release(mm);
  clt__tensor_release(v);
  clt__tensor_release(flat);
  if (s != CLT_OK) return s;
  int64_t lo = clt__load_i64(index->dtype, buf), hi = clt__load_i64(index->dtype, buf + clt_dtype_size(index->dtype));
  if (lo < 0 || hi >= limit)
    return clt__err(CLT_ERR_INDEX, "%s index %lld is out of range for size %lld", what, (long long)(lo < 0 ? lo : hi),
                    (long long)limit);
  return CLT_OK;
}

/* The walk over index's shape for gather/scatter (dims kept as they are). */
static void index_iter(clt__iter *it, const clt_tensor *index, const clt_tensor *a, const clt_tensor *b,
                       const clt_tensor *c) {
  const clt_tensor *ops[3] = {a, b, c};
  memset(it, 0, sizeof *it);
  it->nops = 3;
  it->ndim = index->ndim > 0 ? index->ndim : 1;
  it->numel = index->numel;
  for (int d = 0; d < it->ndim; d++) it->shape[d] = index->ndim ? index->shape[d] : 1;
  for (int k = 0; k < 3; k++) {
    it->offset[k] = ops[k]->offset;
    for (int d = 0; d < index->ndim; d++) it->strides[k][d] = ops[k]->strides[d];
  }
}

static clt_status check_gather_shapes(const clt_tensor *x, int d, const clt_tensor *index, const char *what) {
  bool ok = index->ndim == x->ndim;
  for (int k = 0; k < x->ndim && ok; k++) ok = k == d || index->shape[k] <= x->shape[k];
  if (ok) return CLT_OK;
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  return clt__err(CLT_ERR_SHAPE, "index of shape %s does not fit %s of shape %s outside dim %d",
                  clt__shape_str(a, index->ndim, index->shape), what, clt__shape_str(b, x->ndim, x->shape), d);
}

/* range_checked: the caller already checked index's entries against x's size along dim. */
static clt_tensor *gather(clt_tensor *x, int dim, clt_tensor *index, bool range_checked) {
  int d;
  if (clt__check_same_device(x, index) != CLT_OK || check_index_dtype(index) != CLT_OK ||
      clt__wrap_dim(dim, x->ndim > 0 ? x->ndim : 1, "dim", &d) != CLT_OK ||
      check_gather_shapes(x, d, index, "x") != CLT_OK)
    return NULL;
  if (x->ndim == 0) return clt__err(CLT_ERR_SHAPE, "cannot gather from a 0-d tensor"), NULL;
  if (!range_checked && clt__check_index_range(index, x->shape[d], "gather:") != CLT_OK) return NULL;
  clt_tensor *out = clt__empty(x->st->dev, x->dtype, index->ndim, index->shape);
  if (!out || out->numel == 0) return out;
  clt__iter it;
  index_iter(&it, index, out, x, index);
  clt_device *dev = x->st->dev;
  if (clt__run_gather(dev, &it, d, out->st, x->st, index->st, x->dtype, index->dtype) != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  int64_t lo, hi; /* every element of out is one of x's storage */
  if (clt__range_get(x->st, &lo, &hi)) clt__range_set(out->st, lo, hi);
  return out;
}

static clt_tensor *index_select(clt_tensor *x, int dim, clt_tensor *index) {
  int d;
  if (clt__check_same_device(x, index) != CLT_OK || check_index_dtype(index) != CLT_OK ||
      clt__wrap_dim(dim, x->ndim > 0 ? x->ndim : 1, "dim", &d) != CLT_OK)
    return NULL;
  if (index->ndim > 1)
    return clt__err(CLT_ERR_SHAPE, "index must be 0-d or 1-d, not %d-d", index->ndim), NULL;
  if (x->ndim == 0) return clt__err(CLT_ERR_SHAPE, "cannot index a 0-d tensor"), NULL;
  /* the index itself is checked, not the broadcast view below, which would be copied whole */
  if (clt__check_index_range(index, x->shape[d], "selection") != CLT_OK) return NULL;
  /* index_select is gather with the index broadcast over the other dims (a view, no copy) */
  int64_t shape[CLT_MAX_DIMS], strides[CLT_MAX_DIMS];
  for (int k = 0; k < x->ndim; k++) {
    shape[k] = k == d ? index->numel : x->shape[k];
    strides[k] = k == d ? (index->ndim ? index->strides[0] : 0) : 0;
  }
  clt_tensor *iv = clt__view_of(index, x->ndim, shape, strides, index->offset);
  if (!iv) return NULL;
  clt_tensor *out = clt__grad_gather(gather(x, d, iv, true), x, d, iv);
  clt__tensor_release(iv);
  return out;
}

static clt_tensor *scatter_add(clt_tensor *x, int dim, clt_tensor *index, clt_tensor *src) {
  int d;
  if (clt__check_same_device(x, index) != CLT_OK || clt__check_same_device(x, src) != CLT_OK ||
      check_index_dtype(index) != CLT_OK || clt__wrap_dim(dim, x->ndim > 0 ? x->ndim : 1, "dim", &d) != CLT_OK)
    return NULL;
  if (x->dtype != CLT_FLOAT32 && x->dtype != CLT_FLOAT64 && x->dtype != CLT_INT32 && x->dtype != CLT_INT64)
    return clt__err(CLT_ERR_DTYPE, "scatter_add supports float32, float64, int32 and int64, not %s",
                    clt_dtype_name(x->dtype)), NULL;
  if (src->dtype != x->dtype)
    return clt__err(CLT_ERR_DTYPE, "src has dtype %s, x %s; they must match", clt_dtype_name(src->dtype),
                    clt_dtype_name(x->dtype)), NULL;
  if (x->ndim == 0) return clt__err(CLT_ERR_SHAPE, "cannot scatter into a 0-d tensor"), NULL;
  if (check_gather_shapes(x, d, index, "x") != CLT_OK) return NULL;
  bool ok = src->ndim == index->ndim;
  for (int k = 0; k < index->ndim && ok; k++) ok = index->shape[k] <= src->shape[k];
  if (!ok) {
    char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
    clt__err(CLT_ERR_SHAPE, "index of shape %s is larger than src of shape %s", clt__shape_str(a, index->ndim, index->shape),
             clt__shape_str(b, src->ndim, src->shape));
    return NULL;
  }
  if (clt__check_index_range(index, x->shape[d], "scatter_add:") != CLT_OK) return NULL;
  clt_tensor *out = clt__clone(x);
  if (!out || index->numel == 0) return out;
  clt__iter it;
  index_iter(&it, index, out, index, src);
  clt_device *dev = x->st->dev;
  if (clt__run_scatter_add(dev, &it, d, out->st, index->st, src->st, x->dtype, index->dtype) != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  return out;
}

static clt_tensor *one_hot(clt_tensor *index, int64_t num_classes) {
  if (check_index_dtype(index) != CLT_OK) return NULL;
  if (index->ndim >= CLT_MAX_DIMS) return clt__err(CLT_ERR_SHAPE, "index has %d dims; one more would exceed %d", index->ndim, CLT_MAX_DIMS), NULL;
  if (num_classes < -1 || num_classes == 0) {
    if (num_classes == 0 && index->numel == 0) num_classes = 0;
    else return clt__err(CLT_ERR_INVALID_ARG, "num_classes %lld must be positive or -1", (long long)num_classes), NULL;
  }
  if (num_classes == -1) {
    if (index->numel == 0) return clt__err(CLT_ERR_INVALID_ARG, "num_classes -1 needs a non-empty index"), NULL;
    clt_tensor *m = clt__contiguous(index);
    clt_tensor *flat = m ? clt__view_of(m, 1, &m->numel, (const int64_t[]){1}, m->offset) : NULL;
    clt_tensor *mx = flat ? clt__empty(flat->st->dev, flat->dtype, 0, NULL) : NULL;
    clt_status s = mx ? CLT_OK : clt_last_status();
    uint8_t buf[8];
    if (s == CLT_OK) {
      clt__reduce_args r = {.op = CLT__R_MAX, .in = flat->st, .dt = flat->dtype,
                            .L = {.A = 1, .R = flat->numel, .B = 1, .sR = 1, .off = flat->offset}, .out = mx->st,
                            .odt = flat->dtype};
      s = clt__run_reduce(flat->st->dev, &r);
      if (s == CLT_OK) s = flat->st->dev->be->read(flat->st->dev, mx->st, 0, buf, clt_dtype_size(flat->dtype));
    }
    if (s == CLT_OK) num_classes = clt__load_i64(index->dtype, buf) + 1;
    clt__tensor_release(mx);
    clt__tensor_release(flat);
    clt__tensor_release(m);
    if (s != CLT_OK) return NULL;
  }
  if (num_classes > 0 && clt__check_index_range(index, num_classes, "one_hot:") != CLT_OK) return NULL;
  /* (index[..., None] == arange(C)) as int64: existing kernels, no new one */
  int64_t shape[CLT_MAX_DIMS], strides[CLT_MAX_DIMS];
  for (int k = 0; k < index->ndim; k++) {
    shape[k] = index->shape[k];
    strides[k] = index->strides[k];
  }
  shape[index->ndim] = 1;
  strides[index->ndim] = 1;
  clt_tensor *col = clt__view_of(index, index->ndim + 1, shape, strides, index->offset);
  clt_device *dev = index->st->dev;
  clt_tensor *classes = NULL, *eq = NULL, *out = NULL;
  if (col) {
    clt_device *host = NULL;
    if (clt__host_for(dev, &host) == CLT_OK) {
      clt_tensor *h = clt__empty(host, index->dtype, 1, &num_classes);
      for (int64_t i = 0; h && i < num_classes; i++) clt__store_f64(index->dtype, (char *)h->st->ptr + (size_t)i * clt_dtype_size(index->dtype), (double)i);
      classes = h ? clt__to(h, dev) : NULL;
      clt__tensor_release(h);
      clt__device_drop(host);
    }
  }
  if (classes) eq = clt__binary(CLT_OP_eq, col, classes);
  if (eq) out = clt__cast(eq, CLT_INT64);
  clt__tensor_release(eq);
  clt__tensor_release(classes);
  clt__tensor_release(col);
  return out;
}

clt_tensor *clt__gather(clt_tensor *x, int dim, clt_tensor *index) { return gather(x, dim, index, false); }
clt_tensor *clt__scatter_add(clt_tensor *x, int dim, clt_tensor *index, clt_tensor *src) {
  return scatter_add(x, dim, index, src);
}

/* ---- public ----------------------------------------------------------------------------- */

clt_tensor *clt_cat(int n, clt_tensor *const *tensors, int dim) {
  clt__api("clt_cat");
  clt_tensor *out = cat(tensors, n, dim);
  return clt__ret(out ? clt__grad_cat(out, tensors, n, dim, false) : NULL);
}

clt_tensor *clt_stack(int n, clt_tensor *const *tensors, int dim) {
  clt__api("clt_stack");
  clt_tensor *out = stack(tensors, n, dim);
  return clt__ret(out ? clt__grad_cat(out, tensors, n, dim, true) : NULL);
}

clt_tensor *clt_index_select(clt_tensor *x, int dim, clt_tensor *index) {
  clt__api("clt_index_select");
  if (!x || !index) return clt__null_arg(x ? "index" : "x"), NULL;
  return clt__ret(index_select(x, dim, index));
}

clt_tensor *clt_gather(clt_tensor *x, int dim, clt_tensor *index) {
  clt__api("clt_gather");
  if (!x || !index) return clt__null_arg(x ? "index" : "x"), NULL;
  clt_tensor *out = gather(x, dim, index, false);
  int d = dim < 0 ? dim + x->ndim : dim;
  return clt__ret(clt__grad_gather(out, x, d, index));
}

clt_tensor *clt_scatter_add(clt_tensor *x, int dim, clt_tensor *index, clt_tensor *src) {
  clt__api("clt_scatter_add");
  if (!x || !index || !src) return clt__null_arg(!x ? "x" : !index ? "index" : "src"), NULL;
  clt_tensor *out = scatter_add(x, dim, index, src);
  int d = dim < 0 ? dim + x->ndim : dim;
  return clt__ret(clt__grad_scatter_add(out, x, d, index, src));
}

clt_tensor *clt_one_hot(clt_tensor *index, int64_t num_classes) {
  clt__api("clt_one_hot");
  if (!index) return clt__null_arg("index"), NULL;
  return clt__ret(one_hot(index, num_classes));
}
