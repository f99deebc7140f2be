/* Convolution and pooling (include/clt/nn.h), composed from the backend's window kernels
 * (im2col, col2im, max pooling and its gradient: lib/backend.h, clt__win_args), matmul and
 * reductions: every device runs them through the checked dispatch of those ops. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "blas.h"
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

/* ---- the window kernels ----------------------------------------------------------------- */

/* Each is one launch of the backend's windows entry (lib/backend.h: clt__win_args) over N C
 * images, every output element written by one work-item: im2col and col2im (each other's
 * gradient), max_pool2d and its gradient. (Before, im2col was strided copies per kernel row of a
 * padded copy of the image, col2im and max_pool2d's gradient strided adds per kernel element or
 * scatter_add's compare-and-swap loops, max_pool2d an argmax and a gather: the digits CNN's
 * step on PoCL spent 45% of its kernel time in them.) */

_Static_assert(sizeof(geom) == sizeof(((clt__node_args *)0)->win), "a node's args.win holds a geom");

/* Kernel kind over x's images (contiguous, from x->offset) into y (and yi), fresh tensors. nc:
 * N and C with the columns [C kh kw, N Ho Wo] (lib/backend.h: cols_cn), else NULL (x's first
 * two dims number the images). */
static clt_status run_windows(int kind, const geom *g, const clt_tensor *x, const clt_tensor *idx, clt_tensor *y,
                              clt_tensor *yi, const int64_t *nc) {
  if (y->numel == 0) return CLT_OK;
  clt__win_args a = {.kind = kind, .dt = x->dtype, .NC = nc ? nc[0] * nc[1] : x->shape[0] * x->shape[1], .H = g->in[0],
                     .W = g->in[1], .Ho = g->out[0], .Wo = g->out[1], .kh = g->k[0], .kw = g->k[1], .sh = g->s[0],
                     .sw = g->s[1], .ph = g->p0[0], .pw = g->p0[1], .dh = g->d[0], .dw = g->d[1], .y = y->st,
                     .yi = yi ? yi->st : NULL, .x = x->st, .idx = idx ? idx->st : NULL, .xo = x->offset,
                     .C = nc ? nc[1] : 0, .cols_cn = nc != NULL};
  return clt__run_windows(x->st->dev, &a);
}

/* Kernel kind over x's images into a new tensor of x's dtype shaped [nd] shape; nc as
 * run_windows. NULL on failure. */
static clt_tensor *windows(int kind, const geom *g, clt_tensor *x, const clt_tensor *idx, const int64_t *nc, int nd,
                           const int64_t *shape) {
  clt_tensor *xc = clt__contiguous(x);
  if (xc && xc->numel == 0) { /* all padding (im2col) or nothing to sum (col2im): no kernel reads x */
    clt__tensor_release(xc);
    return clt__full(x->st->dev, x->dtype, nd, shape, 0.0);
  }
  clt_tensor *y = xc ? clt__empty(x->st->dev, x->dtype, nd, shape) : NULL;
  if (y && run_windows(kind, g, xc, idx, y, NULL, nc) != CLT_OK) {
    clt__tensor_release(y);
    y = NULL;
  }
  clt__tensor_release(xc);
  return y;
}

/* Kernel kind over x [N, C, ...] into a new [N, C, ...shape]: NULL on failure. */
static clt_tensor *windows_nc(int kind, const geom *g, clt_tensor *x, const clt_tensor *idx, int nd, const int64_t *shape) {
  int64_t full[4] = {x->shape[0], x->shape[1], shape[0], nd > 1 ? shape[1] : 0};
  return windows(kind, g, x, idx, NULL, 2 + nd, full);
}

static clt_tensor *col2im(clt_tensor *cols, const geom *g);

/* Records y = kind(x) with geometry g and backward bw; y is released on failure. */
static clt_tensor *record_windows(clt_tensor *y, clt_tensor *x, const geom *g, const char *name, clt__backward_fn bw,
                                  clt_tensor *saved) {
  clt__node *n = NULL;
  if (y && clt__grad_needed(1, &x) && !(n = clt__record(&y, name, bw, 1, &x, saved ? 1 : 0, &saved))) return NULL;
  if (n) memcpy(n->args.win, g, sizeof *g);
  return y;
}

