/* The communicator over MPI: the only file of the library that includes <mpi.h>. Every call that
 * starts communication is a fault point (CLT__MPI), so tests can make it fail; the polls and the
 * frees are not (as OpenCL's release calls: a failure there cannot be handled, only reported). */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt/dist_mpi.h"
#include "dist_impl.h"

#define CLT__MPI(call) (clt__fault_hit_call(#call) ? MPI_ERR_OTHER : (call))

struct clt_dist {
  atomic_long refs;
  MPI_Comm comm; /* clt's duplicate, MPI_ERRORS_RETURN */
  int rank, size, local_rank, local_size;
  double timeout_s;
  bool owns_mpi; /* counts towards finalising the MPI clt initialised */
  size_t ring_min; /* allreduces of at least this many bytes take the ring */
  bool ring_min_set; /* by $CLT_DIST_RING_MIN (else two ranks always take it) */
  int tag_ub;      /* MPI_TAG_UB */
  uint64_t ring_seq; /* rings started: each has its window of tags */
  bool failed;   /* a collective timed out or MPI failed: requests may still be in flight */
  char why[512];
};

/* Whether clt initialised MPI, and how many handles of clt_dist_init are alive: the last one
 * released finalises. */
static clt__mutex init_lock = CLT__MUTEX_INIT;
static bool mpi_ours;
static long owned_handles;

/* "MPI_X failed: <MPI's error string> (class N): <detail>" */
static clt_status mpi_fail(const char *call, int rc, const char *fmt, ...) CLT__PRINTF(3, 4);
static clt_status mpi_fail(const char *call, int rc, const char *fmt, ...) {
  char text[MPI_MAX_ERROR_STRING + 1] = "", detail[512] = "";
  int len = 0, cls = rc;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error code %d", rc);
  MPI_Error_class(rc, &cls);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return clt__err(CLT_ERR_BACKEND, "%s failed: %s (MPI error class %d): %s", call, text, cls, detail);
}

/* Measured on 2 ranks (docs/DISTRIBUTED.md): below this, MPI_Iallreduce's latency wins. */
#define RING_MIN_BYTES ((size_t)256 << 10)

/* $CLT_DIST_RING_MIN, or RING_MIN_BYTES (*set: whether the variable set it). */
static size_t ring_min(bool *set) {
  const char *env = clt__getenv("CLT_DIST_RING_MIN");
  char *end;
  unsigned long long v = env ? strtoull(env, &end, 10) : 0;
  *set = env && end != env && *end == '\0';
  return *set ? (size_t)v : RING_MIN_BYTES;
}

static double default_timeout(void) {
  const char *env = clt__getenv("CLT_DIST_TIMEOUT");
  char *end;
  double v = env ? strtod(env, &end) : 0;
  return env && end != env && *end == '\0' && v > 0 ? v : 600.0;
}

/* A handle over a duplicate of comm. */
static clt_status make_handle(MPI_Comm comm, bool owns, clt_dist **out) {
  clt_dist *d = clt__calloc(1, sizeof *d);
  if (!d) return clt__err(CLT_ERR_OOM, "cannot allocate a communicator handle");
  atomic_init(&d->refs, 1);
  d->comm = MPI_COMM_NULL;
  d->timeout_s = default_timeout();
  d->ring_min = ring_min(&d->ring_min_set);
  int rc = CLT__MPI(MPI_Comm_dup(comm, &d->comm));
  if (rc != MPI_SUCCESS) {
    clt__free_mem(d);
    return mpi_fail("MPI_Comm_dup", rc, "duplicating the communicator");
  }
  MPI_Comm node = MPI_COMM_NULL;
  const char *call = "MPI_Comm_set_errhandler";
  rc = MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS) call = "MPI_Comm_rank", rc = MPI_Comm_rank(d->comm, &d->rank);
  if (rc == MPI_SUCCESS) call = "MPI_Comm_size", rc = MPI_Comm_size(d->comm, &d->size);
  if (rc == MPI_SUCCESS)
    call = "MPI_Comm_split_type",
    rc = CLT__MPI(MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  if (rc == MPI_SUCCESS) call = "MPI_Comm_rank", rc = MPI_Comm_rank(node, &d->local_rank);
  if (rc == MPI_SUCCESS) call = "MPI_Comm_size", rc = MPI_Comm_size(node, &d->local_size);
  int *ub = NULL, has_ub = 0;
  if (rc == MPI_SUCCESS) call = "MPI_Comm_get_attr", rc = MPI_Comm_get_attr(d->comm, MPI_TAG_UB, &ub, &has_ub);
  d->tag_ub = has_ub && ub ? *ub : 32767; /* the least the standard allows */
  if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
  if (rc != MPI_SUCCESS) {
    MPI_Comm_free(&d->comm);
    clt__free_mem(d);
    return mpi_fail(call, rc, "setting up clt's communicator");
  }
  d->owns_mpi = owns;
  *out = d;
  return CLT_OK;
}

