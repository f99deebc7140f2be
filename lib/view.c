/* Views: new shapes and strides over the same storage; contiguous copies where needed. */
#include <string.h>

#include "dispatch.h"
#include "grad.h"

clt_status clt__copy_into(clt_tensor *dst, const clt_tensor *src) {
  if (dst->numel == 0) return CLT_OK;
  clt__iter it;
  const clt_tensor *ops[2] = {dst, src};
  clt__iter_tensors(&it, 2, ops);
  clt_device *dev = dst->st->dev;
  return clt__run_copy(dev, &it, dst->st, src->st, clt_dtype_size(dst->dtype));
}

clt_tensor *clt__clone(const clt_tensor *t) {
  clt_tensor *c = clt__empty(t->st->dev, t->dtype, t->ndim, t->shape);
  if (c && clt__copy_into(c, t) != CLT_OK) {
    clt__tensor_release(c);
    return NULL;
  }
  return c;
}

clt_tensor *clt__contiguous(clt_tensor *t) {
  return clt__is_contig(t) ? clt__retain(t) : clt__clone(t);
}

/* Strides for viewing t with a new shape of the same numel without copying (PyTorch's
 * computeStride): dims can be split or merged only inside runs that are contiguous in memory.
 * false when no such strides exist. The sizes multiplied are at most numel (no size is 0 here);
 * a size times a stride is checked (wrapped host memory can have any strides). */
