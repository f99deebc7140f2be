/* Matrix products on OpenCL, by one of three providers ($CLT_GEMM picks; auto by default):
 *   host     (also "cblas") the host's CBLAS on the buffers mapped into host memory: the default
 *            on CPU devices that share host memory (PoCL), where the map is zero-copy. Measured
 *            on PoCL (2 cores) against CLBlast with tuning.c's parameters (SGEMM 15-78 GFLOP/s):
 *            180-250 GFLOP/s from 256 on (3x), 76-106 at 128, 0.7x CLBlast for a lone 64x64. So
 *            no size threshold. The product runs in a callback of the last map's event and the
 *            unmaps wait for it, so the caller never waits (a digits MLP step 0.41 -> 0.25 ms);
 *            where the host route knows the buffers' own memory, a marker and a barrier take the
 *            maps' place (deferred_own_gemm).
 *   clblast  CLBlast's GEMM (strided-batched for batches), with the parameters tuning.c sets at
 *            device open: the default elsewhere. Every event CLBlast returns is released. Where
 *            CLBlast's kernels cannot run on the device (a work-group limit below its tuning,
 *            say), auto falls back to the kernel for good.
 *   kernel   kernels/gemm.cl, a plain kernel: the default in builds without CLBlast. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../blas.h"
#include "../ew.h"
#include "../reduce.h"
#include "cl_internal.h"

enum { GEMM_HOST, GEMM_CLBLAST, GEMM_KERNEL };

static clt_status pick_provider(const clt_device *dev, int *out, bool *automatic) {
  const char *env = clt__getenv("CLT_GEMM");
#ifdef CLT_HAVE_CBLAS
  const bool cblas = true;
#else
  const bool cblas = false;
#endif
#ifdef CLT_HAVE_CLBLAST
  const bool built = true;
#else
  const bool built = false;
#endif
  const bool clblast = clt__clblast_load(); /* loaded at run time: loader.c */
  *automatic = !env || !*env || strcmp(env, "auto") == 0;
  if (*automatic) {
    *out = cblas && dev->info.type == CLT_DEVICE_CPU && dev->info.host_unified_memory ? GEMM_HOST
           : clblast && !clt__cl(dev)->clblast_unusable ? GEMM_CLBLAST
                                                        : GEMM_KERNEL;
    return CLT_OK;
  }
  if ((strcmp(env, "host") == 0 || strcmp(env, "cblas") == 0) && cblas) *out = GEMM_HOST;
  else if (strcmp(env, "clblast") == 0 && clblast) *out = GEMM_CLBLAST;
  else if (strcmp(env, "kernel") == 0) *out = GEMM_KERNEL;
  else if (strcmp(env, "clblast") == 0 && built) {
    char note[1024];
    clt__cl_load_note(note, sizeof note);
    return clt__err(CLT_ERR_UNSUPPORTED, "$CLT_GEMM is 'clblast', but CLBlast did not load: %s", note);
  } else
    return clt__err(CLT_ERR_INVALID_ARG, "$CLT_GEMM is '%s': this build takes auto, kernel%s%s", env,
                    cblas ? ", host (or cblas)" : "", built ? ", clblast" : "");
  return CLT_OK;
}

/* The host's GEMM without the host waiting: the three maps are enqueued, the product runs in a
 * callback when the last map completes (on the driver's thread), and the unmaps wait for a user
 * event the callback completes, so the queue's later commands wait for the product and the host
 * goes on at once. On PoCL a map and a wait cost a round trip to the driver's threads, five per
 * step of the digits MLP. (Not a native kernel: PoCL 3.1 hands a native kernel its buffers'
 * memory in another order than the arguments name them.) */
typedef struct {
  clt__gemm_args g;
  clt__storage view[3];
  cl_event done; /* the user event the unmaps wait on */
} deferred_gemm;

static void CL_CALLBACK run_deferred(cl_event mapped, cl_int status, void *p) {
  (void)mapped;
  deferred_gemm *x = p;
  if (status == CL_COMPLETE) clt__cpu_gemm_run(&x->g);
  clSetUserEventStatus(x->done, status == CL_COMPLETE ? CL_COMPLETE : CL_MAP_FAILURE);
  clReleaseEvent(x->done);
  clt__free_mem(x);
}

