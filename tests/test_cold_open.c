/* Concurrent first open (include/clt/device.h, the thread rules). Run with no argument it starts
 * itself RUNS times as a fresh process with the argument "child"; each child's first clt calls
 * are clt_device_open("cl") from THREADS threads released at once. Drivers initialise on their
 * first enumeration and PoCL 3.1 can crash there when two threads race (DESIGN.md), so every
 * child must exit 0: a crash shows as a signal. A child without an OpenCL device exits 77 and
 * the test skips, unless $CLT_REQUIRE_DEVICE=1. $CLT_TEST_COLD_RUNS sets RUNS (tools/tsan.sh:
 * fewer, each a few seconds there). Kept without Check: a child must do nothing before the
 * threads start. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "clt.h"

#define RUNS 50
#define THREADS 4

extern char **environ;

#if defined(__SANITIZE_ADDRESS__)
/* The thread that first initialises PoCL gets an alternate signal stack from LLVM inside it (a
 * malloc'd 79040 bytes: strace shows the sigaltstack call), which ASan then tries to munmap as
 * its own when the thread exits ("AddressSanitizer failed to deallocate"). Here that thread is
 * never the main one, so ASan keeps no alternate stacks of its own. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "use_sigaltstack=0"; }
#endif

typedef struct {
  pthread_barrier_t *go;
  clt_status st;
  char spec[32];
  char err[256];
} opener;

static void *open_cold(void *arg) {
  opener *o = arg;
  clt_device *dev = NULL;
  pthread_barrier_wait(o->go);
  o->st = clt_device_open("cl", &dev);
  snprintf(o->spec, sizeof o->spec, "%s", clt_device_spec(dev));
  snprintf(o->err, sizeof o->err, "%s", clt_last_error());
  /* a device made while the others were being made must work */
  clt_tensor *t = o->st == CLT_OK ? clt_full(dev, CLT_FLOAT32, CLT_SHAPE(5), 2.0) : NULL;
  float v[5] = {0};
  if (o->st == CLT_OK && (clt_to_host(t, v, sizeof v) != CLT_OK || v[0] != 2.0f || v[4] != 2.0f)) {
    o->st = CLT_ERR_STATE;
    snprintf(o->err, sizeof o->err, "a fill gave %g: %s", (double)v[4], clt_last_error());
  }
  clt_release(t);
  clt_device_release(dev);
  return NULL;
}

/* Opens from nthreads threads at once. 77: no OpenCL device (probe only: under the race a
 * thread must not see fewer devices than exist). */
static int child(int nthreads) {
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, (unsigned)nthreads);
  opener o[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < nthreads; i++) {
    o[i] = (opener){.go = &go};
    if (pthread_create(&th[i], NULL, open_cold, &o[i]) != 0) return 2;
  }
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&go);
  int rc = 0;
  for (int i = 0; i < nthreads; i++) {
    if (nthreads == 1 && o[i].st == CLT_ERR_NO_DEVICE) return 77;
    if (o[i].st != CLT_OK || strcmp(o[i].spec, o[0].spec) != 0) {
      fprintf(stderr, "thread %d: %s (opened '%s', thread 0 '%s')\n", i, o[i].err, o[i].spec, o[0].spec);
      rc = 1;
    }
  }
  return rc;
}

/* Runs this program with argument mode as a fresh process; its wait status in *status. */
static int spawn(const char *self, const char *mode, int *status) {
  char *args[] = {(char *)self, (char *)mode, NULL};
  pid_t pid;
  if (posix_spawn(&pid, self, NULL, NULL, args, environ) != 0 || waitpid(pid, status, 0) != pid) {
    perror("cold_open: starting a child");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "probe") == 0) return child(1);
  if (argc > 1 && strcmp(argv[1], "child") == 0) return child(THREADS);
  int status;
  if (spawn(argv[0], "probe", &status) != 0) return 1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    const char *req = getenv("CLT_REQUIRE_DEVICE");
    fprintf(stderr, "no OpenCL device%s\n", req && strcmp(req, "1") == 0 ? " (CLT_REQUIRE_DEVICE=1)" : ": skipped");
    return req && strcmp(req, "1") == 0 ? 1 : 77;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "opening \"cl\" from one thread failed (wait status %d)\n", status);
    return 1;
  }
  const char *env = getenv("CLT_TEST_COLD_RUNS");
  int runs = env && atoi(env) > 0 ? atoi(env) : RUNS;
  int failed = 0;
  for (int run = 0; run < runs; run++) {
    if (spawn(argv[0], "child", &status) != 0) return 1;
    if (WIFSIGNALED(status)) {
      fprintf(stderr, "run %d: a child opening the device from %d threads died of signal %d\n", run, THREADS,
              WTERMSIG(status));
      failed++;
    } else if (WEXITSTATUS(status) != 0) {
      fprintf(stderr, "run %d: a child exited with %d\n", run, WEXITSTATUS(status));
      failed++;
    }
  }
  fprintf(stderr, "%d of %d fresh processes failed opening \"cl\" from %d threads at once\n", failed, runs, THREADS);
  return failed ? 1 : 0;
}
