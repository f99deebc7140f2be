#define _POSIX_C_SOURCE 200809L
/* matmul: NumPy's shape rules, transposed and strided views, broadcast batches, float32 and
 * float64, every device against an independent triple loop and the host; empty products; bad
 * input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "blas.h"
#include "dispatch.h"
#include "grad.h"
#include "tu.h"

/* Reference product in double from the operands' host copies (any view, NumPy rules). */
static void reference(const clt_tensor *a, const clt_tensor *b, const clt_tensor *out, double *want) {
  double *av = tu_values(a), *bv = tu_values(b);
  int an = clt_ndim(a), bn = clt_ndim(b);
  int64_t m = an == 1 ? 1 : clt_shape(a)[an - 2], k = clt_shape(a)[an - 1], n = bn == 1 ? 1 : clt_shape(b)[bn - 1];
  int64_t total = clt_numel(out), per = m * n;
  int on = clt_ndim(out);
  int nb = on - (an == 1 ? 0 : 1) - (bn == 1 ? 0 : 1);
  for (int64_t t = 0; t < total / (per ? per : 1); t++) {
    /* batch index t -> offsets into a and b with broadcasting */
    int64_t coords[CLT_MAX_DIMS], rem = t, ao = 0, bo = 0;
    for (int i = nb - 1; i >= 0; i--) {
      coords[i] = rem % clt_shape(out)[i];
      rem /= clt_shape(out)[i];
    }
    int64_t as = m * k, bs = k * n;
    for (int i = nb - 1, am = 1, bm = 1; i >= 0; i--) {
      int ai = an - 2 - (nb - i), bi = bn - 2 - (nb - i);
      if (ai >= 0) {
        ao += (clt_shape(a)[ai] == 1 ? 0 : coords[i]) * as * am;
        am *= (int)clt_shape(a)[ai];
      }
      if (bi >= 0) {
        bo += (clt_shape(b)[bi] == 1 ? 0 : coords[i]) * bs * bm;
        bm *= (int)clt_shape(b)[bi];
      }
    }
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t p = 0; p < k; p++) s += av[ao + i * k + p] * bv[bo + p * n + j];
        want[t * per + i * n + j] = s;
      }
  }
  free(av);
  free(bv);
}

static void check(clt_tensor *a, clt_tensor *b, int ndim, const int64_t *shape, const char *what) {
  clt_tensor *c = clt_matmul(a, b);
  ck_assert_msg(c != NULL, "%s: %s", what, clt_last_error());
  ck_assert_int_eq(clt_ndim(c), ndim);
  for (int d = 0; d < ndim; d++) ck_assert_msg(clt_shape(c)[d] == shape[d], "%s: dim %d is %lld", what, d, (long long)clt_shape(c)[d]);
  double *want = malloc((size_t)(clt_numel(c) ? clt_numel(c) : 1) * sizeof *want), *got = tu_values(c);
  reference(a, b, c, want);
  double tol = clt_dtype_of(c) == CLT_FLOAT32 ? 1e-4 : 1e-11;
  for (int64_t i = 0; i < clt_numel(c); i++)
    ck_assert_msg(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])), "%s: element %lld is %.10g, want %.10g", what,
                  (long long)i, got[i], want[i]);
  free(want);
  free(got);
}

static clt_tensor *rnd(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape) {
  return clt_sub_scalar(clt_rand(dev, dt, ndim, shape), 0.5);
}

