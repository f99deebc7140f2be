/* Devices: the spec grammar, listing, capability records, wrapping an application's OpenCL
 * objects, open/close cycles, the buffer pool, kernel builds and the binary cache. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tu.h"
#ifdef CLT_HAVE_OPENCL
#include "clt/clt_cl.h"
#endif

/* Puts back the value name had when the suite started (tests/meson.build sets some, such as
 * CLT_BINARY_CACHE and CLT_CACHE_DIR, for every suite), or removes it. */
static void unset(const char *name) {
  static const char *const names[] = {"CLT_BINARY_CACHE", "CLT_CACHE_DIR"};
  static char *saved[2];
  static bool taken;
  if (!taken) {
    for (int i = 0; i < 2; i++) saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
    taken = true;
  }
  for (int i = 0; i < 2; i++)
    if (strcmp(name, names[i]) == 0 && saved[i]) {
      setenv(name, saved[i], 1);
      return;
    }
  unsetenv(name);
}

START_TEST(host_always_opens) {
  clt_device *h;
  ck_assert_int_eq(clt_device_open("host", &h), CLT_OK);
  ck_assert_str_eq(clt_device_spec(h), "host");
  ck_assert_int_eq(clt_device_type_of(h), CLT_DEVICE_HOST);
  clt_device_info in;
  ck_assert_int_eq(clt_device_get_info(h, &in), CLT_OK);
  ck_assert(in.fp64);
  ck_assert_ptr_eq(clt_device_retain(h), h);
  clt_device_release(h);
  clt_device_release(h);
  clt_device_release(NULL);
}
END_TEST

