/* Embedding and scaled dot-product attention (include/clt/nn.h), composed from gather /
 * scatter_add, matmul, softmax, where and dropout: every device runs them through the checked
 * dispatch of those ops, and attention's gradient is those ops' gradients. Short attention
 * without a mask or dropout instead runs one fused backend entry each way (attn_fwd, attn_bwd:
 * lib/backend.h), as PyTorch has fused kernels beside its math path: the digits transformer's
 * composite attention was about 21 device commands per block and step on PoCL (each ~12 us),
 * the fused one 2 and the slices' gradients. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "dispatch.h"
#include "ew.h"
#include "grad.h"
#include "reduce.h"

#define SHAPE(buf, t) clt__shape_str(buf, (t)->ndim, (t)->shape)

static clt_status check_float(const clt_tensor *t, const char *arg) {
  if (t->dtype == CLT_FLOAT32 || t->dtype == CLT_FLOAT64) return CLT_OK;
  return clt__err(CLT_ERR_DTYPE, "%s must be float32 or float64, not %s", arg, clt_dtype_name(t->dtype));
}

/* t beside x (named xarg): same device and dtype. */
static clt_status check_like(const clt_tensor *x, const char *xarg, const clt_tensor *t, const char *arg) {
  if (clt__check_same_device(x, t) != CLT_OK) return clt_last_status();
  if (t->dtype != x->dtype)
    return clt__err(CLT_ERR_DTYPE, "%s has dtype %s and %s %s; they must match", arg, clt_dtype_name(t->dtype), xarg,
                    clt_dtype_name(x->dtype));
  return CLT_OK;
}

/* ---- embedding -------------------------------------------------------------------------- */

/* The weight's gradient: g's rows added into zeros at the saved index ([n, D], a broadcast view
 * of [n]), whose padding entries point at one extra row that is dropped. */
static clt_status bw_embedding(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt_tensor *idx = clt__saved(n, 0);
  if (!idx) return clt_last_status();
  const clt__edge *e = &n->next[0];
  clt_tensor *z = clt__full(g->st->dev, g->dtype, 2, (const int64_t[]){e->shape[0] + 1, e->shape[1]}, 0.0);
  clt_tensor *s = z ? clt__scatter_add(z, 0, idx, g) : NULL;
  gin[0] = s ? clt__view_of(s, 2, e->shape, s->strides, s->offset) : NULL;
  clt__tensor_release(z);
  clt__tensor_release(s);
  return gin[0] ? CLT_OK : clt_last_status();
}

/* flat (int64 [n], its own storage, entries in [0, V)) with padding_idx replaced by V, the range
 * recorded so that scatter_add reads nothing back. */
static clt_tensor *scatter_index(clt_tensor *flat, int64_t V, int64_t pad) {
  if (pad < 0) return clt__retain(flat);
  clt_tensor *is_pad = clt__binary_scalar(CLT_OP_eq, flat, (double)pad, false);
  clt_tensor *dummy = is_pad ? clt__full(flat->st->dev, CLT_INT64, 0, NULL, (double)V) : NULL;
  clt_tensor *out = dummy ? clt__where(is_pad, dummy, flat) : NULL;
  if (out) clt__range_set(out->st, 0, V);
  clt__tensor_release(is_pad);
  clt__tensor_release(dummy);
  return out;
}

