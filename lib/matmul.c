/* matmul: NumPy's shape rules down to one (strided-)batched GEMM call. */
#include <string.h>

#include "dispatch.h"
#include "ew.h"
#include "grad.h"
#include "reduce.h"

/* How a [rows, cols] matrix with strides (s_row, s_col) goes into GEMM: row-major with ld, or
 * transposed (column-major) with ld; false when it is neither (a copy is needed). */
static bool gemm_layout(int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, bool *trans, int64_t *ld) {
  int64_t need_r = cols > 1 ? cols : 1, need_c = rows > 1 ? rows : 1;
  if ((s_col == 1 || cols == 1) && (s_row >= need_r || rows == 1)) {
    *trans = false;
    *ld = rows == 1 ? need_r : s_row;
    return true;
  }
  if ((s_row == 1 || rows == 1) && (s_col >= need_c || cols == 1)) {
    *trans = true;
    *ld = cols == 1 ? need_c : s_col;
    return true;
  }
  return false;
}

/* The batch dims of t (all but the last two, broadcast to nb dims of shape bs) as one count
 * and stride; false when they do not merge into one stride. */
static bool batch_stride(const clt_tensor *t, int nb, const int64_t *bs, int64_t *stride) {
  int64_t st[CLT_MAX_DIMS];
  for (int i = 0; i < nb; i++) {
    int ti = t->ndim - 2 - nb + i;
    st[i] = (ti >= 0 && t->shape[ti] == bs[i] && bs[i] != 1) ? t->strides[ti] : 0;
  }
  *stride = 0;
  int64_t inner = 1; /* elements of batch index per step of the dims inside */
  bool set = false;
  for (int i = nb - 1; i >= 0; i--) {
    if (bs[i] == 1) continue;
    if (!set) {
      *stride = st[i];
      set = true;
    } else {
      int64_t span; /* a stride times a size can pass int64 (wrapped memory): no merge then */
      if (clt__mul_ovf(*stride, inner, &span) || st[i] != span) return false;
    }
    inner *= bs[i]; /* fits: the broadcast batch shape does */
  }
  return true;
}

static clt_tensor *view2(clt_tensor *t, int ndim, const int64_t *shape, const int64_t *strides) {
  return clt__view_of(t, ndim, shape, strides, t->offset);
}

/* a @ b, plus bias (NULL, or broadcast to the product [..., m, n] with the dims 1-d operands gain
 * kept: [n] adds to every row, [m, 1] to every column; its batch dims must merge into one
 * stride) and, where asum is not NULL, *asum = the sums of a's rows ([m], a and b at most 2-d): a
 * linear layer's product with its bias and its weight gradient's product with the bias gradient
 * (lib/nn.c), a convolution's (lib/conv.c), as the GEMM's epilogues. */
