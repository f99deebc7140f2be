/* Faults from the environment, each run in a fresh process (PoCL reads its environment once):
 * a PoCL memory limit far below the workload, a tiny maximum work-group size, an unwritable
 * PoCL kernel cache, .npy and safetensors files that end mid-read (a pipe whose writer stops),
 * and a full disk while saving (RLIMIT_FSIZE: writes fail with EFBIG). Each must give a clear
 * error or the right answer, never a crash, and a failed save must leave the old file and no
 * temporary behind. $CLT_LEAK_CHECK=1 names the tensors a program leaves alive, when a device's
 * last handle goes and at exit. (A broken $CLT_KERNEL_DIR, a corrupted or unwritable clt binary cache and
 * $CLT_DISABLE_FP64 are covered by the device suite.) */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tu.h"

static const char *self;

#define FAIL(...)                                      \
  do {                                                 \
    fprintf(stderr, "scenario failed at line %d: ", __LINE__); \
    fprintf(stderr, __VA_ARGS__);                      \
    fprintf(stderr, " (last error: %s)\n", clt_last_error()); \
    return 1;                                          \
  } while (0)

/* The sum of all of t's elements; the sum tensor is released here. */
static clt_status sum_all(clt_tensor *t, double *v) {
  clt_tensor *s = clt_sum(t, CLT_ALL_DIMS, false);
  clt_status st = s ? clt_item(s, v) : clt_last_status();
  clt_release(s);
  return st;
}

/* ---- the scenarios (child processes) ----------------------------------------------------- */

/* PoCL limited to 1 GiB: 8 tensors of 256 MiB cannot all live; the failing one says so, and
 * once they are released the device works again. */
static int memory_limit(void) {
  clt_device *dev;
  if (clt_device_open("cl", &dev) != CLT_OK) FAIL("open");
  clt_tensor *t[8] = {0};
  int made = 0;
  clt_status st = CLT_OK;
  for (; made < 8; made++) {
    t[made] = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(64 * 1024 * 1024), 1.0);
    if (!t[made]) {
      st = clt_last_status();
      break;
    }
    double v;
    if ((st = sum_all(t[made], &v)) != CLT_OK) break; /* touch it */
  }
  if (made == 8) FAIL("8 x 256 MiB fitted under POCL_MEMORY_LIMIT=1");
  if (st != CLT_ERR_DEVICE_OOM) FAIL("status %d, want CLT_ERR_DEVICE_OOM", (int)st);
  if (!strstr(clt_last_error(), "bytes")) FAIL("the message does not give the size");
  fprintf(stderr, "after %d tensors: %s\n", made, clt_last_error());
  for (int i = 0; i < 8; i++) clt_release(t[i]);
  clt_clear_error();
  double v = 0;
  clt_tensor *small = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(1000), 2.0);
  if (!small || sum_all(small, &v) != CLT_OK || v != 2000) FAIL("small sum after OOM");
  clt_release(small);
  clt_device_release(dev);
  return 0;
}

/* got against want (the host's), as doubles; no Check calls: this runs outside a test. */
static int compare(clt_tensor *got, clt_tensor *want, const char *what) {
  if (!got || !want) FAIL("%s returned NULL", what);
  int64_t n = clt_numel(want);
  double *g = malloc(sizeof(double) * (size_t)n), *w = malloc(sizeof(double) * (size_t)n);
  clt_tensor *gd = clt_cast(got, CLT_FLOAT64), *wd = clt_cast(want, CLT_FLOAT64);
  int bad = -2;
  if (g && w && gd && wd && clt_to_host(gd, g, sizeof(double) * (size_t)n) == CLT_OK &&
      clt_to_host(wd, w, sizeof(double) * (size_t)n) == CLT_OK) {
    bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
      if (!(fabs(g[i] - w[i]) <= 1e-4 + 1e-4 * fabs(w[i]))) bad = (int)i; /* NaN is a difference too */
  }
  free(g);
  free(w);
  clt_release(gd);
  clt_release(wd);
  if (bad == -2) FAIL("%s: cannot read the results", what);
  if (bad >= 0) FAIL("%s differs from the host at element %d", what, bad);
  return 0;
}