/* Enqueues the maps of A and B (read) and C (write) without waiting; *last (may be NULL) gets
 * C's map event. view[i] is st[i] with ptr[i] as its memory. Stops at the first failure. The
 * caller holds the enqueue lock (cl_internal.h): another thread's GEMM may map the same buffer. */
static clt_status map_operands(clt__cl_dev *d, const clt__storage *const *st, void **ptr, clt__storage *view,
                               cl_event *last) {
  for (int i = 0; i < 3; i++) {
    cl_int err = CL_SUCCESS;
    cl_map_flags flags = i < 2 ? CL_MAP_READ : CL_MAP_WRITE_INVALIDATE_REGION;
    ptr[i] = CLT__CL_OBJ(&err, clEnqueueMapBuffer(d->queue, clt__cl_mem(st[i]), CL_FALSE, flags, 0, st[i]->nbytes, 0,
                                                  NULL, i == 2 ? last : NULL, &err));
    if (err != CL_SUCCESS) {
      ptr[i] = NULL;
      return clt__cl_fail("clEnqueueMapBuffer", err, "mapping a %zu-byte GEMM operand", st[i]->nbytes);
    }
    /* only what the host's GEMM reads: copying the whole storage would read its reference
     * count while another thread sharing the tensor changes it */
    view[i] = (clt__storage){.dev = st[i]->dev, .nbytes = st[i]->nbytes, .ptr = ptr[i], .capacity = st[i]->capacity};
  }
  return CLT_OK;
}

/* Starts the product in x over x->view (the operands' memory) once ready completes; done, which
 * the later commands wait on, completes when it has run. On failure x is still the caller's. */
static clt_status start_deferred(deferred_gemm *x, const clt__gemm_args *g, cl_event ready, cl_event done) {
  x->g = *g;
  x->g.a = &x->view[0];
  x->g.b = &x->view[1];
  x->g.c = &x->view[2];
  x->done = done;
  clRetainEvent(done); /* the callback's reference */
  cl_int err = CLT__CL(clSetEventCallback(ready, CL_COMPLETE, run_deferred, x));
  if (err == CL_SUCCESS) return CLT_OK;
  clReleaseEvent(done);
  return clt__cl_fail("clSetEventCallback", err, "for the host's GEMM");
}

/* Where the host route knows the three buffers' own memory (ew.c; PoCL), a marker (complete
 * once every earlier command is) starts the product, and a barrier waiting on a user event holds
 * back the later commands: two commands instead of three maps and three unmaps, each of which
 * cost the transformer's step a round trip through PoCL's driver thread (about 90 maps a step).
 * A product asked for while the last one's barrier is still the last command clt queued (as a
 * linear layer's two gradient products) takes no command: it joins that chain, whose callback
 * runs the products in the order they came before the barrier lets anything on, or, where the
 * callback has run them all already, it runs on the calling thread (every command before the
 * barrier is then complete, and nothing after it was queued). Which of the two depends on
 * timing; whether a product takes commands does not (the counts alone decide it), so the fault
 * sweeps see the same calls every run. CHAIN_MAX products at most per pair. Never where the
 * application holds the queue (clt_cl_device_wrap with a queue, clt_cl_device_get): clt cannot
 * see the commands it queues, and a product joining a chain would run before them. */
enum { CHAIN_MAX = 16 };
/* The storages a product touches: A, B, C, then the epilogues' bias and asum (NULL where off). */
enum { GEMM_ST = 5 };
typedef struct clt__gemm_chain {
  clt__cl_dev *d;
  cl_event done;   /* the user event the barrier waits on */
  int n, next;     /* products in it, products started */
  int refs;        /* holders: the callback, and the maker until it has published the chain */
  bool closed;     /* the callback ran them all: no product joins */
  struct {
    clt__gemm_args g;
    clt__storage view[GEMM_ST];
  } item[CHAIN_MAX];
} gemm_chain;

static clt__mutex chain_lock = CLT__MUTEX_INIT; /* the chains and the devices' chain fields */
atomic_ulong clt__cl_gemm_chains;