START_TEST(bad_specs_list_the_devices_that_exist) {
  const char *bad[] = {"cl:99", "cl:nosuchvendor", "foo", "", "cl:", "hostx", "cl:-1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    clt_device *d = (clt_device *)1;
    ck_assert_int_eq(clt_device_open(bad[i], &d), CLT_ERR_NO_DEVICE);
    ck_assert_ptr_null(d);
    char want[64];
    snprintf(want, sizeof want, "no device matches \"%s\"", bad[i]);
    TU_ASSERT_ERR(CLT_ERR_NO_DEVICE, "clt_device_open: ", want, "devices: host");
  }
  ck_assert_int_eq(clt_device_open("host", NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument out is NULL");
}
END_TEST

START_TEST(clt_device_environment_variable) {
  clt_device *d;
  setenv("CLT_DEVICE", "host", 1);
  ck_assert_int_eq(clt_device_open(NULL, &d), CLT_OK);
  ck_assert_str_eq(clt_device_spec(d), "host");
  clt_device_release(d);
  char spec[32], why[128];
  ck_assert_int_eq(clt_device_default(spec, sizeof spec, why, sizeof why), CLT_OK);
  ck_assert_str_eq(spec, "host");
  ck_assert_str_eq(why, "$CLT_DEVICE=host");
  setenv("CLT_DEVICE", "cl:nosuch", 1);
  ck_assert_int_eq(clt_device_open(NULL, &d), CLT_ERR_NO_DEVICE);
  TU_ASSERT_ERR(CLT_ERR_NO_DEVICE, "\"cl:nosuch\" (from $CLT_DEVICE)");
  /* an explicit spec wins over the variable */
  ck_assert_int_eq(clt_device_open("host", &d), CLT_OK);
  clt_device_release(d);
  unset("CLT_DEVICE");
  ck_assert_int_eq(clt_device_default(spec, sizeof spec, why, sizeof why), CLT_OK);
  ck_assert_str_eq(spec, tu_cl() ? clt_device_spec(tu_cl()) : "host");
  ck_assert_ptr_nonnull(strstr(why, tu_cl() ? "first" : "no other device; the host"));
}
END_TEST

START_TEST(list_has_the_host_first) {
  size_t n = 0;
  ck_assert_int_eq(clt_device_list(NULL, 0, &n), CLT_OK);
  ck_assert_uint_ge(n, (size_t)tu_ndev);
  clt_device_info *in = calloc(n, sizeof *in);
  size_t m = 0;
  ck_assert_int_eq(clt_device_list(in, n, &m), CLT_OK);
  ck_assert_uint_eq(m, n);
  ck_assert_str_eq(in[0].spec, "host");
  ck_assert_str_eq(in[0].backend, "host");
  for (size_t i = 1; i < n; i++) {
    char spec[32];
    snprintf(spec, sizeof spec, "cl:%zu", i - 1);
    ck_assert_str_eq(in[i].spec, spec);
    ck_assert(in[i].type != CLT_DEVICE_HOST);
    ck_assert_uint_gt(in[i].compute_units, 0);
    ck_assert_uint_gt(in[i].global_mem_bytes, 0);
    ck_assert_uint_gt(in[i].max_alloc_bytes, 0);
    ck_assert(strlen(in[i].name) > 0);
    ck_assert_str_eq(in[i].backend, "opencl"); /* the one other backend of this build */
    ck_assert(strncmp(in[i].backend_version, "OpenCL ", 7) == 0);
    ck_assert(strlen(in[i].driver) > 0);
  }
  free(in);
  ck_assert_int_eq(clt_device_list(NULL, 3, &m), CLT_ERR_INVALID_ARG);
  clt_clear_error();
}
END_TEST

START_TEST(specs_by_index_and_by_name) {
  clt_device *cl = tu_cl();
  clt_device_info in;
  clt_device_get_info(cl, &in);
  clt_device *d;
  ck_assert_int_eq(clt_device_open(in.spec, &d), CLT_OK);
  ck_assert_str_eq(clt_device_spec(d), in.spec);
  clt_device_release(d);
  ck_assert_int_eq(clt_device_open("cl", &d), CLT_OK);
  clt_device_release(d);
  /* a substring of the device name, in another case */
  char part[8] = {0};
  for (int i = 0; i < 4 && in.name[i]; i++) part[i] = (char)((in.name[i] >= 'a' && in.name[i] <= 'z') ? in.name[i] - 32 : in.name[i]);
  char spec[16];
  snprintf(spec, sizeof spec, "cl:%s", part);
  ck_assert_int_eq(clt_device_open(spec, &d), CLT_OK);
  clt_device_release(d);
  if (strstr(in.driver_vendor, "pocl") || strstr(in.backend_version, "PoCL")) {
    ck_assert_int_eq(clt_device_open("cl:pocl", &d), CLT_OK);
    clt_device_release(d);
  }
}
END_TEST

START_TEST(open_and_close_fifty_times) {
  const char *spec = _i == 0 ? "host" : clt_device_spec(tu_cl());
  long devices = atomic_load(&clt__live[CLT__LIVE_DEVICES]);
  for (int i = 0; i < 50; i++) {
    clt_device *d;
    ck_assert_int_eq(clt_device_open(spec, &d), CLT_OK);
    clt_scope_begin();
    clt_tensor *t = clt_ones(d, CLT_FLOAT32, CLT_SHAPE(3, 5));
    clt_device_release(d);
    double v = 0;
    ck_assert_int_eq(clt_item(clt_slice(clt_slice(t, 0, 2, 3, 1), 1, 4, 5, 1), &v), CLT_OK);
    ck_assert(v == 1.0);
    clt_scope_end();
    ck_assert_int_eq(atomic_load(&clt__live[CLT__LIVE_DEVICES]), devices);
  }
}
END_TEST

START_TEST(pool_reuses_buffers) {
  clt_device *dev = tu_cl();
  clt_device_empty_cache(dev);
  clt_memory_stats a, b, c;
  clt_device_get_memory_stats(dev, &a);
  ck_assert_uint_eq(a.bytes_cached, 0);
  clt_tensor *t = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(1000));
  clt_device_get_memory_stats(dev, &b);
  ck_assert_uint_ge(b.bytes_in_use, a.bytes_in_use + 4000);
  ck_assert_uint_le(b.bytes_in_use, a.bytes_in_use + 5000); /* classes waste at most 25% */
  ck_assert_uint_ge(b.peak_bytes_in_use, b.bytes_in_use);
  clt_release(t);
  clt_device_get_memory_stats(dev, &c);
  ck_assert_uint_eq(c.bytes_in_use, a.bytes_in_use);
  ck_assert_uint_eq(c.bytes_cached, b.bytes_in_use - a.bytes_in_use);
  t = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(990)); /* same size class: served from the cache */
  clt_device_get_memory_stats(dev, &b);
  ck_assert_uint_eq(b.pool_hits, c.pool_hits + 1);
  ck_assert_uint_eq(b.allocations, c.allocations);
  ck_assert_uint_eq(b.bytes_cached, 0);
  clt_release(t);
  ck_assert_int_eq(clt_device_empty_cache(dev), CLT_OK);
  clt_device_get_memory_stats(dev, &c);
  ck_assert_uint_eq(c.bytes_cached, 0);
  ck_assert_int_eq(clt_device_get_memory_stats(NULL, &c), CLT_ERR_INVALID_ARG);
  clt_clear_error();
}
END_TEST

