/* Data-parallel training (clt/dist.h): gradients averaged over the ranks in buckets, each
 * bucket's allreduce started as soon as its gradients are final, so that it runs while the rest
 * of the backward does.
 *
 * Who moves the allreduces along. MPI progresses a non-blocking collective only inside MPI calls,
 * and a bucket must first be mapped into host memory, which on an OpenCL device waits for the
 * kernels queued before it. Done from the leaf hook on the calling thread (the "inline" mode),
 * the thread sleeps in each map and polls MPI once per parameter, so the allreduces measured to
 * run after the backward, not during it (docs/DISTRIBUTED.md). With a communication thread (as
 * Horovod's background thread), the hook only queues the bucket's fill kernels and hands the
 * bucket over; the thread maps it, starts its allreduce and polls MPI until the backward ends,
 * while the calling thread goes on queueing the backward. MPI is then called from the thread
 * alone during the backward and from the caller alone after it, so MPI_THREAD_SERIALIZED (what
 * clt_dist_init asks for) suffices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd_impl.h"
#include "../backend.h"
#include "../ew.h"
#include "../fusion.h"
#include "dist_impl.h"

#if !defined(_WIN32)
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#define CLT__DDP_THREADS 1
#endif

#define DEFAULT_BUCKET_BYTES ((size_t)25 << 20)

typedef struct {
  clt_tensor *flat; /* [numel] on the parameters' device: the parameters' gradients, one after another */
  clt_dtype dt;
  int64_t numel;
  int count;        /* its parameters */
  /* this step */
  int pending;      /* parameters whose gradient is not final yet */
  bool launched;    /* its allreduce started (or it has nothing to reduce) */
  void *ptr;        /* flat mapped into the host while its allreduce runs */
  clt__dist_req *req;
} bucket;

struct clt_ddp {
  clt_dist *d;
  int n;
  clt_tensor **params;
  int *bucket_of;   /* per parameter */
  int64_t *offset;  /* per parameter: where its gradient starts in its bucket (elements) */
  bool *ready;      /* per parameter, this step: its gradient is in its bucket */
  struct by_address {
    uintptr_t at;
    int i;
  } *by_address;    /* the parameters sorted by their tensors' addresses, for the hook */
  int nbuckets;
  bucket *b;
  int next;         /* buckets start in index order on every rank: the next to start */
  bool broken;      /* a wait failed: buckets in flight are left to MPI */
  bool in_backward; /* the autograd engine is running (for the statistics) */
  bool threaded;    /* a communication thread moves the buckets during the backward */
  clt_ddp_stats stats;
#if CLT__DDP_THREADS
  /* the hand-over to the communication thread, under lock: the caller raises handed (buckets
   * in index order whose gradients are in) and sets stop when the backward is over; the thread
   * launches buckets up to handed and reports how far it got in started */
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool sync_made;
  int handed, started;
  bool stop;
  clt_status werr; /* the thread's first failure, with its message */
  char wmsg[1024];
#endif
};

static int cmp_address(const void *a, const void *b) {
  uintptr_t x = ((const struct by_address *)a)->at, y = ((const struct by_address *)b)->at;
  return (x > y) - (x < y);
}

static int find_param(const clt_ddp *ddp, const clt_tensor *t) {
  struct by_address key = {(uintptr_t)t, 0}, *hit = bsearch(&key, ddp->by_address, (size_t)ddp->n, sizeof key, cmp_address);
  return hit ? hit->i : -1;
}

/* The view of parameter i's gradient in its bucket. */
static clt_tensor *slot(const clt_ddp *ddp, int i) {
  const clt_tensor *p = ddp->params[i];
  int64_t strides[CLT_MAX_DIMS];
  clt__contig_strides(p->ndim, p->shape, strides);
  return clt__view_of(ddp->b[ddp->bucket_of[i]].flat, p->ndim, p->shape, strides, ddp->offset[i]);
}

/* Puts parameter i's gradient (zeros where none reached it) into its bucket, divided by the
 * number of ranks on the way (PyTorch's DDP divides before the allreduce too): the sum over the
 * ranks is then the mean, with no pass over the bucket after it. Exact for powers of two. */
