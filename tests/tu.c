#include "tu.h"

#include <stdarg.h>
#include <stdio.h>

#include "dispatch.h"

clt_device *tu_dev[TU_MAX_DEV];
int tu_ndev;

bool tu_required(void) {
  const char *req = getenv("CLT_REQUIRE_DEVICE");
  return req && strcmp(req, "1") == 0;
}

void tu_skip_(const char *fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (tu_required()) ck_abort_msg("%s, and CLT_REQUIRE_DEVICE=1 makes a skip a failure", why);
  fprintf(stderr, "skipped: %s\n", why);
}

bool tu_open_devices(bool host_only) {
  tu_ndev = 0;
  if (clt_device_open("host", &tu_dev[tu_ndev]) != CLT_OK) {
    fprintf(stderr, "cannot open the host device: %s\n", clt_last_error());
    return false;
  }
  tu_ndev++;
  if (host_only) {
    fprintf(stderr, "under valgrind this suite runs on the host only (tests/tu.h)\n");
    return true;
  }
  const char *spec = getenv("CLT_TEST_DEVICE");
  if (clt_device_open(spec && *spec ? spec : "cl", &tu_dev[tu_ndev]) == CLT_OK) {
    tu_ndev++;
  } else {
    fprintf(stderr, "no OpenCL device: %s\n", clt_last_error());
    clt_clear_error();
    if (tu_required()) {
      fprintf(stderr, "CLT_REQUIRE_DEVICE=1: failing instead of skipping the device tests\n");
      return false;
    }
  }
  return true;
}

void tu_close_devices(void) {
  for (int i = 0; i < tu_ndev; i++) clt_device_release(tu_dev[i]);
  tu_ndev = 0;
}

clt_device *tu_cl(void) { return tu_ndev > 1 ? tu_dev[1] : NULL; }

const char *tu_live_name(int k) {
  static const char *const names[] = {"tensors", "storages", "devices", "buffers", "programs",
                                      "kernels", "events",   "contexts", "queues"};
  _Static_assert(sizeof names / sizeof *names == CLT__LIVE_COUNT, "a name for every live counter");
  return k >= 0 && k < CLT__LIVE_COUNT ? names[k] : "?";
}

static long live_at_start[CLT__LIVE_COUNT];
static uint64_t in_use_at_start[TU_MAX_DEV];

void tu_leak_setup(void) {
  clt_clear_error();
  clt__fault_reset();
  for (int k = 0; k < CLT__LIVE_COUNT; k++) live_at_start[k] = atomic_load(&clt__live[k]);
  for (int i = 0; i < tu_ndev; i++) {
    clt_memory_stats ms;
    clt_device_get_memory_stats(tu_dev[i], &ms);
    in_use_at_start[i] = ms.bytes_in_use;
  }
}

void tu_leak_teardown(void) {
  clt__fault_reset();
  int depth = clt_scope_depth();
  while (clt_scope_depth() > 0) clt_scope_end(); /* so that one failure does not cascade */
  ck_assert_int_eq(depth, 0);
  /* what a test owns; buffers, programs and kernels stay with the devices it shares */
  static const int owned[] = {CLT__LIVE_TENSORS, CLT__LIVE_STORAGES, CLT__LIVE_DEVICES, CLT__LIVE_CONTEXTS,
                              CLT__LIVE_QUEUES};
  for (size_t i = 0; i < sizeof owned / sizeof *owned; i++) {
    long now = atomic_load(&clt__live[owned[i]]);
    ck_assert_msg(now == live_at_start[owned[i]], "live %s: %ld at the start of the test, %ld at its end",
                  tu_live_name(owned[i]), live_at_start[owned[i]], now);
  }
  for (int i = 0; i < tu_ndev; i++) {
    clt_memory_stats ms;
    clt_device_get_memory_stats(tu_dev[i], &ms);
    ck_assert_uint_eq(ms.bytes_in_use, in_use_at_start[i]);
  }
}

static int vs_host_skipped;

int64_t tu_sweep_step(int64_t step) {
  const char *e = getenv("CLT_TEST_SWEEP_SCALE");
  long scale = e ? strtol(e, NULL, 10) : 1;
  return scale > 1 ? step * scale : step;
}

bool tu_selected(const char *name) {
  const char *only = getenv("CLT_TEST_ONLY");
  if (!only || !*only) return true;
  for (const char *p = only; *p;) {
    size_t n = strcspn(p, ",");
    for (const char *q = name; n > 0 && *q; q++)
      if (strncmp(q, p, n) == 0) return true;
    p += n + (p[n] == ',');
  }
  return false;
}

void tu_add_devices(TCase *tc, const TTest *fn, const char *name) {
  if (tu_selected(name)) tcase_add_loop_test(tc, fn, 0, tu_ndev);
}

void tu_add_vs_host(TCase *tc, const TTest *fn, const char *name) {
  if (!tu_selected(name)) return;
  if (tu_ndev > 1) {
    tcase_add_loop_test(tc, fn, 1, tu_ndev);
  } else {
    fprintf(stderr, "%s not run: it holds a device to the host, and only the host is under test\n", name);
    vs_host_skipped++;
  }
}