static clt_tensor *embedding(clt_tensor *w, clt_tensor *ids, int64_t pad) {
  char a[CLT__SHAPE_STR];
  if (check_float(w, "weight") != CLT_OK || clt__check_same_device(w, ids) != CLT_OK) return NULL;
  if (w->ndim != 2)
    return clt__err(CLT_ERR_SHAPE, "weight %s must be 2-d [num_embeddings, embedding_dim]", SHAPE(a, w)), NULL;
  if (ids->dtype != CLT_INT32 && ids->dtype != CLT_INT64)
    return clt__err(CLT_ERR_DTYPE, "ids has dtype %s; int32 or int64 is needed", clt_dtype_name(ids->dtype)), NULL;
  if (ids->ndim >= CLT_MAX_DIMS)
    return clt__err(CLT_ERR_SHAPE, "ids %s has %d dims; the result would have more than %d", SHAPE(a, ids), ids->ndim,
                    CLT_MAX_DIMS), NULL;
  int64_t V = w->shape[0], D = w->shape[1], n = ids->numel;
  if (pad >= V)
    return clt__err(CLT_ERR_INVALID_ARG, "padding_idx %lld is out of range for weight %s (negative: none)", (long long)pad,
                    SHAPE(a, w)), NULL;
  /* an int64 copy of its own: checked once, its range recorded, so gather and the backward's
   * scatter_add read nothing back */
  clt_tensor *c = clt__cast(ids, CLT_INT64);
  clt_tensor *flat = c ? clt__contiguous(c) : NULL;
  clt__tensor_release(c);
  if (!flat) return NULL;
  if (clt__check_index_range(flat, V, "ids") != CLT_OK) {
    clt__tensor_release(flat);
    return NULL;
  }
  if (n > 0) clt__range_set(flat->st, 0, V - 1);
  clt_tensor *iv = clt__view_of(flat, 2, (const int64_t[]){n, D}, (const int64_t[]){1, 0}, flat->offset);
  clt_tensor *rows = iv ? clt__gather(w, 0, iv) : NULL;
  clt_tensor *sidx = NULL, *sv = NULL, *out = NULL;
  if (rows && clt__grad_needed(1, &w)) {
    sidx = scatter_index(flat, V, pad);
    sv = sidx ? clt__view_of(sidx, 2, (const int64_t[]){n, D}, (const int64_t[]){1, 0}, sidx->offset) : NULL;
    if (!sv || !clt__record(&rows, "embedding", bw_embedding, 1, &w, 1, &sv)) {
      if (!sv) clt__tensor_release(rows);
      rows = NULL;
    }
  }
  if (rows) {
    int64_t shape[CLT_MAX_DIMS], st[CLT_MAX_DIMS];
    memcpy(shape, ids->shape, (size_t)ids->ndim * sizeof *shape);
    shape[ids->ndim] = D;
    clt__contig_strides(ids->ndim + 1, shape, st);
    out = clt__grad_view(clt__view_of(rows, ids->ndim + 1, shape, st, rows->offset), rows, "reshape");
  }
  clt_tensor *tmp[] = {flat, iv, rows, sidx, sv};
  for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
  return out;
}

clt_tensor *clt_embedding(clt_tensor *weight, clt_tensor *ids, int64_t padding_idx) {
  clt__api("clt_embedding");
  if (!weight || !ids) return clt__null_arg(weight ? "ids" : "weight"), NULL;
  clt_tensor *own[1];
  clt_dtype dt = weight->dtype;
  if (!clt__widen16(dt, 1, (clt_tensor **const[]){&weight}, own)) return NULL;
  return clt__ret(clt__widen16_end(embedding(weight, ids, padding_idx), dt, 1, own));
}

/* ---- scaled dot-product attention ------------------------------------------------------- */

/* The leading (batch) dims of q, k and v broadcast together: an error names the two that do not. */
static clt_status check_batch(clt_tensor *const *t, const char *const *names) {
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++) {
      int ni = t[i]->ndim - 2, nj = t[j]->ndim - 2;
      for (int d = 1; d <= ni && d <= nj; d++) {
        int64_t a = t[i]->shape[ni - d], b = t[j]->shape[nj - d];
        if (a != b && a != 1 && b != 1) {
          char sa[CLT__SHAPE_STR], sb[CLT__SHAPE_STR];
          return clt__err(CLT_ERR_SHAPE, "the batch dims of %s %s and %s %s cannot broadcast", names[i], SHAPE(sa, t[i]),
                          names[j], SHAPE(sb, t[j]));
        }
      }
    }
  return CLT_OK;
}

/* The mask broadcasts to [..., L, S] with the batch dims of q, k and v. */
static clt_status check_mask(clt_tensor *const *qkv, const clt_tensor *m, int64_t L, int64_t S) {
  char a[CLT__SHAPE_STR];
  if (m->dtype != CLT_BOOL && m->dtype != qkv[0]->dtype)
    return clt__err(CLT_ERR_DTYPE, "mask has dtype %s; it must be bool or q's dtype %s", clt_dtype_name(m->dtype),
                    clt_dtype_name(qkv[0]->dtype));
  if (clt__check_same_device(qkv[0], m) != CLT_OK) return clt_last_status();
  int nb = 0;
  for (int i = 0; i < 3; i++)
    if (qkv[i]->ndim - 2 > nb) nb = qkv[i]->ndim - 2;
  bool ok = m->ndim <= nb + 2;
  for (int d = 1; ok && d <= m->ndim; d++) {
    int64_t want = d == 1 ? S : d == 2 ? L : 1, got = m->shape[m->ndim - d];
    for (int i = 0; d > 2 && i < 3; i++) {
      int k = qkv[i]->ndim - d;
      if (k >= 0 && qkv[i]->shape[k] != 1) want = qkv[i]->shape[k];
    }
    ok = got == want || got == 1;
  }
  if (ok) return CLT_OK;
  char b[CLT__SHAPE_STR], c[CLT__SHAPE_STR];
  return clt__err(CLT_ERR_SHAPE, "mask %s does not broadcast to the scores [..., L, S] of q %s and k %s (L %lld, S %lld)",
                  SHAPE(a, m), SHAPE(b, qkv[0]), SHAPE(c, qkv[1]), (long long)L, (long long)S);
}