static clt_status fill_slot(clt_ddp *ddp, int i) {
  clt_tensor *p = ddp->params[i], *g = p->grad;
  if (p->numel == 0) return CLT_OK;
  clt_tensor *v = slot(ddp, i);
  if (!v) return clt_last_status();
  clt_status s;
  int size = clt__dist_size(ddp->d);
  if (g && size > 1) {
    clt_tensor *in[1] = {g};
    const double scale[2] = {1.0 / size, 0};
    s = clt__ew_run(CLT_OP_mul, v, in, 1, g->dtype, scale, 1);
  } else if (g) {
    s = clt__copy_into(v, g);
  } else {
    uint8_t zero[8] = {0};
    clt__iter it;
    const clt_tensor *ops[1] = {v};
    clt__iter_tensors(&it, 1, ops);
    clt_device *dev = v->st->dev;
    s = clt__fusion_settle(v->st, true);
    if (s == CLT_OK) s = dev->be->fill(dev, &it, v->st, clt_dtype_size(v->dtype), zero);
  }
  clt__tensor_release(v);
  return s;
}

/* Starts bucket k's allreduce (a sum; the mean is taken when it is done). */
static clt_status launch(clt_ddp *ddp, int k) {
  bucket *b = &ddp->b[k];
  if (b->numel > 0) {
    clt_device *dev = b->flat->st->dev;
    size_t bytes = (size_t)b->numel * clt_dtype_size(b->dt);
    clt_status s = clt__fusion_settle(b->flat->st, true);
    if (s == CLT_OK) s = dev->be->map(dev, b->flat->st, 0, bytes, CLT__MAP_READ | CLT__MAP_WRITE, &b->ptr);
    if (s != CLT_OK) return s;
    if ((s = clt__dist_iallreduce(ddp->d, b->ptr, b->numel, b->dt, CLT_DIST_SUM, &b->req)) != CLT_OK) {
      dev->be->unmap(dev, b->flat->st, b->ptr);
      b->ptr = NULL;
      return s;
    }
  }
  b->launched = true;
  return CLT_OK;
}

/* Starts, in index order, the buckets whose gradients are all in. */
static clt_status launch_ready(clt_ddp *ddp) {
  clt_status s = CLT_OK;
  while (s == CLT_OK && ddp->next < ddp->nbuckets && ddp->b[ddp->next].pending == 0)
    if ((s = launch(ddp, ddp->next)) == CLT_OK) {
      ddp->next++;
      ddp->stats.overlapped += ddp->in_backward;
    }
  return s;
}

/* MPI moves a non-blocking collective along only inside MPI calls: polls buckets [0, upto). */
static clt_status poll(clt_ddp *ddp, int upto) {
  for (int k = 0; k < upto; k++) {
    bucket *b = &ddp->b[k];
    bool done = false;
    if (!b->req) continue;
    clt_status s = clt__dist_test(ddp->d, b->req, &done);
    if (s != CLT_OK) { /* the request is gone, the bucket's allreduce may still be in flight */
      b->req = NULL;
      ddp->broken = true;
      return s;
    }
    if (done) b->req = NULL;
  }
  return CLT_OK;
}

/* ---- the communication thread --------------------------------------------------------- */

#if CLT__DDP_THREADS
/* The pause between the thread's polls: $CLT_DDP_POLL_US microseconds (default 50). A spinning
 * poll took the cores from the backward's kernels on 2 cores (docs/DISTRIBUTED.md). */
static long poll_ns(void) {
  const char *env = clt__getenv("CLT_DDP_POLL_US");
  long us = env ? atol(env) : 50;
  return (us < 0 ? 0 : us > 100000 ? 100000 : us) * 1000L;
}

/* Launches the buckets handed over, in order, and polls those in flight, until the caller says
 * stop and everything handed is launched; then leaves the waiting to the caller (finish). */
static void *comm_thread(void *arg) {
  clt_ddp *ddp = arg;
  clt__api("clt_ddp_backward");
  int started = 0;
  clt_status s = CLT_OK;
  for (;;) {
    pthread_mutex_lock(&ddp->lock);
    bool in_flight = false;
    for (int k = 0; k < started && !in_flight; k++) in_flight = ddp->b[k].req != NULL;
    while (started == ddp->handed && !ddp->stop && !in_flight) pthread_cond_wait(&ddp->wake, &ddp->lock);
    int upto = ddp->handed;
    bool stop = ddp->stop;
    pthread_mutex_unlock(&ddp->lock);
    while (s == CLT_OK && started < upto)
      if ((s = launch(ddp, started)) == CLT_OK) started++;
    if (s == CLT_OK) s = poll(ddp, started);
    if (s != CLT_OK || (stop && started == upto)) break;
    if (started == upto) { /* only polls to make: leave the cores to the backward's kernels a while */
      struct timespec nap = {0, poll_ns()};
      nanosleep(&nap, NULL);
    }
  }
  pthread_mutex_lock(&ddp->lock);
  ddp->started = started;
  if (s != CLT_OK) {
    ddp->werr = s;
    snprintf(ddp->wmsg, sizeof ddp->wmsg, "%s", clt_last_error());
  }
  pthread_mutex_unlock(&ddp->lock);
  return NULL;
}