static void shapes(clt_device *dev) {
  clt_manual_seed(21);
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = k ? CLT_FLOAT64 : CLT_FLOAT32;
    clt_scope_begin();
    check(rnd(dev, dt, CLT_SHAPE(7)), rnd(dev, dt, CLT_SHAPE(7)), 0, NULL, "dot");
    check(rnd(dev, dt, CLT_SHAPE(5, 7)), rnd(dev, dt, CLT_SHAPE(7, 3)), 2, (const int64_t[]){5, 3}, "2d.2d");
    check(rnd(dev, dt, CLT_SHAPE(5, 7)), rnd(dev, dt, CLT_SHAPE(7)), 1, (const int64_t[]){5}, "2d.1d");
    check(rnd(dev, dt, CLT_SHAPE(7)), rnd(dev, dt, CLT_SHAPE(7, 3)), 1, (const int64_t[]){3}, "1d.2d");
    check(rnd(dev, dt, CLT_SHAPE(4, 5, 7)), rnd(dev, dt, CLT_SHAPE(4, 7, 3)), 3, (const int64_t[]){4, 5, 3}, "batched");
    check(rnd(dev, dt, CLT_SHAPE(5, 7)), rnd(dev, dt, CLT_SHAPE(4, 7, 3)), 3, (const int64_t[]){4, 5, 3}, "broadcast a");
    check(rnd(dev, dt, CLT_SHAPE(2, 1, 5, 7)), rnd(dev, dt, CLT_SHAPE(3, 7, 3)), 4, (const int64_t[]){2, 3, 5, 3},
          "broadcast both");
    check(rnd(dev, dt, CLT_SHAPE(2, 3, 7)), rnd(dev, dt, CLT_SHAPE(7)), 2, (const int64_t[]){2, 3}, "batched.1d");
    check(rnd(dev, dt, CLT_SHAPE(7)), rnd(dev, dt, CLT_SHAPE(2, 7, 3)), 2, (const int64_t[]){2, 3}, "1d.batched");
    /* transposed views go in as flags, strided ones as copies */
    clt_tensor *at = clt_transpose(rnd(dev, dt, CLT_SHAPE(7, 5)), 0, 1), *bt = clt_transpose(rnd(dev, dt, CLT_SHAPE(3, 7)), 0, 1);
    check(at, bt, 2, (const int64_t[]){5, 3}, "both transposed");
    clt_tensor *as = clt_slice(rnd(dev, dt, CLT_SHAPE(5, 14)), 1, 0, 14, 2);
    check(as, clt_slice(rnd(dev, dt, CLT_SHAPE(7, 6)), 1, 1, 6, 2), 2, (const int64_t[]){5, 3}, "strided");
    check(clt_permute(rnd(dev, dt, CLT_SHAPE(7, 4, 5)), CLT_DIMS(1, 2, 0)), rnd(dev, dt, CLT_SHAPE(4, 7, 3)), 3,
          (const int64_t[]){4, 5, 3}, "permuted batch");
    check(rnd(dev, dt, CLT_SHAPE(1, 7)), rnd(dev, dt, CLT_SHAPE(7, 1)), 2, (const int64_t[]){1, 1}, "1x1");
    check(rnd(dev, dt, CLT_SHAPE(33, 65)), rnd(dev, dt, CLT_SHAPE(65, 17)), 2, (const int64_t[]){33, 17}, "odd sizes");
    clt_scope_end();
  }
}

START_TEST(shapes_like_numpy) { shapes(TU_DEV); }
END_TEST

/* The providers $CLT_GEMM can pick on an OpenCL device (auto picks one of them: host on CPU
 * devices sharing host memory, else CLBlast), host twice: deferred to a callback (the default),
 * then with the host waiting for the maps. */
static const char *const providers[] = {"host", "host", "clblast", "kernel"};
#define NPROVIDERS 4

/* Sets provider i for the OpenCL device under test; false (environment restored) when this
 * build lacks it. */
static bool use_provider(int i) {
  setenv("CLT_GEMM", providers[i], 1);
  if (i == 1) setenv("CLT_GEMM_WAIT", "1", 1);
  clt_scope_begin();
  clt_tensor *probe = clt_matmul(clt_ones(tu_cl(), CLT_FLOAT32, CLT_SHAPE(1, 1)), clt_ones(tu_cl(), CLT_FLOAT32, CLT_SHAPE(1, 1)));
  clt_scope_end();
  bool built = probe || clt_last_status() != CLT_ERR_INVALID_ARG || !strstr(clt_last_error(), "this build takes");
  if (built) ck_assert_msg(probe != NULL, "CLT_GEMM=%s: %s", providers[i], clt_last_error());
  clt_clear_error();
  return built;
}

static void default_provider(void) {
  unsetenv("CLT_GEMM");
  unsetenv("CLT_GEMM_WAIT");
}

/* Every provider on the shapes above. */
START_TEST(every_gemm_provider) {
  bool built = use_provider(_i);
  if (built) shapes(tu_cl());
  default_provider();
  if (!built) TU_SKIP("CLT_GEMM=%s: not in this build", providers[_i]);
}
END_TEST

/* Gradients through every provider, in float64 against central differences: the backward
 * products take the transposed and batched paths (A^T g, g B^T, summed over broadcast batches)
 * that the forward shapes reach only in part. */
typedef struct {
  bool transpose_a;
} mm_case;

static clt_tensor *mm(clt_tensor *const *in, void *user) {
  const mm_case *c = user;
  return clt_matmul(c->transpose_a ? clt_transpose(in[0], -1, -2) : in[0], in[1]);
}

