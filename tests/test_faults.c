/* The fault sweep: a representative workload (tensor creation, transfers, elementwise and
 * reduction ops, matmul, softmax, cross entropy, backward, an Adam step, .npy and safetensors
 * save and load) runs once to count its fault points (every OpenCL call and host allocation
 * passes lib/fault.c's hook), then once per point with that point failing, alternately with
 * CL_OUT_OF_RESOURCES and CL_MEM_OBJECT_ALLOCATION_FAILURE (host allocations fail as ENOMEM
 * would: NULL). Every faulty run must fire its fault, return an error whose message names the
 * failed OpenCL call (CLT_ERR_OOM for a host allocation), leave every live counter (tensors,
 * storages, devices, buffers, programs, kernels, events, contexts, queues) where it was, and
 * the next clean run must succeed with the same result. Warm: on the suite's device (its
 * kernels and pooled buffers already there, the pool emptied before each run). Cold: on a
 * device opened by the workload itself, so program builds and kernel creation fail too. Both
 * with clt's binary cache off (CLT_BINARY_CACHE=0, PoCL's default); then cold with the cache on
 * (other drivers' default), emptied before each run and full before each run: a fault at one of
 * the cache's own points (lib/cl/program.c labels them) must be absorbed, with the exact result
 * and no error left, and only those. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tu.h"

static char dir[64];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/clt-faults-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* The binary cache's directory (dir/cache, flat) emptied, so the next build writes its entries;
 * in process, since forking a sanitized process for rm costs seconds. */
static void empty_cache_dir(void) {
  char path[sizeof dir + 300];
  snprintf(path, sizeof path, "%s/cache", dir);
  DIR *d = opendir(path);
  if (!d) {
    ck_assert_int_eq(mkdir(path, 0700), 0);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/cache/%s", dir, e->d_name);
    ck_assert_int_eq(unlink(path), 0);
  }
  closedir(d);
}

/* The workload. dev: the device, or NULL to open spec. *result: the final loss and a weight. */
static clt_status workload(clt_device *dev, const char *spec, double result[2]) {
  clt_status st = CLT_OK;
  clt_device *own = NULL;
  clt_optim *opt = NULL;
  clt_tensor_list *list = NULL;
  char path[128];
  if (!dev) {
    if ((st = clt_device_open(spec, &own)) != CLT_OK) return st;
    dev = own;
  }
  clt_scope_begin();
  float xs[8 * 4];
  int64_t ys[8];
  for (int i = 0; i < 32; i++) xs[i] = (float)((i * 7) % 11) / 11.0f - 0.4f;
  for (int i = 0; i < 8; i++) ys[i] = i % 3;
  clt_manual_seed(5);
  /* stops at the first failure, so that the error read is the failing call's */
  clt_tensor *x, *y, *w, *b;
  if (!(x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(8, 4), xs)) || !(y = clt_from_host(dev, CLT_INT64, CLT_SHAPE(8), ys)) ||
      !(w = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(3, 4))) || !(b = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(3))))
    goto fail;
  if ((st = clt_set_requires_grad(w, true)) != CLT_OK || (st = clt_set_requires_grad(b, true)) != CLT_OK) goto done;
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  clt_tensor *params[2] = {w, b};
  if ((st = clt_optim_create(&cfg, 2, params, &opt)) != CLT_OK) goto done;
  for (int step = 0; step < 2; step++) {
    clt_tensor *h = clt_relu(clt_linear(x, w, b));
    clt_tensor *sm = clt_softmax(clt_transpose(h, 0, 1), 0);
    clt_tensor *reg = clt_mul_scalar(clt_sum(clt_exp(clt_sub(h, clt_transpose(sm, 0, 1))), CLT_ALL_DIMS, false), 1e-3);
    clt_tensor *loss = clt_add(clt_cross_entropy(h, y, CLT_REDUCTION_MEAN), reg);
    if (!loss) goto fail;
    if ((st = clt_optim_zero_grad(opt)) != CLT_OK || (st = clt_backward(loss, NULL)) != CLT_OK ||
        (st = clt_optim_step(opt)) != CLT_OK || (st = clt_item(loss, &result[0])) != CLT_OK)
      goto done;
  }
  float wh[12];
  if ((st = clt_to_host(w, wh, sizeof wh)) != CLT_OK) goto done;
  clt_tensor *hw = clt_to(clt_transpose(w, 0, 1), tu_dev[0]);
  if (!hw) goto fail;
  snprintf(path, sizeof path, "%s/w.npy", dir);
  clt_tensor *back = NULL;
  if ((st = clt_save_npy(path, hw)) != CLT_OK || (st = clt_load_npy(path, dev, &back)) != CLT_OK) goto done;
  clt_release(back);
  snprintf(path, sizeof path, "%s/m.safetensors", dir);
  const char *names[2] = {"w", "b"};
  if ((st = clt_save_safetensors(path, 2, names, params)) != CLT_OK ||
      (st = clt_load_safetensors(path, dev, &list)) != CLT_OK)
    goto done;
  if ((st = clt_item(clt_sum(clt_tensor_list_find(list, "w"), CLT_ALL_DIMS, false), &result[1])) != CLT_OK) goto done;
  if (fabs(result[1] - (wh[0] + wh[1] + wh[2] + wh[3] + wh[4] + wh[5] + wh[6] + wh[7] + wh[8] + wh[9] + wh[10] + wh[11])) > 1e-4)
    st = clt__err(CLT_ERR_MISMATCH, "the loaded weights differ from the saved ones");
  goto done;