static bool view_strides(const clt_tensor *t, int ndim, const int64_t *shape, int64_t *strides) {
  if (t->numel <= 1) {
    clt__contig_strides(ndim, shape, strides);
    return true;
  }
  int view_d = ndim - 1;
  int64_t chunk = t->strides[t->ndim - 1], tensor_numel = 1, view_numel = 1, span;
  for (int d = t->ndim - 1; d >= 0; d--) {
    tensor_numel *= t->shape[d];
    if (d == 0 || (t->shape[d - 1] != 1 &&
                   (clt__mul_ovf(tensor_numel, chunk, &span) || t->strides[d - 1] != span))) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        if (clt__mul_ovf(view_numel, chunk, &strides[view_d])) return false;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk = t->strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

bool clt__reshape_view(clt_tensor *t, int ndim, const int64_t *shape, clt_tensor **out) {
  int64_t st[CLT_MAX_DIMS];
  if (!view_strides(t, ndim, shape, st)) return false;
  *out = clt__view_of(t, ndim, shape, st, t->offset);
  return true;
}

/* Resolves a -1 entry and checks the element count. */
static clt_status infer_shape(const clt_tensor *t, int ndim, const int64_t *shape, int64_t *out) {
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  if (ndim < 0 || ndim > CLT_MAX_DIMS)
    return clt__err(CLT_ERR_SHAPE, "shape has %d dims; 0 to %d are allowed", ndim, CLT_MAX_DIMS);
  if (ndim > 0 && !shape) return clt__err(CLT_ERR_INVALID_ARG, "shape is NULL with ndim %d", ndim);
  int infer = -1;
  int64_t known = 1;
  bool known_ovf = false;
  for (int d = 0; d < ndim; d++) {
    out[d] = shape[d];
    if (shape[d] == -1) {
      if (infer >= 0) return clt__err(CLT_ERR_SHAPE, "shape %s has more than one -1", clt__shape_str(a, ndim, shape));
      infer = d;
    } else if (shape[d] < 0) {
      return clt__err(CLT_ERR_SHAPE, "shape %s has a negative size", clt__shape_str(a, ndim, shape));
    } else {
      known_ovf = known_ovf || clt__mul_ovf(known, shape[d], &known);
    }
  }
  if (infer >= 0) {
    /* known past int64 is more than numel, so no size fits the -1 */
    if (known_ovf || known == 0 || t->numel % known != 0)
      return clt__err(CLT_ERR_SHAPE, "shape %s is invalid for a tensor of shape %s (%lld elements)",
                      clt__shape_str(a, ndim, shape), clt__shape_str(b, t->ndim, t->shape),
                      (long long)t->numel);
    out[infer] = t->numel / known;
  }
  int64_t numel;
  if (clt__check_shape(ndim, out, &numel, "shape") != CLT_OK) return clt_last_status();
  if (numel != t->numel)
    return clt__err(CLT_ERR_SHAPE, "shape %s is invalid for a tensor of shape %s (%lld elements)",
                    clt__shape_str(a, ndim, shape), clt__shape_str(b, t->ndim, t->shape),
                    (long long)t->numel);
  return CLT_OK;
}

/* A public view's result: marked as a view when it shares t's storage, and recorded. */
static clt_tensor *viewed(clt_tensor *out, clt_tensor *t, const char *name) {
  if (out && out != t && out->st == t->st) out->is_view = true;
  return clt__grad_view(out, t, name);
}

static clt_tensor *reshape(clt_tensor *t, int ndim, const int64_t *shape, bool copy_ok) {
  int64_t s[CLT_MAX_DIMS], st[CLT_MAX_DIMS];
  if (infer_shape(t, ndim, shape, s) != CLT_OK) return NULL;
  if (view_strides(t, ndim, s, st)) return clt__view_of(t, ndim, s, st, t->offset);
  if (!copy_ok) {
    char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
    clt__err(CLT_ERR_SHAPE,
             "a tensor of shape %s with these strides cannot be viewed as %s; use clt_reshape",
             clt__shape_str(a, t->ndim, t->shape), clt__shape_str(b, ndim, s));
    return NULL;
  }
  clt_tensor *c = clt__clone(t);
  if (!c) return NULL;
  clt_tensor *v = clt__view_of(c, ndim, s, (clt__contig_strides(ndim, s, st), st), 0);
  clt__tensor_release(c);
  return v;
}

clt_tensor *clt_reshape(clt_tensor *t, int ndim, const int64_t *shape) {
  clt__api("clt_reshape");
  if (!t) return clt__null_arg("t"), NULL;
  return clt__ret(viewed(reshape(t, ndim, shape, true), t, "reshape"));
}

clt_tensor *clt_view(clt_tensor *t, int ndim, const int64_t *shape) {
  clt__api("clt_view");
  if (!t) return clt__null_arg("t"), NULL;
  return clt__ret(viewed(reshape(t, ndim, shape, false), t, "view"));
}

clt_tensor *clt_flatten(clt_tensor *t, int start_dim, int end_dim) {
  clt__api("clt_flatten");
  if (!t) return clt__null_arg("t"), NULL;
  int n = t->ndim > 0 ? t->ndim : 1, s, e;
  if (clt__wrap_dim(start_dim, n, "start_dim", &s) != CLT_OK ||
      clt__wrap_dim(end_dim, n, "end_dim", &e) != CLT_OK)
    return NULL;
  if (s > e) {
    clt__err(CLT_ERR_INDEX, "start_dim %d comes after end_dim %d", start_dim, end_dim);
    return NULL;
  }
  if (t->ndim == 0) return clt__ret(viewed(reshape(t, 1, (const int64_t[]){1}, true), t, "flatten"));
  int64_t shape[CLT_MAX_DIMS];
  int k = 0;
  for (int d = 0; d < s; d++) shape[k++] = t->shape[d];
  shape[k++] = clt__dims_prod(t->shape, s, e + 1); /* fits: t's shape does */
  for (int d = e + 1; d < t->ndim; d++) shape[k++] = t->shape[d];
  return clt__ret(viewed(reshape(t, k, shape, true), t, "flatten"));
}

static clt_tensor *permuted(clt_tensor *t, const int *perm) {
  int64_t shape[CLT_MAX_DIMS], strides[CLT_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) {
    shape[d] = t->shape[perm[d]];
    strides[d] = t->strides[perm[d]];
  }
  return clt__view_of(t, t->ndim, shape, strides, t->offset);
}

clt_tensor *clt_transpose(clt_tensor *t, int dim0, int dim1) {
  clt__api("clt_transpose");
  if (!t) return clt__null_arg("t"), NULL;
  int n = t->ndim > 0 ? t->ndim : 1, a, b;
  if (clt__wrap_dim(dim0, n, "dim0", &a) != CLT_OK || clt__wrap_dim(dim1, n, "dim1", &b) != CLT_OK)
    return NULL;
  int perm[CLT_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) perm[d] = d;
  if (t->ndim > 0) {
    perm[a] = b;
    perm[b] = a;
  }
  clt_tensor *out = permuted(t, perm);
  if (out) out->is_view = true;
  return clt__ret(clt__grad_permute(out, t, perm));
}

clt_tensor *clt_permute(clt_tensor *t, int ndims, const int *dims) {
  clt__api("clt_permute");
  if (!t) return clt__null_arg("t"), NULL;
  if (ndims != t->ndim)
    return clt__err(CLT_ERR_INVALID_ARG, "ndims is %d for a %d-d tensor; dims must list all %d dims", ndims, t->ndim,
                    t->ndim), NULL;
  if (!dims && t->ndim > 0) return clt__err(CLT_ERR_INVALID_ARG, "argument dims is NULL"), NULL;
  int perm[CLT_MAX_DIMS];
  bool seen[CLT_MAX_DIMS] = {false};
  for (int d = 0; d < t->ndim; d++) {
    if (clt__wrap_dim(dims[d], t->ndim, "dims entry", &perm[d]) != CLT_OK) return NULL;
    if (seen[perm[d]]) {
      clt__err(CLT_ERR_INVALID_ARG, "dims repeats dim %d; it must be a permutation of 0..%d",
               perm[d], t->ndim - 1);
      return NULL;
    }
    seen[perm[d]] = true;
  }
  clt_tensor *out = permuted(t, perm);
  if (out) out->is_view = true;
  return clt__ret(clt__grad_permute(out, t, perm));
}

clt_tensor *clt_slice(clt_tensor *t, int dim, int64_t start, int64_t end, int64_t step) {
  clt__api("clt_slice");
  if (!t) return clt__null_arg("t"), NULL;
  int d;
  if (t->ndim == 0) return clt__err(CLT_ERR_INDEX, "cannot slice a 0-d tensor"), NULL;
  if (clt__wrap_dim(dim, t->ndim, "dim", &d) != CLT_OK) return NULL;
  if (step < 1) return clt__err(CLT_ERR_INVALID_ARG, "step %lld must be at least 1", (long long)step), NULL;
  int64_t n = t->shape[d];
  if (start < 0) start = start < -n ? 0 : start + n;
  if (end < 0) end = end < -n ? 0 : end + n;
  if (start > n) start = n;
  if (end > n) end = n;
  int64_t len = end > start ? (end - start - 1) / step + 1 : 0; /* ceil without the overflow of + step - 1 */
  int64_t shape[CLT_MAX_DIMS], strides[CLT_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  memcpy(strides, t->strides, sizeof strides);
  shape[d] = len;
  /* the product lies within t's extent when t has elements; an empty tensor's strides address
   * nothing (and wrapped memory may give any), so an overflow keeps the old stride */
  if (len <= 1 || clt__mul_ovf(t->strides[d], step, &strides[d])) strides[d] = t->strides[d];
  int64_t off = t->offset + (len > 0 ? start * t->strides[d] : 0);
  clt_tensor *out = clt__view_of(t, t->ndim, shape, strides, off);
  if (out) out->is_view = true;
  return clt__ret(clt__grad_slice(out, t, d, len > 0 ? start : 0, step));
}

clt_tensor *clt_expand(clt_tensor *t, int ndim, const int64_t *shape) {
  clt__api("clt_expand");
  if (!t) return clt__null_arg("t"), NULL;
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  if (ndim < t->ndim || ndim > CLT_MAX_DIMS || (ndim > 0 && !shape)) {
    clt__err(CLT_ERR_SHAPE, "cannot expand a %d-d tensor to %d dims", t->ndim, ndim);
    return NULL;
  }
  int64_t s[CLT_MAX_DIMS], st[CLT_MAX_DIMS];
  int lead = ndim - t->ndim;
  for (int d = 0; d < ndim; d++) {
    int od = d - lead;
    if (od < 0) {
      if (shape[d] < 0) {
        clt__err(CLT_ERR_SHAPE, "expand shape %s has size %lld in a new leading dim",
                 clt__shape_str(a, ndim, shape), (long long)shape[d]);
        return NULL;
      }
      s[d] = shape[d];
      st[d] = 0;
    } else if (shape[d] == -1 || shape[d] == t->shape[od]) {
      s[d] = t->shape[od];
      st[d] = t->strides[od];
    } else if (t->shape[od] == 1 && shape[d] >= 0) {
      s[d] = shape[d];
      st[d] = 0;
    } else {
      clt__err(CLT_ERR_SHAPE, "cannot expand shape %s to %s: dim %d has size %lld, not 1",
               clt__shape_str(a, t->ndim, t->shape), clt__shape_str(b, ndim, shape), d,
               (long long)t->shape[od]);
      return NULL;
    }
  }
  if (clt__check_shape(ndim, s, NULL, "shape") != CLT_OK) return NULL;
  return clt__ret(viewed(clt__view_of(t, ndim, s, st, t->offset), t, "expand"));
}

static clt_tensor *drop_dims(clt_tensor *t, const bool *drop) {
  int64_t s[CLT_MAX_DIMS], st[CLT_MAX_DIMS];
  int k = 0;
  for (int d = 0; d < t->ndim; d++) {
    if (drop[d]) continue;
    s[k] = t->shape[d];
    st[k++] = t->strides[d];
  }
  return clt__view_of(t, k, s, st, t->offset);
}

clt_tensor *clt_squeeze(clt_tensor *t, int dim) {
  clt__api("clt_squeeze");
  if (!t) return clt__null_arg("t"), NULL;
  int d;
  if (clt__wrap_dim(dim, t->ndim > 0 ? t->ndim : 1, "dim", &d) != CLT_OK) return NULL;
  bool drop[CLT_MAX_DIMS] = {false};
  if (t->ndim > 0) drop[d] = t->shape[d] == 1;
  return clt__ret(viewed(drop_dims(t, drop), t, "squeeze"));
}

clt_tensor *clt_squeeze_all(clt_tensor *t) {
  clt__api("clt_squeeze_all");
  if (!t) return clt__null_arg("t"), NULL;
  bool drop[CLT_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) drop[d] = t->shape[d] == 1;
  return clt__ret(viewed(drop_dims(t, drop), t, "squeeze"));
}

clt_tensor *clt_unsqueeze(clt_tensor *t, int dim) {
  clt__api("clt_unsqueeze");
  if (!t) return clt__null_arg("t"), NULL;
  if (t->ndim >= CLT_MAX_DIMS) {
    clt__err(CLT_ERR_SHAPE, "a %d-d tensor cannot gain a dim (at most %d)", t->ndim, CLT_MAX_DIMS);
    return NULL;
  }
  int d;
  if (clt__wrap_dim(dim, t->ndim + 1, "dim", &d) != CLT_OK) return NULL;
  int64_t s[CLT_MAX_DIMS], st[CLT_MAX_DIMS];
  for (int i = 0, k = 0; i <= t->ndim; i++) {
    if (i == d) {
      s[i] = 1;
      /* any stride serves a size-1 dim; PyTorch's keeps the layout readable */
      if (d >= t->ndim || clt__mul_ovf(t->shape[d], t->strides[d], &st[i])) st[i] = 1;
    } else {
      s[i] = t->shape[k];
      st[i] = t->strides[k++];
    }
  }
  return clt__ret(viewed(clt__view_of(t, t->ndim + 1, s, st, t->offset), t, "unsqueeze"));
}

clt_tensor *clt_contiguous(clt_tensor *t) {
  clt__api("clt_contiguous");
  if (!t) return clt__null_arg("t"), NULL;
  clt_tensor *out = clt__contiguous(t);
  return clt__ret(out == t ? out : clt__grad_view(out, t, "contiguous"));
}

clt_tensor *clt_clone(clt_tensor *t) {
  clt__api("clt_clone");
  if (!t) return clt__null_arg("t"), NULL;
  return clt__ret(clt__grad_view(clt__clone(t), t, "clone"));
}
