/* The portable host-device suite: plain C11 over the public API, no Check, no fork, no POSIX,
 * so that it builds and runs on every target clt supports (tools/cross-check.sh runs it under
 * wine and qemu on Windows, i686, s390x and arm64).
 *
 * It holds the host device to committed outputs (expected.txt, written on x86-64 with --write):
 * Philox numbers, arithmetic, reductions, matrix products and gradients must be the same bits on
 * every target (the library is built with -ffp-contract=off and, on 32-bit x86, SSE2 math);
 * results that go through the C library's exp, log or tanh may differ by the few units in the
 * last place that C libraries differ by, and each case says how many it allows. It reads .npy
 * files of both byte orders, writes .npy and safetensors files that must be byte-identical to the
 * committed ones, opens a file whose UTF-8 name is outside any ANSI code page, and sets the
 * kernel cache directory.
 *
 *   test_portable TESTS_DIR             check (TESTS_DIR: the source's tests/)
 *   test_portable TESTS_DIR --write     rewrite portable/expected.txt, saved.npy, saved.safetensors
 *
 * Built with PORTABLE_CBLAS=1 (a build whose host GEMM is a CBLAS library), matrix products and
 * what depends on them are compared within a tolerance: only clt's own blocked loop has fixed
 * bits. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt.h"

#if defined(_WIN32)
#include <wchar.h>
#endif

#ifndef PORTABLE_CBLAS
#define PORTABLE_CBLAS 0
#endif

static int failures;

#define CHECK(cond, ...)                                                                          \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      failures++;                                                                                 \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                        \
      fprintf(stderr, __VA_ARGS__);                                                               \
      fprintf(stderr, " (last error: %s)\n", clt_last_error());                                   \
    }                                                                                             \
  } while (0)

static char tests_dir[1024];

static void path_in(char *buf, size_t cap, const char *rel) { snprintf(buf, cap, "%s/%s", tests_dir, rel); }

/* ---- the computed cases ------------------------------------------------------------------ */

/* Exactly representable inputs: multiples of 1/16 in [-3, 3]. */
static clt_tensor *input(clt_device *dev, clt_dtype dt, int64_t rows, int64_t cols, int salt) {
  int64_t n = rows * cols;
  double *v = malloc((size_t)n * sizeof *v);
  if (!v) return NULL;
  for (int64_t i = 0; i < n; i++) v[i] = (double)((i * 37 + salt * 11) % 97 - 48) / 16.0;
  clt_tensor *d = clt_from_host(dev, CLT_FLOAT64, 2, (const int64_t[]){rows, cols}, v);
  free(v);
  clt_tensor *t = clt_cast(d, dt);
  clt_release(d);
  return t;
}

typedef struct {
  const char *name;
  int ulps;       /* allowed distance in units in the last place */
  bool uses_gemm; /* compared within a tolerance in a CBLAS build */
  clt_tensor *t;
} result;

#define MAX_RESULTS 32
static result results[MAX_RESULTS];
static int nresults;

static void add(const char *name, int ulps, bool uses_gemm, clt_tensor *t) {
  CHECK(t != NULL, "case %s: no result", name);
  if (!t || nresults == MAX_RESULTS) {
    clt_release(t);
    return;
  }
  results[nresults++] = (result){name, ulps, uses_gemm, t};
}