START_TEST(every_gemm_provider_gradients) {
  static const struct {
    int na, nb;
    int64_t a[3], b[3];
    mm_case c;
  } cases[] = {
      {2, 2, {3, 4}, {4, 5}, {false}},          {1, 3, {4}, {2, 4, 3}, {false}},
      {3, 2, {2, 3, 4}, {4, 2}, {false}},       {3, 3, {2, 4, 3}, {1, 4, 2}, {true}},
      {2, 1, {3, 4}, {4}, {false}},
  };
  bool built = use_provider(_i);
  for (size_t k = 0; built && k < sizeof cases / sizeof *cases; k++) {
    clt_scope_begin();
    clt_manual_seed(30 + (uint64_t)k);
    clt_tensor *in[2] = {rnd(tu_cl(), CLT_FLOAT64, cases[k].na, cases[k].a), rnd(tu_cl(), CLT_FLOAT64, cases[k].nb, cases[k].b)};
    clt_status st = clt_gradcheck(mm, (void *)&cases[k].c, 2, in, NULL);
    clt_scope_end();
    ck_assert_msg(st == CLT_OK, "CLT_GEMM=%s, case %zu: %s", providers[_i], k, clt_last_error());
  }
  default_provider();
  if (!built) TU_SKIP("CLT_GEMM=%s: not in this build", providers[_i]);
}
END_TEST

/* The GEMM's bias epilogue (lib/backend.h: clt__gemm_args) broadcast to the product as any
 * tensor would be: per column ([n], a linear layer's), per row ([m, 1], a convolution's), per
 * batch entry and row ([G, m, 1]: bias_stride), against matmul plus add, float32 and float64,
 * through every provider (the kernels after the product, or the host's GEMM in its callback) and
 * on the host; B's entries side by side in its rows with A shared (a convolution's product per
 * image) take the host's merged product (lib/blas.c: run_merged), others its loop. */
START_TEST(gemm_bias_epilogue_broadcasts) {
  bool built = use_provider(_i);
  static const struct { int64_t bias[3]; int nd; bool side_by_side; } cases[] = {
      {{5}, 1, false}, {{3, 1}, 2, false}, {{4, 3, 1}, 3, false}, {{4, 1, 5}, 3, false},
      {{3, 1}, 2, true}, {{4, 3, 1}, 3, true}};
  clt_device *devs[2] = {tu_dev[0], tu_cl()};
  for (int dv = 0; built && dv < 2; dv++)
    for (int t = 0; t < 2; t++)
      for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        clt_scope_begin();
        clt_dtype dt = t ? CLT_FLOAT64 : CLT_FLOAT32;
        clt_manual_seed(40 + c);
        clt_tensor *a = cases[c].side_by_side ? rnd(devs[dv], dt, CLT_SHAPE(3, 6)) : rnd(devs[dv], dt, CLT_SHAPE(4, 3, 6));
        /* side by side: [6, 4 5] read as [4, 6, 5], entries 5 columns apart */
        clt_tensor *b = cases[c].side_by_side ? clt_permute(clt_reshape(rnd(devs[dv], dt, CLT_SHAPE(6, 20)), CLT_SHAPE(6, 4, 5)),
                                                            CLT_DIMS(1, 0, 2))
                                              : rnd(devs[dv], dt, CLT_SHAPE(4, 6, 5));
        clt_tensor *bias = rnd(devs[dv], dt, cases[c].nd, cases[c].bias);
        clt_tensor *got = clt__matmul_ep(a, b, bias, NULL), *want = clt_add(clt_matmul(a, b), bias);
        ck_assert_msg(got && want, "%s", clt_last_error());
        double *g = tu_values(got), *w = tu_values(want), tol = t ? 1e-12 : 1e-5;
        for (int64_t i = 0; i < clt_numel(want); i++)
          ck_assert_msg(fabs(g[i] - w[i]) <= tol, "CLT_GEMM=%s on %s, %s case %zu: element %lld is %g, want %g",
                        providers[_i], clt_device_spec(devs[dv]), clt_dtype_name(dt), c, (long long)i, g[i], w[i]);
        free(g);
        free(w);
        clt__tensor_release(got); /* an internal op's result: not the scope's */
        clt_scope_end();
      }
  default_provider();
  if (!built) TU_SKIP("CLT_GEMM=%s: not in this build", providers[_i]);
}
END_TEST

START_TEST(bad_gemm_provider) {
  setenv("CLT_GEMM", "cuda", 1);
  clt_scope_begin();
  ck_assert_ptr_null(clt_matmul(clt_ones(tu_cl(), CLT_FLOAT32, CLT_SHAPE(2, 2)), clt_ones(tu_cl(), CLT_FLOAT32, CLT_SHAPE(2, 2))));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_matmul: $CLT_GEMM is 'cuda': this build takes auto, kernel");
  clt_scope_end();
  unsetenv("CLT_GEMM");
}
END_TEST

#ifdef CLT_HAVE_CLBLAST
#include <unistd.h>

#include "clt/clt_cl.h"