/* Work-groups of at most 4: every kind of launch still gives the host's answers. */
static int tiny_workgroups(void) {
  clt_device *dev, *host;
  if (clt_device_open("cl", &dev) != CLT_OK || clt_device_open("host", &host) != CLT_OK) FAIL("open");
  clt_device_info in;
  clt_device_get_info(dev, &in);
  if (in.max_work_group_size > 4) FAIL("POCL_MAX_WORK_GROUP_SIZE=4 not applied: %zu", (size_t)in.max_work_group_size);
  clt_scope_begin();
  clt_manual_seed(2);
  clt_tensor *a = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(37, 53)), *b = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(53, 37));
  clt_tensor *ha = clt_to(a, host), *hb = clt_to(b, host);
  int r = 0;
  r |= compare(clt_add(a, clt_transpose(b, 0, 1)), clt_add(ha, clt_transpose(hb, 0, 1)), "strided add");
  r |= compare(clt_exp(a), clt_exp(ha), "exp");
  r |= compare(clt_sum(a, CLT_DIMS(0), false), clt_sum(ha, CLT_DIMS(0), false), "column sum");
  r |= compare(clt_sum(a, CLT_DIMS(1), false), clt_sum(ha, CLT_DIMS(1), false), "row sum");
  r |= compare(clt_softmax(a, -1), clt_softmax(ha, -1), "softmax");
  r |= compare(clt_matmul(a, b), clt_matmul(ha, hb), "matmul");
  r |= compare(clt_argmax(a, CLT_DIMS(1), false), clt_argmax(ha, CLT_DIMS(1), false), "argmax");
  clt_scope_end();
  clt_device_release(dev);
  clt_device_release(host);
  return r;
}

/* PoCL cannot write its kernel cache: kernels still build, or the failure is a clear error
 * (PoCL 3.1 drops its devices: the open names the devices that exist). */
static int pocl_cache_unwritable(void) {
  clt_device *dev;
  if (clt_device_open("cl", &dev) != CLT_OK) {
    if (!strstr(clt_last_error(), "no device matches \"cl\"; devices: host")) FAIL("open failed unclearly");
    fprintf(stderr, "clear error: %s\n", clt_last_error());
    return 0;
  }
  clt_tensor *t = clt_exp(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(10)));
  double v = 0;
  if (!t) {
    if (!strstr(clt_last_error(), "clBuildProgram")) FAIL("no clear error");
    fprintf(stderr, "clear error: %s\n", clt_last_error());
  } else if (sum_all(t, &v) != CLT_OK || fabs(v - 10 * 2.718281828459045) > 1e-4) {
    FAIL("wrong sum %g", v);
  }
  clt_release(t);
  clt_device_release(dev);
  return 0;
}

/* A file whose writer stops halfway: the bytes arrive through a pipe that closes early. */
static int ends_mid_read(const char *fixture, bool safetensors) {
  char path[4096];
  snprintf(path, sizeof path, "/tmp/clt-env-fifo-%ld", (long)getpid());
  unlink(path);
  if (mkfifo(path, 0600) != 0) FAIL("mkfifo");
  FILE *src = fopen(fixture, "rb");
  if (!src) FAIL("open %s", fixture);
  char buf[1 << 16];
  size_t len = fread(buf, 1, sizeof buf, src);
  fclose(src);
  pid_t w = fork();
  if (w == 0) { /* the writer: two thirds of the file, then gone */
    FILE *f = fopen(path, "wb");
    if (f) {
      fwrite(buf, 1, len * 2 / 3, f);
      fclose(f);
    }
    _exit(0);
  }
  clt_tensor *t = NULL;
  clt_tensor_list *l = NULL;
  clt_status st = safetensors ? clt_load_safetensors(path, NULL, &l) : clt_load_npy(path, NULL, &t);
  waitpid(w, NULL, 0);
  unlink(path);
  if (st == CLT_OK) FAIL("a file cut at %zu of %zu bytes loaded", len * 2 / 3, len);
  if (st != CLT_ERR_FORMAT && st != CLT_ERR_IO) FAIL("status %d", (int)st);
  if (!strstr(clt_last_error(), "truncated") && !strstr(clt_last_error(), "exceeds"))
    FAIL("the message does not say the file is cut short");
  fprintf(stderr, "clear error: %s\n", clt_last_error());
  return 0;
}