fail:
  st = clt_last_status();
  if (st == CLT_OK) st = CLT_ERR_STATE; /* a NULL without an error is a bug the caller reports */
done:
  clt_tensor_list_release(list);
  clt_optim_release(opt);
  clt_scope_end();
  clt_device_release(own);
  return st;
}

static void live_now(long *out) {
  for (int k = 0; k < CLT__LIVE_COUNT; k++) out[k] = atomic_load(&clt__live[k]);
}

/* How the binary cache stands during a sweep: off; on and emptied before every run (the
 * faults hit its writes); on and full before every run (they hit its reads). */
typedef enum { CACHE_OFF, CACHE_WRITE, CACHE_READ } cache_mode;
static const char *const cache_names[] = {"", ", binary cache on, written", ", binary cache on, read"};

/* The offset of the points a strided sweep takes (1 + offset % stride, then every stride-th):
 * $CLT_FAULT_OFFSET, else the time, so that runs together cover every point; printed, so that
 * a failure can be run again. */
static long sweep_offset(void) {
  const char *e = getenv("CLT_FAULT_OFFSET");
  return e && *e ? atol(e) : (long)time(NULL);
}

/* Sweeps every stride-th point (every point for stride 1). Each must fire (a run has as many
 * points as the counted one: warm devices are warmed first, the cache is reset before each
 * run), leave the live counters where they were, and fail with a message naming the failing
 * call, except that a fault inside the binary cache must be absorbed (the right result). After
 * each, a clean run must give the same result. Returns the points of a clean run. */
