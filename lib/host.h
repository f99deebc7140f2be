/* Host backend helpers shared by the host reference implementations. */
#ifndef CLT_HOST_H
#define CLT_HOST_H

#include "backend.h"

/* One contiguous-in-index run of a walk: n elements; operand k starts at element off[k] and
 * steps by step[k]. */
typedef void (*clt__host_run_fn)(void *ctx, const int64_t *off, int64_t n, const int64_t *step);
/* Calls fn once per innermost row of it, in row-major order. */
void clt__host_walk(const clt__iter *it, clt__host_run_fn fn, void *ctx);

clt_status clt__host_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st);
clt_status clt__host_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                          const clt__storage *src, clt_dtype sdt);

clt_status clt__host_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                            const clt__storage *index, clt_dtype dt, clt_dtype idt);
clt_status clt__host_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                                 const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt);

clt_status clt__host_gemm(clt_device *dev, const clt__gemm_args *g);
/* The two halves of clt__host_gemm: the sizes CBLAS takes (an error otherwise), then the product,
 * which cannot fail (so it may run where no error can be reported: an OpenCL native kernel). */
clt_status clt__host_gemm_check(const clt__gemm_args *g);
void clt__host_gemm_run(const clt__gemm_args *g);

clt_status clt__host_ce_fwd(clt_device *dev, const clt__ce_args *a);
clt_status clt__host_ce_bwd(clt_device *dev, const clt__ce_args *a);
clt_status clt__host_optim_step(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                                int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2);

static inline void *clt__host_ptr(const clt__storage *st) { return st->ptr; }

#endif