/* The additive mask: a float mask as it is, a bool one as 0 where true and -inf where false, causal
 * as the top-left aligned lower triangle [L, S] (PyTorch's tril of ones(L, S)). */
static clt_tensor *additive_mask(clt_tensor *q, clt_tensor *mask, bool causal, int64_t L, int64_t S) {
  clt_device *dev = q->st->dev;
  if (mask && mask->dtype != CLT_BOOL) return clt__retain(mask);
  if (mask) {
    clt_tensor *zero = clt__full(dev, q->dtype, 0, NULL, 0.0);
    clt_tensor *ninf = zero ? clt__full(dev, q->dtype, 0, NULL, -INFINITY) : NULL;
    clt_tensor *out = ninf ? clt__where(mask, zero, ninf) : NULL;
    clt__tensor_release(zero);
    clt__tensor_release(ninf);
    return out;
  }
  if (!causal) return NULL;
  int64_t n;
  size_t bytes, es = clt_dtype_size(q->dtype);
  if (clt__mul_ovf(L, S, &n) || clt__nbytes(n, q->dtype, &bytes) != CLT_OK)
    return clt__err(CLT_ERR_OVERFLOW, "a causal mask of %lld x %lld overflows", (long long)L, (long long)S), NULL;
  unsigned char *m = clt__malloc(bytes ? bytes : 1);
  if (!m) return clt__err(CLT_ERR_OOM, "cannot allocate a causal mask of %lld x %lld", (long long)L, (long long)S), NULL;
  for (int64_t i = 0; i < L; i++)
    for (int64_t j = 0; j < S; j++) clt__store_f64(q->dtype, m + (size_t)(i * S + j) * es, j <= i ? 0.0 : -INFINITY);
  clt_tensor *t = clt__from_host(dev, q->dtype, 2, (const int64_t[]){L, S}, m);
  clt__free_mem(m);
  return t;
}

/* Rows the mask leaves nothing to attend to: bool, the mask's shape with its last dim 1 (a 0-d
 * mask: 0-d). PyTorch's math path gives those rows zeros (its _safe_softmax), with zero
 * gradients, where softmax gives NaN. */
static clt_tensor *empty_rows(clt_tensor *mask) {
  clt_tensor *keep = mask->dtype == CLT_BOOL ? clt__retain(mask) : clt__binary_scalar(CLT_OP_gt, mask, -INFINITY, false);
  const int last[1] = {-1};
  clt_tensor *count = keep ? clt__sum(keep, mask->ndim ? 1 : 0, mask->ndim ? last : NULL, true) : NULL;
  clt_tensor *none = count ? clt__binary_scalar(CLT_OP_eq, count, 0.0, false) : NULL;
  clt__tensor_release(keep);
  clt__tensor_release(count);
  return none;
}

/* where(none, 0, t), recorded (t's gradient is zero in those rows). */
static clt_tensor *zero_rows(clt_tensor *t, clt_tensor *none) {
  clt_tensor *zero = clt__full(t->st->dev, t->dtype, 0, NULL, 0.0);
  clt_tensor *in[3] = {none, zero, t};
  clt_tensor *out = zero ? clt__grad_ew(clt__where(none, zero, t), CLT_OP_where, in, 3, 0, 0, 0) : NULL;
  clt__tensor_release(zero);
  return out;
}

/* t itself where matmul can read its batch dims as one stride (lib/matmul.c: batch_stride), else
 * a contiguous copy, recorded. k and v are each read by two products (forward and backward):
 * heads split from one projection ([B, T, H, E] transposed to [B, H, T, E]) have batch dims
 * that do not merge, and each product copied them again (the digits transformer's step on
 * PoCL: 4 of its copies per block). */
