/* Collectives over tensors on any device: the tensor's memory is mapped into the host for MPI
 * (no copy where the device's memory is the host's), then the collective runs in place. */
#include <stdio.h>

#include "../backend.h"
#include "../ew.h"
#include "../fusion.h"
#include "dist_impl.h"

clt_status clt__stage_begin(clt__staged *s, clt_tensor *t, unsigned flags) {
  *s = (clt__staged){.t = t, .flags = flags};
  clt_tensor *src = t;
  if (!clt__is_contig(t)) { /* MPI wants one run of memory */
    if (!(s->tmp = clt__clone(t))) return clt_last_status();
    src = s->tmp;
  }
  size_t es = clt_dtype_size(t->dtype);
  clt_device *dev = src->st->dev;
  clt_status st = clt__fusion_settle(src->st, (flags & CLT__MAP_WRITE) != 0);
  if (st == CLT_OK) st = dev->be->map(dev, src->st, (size_t)src->offset * es, (size_t)src->numel * es, flags, &s->ptr);
  if (st != CLT_OK) {
    clt__tensor_release(s->tmp);
    s->tmp = NULL;
    s->ptr = NULL;
  }
  return st;
}

clt_status clt__stage_end(clt__staged *s, bool ok) {
  clt_tensor *src = s->tmp ? s->tmp : s->t;
  clt_device *dev = src->st->dev;
  clt_status st = s->ptr ? dev->be->unmap(dev, src->st, s->ptr) : CLT_OK;
  s->ptr = NULL;
  if (ok && st == CLT_OK && s->tmp && (s->flags & CLT__MAP_WRITE)) st = clt__copy_into(s->t, s->tmp);
  if (ok && (s->flags & CLT__MAP_WRITE)) { /* written in place, as any in-place op */
    clt__range_forget(s->t->st);
    atomic_fetch_add(&s->t->st->version, 1);
  }
  clt__tensor_release(s->tmp);
  s->tmp = NULL;
  return st;
}

void clt__stage_abandon(clt__staged *s) {
  clt_tensor *src = s->tmp ? s->tmp : s->t;
  atomic_fetch_add(&src->st->refs, 1); /* never released: MPI may still write there */
  clt__range_forget(s->t->st);
  clt__tensor_release(s->tmp);
  s->tmp = NULL;
  s->ptr = NULL;
}

/* Ends a collective started on s: waits for req, then unmaps (abandons the memory to MPI when
 * the wait failed). */
static clt_status finish(clt_dist *d, clt__staged *s, clt__dist_req *req, const char *what) {
  clt_status st = clt__dist_wait(d, req, what);
  if (st != CLT_OK) {
    clt__stage_abandon(s);
    return st;
  }
  return clt__stage_end(s, true);
}

static clt_status check_tensor(const clt_tensor *t) {
  if (!t) return clt__null_arg("t");
  if (!clt__dtype_valid(t->dtype)) return clt__err(CLT_ERR_DTYPE, "t has an invalid dtype %d", (int)t->dtype);
  return CLT_OK;
}

/* Divides n elements of float dt at p by k: the mean from the sum. */
static void divide(void *p, int64_t n, clt_dtype dt, int k) {
  if (dt == CLT_FLOAT32)
    for (int64_t i = 0; i < n; i++) ((float *)p)[i] /= (float)k;
  else
    for (int64_t i = 0; i < n; i++) ((double *)p)[i] /= (double)k;
}

clt_status clt_dist_allreduce(clt_dist *d, clt_tensor *t, clt_dist_op op) {
  clt__api("clt_dist_allreduce");
  clt_status st = clt__dist_usable(d);
  if (st == CLT_OK) st = check_tensor(t);
  if (st != CLT_OK) return st;
  if (op != CLT_DIST_SUM && op != CLT_DIST_MEAN && op != CLT_DIST_MAX)
    return clt__err(CLT_ERR_INVALID_ARG, "op %d is not CLT_DIST_SUM, _MEAN or _MAX", (int)op);
  if (op == CLT_DIST_MEAN && !clt_dtype_is_float(t->dtype))
    return clt__err(CLT_ERR_DTYPE, "CLT_DIST_MEAN of a %s tensor: the mean needs a float dtype", clt_dtype_name(t->dtype));
  if (op == CLT_DIST_SUM && t->dtype == CLT_BOOL)
    return clt__err(CLT_ERR_DTYPE, "CLT_DIST_SUM of a bool tensor: use CLT_DIST_MAX (or), or cast it first");
  if (t->numel == 0) return CLT_OK;
  if (clt__is16(t->dtype)) {
    /* MPI has no 16-bit float: a float32 copy is reduced (sums in float32, as every op of clt's
     * on these dtypes) and rounded once back into t */
    clt_tensor *w = clt__cast(t, CLT_FLOAT32), *back = NULL;
    st = w ? clt_dist_allreduce(d, w, op) : clt_last_status();
    if (st == CLT_OK) st = (back = clt__cast(w, t->dtype)) ? clt__copy_into(t, back) : clt_last_status();
    if (st == CLT_OK) atomic_fetch_add(&t->st->version, 1); /* written in place, as below */
    clt__tensor_release(back);
    clt__tensor_release(w);
    return st;
  }
  clt__staged s;
  if ((st = clt__stage_begin(&s, t, CLT__MAP_READ | CLT__MAP_WRITE)) != CLT_OK) return st;
  clt__dist_req *req;
  st = clt__dist_iallreduce(d, s.ptr, t->numel, t->dtype, op == CLT_DIST_MAX ? CLT_DIST_MAX : CLT_DIST_SUM, &req);
  if (st != CLT_OK) {
    clt__stage_end(&s, false);
    return st;
  }
  char what[64];
  snprintf(what, sizeof what, "an allreduce of %lld %s elements", (long long)t->numel, clt_dtype_name(t->dtype));
  if ((st = clt__dist_wait(d, req, what)) != CLT_OK) {
    clt__stage_abandon(&s);
    return st;
  }
  if (op == CLT_DIST_MEAN) divide(s.ptr, t->numel, t->dtype, clt__dist_size(d));
  return clt__stage_end(&s, true);
}