/* Hands the buckets whose gradients are all in to the thread (in index order, as launch_ready). */
static void hand_over(clt_ddp *ddp) {
  int n = ddp->next;
  while (n < ddp->nbuckets && ddp->b[n].pending == 0) n++;
  if (n == ddp->next) return;
  ddp->next = n;
  pthread_mutex_lock(&ddp->lock);
  ddp->handed = n;
  pthread_cond_signal(&ddp->wake);
  pthread_mutex_unlock(&ddp->lock);
}

/* Starts the thread for one backward: false when the system refuses (the step then runs inline). */
static bool thread_start(clt_ddp *ddp, pthread_t *t) {
  ddp->handed = ddp->started = 0;
  ddp->stop = false;
  ddp->werr = CLT_OK;
  ddp->wmsg[0] = '\0';
  return pthread_create(t, NULL, comm_thread, ddp) == 0;
}

/* Ends the thread after the backward: ddp->next becomes the buckets it launched (the caller
 * launches the rest, as after an inline backward); its failure, if any, is returned with its
 * message. */
static clt_status thread_end(clt_ddp *ddp, pthread_t t) {
  pthread_mutex_lock(&ddp->lock);
  ddp->stop = true;
  pthread_cond_signal(&ddp->wake);
  pthread_mutex_unlock(&ddp->lock);
  pthread_join(t, NULL);
  ddp->next = ddp->started;
  ddp->stats.overlapped += ddp->started;
  ddp->stats.threaded++;
  if (ddp->werr == CLT_OK) return CLT_OK;
  clt__err_restore(ddp->werr, ddp->wmsg);
  return ddp->werr;
}
#endif

/* The leaf hook: a parameter's gradient is final. */
static clt_status on_leaf(void *user, clt_tensor *leaf) {
  clt_ddp *ddp = user;
  int i = find_param(ddp, leaf);
  if (i < 0 || ddp->ready[i]) return CLT_OK;
  clt_status s = fill_slot(ddp, i);
  if (s != CLT_OK) return s;
  ddp->ready[i] = true;
  ddp->b[ddp->bucket_of[i]].pending--;
#if CLT__DDP_THREADS
  if (ddp->threaded) {
    hand_over(ddp);
    return CLT_OK;
  }
#endif
  s = launch_ready(ddp);
  return s == CLT_OK ? poll(ddp, ddp->next) : s;
}

/* Starts every bucket not started yet, in order, with zeros for gradients that never came. */
static clt_status launch_rest(clt_ddp *ddp) {
  clt_status s = CLT_OK;
  if (ddp->broken) return s; /* the communicator failed: nothing more can be started */
  for (int i = 0; i < ddp->n && s == CLT_OK; i++) {
    if (ddp->ready[i] || ddp->bucket_of[i] < ddp->next) continue;
    if ((s = fill_slot(ddp, i)) == CLT_OK) {
      ddp->ready[i] = true;
      ddp->b[ddp->bucket_of[i]].pending--;
    }
  }
  return s == CLT_OK ? launch_ready(ddp) : s;
}

/* Waits for every started bucket and unmaps it. Past a failed wait the buckets still in flight
 * stay mapped and allocated (MPI may still write to them). */
static clt_status finish(clt_ddp *ddp) {
  clt_status s = CLT_OK;
  for (int k = 0; k < ddp->next; k++) {
    bucket *b = &ddp->b[k];
    if (b->req && !ddp->broken) {
      char what[96];
      snprintf(what, sizeof what, "bucket %d of %d (%lld %s gradients)", k, ddp->nbuckets, (long long)b->numel,
               clt_dtype_name(b->dt));
      clt_status w = clt__dist_wait(ddp->d, b->req, what);
      b->req = NULL;
      if (w != CLT_OK) {
        ddp->broken = true;
        s = w;
        continue;
      }
    }
    if (ddp->broken || !b->ptr) continue;
    clt_device *dev = b->flat->st->dev;
    clt_status u = dev->be->unmap(dev, b->flat->st, b->ptr);
    b->ptr = NULL;
    if (s == CLT_OK) s = u;
  }
  return s;
}