static void CL_CALLBACK run_chain(cl_event ready, cl_int status, void *p) {
  (void)ready;
  gemm_chain *c = p;
  for (;;) {
    clt__mutex_lock(&chain_lock);
    if (status != CL_COMPLETE || c->next == c->n) break;
    int i = c->next++;
    clt__mutex_unlock(&chain_lock);
    clt__cpu_gemm_run(&c->item[i].g);
  }
  c->closed = true;
  if (c->d->chain == c) c->d->chain = NULL;
  cl_event done = c->done;
  bool last = --c->refs == 0;
  clt__mutex_unlock(&chain_lock);
  clSetUserEventStatus(done, status == CL_COMPLETE ? CL_COMPLETE : CL_MAP_FAILURE);
  clReleaseEvent(done);
  if (last) clt__free_mem(c);
}

/* g over the buffers' own memory own, in view (GEMM_ST storages, NULL ones left out). */
static void own_args(clt__gemm_args *out, clt__storage *view, const clt__gemm_args *g, const clt__storage *const *st,
                     void *const *own) {
  for (int k = 0; k < GEMM_ST; k++)
    if (st[k])
      view[k] = (clt__storage){.dev = st[k]->dev, .nbytes = st[k]->nbytes, .ptr = own[k], .capacity = st[k]->capacity};
  *out = *g;
  out->a = &view[0];
  out->b = &view[1];
  out->c = &view[2];
  out->bias = g->bias ? &view[3] : NULL;
  out->asum = g->asum ? &view[4] : NULL;
}

/* An address of this thread's own: which thread made a chain. */
static CLT__TLS char thread_mark;

/* The product without a command, where nothing was queued since the last product's barrier:
 * joined to its chain, or run here once that has run; false where it needs a chain of its own.
 * Only the thread that made the chain follows it: the count of commands queued is taken when
 * each call returns, so another thread's command queued after the barrier could stand in the
 * count for the maker's own uncounted call, and that thread's product, joined to the chain,
 * then ran before the command it reads (threads_share_one_device: one loss in four 2-5% off, 3
 * runs in 5). The maker's own calls have all returned when it asks, so for it the count is
 * exact; another thread's command not yet counted touches none of its tensors. */
static bool chain_follow(clt__cl_dev *d, const clt__gemm_args *g, const clt__storage *const *st, void *const *own) {
  if (atomic_load(&d->app_queue)) return false;
  clt__mutex_lock(&chain_lock);
  bool follows = d->chain_len > 0 && d->chain_len < CHAIN_MAX && atomic_load(&d->queued) == d->chain_expect &&
                 d->chain_maker == &thread_mark;
  gemm_chain *c = follows ? d->chain : NULL;
  if (follows) {
    d->chain_len++;
    d->chain_expect++; /* backend.c counts this call as a command */
  }
  if (c) {
    own_args(&c->item[c->n].g, c->item[c->n].view, g, st, own);
    c->n++;
  }
  clt__mutex_unlock(&chain_lock);
  if (follows && !c) { /* the chain has run: every command before its barrier is complete */
    clt__gemm_args h;
    clt__storage view[GEMM_ST];
    own_args(&h, view, g, st, own);
    clt__cpu_gemm_run(&h);
  }
  return follows;
}