static int npy_mid_read(void) {
  char fx[4096];
  snprintf(fx, sizeof fx, "%s/npy/blobs_x.npy", getenv("CLT_FIXTURES"));
  return ends_mid_read(fx, false);
}

static int safetensors_mid_read(void) {
  char fx[4096];
  snprintf(fx, sizeof fx, "%s/safetensors/good.safetensors", getenv("CLT_FIXTURES"));
  return ends_mid_read(fx, true);
}

static long files_in(const char *dir) {
  DIR *d = opendir(dir);
  long n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}

/* Writes beyond 64 KiB fail (EFBIG), as on a full disk: the saves fail with the reason, the
 * old files survive whole, no temporary is left. */
static int disk_full(void) {
  char dir[] = "/tmp/clt-env-full-XXXXXX", npy[128], st[128];
  if (!mkdtemp(dir)) FAIL("mkdtemp");
  snprintf(npy, sizeof npy, "%s/a.npy", dir);
  snprintf(st, sizeof st, "%s/a.safetensors", dir);
  clt_device *host;
  if (clt_device_open("host", &host) != CLT_OK) FAIL("open");
  clt_tensor *small = clt_full(host, CLT_FLOAT32, CLT_SHAPE(10), 3.0);
  clt_tensor *big = clt_full(host, CLT_FLOAT32, CLT_SHAPE(100000), 4.0);
  const char *names[1] = {"x"};
  if (clt_save_npy(npy, small) != CLT_OK || clt_save_safetensors(st, 1, names, &small) != CLT_OK) FAIL("first saves");
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit rl = {64 * 1024, 64 * 1024};
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) FAIL("setrlimit");
  if (clt_save_npy(npy, big) != CLT_ERR_IO) FAIL("a 400 KB .npy save past the limit did not fail with CLT_ERR_IO");
  if (!strstr(clt_last_error(), "clt_save_npy") || !strstr(clt_last_error(), strerror(EFBIG)))
    FAIL("the message lacks the function or the reason");
  fprintf(stderr, "clear error: %s\n", clt_last_error());
  if (clt_save_safetensors(st, 1, names, &big) != CLT_ERR_IO) FAIL("the safetensors save did not fail");
  clt_tensor *back = NULL;
  clt_tensor_list *l = NULL;
  double v = 0;
  if (clt_load_npy(npy, NULL, &back) != CLT_OK || clt_numel(back) != 10) FAIL("the old .npy is gone");
  if (clt_load_safetensors(st, NULL, &l) != CLT_OK) FAIL("the old safetensors file is gone");
  clt_tensor *x = clt_tensor_list_find(l, "x");
  clt_status sx = x ? sum_all(x, &v) : clt_last_status();
  clt_release(x);
  if (sx != CLT_OK || v != 30) FAIL("the old safetensors file lost its tensor");
  if (files_in(dir) != 2) FAIL("%ld files in %s: a temporary was left behind", files_in(dir), dir);
  clt_release(back);
  clt_tensor_list_release(l);
  clt_release(small);
  clt_release(big);
  clt_device_release(host);
  unlink(npy);
  unlink(st);
  rmdir(dir);
  return 0;
}

/* $CLT_LEAK_CHECK=1 (the parent sets it and reads stderr): a tensor kept in a global, alive
 * when the device's handle is released and at exit; one released in time, never named. */
static clt_tensor *kept;
static int leak_check(void) {
  clt_device *dev;
  if (clt_device_open("host", &dev) != CLT_OK) FAIL("open");
  clt_tensor *gone = clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(7));
  kept = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2, 3));
  if (!gone || !kept) FAIL("ops");
  clt_release(gone);
  fprintf(stderr, "releasing the device\n");
  clt_device_release(dev);
  fprintf(stderr, "exiting\n");
  return 0;
}