/* Each parameter's gradient gets the mean from its slot, in place (as PyTorch's DDP by default;
 * the gradient as a view of the bucket would save the copy, but the fused optimizer kernels take
 * tensors that start their storage). A parameter no gradient reached gets a new one. */
static clt_status copy_back(clt_ddp *ddp) {
  clt_status s = CLT_OK;
  for (int i = 0; i < ddp->n && s == CLT_OK; i++) {
    clt_tensor *p = ddp->params[i], *v = slot(ddp, i);
    if (!v) return clt_last_status();
    if (!p->grad) {
      if (!(p->grad = clt__clone(v))) s = clt_last_status();
    } else if ((s = clt__copy_into(p->grad, v)) == CLT_OK) {
      atomic_fetch_add(&p->grad->st->version, 1);
    }
    clt__tensor_release(v);
  }
  return s;
}

static void keep_first(clt_status *s, char *msg, size_t cap, clt_status now) {
  if (*s != CLT_OK || now == CLT_OK) return;
  *s = now;
  snprintf(msg, cap, "%s", clt_last_error());
}

clt_status clt_ddp_backward(clt_ddp *ddp, clt_tensor *loss, clt_tensor *grad) {
  clt__api("clt_ddp_backward");
  if (!ddp) return clt__err(CLT_ERR_INVALID_ARG, "argument ddp is NULL");
  if (!loss) return clt__null_arg("loss");
  if (ddp->broken) return clt__err(CLT_ERR_STATE, "an earlier step's allreduce failed; exit and restart from a checkpoint");
  clt_status s = clt__dist_usable(ddp->d);
  if (s != CLT_OK) return s;
  for (int i = 0; i < ddp->n; i++) ddp->ready[i] = false;
  for (int k = 0; k < ddp->nbuckets; k++) {
    bucket *b = &ddp->b[k];
    b->pending = b->count;
    b->launched = false;
    b->ptr = NULL;
    b->req = NULL;
  }
  ddp->next = 0;
  double t0 = clt__now();
  char first[1024] = ""; /* the first failure's message: the cleanup after it may record others */
  ddp->in_backward = true;
#if CLT__DDP_THREADS
  pthread_t thread;
  /* inline while a test injects faults: they count per thread, and the sweeps walk the same
   * calls on the calling thread */
  ddp->threaded = ddp->sync_made && !clt__fault_armed() && thread_start(ddp, &thread);
#endif
  keep_first(&s, first, sizeof first, clt__backward_hooked(loss, grad, false, on_leaf, ddp));
#if CLT__DDP_THREADS
  if (ddp->threaded) keep_first(&s, first, sizeof first, thread_end(ddp, thread));
  ddp->threaded = false;
#endif
  ddp->in_backward = false;
  /* every rank starts every bucket, also after a failure here: the others wait for them */
  keep_first(&s, first, sizeof first, launch_rest(ddp));
  double t1 = clt__now();
  keep_first(&s, first, sizeof first, finish(ddp));
  if (s == CLT_OK) s = copy_back(ddp);
  else clt__err_restore(s, first);
  ddp->stats.steps++;
  ddp->stats.backward_s += t1 - t0;
  ddp->stats.wait_s += clt__now() - t1;
  return s;
}

int clt_ddp_buckets(const clt_ddp *ddp) { return ddp ? ddp->nbuckets : -1; }

clt_status clt_ddp_get_stats(const clt_ddp *ddp, clt_ddp_stats *out) {
  clt__api("clt_ddp_get_stats");
  if (!ddp || !out) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", ddp ? "out" : "ddp");
  *out = ddp->stats;
  return CLT_OK;
}

