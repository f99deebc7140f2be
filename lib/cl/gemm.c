/* Matrix products on OpenCL: CLBlast's GEMM (strided-batched for batches), or kernels/gemm.cl
 * in builds without CLBlast. Every event CLBlast returns is released. */
#include <stdatomic.h>
#include <stdio.h>

#include "cl_internal.h"

#ifdef CLT_HAVE_CLBLAST
#include <clblast_c.h>

static const char *clblast_name(int code) {
  switch (code) {
    case -1024: return "CLBlastNotImplemented";
    case -1017: return "CLBlastInvalidDimension";
    case -1016: return "CLBlastInvalidLeadDimA";
    case -1015: return "CLBlastInvalidLeadDimB";
    case -1014: return "CLBlastInvalidLeadDimC";
    case -1011: return "CLBlastInsufficientMemoryA";
    case -1010: return "CLBlastInsufficientMemoryB";
    case -1009: return "CLBlastInsufficientMemoryC";
    case -2049: return "CLBlastInvalidBatchCount";
    case -2046: return "CLBlastInvalidLocalMemUsage";
    case -2044: return "CLBlastNoDoublePrecision";
    case -2041: return "CLBlastDatabaseError";
    case -2040: return "CLBlastUnknownError";
    case -2039: return "CLBlastUnexpectedError";
    default: return clt__cl_error_name(code);
  }
}

clt_status clt__cl_gemm(clt_device *dev, const clt__gemm_args *g) {
  clt__cl_dev *d = clt__cl(dev);
  CLBlastTranspose ta = g->ta ? CLBlastTransposeYes : CLBlastTransposeNo, tb = g->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
  cl_mem a = clt__cl_mem(g->a), b = clt__cl_mem(g->b), c = clt__cl_mem(g->c);
  size_t m = (size_t)g->m, n = (size_t)g->n, k = (size_t)g->k;
  cl_event ev = NULL;
  int st;
  const char *fn;
  if (g->batch == 1 && g->dt == CLT_FLOAT32) {
    fn = "CLBlastSgemm";
    st = CLT__CL(CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0f, a, (size_t)g->a_off, (size_t)g->lda, b,
                              (size_t)g->b_off, (size_t)g->ldb, 0.0f, c, (size_t)g->c_off, (size_t)g->ldc, &d->queue, &ev));
  } else if (g->batch == 1) {
    fn = "CLBlastDgemm";
    st = CLT__CL(CLBlastDgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0, a, (size_t)g->a_off, (size_t)g->lda, b,
                              (size_t)g->b_off, (size_t)g->ldb, 0.0, c, (size_t)g->c_off, (size_t)g->ldc, &d->queue, &ev));
  } else if (g->dt == CLT_FLOAT32) {
    fn = "CLBlastSgemmStridedBatched";
    st = CLT__CL(CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0f, a, (size_t)g->a_off,
                                            (size_t)g->lda, (size_t)g->a_stride, b, (size_t)g->b_off, (size_t)g->ldb,
                                            (size_t)g->b_stride, 0.0f, c, (size_t)g->c_off, (size_t)g->ldc,
                                            (size_t)g->c_stride, (size_t)g->batch, &d->queue, &ev));
  } else {
    fn = "CLBlastDgemmStridedBatched";
    st = CLT__CL(CLBlastDgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0, a, (size_t)g->a_off,
                                            (size_t)g->lda, (size_t)g->a_stride, b, (size_t)g->b_off, (size_t)g->ldb,
                                            (size_t)g->b_stride, 0.0, c, (size_t)g->c_off, (size_t)g->ldc,
                                            (size_t)g->c_stride, (size_t)g->batch, &d->queue, &ev));
  }
  if (ev) clReleaseEvent(ev);
  if (st != 0) {
    clt_status s = st == CL_MEM_OBJECT_ALLOCATION_FAILURE || st == CL_OUT_OF_RESOURCES ? CLT_ERR_DEVICE_OOM
                   : st == CL_OUT_OF_HOST_MEMORY                                     ? CLT_ERR_OOM
                                                                                     : CLT_ERR_BACKEND;
    return clt__err(s, "%s failed with %s (%d): %lldx%lldx%lld, batch %lld, %s on %s", fn, clblast_name(st), st,
                    (long long)g->m, (long long)g->n, (long long)g->k, (long long)g->batch, clt_dtype_name(g->dt),
                    dev->info.spec);
  }
  return CLT_OK;
}

/* CLBlast caches compiled kernels for every context it saw; the last device gone frees them. */
static atomic_int open_devices;
void clt__cl_gemm_device_opened(void) { atomic_fetch_add(&open_devices, 1); }
void clt__cl_gemm_device_closed(void) {
  if (atomic_fetch_sub(&open_devices, 1) == 1) CLBlastClearCache();
}

#else

clt_status clt__cl_gemm(clt_device *dev, const clt__gemm_args *g) {
  clt__cl_dev *d = clt__cl(dev);
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_gemm, (int)g->dt, "gemm", &k);
  if (s != CLT_OK) return s;
  cl_long m = g->m, n = g->n, kk = g->k;
  cl_int ta = g->ta, tb = g->tb;
  cl_mem a = clt__cl_mem(g->a), b = clt__cl_mem(g->b), c = clt__cl_mem(g->c);
  cl_long v[10] = {g->a_off, g->lda, g->a_stride, g->b_off, g->ldb, g->b_stride, g->c_off, g->ldc, g->c_stride, g->batch};
  clt__cl_args x = {k->kernel, 0, CL_SUCCESS};
  CLT__ARG(&x, m);
  CLT__ARG(&x, n);
  CLT__ARG(&x, kk);
  CLT__ARG(&x, ta);
  CLT__ARG(&x, tb);
  CLT__ARG(&x, a);
  for (int i = 0; i < 3; i++) CLT__ARG(&x, v[i]);
  CLT__ARG(&x, b);
  for (int i = 3; i < 6; i++) CLT__ARG(&x, v[i]);
  CLT__ARG(&x, c);
  for (int i = 6; i < 10; i++) CLT__ARG(&x, v[i]);
  return clt__cl_launch(d, k, &x, (size_t)(g->batch * g->m * g->n));
}

void clt__cl_gemm_device_opened(void) {}
void clt__cl_gemm_device_closed(void) {}

#endif
