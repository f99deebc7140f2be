/* The host backend: plain memory and reference loops. It is always present, the registry's first
 * entry, and the reference every other backend is checked against ($CLT_CHECK). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../blas.h"
#include "host.h"

/* Memory statistics, updated by every thread using the handle (include/clt/device.h): atomic,
 * so the single-thread path takes no lock. */
typedef struct {
  atomic_uint_least64_t in_use, peak, allocations;
} host_state;

void clt__host_walk(const clt__iter *it, clt__host_run_fn fn, void *ctx) {
  if (it->numel == 0) return;
  int last = it->ndim - 1;
  int64_t n = it->shape[last];
  int64_t step[CLT__MAX_OPS], off[CLT__MAX_OPS], idx[CLT_MAX_DIMS] = {0};
  for (int k = 0; k < it->nops; k++) {
    step[k] = it->strides[k][last];
    off[k] = it->offset[k];
  }
  int64_t rows = it->numel / n;
  for (int64_t r = 0; r < rows; r++) {
    fn(ctx, off, n, step);
    for (int d = last - 1; d >= 0; d--) { /* odometer over the outer dims */
      for (int k = 0; k < it->nops; k++) off[k] += it->strides[k][d];
      if (++idx[d] < it->shape[d]) break;
      for (int k = 0; k < it->nops; k++) off[k] -= it->strides[k][d] * it->shape[d];
      idx[d] = 0;
    }
  }
}

static clt_status host_alloc(clt_device *dev, clt__storage *st) {
  st->ptr = clt__malloc(st->nbytes);
  if (!st->ptr)
    return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes of host memory", st->nbytes);
  st->capacity = st->nbytes;
  host_state *hs = dev->impl;
  uint_least64_t now = atomic_fetch_add(&hs->in_use, st->nbytes) + st->nbytes;
  atomic_fetch_add(&hs->allocations, 1);
  uint_least64_t peak = atomic_load(&hs->peak);
  while (now > peak && !atomic_compare_exchange_weak(&hs->peak, &peak, now)) {
  }
  return CLT_OK;
}

static void host_free(clt_device *dev, clt__storage *st) {
  host_state *hs = dev->impl;
  atomic_fetch_sub(&hs->in_use, st->capacity);
  clt__free_mem(st->ptr);
}

static clt_status host_write(clt_device *dev, clt__storage *st, size_t off, const void *src,
                             size_t n) {
  (void)dev;
  memcpy((char *)st->ptr + off, src, n);
  return CLT_OK;
}

static clt_status host_read(clt_device *dev, const clt__storage *st, size_t off, void *dst,
                            size_t n) {
  (void)dev;
  memcpy(dst, (const char *)st->ptr + off, n);
  return CLT_OK;
}

typedef struct {
  char *dst;
  const char *src;
  size_t esize;
} copy_ctx;

static void copy_run(void *vctx, const int64_t *off, int64_t n, const int64_t *step) {
  copy_ctx *c = vctx;
  size_t es = c->esize;
  char *d = c->dst + (size_t)off[0] * es;
  const char *s = c->src + (size_t)off[1] * es;
  if (step[0] == 1 && step[1] == 1) {
    memmove(d, s, (size_t)n * es);
    return;
  }
  for (int64_t i = 0; i < n; i++) memcpy(d + (size_t)(i * step[0]) * es, s + (size_t)(i * step[1]) * es, es);
}

static clt_status host_copy(clt_device *dev, const clt__iter *it, clt__storage *dst,
                            const clt__storage *src, size_t esize) {
  (void)dev;
  copy_ctx c = {dst->ptr, src->ptr, esize};
  clt__host_walk(it, copy_run, &c);
  return CLT_OK;
}

typedef struct {
  char *dst;
  const void *value;
  size_t esize;
} fill_ctx;

static void fill_run(void *vctx, const int64_t *off, int64_t n, const int64_t *step) {
  fill_ctx *c = vctx;
  char *d = c->dst + (size_t)off[0] * c->esize;
  for (int64_t i = 0; i < n; i++) memcpy(d + (size_t)(i * step[0]) * c->esize, c->value, c->esize);
}

static clt_status host_fill(clt_device *dev, const clt__iter *it, clt__storage *dst,
                            size_t esize, const void *value) {
  (void)dev;
  fill_ctx c = {dst->ptr, value, esize};
  clt__host_walk(it, fill_run, &c);
  return CLT_OK;
}