static clt_status deferred_own_gemm(clt__cl_dev *d, const clt__gemm_args *g, const clt__storage *const *st,
                                    void *const *own) {
  if (chain_follow(d, g, st, own)) return CLT_OK;
  gemm_chain *c = clt__calloc(1, sizeof *c);
  if (!c) return clt__err(CLT_ERR_OOM, "cannot allocate a deferred GEMM");
  cl_int err = CL_SUCCESS;
  cl_event ready = NULL, done = CLT__CL_OBJ(&err, clCreateUserEvent(d->ctx, &err));
  if (!done) {
    clt__free_mem(c);
    return clt__cl_fail("clCreateUserEvent", err, "for the host's GEMM");
  }
  c->d = d;
  c->done = done;
  c->n = 1;
  c->refs = 2;
  own_args(&c->item[0].g, c->item[0].view, g, st, own);
  /* no product follows the last chain from here until this one is published */
  clt__mutex_lock(&chain_lock);
  d->chain_len = 0;
  clt__mutex_unlock(&chain_lock);
  clt_status s = CLT_OK;
  clt__mutex_lock(&d->enqueue_lock);
  err = CLT__CL(clEnqueueMarkerWithWaitList(d->queue, 0, NULL, &ready));
  if (err != CL_SUCCESS) s = clt__cl_fail("clEnqueueMarkerWithWaitList", err, "before the host's GEMM");
  if (s == CLT_OK && (err = CLT__CL(clEnqueueBarrierWithWaitList(d->queue, 1, &done, NULL))) != CL_SUCCESS)
    s = clt__cl_fail("clEnqueueBarrierWithWaitList", err, "after the host's GEMM");
  unsigned long long expect = atomic_load(&d->queued) + 1; /* with this call, counted by backend.c on return */
  clt__mutex_unlock(&d->enqueue_lock);
  if (s == CLT_OK) {
    clRetainEvent(done); /* the callback's reference */
    err = CLT__CL(clSetEventCallback(ready, CL_COMPLETE, run_chain, c));
    if (err == CL_SUCCESS) {
      clReleaseEvent(ready);
      clReleaseEvent(done); /* the maker's reference: the barrier and the callback hold theirs */
      atomic_fetch_add(&clt__cl_gemm_chains, 1);
      /* open to the next products (run here once the callback has run this one) */
      clt__mutex_lock(&chain_lock);
      d->chain = c->closed ? NULL : c;
      d->chain_len = 1;
      d->chain_expect = expect;
      d->chain_maker = &thread_mark;
      bool last = --c->refs == 0;
      clt__mutex_unlock(&chain_lock);
      if (last) clt__free_mem(c);
      return CLT_OK;
    }
    clReleaseEvent(done);
    s = clt__cl_fail("clSetEventCallback", err, "for the host's GEMM");
  }
  /* Failed (nothing joined: the chain was never published): free a barrier already waiting,
   * then wait for the queue. */
  clSetUserEventStatus(done, CL_COMPLETE);
  clFinish(d->queue);
  if (ready) clReleaseEvent(ready);
  clReleaseEvent(done);
  clt__free_mem(c);
  return s;
}

/* Whether every storage g touches has its own memory known to the host route (own[] gets it):
 * the product, with its epilogues, then runs on the buffers themselves. */
static bool own_memory(clt__cl_dev *d, const clt__gemm_args *g, const clt__storage **st, void **own) {
  st[0] = g->a, st[1] = g->b, st[2] = g->c, st[3] = g->bias, st[4] = g->asum;
  for (int k = 0; k < GEMM_ST; k++)
    if (st[k] && !(own[k] = clt__cl_hostptr_of(d, st[k]))) return false;
  return true;
}

/* The product over the buffers' own memory where the host route knows it (with the epilogues,
 * in the callback), else over maps; clt__cl_gemm hands the mapped route no epilogue (its bias and
 * asum are not mapped: kernels run them after). */
static clt_status deferred_host_gemm(clt_device *dev, const clt__gemm_args *g) {
  clt__cl_dev *d = clt__cl(dev);
  clt_status s = clt__cpu_gemm_check(g);
  if (s != CLT_OK) return s;
  const clt__storage *st[GEMM_ST];
  void *own[GEMM_ST] = {NULL};
  if (own_memory(d, g, st, own)) return deferred_own_gemm(d, g, st, own);
  deferred_gemm *x = clt__calloc(1, sizeof *x);
  if (!x) return clt__err(CLT_ERR_OOM, "cannot allocate a deferred GEMM");
  void *ptr[3] = {NULL, NULL, NULL};
  bool unmapped[3] = {false, false, false};
  cl_event mapped = NULL;
  cl_int err = CL_SUCCESS;
  cl_event done = CLT__CL_OBJ(&err, clCreateUserEvent(d->ctx, &err));
  if (!done) s = clt__cl_fail("clCreateUserEvent", err, "for the host's GEMM");
  clt__mutex_lock(&d->enqueue_lock);
  if (s == CLT_OK) s = map_operands(d, st, ptr, x->view, &mapped);
  for (int i = 0; i < 3 && s == CLT_OK; i++) {
    err = CLT__CL(clEnqueueUnmapMemObject(d->queue, clt__cl_mem(st[i]), ptr[i], 1, &done, NULL));
    if (err != CL_SUCCESS) s = clt__cl_fail("clEnqueueUnmapMemObject", err, "unmapping a GEMM operand");
    unmapped[i] = err == CL_SUCCESS;
  }
  clt__mutex_unlock(&d->enqueue_lock);
  if (s == CLT_OK && (s = start_deferred(x, g, mapped, done)) == CLT_OK) {
    clReleaseEvent(mapped);
    clReleaseEvent(done);
    return CLT_OK;
  }
  /* Failed: release the unmaps already waiting, unmap what is still mapped, wait, tidy up. */
  if (done) clSetUserEventStatus(done, CL_COMPLETE);
  clt__mutex_lock(&d->enqueue_lock);
  for (int i = 0; i < 3; i++)
    if (ptr[i] && !unmapped[i]) clEnqueueUnmapMemObject(d->queue, clt__cl_mem(st[i]), ptr[i], 0, NULL, NULL);
  clt__mutex_unlock(&d->enqueue_lock);
  clFinish(d->queue);
  if (mapped) clReleaseEvent(mapped);
  if (done) clReleaseEvent(done);
  clt__free_mem(x);
  return s;
}