/* Opens the device under test with $CLT_CLBLAST_TUNING naming a file that holds text. */
static clt_status open_tuned(const char *text, clt_device **out) {
  char path[] = "/tmp/clt-tuning-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  setenv("CLT_CLBLAST_TUNING", path, 1);
  clt_status st = clt_device_open(clt_device_spec(tu_cl()), out);
  unsetenv("CLT_CLBLAST_TUNING");
  unlink(path);
  return st;
}

/* CLBlast's parameters at device open: the built-in table's for this device (on the PoCL
 * these were measured on, all three), none with "none", a file's before the built-in ones, and
 * CLBlast's products right with them; a bad file fails the open naming the file's line. */
START_TEST(clblast_tuning) {
  clt_device *d = NULL;
  clt_device_info info;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  ck_assert_int_eq(clt_device_get_info(d, &info), CLT_OK);
  const char *builtin = clt_cl_device_gemm_tuning(d);
  ck_assert_ptr_nonnull(builtin);
  bool measured_here = strcmp(info.name, "pthread-skylake-avx512-AMD EPYC") == 0 && strcmp(info.driver_version, "3.1+debian") == 0;
  if (measured_here) ck_assert_str_eq(builtin, "Xgemm/32 XgemmDirect/32 GemmRoutine/32");
  char builtin_copy[256];
  snprintf(builtin_copy, sizeof builtin_copy, "%s", builtin);
  clt_device_release(d);

  setenv("CLT_CLBLAST_TUNING", "none", 1);
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  unsetenv("CLT_CLBLAST_TUNING");
  ck_assert_str_eq(clt_cl_device_gemm_tuning(d), "");
  clt_device_release(d);

  /* Parameters every device runs (64 work-items, no local memory), every product through
   * them (indirect from size 1), and an entry for another device that must not apply. */
  char text[1024];
  snprintf(text, sizeof text,
           "# a comment, then a blank line\n\n"
           "no such device\t*\tXgemmDirect\t32\tKWID=1\n"
           "%s\t*\tXgemm\t32\tGEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=32 NDIMB=8 NDIMC=8 NWG=32 SA=0 SB=0 "
           "STRM=0 STRN=0 VWM=1 VWN=1   # CLBlast's generic values\n"
           "*\t%s\tGemmRoutine\t32\tXGEMM_MIN_INDIRECT_SIZE=1\n",
           info.name, info.driver_version);
  ck_assert_int_eq(open_tuned(text, &d), CLT_OK);
  const char *set = clt_cl_device_gemm_tuning(d);
  ck_assert_msg(strncmp(set, "Xgemm/32 GemmRoutine/32", 23) == 0 && !strstr(set + 23, "Xgemm/32") &&
                    !strstr(set + 23, "GemmRoutine/32"), "tuning '%s'", set);
  if (measured_here) ck_assert_str_eq(set, "Xgemm/32 GemmRoutine/32 XgemmDirect/32");
  setenv("CLT_GEMM", "clblast", 1);
  shapes(d);
  unsetenv("CLT_GEMM");
  clt_device_release(d);

  static const struct { const char *text, *want1, *want2; clt_status st; } bad[] = {
      {"*\t*\tXgemm\n", "line 1: 3 tab-separated fields; want 5", NULL, CLT_ERR_FORMAT},
      {"# c\n*\t*\tXgemm\t32\tKWG=32\n", "line 2: CLBlastOverrideParameters(Xgemm, 32-bit, 1 parameters) failed",
       "CLBlastMissingOverrideParameter (-2047): the kernel takes a different set of parameters", CLT_ERR_FORMAT},
      {"*\t*\tGemmRoutine\t32\tXGEMM_MIN_INDIRECT_SIZE=-1\n", "parameter XGEMM_MIN_INDIRECT_SIZE has value '-1'",
       "not a non-negative integer", CLT_ERR_FORMAT},
      {"*\t*\tGemmRoutine\t32\tXGEMM_MIN_INDIRECT_SIZE\n", "'XGEMM_MIN_INDIRECT_SIZE' is not NAME=VALUE", NULL,
       CLT_ERR_FORMAT},
      {"*\t*\tGemmRoutine\t16\tXGEMM_MIN_INDIRECT_SIZE=1\n", "precision 16; CLBlast's are 32 and 64", NULL,
       CLT_ERR_FORMAT},
      {"*\t*\tGemmRoutine\tsingle\tXGEMM_MIN_INDIRECT_SIZE=1\n", "precision 'single' is not 32 or 64", NULL,
       CLT_ERR_FORMAT},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    d = (clt_device *)1;
    ck_assert_int_eq(open_tuned(bad[i].text, &d), bad[i].st);
    ck_assert_ptr_null(d);
    TU_ASSERT_ERR(bad[i].st, "clt_device_open: $CLT_CLBLAST_TUNING /tmp/clt-tuning-", bad[i].want1,
                  bad[i].want2 ? bad[i].want2 : "");
  }
  setenv("CLT_CLBLAST_TUNING", "/nonexistent/tuning.tsv", 1);
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_ERR_IO);
  unsetenv("CLT_CLBLAST_TUNING");
  TU_ASSERT_ERR(CLT_ERR_IO, "clt_device_open: $CLT_CLBLAST_TUNING names '/nonexistent/tuning.tsv': cannot open it");
  /* the built-in parameters back for the rest of the process (CLBlast keeps them per device) */
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  ck_assert_str_eq(clt_cl_device_gemm_tuning(d), builtin_copy);
  clt_device_release(d);
  ck_assert_ptr_null(clt_cl_device_gemm_tuning(tu_dev[0]));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_cl_device_gemm_tuning: device host is not an OpenCL device");
}
END_TEST
#endif