/* A failed clCreateBuffer frees the cache and tries once more; the retry's buffer must still have
 * a place in its size class when it comes back (that array was once freed by the emptying). */
START_TEST(pool_retry_after_a_failed_create) {
  clt_device *dev = tu_cl();
  clt_memory_stats base, now;
  clt_device_empty_cache(dev);
  clt_device_get_memory_stats(dev, &base);
  int retried = 0;
  for (long n = 1; n <= 8; n++) {
    clt_device_empty_cache(dev);
    clt_release(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(1000))); /* something cached */
    clt__fault_reset();
    clt__fault_arm(n, -4 /* CL_MEM_OBJECT_ALLOCATION_FAILURE */);
    clt_tensor *t = clt_empty(dev, CLT_FLOAT32, CLT_SHAPE(100000)); /* a class with nothing out */
    bool fired = clt__fault_fired();
    clt__fault_reset();
    if (fired && t) retried++;
    if (t) { /* usable, and its buffer goes back to the pool */
      ck_assert_int_eq(clt_fill_(t, 3.0), CLT_OK);
      double v;
      clt_tensor *s = clt_sum(t, CLT_ALL_DIMS, false);
      ck_assert_int_eq(clt_item(s, &v), CLT_OK);
      ck_assert_double_eq(v, 300000.0);
      clt_release(s);
    }
    clt_release(t);
    clt_clear_error();
  }
  ck_assert_msg(retried > 0, "no fault point was a clCreateBuffer that the retry recovered");
  clt_device_empty_cache(dev);
  clt_device_get_memory_stats(dev, &now);
  ck_assert_uint_eq(now.bytes_in_use, base.bytes_in_use);
  ck_assert_uint_eq(now.bytes_cached, 0);
}
END_TEST

/* CLT_NO_MEMORY_CACHING=1 or hold: nothing is reused, each allocation is a new buffer of the
 * exact size. */
