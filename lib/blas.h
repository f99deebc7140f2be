/* The CPU's matrix product (blas.c), shared by the backends whose memory the host addresses. */
#ifndef CLT_BLAS_H
#define CLT_BLAS_H

#include "backend.h"

/* The two halves of a GEMM on host memory (every operand's storage has ptr set): the sizes the
 * provider takes (an error otherwise), then the product, which cannot fail, so that it may run
 * where no error can be reported (an OpenCL event callback). */
clt_status clt__cpu_gemm_check(const clt__gemm_args *g);
void clt__cpu_gemm_run(const clt__gemm_args *g);

/* Whether a product of madds multiply-adds of dtype dt runs on the calling thread alone
 * (chooses the float32 provider where the product would): callers that can split work into
 * products of several sizes (conv2d) take those that do, as more threads on a busy CPU device
 * cost more than they give. */
bool clt__cpu_gemm_serial(clt_dtype dt, int64_t madds);

#endif
