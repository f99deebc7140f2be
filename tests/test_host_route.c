/* The host route of the OpenCL backend (lib/cl/ew.c): small exact elementwise programs on PoCL
 * run on the calling thread over the buffers' own memory when nothing clt queued is pending.
 * Results must not depend on the route, large queued work must stay ordered with small ops on
 * the same buffers, in both directions, and a released buffer's address must be forgotten. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ew.h"
#include "lib/cl/cl_internal.h"
#include "tu.h"

static unsigned long host_runs(void) { return atomic_load(&clt__cl_host_runs); }
static unsigned long launches(void) { return atomic_load(&clt__kernel_launches); }

/* The PoCL device under test with the route on, or NULL (the test skips). */
static clt_device *route_device(void) {
  clt_device *dev = tu_cl();
  return dev && clt__cl(dev)->host_max > 0 ? dev : NULL;
}

/* Elements of a kernel big enough to stay queued behind the calling thread (above
 * CLT_HOST_OPS's default): 4M, or 128K under valgrind, where the host's loops run emulated
 * (the tests count what was queued, they do not race the kernel). */
static int64_t big_numel(void) {
  const char *vg = getenv("CLT_TEST_VALGRIND");
  return vg && strcmp(vg, "1") == 0 ? (int64_t)1 << 17 : (int64_t)1 << 22;
}

static clt_tensor *ramp(clt_device *dev, int64_t n, double scale, double shift) {
  float *v = malloc((size_t)n * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = (float)(scale * (double)((i * 37) % 101 - 50) + shift);
  clt_tensor *t = clt_from_host(dev, CLT_FLOAT32, 1, &n, v);
  free(v);
  return t;
}

static float *floats(clt_tensor *t) {
  size_t n = (size_t)clt_numel(t);
  float *v = malloc(n * sizeof *v);
  ck_assert_msg(clt_to_host(t, v, n * sizeof *v) == CLT_OK, "%s", clt_last_error());
  return v;
}

/* Small exact ops run on the host, each one pass counted as a launch; the same ops on the
 * kernels (the device opened with CLT_HOST_OPS=0) give the same bytes; exp takes the kernels. */
START_TEST(small_ops_run_on_the_calling_thread) {
  clt_device *dev = route_device();
  if (!dev) TU_SKIP("no PoCL CPU device with the host route");
  setenv("CLT_HOST_OPS", "0", 1);
  clt_device *kdev = NULL;
  clt_status st = clt_device_open(dev->info.spec, &kdev);
  unsetenv("CLT_HOST_OPS");
  ck_assert_msg(st == CLT_OK, "%s", clt_last_error());
  ck_assert_int_eq(clt__cl(kdev)->host_max, 0);
  const int64_t n = 1000;
  float *out[2];
  for (int k = 0; k < 2; k++) {
    clt_device *d = k ? kdev : dev;
    clt_scope_begin();
    clt_tensor *x = ramp(d, n, 0.37, 0.1), *y = ramp(d, n, -0.11, 0.3);
    for (int warm = 0; warm < 3; warm++) { /* the first passes learn the buffers' addresses (one by one, fused) */
      clt_scope_begin();
      ck_assert_int_eq(clt_device_synchronize(d), CLT_OK);
      unsigned long runs = host_runs(), before = launches();
      clt_tensor *r = clt_maximum(clt_relu(clt_sub(clt_mul_scalar(clt_add(x, y), 0.3), y)), clt_neg(x));
      clt_tensor *c = clt_where(clt_gt(r, x), r, clt_clamp(x, -1.5, 2.5));
      ck_assert_int_eq(clt_eval(c), CLT_OK);
      if (warm == 2 && !k) { /* every pass ran here, none on the device */
        ck_assert_uint_gt(host_runs() - runs, 0);
        ck_assert_uint_eq(launches() - before, host_runs() - runs);
      }
      if (k) ck_assert_uint_eq(host_runs(), runs);
      if (warm == 2) out[k] = floats(c);
      clt_scope_end();
    }
    unsigned long runs = host_runs();
    clt_tensor *e = clt_exp(x);
    ck_assert_int_eq(clt_eval(e), CLT_OK);
    ck_assert_uint_eq(host_runs(), runs);
    clt_scope_end();
  }
  ck_assert_msg(memcmp(out[0], out[1], (size_t)n * sizeof(float)) == 0, "the host route's bytes differ from the kernels'");
  free(out[0]);
  free(out[1]);
  clt_device_release(kdev);
}
END_TEST

/* Small ops while a large kernel is still queued: one reads the large op's result, one takes
 * for its output the buffer of a tensor released while the kernel still reads it. Both must
 * come after the kernel, and without waiting for it: as kernels queued after it. With nothing
 * pending they run here. */
static clt_tensor *full(clt_device *dev, int64_t n, float v) {
  float *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = v + (float)(i % 7);
  clt_tensor *t = clt_from_host(dev, CLT_FLOAT32, 1, &n, x);
  free(x);
  return t;
}

START_TEST(queued_work_stays_ordered) {
  clt_device *dev = route_device();
  if (!dev) TU_SKIP("no PoCL CPU device with the host route");
  const int64_t cols = 1024, rows = big_numel() / cols;
  clt_tensor *big = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(rows, cols));
  clt_tensor *other = full(dev, cols, 100.0f);
  unsigned long runs = host_runs();
  for (int step = 0; step < 6; step++) {
    ck_assert_int_eq(clt_device_synchronize(dev), CLT_OK);
    clt_tensor *row = full(dev, cols, (float)step);
    clt_tensor *sum = clt_add(big, row); /* big + row, broadcast: a kernel over big_numel() elements */
    ck_assert_int_eq(clt_eval(sum), CLT_OK);
    clt_release(row); /* its buffer back to the pool while the kernel reads it */
    unsigned long pending_runs = host_runs();
    clt_tensor *reuse = clt_add_scalar(other, 1.0); /* may get row's buffer for its output */
    clt_tensor *first = clt_slice(sum, 0, 0, 1, 1), *twice = clt_mul_scalar(first, 2.0);
    ck_assert_int_eq(clt_eval(reuse), CLT_OK);
    ck_assert_int_eq(clt_eval(twice), CLT_OK);
    ck_assert_uint_eq(host_runs(), pending_runs); /* queued after the kernel, not waiting for it */
    float *sv = floats(sum), *rv = floats(reuse), *tv = floats(twice);
    for (int64_t i = 0; i < rows * cols; i += 1021) {
      float want = (float)step + (float)((i % cols) % 7);
      ck_assert_msg(sv[i] == want, "step %d: sum[%lld] = %g, want %g", step, (long long)i, sv[i], want);
    }
    for (int64_t i = 0; i < cols; i++) {
      float want = (float)step + (float)(i % 7);
      ck_assert_msg(tv[i] == 2 * want, "step %d: twice[%lld] = %g, want %g", step, (long long)i, tv[i], 2 * want);
      ck_assert_msg(rv[i] == 101.0f + (float)(i % 7), "step %d: reuse[%lld] = %g", step, (long long)i, rv[i]);
    }
    free(sv);
    free(rv);
    free(tv);
    clt_release(reuse);
    clt_release(twice);
    clt_release(first);
    clt_release(sum);
    /* and with nothing pending, the same small ops on the host */
    ck_assert_int_eq(clt_device_synchronize(dev), CLT_OK);
    clt_tensor *again = clt_add_scalar(other, 1.0);
    ck_assert_int_eq(clt_eval(again), CLT_OK);
    clt_release(again);
  }
  ck_assert_uint_gt(host_runs() - runs, 0);
  clt_release(big);
  clt_release(other);
}
END_TEST