START_TEST(memory_caching_can_be_turned_off) {
  clt_device_info in;
  clt_device_get_info(tu_cl(), &in);
  setenv("CLT_NO_MEMORY_CACHING", _i ? "hold" : "1", 1);
  clt_device *dev = NULL;
  clt_status st = clt_device_open(in.spec, &dev);
  unsetenv("CLT_NO_MEMORY_CACHING");
  ck_assert_int_eq(st, CLT_OK);
  clt_memory_stats a, b;
  clt_device_get_memory_stats(dev, &a);
  for (int i = 0; i < 3; i++) {
    clt_tensor *t = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(1000), 1.0);
    ck_assert_ptr_nonnull(t);
    clt_device_get_memory_stats(dev, &b);
    ck_assert_uint_eq(b.bytes_in_use, a.bytes_in_use + 4000); /* exact: no size class */
    clt_release(t);
  }
  clt_device_get_memory_stats(dev, &b);
  ck_assert_uint_eq(b.bytes_cached, 0);
  ck_assert_uint_eq(b.bytes_in_use, a.bytes_in_use);
  ck_assert_uint_eq(b.pool_hits, a.pool_hits);
  ck_assert_uint_eq(b.allocations, a.allocations + 3);
  ck_assert_int_eq(clt_device_empty_cache(dev), CLT_OK); /* releases what "hold" kept */
  clt_device_release(dev);
}
END_TEST

START_TEST(too_large_allocations_fail_cleanly) {
  clt_device *dev = tu_cl();
  clt_device_info in;
  clt_device_get_info(dev, &in);
  int64_t n = (int64_t)(in.max_alloc_bytes / 4) + 1;
  ck_assert_ptr_null(clt_empty(dev, CLT_FLOAT32, 1, &n));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_OOM, "clt_empty: ", "exceed the largest allocation of");
}
END_TEST

/* Writes dir/name with the given text. */
static void write_file(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

static char *make_temp_dir(void) {
  static char dir[64];
  snprintf(dir, sizeof dir, "/tmp/clt-test-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  return dir;
}

START_TEST(kernel_build_errors_carry_the_log) {
  char *dir = make_temp_dir();
  write_file(dir, "common.clh", "/* empty */\n");
  write_file(dir, "optable.h", "/* empty */\n");
  write_file(dir, "copy.cl", "__kernel void fill_4(__global uint *d) { this is not C; }\n");
  setenv("CLT_KERNEL_DIR", dir, 1);
  setenv("CLT_BINARY_CACHE", "0", 1);
  clt_device *d;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  ck_assert_ptr_null(clt_zeros(d, CLT_FLOAT32, CLT_SHAPE(4)));
  TU_ASSERT_ERR(CLT_ERR_KERNEL_BUILD, "clt_zeros: clBuildProgram failed", "copy.cl", "build log:");
  /* a relative directory is refused */
  setenv("CLT_KERNEL_DIR", "kernels", 1);
  ck_assert_ptr_null(clt_zeros(d, CLT_FLOAT32, CLT_SHAPE(4)));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "$CLT_KERNEL_DIR 'kernels' is not an absolute path");
  /* a missing file is an I/O error */
  setenv("CLT_KERNEL_DIR", "/nonexistent-clt-dir", 1);
  ck_assert_ptr_null(clt_zeros(d, CLT_FLOAT32, CLT_SHAPE(4)));
  TU_ASSERT_ERR(CLT_ERR_IO, "cannot open '/nonexistent-clt-dir/optable.h'");
  unset("CLT_KERNEL_DIR");
  unset("CLT_BINARY_CACHE");
  /* the same handle works once the sources are right */
  clt_tensor *t = clt_ones(d, CLT_FLOAT32, CLT_SHAPE(4));
  ck_assert_ptr_nonnull(t);
  clt_release(t);
  clt_device_release(d);
  char path[512];
  snprintf(path, sizeof path, "%s/common.clh", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/optable.h", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/copy.cl", dir);
  remove(path);
  rmdir(dir);
}
END_TEST

/* Counts the .bin files in dir and returns the path of one. */
static int cache_files(const char *dir, char *one, size_t cap) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls %s/*.bin 2>/dev/null", dir);
  FILE *p = popen(cmd, "r");
  int n = 0;
  char line[512];
  while (fgets(line, sizeof line, p)) {
    line[strcspn(line, "\n")] = '\0';
    if (n++ == 0) snprintf(one, cap, "%s", line);
  }
  pclose(p);
  return n;
}

START_TEST(binary_cache_survives_corruption) {
  char *dir = make_temp_dir();
  setenv("CLT_CACHE_DIR", dir, 1);
  setenv("CLT_BINARY_CACHE", "1", 1); /* off by default on PoCL */
  clt_device *d;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  clt_tensor *t = clt_full(d, CLT_INT32, CLT_SHAPE(5), 7);
  ck_assert_ptr_nonnull(t);
  clt_release(t);
  clt_device_release(d);
  char path[512];
  ck_assert_int_eq(cache_files(dir, path, sizeof path), 1);
  /* corrupt the entry: the next process (a new handle here) rebuilds and rewrites it */
  FILE *f = fopen(path, "r+b");
  fseek(f, 40, SEEK_SET);
  fputs("garbage garbage garbage", f);
  fclose(f);
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  t = clt_full(d, CLT_INT32, CLT_SHAPE(5), 7);
  ck_assert_ptr_nonnull(t);
  tu_assert_values(t, 1, (const int64_t[]){5}, (const double[]){7, 7, 7, 7, 7});
  clt_release(t);
  clt_device_release(d);
  ck_assert_int_eq(clt_last_status(), CLT_OK);
  ck_assert_int_eq(cache_files(dir, path, sizeof path), 1);
  /* truncated to nothing: same */
  f = fopen(path, "wb");
  fclose(f);
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  t = clt_zeros(d, CLT_INT32, CLT_SHAPE(5));
  ck_assert_ptr_nonnull(t);
  clt_release(t);
  clt_device_release(d);
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_int_gt(sb.st_size, 24);
  remove(path);
  rmdir(dir);
  unset("CLT_CACHE_DIR");
  unset("CLT_BINARY_CACHE");
}
END_TEST

