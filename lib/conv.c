/* Convolution and pooling (include/clt/nn.h), composed from strided copies (im2col, see
 * unfold_view) or gather / scatter_add with an index the host computes from the shapes, matmul
 * and reductions: every device runs them through the checked dispatch of those ops. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "dispatch.h"
#include "ew.h"
#include "grad.h"
#include "reduce.h"

#define SHAPE(buf, t) clt__shape_str(buf, (t)->ndim, (t)->shape)

/* A window sliding over an image, per spatial dim (0: height, 1: width). */
typedef struct {
  int64_t in[2];  /* the image */
  int64_t k[2], s[2], d[2];
  int64_t p0[2];  /* padding before (top, left) */
  int64_t out[2]; /* window positions */
} geom;

/* ---- argument checks -------------------------------------------------------------------- */

static clt_status check_float(const clt_tensor *t, const char *arg) {
  if (t->dtype == CLT_FLOAT32 || t->dtype == CLT_FLOAT64) return CLT_OK;
  return clt__err(CLT_ERR_DTYPE, "%s must be float32 or float64, not %s", arg, clt_dtype_name(t->dtype));
}

/* w or b beside x: same device and dtype. */
static clt_status check_like(const clt_tensor *x, const clt_tensor *t, const char *arg) {
  if (clt__check_same_device(x, t) != CLT_OK) return clt_last_status();
  if (t->dtype != x->dtype)
    return clt__err(CLT_ERR_DTYPE, "%s has dtype %s and x %s; they must match", arg, clt_dtype_name(t->dtype),
                    clt_dtype_name(x->dtype));
  return CLT_OK;
}

static clt_status check_rank(const clt_tensor *t, int ndim, const char *arg, const char *layout) {
  if (t->ndim == ndim) return CLT_OK;
  char a[CLT__SHAPE_STR];
  return clt__err(CLT_ERR_SHAPE, "%s %s must be %d-d %s", arg, SHAPE(a, t), ndim, layout);
}

/* An option's value: 0 takes dflt; below min is refused, naming it (i < 0: not an array). */
static clt_status opt(int64_t v, int64_t dflt, int64_t min, const char *name, int i, int64_t *out) {
  if (v == 0) v = dflt;
  *out = v; /* also when refused: callers' outputs are never left unset */
  if (v >= min) return CLT_OK;
  if (i < 0) return clt__err(CLT_ERR_INVALID_ARG, "opts->%s is %lld; it must be at least %lld", name, (long long)v, (long long)min);
  return clt__err(CLT_ERR_INVALID_ARG, "opts->%s[%d] is %lld; it must be at least %lld", name, i, (long long)v,
                  (long long)min);
}

static clt_status positive(int64_t v, const char *name) {
  if (v >= 1) return CLT_OK;
  return clt__err(CLT_ERR_INVALID_ARG, "%s is %lld; it must be at least 1", name, (long long)v);
}

/* Window positions along spatial dim i of an image of size in with pt padding in all (pb
 * before): PyTorch's formula, ceil_mode's last window starting inside the input or the padding
 * before it. x names the input in messages. */
static clt_status window_count(geom *g, int i, int64_t in, int64_t pb, int64_t pt, bool ceil_mode, const char *arg,
                               const clt_tensor *x) {
  g->in[i] = in;
  g->p0[i] = pb;
  int64_t span, padded, room;
  char a[CLT__SHAPE_STR];
  if (clt__mul_ovf(g->d[i], g->k[i] - 1, &span) || clt__add_ovf(span, 1, &span) || clt__add_ovf(in, pt, &padded))
    return clt__err(CLT_ERR_OVERFLOW, "kernel size %lld, dilation %lld and padding %lld overflow int64", (long long)g->k[i],
                    (long long)g->d[i], (long long)pt);
  room = padded - span;
  if (room < 0)
    return clt__err(CLT_ERR_SHAPE,
                    "%s %s: spatial dim %d of size %lld with padding %lld in all is smaller than the kernel's extent %lld "
                    "(kernel size %lld, dilation %lld)",
                    arg, SHAPE(a, x), i - 4 + x->ndim, (long long)in, (long long)pt, (long long)span, (long long)g->k[i], (long long)g->d[i]);
  int64_t n = (ceil_mode ? room / g->s[i] + (room % g->s[i] != 0) : room / g->s[i]) + 1;
  if (ceil_mode && (n - 1) * g->s[i] >= in + pb) n--;
  g->out[i] = n;
  return CLT_OK;
}

/* ---- im2col ----------------------------------------------------------------------------- */

/* Where element (ki, kj) of window (oi, oj) reads: its place in the flattened image, or the slot
 * after the image (in[0] in[1], which holds the padding value) outside it. int64 [K L], row
 * (ki, kj), column (oi, oj); the range is known from the host, so no check reads it back.
 * inside_first: each window lists its elements inside the image first (in row-major order),
 * then its padding, so that the first largest of a window is never padding (max_pool2d: a window
 * of -inf sends its gradient to its first element in the image, as PyTorch). */
static clt_tensor *window_index(clt_device *dev, const geom *g, bool inside_first) {
  int64_t K, L, n, HW = g->in[0] * g->in[1];
  size_t bytes;
  if (clt__mul_ovf(g->k[0], g->k[1], &K) || clt__mul_ovf(g->out[0], g->out[1], &L) || clt__mul_ovf(K, L, &n) ||
      clt__nbytes(n, CLT_INT64, &bytes) != CLT_OK)
    return clt__err(CLT_ERR_OVERFLOW, "the window index of %lld x %lld kernel positions overflows", (long long)g->k[0] * g->k[1],
                    (long long)g->out[0] * g->out[1]), NULL;
  int64_t *idx = clt__malloc(bytes ? bytes : 1);
  if (!idx) return clt__err(CLT_ERR_OOM, "cannot allocate the window index (%zu bytes)", bytes), NULL;
  for (int64_t l = 0; l < L; l++) {
    int64_t oi = l / g->out[1], oj = l % g->out[1], row = 0;
    for (int pass = 0; pass < (inside_first ? 2 : 1); pass++)
      for (int64_t ki = 0; ki < g->k[0]; ki++)
        for (int64_t kj = 0; kj < g->k[1]; kj++) {
          int64_t ih = oi * g->s[0] - g->p0[0] + ki * g->d[0], iw = oj * g->s[1] - g->p0[1] + kj * g->d[1];
          bool inside = ih >= 0 && ih < g->in[0] && iw >= 0 && iw < g->in[1];
          if (!inside_first || inside == (pass == 0)) idx[row++ * L + l] = inside ? ih * g->in[1] + iw : HW;
        }
  }
  clt_tensor *t = clt__from_host(dev, CLT_INT64, 1, &n, idx);
  clt__free_mem(idx);
  return t;
}