/* The host's GEMM on the three buffers mapped (A and B for reading, C for writing), the host
 * waiting for the maps: $CLT_GEMM_WAIT=1 (tests, and runtimes whose callbacks misbehave). */
static clt_status host_gemm(clt_device *dev, const clt__gemm_args *g) {
  clt__cl_dev *d = clt__cl(dev);
  const char *wait = clt__getenv("CLT_GEMM_WAIT");
  if (!wait || strcmp(wait, "1") != 0) return deferred_host_gemm(dev, g);
  const clt__storage *st[3] = {g->a, g->b, g->c};
  clt__storage view[3];
  void *ptr[3] = {NULL, NULL, NULL};
  /* the maps enqueued without blocking, then one wait for the queue (in order) */
  clt__mutex_lock(&d->enqueue_lock);
  clt_status s = map_operands(d, st, ptr, view, NULL);
  clt__mutex_unlock(&d->enqueue_lock);
  if (s == CLT_OK) {
    cl_int err = CLT__CL(clFinish(d->queue));
    if (err != CL_SUCCESS) s = clt__cl_fail("clFinish", err, "waiting for the GEMM operands' maps");
  }
  if (s == CLT_OK) {
    clt__gemm_args h = *g;
    h.a = &view[0];
    h.b = &view[1];
    h.c = &view[2];
    s = clt__cpu_gemm_check(&h);
    if (s == CLT_OK) clt__cpu_gemm_run(&h);
  }
  clt__mutex_lock(&d->enqueue_lock);
  for (int i = 0; i < 3; i++) {
    if (!ptr[i]) continue;
    cl_int err = CLT__CL(clEnqueueUnmapMemObject(d->queue, clt__cl_mem(st[i]), ptr[i], 0, NULL, NULL));
    if (err != CL_SUCCESS && s == CLT_OK) s = clt__cl_fail("clEnqueueUnmapMemObject", err, "unmapping a GEMM operand");
  }
  clt__mutex_unlock(&d->enqueue_lock);
  return s;
}

/* kernels/gemm.cl: one work-item per element of C. */
static clt_status kernel_gemm(clt_device *dev, const clt__gemm_args *g) {
  clt__cl_dev *d = clt__cl(dev);
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_gemm, (int)g->dt, "gemm", &k);
  if (s != CLT_OK) return s;
  cl_long m = g->m, n = g->n, kk = g->k;
  cl_int ta = g->ta, tb = g->tb;
  cl_mem a = clt__cl_mem(g->a), b = clt__cl_mem(g->b), c = clt__cl_mem(g->c);
  cl_long v[10] = {g->a_off, g->lda, g->a_stride, g->b_off, g->ldb, g->b_stride, g->c_off, g->ldc, g->c_stride, g->batch};
  clt__cl_args x;
  clt__cl_args_init(&x, k);
  CLT__ARG(&x, m);
  CLT__ARG(&x, n);
  CLT__ARG(&x, kk);
  CLT__ARG(&x, ta);
  CLT__ARG(&x, tb);
  CLT__ARG(&x, a);
  for (int i = 0; i < 3; i++) CLT__ARG(&x, v[i]);
  CLT__ARG(&x, b);
  for (int i = 3; i < 6; i++) CLT__ARG(&x, v[i]);
  CLT__ARG(&x, c);
  for (int i = 6; i < 10; i++) CLT__ARG(&x, v[i]);
  return clt__cl_launch(d, &x, (size_t)(g->batch * g->m * g->n));
}