/* clt_set_cache_dir comes before $CLT_CACHE_DIR (an application's own folder: an Android app
 * has no HOME), and NULL goes back to it. */
START_TEST(cache_dir_set_by_the_application) {
  char env_dir[64], app_dir[64], one[512];
  snprintf(env_dir, sizeof env_dir, "%s", make_temp_dir());
  snprintf(app_dir, sizeof app_dir, "%s", make_temp_dir());
  setenv("CLT_CACHE_DIR", env_dir, 1);
  setenv("CLT_BINARY_CACHE", "1", 1);
  for (int round = 0; round < 2; round++) {
    if (round == 0) ck_assert_int_eq(clt_set_cache_dir(app_dir), CLT_OK);
    else ck_assert_int_eq(clt_set_cache_dir(NULL), CLT_OK);
    char now[64];
    ck_assert_int_eq(clt_get_cache_dir(now, sizeof now), CLT_OK);
    ck_assert_str_eq(now, round == 0 ? app_dir : env_dir);
    clt_device *d;
    ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
    clt_tensor *t = clt_full(d, CLT_INT32, CLT_SHAPE(3), 2);
    ck_assert_ptr_nonnull(t);
    clt_release(t);
    clt_device_release(d);
    ck_assert_int_eq(cache_files(round == 0 ? app_dir : env_dir, one, sizeof one), 1);
    remove(one);
    ck_assert_int_eq(cache_files(round == 0 ? env_dir : app_dir, one, sizeof one), 0);
  }
  ck_assert_int_eq(clt_set_cache_dir(""), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_set_cache_dir: dir is empty");
  rmdir(env_dir);
  rmdir(app_dir);
  unset("CLT_CACHE_DIR");
  unset("CLT_BINARY_CACHE");
}
END_TEST

/* By default PoCL gets no binary entry from a family's first build (asking PoCL for a binary
 * compiles every kernel of the family), a marker instead; the second build writes the entry, and
 * the third loads it. */
START_TEST(pocl_binary_cache_written_by_the_second_build) {
  clt_device_info in;
  ck_assert_int_eq(clt_device_get_info(tu_cl(), &in), CLT_OK);
  if (!strstr(in.driver_vendor, "pocl") && !strstr(in.driver, "Portable Computing Language")) return;
  unset("CLT_BINARY_CACHE");
  unset("CLT_CACHE_DIR");
  char *dir = make_temp_dir();
  setenv("CLT_CACHE_DIR", dir, 1);
  unsetenv("CLT_BINARY_CACHE");
  char path[512], cmd[600];
  for (int build = 1; build <= 3; build++) {
    clt_device *d;
    ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
    clt_tensor *t = clt_full(d, CLT_INT32, CLT_SHAPE(5), 7);
    ck_assert_ptr_nonnull(t);
    tu_assert_values(t, 1, (const int64_t[]){5}, (const double[]){7, 7, 7, 7, 7});
    clt_release(t);
    clt_device_release(d);
    ck_assert_int_eq(clt_last_status(), CLT_OK);
    ck_assert_int_eq(cache_files(dir, path, sizeof path), build == 1 ? 0 : 1);
    snprintf(cmd, sizeof cmd, "ls %s/*.once >/dev/null 2>&1", dir);
    ck_assert_int_eq(system(cmd) == 0, build == 1); /* the marker, until the entry replaces it */
  }
  snprintf(cmd, sizeof cmd, "rm -f %s/*.bin %s/*.once", dir, dir);
  ck_assert_int_eq(system(cmd), 0);
  rmdir(dir);
  unset("CLT_CACHE_DIR");
  unset("CLT_BINARY_CACHE");
}
END_TEST

START_TEST(unwritable_cache_is_not_an_error) {
  setenv("CLT_CACHE_DIR", "/proc/clt-cannot-write-here", 1);
  setenv("CLT_BINARY_CACHE", "1", 1);
  clt_device *d;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  clt_tensor *t = clt_ones(d, CLT_UINT8, CLT_SHAPE(3));
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(clt_last_status(), CLT_OK);
  clt_release(t);
  clt_device_release(d);
  unset("CLT_CACHE_DIR");
  unset("CLT_BINARY_CACHE");
}
END_TEST

static clt_tensor *gc_tanh(clt_tensor *const *in, void *user) {
  (void)user;
  return clt_tanh(in[0]);
}

START_TEST(no_fp64_refuses_float64) {
  setenv("CLT_DISABLE_FP64", "1", 1);
  clt_device *d;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  unset("CLT_DISABLE_FP64");
  clt_device_info in;
  clt_device_get_info(d, &in);
  ck_assert(!in.fp64);
  ck_assert_ptr_null(clt_zeros(d, CLT_FLOAT64, CLT_SHAPE(2)));
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_zeros: float64 is not supported by");
  clt_tensor *h = clt_zeros(tu_dev[0], CLT_FLOAT64, CLT_SHAPE(2));
  ck_assert_ptr_null(clt_to(h, d));
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_to: float64 is not supported");
  clt_tensor *f = clt_rand(d, CLT_FLOAT32, CLT_SHAPE(9)); /* float32 kernels still build */
  ck_assert_ptr_nonnull(f);
  /* and gradcheck works there, in float32 (it used to cast to float64 on the device) */
  ck_assert_msg(clt_gradcheck(gc_tanh, NULL, 1, &f, NULL) == CLT_OK, "%s", clt_last_error());
  clt_release(f);
  clt_release(h);
  clt_device_release(d);
}
END_TEST

#ifdef CLT_HAVE_OPENCL
START_TEST(wrap_adopts_without_stealing) {
  cl_context ctx;
  cl_device_id dev;
  cl_command_queue q;
  ck_assert_int_eq(clt_cl_device_get(tu_cl(), &ctx, &dev, &q), CLT_OK);
  cl_int err;
  cl_context myctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  cl_command_queue myq = clCreateCommandQueue(myctx, dev, 0, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  clt_device *w;
  ck_assert_int_eq(clt_cl_device_wrap(myctx, dev, myq, &w), CLT_OK);
  ck_assert_str_eq(clt_device_spec(w), "cl:app");
  cl_context gctx;
  cl_command_queue gq;
  ck_assert_int_eq(clt_cl_device_get(w, &gctx, NULL, &gq), CLT_OK);
  ck_assert_ptr_eq(gctx, myctx);
  ck_assert_ptr_eq(gq, myq);
  clt_tensor *t = clt_arange(w, CLT_FLOAT32, 0, 6, 1);
  ck_assert_ptr_nonnull(t);
  cl_mem buf;
  size_t off;
  ck_assert_int_eq(clt_cl_tensor_get_buffer(t, &buf, &off), CLT_OK);
  float got[6];
  ck_assert_int_eq(clEnqueueReadBuffer(myq, buf, CL_TRUE, off, sizeof got, got, 0, NULL, NULL), CL_SUCCESS);
  ck_assert(got[5] == 5.0f);
  clt_release(t);
  clt_device_release(w);
  /* the context and queue are still the application's, usable after clt let go (reference
   * counts are the driver's business: PoCL drops buffers' references asynchronously); clt's own
   * buffers, programs and kernels are counted by the leak fixture */
  cl_mem mine = clCreateBuffer(myctx, CL_MEM_READ_WRITE, 64, NULL, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  ck_assert_int_eq(clEnqueueWriteBuffer(myq, mine, CL_TRUE, 0, sizeof got, got, 0, NULL, NULL), CL_SUCCESS);
  ck_assert_int_eq(clFinish(myq), CL_SUCCESS);
  clReleaseMemObject(mine);
  /* a NULL queue: clt makes its own on the context */
  ck_assert_int_eq(clt_cl_device_wrap(myctx, dev, NULL, &w), CLT_OK);
  clt_device_release(w);
  /* a queue of another context is refused */
  ck_assert_int_eq(clt_cl_device_wrap(myctx, dev, q, &w), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_cl_device_wrap: the queue belongs to another context");
  ck_assert_int_eq(clt_cl_device_wrap(NULL, dev, NULL, &w), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument ctx is NULL");
  cl_command_queue ooo = clCreateCommandQueue(myctx, dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
  if (err == CL_SUCCESS) {
    ck_assert_int_eq(clt_cl_device_wrap(myctx, dev, ooo, &w), CLT_ERR_UNSUPPORTED);
    TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "out-of-order");
    clReleaseCommandQueue(ooo);
  }
  clReleaseCommandQueue(myq);
  clReleaseContext(myctx);
}
END_TEST

START_TEST(interop_rejects_host_objects) {
  clt_tensor *t = clt_zeros(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(2));
  cl_mem m;
  ck_assert_int_eq(clt_cl_tensor_get_buffer(t, &m, NULL), CLT_ERR_DEVICE_MISMATCH);
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "the tensor is on host, not an OpenCL device");
  ck_assert_int_eq(clt_cl_device_get(tu_dev[0], NULL, NULL, NULL), CLT_ERR_DEVICE_MISMATCH);
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "device host is not an OpenCL device");
  clt_cl_details x;
  ck_assert_int_eq(clt_cl_device_get_details(tu_dev[0], &x), CLT_ERR_DEVICE_MISMATCH);
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_cl_device_get_details: device host is not an OpenCL device");
  clt_release(t);
}
END_TEST

/* OpenCL's own record of a device lives in the interop header; the neutral record names the
 * driver (platform) and the backend's version from it. */
START_TEST(opencl_details_match_the_neutral_record) {
  clt_cl_details x;
  clt_device_info in;
  ck_assert_int_eq(clt_cl_device_get_details(tu_cl(), &x), CLT_OK);
  ck_assert_int_eq(clt_device_get_info(tu_cl(), &in), CLT_OK);
  ck_assert(strncmp(x.opencl_c_version, "OpenCL C ", 9) == 0);
  ck_assert(strncmp(x.platform_version, "OpenCL ", 7) == 0);
  ck_assert_str_eq(x.platform, in.driver);
  ck_assert_str_eq(x.platform_vendor, in.driver_vendor);
  ck_assert_str_eq(x.device_version, in.backend_version);
  ck_assert_int_eq(clt_cl_device_get_details(NULL, &x), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  ck_assert_int_eq(clt_cl_device_get_details(tu_cl(), NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument out is NULL");
}
END_TEST
#endif

START_TEST(device_open_survives_every_fault) {
  /* every OpenCL call and allocation of an open, failed in turn: an error naming the failed
   * call, and nothing left behind (no context, queue, device or anything else counted) */
  const char *spec = clt_device_spec(tu_cl());
  clt__fault_reset();
  clt_device *d;
  ck_assert_int_eq(clt_device_open(spec, &d), CLT_OK);
  long points = clt__fault_count();
  clt_device_release(d);
  for (long n = 1; n <= points; n++) {
    long before[CLT__LIVE_COUNT];
    for (int k = 0; k < CLT__LIVE_COUNT; k++) before[k] = atomic_load(&clt__live[k]);
    clt__fault_reset();
    clt__fault_arm(n, 0);
    clt_clear_error();
    d = NULL;
    clt_status st = clt_device_open(spec, &d);
    ck_assert_msg(clt__fault_fired(), "fault %ld of %ld never fired", n, points);
    const char *call = clt__fault_fired_call();
    ck_assert_msg(st != CLT_OK && d == NULL, "fault %ld of %ld: open succeeded", n, points);
    ck_assert_msg(strncmp(clt_last_error(), "clt_device_open: ", 17) == 0, "fault %ld: %s", n, clt_last_error());
    const char *wrong = tu_fault_unnamed(st);
    ck_assert_msg(!wrong, "fault %ld of %ld: %s", n, points, wrong);
    for (int k = 0; k < CLT__LIVE_COUNT; k++)
      ck_assert_msg(atomic_load(&clt__live[k]) == before[k], "fault %ld of %ld at %s: live %s went %ld -> %ld", n,
                    points, call ? call : "a host allocation", tu_live_name(k), before[k], atomic_load(&clt__live[k]));
  }
  clt__fault_reset();
  clt_clear_error();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("device");
  TCase *tc = tu_tcase("specs");
  tcase_add_test(tc, host_always_opens);
  tcase_add_test(tc, bad_specs_list_the_devices_that_exist);
  tcase_add_test(tc, clt_device_environment_variable);
  tcase_add_test(tc, list_has_the_host_first);
  TU_DEVICES(tc, open_and_close_fifty_times);
  suite_add_tcase(s, tc);
  if (tu_cl()) {
    tc = tu_tcase("opencl");
    tcase_add_test(tc, specs_by_index_and_by_name);
    tcase_add_test(tc, pool_reuses_buffers);
    tcase_add_test(tc, pool_retry_after_a_failed_create);
    tcase_add_loop_test(tc, memory_caching_can_be_turned_off, 0, 2);
    tcase_add_test(tc, too_large_allocations_fail_cleanly);
    tcase_add_test(tc, kernel_build_errors_carry_the_log);
    tcase_add_test(tc, binary_cache_survives_corruption);
    tcase_add_test(tc, cache_dir_set_by_the_application);
    tcase_add_test(tc, pocl_binary_cache_written_by_the_second_build);
    tcase_add_test(tc, unwritable_cache_is_not_an_error);
    tcase_add_test(tc, no_fp64_refuses_float64);
    tcase_add_test(tc, device_open_survives_every_fault);
#ifdef CLT_HAVE_OPENCL
    tcase_add_test(tc, wrap_adopts_without_stealing);
    tcase_add_test(tc, interop_rejects_host_objects);
    tcase_add_test(tc, opencl_details_match_the_neutral_record);
#endif
    suite_add_tcase(s, tc);
  }
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