bool clt_dist_available(void) { return true; }

clt_status clt_dist_init(int *argc, char ***argv, clt_dist **out) {
  clt__api("clt_dist_init");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if ((argc == NULL) != (argv == NULL)) return clt__err(CLT_ERR_INVALID_ARG, "argc and argv are both given or both NULL");
  clt__mutex_lock(&init_lock);
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  clt_status s = CLT_OK;
  if (finalized) {
    s = clt__err(CLT_ERR_STATE, "MPI was finalised (%s) and cannot be initialised again in this process",
                 mpi_ours ? "when the last clt_dist handle was released" : "by the application");
  } else if (!inited) {
    int provided = 0, rc = CLT__MPI(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided));
    if (rc != MPI_SUCCESS) s = mpi_fail("MPI_Init_thread", rc, "initialising MPI");
    else mpi_ours = true;
  }
  bool owns = mpi_ours;
  if (s == CLT_OK) s = make_handle(MPI_COMM_WORLD, owns, out);
  if (s == CLT_OK && owns) owned_handles++;
  clt__mutex_unlock(&init_lock);
  return s;
}

clt_status clt_dist_adopt(MPI_Comm comm, clt_dist **out) {
  clt__api("clt_dist_adopt");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (!inited || finalized)
    return clt__err(CLT_ERR_STATE, "MPI is %s: initialise it (MPI_Init) before adopting a communicator",
                    finalized ? "finalised" : "not initialised");
  if (comm == MPI_COMM_NULL) return clt__err(CLT_ERR_INVALID_ARG, "comm is MPI_COMM_NULL");
  return make_handle(comm, false, out);
}

clt_dist *clt__dist_retain(clt_dist *d) {
  atomic_fetch_add(&d->refs, 1);
  return d;
}

/* A failed handle keeps its communicator and MPI unfinalised: MPI_Finalize would wait for ranks
 * that may be gone, and requests may be in flight. The process is meant to exit. */
void clt__dist_release(clt_dist *d) {
  if (!d || atomic_fetch_sub(&d->refs, 1) != 1) return;
  bool failed = d->failed, owns = d->owns_mpi;
  if (!failed) MPI_Comm_free(&d->comm);
  clt__free_mem(d);
  if (!owns) return;
  clt__mutex_lock(&init_lock);
  if (--owned_handles == 0 && !failed) MPI_Finalize();
  clt__mutex_unlock(&init_lock);
}

void clt_dist_release(clt_dist *d) { clt__dist_release(d); }

int clt__dist_rank(const clt_dist *d) { return d->rank; }
int clt__dist_size(const clt_dist *d) { return d->size; }
int clt__dist_local_size(const clt_dist *d) { return d->local_size; }
bool clt__dist_threads_ok(const clt_dist *d) {
  (void)d;
  int provided = MPI_THREAD_SINGLE;
  return MPI_Query_thread(&provided) == MPI_SUCCESS && provided >= MPI_THREAD_SERIALIZED;
}
int clt_dist_rank(const clt_dist *d) { return d ? d->rank : -1; }
int clt_dist_size(const clt_dist *d) { return d ? d->size : -1; }
int clt_dist_local_rank(const clt_dist *d) { return d ? d->local_rank : -1; }