TCase *tu_tcase(const char *name) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, tu_leak_setup, tu_leak_teardown);
  tcase_set_timeout(tc, 600);
  return tc;
}

int tu_main(Suite *(*make_suite)(void), tu_kernels kernels) {
  const char *vg = getenv("CLT_TEST_VALGRIND");
  if (!tu_open_devices(kernels == TU_MANY_KERNELS && vg && strcmp(vg, "1") == 0)) return 1;
  for (int i = 0; i < tu_ndev; i++) fprintf(stderr, "device under test: %s (%s)\n", tu_dev[i]->info.spec, tu_dev[i]->info.name);
  SRunner *sr = srunner_create(make_suite());
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  if (vs_host_skipped) fprintf(stderr, "%d device-against-host tests not run (host only)\n", vs_host_skipped);
  int failed = srunner_ntests_failed(sr);
  /* a run told to take some tests that took none passed without checking anything (a meson
   * environment shared by two test entries once gave one of them the other's list) */
  const char *only = getenv("CLT_TEST_ONLY");
  if (only && *only && srunner_ntests_run(sr) == 0) {
    fprintf(stderr, "CLT_TEST_ONLY='%s' selected no test of this suite\n", only);
    failed = 1;
  }
  srunner_free(sr);
  tu_close_devices();
  for (int k = 0; k < CLT__LIVE_COUNT; k++) {
    long n = atomic_load(&clt__live[k]);
    if (n != 0 && !failed) {
      fprintf(stderr, "leak: %ld live %s after closing every device\n", n, tu_live_name(k));
      failed = 1;
    }
  }
  return failed ? 1 : 0;
}

void tu_assert_err_(clt_status st, const char *file, int line, ...) {
  if (clt_last_status() != st)
    ck_abort_msg("%s:%d: expected %s, got %s: %s", file, line, clt_status_name(st),
                 clt_status_name(clt_last_status()), clt_last_error());
  va_list ap;
  va_start(ap, line);
  for (const char *want; (want = va_arg(ap, const char *));)
    if (!strstr(clt_last_error(), want))
      ck_abort_msg("%s:%d: message \"%s\" lacks \"%s\"", file, line, clt_last_error(), want);
  va_end(ap);
  clt_clear_error();
}

const char *tu_fault_unnamed(clt_status st) {
  static char why[2048];
  const char *call = clt__fault_fired_call(), *msg = clt_last_error();
  if (!clt__fault_fired()) return "the fault never fired";
  if (strncmp(msg, "clt_", 4) != 0 || !strstr(msg, ": ")) {
    snprintf(why, sizeof why, "message '%s' names no function", msg);
    return why;
  }
  if (!call) {
    if (st == CLT_ERR_OOM) return NULL;
    snprintf(why, sizeof why, "a host allocation failed, but the status is %s: '%s'", clt_status_name(st), msg);
    return why;
  }
  size_t len = strcspn(call, "( ");
  char name[64];
  snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), call);
  if (strstr(msg, name)) return NULL;
  snprintf(why, sizeof why, "%s failed, but the message does not name %s: '%s'", call, name, msg);
  return why;
}

double *tu_values(const clt_tensor *t) {
  int64_t n = clt_numel(t);
  size_t es = clt_dtype_size(clt_dtype_of(t));
  unsigned char *raw = malloc((size_t)(n ? n : 1) * es);
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  ck_assert_ptr_nonnull(raw);
  ck_assert_ptr_nonnull(v);
  ck_assert_msg(clt_to_host(t, raw, (size_t)n * es) == CLT_OK, "%s", clt_last_error());
  for (int64_t i = 0; i < n; i++) v[i] = clt__load_f64(clt_dtype_of(t), raw + (size_t)i * es);
  free(raw);
  return v;
}

void tu_assert_values(const clt_tensor *t, int ndim, const int64_t *shape, const double *want) {
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(clt_ndim(t), ndim);
  for (int d = 0; d < ndim; d++) ck_assert_int_eq(clt_shape(t)[d], shape[d]);
  double *v = tu_values(t);
  /* the first mismatch, then one assertion: each ck_assert writes a mark to Check's log, which
   * per element of a large tensor cost minutes under valgrind and ASan (test_dist: 70001) */
  int64_t i = 0, n = clt_numel(t);
  while (i < n && (v[i] == want[i] || (isnan(v[i]) && isnan(want[i])))) i++;
  double got = i < n ? v[i] : 0, exp = i < n ? want[i] : 0;
  free(v);
  ck_assert_msg(i == n, "element %lld: got %g, want %g", (long long)i, got, exp);
}

