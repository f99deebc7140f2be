/* sort, argsort, topk (include/clt/ops.h). The order is found on the host (a stable merge
 * sort of each slice; on an OpenCL device x is read back for it, there being no sorting
 * kernel yet) and the values are a gather of x on its own device, whose gradient scatters g
 * back. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "ew.h"
#include "grad.h"

/* One key: int64 dtypes compare as integers (exact past 2^53), the rest as doubles. */
typedef struct {
  bool is_int, descending;
  const double *f;
  const int64_t *i;
} keys;

/* Whether element a goes strictly before element b: NaN is the greatest value. */
static bool before(const keys *k, int64_t a, int64_t b) {
  if (k->is_int) return k->descending ? k->i[a] > k->i[b] : k->i[a] < k->i[b];
  double x = k->f[a], y = k->f[b];
  if (isnan(x) || isnan(y)) return k->descending ? isnan(x) && !isnan(y) : !isnan(x) && isnan(y);
  return k->descending ? x > y : x < y;
}

/* Stable merge sort of the n positions in p (element numbers into k), tmp of n. */
static void merge_sort(const keys *k, int64_t *p, int64_t *tmp, int64_t n) {
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, o = lo;
      while (i < mid && j < hi) tmp[o++] = before(k, p[j], p[i]) ? p[j++] : p[i++]; /* ties: the left one */
      while (i < mid) tmp[o++] = p[i++];
      while (j < hi) tmp[o++] = p[j++];
    }
    memcpy(p, tmp, (size_t)n * sizeof *p);
  }
}

/* int64 indices [.., k, ..] (x's shape with k in dim d) of the first k of each sorted slice,
 * made on the host and copied to x's device. */
static clt_tensor *order(clt_tensor *x, int d, bool descending, int64_t k) {
  int64_t n = x->shape[d], A = clt__dims_prod(x->shape, 0, d), B = clt__dims_prod(x->shape, d + 1, x->ndim);
  int64_t shape[CLT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[d] = k;
  size_t es = clt_dtype_size(x->dtype), nb, ib;
  keys kk = {.is_int = x->dtype == CLT_INT64, .descending = descending};
  if (clt__nbytes(x->numel, CLT_FLOAT64, &nb) != CLT_OK || clt__nbytes(A * k * B, CLT_INT64, &ib) != CLT_OK) return NULL;
  unsigned char *raw = clt__malloc(x->numel ? (size_t)x->numel * es : 1);
  double *f = kk.is_int ? NULL : clt__malloc(nb ? nb : 1);
  int64_t *idx = clt__malloc(ib ? ib : 1), *p = clt__malloc((size_t)(n ? n : 1) * 2 * sizeof *p);
  clt_tensor *out = NULL;
  if (!raw || (!kk.is_int && !f) || !idx || !p) {
    clt__err(CLT_ERR_OOM, "cannot allocate the host copy of x (%lld elements)", (long long)x->numel);
  } else if (clt__to_host(x, raw) == CLT_OK) {
    if (kk.is_int) kk.i = (const int64_t *)raw;
    else {
      for (int64_t e = 0; e < x->numel; e++) f[e] = clt__load_f64(x->dtype, raw + (size_t)e * es);
      kk.f = f;
    }
    for (int64_t a = 0; a < A; a++)
      for (int64_t b = 0; b < B; b++) {
        for (int64_t r = 0; r < n; r++) p[r] = (a * n + r) * B + b;
        merge_sort(&kk, p, p + n, n);
        for (int64_t r = 0; r < k; r++) idx[(a * k + r) * B + b] = (p[r] - a * n * B - b) / B;
      }
    out = clt__from_host(x->st->dev, CLT_INT64, x->ndim, shape, idx);
  }
  clt__free_mem(raw);
  clt__free_mem(f);
  clt__free_mem(idx);
  clt__free_mem(p);
  return out;
}

/* The values (recorded gather) and, when wanted, the indices of the first k of each slice. */
static clt_tensor *sorted(clt_tensor *x, int dim, bool descending, int64_t k, bool k_given, clt_tensor **indices) {
  int d;
  if (clt__wrap_dim(dim, x->ndim > 0 ? x->ndim : 1, "dim", &d) != CLT_OK) return NULL;
  int64_t n = x->ndim ? x->shape[d] : 1;
  if (k_given && (k < 0 || k > n)) {
    char a[CLT__SHAPE_STR];
    return clt__err(CLT_ERR_INDEX, "k %lld is out of range for dim %d of x %s (0 .. %lld)", (long long)k, d,
                    clt__shape_str(a, x->ndim, x->shape), (long long)n), NULL;
  }
  if (!k_given) k = n;
  if (x->ndim == 0) { /* its own sort; topk(0-d, 0) too, as PyTorch */
    clt_tensor *v = clt__grad_view(clt__clone(x), x, "clone");
    if (v && indices && !(*indices = clt__full(x->st->dev, CLT_INT64, 0, NULL, 0))) {
      clt__tensor_release(v);
      return NULL;
    }
    return v;
  }
  clt_tensor *idx = order(x, d, descending, k);
  clt_tensor *v = idx ? clt__grad_gather(clt__gather(x, d, idx), x, d, idx) : NULL;
  if (v && indices) *indices = idx;
  else clt__tensor_release(idx);
  return v;
}

static clt_tensor *sort_api(const char *name, clt_tensor *x, int dim, bool descending, int64_t k, bool k_given,
                            clt_tensor **indices) {
  clt__api(name);
  if (indices) *indices = NULL;
  if (!x) return clt__null_arg("x"), NULL;
  clt_tensor *v = sorted(x, dim, descending, k, k_given, indices);
  if (indices) clt__ret(*indices);
  return clt__ret(v);
}

clt_tensor *clt_sort(clt_tensor *x, int dim, bool descending, clt_tensor **indices) {
  return sort_api("clt_sort", x, dim, descending, 0, false, indices);
}

clt_tensor *clt_topk(clt_tensor *x, int64_t k, int dim, bool largest, clt_tensor **indices) {
  return sort_api("clt_topk", x, dim, largest, k, true, indices);
}

clt_tensor *clt_argsort(clt_tensor *x, int dim, bool descending) {
  clt__api("clt_argsort");
  if (!x) return clt__null_arg("x"), NULL;
  int d;
  if (clt__wrap_dim(dim, x->ndim > 0 ? x->ndim : 1, "dim", &d) != CLT_OK) return NULL;
  if (x->ndim == 0) return clt__ret(clt__full(x->st->dev, CLT_INT64, 0, NULL, 0));
  return clt__ret(order(x, d, descending, x->shape[d]));
}