static long sweep(clt_device *dev, const char *spec, long stride, cache_mode cache) {
  /* $CLT_FAULT_STRIDE_SCALE (the asan setup: 3) takes every scale-th point of each sweep, from
   * an offset that moves from run to run like the strided sweeps' */
  const char *scale_env = getenv("CLT_FAULT_STRIDE_SCALE");
  long scale = scale_env ? atol(scale_env) : 1;
  if (scale > 1) stride *= scale;
  double want[2], got[2];
  long before[CLT__LIVE_COUNT], after[CLT__LIVE_COUNT], absorbed = 0, swept = 0;
  char path[96], *old_bc = getenv("CLT_BINARY_CACHE"), *old_cd = getenv("CLT_CACHE_DIR");
  old_bc = old_bc ? strdup(old_bc) : NULL;
  old_cd = old_cd ? strdup(old_cd) : NULL;
  snprintf(path, sizeof path, "%s/cache", dir);
  setenv("CLT_BINARY_CACHE", cache != CACHE_OFF ? "1" : "0", 1);
  setenv("CLT_CACHE_DIR", path, 1);
  empty_cache_dir();
  if (dev) clt_device_empty_cache(dev);
  clt_status st = workload(dev, spec, want); /* builds every program a warm device needs; fills the cache */
  ck_assert_msg(st == CLT_OK, "the first clean run failed: %s", clt_last_error());
  if (dev) /* and the generated kernels of elementwise chains, built at their second run (lib/fusion.c) */
    ck_assert_msg(workload(dev, spec, got) == CLT_OK, "the second clean run failed: %s", clt_last_error());
  if (cache == CACHE_WRITE) empty_cache_dir();
  if (dev) clt_device_empty_cache(dev);
  clt__fault_reset();
  st = workload(dev, spec, got);
  ck_assert_msg(st == CLT_OK, "the counted clean run failed: %s", clt_last_error());
  ck_assert_msg(got[0] == want[0] && got[1] == want[1], "two clean runs differ");
  long points = clt__fault_count(), first = stride > 1 ? 1 + sweep_offset() % stride : 1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long n = first; n <= points; n += stride) {
    if (cache == CACHE_WRITE) empty_cache_dir();
    if (dev) clt_device_empty_cache(dev);
    live_now(before);
    clt__fault_reset();
    clt__fault_arm(n, n % 2 ? -5 /* CL_OUT_OF_RESOURCES */ : -4 /* CL_MEM_OBJECT_ALLOCATION_FAILURE */);
    clt_clear_error();
    st = workload(dev, spec, got);
    bool fired = clt__fault_fired();
    const char *call = clt__fault_fired_call(), *region = clt__fault_fired_region();
    const char *wrong = st != CLT_OK ? tu_fault_unnamed(st) : NULL;
    clt_status left = clt_last_status();
    if (dev) clt_device_empty_cache(dev);
    live_now(after);
    for (int k = 0; k < CLT__LIVE_COUNT; k++)
      ck_assert_msg(after[k] == before[k], "fault %ld of %ld on %s at %s: live %s went %ld -> %ld", n, points, spec,
                    call ? call : "a host allocation", tu_live_name(k), before[k], after[k]);
    ck_assert_msg(fired, "fault %ld of %ld on %s%s never fired: the run took another path than the counted one", n,
                  points, spec, cache_names[cache]);
    swept++;
    if (region && strcmp(region, "binary cache") == 0) { /* an entry not written or not read costs time only */
      ck_assert_msg(st == CLT_OK && left == CLT_OK, "fault %ld of %ld on %s at %s in the binary cache: %s", n, points,
                    spec, call ? call : "a host allocation", clt_last_error());
      ck_assert_msg(got[0] == want[0] && got[1] == want[1], "fault %ld on %s absorbed: result %g %g, want %g %g", n,
                    spec, got[0], got[1], want[0], want[1]);
      absorbed++;
    } else {
      ck_assert_msg(st != CLT_OK, "fault %ld of %ld on %s at %s fired but the workload succeeded", n, points, spec,
                    call ? call : "a host allocation");
      ck_assert_msg(st != CLT_ERR_STATE, "fault %ld of %ld on %s: a call returned NULL without an error", n, points,
                    spec);
      ck_assert_msg(!wrong, "fault %ld of %ld on %s: %s", n, points, spec, wrong);
    }
    /* the next clean run works, with the same result (and writes what the cache lacks) */
    clt__fault_reset();
    clt_clear_error();
    st = workload(dev, spec, got);
    ck_assert_msg(st == CLT_OK, "after fault %ld of %ld on %s the clean run failed: %s", n, points, spec,
                  clt_last_error());
    ck_assert_msg(got[0] == want[0] && got[1] == want[1], "after fault %ld on %s: result %g %g, want %g %g", n, spec,
                  got[0], got[1], want[0], want[1]);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long expect = first <= points ? (points - first) / stride + 1 : 0;
  printf("fault sweep on %s (%s%s): %ld points, %ld failed in turn", spec, dev ? "warm device" : "device opened cold",
         cache_names[cache], points, swept);
  if (stride > 1) printf(" (one in %ld from point %ld: CLT_FAULT_OFFSET=%ld)", stride, first, first - 1);
  if (cache != CACHE_OFF) printf(", %ld of them inside the cache, absorbed", absorbed);
  printf(", %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
  fflush(stdout);
  ck_assert_int_eq(swept, expect);
  if (cache != CACHE_OFF) ck_assert_msg(absorbed > 0 || stride > 1, "no fault hit the binary cache");
  if (old_bc) setenv("CLT_BINARY_CACHE", old_bc, 1);
  else unsetenv("CLT_BINARY_CACHE");
  if (old_cd) setenv("CLT_CACHE_DIR", old_cd, 1);
  else unsetenv("CLT_CACHE_DIR");
  free(old_bc);
  free(old_cd);
  return points;
}

START_TEST(workload_survives_every_fault) {
  clt_device *dev = TU_DEV;
  make_dir();
  long points = sweep(dev, clt_device_spec(dev), 1, CACHE_OFF);
  ck_assert_int_gt(points, 50);
  remove_dir();
  clt_clear_error();
}
END_TEST

START_TEST(cold_workload_survives_every_fault) {
  clt_device *dev = TU_DEV;
  make_dir();
  /* opening a device and building its programs on every run: each point on the host, one in
   * 7 on OpenCL (every point there takes minutes; the warm sweep covers the rest, and the
   * offset moves from run to run) */
  bool host = clt_device_type_of(dev) == CLT_DEVICE_HOST;
  long points = sweep(NULL, clt_device_spec(dev), host ? 1 : 7, CACHE_OFF);
  ck_assert_int_gt(points, 50);
  /* with the cache written, PoCL compiles every kernel of a family to hand out its binary, so
   * one in 31 (one in 7 took 160 s more in CI); read, it costs what a cold run does */
  if (!host) {
    sweep(NULL, clt_device_spec(dev), 31, CACHE_WRITE);
    sweep(NULL, clt_device_spec(dev), 7, CACHE_READ);
  }
  remove_dir();
  clt_clear_error();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("faults");
  TCase *tc = tu_tcase("faults");
  TU_DEVICES(tc, workload_survives_every_fault);
  TU_DEVICES(tc, cold_workload_survives_every_fault);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