void clt_ddp_release(clt_ddp *ddp) {
  if (!ddp) return;
  for (int k = 0; k < ddp->nbuckets; k++) {
    bucket *b = &ddp->b[k];
    if (ddp->broken && b->ptr) continue; /* in flight: MPI may still write there (never freed) */
    clt__tensor_release(b->flat);
  }
  for (int i = 0; i < ddp->n; i++) clt__tensor_release(ddp->params[i]);
#if CLT__DDP_THREADS
  if (ddp->sync_made) {
    pthread_cond_destroy(&ddp->wake);
    pthread_mutex_destroy(&ddp->lock);
  }
#endif
  clt__dist_release(ddp->d);
  clt__free_mem(ddp->params);
  clt__free_mem(ddp->bucket_of);
  clt__free_mem(ddp->offset);
  clt__free_mem(ddp->ready);
  clt__free_mem(ddp->by_address);
  clt__free_mem(ddp->b);
  clt__free_mem(ddp);
}

/* ---- creation --------------------------------------------------------------------------- */

static clt_status check_params(int n, clt_tensor *const *params) {
  if (n < 1 || !params) return clt__err(CLT_ERR_INVALID_ARG, "needs at least one parameter (n is %d)", n);
  for (int i = 0; i < n; i++) {
    const clt_tensor *p = params[i];
    if (!p) return clt__err(CLT_ERR_INVALID_ARG, "params[%d] is NULL", i);
    if (!p->requires_grad || p->grad_fn || !clt_dtype_is_float(p->dtype))
      return clt__err(CLT_ERR_INVALID_ARG, "params[%d] is not a float leaf that requires grad", i);
    if (clt__is16(p->dtype))
      return clt__err(CLT_ERR_DTYPE, "params[%d] is %s: keep float32 master weights (mixed precision casts them "
                      "for the forward: clt/amp.h)", i, clt_dtype_name(p->dtype));
    if (!clt__same_device(p->st->dev, params[0]->st->dev))
      return clt__err(CLT_ERR_DEVICE_MISMATCH, "params[%d] is on %s, params[0] on %s", i, p->st->dev->info.spec,
                      params[0]->st->dev->info.spec);
    for (int j = 0; j < i; j++)
      if (params[j] == p) return clt__err(CLT_ERR_INVALID_ARG, "params[%d] and params[%d] are the same tensor", j, i);
  }
  return CLT_OK;
}

/* FNV-1a over what every rank must agree on. */
static uint64_t signature(int n, clt_tensor *const *params, size_t bucket_bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 0x100000001b3ULL)
  MIX(n);
  MIX(bucket_bytes);
  for (int i = 0; i < n; i++) {
    MIX(params[i]->dtype);
    MIX(params[i]->ndim);
    for (int d = 0; d < params[i]->ndim; d++) MIX(params[i]->shape[d]);
  }
#undef MIX
  return h;
}

/* Parameters in reverse order (the order backward tends to finish them), a new bucket when the
 * dtype changes or the next one would pass cap (a bucket holds at least one parameter). */
static clt_status make_buckets(clt_ddp *ddp, size_t cap) {
  size_t bytes = 0;
  for (int i = ddp->n - 1; i >= 0; i--) {
    const clt_tensor *p = ddp->params[i];
    size_t pb = (size_t)p->numel * clt_dtype_size(p->dtype);
    bucket *cur = ddp->nbuckets ? &ddp->b[ddp->nbuckets - 1] : NULL;
    if (!cur || cur->dt != p->dtype || (cur->count > 0 && bytes + pb > cap)) {
      cur = &ddp->b[ddp->nbuckets++];
      *cur = (bucket){.dt = p->dtype};
      bytes = 0;
    }
    ddp->bucket_of[i] = ddp->nbuckets - 1;
    ddp->offset[i] = cur->numel;
    if (clt__add_ovf(cur->numel, p->numel, &cur->numel))
      return clt__err(CLT_ERR_OVERFLOW, "a bucket of more than %lld elements", (long long)INT64_MAX);
    cur->count++;
    bytes += pb;
  }
  clt_device *dev = ddp->params[0]->st->dev;
  for (int k = 0; k < ddp->nbuckets; k++)
    if (!(ddp->b[k].flat = clt__empty(dev, ddp->b[k].dt, 1, &ddp->b[k].numel))) return clt_last_status();
  return CLT_OK;
}

/* mode: clt_ddp_options.comm_thread. The thread needs MPI_THREAD_SERIALIZED (MPI called from
 * another thread than the one that initialised it); an application that initialised MPI with
 * less gets the inline mode, or an error when it asked for the thread. */
