/* The OpenCL ICD loader and CLBlast, loaded at run time (lib/cl/loader.c). One program, run by
 * tests/meson.build in four environments ($CLT_TEST_LOADER):
 *   present     the libraries as installed: the "cl" backend loads both and lists PoCL;
 *   missing     $CLT_OPENCL_LIBRARY names a file that does not exist: no OpenCL device, the
 *               reason in clt_backend_get_status and in clt_device_open's error, the host works,
 *               and neither library was ever mapped into the process;
 *   hidden      the libraries' files covered by empty ones (test_hidden_loader.sh): as missing,
 *               with the reason for the system's own name of the loader;
 *   preloaded   LD_PRELOAD=libOpenCL.so.1: the functions the process already has are used (so
 *               Oclgrind's preloaded runtime takes the ICD loader's place, as it must);
 *   nosym       $CLT_OPENCL_LIBRARY names a library without OpenCL's functions (libm);
 *   no_clblast  $CLT_CLBLAST_LIBRARY names a missing file: OpenCL works, matrix products do
 *               without CLBlast, and $CLT_GEMM=clblast says why it cannot.
 * Before anything else, the process's first clt calls come from several threads at once (the
 * one-time load under contention); each must see the same answer. (They only load: the
 * drivers' first enumeration from several threads is test_cold_open's, which also says why
 * PoCL must not first start in another thread under ASan.) */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "clt/clt_cl.h"
#include "tu.h"

static const char *mode(void) {
  const char *m = getenv("CLT_TEST_LOADER");
  return m && *m ? m : "present";
}
static bool is(const char *m) { return strcmp(mode(), m) == 0; }

/* ---- the first calls, from threads released at once ---------------------------------------- */

#define THREADS 4
static atomic_bool go;
typedef struct {
  clt_status st;
  char note[1024];
} first_use;
static first_use firsts[THREADS];

static void *first_call(void *arg) {
  first_use *f = arg;
  while (!atomic_load(&go)) {
  }
  f->st = clt_backend_get_status("cl", f->note, sizeof f->note);
  clt_clear_error();
  return NULL;
}

/* false when a thread could not start */
static bool run_first_calls(void) {
  pthread_t t[THREADS];
  int started = 0;
  for (; started < THREADS; started++)
    if (pthread_create(&t[started], NULL, first_call, &firsts[started]) != 0) break;
  atomic_store(&go, true);
  for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
  return started == THREADS;
}

START_TEST(first_use_from_threads) {
  for (int i = 1; i < THREADS; i++) {
    ck_assert_int_eq(firsts[i].st, firsts[0].st);
    ck_assert_str_eq(firsts[i].note, firsts[0].note);
  }
  ck_assert_int_eq(firsts[0].st, is("missing") || is("nosym") || is("hidden") ? CLT_ERR_UNSUPPORTED : CLT_OK);
  char note[1024];
  clt_backend_get_status("cl", note, sizeof note);
  clt_clear_error();
  ck_assert_str_eq(note, firsts[0].note); /* and the same later */
}
END_TEST

/* ---- the API -------------------------------------------------------------------------------- */

START_TEST(backend_names_and_bad_arguments) {
  ck_assert_str_eq(clt_backend_name(0), "host");
  ck_assert_str_eq(clt_backend_name(1), "cl");
  ck_assert_ptr_null(clt_backend_name(2));
  ck_assert_ptr_null(clt_backend_name((size_t)-1));
  char note[64] = "x";
  ck_assert_int_eq(clt_backend_get_status("host", note, sizeof note), CLT_OK);
  ck_assert_str_eq(note, "built in");
  ck_assert_int_eq(clt_backend_get_status("vulkan", note, sizeof note), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_backend_get_status: \"vulkan\" is no backend of this build; its backends: host cl");
  ck_assert_int_eq(clt_backend_get_status(NULL, note, sizeof note), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument backend is NULL");
  ck_assert_int_eq(clt_backend_get_status("host", NULL, 8), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument note is NULL with note_len 8");
  /* no buffer: only the answer */
  clt_status st = clt_backend_get_status("cl", NULL, 0);
  ck_assert_int_eq(st, is("missing") || is("nosym") || is("hidden") ? CLT_ERR_UNSUPPORTED : CLT_OK);
  clt_clear_error();
  /* truncated to fit */
  char small[8];
  clt_backend_get_status("cl", small, sizeof small);
  clt_clear_error();
  ck_assert_uint_eq(strlen(small), sizeof small - 1);
  ck_assert(strncmp(small, "OpenCL:", 7) == 0);
}
END_TEST

/* Whether the process has mapped a file whose name contains text (Linux: /proc/self/maps). */
static bool mapped(const char *text) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return false;
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, text) != NULL;
  fclose(f);
  return found;
}

