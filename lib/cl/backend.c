/* The OpenCL implementation of the backend table. */
#include <stdio.h>
#include <string.h>

#include "cl_internal.h"
#include "clt/nn.h"

/* Blocking transfers and maps: the in-order queue has run everything enqueued before them when
 * they return, which the host route (ew.c) counts as settled. */
static clt_status cl_write(clt_device *dev, clt__storage *st, size_t off, const void *src, size_t n) {
  clt__cl_dev *d = clt__cl(dev);
  unsigned long long at = clt__cl_settle_begin(d);
  cl_int err = CLT__CL(clEnqueueWriteBuffer(d->queue, clt__cl_mem(st), CL_TRUE, off, n, src, 0, NULL, NULL));
  if (err != CL_SUCCESS)
    return clt__cl_fail("clEnqueueWriteBuffer", err, "%zu bytes to %s", n, dev->info.spec);
  clt__cl_settle_end(d, at);
  return CLT_OK;
}

static clt_status cl_read(clt_device *dev, const clt__storage *st, size_t off, void *dst, size_t n) {
  clt__cl_dev *d = clt__cl(dev);
  unsigned long long at = clt__cl_settle_begin(d);
  cl_int err = CLT__CL(clEnqueueReadBuffer(d->queue, clt__cl_mem(st), CL_TRUE, off, n, dst, 0, NULL, NULL));
  if (err != CL_SUCCESS)
    return clt__cl_fail("clEnqueueReadBuffer", err, "%zu bytes from %s", n, dev->info.spec);
  clt__cl_settle_end(d, at);
  return CLT_OK;
}

/* Blocking, so the memory is ready when it returns. Under the enqueue lock, as the GEMM's maps
 * (gemm.c): PoCL tells mappings of one buffer apart by their pointers. */
/* A map waits for the queue and hands out host memory. Where the host route knows the buffer's
 * own address (PoCL's CPU device, lib/cl/ew.c), a clFinish and that address do both: PoCL's
 * blocking clEnqueueMapBuffer is a round trip through its driver thread, 27-50 us whatever the
 * size, which had cost the distributed module's device allreduces up to half of their time at
 * 1 MB (docs/DISTRIBUTED.md); clFinish on a settled queue costs about 10 ns. Such a map has no
 * PoCL mapping to undo, so cl_unmap does nothing for it. Both hold the enqueue lock as the
 * blocking map did, so no command is queued on the device while it waits. */
static clt_status cl_map(clt_device *dev, clt__storage *st, size_t off, size_t n, unsigned flags, void **ptr) {
  clt__cl_dev *d = clt__cl(dev);
  void *own = clt__cl_hostptr_of(d, st);
  if (own) {
    unsigned long long at = clt__cl_settle_begin(d);
    clt__mutex_lock(&d->enqueue_lock);
    cl_int err = CLT__CL(clFinish(d->queue));
    clt__mutex_unlock(&d->enqueue_lock);
    if (err != CL_SUCCESS)
      return clt__cl_fail("clFinish", err, "waiting for %s before handing %zu bytes to the host", dev->info.spec, n);
    clt__cl_settle_end(d, at);
    *ptr = (char *)own + off;
    return CLT_OK;
  }
  cl_map_flags f = !(flags & CLT__MAP_READ) ? CL_MAP_WRITE_INVALIDATE_REGION
                   : flags & CLT__MAP_WRITE ? CL_MAP_READ | CL_MAP_WRITE
                                            : CL_MAP_READ;
  cl_int err = CL_SUCCESS;
  unsigned long long at = clt__cl_settle_begin(d);
  clt__mutex_lock(&d->enqueue_lock);
  void *p = CLT__CL_OBJ(&err, clEnqueueMapBuffer(d->queue, clt__cl_mem(st), CL_TRUE, f, off, n, 0, NULL, NULL, &err));
  clt__mutex_unlock(&d->enqueue_lock);
  if (err != CL_SUCCESS || !p)
    return clt__cl_fail("clEnqueueMapBuffer", err, "mapping %zu bytes of %s into host memory", n, dev->info.spec);
  clt__cl_settle_end(d, at);
  *ptr = p;
  return CLT_OK;
}