#ifdef CLT_HAVE_CLBLAST
#include <clblast_c.h>

const char *clt__clblast_status_name(int code) {
  switch (code) {
    case -2048: return "CLBlastInvalidOverrideKernel";
    case -2047: return "CLBlastMissingOverrideParameter";
    case -1024: return "CLBlastNotImplemented";
    case -1017: return "CLBlastInvalidDimension";
    case -1016: return "CLBlastInvalidLeadDimA";
    case -1015: return "CLBlastInvalidLeadDimB";
    case -1014: return "CLBlastInvalidLeadDimC";
    case -1011: return "CLBlastInsufficientMemoryA";
    case -1010: return "CLBlastInsufficientMemoryB";
    case -1009: return "CLBlastInsufficientMemoryC";
    case -2049: return "CLBlastInvalidBatchCount";
    case -2046: return "CLBlastInvalidLocalMemUsage";
    case -2044: return "CLBlastNoDoublePrecision";
    case -2041: return "CLBlastDatabaseError";
    case -2040: return "CLBlastUnknownError";
    case -2039: return "CLBlastUnexpectedError";
    default: return clt__cl_error_name(code);
  }
}

static clt_status clblast_gemm(clt_device *dev, const clt__gemm_args *g, int *code) {
  clt__cl_dev *d = clt__cl(dev);
  CLBlastTranspose ta = g->ta ? CLBlastTransposeYes : CLBlastTransposeNo, tb = g->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
  cl_mem a = clt__cl_mem(g->a), b = clt__cl_mem(g->b), c = clt__cl_mem(g->c);
  size_t m = (size_t)g->m, n = (size_t)g->n, k = (size_t)g->k;
  cl_event ev = NULL;
  int st;
  const char *fn;
  if (g->batch == 1 && g->dt == CLT_FLOAT32) {
    fn = "CLBlastSgemm";
    st = CLT__CL(CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0f, a, (size_t)g->a_off, (size_t)g->lda, b,
                              (size_t)g->b_off, (size_t)g->ldb, 0.0f, c, (size_t)g->c_off, (size_t)g->ldc, &d->queue, &ev));
  } else if (g->batch == 1) {
    fn = "CLBlastDgemm";
    st = CLT__CL(CLBlastDgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0, a, (size_t)g->a_off, (size_t)g->lda, b,
                              (size_t)g->b_off, (size_t)g->ldb, 0.0, c, (size_t)g->c_off, (size_t)g->ldc, &d->queue, &ev));
  } else if (g->dt == CLT_FLOAT32) {
    fn = "CLBlastSgemmStridedBatched";
    st = CLT__CL(CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0f, a, (size_t)g->a_off,
                                            (size_t)g->lda, (size_t)g->a_stride, b, (size_t)g->b_off, (size_t)g->ldb,
                                            (size_t)g->b_stride, 0.0f, c, (size_t)g->c_off, (size_t)g->ldc,
                                            (size_t)g->c_stride, (size_t)g->batch, &d->queue, &ev));
  } else {
    fn = "CLBlastDgemmStridedBatched";
    st = CLT__CL(CLBlastDgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0, a, (size_t)g->a_off,
                                            (size_t)g->lda, (size_t)g->a_stride, b, (size_t)g->b_off, (size_t)g->ldb,
                                            (size_t)g->b_stride, 0.0, c, (size_t)g->c_off, (size_t)g->ldc,
                                            (size_t)g->c_stride, (size_t)g->batch, &d->queue, &ev));
  }
  if (ev) clReleaseEvent(ev);
  *code = st;
  if (st != 0) {
    clt_status s = st == CL_MEM_OBJECT_ALLOCATION_FAILURE || st == CL_OUT_OF_RESOURCES ? CLT_ERR_DEVICE_OOM
                   : st == CL_OUT_OF_HOST_MEMORY                                     ? CLT_ERR_OOM
                                                                                     : CLT_ERR_BACKEND;
    return clt__err(s, "%s failed with %s (%d): %lldx%lldx%lld, batch %lld, %s on %s", fn, clt__clblast_status_name(st), st,
                    (long long)g->m, (long long)g->n, (long long)g->k, (long long)g->batch, clt_dtype_name(g->dt),
                    dev->info.spec);
  }
  return CLT_OK;
}