static clt_tensor *gemm_ready(clt_tensor *t) {
  bool merges = true;
  for (int d = t->ndim - 3, inner = -1; d >= 0; d--) { /* inner: the next batch dim of more than one */
    if (t->shape[d] == 1) continue;
    merges = merges && (inner < 0 || t->strides[d] == t->shape[inner] * t->strides[inner]);
    inner = d;
  }
  if (merges) return clt__retain(t);
  clt_tensor *c = clt__contiguous(t);
  return c ? clt__grad_view(c, t, "contiguous") : NULL;
}

static clt_tensor *attend(clt_tensor *q, clt_tensor *k, clt_tensor *v, clt_tensor *mask, double p, bool causal, double scale,
                          int64_t L, int64_t S);

/* ---- the fused path --------------------------------------------------------------------- */

/* $CLT_SDPA_COMPOSITE (not "0"): always the composite path, so that tests compare the two. */
static bool composite_forced(void) {
  const char *v = clt__getenv("CLT_SDPA_COMPOSITE");
  return v && *v && strcmp(v, "0") != 0;
}

/* Whether the fused entries take q, k, v (checked): no mask, no dropout, one batch shape of at
 * most 2 dims (no broadcast: a broadcast k's gradient would sum over batches), and L, S, E, Ev
 * from 1 to CLT__ATTN_MAX (16). Measured on PoCL, fwd+bwd of [64, 4, T, E] heads (fused against
 * composite): T=8 E=8 235-330 us against 355; T=16 E=8 and T=8 E=16 about even; T=32 E=8 1900
 * against 1380, T=8 E=32 590-700 against 510: past 16 the composite path's GEMMs win. */
static bool fusable(clt_tensor *const *qkv, const clt_tensor *mask, double p) {
  if (mask || p > 0 || composite_forced() || qkv[0]->ndim > 4) return false;
  for (int i = 0; i < 3; i++) {
    const clt_tensor *t = qkv[i];
    if (t->ndim != qkv[0]->ndim) return false;
    for (int d = 0; d < t->ndim - 2; d++)
      if (t->shape[d] != qkv[0]->shape[d]) return false;
    for (int d = t->ndim - 2; d < t->ndim; d++)
      if (t->shape[d] < 1 || t->shape[d] > CLT__ATTN_MAX) return false;
  }
  return qkv[0]->numel > 0;
}

/* t's batch dims as [B0, B1] (1 where it has fewer) and its four strides. */
static void layout(const clt_tensor *t, int64_t *B0, int64_t *B1, int64_t *s) {
  int nb = t->ndim - 2;
  *B0 = nb == 2 ? t->shape[0] : 1;
  *B1 = nb >= 1 ? t->shape[nb - 1] : 1;
  s[0] = nb == 2 ? t->strides[0] : 0;
  s[1] = nb >= 1 ? t->strides[nb - 1] : 0;
  s[2] = t->strides[nb];
  s[3] = t->strides[nb + 1];
}

/* The entries' record for q, k, v (and out, lse). */
static clt__attn_args attn_args(clt_tensor *q, clt_tensor *k, clt_tensor *v, clt_tensor *out, clt_tensor *lse,
                                bool causal, double scale) {
  clt__attn_args a = {.dt = q->dtype, .causal = causal, .scale = scale, .L = q->shape[q->ndim - 2],
                      .S = k->shape[k->ndim - 2], .E = q->shape[q->ndim - 1], .Ev = v->shape[v->ndim - 1],
                      .q = q->st, .k = k->st, .v = v->st, .qo = q->offset, .ko = k->offset, .vo = v->offset,
                      .out = out->st, .oo = out->offset, .lse = lse->st};
  layout(q, &a.B0, &a.B1, a.qs);
  layout(k, &a.B0, &a.B1, a.ks);
  layout(v, &a.B0, &a.B1, a.vs);
  layout(out, &a.B0, &a.B1, a.os);
  return a;
}

