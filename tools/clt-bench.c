/* clt-bench: clt against the device's own limits, each figure beside a reference measured in
 * the same run on the same device: a bare OpenCL copy kernel (bandwidth), a bare enqueue
 * (launch overhead), raw CLBlast on the same buffers (GEMM), host memcpy (transfers) and host
 * CBLAS. Timings are medians of several samples; the machines these run on are shared and
 * noisy, so compare ratios from one run rather than absolute numbers across runs.
 *
 *   clt-bench [--device SPEC | --all] [--quick] [--json] [--svg FILE] [--only SECTION]
 *             [--no-torch | --torch-threads N]
 *   clt-bench --startup [--device SPEC] [--runs N] [--json]
 *
 * Where python3 can import torch, PyTorch's figure for each workload prints beside clt's
 * (tools/bench_torch.py, run after clt's figures in the same process's run).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_layers.h"
#include "clt.h"
#include "tool_platform.h"
#ifdef CLT_BENCH_OPENCL
#include "clt/clt_cl.h"
#endif
#ifdef CLT_BENCH_CLBLAST
#include <clblast_c.h>
#endif
#ifdef CLT_BENCH_CBLAS
#include <cblas.h>
#endif

static double now(void) { return tool_now(); }

static bool quick;
static double min_time = 0.05; /* seconds per sample */

/* ---- results ---------------------------------------------------------------------------- */

typedef struct {
  char section[24], name[64], unit[12], ref_name[32]; /* name: as long as the buffers names are made in */
  double n, value, ref, torch; /* torch: PyTorch's figure for the same workload, 0 when none */
} row;

static row rows[512];
static int nrows;

static void add_row(const char *section, const char *name, double n, double value, const char *unit, double ref,
                    const char *ref_name) {
  if (nrows == (int)(sizeof rows / sizeof *rows)) return;
  row *r = &rows[nrows++];
  snprintf(r->section, sizeof r->section, "%s", section);
  snprintf(r->name, sizeof r->name, "%s", name);
  snprintf(r->unit, sizeof r->unit, "%s", unit);
  snprintf(r->ref_name, sizeof r->ref_name, "%s", ref_name ? ref_name : "");
  r->n = n;
  r->value = value;
  r->ref = ref;
  r->torch = 0;
}

/* Median seconds per call of fn over 5 samples, each repeating fn until min_time has passed;
 * sync runs after each batch so queued device work is counted. */
typedef void (*bench_fn)(void *ctx);
static double measure(bench_fn fn, void *ctx, bench_fn sync) {
  fn(ctx); /* warm-up: kernels compile, the pool fills */
  fn(ctx);
  if (sync) sync(ctx);
  double samples[5];
  long reps = 1;
  for (int s = 0; s < 5; s++) {
    double t0, dt;
    for (;;) {
      t0 = now();
      for (long i = 0; i < reps; i++) fn(ctx);
      if (sync) sync(ctx);
      dt = now() - t0;
      if (dt >= min_time || reps > (1L << 30)) break;
      reps *= dt > 0 ? (long)fmin(16, fmax(2, min_time / dt * 1.2)) : 16;
    }
    samples[s] = dt / (double)reps;
  }
  for (int i = 0; i < 5; i++) /* insertion sort of five */
    for (int j = i; j > 0 && samples[j] < samples[j - 1]; j--) {
      double t = samples[j];
      samples[j] = samples[j - 1];
      samples[j - 1] = t;
    }
  return samples[2];
}

static clt_device *bdev;
static void sync_dev(void *ctx) {
  (void)ctx;
  clt_device_synchronize(bdev);
}

static void die(const char *what) {
  fprintf(stderr, "clt-bench: %s: %s\n", what, clt_last_error());
  exit(1);
}

/* ---- the bare OpenCL references --------------------------------------------------------- */

#ifdef CLT_BENCH_OPENCL
static const char *copy_src =
    "__kernel void copy(__global float *o, __global const float *i, long n) {"
    "  long g = get_global_id(0); if (g < n) o[g] = i[g]; }"
    "__kernel void add(__global float *o, __global const float *a, __global const float *b, long n) {"
    "  long g = get_global_id(0); if (g < n) o[g] = a[g] + b[g]; }";

typedef struct {
  cl_command_queue q;
  cl_kernel k, add;
  cl_program p;
} raw_cl;

static bool raw_init(raw_cl *r) {
  cl_context ctx;
  cl_device_id d;
  if (clt_cl_device_get(bdev, &ctx, &d, &r->q) != CLT_OK) {
    clt_clear_error();
    return false;
  }
  cl_int err;
  r->p = clCreateProgramWithSource(ctx, 1, &copy_src, NULL, &err);
  if (err || clBuildProgram(r->p, 1, &d, NULL, NULL, NULL)) return false;
  r->k = clCreateKernel(r->p, "copy", &err);
  if (err != CL_SUCCESS) return false;
  r->add = clCreateKernel(r->p, "add", &err);
  return err == CL_SUCCESS;
}

static void raw_free(raw_cl *r) {
  clReleaseKernel(r->k);
  clReleaseKernel(r->add);
  clReleaseProgram(r->p);
}

typedef struct {
  raw_cl *r;
  cl_mem o, i;
  cl_long n;
} copy_ctx;

static void raw_copy(void *v) {
  copy_ctx *c = v;
  size_t local = 256, global = ((size_t)c->n + 255) / 256 * 256;
  clSetKernelArg(c->r->k, 0, sizeof c->o, &c->o);
  clSetKernelArg(c->r->k, 1, sizeof c->i, &c->i);
  clSetKernelArg(c->r->k, 2, sizeof c->n, &c->n);
  clEnqueueNDRangeKernel(c->r->q, c->r->k, 1, NULL, &global, &local, 0, NULL, NULL);
}

/* The same add clt runs, enqueued bare: arguments set, no allocation, no checks. */
typedef struct {
  raw_cl *r;
  cl_mem o, a, b;
  cl_long n;
} add_ctx;

static void raw_add(void *v) {
  add_ctx *c = v;
  size_t local = 256, global = ((size_t)c->n + 255) / 256 * 256;
  clSetKernelArg(c->r->add, 0, sizeof c->o, &c->o);
  clSetKernelArg(c->r->add, 1, sizeof c->a, &c->a);
  clSetKernelArg(c->r->add, 2, sizeof c->b, &c->b);
  clSetKernelArg(c->r->add, 3, sizeof c->n, &c->n);
  clEnqueueNDRangeKernel(c->r->q, c->r->add, 1, NULL, &global, &local, 0, NULL, NULL);
}

static void raw_sync(void *v) { clFinish(((copy_ctx *)v)->r->q); }

/* The device's FP32 FMA rate: 8 independent chains of fma per work-item (enough to cover the
 * latency of two FMA units), as scalars (GPUs run a work-item per lane) and as float16 vectors
 * (PoCL does not vectorise across work-items whose body holds a loop: the scalar kernel ran at
 * 7 GFLOP/s there, float16 with 4 chains 54-66, with 8 chains 103-129, 16 no better). 2 FLOP
 * per fma. */