void tu_fault_sweep(clt_device *dev, tu_workload workload, double rel_tol, long min_points) {
  double want, got;
  ck_assert_msg(workload(dev, &want) == CLT_OK, "%s", clt_last_error()); /* builds what a warm device needs */
  /* and once more: an elementwise chain is one generated kernel from its second run on a device
   * (lib/fusion.c), built then */
  ck_assert_msg(workload(dev, &got) == CLT_OK, "%s", clt_last_error());
  clt__fault_reset();
  ck_assert_msg(workload(dev, &got) == CLT_OK && fabs(got - want) <= rel_tol * fabs(want), "%s", clt_last_error());
  long points = clt__fault_count();
  for (long n = 1; n <= points; n++) {
    long before[CLT__LIVE_COUNT], after[CLT__LIVE_COUNT];
    for (int k = 0; k < CLT__LIVE_COUNT; k++) before[k] = atomic_load(&clt__live[k]);
    clt__fault_reset();
    clt__fault_arm(n, 0);
    clt_clear_error();
    clt_status st = workload(dev, &got);
    bool fired = clt__fault_fired();
    const char *call = clt__fault_fired_call();
    clt__fault_reset();
    for (int k = 0; k < CLT__LIVE_COUNT; k++) after[k] = atomic_load(&clt__live[k]);
    for (int k = 0; k < CLT__LIVE_COUNT; k++)
      ck_assert_msg(after[k] == before[k], "fault %ld of %ld (%s): live %s went %ld -> %ld", n, points,
                    call ? call : "?", tu_live_name(k), before[k], after[k]);
    ck_assert_msg(fired, "fault %ld of %ld never fired", n, points);
    ck_assert_msg(st != CLT_OK && st != CLT_ERR_STATE, "fault %ld of %ld (%s): status %d (%s)", n, points,
                  call ? call : "?", (int)st, clt_last_error());
    clt_clear_error();
    st = workload(dev, &got);
    ck_assert_msg(st == CLT_OK && fabs(got - want) <= rel_tol * fabs(want),
                  "after fault %ld of %ld: status %d, result %.17g, want %.17g: %s", n, points, (int)st, got, want,
                  clt_last_error());
  }
  ck_assert_msg(points >= min_points, "only %ld fault points", points);
}

int64_t tu_prod(int n, const int64_t *s) {
  int64_t p = 1;
  for (int i = 0; i < n; i++) p *= s[i];
  return p;
}

clt_tensor *tu_make(clt_device *dev, clt_dtype dt, int nd, const int64_t *shape, const double *v, bool strided) {
  if (!strided || nd < 2) return clt_cast(clt_from_host(dev, CLT_FLOAT64, nd, shape, v), dt);
  int64_t s[CLT_MAX_DIMS], n = tu_prod(nd, shape), R = shape[nd - 2], C = shape[nd - 1];
  memcpy(s, shape, (size_t)nd * sizeof *s);
  s[nd - 2] = C;
  s[nd - 1] = R;
  double *t = malloc((size_t)(n ? n : 1) * sizeof *t);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < n; i++) { /* t[.., j, r] = v[.., r, j] */
    int64_t m = i / (R * C), r = i / C % R, j = i % C;
    t[(m * C + j) * R + r] = v[i];
  }
  clt_tensor *out = clt_transpose(clt_cast(clt_from_host(dev, CLT_FLOAT64, nd, s, t), dt), -1, -2);
  free(t);
  return out;
}

void tu_check_close(clt_tensor *got, int nd, const int64_t *shape, const double *want, double tol, const char *what,
                    const char *name, clt_device *dev) {
  ck_assert_msg(got != NULL, "%s %s on %s: %s", name, what, clt_device_spec(dev), clt_last_error());
  ck_assert_msg(clt_ndim(got) == nd, "%s %s: %d dims, want %d", name, what, clt_ndim(got), nd);
  for (int d = 0; d < nd; d++)
    ck_assert_msg(clt_shape(got)[d] == shape[d], "%s %s: dim %d is %lld, want %lld", name, what, d,
                  (long long)clt_shape(got)[d], (long long)shape[d]);
  double *v = tu_values(got);
  for (int64_t i = 0; i < tu_prod(nd, shape); i++)
    ck_assert_msg(v[i] == want[i] || fabs(v[i] - want[i]) <= tol * (1 + fabs(want[i])) || (isnan(v[i]) && isnan(want[i])),
                  "%s %s on %s (%s): element %lld is %.12g, want %.12g", name, what, clt_device_spec(dev),
                  clt_dtype_name(clt_dtype_of(got)), (long long)i, v[i], want[i]);
  free(v);
}

static const clt__backend *copy_real_be;
static int copies_seen;

static clt_status counting_copy(clt_device *dev, const clt__iter *it, clt__storage *dst, const clt__storage *src,
                                size_t esize) {
  copies_seen++;
  return copy_real_be->copy(dev, it, dst, src, esize);
}

clt_status tu_backward_counting_copies(clt_tensor *l, int *copies) {
  clt_device *dev = clt_device_of(l);
  copy_real_be = clt__device_swap_backend(dev, NULL);
  clt__backend counting = *copy_real_be;
  counting.copy = counting_copy;
  clt__device_swap_backend(dev, &counting);
  copies_seen = 0;
  clt_status st = clt_backward(l, NULL);
  clt__device_swap_backend(dev, copy_real_be);
  *copies = copies_seen;
  return st;
}
