/* The communicator in a build without MPI: no handle can be made, so every collective refuses
 * with CLT_ERR_UNSUPPORTED (clt/dist.h). */
#include "dist_impl.h"

static clt_status unsupported(void) {
  return clt__err(CLT_ERR_UNSUPPORTED, "this clt was built without MPI (install Open MPI, libopenmpi-dev, and "
                                       "configure with meson -Dmpi=enabled)");
}

bool clt_dist_available(void) { return false; }

clt_status clt_dist_init(int *argc, char ***argv, clt_dist **out) {
  (void)argc, (void)argv;
  clt__api("clt_dist_init");
  if (out) *out = NULL;
  return unsupported();
}

void clt_dist_release(clt_dist *d) { (void)d; }
int clt_dist_rank(const clt_dist *d) { return (void)d, -1; }
int clt_dist_size(const clt_dist *d) { return (void)d, -1; }
int clt_dist_local_rank(const clt_dist *d) { return (void)d, -1; }

clt_status clt_dist_set_timeout(clt_dist *d, double seconds) {
  (void)d, (void)seconds;
  clt__api("clt_dist_set_timeout");
  return unsupported();
}

clt_status clt__dist_usable(const clt_dist *d) { return (void)d, unsupported(); }
clt_dist *clt__dist_retain(clt_dist *d) { return d; }
void clt__dist_release(clt_dist *d) { (void)d; }
int clt__dist_rank(const clt_dist *d) { return (void)d, 0; }
int clt__dist_size(const clt_dist *d) { return (void)d, 1; }
bool clt__dist_threads_ok(const clt_dist *d) { return (void)d, false; }
int clt__dist_local_size(const clt_dist *d) { return (void)d, 1; }

/* Unreachable without a handle; each refuses all the same. */
clt_status clt__dist_iallreduce(clt_dist *d, void *buf, int64_t count, clt_dtype dt, clt_dist_op op,
                                clt__dist_req **req) {
  (void)d, (void)buf, (void)count, (void)dt, (void)op, (void)req;
  return unsupported();
}
clt_status clt__dist_ibcast(clt_dist *d, void *buf, size_t bytes, int root, clt__dist_req **req) {
  (void)d, (void)buf, (void)bytes, (void)root, (void)req;
  return unsupported();
}
clt_status clt__dist_iallgather(clt_dist *d, const void *src, size_t bytes, void *dst, clt__dist_req **req) {
  (void)d, (void)src, (void)bytes, (void)dst, (void)req;
  return unsupported();
}
clt_status clt__dist_ibarrier(clt_dist *d, clt__dist_req **req) {
  (void)d, (void)req;
  return unsupported();
}
clt_status clt__dist_test(clt_dist *d, clt__dist_req *req, bool *done) {
  (void)d, (void)req;
  *done = true;
  return unsupported();
}
clt_status clt__dist_wait(clt_dist *d, clt__dist_req *req, const char *what) {
  (void)d, (void)req, (void)what;
  return unsupported();
}
clt_status clt__dist_same(clt_dist *d, uint64_t v, bool *same) {
  (void)d, (void)v;
  *same = false;
  return unsupported();
}