/* CLBlast caches compiled kernels for every context it saw; the last device gone frees them. */
static atomic_int open_devices;
void clt__cl_gemm_device_opened(void) { atomic_fetch_add(&open_devices, 1); }
void clt__cl_gemm_device_closed(void) {
  if (atomic_fetch_sub(&open_devices, 1) == 1 && clt__clblast_load()) CLBlastClearCache();
}

#else

void clt__cl_gemm_device_opened(void) {}
void clt__cl_gemm_device_closed(void) {}

#endif

/* CLBlast errors that say its kernels cannot run on this device (its tuned work-group sizes or
 * local memory exceed the device's, or its kernels do not build here), as opposed to running
 * out of memory: auto then falls back to the plain kernel, for good on this device. */
static bool clblast_cannot_run(int code) {
  switch (code) {
    case -11: case -42: case -45: case -54: case -55: case -1024: case -2041: case -2046: return true;
    default: return false;
  }
}

/* The epilogues (clt__gemm_args) as kernels after a product that did not run them: bias added
 * to C in place by the elementwise add, asum by the sum reduction over op(A)'s rows. */
static clt_status epilogue_kernels(clt_device *dev, const clt__gemm_args *g) {
  clt_status s = CLT_OK;
  if (g->bias) {
    clt__ew_prog p;
    clt__ew_prog_single(&p, CLT_OP_add, 2, g->dt, NULL, 0);
    int64_t shape[3] = {g->batch, g->m, g->n}, cs[3] = {g->c_stride, g->ldc, 1}, bs[3] = {g->bias_stride, g->bias_row, g->bias_inc};
    const int64_t *strides[3] = {cs, cs, bs}, offs[3] = {g->c_off, g->c_off, g->bias_off};
    clt__iter it;
    clt__iter_build(&it, 3, shape, 3, strides, offs);
    clt__storage *st[CLT__MAX_OPS] = {g->c, g->c, (clt__storage *)g->bias};
    s = clt__cl_ew(dev, &p, &it, st);
  }
  if (s == CLT_OK && g->asum) {
    clt__reduce_args r = {.op = CLT__R_SUM, .post = CLT__POST_NONE, .scale = 1.0, .in = g->a, .dt = g->dt,
                          .L = {.A = g->m, .R = g->k, .B = 1, .sA = g->ta ? 1 : g->lda, .sR = g->ta ? g->lda : 1,
                                .sB = 1, .off = g->a_off},
                          .out = g->asum, .out_off = g->asum_off, .odt = g->dt};
    s = clt__cl_reduce(dev, &r);
  }
  return s;
}

static clt_status provider_gemm(clt_device *dev, int provider, bool automatic, const clt__gemm_args *g) {
  (void)automatic; /* read where the build has CLBlast */
  switch (provider) {
    case GEMM_HOST: return host_gemm(dev, g);
#ifdef CLT_HAVE_CLBLAST
    case GEMM_CLBLAST: {
      int code = 0;
      clt_status s = clblast_gemm(dev, g, &code);
      if (s == CLT_OK || !automatic || !clblast_cannot_run(code)) return s;
      clt__cl(dev)->clblast_unusable = true;
      clt_clear_error();
      return kernel_gemm(dev, g);
    }
#endif
    default: return kernel_gemm(dev, g);
  }
}

clt_status clt__cl_gemm(clt_device *dev, const clt__gemm_args *g) {
  int provider = GEMM_KERNEL;
  bool automatic;
  clt_status s = pick_provider(dev, &provider, &automatic);
  if (s != CLT_OK) return s;
  if (!g->bias && !g->asum) return provider_gemm(dev, provider, automatic, g);
  /* the host's GEMM on the buffers' own memory runs the epilogues in its callback: no command */
  const char *wait = clt__getenv("CLT_GEMM_WAIT");
  const clt__storage *st[GEMM_ST];
  void *own[GEMM_ST] = {NULL};
  if (provider == GEMM_HOST && !(wait && strcmp(wait, "1") == 0) && own_memory(clt__cl(dev), g, st, own))
    return host_gemm(dev, g);
  clt__gemm_args plain = *g;
  plain.bias = NULL;
  plain.asum = NULL;
  s = provider_gemm(dev, provider, automatic, &plain);
  return s == CLT_OK ? epilogue_kernels(dev, g) : s;
}