/* x [N, C, H, W] (any strides) -> [N, C, H W + 1]: the image flattened, then the padding slot
 * holding v. Its gradient is g without the slot. */
static clt_status bw_pad_slot(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  const clt__edge *e = &n->next[0];
  int64_t st[4] = {g->strides[0], g->strides[1], e->shape[3] * g->strides[2], g->strides[2]};
  gin[0] = clt__view_of(g, 4, e->shape, st, g->offset);
  return gin[0] ? CLT_OK : clt_last_status();
}

static clt_tensor *pad_slot(clt_tensor *x, double v) {
  int64_t W = x->shape[3], shape[3] = {x->shape[0], x->shape[1], x->shape[2] * W + 1};
  clt_tensor *out = clt__full(x->st->dev, x->dtype, 3, shape, v);
  if (!out) return NULL;
  int64_t st[4] = {out->strides[0], out->strides[1], W, 1};
  clt_tensor *view = x->numel ? clt__view_of(out, 4, x->shape, st, 0) : NULL;
  clt_status s = !x->numel ? CLT_OK : view ? clt__copy_into(view, x) : clt_last_status();
  clt__tensor_release(view);
  if (s != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  if (clt__grad_needed(1, &x) && !clt__record(&out, "pad", bw_pad_slot, 1, &x, 0, NULL)) return NULL;
  return out;
}

clt_tensor *clt__reshaped(clt_tensor *t, int ndim, const int64_t *shape) {
  clt_tensor *c = clt__contiguous(t);
  if (c && c != t) c = clt__grad_view(c, t, "contiguous");
  if (!c) return NULL;
  int64_t st[CLT_MAX_DIMS];
  clt__contig_strides(ndim, shape, st);
  clt_tensor *v = clt__grad_view(clt__view_of(c, ndim, shape, st, c->offset), c, "reshape");
  clt__tensor_release(c);
  return v;
}

/* The window index broadcast over N and C (stride 0, no copy): [N, C, K L]. */
static clt_tensor *index_view(clt_tensor *idx, int64_t N, int64_t C) {
  int64_t shape[3] = {N, C, idx->numel}, st[3] = {0, 0, 1};
  return clt__view_of(idx, 3, shape, st, idx->offset);
}

/* ---- im2col by a strided view ------------------------------------------------------------ */

/* Window element (ki, kj) of every window of a padded image is one strided view of it, [N, C,
 * Ho, Wo] with strides (N, C, sh H, sw W): im2col is strided copies with no index, and its
 * backward strided adds, none atomic. A row of window elements (ki, every kj) is one 5-d view
 * [N, C, kw, Ho, Wo] that walks as 4 dims (N and C merge), so the copies are one per kernel row
 * (kh launches, not kh kw: the digits CNN's step on PoCL was launch-bound, 94 launches of 35 us);
 * the adds too where windows do not overlap along the width (pooling), else one per element,
 * since one launch must not add twice to an element. (One 6-d view [N, C, kh, kw, Ho, Wo]
 * would be one copy, but OpenCL walks take 4 dims and launch the rest one index at a time: 1024
 * launches per copy in the CNN.) (Through gather and scatter_add,
 * whose float atomics are compare-and-swap loops, the digits CNN's step on PoCL spent half its
 * time in those two kernels.) Used where the padding may read as the fill value everywhere
 * outside the image: zero padding, or no padding with every window inside the image (max_pool2d,
 * whose -inf padding needs window_index's order). */

/* pad_image's backward: g's interior. */
static clt_status bw_pad_image(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  const clt__edge *e = &n->next[0];
  int64_t off = g->offset + n->args.pad[0] * g->strides[2] + n->args.pad[1] * g->strides[3];
  gin[0] = clt__view_of(g, 4, e->shape, g->strides, off);
  return gin[0] ? CLT_OK : clt_last_status();
}

/* x [N, C, H, W] inside a [N, C, hp, wp] image of v, top rows and left columns before it. */
static clt_tensor *pad_image(clt_tensor *x, int64_t top, int64_t left, int64_t hp, int64_t wp, double v) {
  clt_tensor *out = clt__full(x->st->dev, x->dtype, 4, (const int64_t[]){x->shape[0], x->shape[1], hp, wp}, v);
  clt_tensor *view = out ? clt__view_of(out, 4, x->shape, out->strides, top * wp + left) : NULL;
  clt_status s = !out ? clt_last_status() : view ? clt__copy_into(view, x) : clt_last_status();
  clt__tensor_release(view);
  if (s != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  clt__node *n = NULL;
  if (clt__grad_needed(1, &x) && !(n = clt__record(&out, "pad", bw_pad_image, 1, &x, 0, NULL))) return NULL;
  if (n) {
    n->args.pad[0] = top;
    n->args.pad[1] = left;
  }
  return out;
}

/* args.pad of a windows node: kh, kw, sh, sw, dh, dw, Ho, Wo. The view of xp (4-d, any strides)
 * holding window elements (ki, kj .. kj + span - 1) of every window: [N, C, span, Ho, Wo]. */
static clt_tensor *window_view(const clt_tensor *xp, const int64_t *a, int64_t ki, int64_t kj, int64_t span) {
  const int64_t *st = xp->strides;
  return clt__view_of(xp, 5, (const int64_t[]){xp->shape[0], xp->shape[1], span, a[6], a[7]},
                      (const int64_t[]){st[0], st[1], a[5] * st[3], a[2] * st[2], a[3] * st[3]},
                      xp->offset + ki * a[4] * st[2] + kj * a[5] * st[3]);
}

/* Slots k .. k + span - 1 of every window in cols [N, C, K L] (contiguous): [N, C, span, Ho, Wo]. */
static clt_tensor *slot_view(const clt_tensor *cols, const int64_t *a, int64_t k, int64_t span) {
  int64_t C = cols->shape[1], KL = cols->shape[2], L = a[6] * a[7];
  return clt__view_of(cols, 5, (const int64_t[]){cols->shape[0], C, span, a[6], a[7]},
                      (const int64_t[]){C * KL, KL, L, a[7], 1}, cols->offset + k * L);
}

/* Window elements per view: a kernel row where its views walk as 4 dims (xp's N and C merge,
 * as they do in every contiguous image) and, for adds (add), where no two of its elements
 * land on one pixel (sw above the row's extent dw (kw - 1)); else one. */
static int64_t row_span(const clt_tensor *xp, const int64_t *a, bool add) {
  bool merges = xp->shape[0] == 1 || xp->shape[1] == 1 || xp->strides[0] == xp->shape[1] * xp->strides[1];
  return merges && (!add || a[3] > a[5] * (a[1] - 1)) ? a[1] : 1;
}

/* g [N, C, K L] into the padded image's gradient: window elements added where they were read. */
static clt_status bw_windows(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  const int64_t *a = n->args.pad;
  clt_tensor *gx = clt__full(g->st->dev, g->dtype, 4, n->next[0].shape, 0.0);
  clt_tensor *gc = gx ? clt__contiguous(g) : NULL;
  clt_status s = gc ? CLT_OK : clt_last_status();
  int64_t span = gx ? row_span(gx, a, true) : 1;
  for (int64_t k = 0; k < a[0] * a[1] && s == CLT_OK; k += span) {
    clt_tensor *dst = window_view(gx, a, k / a[1], k % a[1], span), *src = dst ? slot_view(gc, a, k, span) : NULL;
    s = src ? clt__ew_run(CLT_OP_add, dst, (clt_tensor *const[]){dst, src}, 2, g->dtype, NULL, 0) : clt_last_status();
    clt__tensor_release(dst);
    clt__tensor_release(src);
  }
  clt__tensor_release(gc);
  if (s != CLT_OK) clt__tensor_release(gx);
  gin[0] = s == CLT_OK ? gx : NULL;
  return s;
}

/* im2col by the strided view (see above), or NULL with no error set where it does not apply. */
static clt_tensor *unfold_view(clt_tensor *x, const geom *g, double v, bool *applies) {
  int64_t ext[2], hp[2];
  bool pad = false;
  for (int i = 0; i < 2; i++) { /* the extent the windows read, and the padded image that holds it */
    ext[i] = (g->out[i] - 1) * g->s[i] + g->d[i] * (g->k[i] - 1) + 1;
    hp[i] = ext[i] > g->p0[i] + g->in[i] ? ext[i] : g->p0[i] + g->in[i];
    pad = pad || g->p0[i] > 0 || ext[i] > g->in[i];
  }
  *applies = x->numel > 0 && (!pad || v == 0.0);
  if (!*applies) return NULL;
  clt_tensor *xp = pad ? pad_image(x, g->p0[0], g->p0[1], hp[0], hp[1], v) : clt__retain(x);
  if (!xp) return NULL;
  int64_t a[8] = {g->k[0], g->k[1], g->s[0], g->s[1], g->d[0], g->d[1], g->out[0], g->out[1]};
  int64_t K = a[0] * a[1];
  clt_tensor *out = clt__empty(x->st->dev, x->dtype, 3, (const int64_t[]){x->shape[0], x->shape[1], K * a[6] * a[7]});
  clt_status s = out ? CLT_OK : clt_last_status();
  int64_t span = row_span(xp, a, false);
  for (int64_t k = 0; k < K && s == CLT_OK; k += span) {
    clt_tensor *src = window_view(xp, a, k / a[1], k % a[1], span), *dst = src ? slot_view(out, a, k, span) : NULL;
    s = dst ? clt__copy_into(dst, src) : clt_last_status();
    clt__tensor_release(src);
    clt__tensor_release(dst);
  }
  if (s != CLT_OK) {
    clt__tensor_release(out);
    out = NULL;
  }
  clt__node *n = NULL;
  if (out && clt__grad_needed(1, &xp) && !(n = clt__record(&out, "unfold", bw_windows, 1, &xp, 0, NULL))) out = NULL;
  if (n) memcpy(n->args.pad, a, sizeof a);
  clt__tensor_release(xp);
  return out;
}

/* im2col: x [N, C, H, W] -> [N, C, K L], the padding read as v (-inf: each window's elements
 * inside the image first, see window_index). */
static clt_tensor *unfold_core(clt_tensor *x, const geom *g, double v) {
  bool by_view;
  clt_tensor *u = unfold_view(x, g, v, &by_view);
  if (by_view) return u;
  clt_tensor *idx = window_index(x->st->dev, g, isinf(v));
  clt_tensor *xp = idx ? pad_slot(x, v) : NULL;
  clt_tensor *iv = xp ? index_view(idx, x->shape[0], x->shape[1]) : NULL;
  clt_tensor *out = iv ? clt__grad_gather(clt__gather(xp, 2, iv), xp, 2, iv) : NULL;
  clt__tensor_release(idx);
  clt__tensor_release(xp);
  clt__tensor_release(iv);
  return out;
}

/* col2im: cols [N, C, K L] -> [N, C, H, W] (H, W: g->in), overlapping windows summed. */
static clt_tensor *fold_core(clt_tensor *cols, const geom *g) {
  int64_t N = cols->shape[0], C = cols->shape[1], HW = g->in[0] * g->in[1];
  clt_tensor *idx = window_index(cols->st->dev, g, false);
  clt_tensor *z = idx ? clt__full(cols->st->dev, cols->dtype, 3, (const int64_t[]){N, C, HW + 1}, 0.0) : NULL;
  clt_tensor *iv = z ? index_view(idx, N, C) : NULL;
  clt_tensor *s = iv ? clt__grad_scatter_add(clt__scatter_add(z, 2, iv, cols), z, 2, iv, cols) : NULL;
  clt_tensor *img = s ? clt__grad_slice(clt__view_of(s, 3, (const int64_t[]){N, C, HW}, s->strides, s->offset), s, 2, 0, 1)
                      : NULL;
  clt_tensor *out = img ? clt__reshaped(img, 4, (const int64_t[]){N, C, g->in[0], g->in[1]}) : NULL;
  clt_tensor *tmp[] = {idx, z, iv, s, img};
  for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
  return out;
}

/* ---- options ---------------------------------------------------------------------------- */

/* stride, dilation and symmetric padding of 2-d options into g (kernel sizes already there). */
static clt_status window_opts(geom *g, const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                              int64_t *pad, int64_t dflt_stride[2]) {
  for (int i = 0; i < 2; i++)
    if (opt(stride[i], dflt_stride ? dflt_stride[i] : 1, 1, "stride", i, &g->s[i]) != CLT_OK ||
        opt(padding[i], 0, 0, "padding", i, &pad[i]) != CLT_OK ||
        opt(dilation ? dilation[i] : 0, 1, 1, "dilation", i, &g->d[i]) != CLT_OK)
      return clt_last_status();
  return CLT_OK;
}

/* The windows of conv2d / unfold over x's last two dims; same: padding "same". */
static clt_status conv_geometry(const char *arg, const clt_tensor *x, const clt_conv2d_opts *o, bool same, geom *g) {
  int64_t pad[2];
  if (window_opts(g, o->stride, o->padding, o->dilation, pad, NULL) != CLT_OK) return clt_last_status();
  if (same && (g->s[0] != 1 || g->s[1] != 1))
    return clt__err(CLT_ERR_INVALID_ARG, "opts->padding_same needs stride 1, not (%lld, %lld), as PyTorch",
                    (long long)g->s[0], (long long)g->s[1]);
  if (same && (pad[0] || pad[1]))
    return clt__err(CLT_ERR_INVALID_ARG, "opts->padding_same with opts->padding (%lld, %lld): give one of them",
                    (long long)pad[0], (long long)pad[1]);
  for (int i = 0; i < 2; i++) {
    int64_t total = same ? g->d[i] * (g->k[i] - 1) : 2 * pad[i];
    if (!same && clt__mul_ovf(pad[i], 2, &total))
      return clt__err(CLT_ERR_OVERFLOW, "opts->padding[%d] %lld overflows", i, (long long)pad[i]);
    if (window_count(g, i, x->shape[x->ndim - 2 + i], same ? total / 2 : pad[i], total, false, arg, x) != CLT_OK)
      return clt_last_status();
  }
  return CLT_OK;
}

static const clt_conv2d_opts no_conv_opts;

/* Unfold and fold take no groups and no "same". */
static clt_status unfold_opts(const clt_conv2d_opts *o, int64_t kh, int64_t kw, geom *g) {
  if (o->groups != 0 || o->padding_same)
    return clt__err(CLT_ERR_INVALID_ARG, "opts->groups and opts->padding_same must be 0 here (they are %lld and %d)",
                    (long long)o->groups, (int)o->padding_same);
  g->k[0] = kh;
  g->k[1] = kw;
  return positive(kh, "kh") != CLT_OK ? clt_last_status() : positive(kw, "kw");
}

/* ---- unfold and fold -------------------------------------------------------------------- */

static clt_tensor *unfold(clt_tensor *x, int64_t kh, int64_t kw, const clt_conv2d_opts *o) {
  geom g;
  if (check_float(x, "x") != CLT_OK || check_rank(x, 4, "x", "[N, C, H, W]") != CLT_OK ||
      unfold_opts(o, kh, kw, &g) != CLT_OK || conv_geometry("x", x, o, false, &g) != CLT_OK)
    return NULL;
  clt_tensor *u = unfold_core(x, &g, 0.0);
  clt_tensor *out = u ? clt__reshaped(u, 3, (const int64_t[]){x->shape[0], x->shape[1] * kh * kw, g.out[0] * g.out[1]}) : NULL;
  clt__tensor_release(u);
  return out;
}

static clt_tensor *fold(clt_tensor *cols, int64_t oh, int64_t ow, int64_t kh, int64_t kw, const clt_conv2d_opts *o) {
  geom g;
  char a[CLT__SHAPE_STR];
  if (check_float(cols, "cols") != CLT_OK || check_rank(cols, 3, "cols", "[N, C kh kw, L]") != CLT_OK ||
      unfold_opts(o, kh, kw, &g) != CLT_OK || positive(oh, "out_h") != CLT_OK || positive(ow, "out_w") != CLT_OK)
    return NULL;
  int64_t K;
  if (clt__mul_ovf(kh, kw, &K) || cols->shape[1] % K != 0)
    return clt__err(CLT_ERR_SHAPE, "cols %s: dim 1 must be a multiple of kh kw = %lld x %lld", SHAPE(a, cols),
                    (long long)kh, (long long)kw), NULL;
  clt_tensor probe = {.ndim = 4, .shape = {cols->shape[0], cols->shape[1] / K, oh, ow}}; /* the output, for messages */
  if (conv_geometry("the output", &probe, o, false, &g) != CLT_OK) return NULL;
  if (cols->shape[2] != g.out[0] * g.out[1])
    return clt__err(CLT_ERR_SHAPE, "cols %s has %lld blocks; an output of %lld x %lld with these options has %lld x %lld",
                    SHAPE(a, cols), (long long)cols->shape[2], (long long)oh, (long long)ow, (long long)g.out[0],
                    (long long)g.out[1]), NULL;
  clt_tensor *c3 = clt__reshaped(cols, 3, (const int64_t[]){cols->shape[0], cols->shape[1] / K, K * cols->shape[2]});
  clt_tensor *out = c3 ? fold_core(c3, &g) : NULL;
  clt__tensor_release(c3);
  return out;
}

/* ---- convolution ------------------------------------------------------------------------ */

/* x [N, Cin, ...], w [Cout, Cin / groups, ...] (transposed: w [Cin, Cout / groups, ...]), b
 * [Cout] or NULL; the ranks are checked. *cout gets Cout. */
static clt_status check_conv(const clt_tensor *x, const clt_tensor *w, const clt_tensor *b, int64_t groups, bool transposed,
                             int64_t *cout) {
  char a[CLT__SHAPE_STR], c[CLT__SHAPE_STR];
  if (check_float(x, "x") != CLT_OK || check_like(x, w, "w") != CLT_OK || (b && check_like(x, b, "b") != CLT_OK))
    return clt_last_status();
  int64_t cin = x->shape[1];
  if (cin % groups != 0)
    return clt__err(CLT_ERR_SHAPE, "x %s has %lld channels, not a multiple of groups %lld", SHAPE(a, x), (long long)cin,
                    (long long)groups);
  if (transposed ? w->shape[0] != cin : w->shape[1] * groups != cin)
    return clt__err(CLT_ERR_SHAPE, "w %s does not fit x %s with groups %lld: need w [%s]", SHAPE(a, w), SHAPE(c, x),
                    (long long)groups, transposed ? "Cin, Cout / groups, ..." : "Cout, Cin / groups, ...");
  if (!transposed && w->shape[0] % groups != 0)
    return clt__err(CLT_ERR_SHAPE, "w %s has %lld output channels, not a multiple of groups %lld", SHAPE(a, w),
                    (long long)w->shape[0], (long long)groups);
  *cout = transposed ? w->shape[1] * groups : w->shape[0];
  if (b && (b->ndim != 1 || b->shape[0] != *cout))
    return clt__err(CLT_ERR_SHAPE, "b %s must be [%lld], one per output channel", SHAPE(a, b), (long long)*cout);
  return CLT_OK;
}

/* y [N, Cout, ...] + b viewed [Cout, 1, ...]; y itself without b. */
static clt_tensor *add_bias(clt_tensor *y, clt_tensor *b) {
  if (!y || !b) return clt__retain(y);
  int64_t shape[CLT_MAX_DIMS], st[CLT_MAX_DIMS];
  for (int d = 0; d < y->ndim - 1; d++) {
    shape[d] = d ? 1 : b->shape[0];
    st[d] = d ? 1 : b->strides[0];
  }
  clt_tensor *bv = clt__grad_view(clt__view_of(b, y->ndim - 1, shape, st, b->offset), b, "reshape");
  clt_tensor *out = bv ? clt__rec_binary(CLT_OP_add, y, bv) : NULL;
  clt__tensor_release(bv);
  return out;
}

/* conv2d on checked 4-d x and w: (w [G, Cout/G, Cin/G K]) @ (unfold(x) [N, G, Cin/G K, L]). */
static clt_tensor *conv2d_core(clt_tensor *x, clt_tensor *w, clt_tensor *b, const geom *g, int64_t G) {
  int64_t N = x->shape[0], cin = x->shape[1], cout = w->shape[0], K = g->k[0] * g->k[1], L = g->out[0] * g->out[1];
  clt_tensor *u = unfold_core(x, g, 0.0);
  clt_tensor *u4 = u ? clt__reshaped(u, 4, (const int64_t[]){N, G, cin / G * K, L}) : NULL;
  clt_tensor *wv = u4 ? clt__reshaped(w, 3, (const int64_t[]){G, cout / G, cin / G * K}) : NULL;
  clt_tensor *y = wv ? clt__grad_matmul(clt__matmul(wv, u4), wv, u4) : NULL;
  clt_tensor *yo = y ? clt__reshaped(y, 4, (const int64_t[]){N, cout, g->out[0], g->out[1]}) : NULL;
  clt_tensor *out = add_bias(yo, b);
  clt_tensor *tmp[] = {u, u4, wv, y, yo};
  for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
  return out;
}

static clt_tensor *conv2d(clt_tensor *x, clt_tensor *w, clt_tensor *b, const clt_conv2d_opts *o) {
  int64_t G = 1, cout;
  geom g;
  if (check_rank(x, 4, "x", "[N, Cin, H, W]") != CLT_OK || check_rank(w, 4, "w", "[Cout, Cin / groups, kh, kw]") != CLT_OK ||
      opt(o->groups, 1, 1, "groups", -1, &G) != CLT_OK || check_conv(x, w, b, G, false, &cout) != CLT_OK)
    return NULL;
  g.k[0] = w->shape[2];
  g.k[1] = w->shape[3];
  if (g.k[0] < 1 || g.k[1] < 1) {
    char a[CLT__SHAPE_STR];
    return clt__err(CLT_ERR_SHAPE, "w %s has an empty kernel", SHAPE(a, w)), NULL;
  }
  if (conv_geometry("x", x, o, o->padding_same, &g) != CLT_OK) return NULL;
  return conv2d_core(x, w, b, &g, G);
}

/* t [A, B, L] viewed as [A, B, 1, L], recorded. */
static clt_tensor *with_unit_height(clt_tensor *t) {
  int64_t shape[4] = {t->shape[0], t->shape[1], 1, t->shape[2]}, st[4] = {t->strides[0], t->strides[1], 1, t->strides[2]};
  return clt__grad_view(clt__view_of(t, 4, shape, st, t->offset), t, "reshape");
}

static clt_tensor *conv1d(clt_tensor *x, clt_tensor *w, clt_tensor *b, const clt_conv1d_opts *o) {
  int64_t G = 1, cout;
  if (check_rank(x, 3, "x", "[N, Cin, L]") != CLT_OK || check_rank(w, 3, "w", "[Cout, Cin / groups, k]") != CLT_OK ||
      opt(o->groups, 1, 1, "groups", -1, &G) != CLT_OK || check_conv(x, w, b, G, false, &cout) != CLT_OK)
    return NULL;
  if (w->shape[2] < 1) {
    char a[CLT__SHAPE_STR];
    return clt__err(CLT_ERR_SHAPE, "w %s has an empty kernel", SHAPE(a, w)), NULL;
  }
  /* as conv2d over a unit height; checked here so that messages name conv1d's options */
  geom g = {.k = {1, w->shape[2]}, .s = {1, 1}, .d = {1, 1}};
  int64_t pad = 0, total;
  if (opt(o->stride, 1, 1, "stride", -1, &g.s[1]) != CLT_OK || opt(o->padding, 0, 0, "padding", -1, &pad) != CLT_OK ||
      opt(o->dilation, 1, 1, "dilation", -1, &g.d[1]) != CLT_OK)
    return NULL;
  if (o->padding_same && (g.s[1] != 1 || pad))
    return clt__err(CLT_ERR_INVALID_ARG, "opts->padding_same needs stride 1 and padding 0, not %lld and %lld, as PyTorch",
                    (long long)g.s[1], (long long)pad), NULL;
  total = o->padding_same ? g.d[1] * (g.k[1] - 1) : 2 * pad;
  if (!o->padding_same && clt__mul_ovf(pad, 2, &total))
    return clt__err(CLT_ERR_OVERFLOW, "opts->padding %lld overflows", (long long)pad), NULL;
  if (window_count(&g, 1, x->shape[2], o->padding_same ? total / 2 : pad, total, false, "x", x) != CLT_OK) return NULL;
  g.in[0] = 1;
  g.out[0] = 1;
  clt_tensor *x4 = with_unit_height(x), *w4 = x4 ? with_unit_height(w) : NULL;
  clt_tensor *y = w4 ? conv2d_core(x4, w4, b, &g, G) : NULL;
  clt_tensor *out = y ? clt__reshaped(y, 3, (const int64_t[]){x->shape[0], cout, g.out[1]}) : NULL;
  clt__tensor_release(x4);
  clt__tensor_release(w4);
  clt__tensor_release(y);
  return out;
}

/* fold(w^T x): x [N, G, Cin/G, HW], w^T [G, Cout/G K, Cin/G]. */
static clt_tensor *conv_transpose2d(clt_tensor *x, clt_tensor *w, clt_tensor *b, const clt_conv_transpose2d_opts *o) {
  int64_t G = 1, cout, pad[2], op[2];
  char a[CLT__SHAPE_STR];
  geom g;
  if (check_rank(x, 4, "x", "[N, Cin, H, W]") != CLT_OK || check_rank(w, 4, "w", "[Cin, Cout / groups, kh, kw]") != CLT_OK ||
      opt(o->groups, 1, 1, "groups", -1, &G) != CLT_OK || check_conv(x, w, b, G, true, &cout) != CLT_OK)
    return NULL;
  g.k[0] = w->shape[2];
  g.k[1] = w->shape[3];
  if (g.k[0] < 1 || g.k[1] < 1) return clt__err(CLT_ERR_SHAPE, "w %s has an empty kernel", SHAPE(a, w)), NULL;
  if (window_opts(&g, o->stride, o->padding, o->dilation, pad, NULL) != CLT_OK) return NULL;
  int64_t N = x->shape[0], cin = x->shape[1], K = g.k[0] * g.k[1], HW = x->shape[2] * x->shape[3];
  for (int i = 0; i < 2; i++) {
    if (opt(o->output_padding[i], 0, 0, "output_padding", i, &op[i]) != CLT_OK) return NULL;
    if (op[i] >= g.s[i] && op[i] >= g.d[i])
      return clt__err(CLT_ERR_INVALID_ARG, "opts->output_padding[%d] %lld must be smaller than stride %lld or dilation %lld",
                      i, (long long)op[i], (long long)g.s[i], (long long)g.d[i]), NULL;
    /* (H - 1) s - 2 p + d (k - 1) + op + 1; sizes this large would not fit in memory anyway */
    double size = (double)(x->shape[2 + i] - 1) * (double)g.s[i] - 2.0 * (double)pad[i] + (double)g.d[i] * (double)(g.k[i] - 1) +
                  (double)op[i] + 1;
    if (size < 1 || size > 9e15)
      return clt__err(CLT_ERR_SHAPE, "x %s with kernel %lld, stride %lld, padding %lld, dilation %lld gives output size %.0f in "
                      "spatial dim %d",
                      SHAPE(a, x), (long long)g.k[i], (long long)g.s[i], (long long)pad[i], (long long)g.d[i], size, i), NULL;
    g.in[i] = (int64_t)size;
    g.p0[i] = pad[i];
    g.out[i] = x->shape[2 + i];
  }
  clt_tensor *xv = clt__reshaped(x, 4, (const int64_t[]){N, G, cin / G, HW});
  clt_tensor *wv = xv ? clt__reshaped(w, 3, (const int64_t[]){G, cin / G, cout / G * K}) : NULL;
  clt_tensor *wt = NULL, *y = NULL, *y3 = NULL, *img = NULL;
  if (wv) {
    const int perm[3] = {0, 2, 1};
    int64_t s[3] = {G, cout / G * K, cin / G}, st[3] = {wv->strides[0], wv->strides[2], wv->strides[1]};
    wt = clt__grad_permute(clt__view_of(wv, 3, s, st, wv->offset), wv, perm);
  }
  if (wt) y = clt__grad_matmul(clt__matmul(wt, xv), wt, xv);
  if (y) y3 = clt__reshaped(y, 3, (const int64_t[]){N, cout, K * HW});
  if (y3) img = fold_core(y3, &g);
  clt_tensor *out = add_bias(img, b);
  clt_tensor *tmp[] = {xv, wv, wt, y, y3, img};
  for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
  return out;
}

/* ---- pooling ---------------------------------------------------------------------------- */

static const clt_pool2d_opts no_pool_opts;

static clt_status pool_geometry(const clt_tensor *x, int64_t kh, int64_t kw, const clt_pool2d_opts *o, bool dilated, geom *g) {
  int64_t pad[2];
  if (check_float(x, "x") != CLT_OK || check_rank(x, 4, "x", "[N, C, H, W]") != CLT_OK || positive(kh, "kh") != CLT_OK ||
      positive(kw, "kw") != CLT_OK)
    return clt_last_status();
  g->k[0] = kh;
  g->k[1] = kw;
  if (!dilated && (o->dilation[0] > 1 || o->dilation[1] > 1))
    return clt__err(CLT_ERR_INVALID_ARG, "opts->dilation (%lld, %lld): avg_pool2d has no dilation", (long long)o->dilation[0],
                    (long long)o->dilation[1]);
  if (window_opts(g, o->stride, o->padding, dilated ? o->dilation : NULL, pad, g->k) != CLT_OK) return clt_last_status();
  for (int i = 0; i < 2; i++) {
    int64_t half = (g->d[i] * (g->k[i] - 1) + 1) / 2; /* PyTorch: at most half the kernel's extent */
    if (pad[i] > half)
      return clt__err(CLT_ERR_INVALID_ARG, "opts->padding[%d] %lld is more than half the kernel's extent (%lld at most)", i,
                      (long long)pad[i], (long long)half);
    if (window_count(g, i, x->shape[2 + i], pad[i], 2 * pad[i], o->ceil_mode, "x", x) != CLT_OK) return clt_last_status();
  }
  return CLT_OK;
}

/* The first largest of each window: argmax over the window dim of the unfolded x (padding -inf),
 * then a gather, whose gradient goes to that one element. */
static clt_tensor *max_pool2d(clt_tensor *x, int64_t kh, int64_t kw, const clt_pool2d_opts *o) {
  geom g;
  if (pool_geometry(x, kh, kw, o, true, &g) != CLT_OK) return NULL;
  int64_t N = x->shape[0], C = x->shape[1], K = kh * kw, L = g.out[0] * g.out[1];
  clt_tensor *u = unfold_core(x, &g, -INFINITY);
  clt_tensor *u4 = u ? clt__reshaped(u, 4, (const int64_t[]){N, C, K, L}) : NULL;
  clt_tensor *am = u4 ? clt__empty(x->st->dev, CLT_INT64, 4, (const int64_t[]){N, C, 1, L}) : NULL;
  clt_tensor *v = NULL, *out = NULL;
  clt_status s = am ? CLT_OK : clt_last_status();
  if (am && am->numel > 0) {
    clt__reduce_args r = {.op = CLT__R_ARGMAX, .in = u4->st, .dt = u4->dtype,
                          .L = {.A = N * C, .R = K, .B = L, .sA = K * L, .sR = L, .sB = 1, .off = u4->offset},
                          .odt = u4->dtype, .idx = am->st};
    s = clt__run_reduce(x->st->dev, &r);
  }
  if (s == CLT_OK && am) {
    clt__range_set(am->st, 0, K - 1); /* argmax's results, so the gather reads nothing back */
    v = clt__grad_gather(clt__gather(u4, 2, am), u4, 2, am);
  }
  if (v) out = clt__reshaped(v, 4, (const int64_t[]){N, C, g.out[0], g.out[1]});
  clt_tensor *tmp[] = {u, u4, am, v};
  for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
  return out;
}

/* Window sums times 1 / (each window's divisor), a constant made on the host. */
static clt_tensor *avg_pool2d(clt_tensor *x, int64_t kh, int64_t kw, const clt_pool2d_opts *o) {
  geom g;
  if (pool_geometry(x, kh, kw, o, false, &g) != CLT_OK) return NULL;
  int64_t N = x->shape[0], C = x->shape[1], K = kh * kw, L = g.out[0] * g.out[1];
  size_t es = clt_dtype_size(x->dtype);
  unsigned char *inv = clt__malloc((size_t)L * es);
  if (!inv) return clt__err(CLT_ERR_OOM, "cannot allocate %lld divisors", (long long)L), NULL;
  for (int64_t oi = 0; oi < g.out[0]; oi++)
    for (int64_t oj = 0; oj < g.out[1]; oj++) {
      int64_t n[2];
      for (int i = 0; i < 2; i++) { /* PyTorch's avg_pool2d: the window clipped to the padded input, or to the input */
        int64_t start = (i ? oj : oi) * g.s[i] - g.p0[i], end = start + g.k[i], lim = g.in[i] + g.p0[i];
        if (end > lim) end = lim;
        if (o->exclude_pad) {
          if (start < 0) start = 0;
          if (end > g.in[i]) end = g.in[i];
        }
        n[i] = end - start;
      }
      clt__store_f64(x->dtype, inv + (size_t)(oi * g.out[1] + oj) * es, 1.0 / (double)(n[0] * n[1]));
    }
  clt_tensor *scale = clt__from_host(x->st->dev, x->dtype, 1, &L, inv);
  clt__free_mem(inv);
  const int dim2[1] = {2};
  clt_tensor *u = scale ? unfold_core(x, &g, 0.0) : NULL;
  clt_tensor *u4 = u ? clt__reshaped(u, 4, (const int64_t[]){N, C, K, L}) : NULL;
  clt_tensor *s = u4 ? clt__grad_reduce(clt__sum(u4, 1, dim2, false), u4, CLT__RK_SUM, 1, dim2, 0) : NULL;
  clt_tensor *m = s ? clt__rec_binary(CLT_OP_mul, s, scale) : NULL;
  clt_tensor *out = m ? clt__reshaped(m, 4, (const int64_t[]){N, C, g.out[0], g.out[1]}) : NULL;
  clt_tensor *tmp[] = {scale, u, u4, s, m};
  for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
  return out;
}

/* The [out, in] matrix averaging PyTorch's adaptive windows (transposed: [in, out]). */
static clt_tensor *averaging(clt_device *dev, clt_dtype dt, int64_t out, int64_t in, bool transposed) {
  size_t es = clt_dtype_size(dt), n = (size_t)out * (size_t)in;
  unsigned char *a = clt__calloc(n ? n : 1, es);
  if (!a) return clt__err(CLT_ERR_OOM, "cannot allocate a %lld x %lld averaging matrix", (long long)out, (long long)in), NULL;
  for (int64_t i = 0; i < out; i++) {
    int64_t start = i * in / out, end = ((i + 1) * in + out - 1) / out;
    for (int64_t j = start; j < end; j++)
      clt__store_f64(dt, a + (size_t)(transposed ? j * out + i : i * in + j) * es, 1.0 / (double)(end - start));
  }
  int64_t shape[2] = {transposed ? in : out, transposed ? out : in};
  clt_tensor *t = clt__from_host(dev, dt, 2, shape, a);
  clt__free_mem(a);
  return t;
}

static clt_tensor *adaptive_avg_pool2d(clt_tensor *x, int64_t oh, int64_t ow) {
  char a[CLT__SHAPE_STR];
  if (check_float(x, "x") != CLT_OK || check_rank(x, 4, "x", "[N, C, H, W]") != CLT_OK || positive(oh, "out_h") != CLT_OK ||
      positive(ow, "out_w") != CLT_OK)
    return NULL;
  if (x->shape[2] < 1 || x->shape[3] < 1)
    return clt__err(CLT_ERR_SHAPE, "x %s has an empty spatial dim", SHAPE(a, x)), NULL;
  /* (i + 1) H must not overflow in the window bounds; matrices that large could not be made */
  if (oh > (int64_t)1 << 31 || ow > (int64_t)1 << 31 || x->shape[2] > (int64_t)1 << 31 || x->shape[3] > (int64_t)1 << 31)
    return clt__err(CLT_ERR_SHAPE, "x %s to %lld x %lld: sizes past 2^31 are not supported", SHAPE(a, x), (long long)oh,
                    (long long)ow), NULL;
  clt_tensor *ah = averaging(x->st->dev, x->dtype, oh, x->shape[2], false);
  clt_tensor *awt = ah ? averaging(x->st->dev, x->dtype, ow, x->shape[3], true) : NULL;
  clt_tensor *t = awt ? clt__grad_matmul(clt__matmul(ah, x), ah, x) : NULL;
  clt_tensor *out = t ? clt__grad_matmul(clt__matmul(t, awt), t, awt) : NULL;
  clt__tensor_release(ah);
  clt__tensor_release(awt);
  clt__tensor_release(t);
  return out;
}

/* ---- public ----------------------------------------------------------------------------- */

clt_tensor *clt_unfold(clt_tensor *x, int64_t kh, int64_t kw, const clt_conv2d_opts *opts) {
  clt__api("clt_unfold");
  if (!x) return clt__null_arg("x"), NULL;
  clt_tensor *own[1];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 1, (clt_tensor **const[]){&x}, own)) return NULL;
  return clt__ret(clt__widen16_end(unfold(x, kh, kw, opts ? opts : &no_conv_opts), dt, 1, own));
}

