/* The CPU's matrix product: CBLAS (OpenBLAS) where the build has it, else a blocked loop; for
 * float32, oneDNN's dnnl_sgemm too where the machine has libdnnl (loaded at run time, as OpenCL
 * is: Debian's libdnnl imports libOpenCL, which a link would bring back into every program), the
 * faster of the two on this machine (measured once per process). The core owns it, so that every backend whose memory the host can
 * address uses the same one: the host backend's gemm entry, and the OpenCL backend's
 * mapped-buffer route on devices that share host memory (lib/cl/gemm.c). Operands are read and
 * written through their storages' ptr. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "core.h"
#include "platform.h"

#ifdef CLT_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef CLT_HAVE_ONEDNN
#include "dynlib.h"
#endif

#ifndef CLT_HAVE_CBLAS
/* Blocked row-major GEMM for builds without CBLAS: blocks of k and n keep B's rows in cache. */
#define BLOCK_GEMM(T)                                                                                    \
  static void gemm_##T(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,     \
                       const T *b, int64_t ldb, T beta, T *c, int64_t ldc) {                            \
    for (int64_t i = 0; i < m; i++)                                                                     \
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j];                  \
    const int64_t KB = 128, NB = 256;                                                                   \
    for (int64_t k0 = 0; k0 < k; k0 += KB)                                                              \
      for (int64_t j0 = 0; j0 < n; j0 += NB)                                                            \
        for (int64_t i = 0; i < m; i++)                                                                 \
          for (int64_t p = k0; p < k0 + KB && p < k; p++) {                                             \
            T av = ta ? a[p * lda + i] : a[i * lda + p];                                                \
            T *ci = c + i * ldc;                                                                        \
            for (int64_t j = j0; j < j0 + NB && j < n; j++) ci[j] += av * (tb ? b[j * ldb + p] : b[p * ldb + j]); \
          }                                                                                             \
  }
BLOCK_GEMM(float)
BLOCK_GEMM(double)
#endif

/* ---- float32 providers, chosen by measurement --------------------------------------------- */

/* The most multiply-adds OpenBLAS runs on the calling thread (OpenBLAS's interface/gemm.c:
 * SMP_THRESHOLD_MIN 65536 times GEMM_MULTITHREAD_THRESHOLD 4). Products up to this many run
 * there without choosing a provider, so no other provider's threads start; larger ones choose
 * (below). */
#define ONE_THREAD_MADDS ((int64_t)1 << 18)
/* The most multiply-adds oneDNN runs on the calling thread, where clt can set its OpenMP
 * thread count: products of the digits CNN's layers over a whole batch (32 x 1024 x 144, 4.7M)
 * ran 2-3x faster than OpenBLAS's per image, and its second thread lost more on PoCL's busy
 * cores than it gave (clt-train --model cnn: 1.08 ms a step with it, 0.92 without). */
#define SERIAL_MADDS ((int64_t)1 << 23)