#define FMA_ITERS "1024"
static const char *fma_src =
    "__kernel void fma1(__global float *o, float a, float b) {"
    "  float x0 = get_global_id(0), x1 = x0 + 1, x2 = x0 + 2, x3 = x0 + 3, x4 = x0 + 4, x5 = x0 + 5, x6 = x0 + 6,"
    "        x7 = x0 + 7;"
    "  for (int i = 0; i < " FMA_ITERS "; i++) {"
    "    x0 = fma(x0, a, b); x1 = fma(x1, a, b); x2 = fma(x2, a, b); x3 = fma(x3, a, b);"
    "    x4 = fma(x4, a, b); x5 = fma(x5, a, b); x6 = fma(x6, a, b); x7 = fma(x7, a, b); }"
    "  o[get_global_id(0)] = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7; }"
    "__kernel void fma16(__global float *o, float a, float b) {"
    "  float16 va = a, vb = b, x0 = (float16)get_global_id(0), x1 = x0 + 1, x2 = x0 + 2, x3 = x0 + 3, x4 = x0 + 4,"
    "          x5 = x0 + 5, x6 = x0 + 6, x7 = x0 + 7;"
    "  for (int i = 0; i < " FMA_ITERS "; i++) {"
    "    x0 = fma(x0, va, vb); x1 = fma(x1, va, vb); x2 = fma(x2, va, vb); x3 = fma(x3, va, vb);"
    "    x4 = fma(x4, va, vb); x5 = fma(x5, va, vb); x6 = fma(x6, va, vb); x7 = fma(x7, va, vb); }"
    "  float16 x = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;"
    "  o[get_global_id(0)] = x.s0 + x.s1 + x.s2 + x.s3 + x.s4 + x.s5 + x.s6 + x.s7 + x.s8 + x.s9 + x.sa + x.sb +"
    "                        x.sc + x.sd + x.se + x.sf; }";

typedef struct {
  cl_command_queue q;
  cl_kernel k;
  size_t global;
} fma_ctx;

static void run_fma(void *v) {
  fma_ctx *c = v;
  size_t local = 64;
  clEnqueueNDRangeKernel(c->q, c->k, 1, NULL, &c->global, &local, 0, NULL, NULL);
}
static void fma_sync(void *v) { clFinish(((fma_ctx *)v)->q); }
#endif

static void bench_peak(void) {
#ifdef CLT_BENCH_OPENCL
  cl_context ctx;
  cl_device_id d;
  cl_command_queue q;
  if (clt_device_type_of(bdev) == CLT_DEVICE_HOST || clt_cl_device_get(bdev, &ctx, &d, &q) != CLT_OK) return;
  cl_int err;
  cl_program p = clCreateProgramWithSource(ctx, 1, &fma_src, NULL, &err);
  if (err || clBuildProgram(p, 1, &d, NULL, NULL, NULL)) die("building the FMA kernels");
  static const struct { const char *name; size_t global; double flop; } ks[] = {
      {"fma1", (size_t)1 << 20, 8 * 2}, {"fma16", (size_t)1 << 16, 8 * 16 * 2}};
  double best = 0;
  for (int i = 0; i < 2; i++) {
    fma_ctx c = {q, clCreateKernel(p, ks[i].name, &err), ks[i].global};
    if (err) die("creating an FMA kernel");
    cl_mem o = clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, c.global * sizeof(float), NULL, &err);
    float a = 0.999f, b = 0.001f;
    clSetKernelArg(c.k, 0, sizeof o, &o);
    clSetKernelArg(c.k, 1, sizeof a, &a);
    clSetKernelArg(c.k, 2, sizeof b, &b);
    double gflops = ks[i].flop * atof(FMA_ITERS) * (double)c.global / measure(run_fma, &c, fma_sync) / 1e9;
    if (gflops > best) best = gflops;
    clReleaseMemObject(o);
    clReleaseKernel(c.k);
  }
  clReleaseProgram(p);
  add_row("peak", "FP32 FMA (fma kernel, scalar or float16)", 0, best, "GFLOP/s", 0, "");
#endif
}

/* ---- elementwise and reductions --------------------------------------------------------- */

typedef struct {
  int kind;
  clt_tensor *a, *b;
} op_ctx;

enum { K_ADD, K_MUL, K_RELU, K_EXP, K_BCAST, K_TRANS, K_COPY_T, K_SUM_ALL, K_SUM_ROWS, K_SUM_COLS, K_SUM_ROWS_T,
       K_ARGMAX_ROWS, K_SOFTMAX, K_CE, K_TO_F16, K_TO_BF16, K_TO_F32, K_MEAN_ALL, K_MAX_ROWS, K_VAR_ROWS,
       K_LSE_ROWS, K_LOG_SOFTMAX };

static void run_op(void *v) {
  op_ctx *c = v;
  clt_tensor *r = NULL;
  switch (c->kind) {
    case K_ADD: case K_BCAST: case K_TRANS: r = clt_add(c->a, c->b); break;
    case K_MUL: r = clt_mul(c->a, c->b); break;
    case K_RELU: r = clt_relu(c->a); break;
    case K_EXP: r = clt_exp(c->a); break;
    case K_SUM_ALL: r = clt_sum(c->a, CLT_ALL_DIMS, false); break;
    case K_SUM_ROWS: r = clt_sum(c->a, CLT_DIMS(1), false); break;
    case K_SUM_COLS: r = clt_sum(c->a, CLT_DIMS(0), false); break;
    case K_COPY_T: r = clt_contiguous(c->a); break;
    case K_SUM_ROWS_T: r = clt_sum(c->a, CLT_DIMS(1), false); break;
    case K_ARGMAX_ROWS: r = clt_argmax(c->a, CLT_DIMS(1), false); break;
    case K_SOFTMAX: r = clt_softmax(c->a, -1); break;
    case K_CE: r = clt_cross_entropy(c->a, c->b, CLT_REDUCTION_NONE); break;
    case K_MEAN_ALL: r = clt_mean(c->a, CLT_ALL_DIMS, false); break;
    case K_MAX_ROWS: r = clt_max(c->a, CLT_DIMS(1), false); break;
    case K_VAR_ROWS: r = clt_var(c->a, CLT_DIMS(1), 1, false); break;
    case K_LSE_ROWS: r = clt_logsumexp(c->a, CLT_DIMS(1), false); break;
    case K_LOG_SOFTMAX: r = clt_log_softmax(c->a, -1); break;
    case K_TO_F16: r = clt_cast(c->a, CLT_FLOAT16); break;
    case K_TO_BF16: r = clt_cast(c->a, CLT_BFLOAT16); break;
    case K_TO_F32: r = clt_cast(c->a, CLT_FLOAT32); break;
  }
  if (!r) die("an op");
  if (clt_eval(r) != CLT_OK) die("an op"); /* an unread elementwise result is never computed */
  clt_release(r);
}

/* ---- fused elementwise chains ----------------------------------------------------------- */

/* each: evaluate every op's result on its own (the chain unfused, as with $CLT_FUSION=0). */
typedef struct {
  int kind;
  bool each;
  clt_tensor *x, *w, *b;
} chain_ctx;

static clt_tensor *step(chain_ctx *c, clt_tensor *t) {
  if (!t || (c->each && clt_eval(t) != CLT_OK)) die("a chain's op");
  return t;
}

static void run_chain(void *v) {
  chain_ctx *c = v;
  clt_scope_begin();
  clt_tensor *y;
  if (c->kind == 3) /* relu(x * w + b), all of one shape (bench_half) */
    y = step(c, clt_relu(step(c, clt_add(step(c, clt_mul(c->x, c->w)), c->b))));
  else if (c->kind < 2) { /* gelu(x * w + b), w and b rows broadcast over x; erf's or the tanh form */
    clt_tensor *u = step(c, clt_add(step(c, clt_mul(c->x, c->w)), c->b));
    y = step(c, c->kind == 0 ? clt_gelu(u) : clt_gelu_tanh(u));
  } else /* an Adam-like update: p (1 - lr wd) - lr m / (sqrt(v) + eps), with x, w, b as p, m, v */
    y = step(c, clt_sub(step(c, clt_mul_scalar(c->x, 1 - 1e-3 * 1e-2)),
                        step(c, clt_mul_scalar(step(c, clt_div(c->w, step(c, clt_add_scalar(step(c, clt_sqrt(c->b)), 1e-8)))),
                                               1e-3))));
  if (clt_eval(y) != CLT_OK) die("a chain");
  clt_scope_end();
}