static void compute(clt_device *dev) {
  clt_manual_seed(20260401);
  add("rand_f32", 0, false, clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(257)));
  add("rand_f64", 0, false, clt_rand(dev, CLT_FLOAT64, CLT_SHAPE(63)));
  /* Box-Muller through the C library's log, sqrt and cos, in double, then rounded to float */
  add("randn_f32", 1, false, clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(101)));
  add("randn_f64", 4, false, clt_randn(dev, CLT_FLOAT64, CLT_SHAPE(31)));

  clt_tensor *a = input(dev, CLT_FLOAT32, 33, 47, 1), *b = input(dev, CLT_FLOAT32, 47, 29, 2);
  clt_tensor *e = input(dev, CLT_FLOAT32, 23, 17, 1), *c = input(dev, CLT_FLOAT32, 23, 17, 3);
  clt_scope_begin();
  clt_tensor *den = clt_keep(clt_add_scalar(clt_abs(c), 3));
  add("arith_f32", 0, false, clt_keep(clt_div(clt_add(clt_mul(e, c), e), den)));
  add("sqrt_f32", 0, false, clt_keep(clt_sqrt(den)));
  add("log_f32", 1, false, clt_keep(clt_log(clt_add_scalar(clt_abs(c), 0.25))));
  clt_scope_end();
  clt_release(den);
  add("sum_f32", 0, false, clt_sum(a, CLT_DIMS(1), false));
  add("var_f32", 0, false, clt_var(a, CLT_DIMS(0), 1.0, false));
  add("matmul_f32", 0, true, clt_matmul(a, b));
  clt_tensor *a64 = clt_cast(a, CLT_FLOAT64), *b64 = clt_cast(b, CLT_FLOAT64);
  add("matmul_f64", 0, true, clt_matmul(a64, b64));
  clt_release(a64), clt_release(b64);
  add("exp_f32", 1, false, clt_exp(c));
  add("tanh_f32", 2, false, clt_tanh(c));
  add("softmax_f32", 2, false, clt_softmax(e, 1));

  /* a two-layer network's loss and gradients */
  clt_tensor *x = input(dev, CLT_FLOAT32, 16, 8, 4), *w1 = input(dev, CLT_FLOAT32, 8, 12, 5);
  clt_tensor *w2 = input(dev, CLT_FLOAT32, 12, 3, 6), *y = input(dev, CLT_FLOAT32, 16, 3, 7);
  clt_set_requires_grad(w1, true);
  clt_set_requires_grad(w2, true);
  clt_scope_begin();
  clt_tensor *loss = clt_keep(clt_mse_loss(clt_matmul(clt_relu(clt_matmul(x, w1)), w2), y, CLT_REDUCTION_MEAN));
  clt_scope_end();
  CHECK(clt_backward(loss, NULL) == CLT_OK, "backward failed");
  add("mlp_loss", 0, true, loss);
  add("mlp_grad_w1", 0, true, clt_grad(w1));
  add("mlp_grad_w2", 0, true, clt_grad(w2));
  clt_release(x), clt_release(w1), clt_release(w2), clt_release(y);
  clt_release(a), clt_release(b), clt_release(c), clt_release(e);
}

/* ---- expected.txt: "name dtype count hex..." per case, the bits of each element ---------------- */

static uint64_t bits_at(const void *data, size_t esize, int64_t i) {
  if (esize == 4) {
    uint32_t u;
    memcpy(&u, (const char *)data + 4 * i, 4);
    return u;
  }
  uint64_t u;
  memcpy(&u, (const char *)data + 8 * i, 8);
  return u;
}

/* Distance in representable values between two floats of one width (sign-magnitude bits mapped
 * onto a line). */
static uint64_t ulp_distance(uint64_t x, uint64_t y, size_t esize) {
  uint64_t sign = esize == 4 ? 0x80000000u : 0x8000000000000000u;
  int64_t lx = (x & sign) ? -(int64_t)(x & ~sign) : (int64_t)x, ly = (y & sign) ? -(int64_t)(y & ~sign) : (int64_t)y;
  return lx > ly ? (uint64_t)(lx - ly) : (uint64_t)(ly - lx);
}

