/* cumsum, cumprod, masked_fill, split, chunk, pad, flip (include/clt/ops.h), built from
 * existing entries (fill, copy, elementwise ops, gather) so that every device runs them through
 * the checked dispatch, and recorded so that their gradients are those ops' gradients. */
#include <string.h>

#include "autograd_impl.h"
#include "ew.h"
#include "grad.h"

#define SHAPE(buf, t) clt__shape_str(buf, (t)->ndim, (t)->shape)

/* ---- constant padding (and cropping): the one op here with a node of its own ------------- */

/* x with before[d] elements of value added in front of each dim d and after[d] behind (either
 * may be negative: that many removed). */
static clt_tensor *embed(clt_tensor *x, const int64_t *before, const int64_t *after, double value);

static clt_status bw_embed(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  int64_t b[CLT_MAX_DIMS], a[CLT_MAX_DIMS];
  const clt__edge *e = &n->next[0];
  for (int d = 0; d < e->ndim; d++) {
    b[d] = -n->args.pad[d];
    a[d] = e->shape[d] - g->shape[d] - b[d];
  }
  gin[0] = embed(g, b, a, 0.0);
  return gin[0] ? CLT_OK : clt_last_status();
}

static clt_tensor *embed(clt_tensor *x, const int64_t *before, const int64_t *after, double value) {
  int64_t shape[CLT_MAX_DIMS] = {0}, len[CLT_MAX_DIMS], xoff = x->offset, ooff = 0; /* {0}: gcc 12 on s390x warns of a use before the loop */
  bool overlap = true;
  char a[CLT__SHAPE_STR];
  for (int d = 0; d < x->ndim; d++) {
    int64_t s;
    if (clt__add_ovf(x->shape[d], before[d], &s) || clt__add_ovf(s, after[d], &shape[d]))
      return clt__err(CLT_ERR_OVERFLOW, "padding (%lld, %lld) of dim %d of x %s overflows its size", (long long)before[d],
                      (long long)after[d], d, SHAPE(a, x)), NULL;
    if (shape[d] < 0)
      return clt__err(CLT_ERR_SHAPE, "padding (%lld, %lld) of dim %d of x %s leaves a negative size", (long long)before[d],
                      (long long)after[d], d, SHAPE(a, x)), NULL;
    int64_t skip = before[d] < 0 ? -before[d] : 0, cut = after[d] < 0 ? -after[d] : 0;
    len[d] = x->shape[d] - skip - cut;
    if (len[d] <= 0) overlap = false;
    xoff += skip * x->strides[d];
  }
  clt_tensor *out = clt__full(x->st->dev, x->dtype, x->ndim, shape, value);
  if (!out || !overlap || out->numel == 0) return out;
  for (int d = 0; d < x->ndim; d++) ooff += (before[d] > 0 ? before[d] : 0) * out->strides[d];
  clt_tensor *dst = clt__view_of(out, x->ndim, len, out->strides, ooff), *src = dst ? clt__view_of(x, x->ndim, len, x->strides, xoff) : NULL;
  clt_status s = src ? clt__copy_into(dst, src) : clt_last_status();
  clt__tensor_release(dst);
  clt__tensor_release(src);
  if (s != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  return out;
}

static clt_tensor *rec_embed(clt_tensor *x, const int64_t *before, const int64_t *after, double value) {
  clt_tensor *out = embed(x, before, after, value);
  if (!out || !clt_dtype_is_float(x->dtype) || !clt__grad_needed(1, &x)) return out;
  clt__node *n = clt__record(&out, "pad", bw_embed, 1, &x, 0, NULL);
  if (!n) return NULL;
  for (int d = 0; d < x->ndim; d++) n->args.pad[d] = before[d];
  return out;
}

/* ---- scans ------------------------------------------------------------------------------ */

/* Hillis-Steele: y += y shifted by s along d (filled with the op's identity), s = 1, 2, 4, ... */
static clt_tensor *scan(clt_tensor *x, int dim, clt_op op) {
  int d;
  if (clt__wrap_dim(dim, x->ndim > 0 ? x->ndim : 1, "dim", &d) != CLT_OK) return NULL;
  clt_dtype dt = clt_dtype_is_float(x->dtype) ? x->dtype : CLT_INT64;
  clt_tensor *y = dt == x->dtype ? clt__grad_view(clt__clone(x), x, "clone") : clt__cast(x, dt);
  int64_t n = x->ndim ? x->shape[d] : 1, before[CLT_MAX_DIMS] = {0}, after[CLT_MAX_DIMS] = {0};
  double identity = op == CLT_OP_mul ? 1.0 : 0.0;
  for (int64_t s = 1; y && s < n; s *= 2) {
    before[d] = s;
    after[d] = -s;
    clt_tensor *sh = rec_embed(y, before, after, identity), *next = sh ? clt__rec_binary(op, y, sh) : NULL;
    clt__tensor_release(sh);
    clt__tensor_release(y);
    y = next;
  }
  return y;
}

/* ---- masked_fill ------------------------------------------------------------------------ */

static clt_tensor *masked_fill(clt_tensor *x, clt_tensor *mask, double value) {
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  if (clt__check_same_device(x, mask) != CLT_OK) return NULL;
  if (mask->dtype != CLT_BOOL)
    return clt__err(CLT_ERR_DTYPE, "mask must be bool, not %s (compare it first: clt_ne_scalar(mask, 0))",
                    clt_dtype_name(mask->dtype)), NULL;
  bool fits = mask->ndim <= x->ndim;
  for (int k = 1; fits && k <= mask->ndim; k++) {
    int64_t m = mask->shape[mask->ndim - k];
    fits = m == 1 || m == x->shape[x->ndim - k];
  }
  if (!fits)
    return clt__err(CLT_ERR_SHAPE, "mask %s does not broadcast to x %s", SHAPE(a, mask), SHAPE(b, x)), NULL;
  clt_tensor *v = clt__full(x->st->dev, x->dtype, 0, NULL, value);
  clt_tensor *in[3] = {mask, v, x};
  clt_tensor *out = v ? clt__grad_ew(clt__where(mask, v, x), CLT_OP_where, in, 3, 0, 0, 0) : NULL;
  clt__tensor_release(v);
  return out;
}

/* ---- split and chunk -------------------------------------------------------------------- */

/* n pieces of x along d, sizes[i] each; all or none made, then handed out. */
static clt_status pieces(clt_tensor *x, int d, int n, const int64_t *sizes, clt_tensor **out) {
  int64_t start = 0;
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    int64_t shape[CLT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = sizes[i];
    clt_tensor *v = clt__view_of(x, x->ndim, shape, x->strides, x->offset + (sizes[i] ? start * x->strides[d] : 0));
    if (v) v->is_view = true;
    out[i] = clt__grad_slice(v, x, d, sizes[i] ? start : 0, 1);
    if (!out[i]) {
      for (int j = 0; j < i; j++) clt__tensor_release(out[j]), out[j] = NULL;
      return clt_last_status();
    }
    start += sizes[i];
  }
  for (int i = 0; i < n; i++) clt__ret(out[i]);
  return CLT_OK;
}

static clt_status split_dim(clt_tensor *x, int dim, int *d) {
  if (x->ndim == 0) return clt__err(CLT_ERR_SHAPE, "cannot split a 0-d tensor");
  return clt__wrap_dim(dim, x->ndim, "dim", d);
}

/* count pieces of size (the last smaller), into out (room for cap). */
static clt_status equal_split(clt_tensor *x, int d, int64_t size, int64_t count, int cap, clt_tensor **out) {
  if (count > cap) return clt__err(CLT_ERR_INVALID_ARG, "x splits into %lld pieces; out has room for %d", (long long)count, cap);
  int64_t *sizes = clt__malloc((size_t)(count ? count : 1) * sizeof *sizes);
  if (!sizes) return clt__err(CLT_ERR_OOM, "cannot allocate %lld sizes", (long long)count);
  for (int64_t i = 0, left = x->shape[d]; i < count; i++, left -= size) sizes[i] = left < size ? (left > 0 ? left : 0) : size;
  clt_status s = pieces(x, d, (int)count, sizes, out);
  clt__free_mem(sizes);
  return s;
}

/* ---- pad and flip ----------------------------------------------------------------------- */

/* x gathered along d at the host-made positions pos[0 .. m) (an index_select). */
static clt_tensor *select_along(clt_tensor *x, int d, int64_t m, const int64_t *pos) {
  clt_tensor *idx = clt__from_host(x->st->dev, CLT_INT64, 1, &m, pos);
  if (!idx) return NULL;
  int64_t shape[CLT_MAX_DIMS], strides[CLT_MAX_DIMS];
  for (int k = 0; k < x->ndim; k++) {
    shape[k] = k == d ? m : x->shape[k];
    strides[k] = k == d ? 1 : 0;
  }
  clt_tensor *iv = clt__view_of(idx, x->ndim, shape, strides, 0);
  clt_tensor *out = iv ? clt__grad_gather(clt__gather(x, d, iv), x, d, iv) : NULL;
  clt__tensor_release(iv);
  clt__tensor_release(idx);
  return out;
}

/* The source position of output position j (before elements ahead) of a dim of size n. */
static int64_t source(clt_pad_mode mode, int64_t j, int64_t before, int64_t n) {
  int64_t p = j - before;
  switch (mode) {
    case CLT_PAD_REFLECT: return p < 0 ? -p : p >= n ? 2 * (n - 1) - p : p;
    case CLT_PAD_REPLICATE: return p < 0 ? 0 : p >= n ? n - 1 : p;
    default: return ((p % n) + n) % n;
  }
}

static clt_tensor *pad_index(clt_tensor *x, const int64_t *before, const int64_t *after, clt_pad_mode mode) {
  clt_tensor *y = clt__retain(x);
  for (int d = 0; y && d < x->ndim; d++) {
    if (!before[d] && !after[d]) continue;
    int64_t n = x->shape[d], m = n + before[d] + after[d];
    int64_t *pos = clt__malloc((size_t)m * sizeof *pos);
    if (!pos) {
      clt__err(CLT_ERR_OOM, "cannot allocate %lld positions", (long long)m);
      clt__tensor_release(y);
      return NULL;
    }
    for (int64_t j = 0; j < m; j++) pos[j] = source(mode, j, before[d], n);
    clt_tensor *next = select_along(y, d, m, pos);
    clt__free_mem(pos);
    clt__tensor_release(y);
    y = next;
  }
  if (y == x) { /* nothing to pad: still a new tensor */
    clt__tensor_release(y);
    y = clt__grad_view(clt__clone(x), x, "clone");
  }
  return y;
}

static const char *const mode_names[] = {"constant", "reflect", "replicate", "circular"};

static clt_tensor *pad(clt_tensor *x, int npad, const int64_t *p, clt_pad_mode mode, double value) {
  char a[CLT__SHAPE_STR];
  if ((int)mode < 0 || (int)mode > CLT_PAD_CIRCULAR) return clt__err(CLT_ERR_INVALID_ARG, "mode %d is not a clt_pad_mode", (int)mode), NULL;
  if (npad < 0 || npad % 2 || npad / 2 > x->ndim || (npad && !p))
    return clt__err(CLT_ERR_INVALID_ARG, "npad %d: pad must hold (before, after) pairs for at most the %d dims of x %s", npad,
                    x->ndim, SHAPE(a, x)), NULL;
  int64_t before[CLT_MAX_DIMS] = {0}, after[CLT_MAX_DIMS] = {0};
  for (int i = 0; i < npad / 2; i++) {
    int d = x->ndim - 1 - i;
    before[d] = p[2 * i];
    after[d] = p[2 * i + 1];
    if (mode == CLT_PAD_CONSTANT) continue;
    int64_t n = x->shape[d], most = mode == CLT_PAD_REFLECT ? n - 1 : mode == CLT_PAD_CIRCULAR ? n : INT64_MAX;
    if (before[d] < 0 || after[d] < 0 || before[d] > most || after[d] > most || n == 0)
      return clt__err(CLT_ERR_INVALID_ARG, "%s padding (%lld, %lld) of dim %d of x %s: each must be in 0 .. %lld%s",
                      mode_names[mode], (long long)before[d], (long long)after[d], d, SHAPE(a, x),
                      (long long)(most < 0 ? 0 : most), n == 0 ? " (the dim is empty)" : ""), NULL;
  }
  return mode == CLT_PAD_CONSTANT ? rec_embed(x, before, after, value) : pad_index(x, before, after, mode);
}

static clt_tensor *flip(clt_tensor *x, int ndims, const int *dims) {
  bool seen[CLT_MAX_DIMS] = {false};
  if (ndims < 0 || ndims > (x->ndim ? x->ndim : 1) || (ndims && !dims))
    return clt__err(CLT_ERR_INVALID_ARG, "ndims %d for a %d-d x", ndims, x->ndim), NULL;
  for (int i = 0; i < ndims; i++) {
    int d;
    if (clt__wrap_dim(dims[i], x->ndim > 0 ? x->ndim : 1, "dims entry", &d) != CLT_OK) return NULL;
    if (seen[d]) return clt__err(CLT_ERR_INVALID_ARG, "dims repeats dim %d", d), NULL;
    seen[d] = true;
  }
  clt_tensor *y = clt__grad_view(clt__clone(x), x, "clone");
  for (int d = 0; y && d < x->ndim; d++) {
    int64_t n = x->shape[d];
    if (!seen[d] || n < 2) continue;
    int64_t *pos = clt__malloc((size_t)n * sizeof *pos);
    if (!pos) {
      clt__err(CLT_ERR_OOM, "cannot allocate %lld positions", (long long)n);
      clt__tensor_release(y);
      return NULL;
    }
    for (int64_t j = 0; j < n; j++) pos[j] = n - 1 - j;
    clt_tensor *next = select_along(y, d, n, pos);
    clt__free_mem(pos);
    clt__tensor_release(y);
    y = next;
  }
  return y;
}

/* ---- public ----------------------------------------------------------------------------- */

clt_tensor *clt_cumsum(clt_tensor *x, int dim) {
  clt__api("clt_cumsum");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(scan(x, dim, CLT_OP_add));
}

clt_tensor *clt_cumprod(clt_tensor *x, int dim) {
  clt__api("clt_cumprod");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(scan(x, dim, CLT_OP_mul));
}

clt_tensor *clt_masked_fill(clt_tensor *x, clt_tensor *mask, double value) {
  clt__api("clt_masked_fill");
  if (!x || !mask) return clt__null_arg(x ? "mask" : "x"), NULL;
  return clt__ret(masked_fill(x, mask, value));
}

clt_status clt_split(clt_tensor *x, int64_t split_size, int dim, clt_tensor **out, int cap, int *n) {
  clt__api("clt_split");
  int d;
  if (out)
    for (int i = 0; i < cap; i++) out[i] = NULL;
  if (!n) return clt__err(CLT_ERR_INVALID_ARG, "argument n is NULL");
  *n = 0;
  if (!x) return clt__null_arg("x");
  if (split_dim(x, dim, &d) != CLT_OK) return clt_last_status();
  int64_t size = x->shape[d];
  if (split_size < 1)
    return clt__err(CLT_ERR_INVALID_ARG, "split_size %lld must be at least 1", (long long)split_size);
  int64_t count = size ? (size - 1) / split_size + 1 : 1;
  if (count > INT32_MAX) return clt__err(CLT_ERR_INVALID_ARG, "x splits into %lld pieces, more than an int counts", (long long)count);
  if (!out) {
    *n = (int)count;
    return CLT_OK;
  }
  clt_status s = equal_split(x, d, split_size, count, cap, out);
  if (s == CLT_OK) *n = (int)count;
  return s;
}

clt_status clt_split_sizes(clt_tensor *x, int nsizes, const int64_t *sizes, int dim, clt_tensor **out) {
  clt__api("clt_split_sizes");
  int d;
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  for (int i = 0; i < nsizes; i++) out[i] = NULL;
  if (!x) return clt__null_arg("x");
  if (split_dim(x, dim, &d) != CLT_OK) return clt_last_status();
  if (nsizes < 1 || !sizes) return clt__err(CLT_ERR_INVALID_ARG, "needs at least one size (nsizes is %d)", nsizes);
  int64_t total = 0;
  for (int i = 0; i < nsizes; i++) {
    if (sizes[i] < 0 || clt__add_ovf(total, sizes[i], &total))
      return clt__err(CLT_ERR_INVALID_ARG, "sizes[%d] is %lld", i, (long long)sizes[i]);
  }
  char a[CLT__SHAPE_STR];
  if (total != x->shape[d])
    return clt__err(CLT_ERR_SHAPE, "sizes add up to %lld, but dim %d of x %s has %lld", (long long)total, d, SHAPE(a, x),
                    (long long)x->shape[d]);
  return pieces(x, d, nsizes, sizes, out);
}

clt_status clt_chunk(clt_tensor *x, int chunks, int dim, clt_tensor **out, int *n) {
  clt__api("clt_chunk");
  int d;
  if (!out || !n) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", out ? "n" : "out");
  for (int i = 0; i < chunks; i++) out[i] = NULL;
  *n = 0;
  if (!x) return clt__null_arg("x");
  if (chunks < 1) return clt__err(CLT_ERR_INVALID_ARG, "chunks %d must be at least 1", chunks);
  if (split_dim(x, dim, &d) != CLT_OK) return clt_last_status();
  int64_t size = x->shape[d], each = size ? (size - 1) / chunks + 1 : 0;
  int64_t count = size ? (size - 1) / each + 1 : chunks;
  clt_status s = equal_split(x, d, each, count, chunks, out);
  if (s == CLT_OK) *n = (int)count;
  return s;
}

clt_tensor *clt_pad(clt_tensor *x, int npad, const int64_t *pad_, clt_pad_mode mode, double value) {
  clt__api("clt_pad");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(pad(x, npad, pad_, mode, value));
}

clt_tensor *clt_flip(clt_tensor *x, int ndims, const int *dims) {
  clt__api("clt_flip");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(flip(x, ndims, dims));
}