static clt_status setup_thread(clt_ddp *ddp, int mode) {
  const char *env = clt__getenv("CLT_DDP_COMM_THREAD");
  if (mode == 0 && env && (strcmp(env, "1") == 0 || strcmp(env, "-1") == 0)) mode = atoi(env);
  if (mode == -1) return CLT_OK;
  const char *why = NULL;
#if CLT__DDP_THREADS
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int local = clt__dist_local_size(ddp->d);
  if (mode == 0 && cores > 0 && cores < 2L * local) return CLT_OK; /* no core to spare for it: see clt_ddp_options */
  if (!clt__dist_threads_ok(ddp->d)) why = "MPI was initialised with less than MPI_THREAD_SERIALIZED";
  else if (pthread_mutex_init(&ddp->lock, NULL) != 0) why = "the system refused a mutex";
  else if (pthread_cond_init(&ddp->wake, NULL) != 0) {
    pthread_mutex_destroy(&ddp->lock);
    why = "the system refused a condition variable";
  } else {
    ddp->sync_made = true;
    return CLT_OK;
  }
#else
  (void)ddp;
  why = "this build has no threads for it (Windows)";
#endif
  if (mode == 1) return clt__err(CLT_ERR_UNSUPPORTED, "opts->comm_thread is 1 but %s", why);
  return CLT_OK;
}

clt_status clt_ddp_create(clt_dist *d, int n, clt_tensor *const *params, const clt_ddp_options *opts, clt_ddp **out) {
  clt__api("clt_ddp_create");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  clt_status s = clt__dist_usable(d);
  if (s == CLT_OK) s = check_params(n, params);
  if (s == CLT_OK && opts && (opts->comm_thread < -1 || opts->comm_thread > 1))
    s = clt__err(CLT_ERR_INVALID_ARG, "opts->comm_thread is %d: -1 (off), 0 (auto) or 1 (on)", opts->comm_thread);
  if (s != CLT_OK) return s;
  size_t cap = opts && opts->bucket_bytes ? opts->bucket_bytes : DEFAULT_BUCKET_BYTES;
  bool same = false;
  if ((s = clt__dist_same(d, signature(n, params, cap), &same)) != CLT_OK) return s;
  if (!same)
    return clt__err(CLT_ERR_SHAPE, "the ranks' parameters differ (their number, shapes or dtypes, or bucket_bytes): "
                                   "every rank must pass the same model");
  clt_ddp *ddp = clt__calloc(1, sizeof *ddp);
  if (ddp) {
    ddp->params = clt__calloc((size_t)n, sizeof *ddp->params);
    ddp->bucket_of = clt__calloc((size_t)n, sizeof *ddp->bucket_of);
    ddp->offset = clt__calloc((size_t)n, sizeof *ddp->offset);
    ddp->ready = clt__calloc((size_t)n, sizeof *ddp->ready);
    ddp->by_address = clt__calloc((size_t)n, sizeof *ddp->by_address);
    ddp->b = clt__calloc((size_t)n, sizeof *ddp->b);
  }
  if (!ddp || !ddp->params || !ddp->bucket_of || !ddp->offset || !ddp->ready || !ddp->by_address ||
      !ddp->b) {
    if (ddp) ddp->n = 0;
    clt_ddp_release(ddp);
    return clt__err(CLT_ERR_OOM, "cannot allocate data-parallel state for %d parameters", n);
  }
  ddp->d = clt__dist_retain(d);
  ddp->n = n;
  for (int i = 0; i < n; i++) {
    ddp->params[i] = clt__retain(params[i]);
    ddp->by_address[i] = (struct by_address){(uintptr_t)params[i], i};
  }
  qsort(ddp->by_address, (size_t)n, sizeof *ddp->by_address, cmp_address);
  s = make_buckets(ddp, cap);
  if (s == CLT_OK) s = setup_thread(ddp, opts ? opts->comm_thread : 0);
  for (int i = 0; i < n && s == CLT_OK; i++) s = clt__dist_broadcast(d, params[i], 0); /* rank 0's weights */
  if (s != CLT_OK) {
    clt_ddp_release(ddp);
    return s;
  }
  for (int k = 0; k < ddp->nbuckets; k++)
    ddp->stats.bytes += (size_t)ddp->b[k].numel * clt_dtype_size(ddp->b[k].dt);
  *out = ddp;
  return CLT_OK;
}