/* A row-major float32 product C = op(A) op(B) + beta C (beta 0 or 1), as each provider takes it. */
typedef void (*sgemm_fn)(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

static void sgemm_default(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
#ifdef CLT_HAVE_CBLAS
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
#else
  gemm_float(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
#endif
}

#ifdef CLT_HAVE_ONEDNN
/* dnnl_sgemm as oneDNN 2 and 3 declare it (dnnl_dim_t is int64_t, dnnl_status_t an enum), taken
 * from the library at run time: no header or link at build time. */
typedef int (*dnnl_sgemm_fn)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                             int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
typedef struct {
  dnnl_sgemm_fn p_dnnl_sgemm;
} onednn_api;
static onednn_api onednn_fn; /* filled before onednn can be chosen (under choice_lock) */

static const clt__symbol_row onednn_rows[] = {{"dnnl_sgemm", offsetof(onednn_api, p_dnnl_sgemm)}};
static const char *const onednn_names[] = {
#if defined(_WIN32)
    "dnnl.dll",
#elif defined(__APPLE__)
    "libdnnl.3.dylib", "libdnnl.2.dylib",
#else
    "libdnnl.so.3", "libdnnl.so.2",
#endif
    NULL};
static clt__library onednn = {
    .what = "oneDNN",
    .env = "CLT_ONEDNN_LIBRARY",
    .names = onednn_names,
    .effect = "matrix products on the CPU take CBLAS",
    .hint = "install libdnnl, or name it in $CLT_ONEDNN_LIBRARY",
    .rows = onednn_rows,
    .nrows = 1,
    .table = &onednn_fn,
};

/* The OpenMP runtime oneDNN runs on (Debian's libdnnl: libgomp), whose thread count for the
 * calling thread (an ICV of its own: other threads keep theirs) clt sets around a product that
 * runs faster alone; absent (a oneDNN on TBB or a thread pool), products take oneDNN's
 * default. */
typedef struct {
  int (*p_omp_get_max_threads)(void);
  void (*p_omp_set_num_threads)(int);
} omp_api;
static omp_api omp_fn;
static const clt__symbol_row omp_rows[] = {{"omp_get_max_threads", offsetof(omp_api, p_omp_get_max_threads)},
                                           {"omp_set_num_threads", offsetof(omp_api, p_omp_set_num_threads)}};
static const char *const omp_names[] = {
#if defined(_WIN32)
    "libiomp5md.dll", "vcomp140.dll",
#elif defined(__APPLE__)
    "libomp.dylib", "libiomp5.dylib",
#else
    "libgomp.so.1", "libomp.so.5", "libiomp5.so",
#endif
    NULL};
static clt__library omp = {
    .what = "OpenMP",
    .env = "CLT_OPENMP_LIBRARY",
    .names = omp_names,
    .effect = "oneDNN's products take its own thread count",
    .hint = "install the OpenMP runtime oneDNN was built with, or name it in $CLT_OPENMP_LIBRARY",
    .rows = omp_rows,
    .nrows = 2,
    .table = &omp_fn,
};
static bool omp_loaded; /* set before onednn can be chosen (under choice_lock) */

static void sgemm_onednn(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  int threads = omp_loaded && m * n * k <= SERIAL_MADDS ? omp_fn.p_omp_get_max_threads() : 1;
  if (threads > 1) omp_fn.p_omp_set_num_threads(1);
  /* dnnl_sgemm fails only on bad arguments, which clt__cpu_gemm_check rules out */
  (void)onednn_fn.p_dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  if (threads > 1) omp_fn.p_omp_set_num_threads(threads); /* the caller's own count again */
}
#endif

#ifdef CLT_HAVE_CBLAS
#define DEFAULT_NAME "CBLAS"
#else
#define DEFAULT_NAME "clt's blocked loop"
#endif

static const struct {
  const char *name; /* as $CLT_CPU_GEMM names it */
  sgemm_fn fn;
} providers[] = {
    {"cblas", sgemm_default},
#ifdef CLT_HAVE_ONEDNN
    {"onednn", sgemm_onednn},
#endif
};
#define NPROV (sizeof providers / sizeof *providers)

static clt__mutex choice_lock = CLT__MUTEX_INIT;
/* index into providers, -1 until chosen; set once, after why, so a product's run (perhaps on an
 * OpenCL callback thread) reads it without the lock */
static atomic_int chosen = -1;
/* the provider of products past ONE_THREAD_MADDS up to SERIAL_MADDS multiply-adds, set with chosen:
 * measured apart, on one thread, as oneDNN runs them (its threaded speed on a loaded machine, 4
 * GFLOP/s here at times, says nothing of them) */
static atomic_int serial_choice;
static char why[640];

/* Products past ONE_THREAD_MADDS choose a provider, once per process: the measurement, with
 * loading oneDNN and starting its threads and OpenBLAS's, takes 50-150 ms here. Up to the
 * seventh session they chose from 128^3 only, and products between (the transformer's
 * projections of 512 x 32 x 96, the digits MLP's 64 x 128 x 64) ran on OpenBLAS's threads,
 * whose second thread then spun in sched_yield for 31% of clt-train --model transformer's CPU
 * samples on 2 cores, and OpenBLAS's Haswell core ran at about half oneDNN's speed on one
 * thread: choosing for them made the transformer's step 13% faster and the digits MLP's 30%
 * (clt-bench --only training). */
#define PROBE 256

/* Seconds per m x n x k product (row-major, packed, each operand within the memory given) with
 * provider p: the best of three after one warm-up. */
static double probe(int p, int m, int n, int k, const float *a, const float *b, float *c) {
  double best = 1e30;
  for (int r = 0; r < 4; r++) {
    double t0 = clt__now();
    providers[p].fn(false, false, m, n, k, a, k, b, n, 0.0f, c, n);
    double t = clt__now() - t0;
    if (r > 0 && t < best) best = t;
  }
  return best;
}

/* The OpenBLAS core this process runs, and a warning when it is older than the CPU (Debian's
 * 0.3.21 takes some AVX-512 CPUs for "Prescott", SSE3 only: 31-35 GFLOP/s where its SkylakeX
 * core ran 145-209). */
#if defined(CLT_HAVE_CBLAS) && defined(OPENBLAS_VERSION)
#define CLT_OPENBLAS 1
#endif
static void describe_default(char *buf, size_t cap) {
#ifdef CLT_OPENBLAS
  const char *core = openblas_get_corename();
  int n = snprintf(buf, cap, "OpenBLAS (%s core)", core ? core : "unknown");
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  /* the cores with AVX-512 kernels, then those with AVX2 ones (OpenBLAS's Zen core runs Haswell's
   * AVX2 kernels, also on an AVX-512 Zen 4) */
  static const char *const cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids", "Haswell", "Zen"};
  bool has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2"), fit = !(has512 || has2);
  for (size_t i = 0; core && i < (has512 ? 3 : 5) && !fit; i++) fit = strcmp(core, cores[i]) == 0;
  if (!fit && n > 0 && (size_t)n < cap)
    snprintf(buf + n, cap - (size_t)n, "; warning: this CPU has %s, which OpenBLAS's %s core does not use "
             "(OPENBLAS_CORETYPE=%s may run faster)", has512 ? "AVX-512" : "AVX2", core ? core : "chosen",
             has512 ? "SkylakeX" : "Haswell");
#else
  (void)n;
#endif
#else
  snprintf(buf, cap, "%s", DEFAULT_NAME);
#endif
}

/* Picks the float32 provider: $CLT_CPU_GEMM (a provider's name) when set, else the fastest at
 * PROBE^3 when the build has more than one. */
static int choose_locked(void) {
  char dflt[300];
  describe_default(dflt, sizeof dflt);
  const char *env = clt__getenv("CLT_CPU_GEMM");
  size_t nprov = NPROV; /* those that can run: the loaded ones come first */
#ifdef CLT_HAVE_ONEDNN
  if (env && strcmp(env, "cblas") == 0) {
    nprov = 1; /* not even loaded: its OpenMP threads stay out of the process */
  } else if (!clt__library_load(&onednn)) {
    nprov = 1;
    size_t n = strlen(dflt);
    if (n + 1 < sizeof dflt) snprintf(dflt + n, sizeof dflt - n, "; %.200s", onednn.note);
  } else {
    omp_loaded = clt__library_load(&omp);
    /* the first product here, on the caller's thread: oneDNN builds its JIT kernels at its first
     * and registers their destructors then, so the exit drain is armed after it (core.h), not
     * left behind them by a product a queue still runs as the process exits */
    float w[8 + 8 + 64] = {0}; /* A 8 x 1, B 1 x 8, C 8 x 8 */
    sgemm_onednn(false, false, 8, 8, 1, w, 1, w + 8, 8, 0.0f, w + 16, 8);
    clt__exit_drain_arm(NULL);
  }
#endif
  if (env && *env && strcmp(env, "auto") != 0) {
    for (size_t p = 0; p < nprov; p++)
      if (strcmp(env, providers[p].name) == 0) {
        serial_choice = (int)p;
        snprintf(why, sizeof why, "%s, set by $CLT_CPU_GEMM; cblas is %s", providers[p].name, dflt);
        return (int)p;
      }
    snprintf(why, sizeof why, "cblas: $CLT_CPU_GEMM is '%s', which this build or machine does not have; cblas is %s",
             env, dflt);
    return 0;
  }
  if (nprov == 1) {
    snprintf(why, sizeof why, "cblas, the only one here: %s", dflt);
    return 0;
  }
  enum { REGION = 144 * 1024 }; /* floats per operand: the largest of either shape below */
  float *a = calloc(3 * (size_t)REGION, sizeof(float));
  if (!a) {
    snprintf(why, sizeof why, "cblas (no memory to measure the others): %s", dflt);
    return 0;
  }
  for (size_t i = 0; i < 2 * (size_t)REGION; i++) a[i] = (float)(i % 7) * 0.25f;
  /* products at PROBE^3 (threaded), then at a conv layer's shape over a batch (32 x 1024 x 144,
   * the digits CNN's: below SERIAL_MADDS); two rounds, the providers taking turns, so that a
   * moment of load on a shared machine does not decide alone */
  static const int shape[2][3] = {{PROBE, PROBE, PROBE}, {32, 1024, 144}};
  double gf[2][8] = {{0}};
  int best = 0, sbest = 0;
  /* the loaded providers last to first: OpenBLAS's threads spin for a while after a threaded
   * product, so oneDNN's team measured right after one ran at 4 GFLOP/s (against 400-460) in one
   * process of five and the threaded choice fell to cblas; its first round now runs first */
  for (int round = 0; round < 2; round++)
    for (int z = 0; z < 2; z++)
      for (size_t q = 0; q < nprov && q < 8; q++) {
        size_t p = (nprov < 8 ? nprov : 8) - 1 - q;
        const int *d = shape[z];
        double g = 2.0 * d[0] * d[1] * d[2] / probe((int)p, d[0], d[1], d[2], a, a + REGION, a + 2 * REGION) / 1e9;
        if (g > gf[z][p]) gf[z][p] = g;
      }
  /* a threaded figure under half the same provider's one-thread figure was disturbed (oneDNN's
   * team at 4 GFLOP/s in some processes, 400-460 in others, the cause not found): measured again,
   * up to three times */
  for (size_t p = 0; p < nprov && p < 8; p++)
    for (int again = 0; again < 3 && gf[0][p] < 0.5 * gf[1][p]; again++) {
      double g = 2.0 * PROBE * PROBE * PROBE / probe((int)p, PROBE, PROBE, PROBE, a, a + REGION, a + 2 * REGION) / 1e9;
      if (g > gf[0][p]) gf[0][p] = g;
    }
  for (size_t p = 0; p < nprov && p < 8; p++) {
    if (gf[0][p] > gf[0][best]) best = (int)p;
    if (gf[1][p] > gf[1][sbest]) sbest = (int)p;
  }
#ifdef CLT_HAVE_ONEDNN
  /* oneDNN on one thread serves products up to SERIAL_MADDS whole, where OpenBLAS stays on one
   * thread only to ONE_THREAD_MADDS, so with cblas conv2d goes back to a product per image; here
   * the two ran within 3% of each other at 32x1024x144 and the choice flipped from process to
   * process (the CNN's step with it, 1200 -> 880 steps/s), so cblas needs a clear lead */
  for (size_t p = 0; p < nprov && p < 8; p++)
    if (providers[p].fn == sgemm_onednn && gf[1][sbest] < 1.25 * gf[1][p]) sbest = (int)p;
#endif
  free(a);
  int n = snprintf(why, sizeof why, "%s, the fastest at %d^3 here:", providers[best].name, PROBE);
  for (size_t p = 0; p < nprov && p < 8 && n > 0 && (size_t)n < sizeof why; p++)
    n += snprintf(why + n, sizeof why - (size_t)n, "%s %s %.0f GFLOP/s", p ? "," : "", providers[p].name, gf[0][p]);
  if (n > 0 && (size_t)n < sizeof why)
    n += snprintf(why + n, sizeof why - (size_t)n, "; %s at 32x1024x144:", providers[sbest].name);
  for (size_t p = 0; p < nprov && p < 8 && n > 0 && (size_t)n < sizeof why; p++)
    n += snprintf(why + n, sizeof why - (size_t)n, "%s %s %.0f GFLOP/s", p ? "," : "", providers[p].name, gf[1][p]);
  if (n > 0 && (size_t)n < sizeof why) snprintf(why + n, sizeof why - (size_t)n, "; cblas is %s", dflt);
  serial_choice = sbest;
  return best;
}

static void choose(void) {
  if (atomic_load(&chosen) >= 0) return; /* set once, after every field it guards: no lock per product */
  clt__mutex_lock(&choice_lock);
  /* stored last, after why and serial_choice: a thread that reads it set reads those whole */
  if (atomic_load(&chosen) < 0) atomic_store(&chosen, choose_locked());
  clt__mutex_unlock(&choice_lock);
}

const char *clt_cpu_gemm_provider(void) {
  clt__api("clt_cpu_gemm_provider");
  choose();
  return why;
}

/* Whether g's batch shares A and has its B entries side by side in B's rows (run_merged). */
static bool mergeable(const clt__gemm_args *g) {
  return g->batch > 1 && g->a_stride == 0 && !g->tb && g->b_stride == g->n && g->ldb >= g->batch * g->n &&
         g->batch * g->n <= INT32_MAX;
}

bool clt__cpu_gemm_serial(clt_dtype dt, int64_t madds) {
  if (madds <= ONE_THREAD_MADDS) return true;
  if (dt != CLT_FLOAT32 || madds > SERIAL_MADDS) return false; /* OpenBLAS's threads */
  choose(); /* as the product itself would */
#ifdef CLT_HAVE_ONEDNN
  return providers[serial_choice].fn == sgemm_onednn && omp_loaded;
#else
  return false;
#endif
}

clt_status clt__cpu_gemm_check(const clt__gemm_args *g) {
  /* chosen here, on the caller's thread, not in clt__cpu_gemm_run (an OpenCL event callback) */
  if (g->dt == CLT_FLOAT32 && g->m * g->n * g->k * (mergeable(g) ? g->batch : 1) > ONE_THREAD_MADDS) choose();
#ifdef CLT_HAVE_CBLAS
  if (g->m > INT32_MAX || g->n > INT32_MAX || g->k > INT32_MAX || g->lda > INT32_MAX || g->ldb > INT32_MAX ||
      g->ldc > INT32_MAX)
    return clt__err(CLT_ERR_OVERFLOW, "a %lldx%lldx%lld product exceeds CBLAS's int sizes", (long long)g->m,
                    (long long)g->n, (long long)g->k);
#else
  (void)g;
#endif
  return CLT_OK;
}

/* The epilogues of clt__gemm_args in T. The bias fills batch entry c's rows before the product,
 * which then adds to C (beta 1): after it, as a pass of its own over C, it took 3.4% of
 * clt-train --model transformer's CPU samples (1.7% vectorized, twice its GEMMs' share:
 * C's read and write again), where OpenBLAS's product with beta 0 clears C first anyway.
 * asum: the sums of op(A)'s rows, of float32 in double, 256 rows at a time, walking A along
 * its rows in memory. The inner loops go 8 elements at a time, which GCC's -O2 vectorizes (it
 * leaves the plain loops scalar). */
#define EPILOGUE(T)                                                                                     \
  static void bias_##T(const clt__gemm_args *g, int64_t e, T *c, int64_t ldc) {                       \
    const T *bias = (const T *)g->bias->ptr + g->bias_off + e * g->bias_stride;                         \
    for (int64_t i = 0; i < g->m; i++) {                                                                \
      T *ci = c + i * ldc;                                                                              \
      const T *bi = bias + i * g->bias_row;                                                             \
      if (i > 0 && g->bias_row == 0) memcpy(ci, c, sizeof(T) * (size_t)g->n); /* row 0's again */       \
      else if (g->bias_inc == 1 || g->n == 1) memcpy(ci, bi, sizeof(T) * (size_t)g->n);                 \
      else for (int64_t j = 0; j < g->n; j++) ci[j] = bi[j * g->bias_inc]; /* 0: one per row */         \
    }                                                                                                   \
  }                                                                                                     \
  static void asum_##T(const clt__gemm_args *g) {                                                       \
    const T *a = (const T *)g->a->ptr + g->a_off;                                                       \
    T *out = (T *)g->asum->ptr + g->asum_off;                                                           \
    enum { CH = 256 };                                                                                  \
    double acc[CH];                                                                                     \
    for (int64_t i0 = 0; i0 < g->m; i0 += CH) {                                                         \
      int64_t nr = g->m - i0 < CH ? g->m - i0 : CH;                                                     \
      for (int64_t r = 0; r < nr; r++) acc[r] = 0;                                                      \
      if (g->ta) { /* A stored [k, m]: row p holds op(A)[., p] */                                       \
        for (int64_t p = 0; p < g->k; p++) {                                                            \
          const T *ap = a + p * g->lda + i0;                                                            \
          int64_t r = 0;                                                                                \
          for (; r + 8 <= nr; r += 8)                                                                   \
            for (int q = 0; q < 8; q++) acc[r + q] += ap[r + q];                                        \
          for (; r < nr; r++) acc[r] += ap[r];                                                          \
        }                                                                                               \
      } else {                                                                                          \
        for (int64_t r = 0; r < nr; r++) {                                                              \
          const T *ar = a + (i0 + r) * g->lda;                                                          \
          double part[8] = {0};                                                                         \
          int64_t p = 0;                                                                                \
          for (; p + 8 <= g->k; p += 8)                                                                 \
            for (int q = 0; q < 8; q++) part[q] += ar[p + q];                                           \
          for (; p < g->k; p++) part[0] += ar[p];                                                       \
          for (int q = 0; q < 8; q++) acc[r] += part[q];                                                \
        }                                                                                               \
      }                                                                                                 \
      for (int64_t r = 0; r < nr; r++) out[i0 + r] = (T)acc[r];                                         \
    }                                                                                                   \
  }