clt_status clt__dist_broadcast(clt_dist *d, clt_tensor *t, int root) {
  int size = clt__dist_size(d);
  if (root < 0 || root >= size) return clt__err(CLT_ERR_INVALID_ARG, "root %d is not a rank of 0..%d", root, size - 1);
  if (t->numel == 0) return CLT_OK;
  bool sender = clt__dist_rank(d) == root;
  clt__staged s;
  clt_status st = clt__stage_begin(&s, t, sender ? CLT__MAP_READ : CLT__MAP_WRITE);
  if (st != CLT_OK) return st;
  clt__dist_req *req;
  st = clt__dist_ibcast(d, s.ptr, (size_t)t->numel * clt_dtype_size(t->dtype), root, &req);
  if (st != CLT_OK) {
    clt__stage_end(&s, false);
    return st;
  }
  char what[80];
  snprintf(what, sizeof what, "a broadcast of %lld %s elements from rank %d", (long long)t->numel,
           clt_dtype_name(t->dtype), root);
  return finish(d, &s, req, what);
}

clt_status clt_dist_broadcast(clt_dist *d, clt_tensor *t, int root) {
  clt__api("clt_dist_broadcast");
  clt_status st = clt__dist_usable(d);
  if (st == CLT_OK) st = check_tensor(t);
  return st == CLT_OK ? clt__dist_broadcast(d, t, root) : st;
}

clt_tensor *clt_dist_all_gather(clt_dist *d, clt_tensor *t) {
  clt__api("clt_dist_all_gather");
  if (clt__dist_usable(d) != CLT_OK || check_tensor(t) != CLT_OK) return NULL;
  if (t->ndim == CLT_MAX_DIMS)
    return clt__err(CLT_ERR_SHAPE, "t has %d dims: the result would have more than %d", t->ndim, CLT_MAX_DIMS), NULL;
  int64_t shape[CLT_MAX_DIMS];
  shape[0] = clt__dist_size(d);
  for (int i = 0; i < t->ndim; i++) shape[i + 1] = t->shape[i];
  clt_tensor *out = clt__empty(t->st->dev, t->dtype, t->ndim + 1, shape);
  if (!out || t->numel == 0) return clt__ret(out);
  clt__staged in, all;
  clt_status st = clt__stage_begin(&in, t, CLT__MAP_READ);
  if (st == CLT_OK && (st = clt__stage_begin(&all, out, CLT__MAP_WRITE)) != CLT_OK) clt__stage_end(&in, false);
  clt__dist_req *req = NULL;
  if (st == CLT_OK) {
    st = clt__dist_iallgather(d, in.ptr, (size_t)t->numel * clt_dtype_size(t->dtype), all.ptr, &req);
    if (st != CLT_OK) {
      clt__stage_end(&all, false);
      clt__stage_end(&in, false);
    }
  }
  if (st == CLT_OK) {
    st = clt__dist_wait(d, req, "an all_gather");
    if (st != CLT_OK) {
      clt__stage_abandon(&all);
      clt__stage_abandon(&in);
    } else {
      st = clt__stage_end(&all, true);
      clt_status s2 = clt__stage_end(&in, true);
      if (st == CLT_OK) st = s2;
    }
  }
  if (st != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  return clt__ret(out);
}

clt_status clt_dist_barrier(clt_dist *d) {
  clt__api("clt_dist_barrier");
  clt_status st = clt__dist_usable(d);
  clt__dist_req *req;
  if (st == CLT_OK) st = clt__dist_ibarrier(d, &req);
  return st == CLT_OK ? clt__dist_wait(d, req, "a barrier") : st;
}