static clt_tensor *im2col(clt_tensor *x, const geom *g);

static clt_status bw_im2col(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  geom geo;
  memcpy(&geo, n->args.win, sizeof geo);
  gin[0] = col2im(g, &geo);
  return gin[0] ? CLT_OK : clt_last_status();
}

static clt_status bw_col2im(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  geom geo;
  memcpy(&geo, n->args.win, sizeof geo);
  gin[0] = im2col(g, &geo);
  return gin[0] ? CLT_OK : clt_last_status();
}

/* im2col: x [N, C, H, W] -> [N, C, K L], zero padding. */
static clt_tensor *im2col(clt_tensor *x, const geom *g) {
  int64_t kl = g->k[0] * g->k[1] * g->out[0] * g->out[1];
  return record_windows(windows_nc(CLT__WIN_IM2COL, g, x, NULL, 1, &kl), x, g, "unfold", bw_im2col, NULL);
}

/* col2im: cols [N, C, K L] -> [N, C, H, W] (H, W: g->in), overlapping windows summed. */
static clt_tensor *col2im(clt_tensor *cols, const geom *g) {
  return record_windows(windows_nc(CLT__WIN_COL2IM, g, cols, NULL, 2, g->in), cols, g, "fold", bw_col2im, NULL);
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
  clt_tensor *u = im2col(x, &g);
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
  clt_tensor *out = c3 ? col2im(c3, &g) : NULL;
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

/* A new view of t (no graph) from t's offset. */
static clt_tensor *view(clt_tensor *t, int nd, const int64_t *shape, const int64_t *st) {
  return clt__view_of(t, nd, shape, st, t->offset);
}

/* conv2d is one node over the columns laid out [Cin K, N L] (lib/backend.h: cols_cn), so that a
 * product can take several images' columns at once. Its backward puts y's gradient in that
 * order once ([Cout, N L]); b's gradient is its row sums, where w's gradient is one product the
 * row sums of its A (the GEMM's asum epilogue: no reduction of its own), else a sum; w's is that
 * @ cols^T, one product per group, or without groups one per chunk of images (w_chunks) summed;
 * x's is col2im of w^T @ it, one product per image (columns [N, Cin K, L]) or per group. The
 * forward multiplies w by each image's columns (y comes out NCHW, the bias the GEMM's epilogue,
 * one value per row; the host's GEMM runs the batch as one product: lib/blas.c, run_merged), or
 * with groups one product per group that the bias's add reads in NCHW order (images and groups
 * together have no single batch stride). On PoCL the digits CNN's step lost 4 of its 72
 * commands (an add and a reduction per layer) and ran 10% faster (clt-bench --only training:
 * 1273 -> 1403 steps/s). Composed from
 * matmul, add and views, with the columns [N, Cin K, L], a layer's backward took 9 backend
 * calls; this takes 6 (7 with w's chunks summed): gone are the copies of the views that held w's
 * and b's gradients into the leaves, a permuted copy for b's, and a sum over all N products.
 * Products are kept to what OpenBLAS runs on one thread: on PoCL's busy cores its threads, and
 * oneDNN's, cost more than they gave (batch-wide products: 1.5x the CPU time of clt-train
 * --model cnn). Saved: the columns, w contiguous. */
typedef struct {
  int64_t N, cin, cout, G, K, L;
} conv_dims;

static conv_dims dims_of(const geom *g, int64_t N, int64_t cin, int64_t cout, int64_t G) {
  return (conv_dims){N, cin, cout, G, g->k[0] * g->k[1], g->out[0] * g->out[1]};
}

/* The GEMM operands: w [G, Cout/G, Cin/G K] (transposed: [G, Cin/G K, Cout/G]), and a [G R, N L]
 * tensor (cols: R = Cin/G K; y's gradient: R = Cout/G) as [G, R, N L] (transposed: [G, N L, R]). */
static clt_tensor *w_operand(clt_tensor *w, const conv_dims *d, bool t) {
  int64_t cg = d->cin / d->G * d->K, og = d->cout / d->G;
  return view(w, 3, (const int64_t[]){d->G, t ? cg : og, t ? og : cg}, (const int64_t[]){og * cg, t ? 1 : cg, t ? cg : 1});
}
static clt_tensor *cn_operand(clt_tensor *c, int64_t r, const conv_dims *d, bool t) {
  int64_t nl = d->N * d->L;
  return view(c, 3, (const int64_t[]){d->G, t ? nl : r, t ? r : nl}, (const int64_t[]){r * nl, t ? 1 : nl, t ? nl : 1});
}

/* Whether a product of a b multiply-adds runs on one thread (false past int64). */
static bool serial(clt_dtype dt, int64_t a, int64_t b) {
  int64_t m;
  return !clt__mul_ovf(a, b, &m) && clt__cpu_gemm_serial(dt, m);
}

/* How many products w's gradient takes without groups: images in the largest chunks whose
 * products run on one thread (clt__cpu_gemm_serial; one product when the whole batch does, a
 * product per image when none does), whose results are summed. */
static int64_t w_chunks(const conv_dims *d, clt_dtype dt) {
  int64_t per = d->cout * d->cin * d->K * d->L, c = d->N;
  while (c > 1 && (d->N % c != 0 || !serial(dt, per, c))) c--;
  return d->N / c;
}

/* Whether x's gradient's product takes the whole batch's columns at once (as with groups)
 * rather than a product per image: where that product runs on one thread.
 * (The digits CNN's second layer, oneDNN on one thread: a 32 x 1024 x 144 product ran 2-3x
 * faster than 64 of 32 x 16 x 144 by OpenBLAS.) */
static bool whole_batch(const conv_dims *d, clt_dtype dt) {
  return d->G > 1 || serial(dt, d->cout, d->cin * d->K * d->N * d->L);
}

static clt_status bw_conv2d(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  geom geo;
  memcpy(&geo, n->args.win, sizeof geo);
  clt_tensor *cols = clt__saved(n, 0), *w = cols ? clt__saved(n, 1) : NULL;
  if (!w) return clt_last_status();
  int64_t cout = n->shape_out[1];
  conv_dims d = dims_of(&geo, n->shape_out[0], cols->shape[0] / (geo.k[0] * geo.k[1]), cout, 0);
  d.G = d.cin / w->shape[1];
  int64_t og = cout / d.G, cg = d.cin / d.G * d.K, nl = d.N * d.L;
  /* g [N, Cout, Ho, Wo] as [Cout, N, Ho, Wo], contiguous */
  clt_tensor *gv = view(g, 4, (const int64_t[]){cout, d.N, geo.out[0], geo.out[1]},
                        (const int64_t[]){g->strides[1], g->strides[0], g->strides[2], g->strides[3]});
  clt_tensor *gp = gv ? clt__contiguous(gv) : NULL, *t = NULL, *u = NULL, *wt = NULL, *gc = NULL, *gw = NULL;
  clt_status s = gp ? CLT_OK : clt_last_status();
  bool want_b = n->nin > 2 && clt__wants(n, 2);
  if (s == CLT_OK && clt__wants(n, 1)) { /* w: g @ cols^T per group, or summed over chunks of images */
    int64_t B = d.G == 1 ? w_chunks(&d, g->dtype) : 1, cl = nl / B, bst = d.G == 1 ? cl : 0;
    /* one product [Cout, N L] @ cols^T: b's gradient is the row sums of its A, its epilogue */
    bool one = d.G * B == 1;
    clt_tensor *ga = view(gp, 3 - one, one ? (const int64_t[]){og, cl} : (const int64_t[]){d.G * B, og, cl},
                          one ? (const int64_t[]){nl, 1} : (const int64_t[]){bst ? bst : og * nl, nl, 1});
    clt_tensor *ct = view(cols, 3 - one, one ? (const int64_t[]){cl, cg} : (const int64_t[]){d.G * B, cl, cg},
                          one ? (const int64_t[]){1, nl} : (const int64_t[]){bst ? bst : cg * nl, 1, nl});
    gw = ga && ct ? clt__matmul_ep(ga, ct, NULL, one && want_b ? &gin[2] : NULL) : NULL;
    if (one && want_b) want_b = false;
    clt_tensor *sum = gw && B > 1 ? clt__sum(gw, 1, (const int[]){0}, false) : clt__retain(gw);
    gin[1] = sum ? view(sum, w->ndim, w->shape, w->strides) : NULL; /* its own storage: no copy into w.grad */
    clt_tensor *tmp[] = {ga, ct, sum};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
    s = gin[1] ? CLT_OK : clt_last_status();
  }
  if (s == CLT_OK && want_b) { /* b: y's gradient summed over N, Ho, Wo */
    t = view(gp, 2, (const int64_t[]){cout, nl}, (const int64_t[]){nl, 1});
    gin[2] = t ? clt__sum(t, 1, (const int[]){1}, false) : NULL;
    s = gin[2] ? CLT_OK : clt_last_status();
  }
  if (s == CLT_OK && clt__wants(n, 0)) { /* x: col2im(w^T @ g), per image or per group */
    wt = w_operand(w, &d, true);
    if (!whole_batch(&d, g->dtype)) { /* the columns [N, Cin K, L] */
      u = wt ? view(gp, 3, (const int64_t[]){d.N, cout, d.L}, (const int64_t[]){d.L, nl, 1}) : NULL;
      gc = u ? clt__matmul(wt, u) : NULL;
      clt_tensor *g3 = gc ? view(gc, 3, (const int64_t[]){d.N, d.cin, d.K * d.L}, (const int64_t[]){d.cin * d.K * d.L, d.K * d.L, 1}) : NULL;
      gin[0] = g3 ? windows_nc(CLT__WIN_COL2IM, &geo, g3, NULL, 2, geo.in) : NULL;
      clt__tensor_release(g3);
    } else { /* [G, Cin/G K, N L], G perhaps 1 */
      u = view(gp, 3, (const int64_t[]){d.G, og, nl}, (const int64_t[]){og * nl, nl, 1});
      gc = wt && u ? clt__matmul(wt, u) : NULL;
      gin[0] = gc ? windows(CLT__WIN_COL2IM, &geo, gc, NULL, (const int64_t[]){d.N, d.cin}, 4,
                            (const int64_t[]){d.N, d.cin, geo.in[0], geo.in[1]})
                  : NULL;
    }
    s = gin[0] ? CLT_OK : clt_last_status();
  }
  clt_tensor *tmp[] = {gv, gp, t, u, wt, gc, gw};
  for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
  return s;
}

/* conv2d on checked 4-d x and w (see bw_conv2d). */
static clt_tensor *conv2d_core(clt_tensor *x, clt_tensor *w, clt_tensor *b, const geom *g, int64_t G) {
  conv_dims d = dims_of(g, x->shape[0], x->shape[1], w->shape[0], G);
  clt_tensor *cols = windows(CLT__WIN_IM2COL, g, x, NULL, (const int64_t[]){d.N, d.cin}, 2,
                             (const int64_t[]){d.cin * d.K, d.N * d.L});
  clt_tensor *wc = cols ? clt__contiguous(w) : NULL, *wv = wc ? w_operand(wc, &d, false) : NULL;
  int64_t ck = d.cin / G * d.K, nl = d.N * d.L;
  /* without groups a product per image (y NCHW, the bias its epilogue), which the host's GEMM
   * runs as one product over the batch (lib/blas.c: run_merged) */
  bool wide = wv && d.G > 1;
  clt_tensor *c3 = !wv ? NULL
                   : !wide ? view(cols, 3, (const int64_t[]){d.N, ck, d.L}, (const int64_t[]){d.L, nl, 1})
                           : cn_operand(cols, ck, &d, false);
  /* Per image, y comes out NCHW and the bias (one per row: [Cout, 1]) is the product's epilogue,
   * no command of its own on PoCL; per group y is permuted to NCHW after, by the add of the bias
   * where there is one. */
  clt_tensor *be = c3 && b && !wide ? view(b, 2, (const int64_t[]){d.cout, 1}, (const int64_t[]){b->strides[0], 0}) : NULL;
  clt_tensor *yg = c3 && (be || !b || wide) ? clt__matmul_ep(wv, c3, be, NULL) : NULL;
  /* [N, Cout, L], or over the whole batch [Cout, N, L] read as [N, Cout, Ho, Wo] */
  clt_tensor *yv = yg ? view(yg, 4, (const int64_t[]){d.N, d.cout, g->out[0], g->out[1]},
                             !wide ? (const int64_t[]){d.cout * d.L, d.L, g->out[1], 1}
                                   : (const int64_t[]){d.L, d.N * d.L, g->out[1], 1})
                      : NULL;
  clt_tensor *bv = yv && b && wide ? view(b, 4, (const int64_t[]){1, d.cout, 1, 1}, (const int64_t[]){0, b->strides[0], 0, 0}) : NULL;
  clt_tensor *y = !yv || (b && wide && !bv) ? NULL : bv ? clt__binary(CLT_OP_add, yv, bv) : clt__contiguous(yv);
  clt_tensor *in[3] = {x, w, b}, *saved[2] = {cols, wc};
  clt__node *n = NULL;
  if (y && clt__grad_needed(b ? 3 : 2, in) && !(n = clt__record(&y, "conv2d", bw_conv2d, b ? 3 : 2, in, 2, saved))) y = NULL;
  if (n) memcpy(n->args.win, g, sizeof *g);
  clt_tensor *tmp[] = {cols, wc, wv, c3, be, yg, yv, bv};
  for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
  return y;
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
  if (y3) img = col2im(y3, &g);
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

/* max_pool2d's gradient: each pixel sums the gradients of the windows whose largest it was. */
static clt_status bw_max_pool2d(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  geom geo;
  memcpy(&geo, n->args.win, sizeof geo);
  clt_tensor *idx = clt__saved(n, 0);
  gin[0] = idx ? windows_nc(CLT__WIN_MAX_BWD, &geo, g, idx, 2, geo.in) : NULL;
  return gin[0] ? CLT_OK : clt_last_status();
}

/* Each window's largest element and its place in the image, saved for the backward (PyTorch's
 * tie and NaN rule: lib/backend.h, CLT__WIN_MAX). */
static clt_tensor *max_pool2d(clt_tensor *x, int64_t kh, int64_t kw, const clt_pool2d_opts *o) {
  geom g;
  if (pool_geometry(x, kh, kw, o, true, &g) != CLT_OK) return NULL;
  int64_t shape[4] = {x->shape[0], x->shape[1], g.out[0], g.out[1]};
  clt_tensor *xc = clt__contiguous(x), *y = NULL, *yi = NULL;
  if (xc && xc->numel) { /* else windows of padding only, or none */
    y = clt__empty(x->st->dev, x->dtype, 4, shape);
    yi = y ? clt__empty(x->st->dev, CLT_INT64, 4, shape) : NULL;
  } else if (xc) {
    y = clt__full(x->st->dev, x->dtype, 4, shape, -INFINITY);
    yi = y ? clt__full(x->st->dev, CLT_INT64, 4, shape, -1) : NULL;
  }
  clt_status s = !yi ? clt_last_status() : xc->numel ? run_windows(CLT__WIN_MAX, &g, xc, NULL, y, yi, NULL) : CLT_OK;
  clt__tensor_release(xc);
  if (s != CLT_OK) {
    clt__tensor_release(y);
    y = NULL;
  }
  y = record_windows(y, x, &g, "max_pool2d", bw_max_pool2d, yi);
  clt__tensor_release(yi);
  return y;
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
  clt_tensor *u = scale ? im2col(x, &g) : NULL;
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
