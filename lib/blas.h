/* The CPU's matrix product (blas.c), shared by the backends whose memory the host addresses. */
#ifndef CLT_BLAS_H
#define CLT_BLAS_H

#include "backend.h"

/* The two halves of a GEMM on host memory (every operand's storage has ptr set): the sizes the
 * provider takes (an error otherwise), then the product, which cannot fail, so that it may run
 * where no error can be reported (an OpenCL event callback). */
clt_status clt__cpu_gemm_check(const clt__gemm_args *g);
void clt__cpu_gemm_run(const clt__gemm_args *g);

#endif