static void bench_fusion(void) {
  static const char *names[] = {"gelu(x * w + b), rows of 1000", "gelu_tanh(x * w + b), rows of 1000",
                                "adam-like update, 6 ops"};
  for (int64_t n = 1000000; n <= (quick ? 1000000 : 10000000); n *= 10)
    for (int kind = 0; kind < 3; kind++) {
      clt_scope_begin();
      clt_manual_seed(1);
      chain_ctx c = {kind, false, clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000, 1000)), NULL, NULL};
      if (kind < 2) {
        c.w = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(1000));
        c.b = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(1000));
      } else {
        c.w = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000, 1000));
        c.b = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000, 1000));
      }
      if (!c.x || !c.w || !c.b) die("chain inputs");
      double fused = measure(run_chain, &c, sync_dev);
      c.each = true;
      double unfused = measure(run_chain, &c, sync_dev);
      add_row("fusion", names[kind], (double)n, (double)n / fused / 1e9, "Gelem/s", (double)n / unfused / 1e9,
              "unfused");
      clt_scope_end();
    }
}

static double copy_bandwidth(int64_t n) {
#ifdef CLT_BENCH_OPENCL
  raw_cl r;
  if (clt_device_type_of(bdev) == CLT_DEVICE_HOST || !raw_init(&r)) return 0;
  clt_tensor *a = clt_zeros(bdev, CLT_FLOAT32, 1, &n), *b = clt_zeros(bdev, CLT_FLOAT32, 1, &n);
  copy_ctx c = {&r, NULL, NULL, n};
  clt_cl_tensor_get_buffer(a, &c.o, NULL);
  clt_cl_tensor_get_buffer(b, &c.i, NULL);
  double t = measure(raw_copy, &c, raw_sync);
  clt_release(a);
  clt_release(b);
  raw_free(&r);
  return 2.0 * 4 * (double)n / t / 1e9;
#else
  (void)n;
  return 0;
#endif
}

static double memcpy_bandwidth(size_t bytes);

static void bench_elementwise(void) {
  static const struct { int kind; const char *name; double bytes; } ops[] = {
      {K_ADD, "add", 12}, {K_MUL, "mul", 12}, {K_RELU, "relu", 8}, {K_EXP, "exp", 8},
      {K_BCAST, "add, broadcast row", 8}, {K_TRANS, "add, transposed inputs", 12},
      {K_COPY_T, "contiguous copy of a transpose", 8}};
  int64_t top = quick ? 1000000 : 10000000;
  bool host = clt_device_type_of(bdev) == CLT_DEVICE_HOST;
  for (int64_t n = 1000; n <= top; n *= 10) {
    double ref = host ? memcpy_bandwidth((size_t)n * 4) : copy_bandwidth(n);
    const char *ref_name = host ? "memcpy" : "copy kernel";
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
      clt_scope_begin();
      clt_manual_seed(1);
      op_ctx c = {ops[k].kind, NULL, NULL};
      int64_t rows = n / 100;
      if (c.kind == K_BCAST) {
        c.a = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(rows, 100));
        c.b = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(100));
      } else if (c.kind == K_COPY_T) {
        c.a = clt_transpose(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(rows, 100)), 0, 1);
        c.b = c.a;
      } else if (c.kind == K_TRANS) {
        c.a = clt_transpose(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(rows, 100)), 0, 1);
        c.b = clt_transpose(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(rows, 100)), 0, 1);
      } else {
        c.a = clt_rand(bdev, CLT_FLOAT32, 1, &n);
        c.b = clt_rand(bdev, CLT_FLOAT32, 1, &n);
      }
      if (!c.a || !c.b) die("elementwise inputs");
      double t = measure(run_op, &c, sync_dev);
      add_row("elementwise", ops[k].name, (double)n, ops[k].bytes * (double)n / t / 1e9, "GB/s", ref, ref_name);
      clt_scope_end();
    }
  }
}

static void bench_overhead(void) {
#ifdef CLT_BENCH_OPENCL
  if (clt_device_type_of(bdev) == CLT_DEVICE_HOST) return;
  raw_cl r;
  if (!raw_init(&r)) return;
  int64_t n = 1000;
  clt_scope_begin();
  clt_tensor *a = clt_ones(bdev, CLT_FLOAT32, 1, &n), *b = clt_ones(bdev, CLT_FLOAT32, 1, &n);
  clt_tensor *o = clt_empty(bdev, CLT_FLOAT32, 1, &n);
  add_ctx c = {&r, NULL, NULL, NULL, n};
  clt_cl_tensor_get_buffer(o, &c.o, NULL);
  clt_cl_tensor_get_buffer(a, &c.a, NULL);
  clt_cl_tensor_get_buffer(b, &c.b, NULL);
  double bare = measure(raw_add, &c, raw_sync);
  op_ctx op_c = {K_ADD, a, b};
  double op = measure(run_op, &op_c, sync_dev);
  add_row("overhead", "add, n = 1000", 1000, 1e6 * op, "us", 1e6 * bare, "bare enqueue of an add");
  /* A size never seen before (primes, and a strided view of each) must not recompile: its first
   * op against the same op repeated. */
  static const int64_t primes[] = {1009, 2003, 4001, 8009, 16001};
  double first = 0, again = 0;
  for (size_t k = 0; k < sizeof primes / sizeof *primes; k++) {
    for (int rep = 0; rep < 2; rep++) {
      clt_tensor *x = clt_ones(bdev, CLT_FLOAT32, CLT_SHAPE(primes[k], 3));
      clt_tensor *y = clt_transpose(x, 0, 1);
      clt_device_synchronize(bdev);
      double t0 = now();
      clt_tensor *s1 = clt_add(x, x), *s2 = clt_add(y, y);
      if (!s1 || !s2) die("add");
      clt_device_synchronize(bdev);
      *(rep ? &again : &first) += now() - t0;
    }
  }
  add_row("overhead", "new tensor sizes, first ops", 5, 1e6 * first / 5, "us", 1e6 * again / 5, "same ops again");
  clt_scope_end();
  raw_free(&r);
#endif
}

static void bench_reductions(void) {
  static const struct { int kind; const char *name; double bytes; } ops[] = {
      {K_SUM_ALL, "sum, all", 4}, {K_SUM_ROWS, "sum, over rows (dim 1)", 4}, {K_SUM_COLS, "sum, over columns (dim 0)", 4},
      {K_SUM_ROWS_T, "sum, over rows of a transposed input", 4}, {K_ARGMAX_ROWS, "argmax, over rows (dim 1)", 4},
      {K_SOFTMAX, "softmax, last dim", 8}, {K_CE, "cross entropy, 1000 classes", 4}, {K_MEAN_ALL, "mean, all", 4},
      {K_MAX_ROWS, "max, over rows (dim 1)", 4}, {K_VAR_ROWS, "var, over rows (dim 1)", 4},
      {K_LSE_ROWS, "logsumexp, over rows (dim 1)", 4}, {K_LOG_SOFTMAX, "log_softmax, last dim", 8}};
  bool host = clt_device_type_of(bdev) == CLT_DEVICE_HOST;
  for (int64_t n = 1000000; n <= (quick ? 1000000 : 10000000); n *= 10) {
    double ref = host ? memcpy_bandwidth((size_t)n * 4) : copy_bandwidth(n);
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
      clt_scope_begin();
      op_ctx c = {ops[k].kind, clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000, 1000)), NULL};
      if (c.kind == K_SUM_ROWS_T) c.a = clt_transpose(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(1000, n / 1000)), 0, 1);
      if (c.kind == K_CE) c.b = clt_cast(clt_mul_scalar(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000)), 999.99), CLT_INT64);
      if (!c.a || (c.kind == K_CE && !c.b)) die("reduction input");
      double t = measure(run_op, &c, sync_dev);
      add_row("reduction", ops[k].name, (double)n, ops[k].bytes * (double)n / t / 1e9, "GB/s", ref,
              host ? "memcpy" : "copy kernel");
      clt_scope_end();
    }
  }
}