static clt_status cl_unmap(clt_device *dev, clt__storage *st, void *ptr) {
  clt__cl_dev *d = clt__cl(dev);
  if (clt__cl_hostptr_of(d, st)) return CLT_OK; /* its map was the buffer's own address (cl_map) */
  clt__mutex_lock(&d->enqueue_lock);
  cl_int err = CLT__CL(clEnqueueUnmapMemObject(d->queue, clt__cl_mem(st), ptr, 0, NULL, NULL));
  clt__mutex_unlock(&d->enqueue_lock);
  clt__cl_queued(d);
  return err == CL_SUCCESS ? CLT_OK : clt__cl_fail("clEnqueueUnmapMemObject", err, "unmapping a buffer of %s", dev->info.spec);
}

static const char *esize_suffix(size_t esize) { return esize == 1 ? "1" : esize == 2 ? "2" : esize == 4 ? "4" : "8"; }

static clt_status cl_copy(clt_device *dev, const clt__iter *it, clt__storage *dst, const clt__storage *src,
                          size_t esize) {
  clt__cl_dev *d = clt__cl(dev);
  /* Under a memory checker (CLT_NO_MEMORY_CACHING) the copy kernel instead: Oclgrind 21.10's
   * clEnqueueCopyBuffer into part of a buffer marks the rest of it uninitialized (a fill, then
   * a copy into a slice, then an add reported every element outside the slice) */
  if (it->contiguous && d->no_caching == CLT__CACHING) {
    cl_int err = CLT__CL(clEnqueueCopyBuffer(d->queue, clt__cl_mem(src), clt__cl_mem(dst), (size_t)it->offset[1] * esize,
                                             (size_t)it->offset[0] * esize, (size_t)it->numel * esize, 0, NULL, NULL));
    clt__cl_queued(d);
    if (err != CL_SUCCESS)
      return clt__cl_fail("clEnqueueCopyBuffer", err, "%lld elements of %zu bytes", (long long)it->numel, esize);
    return CLT_OK;
  }
  clt__iter flat;
  if (it->contiguous) { /* a memory checker's contiguous copy: one dim of unit strides */
    flat = *it;
    flat.contiguous = false;
    flat.ndim = 1;
    flat.shape[0] = it->numel;
    flat.strides[0][0] = flat.strides[1][0] = 1;
    it = &flat;
  }
  cl_mem dm = clt__cl_mem(dst), sm = clt__cl_mem(src);
  bool tiled;
  clt_status st = clt__cl_copy_tiled(d, it, dm, sm, esize, &tiled);
  if (st != CLT_OK || tiled) return st;
  char name[32];
  snprintf(name, sizeof name, "copy_strided_%s", esize_suffix(esize));
  clt__cl_kernel_entry *k;
  st = clt__cl_kernel(d, CLT__KFAM_copy, CLT__VARIANT_NONE, name, &k);
  if (st != CLT_OK) return st;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  CLT__ARG(&a, dm);
  CLT__ARG(&a, sm);
  cl_uint walk = clt__cl_arg_slot(&a, sizeof(clt__cl_walk));
  return clt__cl_launch_iter(d, &a, walk, it);
}

static clt_status cl_fill(clt_device *dev, const clt__iter *it, clt__storage *dst, size_t esize, const void *value) {
  clt__cl_dev *d = clt__cl(dev);
  char name[32];
  snprintf(name, sizeof name, it->contiguous ? "fill_%s" : "fill_strided_%s", esize_suffix(esize));
  clt__cl_kernel_entry *k;
  clt_status st = clt__cl_kernel(d, CLT__KFAM_copy, CLT__VARIANT_NONE, name, &k);
  if (st != CLT_OK) return st;
  cl_mem dm = clt__cl_mem(dst);
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  CLT__ARG(&a, dm);
  if (it->contiguous) {
    cl_long off = it->offset[0], n = it->numel;
    CLT__ARG(&a, off);
    CLT__ARG(&a, n);
  }
  cl_uint walk = it->contiguous ? 0 : clt__cl_arg_slot(&a, sizeof(clt__cl_walk));
  clt__cl_arg(&a, esize, value);
  return clt__cl_launch_iter(d, &a, walk, it);
}