clt_tensor *clt_fold(clt_tensor *cols, int64_t out_h, int64_t out_w, int64_t kh, int64_t kw, const clt_conv2d_opts *opts) {
  clt__api("clt_fold");
  if (!cols) return clt__null_arg("cols"), NULL;
  clt_tensor *own[1];
  clt_dtype dt = cols->dtype;
  if (!clt__widen16(dt, 1, (clt_tensor **const[]){&cols}, own)) return NULL;
  return clt__ret(clt__widen16_end(fold(cols, out_h, out_w, kh, kw, opts ? opts : &no_conv_opts), dt, 1, own));
}

clt_tensor *clt_conv2d(clt_tensor *x, clt_tensor *w, clt_tensor *b, const clt_conv2d_opts *opts) {
  clt__api("clt_conv2d");
  if (!x || !w) return clt__null_arg(x ? "w" : "x"), NULL;
  clt_tensor *own[3];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 3, (clt_tensor **const[]){&x, &w, &b}, own)) return NULL;
  return clt__ret(clt__widen16_end(conv2d(x, w, b, opts ? opts : &no_conv_opts), dt, 3, own));
}

clt_tensor *clt_conv1d(clt_tensor *x, clt_tensor *w, clt_tensor *b, const clt_conv1d_opts *opts) {
  static const clt_conv1d_opts none;
  clt__api("clt_conv1d");
  if (!x || !w) return clt__null_arg(x ? "w" : "x"), NULL;
  clt_tensor *own[3];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 3, (clt_tensor **const[]){&x, &w, &b}, own)) return NULL;
  return clt__ret(clt__widen16_end(conv1d(x, w, b, opts ? opts : &none), dt, 3, own));
}