clt_status clt_dist_set_timeout(clt_dist *d, double seconds) {
  clt__api("clt_dist_set_timeout");
  if (!d) return clt__err(CLT_ERR_INVALID_ARG, "argument d is NULL");
  if (!(seconds > 0) || seconds > 1e9) return clt__err(CLT_ERR_INVALID_ARG, "timeout %g s must be > 0 (and finite)", seconds);
  d->timeout_s = seconds;
  return CLT_OK;
}

clt_status clt__dist_usable(const clt_dist *d) {
  if (!d) return clt__err(CLT_ERR_INVALID_ARG, "argument d is NULL");
  if (d->failed) return clt__err(CLT_ERR_STATE, "the communicator failed earlier (%s); exit and restart from a checkpoint", d->why);
  return CLT_OK;
}

/* ---- requests --------------------------------------------------------------------------- */

/* A ring allreduce (reduce-scatter, then allgather; Patarasuk and Yuan's bandwidth-optimal
 * algorithm, as Horovod's and Gloo's) over non-blocking point-to-point messages, for large
 * buffers. Open MPI's MPI_Iallreduce takes a binomial reduce and broadcast whenever the buffer
 * is in place or the ranks are fewer than 4, at half MPI_Allreduce's bandwidth and below
 * (docs/DISTRIBUTED.md); the ring moves 2 (p - 1) / p of the buffer per rank, as MPI_Allreduce.
 * Step s < p - 1 sends chunk (r - s) to the right and adds chunk (r - s - 1) from the left into
 * the buffer (incoming + own, so each chunk's sum runs in one fixed order of ranks); the next
 * p - 1 steps pass the finished chunks around. Each step has a tag of its own in the handle's
 * window for this operation, so that rings in flight at once never take each other's
 * messages. */
typedef struct {
  char *buf, *scratch; /* scratch: one incoming chunk */
  int64_t count;
  size_t es;
  MPI_Datatype dt;
  MPI_Op op;
  int p, r, tag;
  int step; /* steps finished, of 2 (p - 1) */
  bool posted;
  MPI_Request rq[2];
} ring;

struct clt__dist_req {
  const char *call;
  ring *ring; /* or n MPI requests */
  int n;
  MPI_Request r[];
};

static clt__dist_req *req_new(int n, const char *call) {
  clt__dist_req *r = clt__malloc(sizeof *r + (size_t)(n ? n : 1) * sizeof(MPI_Request));
  if (!r) {
    clt__err(CLT_ERR_OOM, "cannot allocate %d MPI requests", n);
    return NULL;
  }
  r->n = 0;
  r->ring = NULL;
  r->call = call;
  return r;
}

/* Frees req; after a failure (in_flight) the ring's scratch may still be a receive's target,
 * and stays. */
static void req_free(clt__dist_req *req, bool in_flight) {
  if (req->ring && !in_flight) clt__free_mem(req->ring->scratch);
  clt__free_mem(req->ring);
  clt__free_mem(req);
}

/* Chunk c of the ring: numpy.array_split of count in p. */
static void chunk(const ring *g, int c, int64_t *off, int *n) {
  c = ((c % g->p) + g->p) % g->p;
  int64_t base = g->count / g->p, extra = g->count % g->p;
  *off = c * base + (c < extra ? c : extra);
  *n = (int)(base + (c < extra));
}