static size_t known_buffers(clt__cl_dev *d) {
  clt__mutex_lock(&d->ptr_lock);
  size_t n = d->nptrs;
  clt__mutex_unlock(&d->ptr_lock);
  return n;
}

/* The pool releases buffers whose addresses the route knows: it forgets them (a buffer made
 * later may get the same handle), and new buffers work. */
START_TEST(released_buffers_are_forgotten) {
  clt_device *dev = route_device();
  if (!dev) TU_SKIP("no PoCL CPU device with the host route");
  clt__cl_dev *d = clt__cl(dev);
  clt_device_empty_cache(dev);
  size_t base = known_buffers(d); /* buffers the device keeps for itself */
  for (int round = 0; round < 4; round++) {
    int64_t n = 300 + 100 * round;
    clt_scope_begin();
    clt_tensor *x = ramp(dev, n, 1.0, round), *y = x;
    for (int k = 0; k < 3; k++) { /* learns, then runs on the host */
      y = clt_add(y, x);
      ck_assert_int_eq(clt_eval(y), CLT_OK);
      ck_assert_int_eq(clt_device_synchronize(dev), CLT_OK);
    }
    float *xv = floats(x), *yv = floats(y);
    for (int64_t i = 0; i < n; i++) ck_assert_msg(yv[i] == 4 * xv[i], "round %d: y[%lld] = %g, want %g", round, (long long)i, yv[i], 4 * xv[i]);
    free(xv);
    free(yv);
    ck_assert_uint_gt(known_buffers(d), base);
    clt_scope_end();
    clt_device_empty_cache(dev); /* every buffer of the round back to the driver, and forgotten */
    ck_assert_uint_eq(known_buffers(d), base);
  }
}
END_TEST

/* The backend's map (the distributed module's staging) of a buffer the route knows is the
 * buffer's own memory after a clFinish, not a PoCL map (a round trip through its driver thread,
 * 27-50 us): the call it makes is clFinish (the first fault point it passes), it waits for the
 * kernel still queued on the buffer, and kernels see what the host wrote there. */