START_TEST(present_loads_both) {
  char note[1024];
  ck_assert_int_eq(clt_backend_get_status("cl", note, sizeof note), CLT_OK);
  ck_assert_msg(strncmp(note, "OpenCL: libOpenCL.so.1 (", 24) == 0, "note: %s", note);
#ifdef CLT_HAVE_CLBLAST
  ck_assert_msg(strstr(note, "; CLBlast: libclblast.so.1 ("), "note: %s", note);
#else
  ck_assert_msg(strstr(note, "; CLBlast: not in this build"), "note: %s", note);
#endif
  ck_assert(mapped("libOpenCL"));
  if (!tu_cl()) TU_SKIP("no OpenCL device");
  /* a product through the loaded tables, against the host */
  int64_t shape[2] = {3, 3};
  double v[9] = {1, 2, 3, 4, 5, 6, 7, 8, 10};
  double want[9] = {30, 36, 45, 66, 81, 102, 109, 134, 169};
  clt_scope_begin();
  clt_tensor *a = tu_make(tu_cl(), CLT_FLOAT32, 2, shape, v, false);
  tu_check_close(clt_matmul(a, a), 2, shape, want, 1e-6, "matmul", "present", tu_cl());
  clt_scope_end();
}
END_TEST

START_TEST(preloaded_loader) {
  char note[1024];
  ck_assert_int_eq(clt_backend_get_status("cl", note, sizeof note), CLT_OK);
  ck_assert_msg(strncmp(note, "OpenCL: in the process already (", 32) == 0, "note: %s", note);
  ck_assert_msg(strstr(note, "libOpenCL.so.1"), "note: %s", note);
  if (!tu_cl()) TU_SKIP("no OpenCL device");
  int64_t shape[2] = {1, 2};
  double v[2] = {1, 2}, want[2] = {2, 4};
  clt_scope_begin();
  clt_tensor *a = tu_make(tu_cl(), CLT_FLOAT32, 2, shape, v, false);
  tu_check_close(clt_add(a, a), 2, shape, want, 0, "add", "preloaded", tu_cl());
  clt_scope_end();
}
END_TEST

/* The answer when the ICD loader cannot be used: how the note starts, and the loader's own
 * reason. */
static void check_unavailable(const char *start, const char *want) {
  char note[1024];
  ck_assert_int_eq(clt_backend_get_status("cl", note, sizeof note), CLT_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(note, want), "note '%s' lacks '%s'", note, want);
  ck_assert_msg(strncmp(note, start, strlen(start)) == 0, "note '%s' does not start with '%s'", note, start);
  ck_assert_msg(strstr(note, "; no OpenCL device is listed"), "note: %s", note);
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_backend_get_status: backend cl: ", start, want);

  /* only the host is listed; it is the default; "cl" names nothing and says why */
  size_t n = 0;
  clt_device_info info[2];
  ck_assert_int_eq(clt_device_list(info, 2, &n), CLT_OK);
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(info[0].spec, "host");
  char spec[32], why[128];
  ck_assert_int_eq(clt_device_default(spec, sizeof spec, why, sizeof why), CLT_OK);
  ck_assert_str_eq(spec, "host");
  clt_device *dev = NULL;
  ck_assert_int_eq(clt_device_open("cl", &dev), CLT_ERR_NO_DEVICE);
  ck_assert_ptr_null(dev);
  TU_ASSERT_ERR(CLT_ERR_NO_DEVICE, "no device matches \"cl\"", "devices: host", "backends of this build: host cl [OpenCL: not loaded", want);

  /* an application's own context cannot be adopted without the tables: refused before any
   * OpenCL call (these handles are never read) */
  int fake;
  ck_assert_int_eq(clt_cl_device_wrap((cl_context)&fake, (cl_device_id)&fake, NULL, &dev), CLT_ERR_NO_DEVICE);
  ck_assert_ptr_null(dev);
  TU_ASSERT_ERR(CLT_ERR_NO_DEVICE, "clt_cl_device_wrap: no OpenCL: OpenCL: not loaded", want);

  /* the host works: a step of autograd */
  ck_assert_int_eq(clt_device_open(NULL, &dev), CLT_OK);
  ck_assert_str_eq(clt_device_spec(dev), "host");
  float xs[3] = {1, -2, 3};
  clt_scope_begin();
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(3), xs);
  clt_set_requires_grad(x, true);
  ck_assert_int_eq(clt_backward(clt_mean(clt_mul(x, x), CLT_ALL_DIMS, false), NULL), CLT_OK);
  float g[3];
  ck_assert_int_eq(clt_to_host(clt_grad(x), g, sizeof g), CLT_OK);
  for (int i = 0; i < 3; i++) ck_assert_float_eq_tol(g[i], 2.0f * xs[i] / 3.0f, 1e-6f);
  clt_scope_end();
  clt_device_release(dev);
  clt_clear_error();

  /* nothing of OpenCL or CLBlast entered the process (this program does not link them) */
  ck_assert(!mapped("libOpenCL"));
  ck_assert(!mapped("libclblast"));
}