/* ---- normalization ---------------------------------------------------------------------- */

typedef struct {
  clt_tensor *x, *w, *b, *g;
  clt_optim *o; /* drops the gradients (set to none) so that no step adds into old ones */
} norm_ctx;

static void run_layer_norm(void *v) {
  norm_ctx *c = v;
  clt_tensor *y = clt_layer_norm(c->x, CLT_SHAPE(1024), c->w, c->b, -1);
  if (!y || clt_backward(y, c->g) != CLT_OK || clt_optim_zero_grad(c->o) != CLT_OK) die("layer_norm");
  clt_release(y);
}

/* layer_norm forward and backward over [4096, 1024] float32: 20 bytes per element at the least
 * (x in, y out; g and x in, dx out). */
static void bench_norm(void) {
  bool host = clt_device_type_of(bdev) == CLT_DEVICE_HOST;
  int64_t n = 4096 * 1024;
  clt_scope_begin();
  clt_manual_seed(1);
  norm_ctx c = {clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(4096, 1024)), clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(1024)),
                clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(1024)), clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(4096, 1024)), NULL};
  clt_tensor *params[3] = {c.x, c.w, c.b};
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_SGD);
  for (int i = 0; i < 3; i++)
    if (!params[i] || clt_set_requires_grad(params[i], true) != CLT_OK) die("layer_norm inputs");
  if (!c.g || clt_optim_create(&cfg, 3, params, &c.o) != CLT_OK) die("layer_norm inputs");
  double ref = host ? memcpy_bandwidth((size_t)n * 4) : copy_bandwidth(n);
  double t = measure(run_layer_norm, &c, sync_dev);
  add_row("norm", "layer_norm fwd+bwd [4096,1024]", (double)n, 20.0 * (double)n / t / 1e9, "GB/s", ref,
          host ? "memcpy" : "copy kernel");
  clt_optim_release(c.o);
  clt_scope_end();
}

/* ---- matmul ----------------------------------------------------------------------------- */

typedef struct {
  clt_tensor *a, *b;
#ifdef CLT_BENCH_CLBLAST
  cl_command_queue q;
  cl_mem ma, mb, mc;
  size_t m, batch;
#endif
#ifdef CLT_BENCH_CBLAS
  float *ha, *hb, *hc;
  int hn;
#endif
} mm_ctx;

static void run_matmul(void *v) {
  mm_ctx *c = v;
  clt_tensor *r = clt_matmul(c->a, c->b);
  if (!r) die("matmul");
  clt_release(r);
}

#ifdef CLT_BENCH_CLBLAST
static void run_clblast(void *v) {
  mm_ctx *c = v;
  cl_event e = NULL;
  size_t m = c->m;
  int st = c->batch == 1 ? CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, m, m, 1.0f, c->ma,
                                        0, m, c->mb, 0, m, 0.0f, c->mc, 0, m, &c->q, &e)
                         : CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, m,
                                                      m, 1.0f, c->ma, 0, m, m * m, c->mb, 0, m, m * m, 0.0f, c->mc, 0,
                                                      m, m * m, c->batch, &c->q, &e);
  if (e) clReleaseEvent(e);
  if (st) fprintf(stderr, "clt-bench: CLBlast status %d\n", st);
}
static void sync_q(void *v) { clFinish(((mm_ctx *)v)->q); }
#endif

#ifdef CLT_BENCH_CBLAS
static void run_cblas(void *v) {
  mm_ctx *c = v;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->hn, c->hn, c->hn, 1.0f, c->ha, c->hn, c->hb, c->hn, 0.0f,
              c->hc, c->hn);
}
#endif

#ifdef CLT_BENCH_CLBLAST
/* Host seconds per call, enqueueing only: the best of five runs of 20 calls, the device's work
 * waited for outside the timing. Where a product takes the device less time than the host
 * spends issuing it, this, not the device, sets the rate. */
static double host_per_call(bench_fn fn, void *ctx, bench_fn sync) {
  fn(ctx);
  sync(ctx);
  double best = 1e30;
  for (int s = 0; s < 5; s++) {
    double t0 = now();
    for (int i = 0; i < 20; i++) fn(ctx);
    double t = (now() - t0) / 20;
    sync(ctx);
    if (t < best) best = t;
  }
  return best;
}
#endif

static void bench_matmul(void) {
  bool host = clt_device_type_of(bdev) == CLT_DEVICE_HOST;
  (void)host; /* used only with CLBlast or CBLAS */
  for (int64_t m = 64; m <= (quick ? 256 : 2048); m *= 2) {
    for (int batched = 0; batched < 2; batched++) {
      if (batched && m != 128 && (quick || m != 256)) continue;
      int64_t batch = batched ? 32 : 1;
      clt_scope_begin();
      mm_ctx c = {0};
      clt_manual_seed(2);
      c.a = batched ? clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(batch, m, m)) : clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(m, m));
      c.b = batched ? clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(batch, m, m)) : clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(m, m));
      if (!c.a || !c.b) die("matmul inputs");
      double flop = 2.0 * (double)m * (double)m * (double)m * (double)batch;
      double t = measure(run_matmul, &c, sync_dev), ref = 0, host_clt = 0, host_raw = 0;
      const char *ref_name = "";
#ifdef CLT_BENCH_CLBLAST
      if (!host) {
        clt_tensor *out = clt_empty(bdev, CLT_FLOAT32, CLT_SHAPE(batch, m, m));
        cl_context ctx;
        clt_cl_device_get(bdev, &ctx, NULL, &c.q);
        clt_cl_tensor_get_buffer(c.a, &c.ma, NULL);
        clt_cl_tensor_get_buffer(c.b, &c.mb, NULL);
        clt_cl_tensor_get_buffer(out, &c.mc, NULL);
        c.m = (size_t)m;
        c.batch = (size_t)batch;
        ref = flop / measure(run_clblast, &c, sync_q) / 1e9;
        ref_name = "raw CLBlast";
        if (batched && m == 128) {
          host_clt = host_per_call(run_matmul, &c, sync_dev);
          host_raw = host_per_call(run_clblast, &c, sync_q);
        }
      }
#endif
#ifdef CLT_BENCH_CBLAS
      if (host && !batched) {
        c.hn = (int)m;
        c.ha = clt_host_data(c.a);
        c.hb = clt_host_data(c.b);
        c.hc = malloc((size_t)(m * m) * sizeof *c.hc);
        ref = flop / measure(run_cblas, &c, NULL) / 1e9;
        free(c.hc);
        ref_name = "raw CBLAS";
      }