START_TEST(device_matches_host) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_manual_seed(5);
  clt_tensor *a = rnd(dev, CLT_FLOAT32, CLT_SHAPE(3, 64, 48)), *b = rnd(dev, CLT_FLOAT32, CLT_SHAPE(48, 80));
  clt_tensor *c = clt_matmul(a, b), *h = clt_matmul(clt_to(a, tu_dev[0]), clt_to(b, tu_dev[0]));
  double *cv = tu_values(c), *hv = tu_values(h);
  for (int64_t i = 0; i < clt_numel(c); i++) ck_assert_double_eq_tol(cv[i], hv[i], 1e-4);
  free(cv);
  free(hv);
  clt_scope_end();
}
END_TEST

START_TEST(empty_products_and_errors) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  tu_assert_values(clt_matmul(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 0)), clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(0, 3))), 2,
                   (const int64_t[]){2, 3}, (const double[]){0, 0, 0, 0, 0, 0});
  tu_assert_values(clt_matmul(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(0, 4)), clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(4, 3))), 2,
                   (const int64_t[]){0, 3}, NULL);
  tu_assert_values(clt_matmul(clt_zeros(dev, CLT_FLOAT64, CLT_SHAPE(0)), clt_zeros(dev, CLT_FLOAT64, CLT_SHAPE(0))), 0, NULL,
                   (const double[]){0});
  /* float32 with float64 promotes */
  ck_assert_int_eq(clt_dtype_of(clt_matmul(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 2)), clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(2)))),
                   CLT_FLOAT64);
  ck_assert_ptr_null(clt_matmul(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 3)), clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 3))));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_matmul: shapes [2,3] and [2,3] do not multiply: 3 columns against 2 rows");
  ck_assert_ptr_null(clt_matmul(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2, 2, 3)), clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(3, 3, 1))));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_matmul: shapes [2] and [3] cannot broadcast");
  ck_assert_ptr_null(clt_matmul(clt_ones(dev, CLT_INT32, CLT_SHAPE(2, 2)), clt_ones(dev, CLT_INT32, CLT_SHAPE(2, 2))));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_matmul: matmul needs float tensors, not int32 and int32");
  ck_assert_ptr_null(clt_matmul(clt_ones(dev, CLT_FLOAT32, 0, NULL), clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(2))));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_matmul: both operands need at least 1 dim (got [] and [2])");
  clt_scope_end();
}
END_TEST

START_TEST(check_mode_runs_gemm_twice) {
  clt_scope_begin();
  setenv("CLT_CHECK", "1", 1);
  clt_tensor *a = rnd(tu_cl(), CLT_FLOAT32, CLT_SHAPE(2, 9, 4)), *b = rnd(tu_cl(), CLT_FLOAT32, CLT_SHAPE(4, 6));
  ck_assert_msg(clt_matmul(a, b) != NULL, "%s", clt_last_error());
  unsetenv("CLT_CHECK");
  clt_scope_end();
}
END_TEST

/* The CPU's float32 GEMM provider (clt_cpu_gemm_provider): named, with its reason, and right on
 * products large enough to use it (more than 2^18 multiply-adds), with either operand transposed.
 * Integer entries keep every sum exact, so any provider must match the reference exactly. The
 * matmul_onednn test runs this with CLT_CPU_GEMM=onednn, where the build has oneDNN. */
