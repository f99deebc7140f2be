/* Allocations past the process's limits on a device whose memory is the process's own (PoCL):
 * under a lowered RLIMIT_AS or RLIMIT_DATA a tensor larger than what is left must fail with
 * CLT_ERR_DEVICE_OOM naming its size and the limit, and the device must go on working. Before,
 * PoCL 3.1 aborted at the buffer's first use (an assertion in pocl_create_migration_commands).
 * The limits are lowered in a child process (this program run with "child"), since they cannot
 * be raised back past the hard limit and would hold for every later test. Exit 77 (skip) without
 * such a device, unless $CLT_REQUIRE_DEVICE=1. */
#define _POSIX_C_SOURCE 200809L
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clt.h"

extern char **environ;

#define MIB (1024LL * 1024)

static int fail(const char *what) {
  fprintf(stderr, "%s: %s\n", what, clt_last_error());
  return 1;
}

/* This process's address space and data size in bytes (/proc/self/statm). */
static int usage(long long *as, long long *data) {
  FILE *f = fopen("/proc/self/statm", "r");
  long long v[6];
  int n = f ? fscanf(f, "%lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) : 0;
  if (f) fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  *as = v[0] * page;
  *data = v[5] * page;
  return n == 6 ? 0 : -1;
}

/* Under limit `which` set to what the process uses plus 256 MiB: 512 MiB is refused with a
 * message naming its size and the limit; 16 MiB still works, and sums right. */
static int under_limit(clt_device *dev, int which, const char *name) {
  long long as, data;
  if (usage(&as, &data) != 0) return fail("reading /proc/self/statm");
  struct rlimit old, low;
  if (getrlimit(which, &old) != 0) return fail("getrlimit");
  low = old;
  low.rlim_cur = (rlim_t)((which == RLIMIT_AS ? as : data) + 256 * MIB);
  if (setrlimit(which, &low) != 0) return fail("setrlimit");
  int rc = 0;
  clt_tensor *big = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(128 * MIB)); /* 512 MiB */
  char want[64];
  snprintf(want, sizeof want, "%lld bytes", 512 * MIB);
  if (big || clt_last_status() != CLT_ERR_DEVICE_OOM || !strstr(clt_last_error(), want) ||
      !strstr(clt_last_error(), name)) {
    fprintf(stderr, "under %s: 512 MiB gave %s: %s\n", name, big ? "a tensor" : clt_status_name(clt_last_status()),
            clt_last_error());
    rc = 1;
  }
  clt_release(big);
  clt_clear_error();
  clt_tensor *small = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(4 * MIB), 0.5), *sum = clt_sum(small, CLT_ALL_DIMS, false);
  double s = 0;
  if (clt_item(sum, &s) != CLT_OK || s != 2.0 * MIB) rc = fail("16 MiB under the limit");
  clt_release(sum);
  clt_release(small);
  setrlimit(which, &old); /* the soft limit may rise again up to the hard one */
  return rc;
}

static int child(void) {
  clt_device *dev = NULL;
  if (clt_device_open("cl", &dev) != CLT_OK) return 77;
  clt_device_info in;
  clt_device_get_info(dev, &in);
  if (in.type != CLT_DEVICE_CPU && !in.host_unified_memory) {
    clt_device_release(dev);
    return 77;
  }
  clt_scope_begin(); /* the kernels under_limit runs, built before the limit */
  double s = 0;
  int rc = clt_item(clt_sum(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(4)), CLT_ALL_DIMS, false), &s) == CLT_OK && s == 4
               ? 0
               : fail("warming up");
  clt_scope_end();
  if (rc == 0) rc = under_limit(dev, RLIMIT_AS, "RLIMIT_AS");
  if (rc == 0) rc = under_limit(dev, RLIMIT_DATA, "RLIMIT_DATA");
  clt_device_release(dev);
  return rc;
}

int main(int argc, char **argv) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  /* the sanitizers' shadow memory is most of the address space a limit would count: the asan
   * and tsan test setups leave this suite out (tests/meson.build) */
  (void)argc;
  (void)argv;
  (void)child;
  fprintf(stderr, "skipped under a sanitizer\n");
  return 77;
#else
  if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
  char *args[] = {argv[0], "child", NULL};
  pid_t pid;
  int status;
  if (posix_spawn(&pid, argv[0], NULL, NULL, args, environ) != 0 || waitpid(pid, &status, 0) != pid) {
    perror("memlimit: starting the child");
    return 1;
  }
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "the child died of signal %d allocating past its limit\n", WTERMSIG(status));
    return 1;
  }
  if (WEXITSTATUS(status) == 77) {
    const char *req = getenv("CLT_REQUIRE_DEVICE");
    bool required = req && strcmp(req, "1") == 0;
    fprintf(stderr, "no OpenCL device sharing host memory%s\n", required ? " (CLT_REQUIRE_DEVICE=1)" : ": skipped");
    return required ? 1 : 77;
  }
  return WEXITSTATUS(status);
#endif
}