static double value_of(uint64_t bits, size_t esize) {
  if (esize == 4) {
    uint32_t u = (uint32_t)bits;
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  double d;
  memcpy(&d, &bits, 8);
  return d;
}

static void *host_copy(const clt_tensor *t, size_t *esize) {
  *esize = clt_dtype_of(t) == CLT_FLOAT64 ? 8 : 4;
  size_t bytes = (size_t)clt_numel(t) * *esize;
  void *buf = malloc(bytes ? bytes : 1);
  if (buf && clt_to_host(t, buf, bytes) != CLT_OK) {
    free(buf);
    buf = NULL;
  }
  return buf;
}

static void write_expected(const char *path) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL, "cannot write %s", path);
  if (!f) return;
  for (int r = 0; r < nresults; r++) {
    size_t es;
    void *v = host_copy(results[r].t, &es);
    fprintf(f, "%s %s %lld", results[r].name, es == 4 ? "f4" : "f8", (long long)clt_numel(results[r].t));
    for (int64_t i = 0; v && i < clt_numel(results[r].t); i++)
      fprintf(f, es == 4 ? " %08llx" : " %016llx", (unsigned long long)bits_at(v, es, i));
    fputc('\n', f);
    free(v);
  }
  fclose(f);
}

static void check_expected(const char *path) {
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "cannot read %s", path);
  if (!f) return;
  char name[64], dt[8];
  long long n;
  int seen = 0;
  while (fscanf(f, "%63s %7s %lld", name, dt, &n) == 3) {
    result *r = NULL;
    for (int i = 0; i < nresults; i++)
      if (strcmp(results[i].name, name) == 0) r = &results[i];
    CHECK(r != NULL, "%s names case %s, which this program does not compute", path, name);
    size_t es = 0;
    void *v = r ? host_copy(r->t, &es) : NULL;
    CHECK(!r || (v && n == clt_numel(r->t) && es == (strcmp(dt, "f4") == 0 ? 4u : 8u)),
          "case %s: %lld %s values expected", name, n, dt);
    uint64_t worst = 0;
    int64_t worst_at = -1;
    double worst_rel = 0;
    for (long long i = 0; i < n; i++) {
      unsigned long long want;
      if (fscanf(f, "%llx", &want) != 1) {
        CHECK(false, "%s: case %s is cut short", path, name);
        break;
      }
      if (!v || (size_t)i >= (size_t)clt_numel(r->t)) continue;
      uint64_t got = bits_at(v, es, i), d = ulp_distance(got, want, es);
      double g = value_of(got, es), w = value_of(want, es);
      double rel = fabs(g - w) / (fabs(w) > 1e-3 ? fabs(w) : 1e-3);
      if (d > worst) worst = d, worst_at = i;
      if (rel > worst_rel) worst_rel = rel;
    }
    if (r) {
      seen++;
      if (PORTABLE_CBLAS && r->uses_gemm) /* CBLAS sums in its own order */
        CHECK(worst_rel <= 1e-4, "case %s: relative difference %g from the expected outputs", name, worst_rel);
      else
        CHECK(worst <= (uint64_t)r->ulps, "case %s: element %lld is %llu units in the last place from the expected "
              "output (%d allowed)", name, (long long)worst_at, (unsigned long long)worst, r->ulps);
      printf("  %-12s %5lld values, max %llu ulp%s\n", name, n, (unsigned long long)worst,
             PORTABLE_CBLAS && r->uses_gemm ? " (CBLAS: within tolerance)" : "");
    }
    free(v);
  }
  fclose(f);
  CHECK(seen == nresults, "%s holds %d of the %d cases", path, seen, nresults);
}

/* ---- files --------------------------------------------------------------------------------- */