#define BY_ENV "OpenCL: not loaded: $CLT_OPENCL_LIBRARY: "
START_TEST(missing_loader) { check_unavailable(BY_ENV, "/nonexistent/libOpenCL.so.1: "); }
END_TEST

START_TEST(loader_without_functions) { check_unavailable(BY_ENV, "libm.so.6 has no clGetPlatformIDs"); }
END_TEST

START_TEST(hidden_loader) {
  check_unavailable("OpenCL: not loaded: ", "libOpenCL.so.1: ");
  char note[1024];
  clt_backend_get_status("cl", note, sizeof note);
  clt_clear_error();
  ck_assert_msg(strstr(note, "(install an OpenCL ICD loader and a driver, or name the loader in $CLT_OPENCL_LIBRARY)"),
                "note: %s", note);
}
END_TEST

START_TEST(missing_clblast) {
  char note[1024];
  ck_assert_int_eq(clt_backend_get_status("cl", note, sizeof note), CLT_OK);
  ck_assert_msg(strncmp(note, "OpenCL: libOpenCL.so.1", 22) == 0, "note: %s", note);
  ck_assert_msg(strstr(note, "; CLBlast: not loaded: $CLT_CLBLAST_LIBRARY: /nonexistent/libclblast.so.1: "),
                "note: %s", note);
  ck_assert_msg(strstr(note, "; matrix products do without it"), "note: %s", note);
  if (!tu_cl()) TU_SKIP("no OpenCL device");
  ck_assert_str_eq(clt_cl_device_gemm_tuning(tu_cl()), ""); /* no CLBlast to give parameters to */
  int64_t shape[2] = {2, 2};
  double v[4] = {1, 2, 3, 4}, want[4] = {7, 10, 15, 22};
  clt_scope_begin();
  clt_tensor *a = tu_make(tu_cl(), CLT_FLOAT32, 2, shape, v, false);
  /* every provider but CLBlast; CLBlast itself says why not. Under valgrind not the kernel:
   * PoCL would compile it there for two minutes (the gemm suite checks it). */
  static const char *const providers[] = {"clblast", "auto", "kernel"};
  const char *vg = getenv("CLT_TEST_VALGRIND");
  size_t nproviders = vg && strcmp(vg, "1") == 0 ? 2 : 3;
  for (size_t i = 0; i < nproviders; i++) {
    setenv("CLT_GEMM", providers[i], 1);
    clt_tensor *p = clt_matmul(a, a);
    if (strcmp(providers[i], "clblast") == 0) {
      ck_assert_ptr_null(p);
      TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "$CLT_GEMM is 'clblast', but CLBlast did not load: ",
                    "CLBlast: not loaded: $CLT_CLBLAST_LIBRARY: /nonexistent/libclblast.so.1");
    } else {
      tu_check_close(p, 2, shape, want, 1e-6, "matmul", providers[i], tu_cl());
    }
  }
  unsetenv("CLT_GEMM");
  clt_scope_end();
  ck_assert(!mapped("libclblast"));
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("loader");
  TCase *tc = tu_tcase("loader");
  tcase_add_test(tc, first_use_from_threads);
  tcase_add_test(tc, backend_names_and_bad_arguments);
  if (is("present")) tcase_add_test(tc, present_loads_both);
  if (is("missing")) tcase_add_test(tc, missing_loader);
  if (is("nosym")) tcase_add_test(tc, loader_without_functions);
  if (is("hidden")) tcase_add_test(tc, hidden_loader);
  if (is("preloaded")) tcase_add_test(tc, preloaded_loader);
  if (is("no_clblast")) tcase_add_test(tc, missing_clblast);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!is("present") && !is("missing") && !is("hidden") && !is("preloaded") && !is("nosym") && !is("no_clblast")) {
    fprintf(stderr, "$CLT_TEST_LOADER is '%s': want present, missing, hidden, preloaded, nosym or no_clblast\n",
            mode());
    return 1;
  }
  if (!run_first_calls()) {
    fprintf(stderr, "cannot start %d threads\n", THREADS);
    return 1;
  }
  return tu_main(make_suite, TU_FEW_KERNELS);
}