/* Posts the receive and the send of the ring's current step. */
static int ring_post(MPI_Comm comm, ring *g, bool fault_point, const char **call) {
  bool scatter = g->step < g->p - 1;
  int t = scatter ? g->step : g->step - (g->p - 1), n_in, n_out;
  int64_t in, out;
  chunk(g, scatter ? g->r - t - 1 : g->r - t, &in, &n_in);
  chunk(g, scatter ? g->r - t : g->r + 1 - t, &out, &n_out);
  int left = (g->r + g->p - 1) % g->p, right = (g->r + 1) % g->p, tag = g->tag + g->step;
  void *to = scatter ? g->scratch : g->buf + (size_t)in * g->es;
  *call = "MPI_Irecv";
  int rc = fault_point ? CLT__MPI(MPI_Irecv(to, n_in, g->dt, left, tag, comm, &g->rq[0]))
                       : MPI_Irecv(to, n_in, g->dt, left, tag, comm, &g->rq[0]);
  if (rc != MPI_SUCCESS) return rc;
  *call = "MPI_Isend";
  rc = fault_point ? CLT__MPI(MPI_Isend(g->buf + (size_t)out * g->es, n_out, g->dt, right, tag, comm, &g->rq[1]))
                   : MPI_Isend(g->buf + (size_t)out * g->es, n_out, g->dt, right, tag, comm, &g->rq[1]);
  if (rc != MPI_SUCCESS) { /* nothing was sent to match the receive: withdrawn, so scratch is free */
    MPI_Cancel(&g->rq[0]);
    MPI_Wait(&g->rq[0], MPI_STATUS_IGNORE);
    return rc;
  }
  g->posted = true;
  return MPI_SUCCESS;
}

/* Moves req on as far as it goes without waiting: *done when complete. On a failure *call names
 * the MPI call. */
static int progress(MPI_Comm comm, clt__dist_req *req, bool *done, const char **call) {
  ring *g = req->ring;
  if (!g) {
    int flag = 0, rc = MPI_Testall(req->n, req->r, &flag, MPI_STATUSES_IGNORE);
    *call = "MPI_Testall";
    *done = flag != 0;
    return rc;
  }
  *done = false;
  while (g->step < 2 * (g->p - 1)) {
    int flag = 0, rc;
    if (!g->posted && (rc = ring_post(comm, g, false, call)) != MPI_SUCCESS) return rc;
    if ((rc = MPI_Testall(2, g->rq, &flag, MPI_STATUSES_IGNORE)) != MPI_SUCCESS) return *call = "MPI_Testall", rc;
    if (!flag) return MPI_SUCCESS;
    if (g->step < g->p - 1) {
      int64_t off;
      int n;
      chunk(g, g->r - g->step - 1, &off, &n);
      if ((rc = MPI_Reduce_local(g->scratch, g->buf + (size_t)off * g->es, n, g->dt, g->op)) != MPI_SUCCESS)
        return *call = "MPI_Reduce_local", rc;
    }
    g->step++;
    g->posted = false;
  }
  *done = true;
  return MPI_SUCCESS;
}

/* Marks d failed: what happened goes to the record and d->why. */
static clt_status fail_handle(clt_dist *d, clt_status s) {
  d->failed = true;
  const char *msg = clt_last_error(), *colon = strstr(msg, ": ");
  snprintf(d->why, sizeof d->why, "%s", colon ? colon + 2 : msg);
  return s;
}

/* After a failure the operation stays in flight inside MPI: our copy of its handles goes (MPI
 * never writes to it unless asked), the memory it names stays with the caller. */
clt_status clt__dist_test(clt_dist *d, clt__dist_req *req, bool *done) {
  const char *call = NULL;
  int rc = progress(d->comm, req, done, &call);
  if (rc != MPI_SUCCESS) {
    clt_status s = fail_handle(d, mpi_fail(call, rc, "polling %s", req->call));
    req_free(req, true);
    *done = false;
    return s;
  }
  if (*done) req_free(req, false);
  return CLT_OK;
}

/* Polls rather than MPI_Waitall, which could wait forever. Open MPI yields the core in each poll
 * when ranks outnumber cores (mpirun --oversubscribe), as its own waits do. */