START_TEST(cpu_gemm_provider_products) {
  const char *line = clt_cpu_gemm_provider(), *forced = getenv("CLT_CPU_GEMM");
  ck_assert_ptr_nonnull(line);
  ck_assert_msg(strncmp(line, "cblas", 5) == 0 || strncmp(line, "onednn", 6) == 0, "%s", line);
  ck_assert_msg(strstr(line, "cblas is ") != NULL, "%s", line);
  if (forced && strcmp(forced, "auto") != 0)
    ck_assert_msg(strncmp(line, forced, strlen(forced)) == 0 && strstr(line, "set by $CLT_CPU_GEMM"), "%s", line);
  enum { M = 130, K = 140, N = 150 };
  /* which products run on the calling thread alone (lib/blas.c): OpenBLAS's up to 2^18
   * multiply-adds; past that up to 2^23 (2^20, this product's 2.7M) oneDNN's, when it is the
   * provider measured fastest on one thread (the line gives that measurement) or set */
  ck_assert(clt__cpu_gemm_serial(CLT_FLOAT64, 1 << 18) && !clt__cpu_gemm_serial(CLT_FLOAT64, (1 << 18) + 1));
  ck_assert(clt__cpu_gemm_serial(CLT_FLOAT32, 1 << 18));
  ck_assert(clt__cpu_gemm_serial(CLT_FLOAT32, (int64_t)1 << 20) == clt__cpu_gemm_serial(CLT_FLOAT32, (int64_t)M * N * K));
  ck_assert(!clt__cpu_gemm_serial(CLT_FLOAT32, ((int64_t)1 << 23) + 1));
  if (forced && strcmp(forced, "cblas") == 0) ck_assert(!clt__cpu_gemm_serial(CLT_FLOAT32, (int64_t)1 << 20));
  if (forced && strcmp(forced, "onednn") == 0 && strstr(line, "set by"))
    ck_assert_msg(clt__cpu_gemm_serial(CLT_FLOAT32, (int64_t)M * N * K), "%s", line);
  if (strstr(line, "the fastest at")) ck_assert_msg(strstr(line, "at 32x1024x144: cblas") != NULL, "%s", line);
  static float a[M * K], b[K * N], c[M * N];
  for (int i = 0; i < M * K; i++) a[i] = (float)(i % 5 - 2);
  for (int i = 0; i < K * N; i++) b[i] = (float)(i % 7 - 3);
  for (int t = 0; t < 4; t++) { /* t & 1: A given transposed, t & 2: B */
    clt_scope_begin();
    clt_tensor *x = t & 1 ? clt_transpose(clt_contiguous(clt_transpose(clt_from_host(TU_DEV, CLT_FLOAT32, CLT_SHAPE(M, K), a), 0, 1)), 0, 1)
                          : clt_from_host(TU_DEV, CLT_FLOAT32, CLT_SHAPE(M, K), a);
    clt_tensor *y = t & 2 ? clt_transpose(clt_contiguous(clt_transpose(clt_from_host(TU_DEV, CLT_FLOAT32, CLT_SHAPE(K, N), b), 0, 1)), 0, 1)
                          : clt_from_host(TU_DEV, CLT_FLOAT32, CLT_SHAPE(K, N), b);
    ck_assert_int_eq(clt_to_host(clt_matmul(x, y), c, sizeof c), CLT_OK);
    clt_scope_end();
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        double want = 0;
        for (int p = 0; p < K; p++) want += (double)a[i * K + p] * b[p * N + j];
        ck_assert_msg(c[i * N + j] == (float)want, "case %d [%d,%d]: %g, want %g (%s)", t, i, j, c[i * N + j], want, line);
      }
  }
}
END_TEST

/* The host's GEMM on a CPU device runs later, on the driver's thread, over the operands' own
 * memory; released operands must outlive it. Here the queue is busy (a long exp ahead), the
 * operands are released and the device's cache emptied before the product can run, and the
 * calling thread then allocates and fills memory of the operands' size (freed buffers of this
 * size go back to the system, and often come straight back). Before the fix the cache released
 * the buffers at once: the product read freed memory. */