static clt_status cl_rand(clt_device *dev, clt__storage *dst, int64_t off, int64_t n, clt_dtype dt, uint64_t seed,
                          uint64_t counter) {
  clt__cl_dev *d = clt__cl(dev);
  clt__cl_kernel_entry *k;
  clt_status st = clt__cl_kernel(d, CLT__KFAM_random, CLT__VARIANT_NONE, dt == CLT_FLOAT64 ? "rand_f64" : "rand_f32", &k);
  if (st != CLT_OK) return st;
  cl_mem dm = clt__cl_mem(dst);
  cl_long o = off, cn = n;
  cl_uint k0 = (cl_uint)seed, k1 = (cl_uint)(seed >> 32);
  cl_ulong c = counter;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  CLT__ARG(&a, dm);
  CLT__ARG(&a, o);
  CLT__ARG(&a, cn);
  CLT__ARG(&a, k0);
  CLT__ARG(&a, k1);
  CLT__ARG(&a, c);
  return clt__cl_launch(d, &a, (size_t)clt__philox_blocks(dt, n));
}

static clt_status cl_sync(clt_device *dev) {
  clt__cl_dev *d = clt__cl(dev);
  unsigned long long at = clt__cl_settle_begin(d);
  cl_int err = CLT__CL(clFinish(d->queue));
  if (err != CL_SUCCESS) return clt__cl_fail("clFinish", err, "waiting for %s", dev->info.spec);
  clt__cl_settle_end(d, at);
  return CLT_OK;
}

/* A buffer's host address is learnt when the pool hands it out (ew.c: the host route). */
static clt_status cl_alloc(clt_device *dev, clt__storage *st) {
  clt_status s = clt__cl_alloc(dev, st);
  if (s == CLT_OK && (s = clt__cl_hostptr_learn(clt__cl(dev), st)) != CLT_OK) {
    clt__cl_free(dev, st);
    st->handle = NULL;
  }
  return s;
}

/* The GEMM's maps, unmaps and CLBlast's kernels go on the queue (gemm.c). */
static clt_status cl_gemm(clt_device *dev, const clt__gemm_args *g) {
  clt_status s = clt__cl_gemm(dev, g);
  clt__cl_queued(clt__cl(dev));
  return s;
}

static void cl_empty_cache(clt_device *dev) { clt__cl_pool_empty(clt__cl(dev)); }

const clt__backend clt__cl_backend = {
    .name = "opencl",
    .destroy = clt__cl_destroy,
    .alloc = cl_alloc,
    .free = clt__cl_free,
    .write = cl_write,
    .read = cl_read,
    .copy = cl_copy,
    .fill = cl_fill,
    .rand_uniform = cl_rand,
    .ew = clt__cl_ew,
    .cast = clt__cl_cast,
    .reduce = clt__cl_reduce,
    .softmax = clt__cl_softmax,
    .gather = clt__cl_gather,
    .scatter_add = clt__cl_scatter_add,
    .gemm = cl_gemm,
    .ce_fwd = clt__cl_ce_fwd,
    .ce_bwd = clt__cl_ce_bwd,
    .norm_fwd = clt__cl_norm_fwd,
    .norm_bwd = clt__cl_norm_bwd,
    .attn_fwd = clt__cl_attn_fwd,
    .attn_bwd = clt__cl_attn_bwd,
    .windows = clt__cl_windows,
    .optim_step = clt__cl_optim_step,
    .optim_steps = clt__cl_optim_steps,
    .wrap_host = clt__cl_wrap_host,
    .wrap_handle = clt__cl_wrap_handle,
    .map = cl_map,
    .unmap = cl_unmap,
    .sync = cl_sync,
    .memory_stats = clt__cl_memory_stats,
    .empty_cache = cl_empty_cache,
};
