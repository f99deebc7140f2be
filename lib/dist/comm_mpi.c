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

#define CLT__MPI(call) (clt__fault_hit_cl(#call) ? MPI_ERR_OTHER : (call))

struct clt_dist {
  atomic_long refs;
  MPI_Comm comm; /* clt's duplicate, MPI_ERRORS_RETURN */
  int rank, size, local_rank;
  double timeout_s;
  bool owns_mpi; /* counts towards finalising the MPI clt initialised */
  bool failed;   /* a collective timed out or MPI failed: requests may still be in flight */
  char why[512];
};

struct clt__dist_req {
  int n; /* MPI requests in r */
  const char *call;
  MPI_Request r[];
};

/* Whether clt initialised MPI, and how many handles of clt_dist_init are alive: the last one
 * released finalises. */
static clt__mutex init_lock = CLT__MUTEX_INIT;
static bool mpi_ours;
static long owned_handles;

/* "MPI_X failed: <MPI's error string> (class N): <detail>" */
static clt_status mpi_fail(const char *call, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
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

static clt__dist_req *req_new(int n, const char *call) {
  clt__dist_req *r = clt__malloc(sizeof *r + (size_t)(n ? n : 1) * sizeof(MPI_Request));
  if (!r) {
    clt__err(CLT_ERR_OOM, "cannot allocate %d MPI requests", n);
    return NULL;
  }
  r->n = 0;
  r->call = call;
  return r;
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
  int flag = 0, rc = MPI_Testall(req->n, req->r, &flag, MPI_STATUSES_IGNORE);
  *done = false;
  if (rc != MPI_SUCCESS) {
    clt_status s = fail_handle(d, mpi_fail("MPI_Testall", rc, "polling %s", req->call));
    clt__free_mem(req);
    return s;
  }
  if (flag) clt__free_mem(req);
  *done = flag != 0;
  return CLT_OK;
}

/* Polls rather than MPI_Waitall, which could wait forever. Open MPI yields the core in each poll
 * when ranks outnumber cores (mpirun --oversubscribe), as its own waits do. */
clt_status clt__dist_wait(clt_dist *d, clt__dist_req *req, const char *what) {
  double start = clt__now();
  for (;;) {
    int flag = 0, rc = MPI_Testall(req->n, req->r, &flag, MPI_STATUSES_IGNORE);
    clt_status s = CLT_OK;
    if (rc != MPI_SUCCESS)
      s = fail_handle(d, mpi_fail("MPI_Testall", rc, "waiting for %s (%s)", req->call, what));
    else if (!flag && clt__now() - start > d->timeout_s)
      s = fail_handle(d, clt__err(CLT_ERR_BACKEND,
                                  "%s: %s did not complete within %g s on rank %d of %d: another rank stopped, died or "
                                  "is still busy (the limit: clt_dist_set_timeout or $CLT_DIST_TIMEOUT)",
                                  what, req->call, d->timeout_s, d->rank, d->size));
    if (flag || s != CLT_OK) { /* on a failure, as clt__dist_test */
      clt__free_mem(req);
      return s;
    }
  }
}

/* The started part of a request that failed to start whole, waited for so its memory is free. */
static clt_status start_failed(clt_dist *d, clt__dist_req *req, clt_status s) {
  if (req->n == 0) {
    clt__free_mem(req);
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

clt_status clt__dist_iallreduce(clt_dist *d, void *buf, int64_t count, clt_dtype dt, clt_dist_op op,
                                clt__dist_req **out) {
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
