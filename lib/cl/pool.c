/* The per-device caching buffer pool: freed buffers are kept by size class (four classes per
 * power of two, so at most 25% is wasted) and handed out again, since creating OpenCL buffers is
 * slow on most drivers. An allocation that fails empties the cache and retries once.
 * CLT_NO_MEMORY_CACHING (read when the device opens) is for memory checkers such as Oclgrind:
 * each buffer is created at its exact size and never reused, so a kernel reading what was never
 * written in its buffer, or past its end, is reported instead of reading a recycled buffer's old
 * contents. With 1 a freed buffer is released at once (as PYTORCH_NO_CUDA_MEMORY_CACHING does);
 * with "hold" it is released only when the cache is emptied (clt_device_empty_cache, the device
 * closing), because Oclgrind 21.10's --uninitialized check gives a new buffer created where a
 * smaller one was released only the old one's extent of initialized bytes and reports correct
 * reads past it (tools/oclgrind.sh). Slow and, with "hold", growing: for checking only.
 * Every function here runs under the device's pool lock (cl_internal.h): several threads may
 * allocate and free on one device at once. */
#include <string.h>

#include "cl_internal.h"

#define MIN_CLASS_BYTES 256

/* Size class of n bytes and the bytes that class holds. */
static int size_class(size_t n, size_t *bytes) {
  if (n <= MIN_CLASS_BYTES) {
    *bytes = MIN_CLASS_BYTES;
    return 0;
  }
  int lg = 0;
  while (((size_t)1 << (lg + 1)) <= n - 1) lg++; /* 2^lg <= n-1 < 2^(lg+1) */
  size_t quarter = (size_t)1 << (lg - 1);           /* lg >= 8 here */
  size_t q = (n - 1 - ((size_t)1 << lg)) / quarter;  /* 0..3 */
  *bytes = ((size_t)1 << lg) + (q + 1) * quarter;
  int c = (lg - 7) * 4 + (int)q; /* lg = 8 starts after class 0 */
  return c < CLT__POOL_CLASSES ? c : -1;
}

static clt_status create(clt__cl_dev *d, size_t bytes, cl_mem *out, cl_int *err) {
  *out = CLT__CL_OBJ(err, clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes, NULL, err));
  return *out ? CLT_OK : CLT_ERR_DEVICE_OOM;
}

/* The host route (ew.c) may know the buffer's host address: forgotten first, since a buffer
 * made later may get the same handle. A known buffer may still be an operand of a host GEMM
 * queued over its own memory (gemm.c), which no queued command names, so PoCL would free its
 * memory at the release: the queue is finished first (test
 * gemm_operands_outlive_their_release). */
static void destroy(clt__cl_dev *d, cl_mem m) {
  if (clt__cl_hostptr_forget(d, m) && d->queue) clFinish(d->queue);
  clReleaseMemObject(m);
  CLT__LIVE_DEC(CLT__LIVE_BUFFERS);
}

/* Room in b for every buffer of its class coming back. */
static clt_status reserve(clt__pool_bucket *b) {
  if (b->len + b->out + 1 <= b->cap) return CLT_OK;
  size_t cap = b->cap ? 2 * b->cap : 8;
  cl_mem *bufs = clt__realloc(b->bufs, cap * sizeof *bufs);
  if (!bufs) return clt__err(CLT_ERR_OOM, "cannot grow the buffer pool to %zu entries", cap);
  b->bufs = bufs;
  b->cap = cap;
  return CLT_OK;
}

static void empty_locked(clt__cl_dev *d);

/* From this size on an allocation is also checked against the memory the system has available,
 * which costs a read of /proc/meminfo (tens of microseconds); smaller ones only against the
 * process's limits (two getrlimit calls). */
#define AVAILABLE_CHECK_BYTES ((size_t)64 << 20)

/* Devices whose buffers are this process's memory (PoCL) map a buffer's memory when it is first
 * used, and PoCL 3.1 aborts there when the process may not map it (an assertion in
 * pocl_create_migration_commands under ulimit -v), so what the process's limits or the system's
 * available memory cannot hold is refused here, after emptying the cache once. */