START_TEST(maps_hand_out_the_buffers_own_memory) {
  clt_device *dev = route_device();
  if (!dev) TU_SKIP("no PoCL CPU device with the host route");
  const int64_t n = big_numel(), off = 1000, len = 1000;
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(n));
  clt_tensor *y = clt_add_scalar(x, 3.0); /* a kernel, still queued */
  ck_assert_int_eq(clt_eval(y), CLT_OK);
  clt__storage *st = y->st;
  char *own = clt__cl_hostptr_of(clt__cl(dev), st);
  ck_assert_ptr_nonnull(own);
  void *p = NULL;
  clt__fault_reset();
  clt__fault_arm(1, 0);
  ck_assert_int_ne(dev->be->map(dev, st, off * 4, len * 4, CLT__MAP_READ | CLT__MAP_WRITE, &p), CLT_OK);
  ck_assert_msg(clt__fault_fired_call() && strncmp(clt__fault_fired_call(), "clFinish(", 9) == 0, "the map's first call: %s",
                clt__fault_fired_call() ? clt__fault_fired_call() : "(none)");
  clt__fault_reset();
  ck_assert_int_eq(dev->be->map(dev, st, off * 4, len * 4, CLT__MAP_READ | CLT__MAP_WRITE, &p), CLT_OK);
  ck_assert_ptr_eq(p, own + off * 4);
  float *f = p;
  for (int64_t i = 0; i < len; i++) {
    ck_assert_msg(f[i] == 3.0f, "mapped[%lld] = %g before the kernel finished", (long long)i, f[i]);
    f[i] = (float)i;
  }
  ck_assert_int_eq(dev->be->unmap(dev, st, p), CLT_OK);
  clt_tensor *z = clt_mul_scalar(y, 2.0); /* a kernel reading what the host wrote */
  float *zv = floats(z);
  for (int64_t i = 0; i < n; i += (i >= off - 2 && i < off + len + 2) ? 1 : 4099) {
    float want = i >= off && i < off + len ? 2.0f * (float)(i - off) : 6.0f;
    ck_assert_msg(zv[i] == want, "z[%lld] = %g, want %g", (long long)i, zv[i], want);
  }
  free(zv);
  clt_release(z);
  clt_release(y);
  clt_release(x);
}
END_TEST

START_TEST(host_ops_environment) {
  clt_device *dev = tu_cl();
  if (!dev) TU_SKIP("no OpenCL device");
  clt_device *other = NULL;
  setenv("CLT_HOST_OPS", "many", 1);
  clt_status st = clt_device_open(dev->info.spec, &other);
  unsetenv("CLT_HOST_OPS");
  TU_ASSERT_ERR(st, "$CLT_HOST_OPS is 'many'");
  ck_assert_ptr_null(other);
  setenv("CLT_HOST_OPS", "5", 1);
  st = clt_device_open(dev->info.spec, &other);
  unsetenv("CLT_HOST_OPS");
  ck_assert_msg(st == CLT_OK, "%s", clt_last_error());
  bool pocl = clt__cl(other)->is_pocl && clt__cl(other)->is_cpu;
  ck_assert_int_eq(clt__cl(other)->host_max, pocl ? 5 : 0);
  clt_device_release(other);
}
END_TEST

/* Small ops with learning, the route and the wait before it, every fault point failing in turn. */
static clt_status small_workload(clt_device *dev, double *result) {
  int64_t n = 200;
  clt_scope_begin();
  clt_tensor *x = clt_arange(dev, CLT_FLOAT32, 0, (double)n, 1), *y = NULL;
  clt_status st = x ? clt_device_synchronize(dev) : clt_last_status();
  for (int k = 0; k < 3 && st == CLT_OK; k++) {
    y = clt_relu(clt_sub(clt_mul(y ? y : x, x), x));
    st = y ? clt_eval(y) : clt_last_status();
  }
  if (st == CLT_OK) st = clt_item(clt_sum(y, CLT_ALL_DIMS, false), result);
  clt_scope_end();
  return st;
}

START_TEST(small_ops_survive_every_fault) {
  clt_device *dev = route_device();
  if (!dev) TU_SKIP("no PoCL CPU device with the host route");
  tu_fault_sweep(dev, small_workload, 1e-12, 5);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("host_route");
  TCase *tc = tu_tcase("host_route");
  tcase_add_test(tc, small_ops_run_on_the_calling_thread);
  tcase_add_test(tc, queued_work_stays_ordered);
  tcase_add_test(tc, released_buffers_are_forgotten);
  tcase_add_test(tc, maps_hand_out_the_buffers_own_memory);
  tcase_add_test(tc, host_ops_environment);
  tcase_add_test(tc, small_ops_survive_every_fault);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