clt_tensor *clt_conv_transpose2d(clt_tensor *x, clt_tensor *w, clt_tensor *b, const clt_conv_transpose2d_opts *opts) {
  static const clt_conv_transpose2d_opts none;
  clt__api("clt_conv_transpose2d");
  if (!x || !w) return clt__null_arg(x ? "w" : "x"), NULL;
  clt_tensor *own[3];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 3, (clt_tensor **const[]){&x, &w, &b}, own)) return NULL;
  return clt__ret(clt__widen16_end(conv_transpose2d(x, w, b, opts ? opts : &none), dt, 3, own));
}

clt_tensor *clt_max_pool2d(clt_tensor *x, int64_t kh, int64_t kw, const clt_pool2d_opts *opts) {
  clt__api("clt_max_pool2d");
  if (!x) return clt__null_arg("x"), NULL;
  clt_tensor *own[1];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 1, (clt_tensor **const[]){&x}, own)) return NULL;
  return clt__ret(clt__widen16_end(max_pool2d(x, kh, kw, opts ? opts : &no_pool_opts), dt, 1, own));
}

clt_tensor *clt_avg_pool2d(clt_tensor *x, int64_t kh, int64_t kw, const clt_pool2d_opts *opts) {
  clt__api("clt_avg_pool2d");
  if (!x) return clt__null_arg("x"), NULL;
  clt_tensor *own[1];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 1, (clt_tensor **const[]){&x}, own)) return NULL;
  return clt__ret(clt__widen16_end(avg_pool2d(x, kh, kw, opts ? opts : &no_pool_opts), dt, 1, own));
}

clt_tensor *clt_adaptive_avg_pool2d(clt_tensor *x, int64_t out_h, int64_t out_w) {
  clt__api("clt_adaptive_avg_pool2d");
  if (!x) return clt__null_arg("x"), NULL;
  clt_tensor *own[1];
  clt_dtype dt = x->dtype;
  if (!clt__widen16(dt, 1, (clt_tensor **const[]){&x}, own)) return NULL;
  return clt__ret(clt__widen16_end(adaptive_avg_pool2d(x, out_h, out_w), dt, 1, own));
}