static clt_tensor *matmul(clt_tensor *a, clt_tensor *b, clt_tensor *bias, clt_tensor **asum) {
  char sa[CLT__SHAPE_STR], sb[CLT__SHAPE_STR];
  if (clt__check_same_device(a, b) != CLT_OK || (bias && clt__check_same_device(a, bias) != CLT_OK)) return NULL;
  if (a->ndim == 0 || b->ndim == 0)
    return clt__err(CLT_ERR_SHAPE, "both operands need at least 1 dim (got %s and %s)",
                    clt__shape_str(sa, a->ndim, a->shape), clt__shape_str(sb, b->ndim, b->shape)), NULL;
  clt_dtype dt = clt__promote_types(a->dtype, b->dtype);
  if (!clt_dtype_is_float(dt))
    return clt__err(CLT_ERR_DTYPE, "matmul needs float tensors, not %s and %s (cast them first)",
                    clt_dtype_name(a->dtype), clt_dtype_name(b->dtype)), NULL;
  if (clt__is16(dt)) { /* float32 copies through SGEMM (float32 sums), the product rounded once */
    clt_tensor *af = clt__cast(a, CLT_FLOAT32), *bf = af ? clt__cast(b, CLT_FLOAT32) : NULL;
    clt_tensor *cf = bf && bias ? clt__cast(bias, CLT_FLOAT32) : NULL, *sf = NULL;
    clt_tensor *r = bf && (cf || !bias) ? matmul(af, bf, cf, asum ? &sf : NULL) : NULL;
    clt__tensor_release(af);
    clt__tensor_release(bf);
    clt__tensor_release(cf);
    if (asum) {
      *asum = r && sf ? clt__narrow(sf, dt) : (clt__tensor_release(sf), NULL);
      if (!*asum) clt__tensor_release(r), r = NULL;
    }
    return clt__narrow(r, dt);
  }
  /* 1-d operands gain a dim: a as a row [1,k], b as a column [k,1] */
  int64_t s2[2], st2[2];
  clt_tensor *A = NULL, *B = NULL, *out = NULL, *res = NULL, *bc = NULL, *sum = NULL;
  if (a->ndim == 1) {
    s2[0] = 1, s2[1] = a->shape[0], st2[1] = a->strides[0];
    if (clt__mul_ovf(a->shape[0], a->strides[0], &st2[0])) st2[0] = 1; /* any stride serves a size-1 dim */
    A = view2(a, 2, s2, st2);
  } else {
    A = clt__retain(a);
  }
  if (b->ndim == 1) {
    s2[0] = b->shape[0], s2[1] = 1, st2[0] = b->strides[0], st2[1] = 1;
    B = view2(b, 2, s2, st2);
  } else {
    B = clt__retain(b);
  }
  if (!A || !B) goto done;
  if (A->dtype != dt) {
    clt_tensor *c = clt__cast(A, dt);
    clt__tensor_release(A);
    if (!(A = c)) goto done;
  }
  if (B->dtype != dt) {
    clt_tensor *c = clt__cast(B, dt);
    clt__tensor_release(B);
    if (!(B = c)) goto done;
  }
  int64_t m = A->shape[A->ndim - 2], k = A->shape[A->ndim - 1], n = B->shape[B->ndim - 1];
  if (B->shape[B->ndim - 2] != k) {
    clt__err(CLT_ERR_SHAPE, "shapes %s and %s do not multiply: %lld columns against %lld rows",
             clt__shape_str(sa, a->ndim, a->shape), clt__shape_str(sb, b->ndim, b->shape), (long long)k,
             (long long)B->shape[B->ndim - 2]);
    goto done;
  }
  int nb;
  int64_t bs[CLT_MAX_DIMS], oshape[CLT_MAX_DIMS], bst[CLT_MAX_DIMS], bias_batch = 0;
  if (clt__broadcast_shapes(A->ndim - 2, A->shape, B->ndim - 2, B->shape, &nb, bs) != CLT_OK) goto done;
  memcpy(oshape, bs, sizeof(int64_t) * (size_t)nb);
  oshape[nb] = m;
  oshape[nb + 1] = n;
  bool bias_fits = !bias || bias->ndim <= nb + 2;
  for (int i = 0; bias && bias_fits && i < bias->ndim; i++) {
    int64_t bd = bias->shape[bias->ndim - 1 - i];
    bias_fits = bd == 1 || bd == oshape[nb + 1 - i];
  }
  if (!bias_fits || (asum && (A->ndim > 2 || B->ndim > 2))) {
    clt__err(CLT_ERR_SHAPE, "an epilogue needs a bias that broadcasts to the product (got %s for %lld x %lld) and 2-d "
             "operands for row sums", bias ? clt__shape_str(sa, bias->ndim, bias->shape) : "none", (long long)m, (long long)n);
    goto done;
  }
  if (bias && !(bc = bias->dtype == dt ? clt__retain(bias) : clt__cast(bias, dt))) goto done;
  if (bc) {
    clt__broadcast_strides(bc, nb + 2, oshape, bst);
    clt_tensor probe = {.ndim = nb + 2}; /* bc as broadcast to the product, for its batch stride */
    memcpy(probe.shape, oshape, sizeof(int64_t) * (size_t)(nb + 2));
    memcpy(probe.strides, bst, sizeof(int64_t) * (size_t)(nb + 2));
    if (!batch_stride(&probe, nb, bs, &bias_batch)) {
      clt__err(CLT_ERR_SHAPE, "the bias %s: its batch dims do not merge into one stride", clt__shape_str(sa, bias->ndim, bias->shape));
      goto done;
    }
  }
  if (asum && !(sum = clt__empty(A->st->dev, dt, 1, &m))) goto done;
  out = clt__empty(A->st->dev, dt, nb + 2, oshape);
  if (!out) goto done;
  int64_t batch = 1;
  for (int i = 0; i < nb; i++) batch *= bs[i]; /* fits: out's shape does */
  if (out->numel > 0 && k == 0) { /* an empty sum: zeros (and the bias), no BLAS call */
    clt__tensor_release(out);
    out = clt__full(A->st->dev, dt, nb + 2, oshape, 0.0);
    if (out && bc) {
      clt_tensor *o = clt__binary(CLT_OP_add, out, bc);
      clt__tensor_release(out);
      out = o;
    }
    if (!out) goto done;
  } else if (out->numel > 0) {
    clt__gemm_args g = {.dt = dt, .m = m, .n = n, .k = k, .batch = batch, .c = out->st, .c_off = out->offset,
                        .ldc = n, .c_stride = m * n};
    if (bc) g.bias = bc->st, g.bias_off = bc->offset, g.bias_inc = bst[nb + 1], g.bias_row = bst[nb], g.bias_stride = bias_batch;
    if (sum) g.asum = sum->st, g.asum_off = sum->offset;
    /* operands GEMM cannot read as they are become contiguous copies */
    for (int pass = 0; pass < 2; pass++) {
      clt_tensor **T = pass ? &B : &A;
      int64_t rows = pass ? k : m, cols = pass ? n : k, bstride;
      bool tr;
      int64_t ld;
      int r = (*T)->ndim;
      bool ok = gemm_layout(rows, cols, (*T)->strides[r - 2], (*T)->strides[r - 1], &tr, &ld) &&
                batch_stride(*T, nb, bs, &bstride);
      if (!ok) {
        clt_tensor *c = clt__clone(*T);
        clt__tensor_release(*T);
        if (!(*T = c)) goto done;
        tr = false; /* a contiguous copy is row-major (cols >= 1 here: k = 0 and empty outputs left above) */
        ld = cols;
        if (!batch_stride(c, nb, bs, &bstride)) { /* broadcast batch dims: materialise them */
          int64_t es[CLT_MAX_DIMS], est[CLT_MAX_DIMS];
          for (int i = 0; i < nb; i++) es[i] = bs[i];
          es[nb] = rows;
          es[nb + 1] = cols;
          clt__broadcast_strides(c, nb + 2, es, est);
          clt_tensor *e = clt__view_of(c, nb + 2, es, est, c->offset), *ec = e ? clt__clone(e) : NULL;
          clt__tensor_release(e);
          clt__tensor_release(*T);
          if (!(*T = ec)) goto done;
          batch_stride(ec, nb, bs, &bstride);
        }
      }
      if (pass) {
        g.tb = tr, g.b = (*T)->st, g.b_off = (*T)->offset, g.ldb = ld, g.b_stride = bstride;
      } else {
        g.ta = tr, g.a = (*T)->st, g.a_off = (*T)->offset, g.lda = ld, g.a_stride = bstride;
      }
    }
    if (clt__run_gemm(A->st->dev, &g) != CLT_OK) goto done;
  }
  if (sum && !(out->numel > 0 && k > 0)) { /* no GEMM ran: the row sums by a reduction */
    clt__tensor_release(sum);
    if (!(sum = clt__sum(A, 1, (const int[]){1}, false))) goto done;
  }
  /* drop the dims the 1-d operands gained */
  {
    int64_t fs[CLT_MAX_DIMS], fst[CLT_MAX_DIMS];
    int f = 0;
    for (int i = 0; i < out->ndim; i++) {
      if ((i == out->ndim - 2 && a->ndim == 1) || (i == out->ndim - 1 && b->ndim == 1)) continue;
      fs[f] = out->shape[i];
      fst[f++] = out->strides[i];
    }
    res = clt__view_of(out, f, fs, fst, out->offset);
  }
  if (asum && res) *asum = clt__retain(sum);
done:
  clt__tensor_release(bc);
  clt__tensor_release(sum);
  clt__tensor_release(out);
  clt__tensor_release(A);
  clt__tensor_release(B);
  return res;
}

clt_tensor *clt__matmul(clt_tensor *a, clt_tensor *b) { return matmul(a, b, NULL, NULL); }

clt_tensor *clt__matmul_ep(clt_tensor *a, clt_tensor *b, clt_tensor *bias, clt_tensor **asum) {
  if (asum) *asum = NULL;
  return matmul(a, b, bias, asum);
}

clt_tensor *clt__gemm_operand(clt_tensor *t) {
  bool tr;
  int64_t ld, bstride;
  int r = t->ndim;
  if (r < 2 || (gemm_layout(t->shape[r - 2], t->shape[r - 1], t->strides[r - 2], t->strides[r - 1], &tr, &ld) &&
                batch_stride(t, r - 2, t->shape, &bstride)))
    return clt__retain(t);
  return clt__clone(t);
}

clt_tensor *clt_matmul(clt_tensor *a, clt_tensor *b) {
  clt__api("clt_matmul");
  if (!a || !b) return clt__null_arg(a ? "b" : "a"), NULL;
  return clt__ret(clt__grad_matmul(matmul(a, b, NULL, NULL), a, b));
}