static void *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) {
      char *g = realloc(buf, cap *= 2);
      if (!g) free(buf);
      buf = g;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

static void same_file(const char *got_path, const char *want_path) {
  size_t ng = 0, nw = 0;
  void *g = read_all(got_path, &ng), *w = read_all(want_path, &nw);
  CHECK(g && w && ng == nw && memcmp(g, w, ng) == 0, "%s (%zu bytes) differs from %s (%zu bytes)", got_path, ng,
        want_path, nw);
  free(g), free(w);
}

static void copy_file(const char *from, const char *to) {
  size_t n = 0;
  void *b = read_all(from, &n);
  FILE *f = fopen(to, "wb");
  CHECK(b && f && fwrite(b, 1, n, f) == n, "cannot copy %s to %s", from, to);
  if (f) fclose(f);
  free(b);
}

/* The fixtures of tests/fixtures/make_npy.py: element i is i * 1.5 - 2 (floats) or i * 7 - 10
 * (integers), shape (2, 3), in each byte order. */
static void npy_byte_orders(clt_device *host) {
  static const char *const codes[] = {"f4", "f8", "i4", "i8"};
  for (int c = 0; c < 4; c++) {
    for (int big = 0; big < 2; big++) {
      char rel[64], path[1200];
      snprintf(rel, sizeof rel, "fixtures/npy/good/%s%s_c.npy", codes[c], big ? "be" : "le");
      path_in(path, sizeof path, rel);
      clt_tensor *t = NULL;
      CHECK(clt_load_npy(path, host, &t) == CLT_OK, "loading %s", rel);
      if (!t) continue;
      CHECK(clt_ndim(t) == 2 && clt_size(t, 0) == 2 && clt_size(t, 1) == 3, "%s: shape", rel);
      clt_tensor *d = clt_cast(t, CLT_FLOAT64);
      double v[6] = {0};
      CHECK(d && clt_to_host(d, v, sizeof v) == CLT_OK, "%s: values", rel);
      for (int i = 0; i < 6; i++) {
        double want = codes[c][0] == 'f' ? i * 1.5 - 2 : i * 7.0 - 10;
        CHECK(v[i] == want, "%s: element %d is %g, not %g", rel, i, v[i], want);
      }
      clt_release(d), clt_release(t);
    }
  }
}

static void saved_files(clt_device *host, bool write) {
  clt_tensor *t = input(host, CLT_FLOAT32, 3, 5, 8), *i64 = clt_arange(host, CLT_INT64, -3, 4, 1);
  clt_tensor *f64 = input(host, CLT_FLOAT64, 2, 2, 9);
  char want[1200];
  CHECK(clt_save_npy("portable-saved.npy", t) == CLT_OK, "saving portable-saved.npy");
  path_in(want, sizeof want, "portable/saved.npy");
  if (write) copy_file("portable-saved.npy", want);
  else same_file("portable-saved.npy", want);
  remove("portable-saved.npy");

  const char *names[] = {"weight", "steps", "f64"};
  clt_tensor *ts[] = {t, i64, f64};
  clt_status s = clt_save_safetensors("portable-saved.safetensors", 3, names, ts);
  if (s == CLT_ERR_UNSUPPORTED) {
    printf("  safetensors: skipped (this build has no Jansson)\n");
  } else {
    CHECK(s == CLT_OK, "saving portable-saved.safetensors");
    path_in(want, sizeof want, "portable/saved.safetensors");
    if (write) copy_file("portable-saved.safetensors", want);
    else same_file("portable-saved.safetensors", want);
    remove("portable-saved.safetensors");
    clt_tensor_list *l = NULL;
    char fixture[1200];
    path_in(fixture, sizeof fixture, "fixtures/safetensors/good.safetensors");
    CHECK(clt_load_safetensors(fixture, host, &l) == CLT_OK, "loading good.safetensors");
    clt_tensor *i = l ? clt_tensor_list_find(l, "i64") : NULL;
    int64_t v[5] = {0};
    CHECK(i && clt_to_host(i, v, sizeof v) == CLT_OK && v[0] == -10 && v[4] == 18,
          "good.safetensors: i64 is %lld .. %lld", (long long)v[0], (long long)v[4]);
    clt_release(i);
    clt_tensor_list_release(l);
  }
  clt_release(t), clt_release(i64), clt_release(f64);
}

/* "portable-ü€日.npy": no ANSI code page holds all three; the Windows build must reach the
 * wide-character name, and the file must be there under exactly that name. */
static void unicode_path(clt_device *host) {
  const char *name = "portable-\xc3\xbc\xe2\x82\xac\xe6\x97\xa5.npy";
  clt_tensor *t = clt_arange(host, CLT_INT32, 0, 5, 1), *back = NULL;
  CHECK(clt_save_npy(name, t) == CLT_OK, "saving a file with a UTF-8 name");
  CHECK(clt_load_npy(name, host, &back) == CLT_OK && clt_numel(back) == 5, "loading it back");
#if defined(_WIN32)
  const wchar_t *wname = L"portable-\u00fc\u20ac\u65e5.npy";
  FILE *f = _wfopen(wname, L"rb");
  CHECK(f != NULL, "the file is not there under its wide-character name");
  if (f) fclose(f);
  CHECK(_wremove(wname) == 0, "removing it");
#else
  CHECK(remove(name) == 0, "removing it: %s", strerror(errno));
#endif
  clt_release(t), clt_release(back);
}

static void cache_dir(void) {
  char buf[4096];
  CHECK(clt_set_cache_dir("app-cache") == CLT_OK, "clt_set_cache_dir");
  CHECK(clt_get_cache_dir(buf, sizeof buf) == CLT_OK && strcmp(buf, "app-cache") == 0, "the set directory: '%s'",
        buf);
  CHECK(clt_get_cache_dir(buf, 5) == CLT_ERR_INVALID_ARG, "a short buffer");
  CHECK(clt_set_cache_dir("") == CLT_ERR_INVALID_ARG, "an empty name");
  CHECK(clt_set_cache_dir(NULL) == CLT_OK, "back to the default");
  const char *env = getenv("CLT_CACHE_DIR");
  clt_status s = clt_get_cache_dir(buf, sizeof buf);
  if (env && *env) {
    CHECK(s == CLT_OK && strcmp(buf, env) == 0, "$CLT_CACHE_DIR: '%s'", buf);
  } else {
    size_t n = strlen(buf);
#if defined(_WIN32)
    const char *local = getenv("LOCALAPPDATA");
    CHECK(s == CLT_OK && local && strncmp(buf, local, strlen(local)) == 0 && n > 4 && strcmp(buf + n - 4, "\\clt") == 0,
          "the default is not under %%LOCALAPPDATA%%: '%s'", buf);
#else
    CHECK(s == CLT_OK && n > 4 && strcmp(buf + n - 4, "/clt") == 0, "the default: '%s'", buf);
#endif
  }
  printf("  cache directory: %s\n", buf);
}

int main(int argc, char **argv) {
  if (argc < 2 || (argc == 3 && strcmp(argv[2], "--write") != 0) || argc > 3) {
    fprintf(stderr, "usage: %s TESTS_DIR [--write]\n", argv[0]);
    return 2;
  }
  bool write = argc == 3;
  snprintf(tests_dir, sizeof tests_dir, "%s", argv[1]);
  clt_device *host = NULL;
  if (clt_device_open("host", &host) != CLT_OK) {
    fprintf(stderr, "cannot open the host device: %s\n", clt_last_error());
    return 1;
  }
  compute(host);
  char expected[1200];
  path_in(expected, sizeof expected, "portable/expected.txt");
  if (write) write_expected(expected);
  else check_expected(expected);
  npy_byte_orders(host);
  saved_files(host, write);
  unicode_path(host);
  cache_dir();
  for (int r = 0; r < nresults; r++) clt_release(results[r].t);
  clt_device_release(host);
  int64_t live = clt_leak_report(stderr);
  CHECK(live == 0, "%lld tensors still alive", (long long)live);
  printf("%s: %s\n", argv[0], failures ? "FAILED" : "passed");
  return failures ? 1 : 0;
}
