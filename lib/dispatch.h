/* The dispatch door: the core calls every compute entry of a backend's table (lib/backend.h)
 * through clt__dispatch, which
 *   - is a fault point ("dispatch(<entry>)"), so the fault sweep fails every backend call on
 *     every device, the host's included;
 *   - under $CLT_CHECK=1, on any table but the reference one, reruns the call on the reference
 *     backend (the host) over copies of the storages it reads and compares what it wrote
 *     (check.c), failing with CLT_ERR_MISMATCH naming the op, the device and the worst element;
 *   - adds the op and the device to the message of a failed call.
 * An entry is described once (dispatch.c): how to call it from an argument record, which fields
 * of the record are storages (those written first), and which elements of each written storage
 * hold the result. The memory entries (alloc, free, read, write, wrap_host, sync, stats) are the
 * storage layer under all of this and are called directly. */
#ifndef CLT_DISPATCH_H
#define CLT_DISPATCH_H

#include "backend.h"
#include "clt/ops.h"
#include "reduce.h"

/* Most storage fields an entry's record holds: optim_steps' four per parameter. */
#define CLT__ENTRY_STORAGES (4 * CLT__OPTIM_SLOTS)

/* The elements of a written storage that hold a call's result: operand 0 of it, elements of
 * esize bytes, compared as dtype dt (within the float tolerances of check.c) or, exact, as
 * bytes. */
typedef struct {
  clt__iter it;
  clt_dtype dt;
  size_t esize;
  bool exact;
} clt__span;

typedef struct clt__entry {
  const char *name;  /* the table entry: "gemm" */
  const char *point; /* its fault point's text: "dispatch(gemm)" */
  /* dev->be's entry called with the record's arguments */
  clt_status (*call)(clt_device *dev, const void *args);
  size_t size; /* bytes of the record */
  int nst, nout;
  size_t st[CLT__ENTRY_STORAGES];          /* offsetof of each clt__storage * field, outputs first */
  const char *field[CLT__ENTRY_STORAGES];  /* their names, for messages */
  /* The result elements of output k (k < nout); false when the call writes none there (a NULL
   * field, an empty result). */
  bool (*span)(const void *args, int k, clt__span *out);
  /* The op the call computes, for messages ("exp", "sum", "adam step"); NULL: name. */
  const char *(*what)(const void *args);
} clt__entry;

/* Calls entry e of dev's table with the record args, through the door. */
clt_status clt__dispatch(clt_device *dev, const clt__entry *e, const void *args);

/* One function per entry, with the entry's own arguments. */
clt_status clt__run_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st);
clt_status clt__run_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                         const clt__storage *src, clt_dtype sdt);
clt_status clt__run_copy(clt_device *dev, const clt__iter *it, clt__storage *dst, const clt__storage *src,
                         size_t esize);
clt_status clt__run_fill(clt_device *dev, const clt__iter *it, clt__storage *dst, size_t esize, const void *value);
clt_status clt__run_rand_uniform(clt_device *dev, clt__storage *dst, int64_t off, int64_t n, clt_dtype dt,
                                 uint64_t seed, uint64_t counter);
clt_status clt__run_reduce(clt_device *dev, const clt__reduce_args *r);
clt_status clt__run_softmax(clt_device *dev, const clt__softmax_args *a);
clt_status clt__run_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                           const clt__storage *index, clt_dtype dt, clt_dtype idt);
clt_status clt__run_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                                const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt);
clt_status clt__run_gemm(clt_device *dev, const clt__gemm_args *g);
clt_status clt__run_ce_fwd(clt_device *dev, const clt__ce_args *a);
clt_status clt__run_ce_bwd(clt_device *dev, const clt__ce_args *a);
clt_status clt__run_norm_fwd(clt_device *dev, const clt__norm_args *a);
clt_status clt__run_norm_bwd(clt_device *dev, const clt__norm_args *a);
clt_status clt__run_attn_fwd(clt_device *dev, const clt__attn_args *a);
clt_status clt__run_attn_bwd(clt_device *dev, const clt__attn_args *a);
clt_status clt__run_windows(clt_device *dev, const clt__win_args *a);
clt_status clt__run_optim_step(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                               int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2);
clt_status clt__run_optim_steps(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int n,
                                const clt__optim_part *parts);

/* The check mode (check.c): whether $CLT_CHECK=1, and the call of entry e on dev (whose table
 * is not the reference) rerun on the reference backend and compared. */
bool clt__check_enabled(void);
clt_status clt__check_call(clt_device *dev, const clt__entry *e, const void *args);

/* Tests: swaps dev's table for be (a copy of it with an entry replaced, say) and returns the one
 * it had. The caller swaps it back before the device is released. */
const clt__backend *clt__device_swap_backend(clt_device *dev, const clt__backend *be);

#endif