START_TEST(gemm_operands_outlive_their_release) {
  enum { N = 192 };
  static float a[N * N], b[N * N], c[N * N];
  for (int i = 0; i < N * N; i++) {
    a[i] = (float)(i % 7 - 3);
    b[i] = (float)(i % 5 - 2);
  }
  for (int round = 0; round < 4; round++) {
    clt_tensor *ones = clt_ones(tu_cl(), CLT_FLOAT32, CLT_SHAPE(4000000)), *busy = clt_exp(ones);
    ck_assert_int_eq(clt_eval(busy), CLT_OK);
    clt_release(ones);
    clt_tensor *x = clt_from_host(tu_cl(), CLT_FLOAT32, CLT_SHAPE(N, N), a);
    clt_tensor *y = clt_from_host(tu_cl(), CLT_FLOAT32, CLT_SHAPE(N, N), b);
    clt_tensor *z = clt_matmul(x, y);
    ck_assert_ptr_nonnull(z);
    clt_release(x);
    clt_release(y);
    ck_assert_int_eq(clt_device_empty_cache(tu_cl()), CLT_OK);
    float *junk[8];
    for (int j = 0; j < 8; j++) {
      junk[j] = malloc(sizeof a);
      ck_assert_ptr_nonnull(junk[j]);
      memset(junk[j], 0x7f, sizeof a);
    }
    ck_assert_int_eq(clt_to_host(z, c, sizeof c), CLT_OK);
    for (int j = 0; j < 8; j++) free(junk[j]);
    clt_release(z);
    clt_release(busy);
    for (int i = 0; i < N; i++)
      for (int j = 0; j < N; j++) {
        double want = 0;
        for (int p = 0; p < N; p++) want += (double)a[i * N + p] * b[p * N + j];
        ck_assert_msg(c[i * N + j] == (float)want, "round %d [%d,%d]: %g, want %g", round, i, j, c[i * N + j], want);
      }
  }
}
END_TEST

/* A batched product whose result's gradient comes back in a layout GEMM cannot read (attention's
 * output, [B, H, T, E], merged back into [B, T, H E]): the gradient is copied once for both
 * gradient products, not once by each, and the gradients are those of a contiguous result. */
START_TEST(product_gradient_copied_once) {
  clt_device *dev = TU_DEV;
  enum { B = 2, H = 3, T = 4, E = 5 };
  double *grad[2][2];
  for (int merged = 0; merged < 2; merged++) {
    clt_scope_begin();
    clt_manual_seed(7); /* the same operands both times */
    clt_tensor *p = rnd(dev, CLT_FLOAT64, CLT_SHAPE(B, H, T, T)), *v = rnd(dev, CLT_FLOAT64, CLT_SHAPE(B, H, T, E));
    ck_assert(clt_set_requires_grad(p, true) == CLT_OK && clt_set_requires_grad(v, true) == CLT_OK);
    clt_tensor *y = clt_matmul(p, v), *c = rnd(dev, CLT_FLOAT64, CLT_SHAPE(B, T, H * E));
    /* merged: y's gradient is c viewed back through the merge, a transposed view */
    clt_tensor *yy = merged ? clt_reshape(clt_transpose(y, 1, 2), CLT_SHAPE(B, T, H * E))
                            : clt_reshape(clt_contiguous(clt_transpose(y, 1, 2)), CLT_SHAPE(B, T, H * E));
    clt_tensor *l = clt_sum(clt_mul(yy, c), CLT_ALL_DIMS, false);
    ck_assert_msg(l != NULL, "%s", clt_last_error());
    int copies;
    clt_status st = tu_backward_counting_copies(l, &copies);
    ck_assert_msg(st == CLT_OK, "%s", clt_last_error());
    if (merged) ck_assert_msg(copies == 1, "on %s: the product's gradient copied %d times, not once", clt_device_spec(dev), copies);
    grad[merged][0] = tu_values(clt_grad(p));
    grad[merged][1] = tu_values(clt_grad(v));
    clt_scope_end();
  }
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < (k ? B * H * T * E : B * H * T * T); i++)
      ck_assert_msg(fabs(grad[0][k][i] - grad[1][k][i]) <= 1e-12 * (1 + fabs(grad[1][k][i])), "gradient %d at %d: %.17g, want %.17g",
                    k, i, grad[1][k][i], grad[0][k][i]);
    free(grad[0][k]);
    free(grad[1][k]);
  }
}
END_TEST

/* Marker-barrier pairs the host's GEMM queued (lib/cl/gemm.c). */
#ifdef CLT_HAVE_OPENCL /* the chains are the OpenCL backend's */
#include "clt/clt_cl.h"

extern atomic_ulong clt__cl_gemm_chains;

/* Four products, each reading the one before, on dev: their values (integer entries, so any
 * order of the sums is exact) as doubles, and the marker-barrier pairs they took. A long exp
 * queued first keeps the queue busy, so the first product's pair is still pending when the
 * others come. */