#endif
      char name[48];
      snprintf(name, sizeof name, batched ? "matmul %lldx%lld, batch %lld" : "matmul %lldx%lld", (long long)m,
               (long long)m, (long long)batch);
      add_row("matmul", name, (double)m, flop / t / 1e9, "GFLOP/s", ref, ref_name);
      if (host_clt > 0)
        add_row("matmul", "matmul 128x128, batch 32: host us per call", (double)m, 1e6 * host_clt, "us", 1e6 * host_raw,
                "raw CLBlast's");
      clt_scope_end();
    }
  }
#ifdef CLT_BENCH_CBLAS
  if (!host) { /* the host's BLAS, for a CPU device's sake */
    for (int m = 256; m <= (quick ? 256 : 2048); m *= 2) {
      mm_ctx c = {0};
      c.hn = m;
      c.ha = calloc((size_t)m * (size_t)m, sizeof(float));
      c.hb = calloc((size_t)m * (size_t)m, sizeof(float));
      c.hc = calloc((size_t)m * (size_t)m, sizeof(float));
      double t = measure(run_cblas, &c, NULL);
      char name[48];
      snprintf(name, sizeof name, "host CBLAS %dx%d", m, m);
      add_row("matmul", name, m, 2.0 * m * (double)m * m / t / 1e9, "GFLOP/s", 0, "");
      free(c.ha);
      free(c.hb);
      free(c.hc);
    }
  }
#endif
}

/* ---- 16-bit floats ---------------------------------------------------------------------- */

/* float16 and bfloat16 tensors: elementwise ops, casts from and to float32 and a row sum in bytes
 * moved (the 16-bit bytes: 2 per element read or written, 4 per float32) against the float32
 * copy kernel's bandwidth at the same n, measured right after each row, and a matmul in GFLOP/s
 * against the same product in float32. The kernels compute in float32 and convert on each load
 * and store (kernels/common.clh); contiguous elementwise ones take 16 elements per work-item on
 * CPU devices. */
static void bench_half(void) {
  static const clt_dtype types[] = {CLT_FLOAT16, CLT_BFLOAT16};
  static const struct { int kind; const char *name; double bytes; } ops[] = {
      {K_ADD, "add", 6}, {K_MUL, "mul", 6}, {K_RELU, "relu", 4}, {K_EXP, "exp", 4},
      {K_TO_F16, "cast from float32", 6}, {K_TO_F32, "cast to float32", 6}, {K_SUM_ROWS, "sum, over rows (dim 1)", 2}};
  bool host = clt_device_type_of(bdev) == CLT_DEVICE_HOST;
  for (int64_t n = 1000000; n <= (quick ? 1000000 : 10000000); n *= 10) {
    for (size_t d = 0; d < sizeof types / sizeof *types; d++)
      for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        clt_scope_begin();
        clt_manual_seed(1);
        clt_tensor *a = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000, 1000));
        bool cast = ops[k].kind == K_TO_F16; /* to types[d] */
        op_ctx c = {cast ? (d ? K_TO_BF16 : K_TO_F16) : ops[k].kind, cast ? a : clt_cast(a, types[d]), NULL};
        c.b = c.kind == K_ADD || c.kind == K_MUL ? clt_cast(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000, 1000)), types[d]) : c.a;
        if (!c.a || !c.b) die("16-bit inputs");
        char name[64];
        snprintf(name, sizeof name, "%s, %s", ops[k].name, clt_dtype_name(types[d]));
        /* the reference beside each row: on a shared machine it swung 2.5x between rows' times */
        double t = measure(run_op, &c, sync_dev), ref = host ? memcpy_bandwidth((size_t)n * 4) : copy_bandwidth(n);
        add_row("half", name, (double)n, ops[k].bytes * (double)n / t / 1e9, "GB/s", ref, host ? "memcpy" : "copy kernel");
        clt_scope_end();
      }
  }
  /* a fused chain over contiguous operands (lib/cl/ew.c: clt_fused_w) and the same ops one by one,
   * in the chain's bytes: three reads and a write */
  for (int64_t n = 1000000; n <= (quick ? 1000000 : 10000000); n *= 10)
    for (size_t d = 0; d < sizeof types / sizeof *types; d++)
      for (int each = 0; each < 2; each++) {
        clt_scope_begin();
        clt_manual_seed(1);
        chain_ctx c = {3, each != 0, NULL, NULL, NULL};
        c.x = clt_cast(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000, 1000)), types[d]);
        c.w = clt_cast(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000, 1000)), types[d]);
        c.b = clt_cast(clt_sub_scalar(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(n / 1000, 1000)), 0.5), types[d]);
        if (!c.x || !c.w || !c.b) die("16-bit chain inputs");
        char name[64];
        snprintf(name, sizeof name, "relu(x * a + b), %s, %s", each ? "op by op" : "fused", clt_dtype_name(types[d]));
        double t = measure(run_chain, &c, sync_dev), ref = host ? memcpy_bandwidth((size_t)n * 4) : copy_bandwidth(n);
        add_row("half", name, (double)n, 8 * (double)n / t / 1e9, "GB/s", ref, host ? "memcpy" : "copy kernel");
        clt_scope_end();
      }
  for (int64_t m = 256; m <= (quick ? 256 : 512); m *= 2)
    for (size_t d = 0; d < sizeof types / sizeof *types; d++) {
      clt_scope_begin();
      clt_manual_seed(2);
      mm_ctx c = {0}, c32 = {0};
      c32.a = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(m, m));
      c32.b = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(m, m));
      c.a = clt_cast(c32.a, types[d]);
      c.b = clt_cast(c32.b, types[d]);
      if (!c.a || !c.b) die("16-bit matmul inputs");
      double flop = 2.0 * (double)m * (double)m * (double)m;
      char name[64];
      snprintf(name, sizeof name, "matmul %lldx%lld, %s", (long long)m, (long long)m, clt_dtype_name(types[d]));
      add_row("half", name, (double)m, flop / measure(run_matmul, &c, sync_dev) / 1e9, "GFLOP/s",
              flop / measure(run_matmul, &c32, sync_dev) / 1e9, "float32");
      clt_scope_end();
    }
}

/* ---- transfers -------------------------------------------------------------------------- */

typedef struct {
  void *src, *dst;
  size_t bytes;
  int64_t n;
  clt_tensor *t;
} xfer_ctx;

static void run_memcpy(void *v) {
  xfer_ctx *c = v;
  memcpy(c->dst, c->src, c->bytes);
}

static double memcpy_bandwidth(size_t bytes) {
  xfer_ctx c = {malloc(bytes), malloc(bytes), bytes, 0, NULL};
  memset(c.src, 1, bytes);
  memset(c.dst, 0, bytes);
  double t = measure(run_memcpy, &c, NULL);
  free(c.src);
  free(c.dst);
  return 2.0 * (double)bytes / t / 1e9;
}

static void run_h2d(void *v) {
  xfer_ctx *c = v;
  clt_release(clt_from_host(bdev, CLT_FLOAT32, 1, &c->n, c->src));
}

static void run_d2h(void *v) {
  xfer_ctx *c = v;
  if (clt_to_host(c->t, c->dst, c->bytes) != CLT_OK) die("clt_to_host");
}

static void run_wrap(void *v) {
  xfer_ctx *c = v;
  clt_tensor *t = clt_wrap_host_on(bdev, CLT_FLOAT32, 1, &c->n, c->src, NULL, NULL);
  if (!t) die("clt_wrap_host_on");
  clt_release(t);
}