static const struct {
  const char *name, *env;
  int (*fn)(void);
  bool needs_pocl; /* the fault comes through a PoCL variable: run where the OpenCL device is PoCL */
} scenarios[] = {
    {"memory_limit", "POCL_MEMORY_LIMIT=1", memory_limit, true},
    {"tiny_workgroups", "POCL_MAX_WORK_GROUP_SIZE=4", tiny_workgroups, true},
    {"pocl_cache_unwritable", "POCL_CACHE_DIR=/proc/clt-no-such-dir", pocl_cache_unwritable, true},
    {"npy_mid_read", NULL, npy_mid_read, false},
    {"safetensors_mid_read", NULL, safetensors_mid_read, false},
    {"disk_full", NULL, disk_full, false},
    {"leak_check", "CLT_LEAK_CHECK=1", leak_check, false},
};
#define NSCEN ((int)(sizeof scenarios / sizeof *scenarios))

/* ---- the suite (parent): one fresh process per scenario ---------------------------------- */

START_TEST(scenario_in_a_fresh_process) {
  if (scenarios[_i].needs_pocl) {
    clt_device_info in;
    if (!tu_cl() || clt_device_get_info(tu_cl(), &in) != CLT_OK || !strstr(in.driver, "Portable Computing Language"))
      TU_SKIP("scenario %s: the OpenCL device under test is not PoCL", scenarios[_i].name);
  }
  pid_t p = fork();
  if (p == 0) {
    if (scenarios[_i].env) putenv((char *)scenarios[_i].env);
    execl(self, self, "--scenario", scenarios[_i].name, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  ck_assert_int_eq(waitpid(p, &status, 0), p);
  ck_assert_msg(WIFEXITED(status), "scenario %s crashed (signal %d)", scenarios[_i].name,
                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  ck_assert_msg(WEXITSTATUS(status) == 0, "scenario %s failed (see its stderr)", scenarios[_i].name);
}
END_TEST

/* The leak_check scenario's stderr: the kept tensor named when the device's handle goes and
 * again at exit; the released one never. */
START_TEST(leak_check_names_what_is_left_alive) {
  char out[64];
  snprintf(out, sizeof out, "/tmp/clt-leak-check-%ld.txt", (long)getpid());
  pid_t p = fork();
  if (p == 0) {
    putenv((char *)"CLT_LEAK_CHECK=1");
    if (!freopen(out, "w", stderr)) _exit(126);
    execl(self, self, "--scenario", "leak_check", (char *)NULL);
    _exit(127);
  }
  int status = 0;
  ck_assert_int_eq(waitpid(p, &status, 0), p);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the scenario failed (%s)", out);
  FILE *f = fopen(out, "r");
  ck_assert_ptr_nonnull(f);
  char text[4096];
  size_t len = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  unlink(out);
  text[len] = '\0';
  const char *rel = strstr(text, "releasing the device\n"), *ex = strstr(text, "exiting\n");
  const char *at_rel = strstr(text, "clt: $CLT_LEAK_CHECK: host's last handle released while 1 tensor it returned keeps it open:\n"
                                    "  float32 [2,3] on host, made by clt_zeros\n");
  const char *at_exit = strstr(text, "clt: $CLT_LEAK_CHECK: 1 tensor was never released:\n"
                                     "  float32 [2,3] on host, made by clt_zeros\n");
  ck_assert_msg(rel && ex && at_rel && at_exit && rel < at_rel && at_rel < ex && ex < at_exit, "stderr:\n%s", text);
  ck_assert_msg(!strstr(text, "float64") && !strstr(text, "clt_ones"), "a released tensor named:\n%s", text);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("env");
  TCase *tc = tu_tcase("env");
  tcase_add_loop_test(tc, scenario_in_a_fresh_process, 0, NSCEN);
  tcase_add_test(tc, leak_check_names_what_is_left_alive);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  self = argv[0];
  if (argc == 3 && strcmp(argv[1], "--scenario") == 0) {
    for (int i = 0; i < NSCEN; i++)
      if (strcmp(argv[2], scenarios[i].name) == 0) {
        fprintf(stderr, "scenario %s (%s)\n", scenarios[i].name, scenarios[i].env ? scenarios[i].env : "");
        return scenarios[i].fn();
      }
    return 2;
  }
  return tu_main(suite, TU_FEW_KERNELS);
}