static clt_status bw_attn(clt__node *n, clt_tensor *g, clt_tensor **gin) {
  clt_tensor *in[5];
  for (int i = 0; i < 5; i++)
    if (!(in[i] = clt__saved(n, i))) return clt_last_status();
  clt_device *dev = g->st->dev;
  clt_tensor *d[3] = {NULL, NULL, NULL};
  clt_status s = CLT_OK;
  for (int i = 0; i < 3 && s == CLT_OK; i++) /* all three: one launch writes them together */
    if (!(d[i] = clt__empty(dev, in[i]->dtype, in[i]->ndim, in[i]->shape))) s = clt_last_status();
  if (s == CLT_OK) {
    clt__attn_args a = attn_args(in[0], in[1], in[2], in[3], in[4], n->args.attn.causal, n->args.attn.scale);
    int64_t B0, B1;
    layout(g, &B0, &B1, a.gs);
    a.g = g->st;
    a.go = g->offset;
    a.dq = d[0]->st;
    a.dk = d[1]->st;
    a.dv = d[2]->st;
    s = clt__run_attn_bwd(dev, &a);
  }
  for (int i = 0; i < 3; i++) {
    if (s == CLT_OK && clt__wants(n, i)) gin[i] = d[i];
    else clt__tensor_release(d[i]);
  }
  return s;
}

/* The result of heads [B, H, L, Ev] is laid out as [B, L, H, Ev] and returned as its permuted
 * view: the usual next step, transpose(1, 2) and a reshape to [B, L, H Ev], is then a view
 * instead of a copy. Other batch shapes: contiguous. */
static clt_tensor *attn_out(clt_tensor *q, clt_tensor *v) {
  int nd = q->ndim;
  int64_t shape[4], Ev = v->shape[nd - 1], L = q->shape[nd - 2];
  memcpy(shape, q->shape, (size_t)(nd - 1) * sizeof *shape);
  shape[nd - 1] = Ev;
  if (nd < 4) return clt__empty(q->st->dev, q->dtype, nd, shape);
  clt_tensor *m = clt__empty(q->st->dev, q->dtype, 4, (const int64_t[]){shape[0], L, shape[1], Ev});
  const int64_t st[4] = {L * shape[1] * Ev, Ev, shape[1] * Ev, 1};
  clt_tensor *out = m ? clt__view_of(m, 4, shape, st, m->offset) : NULL;
  clt__tensor_release(m);
  return out;
}

static clt_tensor *attn_fused(clt_tensor *q, clt_tensor *k, clt_tensor *v, bool causal, double scale) {
  clt_tensor *out = attn_out(q, v), *lse = NULL;
  int64_t rows = 2; /* lse: (m, l) per row */
  for (int d = 0; d < q->ndim - 1; d++) rows *= q->shape[d];
  if (!out || !(lse = clt__empty(q->st->dev, q->dtype, 1, &rows))) goto fail;
  clt__attn_args a = attn_args(q, k, v, out, lse, causal, scale);
  if (clt__run_attn_fwd(q->st->dev, &a) != CLT_OK) goto fail;
  clt_tensor *in[3] = {q, k, v};
  if (clt__grad_needed(3, in)) {
    clt_tensor *saved[5] = {q, k, v, out, lse};
    clt__node *n = clt__record(&out, "scaled_dot_product_attention", bw_attn, 3, in, 5, saved);
    if (n) {
      n->args.attn.scale = scale;
      n->args.attn.causal = causal;
    }
  }
  clt__tensor_release(lse);
  return out;
fail:
  clt__tensor_release(out);
  clt__tensor_release(lse);
  return NULL;
}

static clt_tensor *sdpa(clt_tensor *q, clt_tensor *k, clt_tensor *v, clt_tensor *mask, double p, bool causal, double scale) {
  static const char *const names[3] = {"q", "k", "v"};
  clt_tensor *qkv[3] = {q, k, v};
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  if (check_float(q, "q") != CLT_OK || check_like(q, "q", k, "k") != CLT_OK || check_like(q, "q", v, "v") != CLT_OK)
    return NULL;
  for (int i = 0; i < 3; i++)
    if (qkv[i]->ndim < 2)
      return clt__err(CLT_ERR_SHAPE, "%s %s must have at least 2 dims [..., %s]", names[i], SHAPE(a, qkv[i]),
                      i == 0 ? "L, E" : i == 1 ? "S, E" : "S, Ev"), NULL;
  int64_t L = q->shape[q->ndim - 2], E = q->shape[q->ndim - 1], S = k->shape[k->ndim - 2];
  if (k->shape[k->ndim - 1] != E)
    return clt__err(CLT_ERR_SHAPE, "k %s must be [..., S, E] with q %s's E = %lld", SHAPE(a, k), SHAPE(b, q), (long long)E), NULL;
  if (v->shape[v->ndim - 2] != S)
    return clt__err(CLT_ERR_SHAPE, "v %s must be [..., S, Ev] with k %s's S = %lld", SHAPE(a, v), SHAPE(b, k), (long long)S), NULL;
  if (check_batch(qkv, names) != CLT_OK || (mask && check_mask(qkv, mask, L, S) != CLT_OK)) return NULL;
  if (mask && causal)
    return clt__err(CLT_ERR_INVALID_ARG, "a mask and causal together: give one of them (as PyTorch)"), NULL;
  if (!(p >= 0 && p <= 1))
    return clt__err(CLT_ERR_INVALID_ARG, "dropout_p %g is not a probability in [0, 1]", p), NULL;
  if (isnan(scale) || isinf(scale)) return clt__err(CLT_ERR_INVALID_ARG, "scale %g must be finite", scale), NULL;
  if (scale <= 0) scale = 1.0 / sqrt((double)E);
  if (fusable(qkv, mask, p)) return attn_fused(q, k, v, causal, scale);

  k = gemm_ready(k);
  v = k ? gemm_ready(v) : NULL;
  clt_tensor *out = v ? attend(q, k, v, mask, p, causal, scale, L, S) : NULL;
  clt__tensor_release(k);
  clt__tensor_release(v);
  return out;
}