static void bench_transfers(void) {
  int64_t n = quick ? 1000000 : 10000000;
  xfer_ctx c = {malloc((size_t)n * 4), malloc((size_t)n * 4), (size_t)n * 4, n, NULL};
  memset(c.src, 0, c.bytes);
  double ref = memcpy_bandwidth(c.bytes);
  double b = (double)c.bytes;
  add_row("transfer", "host to device (clt_from_host)", (double)n, b / measure(run_h2d, &c, sync_dev) / 1e9, "GB/s", ref,
          "memcpy");
  c.t = clt_zeros(bdev, CLT_FLOAT32, 1, &n);
  add_row("transfer", "device to host (clt_to_host)", (double)n, b / measure(run_d2h, &c, NULL) / 1e9, "GB/s", ref, "memcpy");
  clt_release(c.t);
  clt_device_info in;
  clt_device_get_info(bdev, &in);
  if (in.host_unified_memory)
    add_row("transfer", "zero-copy import (clt_wrap_host_on)", (double)n, b / measure(run_wrap, &c, sync_dev) / 1e9, "GB/s",
            ref, "memcpy");
  free(c.src);
  free(c.dst);
}

/* ---- training steps --------------------------------------------------------------------- */

typedef struct {
  int n;
  clt_tensor *w[4], *b[4], *x, *y;
  clt_optim *opt;
} mlp_ctx;

static void run_step(void *v) {
  mlp_ctx *c = v;
  clt_scope_begin();
  clt_tensor *h = c->x;
  for (int i = 0; i < c->n; i++) {
    h = clt_linear(h, c->w[i], c->b[i]);
    if (i + 1 < c->n) h = clt_relu(h);
  }
  clt_tensor *loss = clt_cross_entropy(h, c->y, CLT_REDUCTION_MEAN);
  if (!loss || clt_optim_zero_grad(c->opt) || clt_backward(loss, NULL) || clt_optim_step(c->opt)) die("a training step");
  clt_scope_end();
}

static void bench_training(void) {
  static const struct { const char *name; int nl; int64_t sizes[5], batch; } nets[] = {
      {"digits MLP 64-128-10, batch 64", 2, {64, 128, 10}, 64},
      {"MLP 784-1024-1024-10, batch 256", 3, {784, 1024, 1024, 10}, 256}};
  for (size_t k = 0; k < (quick ? 1 : 2); k++) {
    clt_scope_begin();
    mlp_ctx c = {.n = nets[k].nl};
    clt_manual_seed(3);
    clt_tensor *params[8];
    for (int i = 0; i < c.n; i++) {
      c.w[i] = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(nets[k].sizes[i + 1], nets[k].sizes[i]));
      c.b[i] = clt_zeros(bdev, CLT_FLOAT32, CLT_SHAPE(nets[k].sizes[i + 1]));
      clt_init_kaiming_uniform_(c.w[i], sqrt(5.0));
      clt_set_requires_grad(c.w[i], true);
      clt_set_requires_grad(c.b[i], true);
      params[2 * i] = c.w[i];
      params[2 * i + 1] = c.b[i];
    }
    c.x = clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(nets[k].batch, nets[k].sizes[0]));
    c.y = clt_cast(clt_mul_scalar(clt_rand(bdev, CLT_FLOAT32, CLT_SHAPE(nets[k].batch)), 9.99), CLT_INT64);
    clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
    if (clt_optim_create(&cfg, 2 * c.n, params, &c.opt) != CLT_OK) die("the optimizer");
    double t = measure(run_step, &c, sync_dev);
    add_row("training", nets[k].name, (double)nets[k].batch, 1.0 / t, "steps/s", 0, "");
    clt_optim_release(c.opt);
    clt_scope_end();
  }
}

/* ---- start-up in new processes ---------------------------------------------------------- */

/* The child: open the device, then either a fill, random numbers and a strided copy, each read
 * back ("ops"), or one training step of the digits MLP (64-128-10, batch 64, Adam: clt-train's)
 * with its loss read back ("step"). It prints milliseconds from $CLT_BENCH_T0, the parent's
 * clock just before it started the process (CLOCK_MONOTONIC is one clock for every process),
 * so the figure holds the process start, the dynamic loader and the library's own start-up. */
static double since_start(double t0) {
  const char *s = getenv("CLT_BENCH_T0");
  return 1000 * (now() - (s ? atof(s) : t0));
}

static clt_status first_step(clt_device *d) {
  mlp_ctx c = {.n = 2};
  static const int64_t sizes[3] = {64, 128, 10};
  clt_tensor *params[4];
  clt_manual_seed(3);
  for (int i = 0; i < 2; i++) {
    c.w[i] = clt_rand(d, CLT_FLOAT32, CLT_SHAPE(sizes[i + 1], sizes[i]));
    c.b[i] = clt_zeros(d, CLT_FLOAT32, CLT_SHAPE(sizes[i + 1]));
    clt_init_kaiming_uniform_(c.w[i], sqrt(5.0));
    clt_set_requires_grad(c.w[i], true);
    clt_set_requires_grad(c.b[i], true);
    params[2 * i] = c.w[i];
    params[2 * i + 1] = c.b[i];
  }
  c.x = clt_rand(d, CLT_FLOAT32, CLT_SHAPE(64, 64));
  c.y = clt_cast(clt_mul_scalar(clt_rand(d, CLT_FLOAT32, CLT_SHAPE(64)), 9.99), CLT_INT64);
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  if (!c.x || !c.y || clt_optim_create(&cfg, 4, params, &c.opt) != CLT_OK) return clt_last_status();
  clt_tensor *h = clt_relu(clt_linear(c.x, c.w[0], c.b[0]));
  clt_tensor *loss = clt_cross_entropy(clt_linear(h, c.w[1], c.b[1]), c.y, CLT_REDUCTION_MEAN);
  double v = 0;
  clt_status st = loss ? CLT_OK : clt_last_status();
  if (st == CLT_OK) st = clt_backward(loss, NULL);
  if (st == CLT_OK) st = clt_optim_step(c.opt);
  if (st == CLT_OK) st = clt_item(clt_sum(c.w[0], CLT_ALL_DIMS, false), &v); /* waits for the step's last write */
  clt_optim_release(c.opt);
  return st;
}

static int first_ops(const char *spec, bool step) {
  double t0 = now();
  clt_device *d;
  if (clt_device_open(spec, &d) != CLT_OK) die("opening the device");
  float v[1000];
  clt_scope_begin();
  clt_status st;
  if (step) {
    st = first_step(d);
  } else {
    clt_tensor *z = clt_zeros(d, CLT_FLOAT32, CLT_SHAPE(1000));
    st = clt_to_host(z, v, sizeof v);
    if (st == CLT_OK) st = clt_to_host(clt_rand(d, CLT_FLOAT32, CLT_SHAPE(1000)), v, sizeof v);
    if (st == CLT_OK) st = clt_to_host(clt_transpose(clt_reshape(z, CLT_SHAPE(10, 100)), 0, 1), v, sizeof v);
  }
  double t1 = since_start(t0);
  clt_scope_end();
  clt_device_release(d);
  if (st != CLT_OK) die(step ? "the first training step" : "the first ops");
  printf("%.1f\n", t1);
  return 0;
}

static double child(const char *self, const char *spec, const char *what) {
  char cmd[1024], t0[32];
  snprintf(cmd, sizeof cmd, TOOL_QUOTE "%s" TOOL_QUOTE " --startup-child %s --device " TOOL_QUOTE "%s" TOOL_QUOTE, self,
           what, spec);
  snprintf(t0, sizeof t0, "%.6f", now());
  tool_setenv("CLT_BENCH_T0", t0);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  double total = -1;
  if (fscanf(p, "%lf", &total) != 1) total = -1;
  pclose(p);
  tool_setenv("CLT_BENCH_T0", NULL);
  return total;
}

