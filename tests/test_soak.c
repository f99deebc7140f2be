/* Soak: 10,000 training steps of the digits-sized MLP (64-128-10, batch 64, Adam) with host RSS
 * and the device pool flat after warm-up (growth under 1 MiB, no new buffer allocations), and
 * 10,000 device open/close cycles (1,000 of them running an op) without heap growth (where a
 * cycle takes more than 10 ms, as many as fit in about 90 s). Linux and
 * glibc: RSS from /proc/self/statm, heap from mallinfo2. Not run under valgrind or the sanitizers, whose own memory would be
 * measured. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform.h"
#include "tu.h"

static long rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = -1, resident = -1;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
  }
  return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static void steps(clt_device *dev, clt_optim *opt, clt_tensor *x, clt_tensor *y, clt_tensor *const *p, int n) {
  for (int i = 0; i < n; i++) {
    clt_scope_begin();
    clt_tensor *loss = clt_cross_entropy(clt_linear(clt_relu(clt_linear(x, p[0], p[1])), p[2], p[3]), y,
                                         CLT_REDUCTION_MEAN);
    ck_assert_msg(loss && clt_optim_zero_grad(opt) == CLT_OK && clt_backward(loss, NULL) == CLT_OK &&
                      clt_optim_step(opt) == CLT_OK,
                  "step %d: %s", i, clt_last_error());
    clt_scope_end();
  }
  ck_assert_int_eq(clt_device_synchronize(dev), CLT_OK);
}

START_TEST(ten_thousand_training_steps_stay_flat) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_manual_seed(4);
  clt_tensor *x = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(64, 64));
  clt_tensor *y = clt_cast(clt_mul_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(64)), 9.99), CLT_INT64);
  clt_tensor *p[4] = {clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(128, 64)), clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(128)),
                      clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(10, 128)), clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(10))};
  for (int i = 0; i < 4; i++) ck_assert_int_eq(clt_set_requires_grad(p[i], true), CLT_OK);
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  clt_optim *opt;
  ck_assert_int_eq(clt_optim_create(&cfg, 4, p, &opt), CLT_OK);
  steps(dev, opt, x, y, p, 500); /* warm-up: kernels built, pool filled */
  clt_memory_stats m0, m1;
  clt_device_get_memory_stats(dev, &m0);
  long r0 = rss_bytes();
  steps(dev, opt, x, y, p, 10000);
  long r1 = rss_bytes();
  clt_device_get_memory_stats(dev, &m1);
  printf("soak on %s: 10000 steps, RSS %+ld bytes, pool in use %llu -> %llu, cached %llu -> %llu, allocations %llu -> %llu\n",
         clt_device_spec(dev), r1 - r0, (unsigned long long)m0.bytes_in_use, (unsigned long long)m1.bytes_in_use,
         (unsigned long long)m0.bytes_cached, (unsigned long long)m1.bytes_cached, (unsigned long long)m0.allocations,
         (unsigned long long)m1.allocations);
  fflush(stdout);
  if (r0 > 0) ck_assert_msg(r1 - r0 < (1 << 20), "RSS grew by %ld bytes over 10000 steps", r1 - r0);
  ck_assert_int_eq(m1.bytes_in_use, m0.bytes_in_use);
  ck_assert_int_eq(m1.bytes_cached + m1.bytes_in_use, m0.bytes_cached + m0.bytes_in_use);
  if (clt_device_type_of(dev) != CLT_DEVICE_HOST) /* the host allocates afresh; OpenCL reuses its pool */
    ck_assert_int_eq(m1.allocations, m0.allocations);
  clt_optim_release(opt);
  clt_scope_end();
}
END_TEST

/* The open/close soak runs in a process of its own: with another handle to the same PoCL
 * device alive (the suite's), PoCL keeps per-device state for every context until the last one
 * closes (measured: the heap grows ~350 bytes a cycle then, and is flat without it; valgrind
 * finds nothing lost either way). Growth is measured as heap in use (mallinfo2), the leak
 * signal; RSS, which the allocator's fragmentation moves by a few hundred KiB, is reported. */
static int opens_child(const char *spec) {
  long r0 = 0;
  size_t h0 = 0;
  /* 5000 cycles of warm-up, then 10000 measured: PoCL opens a context in about 3 ms. A driver
   * that takes longer than 10 ms a cycle (NVIDIA's: about 100 ms) gets as many cycles as fit in
   * about 90 s, a third of them warm-up, and the count is printed. */
  int warm = 5000, total = 15000;
  double t0 = 0;
  for (int i = 0; i < total; i++) {
    if (i == 20) t0 = clt__now(); /* after the first builds */
    if (i == 40) {
      double per = (clt__now() - t0) / 20;
      if (per > 0.01) {
        total = (int)(90.0 / per);
        if (total < 60) total = 60;
        warm = total / 3;
      }
    }
    if (i == warm) { /* PoCL's and the allocator's caches settle over the first few thousand */
      r0 = rss_bytes();
      h0 = mallinfo2().uordblks;
    }
    clt_device *d;
    if (clt_device_open(spec, &d) != CLT_OK) {
      fprintf(stderr, "open %d: %s\n", i, clt_last_error());
      return 1;
    }
    if (i % 10 == 0) { /* an op every 10th cycle: programs built, buffers made, all released */
      double v = 0;
      clt_scope_begin();
      clt_tensor *t = clt_full(d, CLT_FLOAT32, CLT_SHAPE(100), 2.0);
      clt_status st = clt_item(clt_sum(t, CLT_ALL_DIMS, false), &v);
      clt_scope_end();
      if (st != CLT_OK || v != 200.0) {
        fprintf(stderr, "cycle %d: %s\n", i, clt_last_error());
        return 1;
      }
    }
    clt_device_release(d);
  }
  long r1 = rss_bytes();
  size_t h1 = mallinfo2().uordblks;
  printf("soak on %s: %d open/close cycles (%d with an op) after %d of warm-up: heap %+ld bytes, RSS %+ld bytes\n",
         spec, total - warm, (total - warm) / 10, warm, (long)h1 - (long)h0, r1 - r0);
  if ((long)h1 - (long)h0 >= (1 << 20)) {
    fprintf(stderr, "the heap grew by %ld bytes\n", (long)h1 - (long)h0);
    return 1;
  }
  return 0;
}

static const char *self;

START_TEST(ten_thousand_opens_stay_flat) {
  const char *spec = clt_device_spec(TU_DEV);
  fflush(stdout);
  pid_t p = fork();
  if (p == 0) {
    execl(self, self, "--opens", spec, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  ck_assert_int_eq(waitpid(p, &status, 0), p);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the open/close soak on %s failed (status %d)", spec,
                status);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("soak");
  TCase *tc = tu_tcase("soak");
  TU_DEVICES(tc, ten_thousand_training_steps_stay_flat);
  TU_DEVICES(tc, ten_thousand_opens_stay_flat);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  self = argv[0];
  if (argc == 3 && strcmp(argv[1], "--opens") == 0) return opens_child(argv[2]);
  return tu_main(suite, TU_MANY_KERNELS);
}