static unsigned long chained_products(clt_device *dev, double *out) {
  enum { N = 8 };
  double a[N * N], b[N * N];
  for (int i = 0; i < N * N; i++) {
    a[i] = (double)(i % 5 - 2);
    b[i] = (double)(i % 3 - 1);
  }
  clt_scope_begin();
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(N, N), a), *y = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(N, N), b);
  x = clt_cast(x, CLT_FLOAT32);
  y = clt_cast(y, CLT_FLOAT32);
  ck_assert_int_eq(clt_eval(y), CLT_OK);
  clt_tensor *busy = clt_exp(clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(4000000)));
  ck_assert_int_eq(clt_eval(busy), CLT_OK);
  unsigned long before = atomic_load(&clt__cl_gemm_chains);
  clt_tensor *p1 = clt_matmul(x, y), *p2 = clt_matmul(p1, y), *p3 = clt_matmul(x, p2);
  clt_tensor *p4 = clt_matmul(clt_transpose(p3, 0, 1), y);
  unsigned long pairs = atomic_load(&clt__cl_gemm_chains) - before;
  ck_assert_msg(p4 != NULL, "%s", clt_last_error());
  clt_tensor *all[4] = {p1, p2, p3, p4};
  for (int k = 0; k < 4; k++) {
    double *v = tu_values(all[k]);
    memcpy(out + k * N * N, v, sizeof(double) * N * N);
    free(v);
  }
  clt_scope_end();
  return pairs;
}

/* On PoCL the host's GEMM runs in a callback behind a marker, and a barrier holds the later
 * commands (lib/cl/gemm.c). Products asked for while the last one's barrier is still the last
 * command clt queued take no command (they join its callback, or run on the calling thread once
 * it has run): one pair for a run of products (the transformer's step: 42 products in 29
 * pairs), each product still reading the ones before it. Where the application holds the queue
 * (clt_cl_device_get), whose commands clt does not count, every product takes its own pair. */
START_TEST(host_gemms_back_to_back_share_a_barrier) {
  clt_device *dev = tu_cl();
  clt_cl_details det;
  ck_assert_int_eq(clt_cl_device_get_details(dev, &det), CLT_OK);
  const char *provider = getenv("CLT_GEMM"), *ops = getenv("CLT_HOST_OPS");
  if (!strstr(det.platform, "Portable") || (provider && *provider) || (ops && strcmp(ops, "0") == 0))
    return; /* the products are not the host's over the buffers' own memory */
  double want[4 * 64], got[4 * 64];
  chained_products(tu_dev[0], want);
  /* a first round gets the buffers from the pool, where a new buffer's address is learnt by a
   * command (lib/cl/ew.c): the second reuses them */
  chained_products(dev, got);
  unsigned long pairs = chained_products(dev, got);
  ck_assert_msg(pairs == 1, "4 products back to back took %lu marker-barrier pairs", pairs);
  for (int i = 0; i < 4 * 64; i++) ck_assert_msg(got[i] == want[i], "element %d: %g, want %g", i, got[i], want[i]);
  /* a handle of its own over the same context (the suite's device stays as it is), whose queue
   * the application then takes */
  cl_context ctx;
  cl_device_id id;
  cl_command_queue q;
  clt_device *w;
  ck_assert_int_eq(clt_cl_device_get(dev, &ctx, &id, NULL), CLT_OK);
  ck_assert_int_eq(clt_cl_device_wrap(ctx, id, NULL, &w), CLT_OK);
  chained_products(w, got);
  pairs = chained_products(w, got);
  ck_assert_msg(pairs == 1, "on a handle of its own: %lu pairs", pairs);
  ck_assert_int_eq(clt_cl_device_get(w, NULL, NULL, &q), CLT_OK);
  pairs = chained_products(w, got);
  clt_device_release(w);
  ck_assert_msg(pairs == 4, "the application holds the queue: 4 products took %lu pairs, not 4", pairs);
  for (int i = 0; i < 4 * 64; i++) ck_assert_msg(got[i] == want[i], "element %d: %g, want %g", i, got[i], want[i]);
}
END_TEST
#endif

static Suite *suite(void) {
  Suite *s = suite_create("matmul");
  TCase *tc = tu_tcase("matmul");
  TU_DEVICES(tc, shapes_like_numpy);
  TU_VS_HOST(tc, device_matches_host);
  TU_DEVICES(tc, empty_products_and_errors);
  TU_DEVICES(tc, cpu_gemm_provider_products);
  TU_DEVICES(tc, product_gradient_copied_once);
  if (tu_cl()) {
    tcase_add_test(tc, check_mode_runs_gemm_twice);
    tcase_add_test(tc, gemm_operands_outlive_their_release);
#ifdef CLT_HAVE_OPENCL
    tcase_add_test(tc, host_gemms_back_to_back_share_a_barrier);
#endif
    tcase_add_loop_test(tc, every_gemm_provider, 0, NPROVIDERS);
    tcase_add_loop_test(tc, every_gemm_provider_gradients, 0, NPROVIDERS);
    tcase_add_loop_test(tc, gemm_bias_epilogue_broadcasts, 0, NPROVIDERS);
    tcase_add_test(tc, bad_gemm_provider);
#ifdef CLT_HAVE_CLBLAST
    tcase_add_test(tc, clblast_tuning);
#endif
  }
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