static clt_status check_host_room(clt_device *dev, clt__cl_dev *d, size_t bytes) {
  if (!d->host_memory) return CLT_OK;
  const char *what;
  bool with_available = bytes >= AVAILABLE_CHECK_BYTES;
  uint64_t room = clt__host_mem_room(with_available, &what);
  if (bytes <= room) return CLT_OK;
  if (d->stats.bytes_cached > 0 || d->nheld) {
    empty_locked(d);
    room = clt__host_mem_room(with_available, &what);
    if (bytes <= room) return CLT_OK;
  }
  return clt__err(CLT_ERR_DEVICE_OOM,
                  "cannot allocate %zu bytes on %s (%s), whose memory is the process's: only %llu more bytes fit "
                  "under %s; %llu bytes are in use there",
                  bytes, dev->info.spec, dev->info.name, (unsigned long long)room, what,
                  (unsigned long long)d->stats.bytes_in_use);
}

static clt_status alloc_locked(clt_device *dev, clt__storage *st) {
  clt__cl_dev *d = clt__cl(dev);
  size_t bytes;
  int c = size_class(st->nbytes, &bytes);
  if (d->no_caching != CLT__CACHING) { /* the exact size, so that a checker also sees accesses past the end */
    c = -1;
    bytes = st->nbytes ? st->nbytes : 1;
  } else if (c < 0 || bytes > dev->info.max_alloc_bytes) { /* too large to pool, or rounding would exceed */
    c = -1;
    bytes = st->nbytes;
  }
  cl_mem m = NULL;
  if (c >= 0 && d->pool[c].len > 0) { /* taking one keeps len + out, so the bucket has room for it */
    m = d->pool[c].bufs[--d->pool[c].len];
    d->stats.bytes_cached -= bytes;
    d->stats.pool_hits++;
  } else {
    /* Never ask for more than the device reports (PoCL's POCL_MEMORY_LIMIT is only reported,
     * and an overcommitted CPU device dies later, by the kernel's OOM killer). */
    uint64_t limit = dev->info.global_mem_bytes;
    if (limit > 0 && d->stats.bytes_in_use + d->stats.bytes_cached + bytes > limit && d->stats.bytes_cached > 0)
      empty_locked(d);
    if (limit > 0 && d->stats.bytes_in_use + bytes > limit)
      return clt__err(CLT_ERR_DEVICE_OOM, "cannot allocate %zu bytes on %s (%s): %llu of its %llu bytes are in use",
                      bytes, dev->info.spec, dev->info.name, (unsigned long long)d->stats.bytes_in_use,
                      (unsigned long long)limit);
    clt_status room = check_host_room(dev, d, bytes);
    if (room != CLT_OK) return room;
    cl_int err;
    if (create(d, bytes, &m, &err) != CLT_OK) {
      if (d->stats.bytes_cached > 0 || d->nheld) { /* give the cache back to the driver and try once more */
        empty_locked(d);
        create(d, bytes, &m, &err);
      }
      if (!m) {
        return clt__cl_fail_alloc("clCreateBuffer", err, "%zu bytes on %s (%s); %llu bytes in use", bytes,
                                  dev->info.spec, dev->info.name, (unsigned long long)d->stats.bytes_in_use);
      }
    }
    CLT__LIVE_INC(CLT__LIVE_BUFFERS);
    /* Room for it to come back, made after the pool_empty calls above, which free the array
     * of a bucket with no buffers out. */
    if (c >= 0 && reserve(&d->pool[c]) != CLT_OK) {
      destroy(d, m);
      return CLT_ERR_OOM;
    }
    d->stats.allocations++;
  }
  if (c >= 0) d->pool[c].out++;
  st->handle = m;
  st->capacity = bytes;
  d->stats.bytes_in_use += bytes;
  if (d->stats.bytes_in_use > d->stats.peak_bytes_in_use) d->stats.peak_bytes_in_use = d->stats.bytes_in_use;
  return CLT_OK;
}