EPILOGUE(float)
EPILOGUE(double)

/* Batch entry e's bias into c (rows ldc apart), which the product then adds to. */
static void fill_bias(const clt__gemm_args *g, int64_t e, void *c, int64_t ldc) {
  if (g->dt == CLT_FLOAT32) bias_float(g, e, c, ldc);
  else bias_double(g, e, c, ldc);
}

/* Batch entry e of g's product into c (rows ldc apart), adding to c where add. */
static void product(const clt__gemm_args *g, int64_t e, void *c, int64_t ldc, bool add) {
  if (g->dt == CLT_FLOAT32) {
    const float *a = (const float *)g->a->ptr + g->a_off + e * g->a_stride;
    const float *b = (const float *)g->b->ptr + g->b_off + e * g->b_stride;
    /* products too small to choose for keep the default provider */
    int64_t madds = g->m * g->n * g->k;
    int p = madds <= ONE_THREAD_MADDS ? 0 : madds <= SERIAL_MADDS ? serial_choice : atomic_load(&chosen);
    if (p < 0) p = 0;
    providers[p].fn(g->ta, g->tb, g->m, g->n, g->k, a, g->lda, b, g->ldb, add ? 1.0f : 0.0f, c, ldc);
  } else {
    const double *a = (const double *)g->a->ptr + g->a_off + e * g->a_stride;
    const double *b = (const double *)g->b->ptr + g->b_off + e * g->b_stride;
#ifdef CLT_HAVE_CBLAS
    cblas_dgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, (int)g->m,
                (int)g->n, (int)g->k, 1.0, a, (int)g->lda, b, (int)g->ldb, add ? 1.0 : 0.0, c, (int)ldc);
#else
    gemm_double(g->ta, g->tb, g->m, g->n, g->k, a, g->lda, b, g->ldb, add ? 1.0 : 0.0, c, ldc);
#endif
  }
}

