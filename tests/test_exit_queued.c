/* A program that returns from main with work still queued on an OpenCL device (no synchronize,
 * no clt_device_release) must exit cleanly. On PoCL the host's products run in callbacks on
 * PoCL's threads; exit() used to run oneDNN's destructors (which free its JIT kernels) while
 * those threads still ran products, and the process died with SIGSEGV after main returned
 * (lib/core.h: clt__exit_drain_arm). Run with no argument it starts itself RUNS times as a
 * fresh process with the argument "child"; every child must exit 0 (a crash shows as a signal).
 * (A forked copy of such a process must not wait for the driver's threads at exit, which it does
 * not have: lib/cl/device.c drains only in the process that opened the devices. Not tested here:
 * POSIX lets the forked copy of a process with threads call only async-signal-safe functions,
 * exit() not among them, and a test that did hung once in CI's valgrind phase.)
 * A child without an OpenCL device exits 77 and the test skips, unless $CLT_REQUIRE_DEVICE=1.
 * meson runs it with the CPU GEMM chosen by measurement and with $CLT_CPU_GEMM=onednn. Under
 * ASan the children run without LeakSanitizer: the device they leave open is the point, and its
 * stop-the-world tracer crashes on threads still running at exit (tests/meson.build). */
#define _POSIX_C_SOURCE 200809L
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "clt.h"

#define RUNS 5

extern char **environ;

static int child(void) {
  clt_device *dev;
  if (clt_device_open("cl", &dev) != CLT_OK) {
    const char *req = getenv("CLT_REQUIRE_DEVICE");
    fprintf(stderr, "no OpenCL device: %s\n", clt_last_error());
    return req && strcmp(req, "1") == 0 ? 1 : 77;
  }
  /* the digits CNN's first weight gradient's shape (16 x 9 x 4096, one thread's product), over
   * and over, the last of them still queued when main returns */
  clt_tensor *a = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(16, 4096)), *b = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(4096, 9));
  if (!a || !b) {
    fprintf(stderr, "child: %s\n", clt_last_error());
    return 1;
  }
  for (int i = 0; i < 400; i++) {
    clt_tensor *c = clt_matmul(a, b);
    if (!c) {
      fprintf(stderr, "child: product %d: %s\n", i, clt_last_error());
      return 1;
    }
    clt_release(c);
  }
  clt_release(a);
  clt_release(b);
  return 0; /* the device left open, its queue busy */
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
  char **env = environ;
#if defined(__SANITIZE_ADDRESS__)
  size_t n = 0;
  while (environ[n]) n++;
  env = calloc(n + 2, sizeof *env);
  if (!env) return 1;
  static char asan[4096];
  const char *old = getenv("ASAN_OPTIONS");
  snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sdetect_leaks=0", old ? old : "", old && *old ? ":" : "");
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "ASAN_OPTIONS=", 13) != 0) env[k++] = environ[i];
  env[k++] = asan;
  env[k] = NULL;
#endif
  int skipped = 0;
  for (int r = 0; r < RUNS; r++) {
    pid_t pid;
    char *args[] = {argv[0], "child", NULL};
    if (posix_spawn(&pid, argv[0], NULL, NULL, args, env) != 0) {
      perror("posix_spawn");
      return 1;
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) {
      perror("waitpid");
      return 1;
    }
    if (WIFSIGNALED(st)) {
      fprintf(stderr, "run %d: the child died of signal %d after queueing products and returning\n", r, WTERMSIG(st));
      return 1;
    }
    if (WEXITSTATUS(st) == 77) skipped++;
    else if (WEXITSTATUS(st) != 0) {
      fprintf(stderr, "run %d: the child exited %d\n", r, WEXITSTATUS(st));
      return 1;
    }
  }
#if defined(__SANITIZE_ADDRESS__)
  free(env);
#endif
  if (skipped == RUNS) return 77;
  printf("%d runs returned from main with products queued and exited 0\n", RUNS);
  return 0;
}