static clt_status host_rand(clt_device *dev, clt__storage *dst, int64_t off, int64_t n,
                            clt_dtype dt, uint64_t seed, uint64_t counter) {
  (void)dev;
  clt__philox_uniform((char *)dst->ptr + (size_t)off * clt_dtype_size(dt), dt, n, seed, counter);
  return CLT_OK;
}

static clt_status host_gemm(clt_device *dev, const clt__gemm_args *g) {
  (void)dev;
  clt_status s = clt__cpu_gemm_check(g);
  if (s == CLT_OK) clt__cpu_gemm_run(g);
  return s;
}

static clt_status host_map(clt_device *dev, clt__storage *st, size_t off, size_t n, unsigned flags, void **ptr) {
  (void)dev, (void)n, (void)flags;
  *ptr = (char *)st->ptr + off;
  return CLT_OK;
}

static clt_status host_unmap(clt_device *dev, clt__storage *st, void *ptr) {
  (void)dev, (void)st, (void)ptr;
  return CLT_OK;
}

static clt_status host_sync(clt_device *dev) {
  (void)dev;
  return CLT_OK;
}

static void host_stats(const clt_device *dev, clt_memory_stats *out) {
  const host_state *hs = dev->impl;
  memset(out, 0, sizeof *out);
  out->bytes_in_use = atomic_load(&hs->in_use);
  out->peak_bytes_in_use = atomic_load(&hs->peak);
  out->allocations = atomic_load(&hs->allocations);
}

static void host_empty_cache(clt_device *dev) { (void)dev; }

static void host_destroy(clt_device *dev) { clt__free_mem(dev->impl); }

static const clt__backend host_backend = {
    .name = "host",
    .reference = true,
    .destroy = host_destroy,
    .alloc = host_alloc,
    .free = host_free,
    .write = host_write,
    .read = host_read,
    .copy = host_copy,
    .fill = host_fill,
    .rand_uniform = host_rand,
    .ew = clt__host_ew,
    .cast = clt__host_cast,
    .reduce = clt__host_reduce,
    .softmax = clt__host_softmax,
    .gather = clt__host_gather,
    .scatter_add = clt__host_scatter_add,
    .gemm = host_gemm,
    .ce_fwd = clt__host_ce_fwd,
    .ce_bwd = clt__host_ce_bwd,
    .norm_fwd = clt__host_norm_fwd,
    .norm_bwd = clt__host_norm_bwd,
    .attn_fwd = clt__host_attn_fwd,
    .attn_bwd = clt__host_attn_bwd,
    .windows = clt__host_windows,
    .optim_step = clt__host_optim_step,
    .optim_steps = clt__host_optim_steps,
    .map = host_map,
    .unmap = host_unmap,
    .sync = host_sync,
    .memory_stats = host_stats,
    .empty_cache = host_empty_cache,
};

/* The host's record; one device, spec "host". */
static void host_info(clt_device_info *in) {
  memset(in, 0, sizeof *in);
  snprintf(in->spec, sizeof in->spec, "host");
  snprintf(in->backend, sizeof in->backend, "host");
  snprintf(in->name, sizeof in->name, "host memory (reference backend)");
  snprintf(in->vendor, sizeof in->vendor, "clt");
  snprintf(in->driver_version, sizeof in->driver_version, "%s", clt_version());
  in->type = CLT_DEVICE_HOST;
  in->compute_units = 1;
  in->fp64 = true;
  in->host_unified_memory = true;
  in->max_alloc_bytes = (uint64_t)PTRDIFF_MAX;
  in->global_mem_bytes = (uint64_t)PTRDIFF_MAX;
}

static clt_status host_list(clt_device_info *info, size_t cap, size_t *count) {
  if (cap > 0) host_info(&info[0]);
  *count = 1;
  return CLT_OK;
}

static clt_status host_open(size_t index, clt_device **out) {
  (void)index; /* the list has one device */
  host_state *hs = clt__calloc(1, sizeof *hs);
  if (!hs) return clt__err(CLT_ERR_OOM, "cannot allocate the host device");
  atomic_init(&hs->in_use, 0);
  atomic_init(&hs->peak, 0);
  atomic_init(&hs->allocations, 0);
  clt_device *dev = clt__device_new(&host_backend, hs);
  if (!dev) {
    clt__free_mem(hs);
    return clt__err(CLT_ERR_OOM, "cannot allocate the host device");
  }
  host_info(&dev->info);
  *out = dev;
  return CLT_OK;
}

const clt__backend_entry clt__backend_host = {"host", host_list, host_open, NULL};