/* A batch that shares A and whose B entries sit side by side in B's rows (a convolution's
 * product per image, lib/conv.c) runs as one product m x (batch n) into a scratch whose blocks
 * then go to C's entries: the whole batch's product ran 2-3x faster than 64 per-image ones
 * (lib/conv.c), and C comes out in the entries' layout (NCHW) with no permuting command after
 * it. False where it does not apply or the scratch cannot be had: the entries then run one by
 * one (plain malloc: on the driver's thread no error can be recorded, and the fault sweeps'
 * counted allocations stay the calling thread's). */
static bool run_merged(const clt__gemm_args *g) {
  int64_t wide = g->batch * g->n;
  /* only where the merged product still runs on one thread, as the entries did (lib/conv.c);
   * clt__cpu_gemm_check chose the provider for its size */
  if (!mergeable(g) || !clt__cpu_gemm_serial(g->dt, g->m * wide * g->k)) return false;
  size_t es = clt_dtype_size(g->dt);
  unsigned char *scr = malloc((size_t)(g->m * wide) * es);
  if (!scr) return false;
  for (int64_t e = 0; g->bias && e < g->batch; e++) fill_bias(g, e, scr + (size_t)(e * g->n) * es, wide);
  clt__gemm_args h = *g;
  h.n = wide;
  h.batch = 1;
  product(&h, 0, scr, wide, g->bias != NULL);
  unsigned char *c = (unsigned char *)g->c->ptr + (size_t)g->c_off * es;
  for (int64_t e = 0; e < g->batch; e++)
    for (int64_t i = 0; i < g->m; i++)
      memcpy(c + (size_t)(e * g->c_stride + i * g->ldc) * es, scr + (size_t)(i * wide + e * g->n) * es, (size_t)g->n * es);
  free(scr);
  return true;
}

void clt__cpu_gemm_run(const clt__gemm_args *g) {
  if (g->asum && g->dt == CLT_FLOAT32) asum_float(g);
  else if (g->asum) asum_double(g);
  if (run_merged(g)) return;
  size_t es = clt_dtype_size(g->dt);
  for (int64_t e = 0; e < g->batch; e++) {
    void *c = (unsigned char *)g->c->ptr + (size_t)(g->c_off + e * g->c_stride) * es;
    if (g->bias) fill_bias(g, e, c, g->ldc);
    product(g, e, c, g->ldc, g->bias != NULL);
  }
}