clt_status clt__dist_wait(clt_dist *d, clt__dist_req *req, const char *what) {
  double start = clt__now();
  for (;;) {
    const char *call = NULL;
    bool done = false;
    int rc = progress(d->comm, req, &done, &call);
    clt_status s = CLT_OK;
    if (rc != MPI_SUCCESS)
      s = fail_handle(d, mpi_fail(call, rc, "waiting for %s (%s)", req->call, what));
    else if (!done && clt__now() - start > d->timeout_s)
      s = fail_handle(d, clt__err(CLT_ERR_BACKEND,
                                  "%s: %s did not complete within %g s on rank %d of %d: another rank stopped, died or "
                                  "is still busy (the limit: clt_dist_set_timeout or $CLT_DIST_TIMEOUT)",
                                  what, req->call, d->timeout_s, d->rank, d->size));
    if (done || s != CLT_OK) {
      req_free(req, !done);
      return s;
    }
  }
}

/* The started part of a request that failed to start whole, waited for so its memory is free. */
static clt_status start_failed(clt_dist *d, clt__dist_req *req, clt_status s) {
  if (req->n == 0) {
    req_free(req, false);
    return s;
  }
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", clt_last_error());
  if (clt__dist_wait(d, req, "the parts already started") != CLT_OK) return clt_last_status();
  clt__err_restore(s, msg);
  return s;
}

static MPI_Datatype mpi_type(clt_dtype dt) {
  switch (dt) {
    case CLT_FLOAT32: return MPI_FLOAT;
    case CLT_FLOAT64: return MPI_DOUBLE;
    case CLT_INT32: return MPI_INT32_T;
    case CLT_INT64: return MPI_INT64_T;
    default: return MPI_UINT8_T; /* uint8, and bool's 0 and 1 (its max is the logical or) */
  }
}

/* Elements per MPI call: counts are ints. */
#define CHUNK ((int64_t)1 << 30)

/* Starts the ring over count elements at buf (every chunk fits an int). */
static clt_status start_ring(clt_dist *d, void *buf, int64_t count, clt_dtype dt, clt_dist_op op, clt__dist_req **out) {
  clt__dist_req *req = req_new(0, "a ring allreduce (MPI_Isend, MPI_Irecv)");
  ring *g = req ? clt__calloc(1, sizeof *g) : NULL;
  size_t es = clt_dtype_size(dt), most = (size_t)((count + d->size - 1) / d->size);
  char *scratch = g ? clt__malloc(most * es) : NULL;
  if (!scratch) {
    clt__free_mem(g);
    if (req) clt__free_mem(req);
    return clt__err(CLT_ERR_OOM, "cannot allocate a ring allreduce's %zu-byte chunk", most * es);
  }
  *g = (ring){.buf = buf, .scratch = scratch, .count = count, .es = es, .dt = mpi_type(dt),
              .op = op == CLT_DIST_MAX ? MPI_MAX : MPI_SUM, .p = d->size, .r = d->rank};
  int window = 2 * (d->size - 1);
  g->tag = (int)(d->ring_seq++ % (uint64_t)(d->tag_ub / window)) * window;
  req->ring = g;
  const char *call = NULL;
  int rc = ring_post(d->comm, g, true, &call); /* the first step now, the others as it progresses */
  if (rc != MPI_SUCCESS) {
    req_free(req, false);
    return mpi_fail(call, rc, "%lld %s elements in a ring of %d", (long long)count, clt_dtype_name(dt), d->size);
  }
  *out = req;
  return CLT_OK;
}