clt_status clt__cl_alloc(clt_device *dev, clt__storage *st) {
  clt__cl_dev *d = clt__cl(dev);
  clt__mutex_lock(&d->pool_lock);
  clt_status s = alloc_locked(dev, st);
  clt__mutex_unlock(&d->pool_lock);
  return s;
}

static void free_locked(clt__cl_dev *d, clt__storage *st) {
  d->stats.bytes_in_use -= st->capacity;
  if (d->no_caching != CLT__CACHING) {
    bool hold = d->no_caching == CLT__NO_CACHING_HOLD;
    if (hold && d->nheld == d->held_cap) {
      size_t cap = d->held_cap ? 2 * d->held_cap : 64;
      cl_mem *h = clt__realloc(d->held, cap * sizeof *h);
      if (h) d->held = h, d->held_cap = cap;
    }
    if (hold && d->nheld < d->held_cap) {
      d->held[d->nheld++] = clt__cl_mem(st);
      return;
    }
    /* Released once the queue is idle: Oclgrind forgets which bytes a buffer had written when it
     * is released, not when the commands still queued on it have run. */
    clFinish(d->queue);
    destroy(d, clt__cl_mem(st));
    return;
  }
  size_t bytes;
  int c = size_class(st->capacity, &bytes);
  if (c < 0 || bytes != st->capacity) {
    destroy(d, clt__cl_mem(st));
    return;
  }
  clt__pool_bucket *b = &d->pool[c];
  b->out--;
  b->bufs[b->len++] = clt__cl_mem(st);
  d->stats.bytes_cached += bytes;
}

void clt__cl_free(clt_device *dev, clt__storage *st) {
  if (st->wrapped) { /* a CL_MEM_USE_HOST_PTR buffer over the caller's memory: never pooled */
    destroy(clt__cl(dev), clt__cl_mem(st));
    return;
  }
  clt__cl_dev *d = clt__cl(dev);
  clt__mutex_lock(&d->pool_lock);
  free_locked(d, st);
  clt__mutex_unlock(&d->pool_lock);
}

void clt__cl_memory_stats(const clt_device *dev, clt_memory_stats *out) {
  clt__cl_dev *d = clt__cl(dev);
  clt__mutex_lock(&d->pool_lock);
  *out = d->stats;
  clt__mutex_unlock(&d->pool_lock);
}

clt_status clt__cl_wrap_host(clt_device *dev, clt__storage *st) {
  if (!dev->info.host_unified_memory)
    return clt__err(CLT_ERR_UNSUPPORTED, "%s (%s) does not share memory with the host; copy with clt_from_host",
                    dev->info.spec, dev->info.name);
  cl_int err;
  cl_mem m = CLT__CL_OBJ(&err, clCreateBuffer(clt__cl(dev)->ctx, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, st->nbytes,
                                              st->ptr, &err));
  if (!m) return clt__cl_fail_alloc("clCreateBuffer", err, "CL_MEM_USE_HOST_PTR over %zu bytes of host memory", st->nbytes);
  CLT__LIVE_INC(CLT__LIVE_BUFFERS);
  st->handle = m;
  return CLT_OK;
}

static void empty_locked(clt__cl_dev *d) {
  for (int c = 0; c < CLT__POOL_CLASSES; c++) {
    clt__pool_bucket *b = &d->pool[c];
    for (size_t i = 0; i < b->len; i++) destroy(d, b->bufs[i]);
    b->len = 0; /* the array stays: storages still out may come back */
    if (b->out == 0) {
      clt__free_mem(b->bufs);
      *b = (clt__pool_bucket){0};
    }
  }
  d->stats.bytes_cached = 0;
  if (d->nheld) clFinish(d->queue);
  for (size_t i = 0; i < d->nheld; i++) destroy(d, d->held[i]);
  clt__free_mem(d->held);
  d->held = NULL;
  d->nheld = d->held_cap = 0;
}

void clt__cl_pool_empty(clt__cl_dev *d) {
  clt__mutex_lock(&d->pool_lock);
  empty_locked(d);
  clt__mutex_unlock(&d->pool_lock);
}
