/* clt-bench: measurements of clt against the device's own limits.
 *
 *   clt-bench --startup [--device SPEC] [--runs N]
 *       the first operations in a new process, with cold and warm kernel caches, for PoCL's own
 *       cache alone and with clt's program-binary cache (each in fresh cache directories).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clt.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* The child: open the device, then a fill, random numbers and a strided copy, each read back. */
static int first_ops(const char *spec) {
  double t0 = now_ms();
  clt_device *d;
  if (clt_device_open(spec, &d) != CLT_OK) {
    fprintf(stderr, "clt-bench: %s\n", clt_last_error());
    return 1;
  }
  double t1 = now_ms();
  float v[1000];
  clt_scope_begin();
  clt_tensor *z = clt_zeros(d, CLT_FLOAT32, CLT_SHAPE(1000));
  clt_status st = clt_to_host(z, v, sizeof v);
  double t2 = now_ms();
  if (st == CLT_OK) st = clt_to_host(clt_rand(d, CLT_FLOAT32, CLT_SHAPE(1000)), v, sizeof v);
  double t3 = now_ms();
  if (st == CLT_OK) st = clt_to_host(clt_transpose(clt_reshape(z, CLT_SHAPE(10, 100)), 0, 1), v, sizeof v);
  double t4 = now_ms();
  clt_scope_end();
  clt_device_release(d);
  if (st != CLT_OK) {
    fprintf(stderr, "clt-bench: %s\n", clt_last_error());
    return 1;
  }
  printf("%.1f %.1f %.1f %.1f %.1f\n", t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0);
  return 0;
}

/* Runs the child once and returns its total, or -1. */
static double child(const char *self, const char *spec) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' --startup-child --device '%s'", self, spec);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  double a, b, c, d, total = -1;
  if (fscanf(p, "%lf %lf %lf %lf %lf", &a, &b, &c, &d, &total) != 5) total = -1;
  pclose(p);
  return total;
}

static int startup(const char *self, const char *spec, int runs, bool json) {
  char base[] = "/tmp/clt-bench-XXXXXX";
  if (!mkdtemp(base)) {
    perror("clt-bench: mkdtemp");
    return 1;
  }
  const char *modes[2] = {"pocl-cache-only", "with-binary-cache"};
  double cold[2], warm[2];
  for (int m = 0; m < 2; m++) {
    char pocl[300], cltc[300];
    snprintf(pocl, sizeof pocl, "%s/pocl-%d", base, m);
    snprintf(cltc, sizeof cltc, "%s/clt-%d", base, m);
    setenv("POCL_CACHE_DIR", pocl, 1);
    setenv("CLT_CACHE_DIR", cltc, 1);
    setenv("CLT_BINARY_CACHE", m ? "1" : "0", 1);
    cold[m] = child(self, spec);
    double best = -1;
    for (int r = 0; r < runs; r++) {
      double t = child(self, spec);
      if (t >= 0 && (best < 0 || t < best)) best = t;
    }
    warm[m] = best;
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  if (system(cmd) != 0) fprintf(stderr, "clt-bench: could not remove %s\n", base);
  if (json) {
    printf("{\"startup_ms\": {\"device\": \"%s\"", spec);
    for (int m = 0; m < 2; m++) printf(", \"%s\": {\"cold\": %.1f, \"warm\": %.1f}", modes[m], cold[m], warm[m]);
    printf("}}\n");
  } else {
    printf("first ops in a new process on %s (open, fill, rand, strided copy), ms; warm = best of %d\n", spec, runs);
    printf("  %-20s %10s %10s\n", "caches", "cold", "warm");
    for (int m = 0; m < 2; m++) printf("  %-20s %10.1f %10.1f\n", modes[m], cold[m], warm[m]);
  }
  return cold[0] < 0 || cold[1] < 0 ? 1 : 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: clt-bench --startup [--device SPEC] [--runs N] [--json]\n");
}

int main(int argc, char **argv) {
  const char *spec = "cl";
  int runs = 5;
  bool do_startup = false, is_child = false, json = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) spec = argv[++i];
    else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--startup") == 0) do_startup = true;
    else if (strcmp(argv[i], "--startup-child") == 0) is_child = true;
    else if (strcmp(argv[i], "--json") == 0) json = true;
    else if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (is_child) return first_ops(spec);
  if (do_startup) return startup(argv[0], spec, runs, json);
  usage(stderr);
  return 2;
}