/* Cold: fresh, empty cache directories; warm: the best of runs later processes. Each mode's
 * first op, then its first training step (the step's own first process finds the caches warm
 * for the kernels the ops used only). */
static void bench_startup(const char *self, const char *spec, int runs) {
  char base[600];
  if (!tool_mkdtemp("clt-bench", base, sizeof base)) return;
  /* clt's binary cache off, its default (on PoCL: written by the second process, read from the
   * third), and on from the first process. With --quick (CI's smoke) only the first op where a
   * process writes binaries: writing them makes PoCL compile every kernel of each family, which
   * for the training step's ten families took 40-70 s on a loaded 2-core machine. */
  static const struct { const char *name, *bincache; } modes[3] = {
      {"binaries off", "0"}, {"binaries default", NULL}, {"binaries on", "1"}};
  static const struct { const char *name, *what; } jobs[2] = {{"first op", "ops"}, {"first training step", "step"}};
  for (int m = 0; m < (quick ? 2 : 3); m++) {
    char pocl[700], cltc[700];
    snprintf(pocl, sizeof pocl, "%s/pocl-%d", base, m);
    snprintf(cltc, sizeof cltc, "%s/clt-%d", base, m);
    tool_setenv("POCL_CACHE_DIR", pocl);
    tool_setenv("CLT_CACHE_DIR", cltc);
    tool_setenv("CLT_BINARY_CACHE", modes[m].bincache);
    for (int j = 0; j < (quick && m > 0 ? 1 : 2); j++) {
      double cold = child(self, spec, jobs[j].what), warm = -1;
      for (int r = 0; r < runs; r++) {
        double t = child(self, spec, jobs[j].what);
        if (t >= 0 && (warm < 0 || t < warm)) warm = t;
      }
      char name[64]; /* a row's name holds 64 */
      snprintf(name, sizeof name, "%s, %s: cold", jobs[j].name, modes[m].name);
      add_row("startup", name, 0, cold, "ms", 0, "");
      snprintf(name, sizeof name, "%s, %s: warm", jobs[j].name, modes[m].name);
      add_row("startup", name, 0, warm, "ms", 0, "");
    }
  }
  if (!tool_rmtree(base)) fprintf(stderr, "clt-bench: could not remove %s\n", base);
  tool_setenv("POCL_CACHE_DIR", NULL);
  tool_setenv("CLT_CACHE_DIR", NULL);
  tool_setenv("CLT_BINARY_CACHE", NULL);
}

/* ---- output ----------------------------------------------------------------------------- */

static void print_table(const clt_device_info *in) {
  const char *v = getenv("CLT_KERNEL_VARIANT");
  printf("clt-bench on %s (%s), kernels: %s; ratio = value / reference, measured in this run", in->spec, in->name,
         v && *v ? v : "the device type's");
  bool torch = false;
  for (int i = 0; i < nrows; i++) torch = torch || rows[i].torch > 0;
  printf(torch ? ";\nPyTorch: tools/bench_torch.py's figure for the same workload, in the same run (clt/torch above 1: "
                 "clt is faster)\n" : "\n");
  /* the products on the CPU follow a choice measured in this process: it explains a figure */
  printf("CPU GEMM (float32): %s\n", clt_cpu_gemm_provider());
  const char *section = "";
  for (int i = 0; i < nrows; i++) {
    row *r = &rows[i];
    if (strcmp(section, r->section) != 0) {
      section = r->section;
      printf("\n[%s]\n  %-38s %10s %12s %-8s", section, "workload", "n", "value", "unit");
      if (torch) printf(" %12s %9s", "PyTorch", "clt/torch");
      printf(" %7s  %s\n", "ratio", "reference");
    }
    char ratio[16] = "", ref[64] = "";
    if (r->ref > 0) {
      snprintf(ratio, sizeof ratio, "%.2f", r->value / r->ref);
      snprintf(ref, sizeof ref, "%.4g %s (%s)", r->ref, r->unit, r->ref_name);
    }
    printf("  %-38s %10.0f %12.3f %-8s", r->name, r->n, r->value, r->unit);
    if (torch && r->torch > 0) printf(" %12.3f %9.2f", r->torch, r->value / r->torch);
    else if (torch) printf(" %12s %9s", "", "");
    printf(" %7s  %s\n", ratio, ref);
  }
}

static void print_json(FILE *f, const clt_device_info *in, bool first) {
  const char *v = getenv("CLT_KERNEL_VARIANT");
  fprintf(f, "%s{\"device\": \"%s\", \"device_name\": \"%s\", \"kernel_variant\": \"%s\", \"results\": [",
          first ? "" : ",\n", in->spec, in->name, v && *v ? v : "default");
  for (int i = 0; i < nrows; i++) {
    row *r = &rows[i];
    fprintf(f, "%s\n  {\"section\": \"%s\", \"name\": \"%s\", \"n\": %.0f, \"value\": %.6g, \"unit\": \"%s\"",
            i ? "," : "", r->section, r->name, r->n, r->value, r->unit);
    if (r->ref > 0)
      fprintf(f, ", \"reference\": %.6g, \"reference_name\": \"%s\", \"ratio\": %.4f", r->ref, r->ref_name,
              r->value / r->ref);
    if (r->torch > 0) fprintf(f, ", \"torch\": %.6g, \"clt_over_torch\": %.4f", r->torch, r->value / r->torch);
    fprintf(f, "}");
  }
  fprintf(f, "\n]}");
}

/* ---- PyTorch's column ------------------------------------------------------------------- */

/* Runs tools/bench_torch.py ($CLT_BENCH_TORCH, else the source tree's copy) on this run's rows,
 * after clt's own figures, and puts PyTorch's figure for each workload it knows beside clt's:
 * the yardstick users compare with, measured in the same run. Where Python or PyTorch is
 * missing, one line on stderr says so and the table has no such column. */
static void torch_column(const clt_device_info *in, int threads) {
  const char *script = getenv("CLT_BENCH_TORCH");
#ifdef CLT_BENCH_TORCH_PY
  if (!script || !*script) script = CLT_BENCH_TORCH_PY;
#endif
  FILE *probe = script && *script ? fopen(script, "r") : NULL;
  if (!probe) {
    fprintf(stderr, "clt-bench: no PyTorch column: bench_torch.py not found (set $CLT_BENCH_TORCH)\n");
    return;
  }
  fclose(probe);
  char dir[600], tmp[700];
  if (!tool_mkdtemp("clt-bench-rows", dir, sizeof dir)) return;
  snprintf(tmp, sizeof tmp, "%s/rows.json", dir);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    tool_rmtree(dir);
    return;
  }
  print_json(f, in, true);
  fclose(f);
  char cmd[1600], threads_arg[32] = "";
  if (threads > 0) snprintf(threads_arg, sizeof threads_arg, " --threads %d", threads);
  snprintf(cmd, sizeof cmd, "python3 " TOOL_QUOTE "%s" TOOL_QUOTE " bench --clt-json " TOOL_QUOTE "%s" TOOL_QUOTE
           " --tsv%s%s 2>" TOOL_NULL_DEVICE, script, tmp, quick ? " --quick" : "", threads_arg);
  FILE *p = popen(cmd, "r");
  int matched = 0;
  char line[256];
  while (p && fgets(line, sizeof line, p)) {
    char *section = strtok(line, "\t"), *name = strtok(NULL, "\t"), *n = strtok(NULL, "\t"),
         *value = strtok(NULL, "\t\n");
    if (!section || !name || !n || !value) continue;
    for (int i = 0; i < nrows; i++)
      if (strcmp(rows[i].section, section) == 0 && strcmp(rows[i].name, name) == 0 && rows[i].n == atof(n)) {
        rows[i].torch = atof(value);
        matched++;
      }
  }
  int st = p ? pclose(p) : -1;
  tool_rmtree(dir);
  if (st != 0 || matched == 0)
    fprintf(stderr, "clt-bench: no PyTorch column: '%s' failed (is torch importable by python3?)\n", script);
}

