/* The communication layer under clt/dist.h: comm_mpi.c implements it over MPI, comm_none.c (a
 * build without MPI) refuses it; tensor.c and ddp.c build on it and never name MPI. Buffers are
 * host memory (device tensors are mapped first: tensor.c). */
#ifndef CLT_DIST_IMPL_H
#define CLT_DIST_IMPL_H

#include "../core.h"
#include "clt/dist.h"

/* CLT_OK for a handle collectives may use; else records why not: no MPI in this build
 * (CLT_ERR_UNSUPPORTED), d NULL (CLT_ERR_INVALID_ARG), or an earlier failure (CLT_ERR_STATE). */
clt_status clt__dist_usable(const clt_dist *d);
clt_dist *clt__dist_retain(clt_dist *d);
void clt__dist_release(clt_dist *d);
int clt__dist_rank(const clt_dist *d);
int clt__dist_size(const clt_dist *d);
/* Whether MPI may be called from a thread other than the one that initialised it, one thread at
 * a time (MPI_THREAD_SERIALIZED or more). */
bool clt__dist_threads_ok(const clt_dist *d);
/* Ranks on this machine (this one included). */
int clt__dist_local_size(const clt_dist *d);

/* One collective in flight (possibly several MPI requests, for counts past MPI's int). */
typedef struct clt__dist_req clt__dist_req;

/* Starts op (CLT_DIST_SUM or CLT_DIST_MAX) over count elements of dt at buf, in place. */
clt_status clt__dist_iallreduce(clt_dist *d, void *buf, int64_t count, clt_dtype dt, clt_dist_op op,
                                clt__dist_req **req);
/* Starts a broadcast of bytes bytes at buf from root. */
clt_status clt__dist_ibcast(clt_dist *d, void *buf, size_t bytes, int root, clt__dist_req **req);
/* Starts the gather of every rank's bytes bytes at src into dst (size * bytes), in rank order. */
clt_status clt__dist_iallgather(clt_dist *d, const void *src, size_t bytes, void *dst, clt__dist_req **req);
clt_status clt__dist_ibarrier(clt_dist *d, clt__dist_req **req);

/* Lets MPI progress req: *done gets whether it completed (req is then freed). A failure marks
 * d failed and frees req as clt__dist_wait's. */
clt_status clt__dist_test(clt_dist *d, clt__dist_req *req, bool *done);
/* Waits for req (what names it in messages) and frees it. Past the handle's timeout, or when MPI
 * reports a failure, marks d failed and returns CLT_ERR_BACKEND: the operation then stays in
 * flight inside MPI, and the memory it names must stay allocated (clt__stage_abandon). */
clt_status clt__dist_wait(clt_dist *d, clt__dist_req *req, const char *what);

/* *same gets whether every rank passed the same v (one small allreduce; the same answer on
 * every rank). */
clt_status clt__dist_same(clt_dist *d, uint64_t v, bool *same);

/* Tensor collectives without naming a public function (tensor.c). */
clt_status clt__dist_broadcast(clt_dist *d, clt_tensor *t, int root);

/* Host access to a tensor's elements for MPI (tensor.c): the mapped storage when t is
 * contiguous, else a contiguous copy, written back by stage_end when the flags have
 * CLT__MAP_WRITE. */
typedef struct {
  clt_tensor *t, *tmp;
  void *ptr;
  unsigned flags;
} clt__staged;
clt_status clt__stage_begin(clt__staged *s, clt_tensor *t, unsigned flags);
/* Unmaps (and writes back); ok false after a failed collective, which skips the write-back. */
clt_status clt__stage_end(clt__staged *s, bool ok);
/* After a timeout: MPI may still write to the staged memory, which is kept (mapped, with a
 * reference) until the process exits. */
void clt__stage_abandon(clt__staged *s);

#endif