clt_status clt__dist_iallreduce(clt_dist *d, void *buf, int64_t count, clt_dtype dt, clt_dist_op op,
                                clt__dist_req **out) {
  size_t bytes = (size_t)count * clt_dtype_size(dt);
  int window = 2 * (d->size - 1);
  /* on two ranks the ring is two exchanges of half the buffer: it beat MPI_Iallreduce (a binomial
   * reduce and broadcast) from 4 KB on; on more, its 2 (p - 1) steps cost latency below ring_min */
  bool ring = (d->size == 2 && !d->ring_min_set) || (d->size > 1 && bytes >= d->ring_min);
  if (ring && count / d->size < CHUNK && d->tag_ub / window >= 1)
    return start_ring(d, buf, count, dt, op, out);
  int parts = (int)((count + CHUNK - 1) / CHUNK);
  clt__dist_req *req = req_new(parts, "MPI_Iallreduce");
  if (!req) return CLT_ERR_OOM;
  size_t es = clt_dtype_size(dt);
  for (int i = 0; i < parts; i++) {
    int64_t n = count - i * CHUNK < CHUNK ? count - i * CHUNK : CHUNK;
    int rc = CLT__MPI(MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + (size_t)(i * CHUNK) * es, (int)n, mpi_type(dt),
                                     op == CLT_DIST_MAX ? MPI_MAX : MPI_SUM, d->comm, &req->r[i]));
    if (rc != MPI_SUCCESS)
      return start_failed(d, req, mpi_fail("MPI_Iallreduce", rc, "%lld %s elements", (long long)n, clt_dtype_name(dt)));
    req->n++;
  }
  *out = req;
  return CLT_OK;
}

clt_status clt__dist_ibcast(clt_dist *d, void *buf, size_t bytes, int root, clt__dist_req **out) {
  int parts = (int)((bytes + (size_t)CHUNK - 1) / (size_t)CHUNK);
  clt__dist_req *req = req_new(parts, "MPI_Ibcast");
  if (!req) return CLT_ERR_OOM;
  for (int i = 0; i < parts; i++) {
    size_t n = bytes - (size_t)i * (size_t)CHUNK < (size_t)CHUNK ? bytes - (size_t)i * (size_t)CHUNK : (size_t)CHUNK;
    int rc = CLT__MPI(MPI_Ibcast((char *)buf + (size_t)i * (size_t)CHUNK, (int)n, MPI_BYTE, root, d->comm, &req->r[i]));
    if (rc != MPI_SUCCESS) return start_failed(d, req, mpi_fail("MPI_Ibcast", rc, "%zu bytes from rank %d", n, root));
    req->n++;
  }
  *out = req;
  return CLT_OK;
}

clt_status clt__dist_iallgather(clt_dist *d, const void *src, size_t bytes, void *dst, clt__dist_req **out) {
  if (bytes > INT_MAX)
    return clt__err(CLT_ERR_OVERFLOW, "%zu bytes per rank: MPI_Iallgather counts at most %d", bytes, INT_MAX);
  clt__dist_req *req = req_new(1, "MPI_Iallgather");
  if (!req) return CLT_ERR_OOM;
  int rc = CLT__MPI(MPI_Iallgather(src, (int)bytes, MPI_BYTE, dst, (int)bytes, MPI_BYTE, d->comm, &req->r[0]));
  if (rc != MPI_SUCCESS) return start_failed(d, req, mpi_fail("MPI_Iallgather", rc, "%zu bytes per rank", bytes));
  req->n = 1;
  *out = req;
  return CLT_OK;
}

clt_status clt__dist_ibarrier(clt_dist *d, clt__dist_req **out) {
  clt__dist_req *req = req_new(1, "MPI_Ibarrier");
  if (!req) return CLT_ERR_OOM;
  int rc = CLT__MPI(MPI_Ibarrier(d->comm, &req->r[0]));
  if (rc != MPI_SUCCESS) return start_failed(d, req, mpi_fail("MPI_Ibarrier", rc, "on %d ranks", d->size));
  req->n = 1;
  *out = req;
  return CLT_OK;
}

clt_status clt__dist_same(clt_dist *d, uint64_t v, bool *same) {
  uint64_t both[2] = {v, ~v}; /* max of each: v everywhere iff both come back unchanged */
  clt__dist_req *req;
  clt_status s = clt__dist_iallreduce(d, both, 2, CLT_INT64, CLT_DIST_MAX, &req);
  if (s == CLT_OK) s = clt__dist_wait(d, req, "comparing the ranks");
  *same = s == CLT_OK && both[0] == v && both[1] == ~v;
  return s;
}