/* Elementwise GB/s against n, one line per op, and the copy kernel's bandwidth. */
static void write_svg(const char *path, const clt_device_info *in) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "clt-bench: cannot write %s\n", path);
    return;
  }
  const double W = 720, H = 420, L = 60, R = 200, T = 40, B = 50;
  double maxv = 1;
  for (int i = 0; i < nrows; i++)
    if (strcmp(rows[i].section, "elementwise") == 0) maxv = fmax(maxv, fmax(rows[i].value, rows[i].ref));
  maxv *= 1.1;
  fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' font-family='sans-serif' font-size='12'>\n", W, H);
  fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
  fprintf(f, "<text x='%.0f' y='20' font-size='14'>clt elementwise throughput on %s (%s)</text>\n", L, in->spec, in->name);
#define X(n) (L + (log10(n) - 3) / 4 * (W - L - R))
#define Y(v) (H - B - (v) / maxv * (H - T - B))
  fprintf(f, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", L, H - B, W - R, H - B);
  fprintf(f, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", L, T, L, H - B);
  for (int e = 3; e <= 7; e++)
    fprintf(f, "<text x='%.1f' y='%.0f' text-anchor='middle'>1e%d</text>\n", X(pow(10, e)), H - B + 18, e);
  fprintf(f, "<text x='%.0f' y='%.0f' text-anchor='middle'>elements (n)</text>\n", (L + W - R) / 2, H - 10);
  for (int k = 0; k <= 4; k++)
    fprintf(f, "<text x='%.0f' y='%.1f' text-anchor='end'>%.0f</text>\n", L - 6, Y(maxv * k / 4) + 4, maxv * k / 4);
  fprintf(f, "<text x='14' y='%.0f' transform='rotate(-90 14 %.0f)' text-anchor='middle'>GB/s</text>\n", (H) / 2, H / 2);
  static const char *colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#444444"};
  const char *names[8];
  int nn = 0;
  for (int i = 0; i < nrows; i++) {
    if (strcmp(rows[i].section, "elementwise") != 0) continue;
    bool seen = false;
    for (int j = 0; j < nn; j++) seen = seen || strcmp(names[j], rows[i].name) == 0;
    if (!seen && nn < 7) names[nn++] = rows[i].name;
  }
  for (int j = 0; j <= nn; j++) { /* the ops, then the copy kernel (the bandwidth line) */
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2'%s points='", colors[j % 7],
            j == nn ? " stroke-dasharray='6,4'" : "");
    for (int i = 0; i < nrows; i++) {
      if (strcmp(rows[i].section, "elementwise") != 0) continue;
      if (j < nn && strcmp(rows[i].name, names[j]) != 0) continue;
      if (j == nn && strcmp(rows[i].name, names[0]) != 0) continue;
      fprintf(f, "%.1f,%.1f ", X(rows[i].n), Y(j == nn ? rows[i].ref : rows[i].value));
    }
    fprintf(f, "'/>\n<text x='%.0f' y='%.0f' fill='%s'>%s</text>\n", W - R + 10, T + 16.0 * j, colors[j % 7],
            j == nn ? "bandwidth (copy kernel)" : names[j]);
  }
#undef X
#undef Y
  fprintf(f, "</svg>\n");
  fclose(f);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: clt-bench [--device SPEC | --all] [--quick] [--json] [--svg FILE] [--only SECTION]\n"
          "                 [--no-torch | --torch-threads N]\n"
          "       clt-bench --startup [--device SPEC] [--runs N] [--json]\n"
          "Sections: peak, elementwise, overhead, fusion, reduction, norm, conv, attention, matmul, half,\n"
          "transfer, training, startup.\n"
          "$CLT_KERNEL_VARIANT (gpu or cpu) picks clt's kernels; the output names it.\n"
          "Where python3 imports torch, PyTorch's figures for the same workloads print beside clt's\n"
          "(tools/bench_torch.py, or $CLT_BENCH_TORCH; --no-torch leaves them out).\n");
}

int main(int argc, char **argv) {
  const char *spec = NULL, *svg = NULL, *only = NULL;
  int runs = 0; /* 5, or 2 with --quick */
  const char *child_what = NULL;
  bool no_torch = false;
  int torch_threads = 0;
  bool all = false, json = false, startup_only = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) spec = argv[++i];
    else if (strcmp(argv[i], "--svg") == 0 && i + 1 < argc) svg = argv[++i];
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--torch-threads") == 0 && i + 1 < argc) torch_threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--no-torch") == 0) no_torch = true;
    else if (strcmp(argv[i], "--all") == 0) all = true;
    else if (strcmp(argv[i], "--quick") == 0) quick = true;
    else if (strcmp(argv[i], "--json") == 0) json = true;
    else if (strcmp(argv[i], "--startup") == 0) startup_only = true;
    else if (strcmp(argv[i], "--startup-child") == 0 && i + 1 < argc) child_what = argv[++i];
    else if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (child_what) return first_ops(spec ? spec : "cl", strcmp(child_what, "step") == 0);
  if (quick) min_time = 0.01;
  if (runs <= 0) runs = quick ? 2 : 5;
  if (startup_only) only = "startup";
  size_t ndev = 1;
  clt_device_info list[16];
  if (all && clt_device_list(list, 16, &ndev) != CLT_OK) die("listing devices");
  if (ndev > 16) ndev = 16;
  for (size_t k = 0; k < ndev; k++) {
    nrows = 0;
    if (clt_device_open(all ? list[k].spec : spec, &bdev) != CLT_OK) die("opening the device");
    clt_device_info in;
    clt_device_get_info(bdev, &in);
#define RUN(name, call) \
  if (!only || strcmp(only, name) == 0) call
    RUN("peak", bench_peak());
    RUN("elementwise", bench_elementwise());
    RUN("overhead", bench_overhead());
    RUN("fusion", bench_fusion());
    RUN("reduction", bench_reductions());
    bench_env env = {bdev, quick, measure, sync_dev, add_row}; /* tools/bench_layers.c */
    RUN("norm", bench_norm());
    RUN("norm", bench_norms(&env));
    RUN("conv", bench_conv(&env));
    RUN("attention", bench_attention(&env));
    RUN("matmul", bench_matmul());
    RUN("half", bench_half());
    RUN("transfer", bench_transfers());
    /* the training steps on a handle of their own: taking clt's queue (the raw references
     * above) turns the host GEMMs' chains off for good on that handle (clt/clt_cl.h) */
    if (!only || strcmp(only, "training") == 0) {
      clt_device_release(bdev);
      if (clt_device_open(all ? list[k].spec : spec, &bdev) != CLT_OK) die("opening the device again");
      env.dev = bdev;
    }
    RUN("training", bench_training());
    RUN("training", bench_models(&env));
    if (in.type != CLT_DEVICE_HOST) RUN("startup", bench_startup(argv[0], in.spec, runs));
#undef RUN
    if (!no_torch && (!only || strcmp(only, "startup") != 0)) torch_column(&in, torch_threads);
    if (json) print_json(stdout, &in, k == 0);
    else print_table(&in);
    if (svg && k == 0) write_svg(svg, &in);
    clt_device_release(bdev);
    if (!json && k + 1 < ndev) printf("\n");
  }
  if (json) printf("\n");
  return 0;
}
