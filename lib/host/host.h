/* The host backend's own header: only files of the host backend (lib/host/) include it. The
 * core reaches the backend through the registry and its table (lib/backend.h), never through
 * these names. */
#ifndef CLT_HOST_H
#define CLT_HOST_H

#include "../backend.h"
#include "../reduce.h"

/* One contiguous-in-index run of a walk: n elements; operand k starts at element off[k] and
 * steps by step[k]. */
typedef void (*clt__host_run_fn)(void *ctx, const int64_t *off, int64_t n, const int64_t *step);
/* Calls fn once per innermost row of it, in row-major order. */
void clt__host_walk(const clt__iter *it, clt__host_run_fn fn, void *ctx);

/* The table's entries, one file per family: ew.c, index.c, reduce.c, nn.c,
 * norm.c, attn.c, conv.c. */
clt_status clt__host_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st);
clt_status clt__host_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                          const clt__storage *src, clt_dtype sdt);

clt_status clt__host_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                            const clt__storage *index, clt_dtype dt, clt_dtype idt);
clt_status clt__host_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                                 const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt);

clt_status clt__host_reduce(clt_device *dev, const clt__reduce_args *r);
clt_status clt__host_softmax(clt_device *dev, const clt__softmax_args *a);

clt_status clt__host_ce_fwd(clt_device *dev, const clt__ce_args *a);
clt_status clt__host_ce_bwd(clt_device *dev, const clt__ce_args *a);
clt_status clt__host_norm_fwd(clt_device *dev, const clt__norm_args *a);
clt_status clt__host_norm_bwd(clt_device *dev, const clt__norm_args *a);
clt_status clt__host_attn_fwd(clt_device *dev, const clt__attn_args *a);
clt_status clt__host_attn_bwd(clt_device *dev, const clt__attn_args *a);
clt_status clt__host_windows(clt_device *dev, const clt__win_args *a);
clt_status clt__host_optim_step(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                                int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2);
clt_status clt__host_optim_steps(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int n,
                                 const clt__optim_part *parts);

#endif
