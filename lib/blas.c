/* The CPU's matrix product: CBLAS (OpenBLAS) where the build has it, else a blocked loop. The core
 * owns it, so that every backend whose memory the host can address uses the same one: the host
 * backend's gemm entry, and the OpenCL backend's mapped-buffer route on devices that share host
 * memory (lib/cl/gemm.c). Operands are read and written through their storages' ptr. */
#include "blas.h"

#ifdef CLT_HAVE_CBLAS
#include <cblas.h>
#endif

#ifndef CLT_HAVE_CBLAS
/* Blocked row-major GEMM for builds without CBLAS: blocks of k and n keep B's rows in cache. */
#define BLOCK_GEMM(T)                                                                                    \
  static void gemm_##T(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,     \
                       const T *b, int64_t ldb, T *c, int64_t ldc) {                                    \
    for (int64_t i = 0; i < m; i++)                                                                     \
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = 0;                                               \
    const int64_t KB = 128, NB = 256;                                                                   \
    for (int64_t k0 = 0; k0 < k; k0 += KB)                                                              \
      for (int64_t j0 = 0; j0 < n; j0 += NB)                                                            \
        for (int64_t i = 0; i < m; i++)                                                                 \
          for (int64_t p = k0; p < k0 + KB && p < k; p++) {                                             \
            T av = ta ? a[p * lda + i] : a[i * lda + p];                                                \
            T *ci = c + i * ldc;                                                                        \
            for (int64_t j = j0; j < j0 + NB && j < n; j++) ci[j] += av * (tb ? b[j * ldb + p] : b[p * ldb + j]); \
          }                                                                                             \
  }
BLOCK_GEMM(float)
BLOCK_GEMM(double)
#endif

clt_status clt__cpu_gemm_check(const clt__gemm_args *g) {
#ifdef CLT_HAVE_CBLAS
  if (g->m > INT32_MAX || g->n > INT32_MAX || g->k > INT32_MAX || g->lda > INT32_MAX || g->ldb > INT32_MAX ||
      g->ldc > INT32_MAX)
    return clt__err(CLT_ERR_OVERFLOW, "a %lldx%lldx%lld product exceeds CBLAS's int sizes", (long long)g->m,
                    (long long)g->n, (long long)g->k);
#else
  (void)g;
#endif
  return CLT_OK;
}

void clt__cpu_gemm_run(const clt__gemm_args *g) {
  for (int64_t i = 0; i < g->batch; i++) {
    if (g->dt == CLT_FLOAT32) {
      const float *a = (const float *)g->a->ptr + g->a_off + i * g->a_stride;
      const float *b = (const float *)g->b->ptr + g->b_off + i * g->b_stride;
      float *c = (float *)g->c->ptr + g->c_off + i * g->c_stride;
#ifdef CLT_HAVE_CBLAS
      cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, (int)g->m,
                  (int)g->n, (int)g->k, 1.0f, a, (int)g->lda, b, (int)g->ldb, 0.0f, c, (int)g->ldc);
#else
      gemm_float(g->ta, g->tb, g->m, g->n, g->k, a, g->lda, b, g->ldb, c, g->ldc);
#endif
    } else {
      const double *a = (const double *)g->a->ptr + g->a_off + i * g->a_stride;
      const double *b = (const double *)g->b->ptr + g->b_off + i * g->b_stride;
      double *c = (double *)g->c->ptr + g->c_off + i * g->c_stride;
#ifdef CLT_HAVE_CBLAS
      cblas_dgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, (int)g->m,
                  (int)g->n, (int)g->k, 1.0, a, (int)g->lda, b, (int)g->ldb, 0.0, c, (int)g->ldc);
#else
      gemm_double(g->ta, g->tb, g->m, g->n, g->k, a, g->lda, b, g->ldb, c, g->ldc);
#endif
    }
  }
}