/* sdpa's ops on checked operands, k and v readable by GEMM. */
static clt_tensor *attend(clt_tensor *q, clt_tensor *k, clt_tensor *v, clt_tensor *mask, double p, bool causal, double scale,
                          int64_t L, int64_t S) {
  /* scores = (q scale) k^T: the scale on q, the smaller of q and the scores */
  const int perm2[2] = {1, 0};
  int perm[CLT_MAX_DIMS];
  int64_t ks[CLT_MAX_DIMS], kst[CLT_MAX_DIMS];
  for (int d = 0; d < k->ndim; d++) {
    int from = d < k->ndim - 2 ? d : k->ndim - 2 + perm2[d - (k->ndim - 2)];
    perm[d] = from;
    ks[d] = k->shape[from];
    kst[d] = k->strides[from];
  }
  clt_tensor *qs = clt__rec_scalar(CLT_OP_mul, q, scale, false);
  clt_tensor *kt = qs ? clt__grad_permute(clt__view_of(k, k->ndim, ks, kst, k->offset), k, perm) : NULL;
  clt_tensor *sc = kt ? clt__grad_matmul(clt__matmul(qs, kt), qs, kt) : NULL;
  clt_tensor *am = sc ? additive_mask(q, mask, causal, L, S) : NULL;
  /* rows with nothing to attend to: their mask made 0 (a finite softmax, whose gradient is then
   * 0 rather than NaN), and their results 0; zeroing the result [..., L, Ev] rather than the
   * probabilities keeps no second [..., L, S] tensor for the backward */
  clt_tensor *none = am && mask ? empty_rows(mask) : NULL;
  clt_tensor *am0 = none ? zero_rows(am, none) : mask ? NULL : clt__retain(am);
  clt_tensor *masked = am0 ? clt__rec_binary(CLT_OP_add, sc, am0) : mask || causal ? NULL : clt__retain(sc);
  clt_tensor *pr = masked ? clt__grad_softmax(clt__softmax(masked, -1, false), masked, -1, false) : NULL;
  clt_tensor *dropped = pr ? clt__dropout(pr, p, true) : NULL;
  clt_tensor *y = dropped ? clt__grad_matmul(clt__matmul(dropped, v), dropped, v) : NULL;
  clt_tensor *out = y && none ? zero_rows(y, none) : mask ? NULL : clt__retain(y);
  clt_tensor *tmp[] = {qs, kt, sc, am, none, am0, masked, pr, dropped, y};
  for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) clt__tensor_release(tmp[i]);
  return out;
}

clt_tensor *clt_scaled_dot_product_attention(clt_tensor *q, clt_tensor *k, clt_tensor *v, clt_tensor *mask,
                                             double dropout_p, bool causal, double scale) {
  clt__api("clt_scaled_dot_product_attention");
  if (!q || !k || !v) return clt__null_arg(!q ? "q" : !k ? "k" : "v"), NULL;
  clt_tensor *own[4];
  clt_dtype dt = q->dtype;
  if (!clt__widen16(dt, 4, (clt_tensor **const[]){&q, &k, &v, &mask}, own)) return NULL;
  return clt__ret(clt__widen16_end(sdpa(q, k, v, mask, dropout_p, causal, scale), dt, 4, own));
}
