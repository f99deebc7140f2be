/* clt-dist-bench: what clt's distributed module costs, under mpirun (docs/DISTRIBUTED.md).
 *
 *   allreduce  clt_dist_allreduce of a float32 tensor (on the host, and on an OpenCL device
 *              through its mapped memory) against Open MPI's own MPI_Allreduce on a host
 *              buffer of the same size, 4 KB to 64 MB: seconds per call, bandwidth (bytes / time,
 *              the size the caller reduces, as nccl-tests' "algbw") and the ratio MPI / clt.
 *   overlap    a data-parallel step of an MLP with several buckets: the backward alone, then
 *              what clt_ddp_backward adds to it, one after another (the gradients copied into
 *              the buckets and back, the buckets' allreduces), and clt_ddp_backward, which
 *              starts each bucket's allreduce as soon as its gradients are final; the part of
 *              the communication that ran while the backward did:
 *              (backward + copies + allreduces - clt_ddp_backward) / allreduces.
 *
 * Each figure is the median of --reps timed runs (calls interleaved, so that drift on a shared
 * machine hits both sides alike). Rank 0 prints. usage: mpirun -np N clt-dist-bench [options] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt.h"
#include "clt/dist_mpi.h"

static int rank, size;

static void die(const char *what) {
  fprintf(stderr, "clt-dist-bench (rank %d): %s: %s\n", rank, what, clt_last_error());
  MPI_Abort(MPI_COMM_WORLD, 1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The same number on every rank (rank 0's), so that all ranks loop alike. */
static double agreed(double v) {
  MPI_Bcast(&v, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return v;
}

/* ---- allreduce bandwidth -------------------------------------------------------------------- */

enum { RAW, HOST, DEVICE, PATHS };

/* Seconds per call of path p at n floats, over calls calls (after a barrier). */
static double time_calls(int p, clt_dist *d, float *buf, clt_tensor *const *t, int64_t n, int calls) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  for (int c = 0; c < calls; c++) {
    if (p == RAW) MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    else if (clt_dist_allreduce(d, t[p], CLT_DIST_SUM) != CLT_OK) die("clt_dist_allreduce");
  }
  double local = (MPI_Wtime() - t0) / calls, worst;
  MPI_Allreduce(&local, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD); /* the slowest rank's */
  return worst;
}

static void bench_allreduce(clt_dist *d, clt_device *host, clt_device *dev, int reps, double max_mb) {
  if (rank == 0) {
    printf("[allreduce] float32 sum, %d ranks, median and best of %d (the slowest rank's); GB/s = bytes / time%s\n", size, reps,
           dev ? "; device: clt_dist_allreduce of a tensor on the OpenCL device" : "");
    printf("%10s %6s %11s %11s%s %9s %9s%s %8s%s\n", "bytes", "", "MPI s", "clt host s", dev ? "   clt dev s" : "", "MPI GB/s",
           "host GB/s", dev ? "  dev GB/s" : "", "host/MPI", dev ? "  dev/MPI" : "");
  }
  for (int64_t bytes = 4096; bytes <= (int64_t)(max_mb * 1048576.0); bytes *= 4) {
    int64_t n = bytes / 4;
    float *buf = malloc((size_t)bytes);
    if (!buf) die("out of memory");
    for (int64_t i = 0; i < n; i++) buf[i] = (float)(i % 7);
    clt_tensor *t[PATHS] = {NULL, clt_ones(host, CLT_FLOAT32, 1, &n), dev ? clt_ones(dev, CLT_FLOAT32, 1, &n) : NULL};
    if (!t[HOST] || (dev && !t[DEVICE])) die("allocating");
    /* calls per timed run: about 20 ms of the raw call (short runs: on a shared machine some of
     * them find every rank on a core, and "best" is their figure) */
    double one = agreed(time_calls(RAW, d, buf, t, n, 3));
    int calls = (int)fmin(1000, fmax(2, 0.02 / fmax(one, 1e-7)));
    double s[PATHS][64];
    for (int r = 0; r < reps; r++) /* interleaved, in turn first, so that drift hits every path alike */
      for (int k = 0; k < PATHS; k++) {
        int p = (k + r) % PATHS;
        s[p][r] = p == DEVICE && !dev ? 0 : time_calls(p, d, buf, t, n, calls);
      }
    double m[PATHS], lo[PATHS];
    for (int p = 0; p < PATHS; p++) m[p] = median(s[p], reps), lo[p] = s[p][0]; /* sorted by median() */
    if (rank == 0) {
      for (int k = 0; k < 2; k++) {
        const double *v = k ? lo : m;
        printf("%10lld %6s %11.3e %11.3e", (long long)bytes, k ? "best" : "median", v[RAW], v[HOST]);
        if (dev) printf(" %11.3e", v[DEVICE]);
        printf(" %9.3f %9.3f", bytes / v[RAW] / 1e9, bytes / v[HOST] / 1e9);
        if (dev) printf(" %9.3f", bytes / v[DEVICE] / 1e9);
        printf(" %8.3f", v[RAW] / v[HOST]);
        if (dev) printf(" %8.3f", v[RAW] / v[DEVICE]);
        printf("\n");
      }
      fflush(stdout);
    }
    clt_release(t[HOST]);
    clt_release(t[DEVICE]);
    free(buf);
  }
}

/* ---- overlap of communication and backward --------------------------------------------------- */

#define MAX_LAYERS 8

typedef struct {
  int n;
  clt_tensor *p[2 * MAX_LAYERS];
} mlp;

static clt_tensor *forward(const mlp *m, clt_tensor *x) {
  clt_tensor *h = x;
  for (int i = 0; i < m->n / 2; i++) {
    h = clt_linear(h, m->p[2 * i], m->p[2 * i + 1]);
    if (2 * i + 2 < m->n) h = clt_relu(h);
  }
  return h;
}

/* The buckets clt_ddp_create makes (parameters in reverse order, a new one past cap), as
 * tensors of their sizes, and where each parameter's gradient sits in them: what a step does
 * besides the backward, without overlap. */
typedef struct {
  int nb, of[2 * MAX_LAYERS];
  int64_t at[2 * MAX_LAYERS];
  clt_tensor *b[2 * MAX_LAYERS];
} buckets;

static void make_buckets(const mlp *m, clt_device *dev, size_t cap, buckets *out) {
  int64_t numel = 0;
  out->nb = 0;
  for (int i = m->n - 1; i >= -1; i--) {
    int64_t pn = i >= 0 ? clt_numel(m->p[i]) : 0;
    if (i < 0 || (numel > 0 && (size_t)(numel + pn) * 4 > cap)) {
      out->b[out->nb++] = clt_keep(clt_ones(dev, CLT_FLOAT32, 1, &numel));
      numel = 0;
    }
    if (i >= 0) out->of[i] = out->nb, out->at[i] = numel;
    numel += pn;
  }
}

/* Parameter i's place in its bucket, shaped as the parameter. */
static clt_tensor *slot(const mlp *m, const buckets *bk, int i) {
  const clt_tensor *p = m->p[i];
  int64_t shape[2];
  int nd = clt_ndim(p);
  for (int k = 0; k < nd; k++) shape[k] = clt_shape(p)[k];
  clt_tensor *flat = clt_slice(bk->b[bk->of[i]], 0, bk->at[i], bk->at[i] + clt_numel(p), 1);
  return clt_view(flat, nd, shape);
}

/* The gradients into their buckets (into: true) or back. */
static void copy_slots(const mlp *m, const buckets *bk, bool into) {
  clt_scope_begin();
  for (int i = 0; i < m->n; i++) {
    clt_tensor *v = slot(m, bk, i), *g = clt_grad(m->p[i]);
    if (!v || !g || clt_copy_(into ? v : g, into ? g : v) != CLT_OK) die("copying a gradient");
  }
  clt_scope_end();
}

static void bench_overlap(clt_dist *d, clt_device *dev, const int64_t *sizes, int nsizes, int64_t batch, double bucket_mb,
                          int reps) {
  mlp m = {.n = 2 * (nsizes - 1)};
  clt_manual_seed(1);
  for (int i = 0; i + 1 < nsizes; i++) {
    m.p[2 * i] = clt_keep(clt_mul_scalar(clt_randn(dev, CLT_FLOAT32, 2, (const int64_t[]){sizes[i + 1], sizes[i]}), 0.02));
    m.p[2 * i + 1] = clt_keep(clt_zeros(dev, CLT_FLOAT32, 1, &sizes[i + 1]));
  }
  for (int i = 0; i < m.n; i++)
    if (!m.p[i] || clt_set_requires_grad(m.p[i], true) != CLT_OK) die("the model");
  clt_tensor *x = clt_keep(clt_randn(dev, CLT_FLOAT32, 2, (const int64_t[]){batch, sizes[0]}));
  int64_t labels[4096];
  for (int64_t i = 0; i < batch && i < 4096; i++) labels[i] = (i * 7 + rank) % sizes[nsizes - 1];
  clt_tensor *y = clt_keep(clt_from_host(dev, CLT_INT64, 1, &batch, labels));
  size_t cap = (size_t)(bucket_mb * 1048576.0);
  /* both ways of moving the buckets, side by side in each round: a communication thread (the
   * default) and the calling thread's polls from the leaf hook */
  static const char *const mode_name[2] = {"communication thread", "calling thread"};
  clt_ddp *ddp[2];
  for (int k = 0; k < 2; k++)
    if (clt_ddp_create(d, m.n, m.p, &(clt_ddp_options){.bucket_bytes = cap, .comm_thread = k ? -1 : 1}, &ddp[k]) != CLT_OK)
      die("clt_ddp_create");
  buckets bk;
  make_buckets(&m, dev, cap, &bk);
  int nb = bk.nb;
  if (nb != clt_ddp_buckets(ddp[0])) die("the bench's buckets are not clt's");
  double s_bwd[64], s_copy[64], s_comm[64], s_ddp[2][64], s_in[2][64], s_wait[2][64];
  for (int r = -2; r < reps; r++) { /* two warm-up rounds */
    /* the backward alone (the same graph, no communication) */
    clt_scope_begin();
    clt_tensor *loss = clt_cross_entropy(forward(&m, x), y, CLT_REDUCTION_MEAN);
    for (int i = 0; i < m.n; i++) clt_zero_grad(m.p[i]);
    if (!loss || clt_dist_barrier(d) != CLT_OK) die("forward");
    double t0 = MPI_Wtime();
    if (clt_backward(loss, NULL) != CLT_OK || clt_device_synchronize(dev) != CLT_OK) die("clt_backward");
    double bwd = MPI_Wtime() - t0;
    clt_scope_end();
    /* what clt_ddp_backward adds, one after another: the gradients into the buckets and back
     * (device copies), and the buckets' allreduces */
    if (clt_dist_barrier(d) != CLT_OK) die("barrier");
    t0 = MPI_Wtime();
    copy_slots(&m, &bk, true);
    if (clt_device_synchronize(dev) != CLT_OK) die("synchronising");
    double copy = MPI_Wtime() - t0;
    if (clt_dist_barrier(d) != CLT_OK) die("barrier");
    t0 = MPI_Wtime();
    for (int b = 0; b < nb; b++)
      if (clt_dist_allreduce(d, bk.b[b], CLT_DIST_SUM) != CLT_OK) die("clt_dist_allreduce");
    double comm = MPI_Wtime() - t0;
    t0 = MPI_Wtime();
    copy_slots(&m, &bk, false);
    if (clt_device_synchronize(dev) != CLT_OK) die("synchronising");
    copy += MPI_Wtime() - t0;
    /* both, as clt_ddp_backward overlaps them, each way */
    double mine[9] = {bwd, copy, comm}, worst[9];
    for (int k = 0; k < 2; k++) {
      clt_scope_begin();
      loss = clt_cross_entropy(forward(&m, x), y, CLT_REDUCTION_MEAN);
      for (int i = 0; i < m.n; i++) clt_zero_grad(m.p[i]);
      if (!loss || clt_dist_barrier(d) != CLT_OK) die("forward");
      clt_ddp_stats before, after;
      clt_ddp_get_stats(ddp[k], &before);
      t0 = MPI_Wtime();
      if (clt_ddp_backward(ddp[k], loss, NULL) != CLT_OK || clt_device_synchronize(dev) != CLT_OK) die("clt_ddp_backward");
      mine[3 + 3 * k] = MPI_Wtime() - t0;
      clt_ddp_get_stats(ddp[k], &after);
      mine[4 + 3 * k] = after.backward_s - before.backward_s;
      mine[5 + 3 * k] = after.wait_s - before.wait_s;
      clt_scope_end();
    }
    MPI_Allreduce(mine, worst, 9, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (r < 0) continue;
    s_bwd[r] = worst[0], s_copy[r] = worst[1], s_comm[r] = worst[2];
    for (int k = 0; k < 2; k++) s_ddp[k][r] = worst[3 + 3 * k], s_in[k][r] = worst[4 + 3 * k], s_wait[k][r] = worst[5 + 3 * k];
  }
  if (rank == 0) {
    clt_ddp_stats st;
    clt_ddp_get_stats(ddp[0], &st);
    char arch[128] = "";
    for (int i = 0; i < nsizes; i++) snprintf(arch + strlen(arch), sizeof arch - strlen(arch), i ? "-%lld" : "%lld", (long long)sizes[i]);
    printf("[overlap] MLP %s, batch %lld per rank, %.1f MB of float32 gradients in %d buckets of <= %.2f MB, %d ranks, "
           "%d rounds, the slowest rank's\n",
           arch, (long long)batch, (double)st.bytes / 1048576.0, nb, bucket_mb, size, reps);
    /* each round's parts ran back to back, so drift on a shared machine hits them alike: the
     * overlap of each round, then medians; median() sorts */
    double bwd = median(s_bwd, reps), copy = median(s_copy, reps), comm = median(s_comm, reps);
    printf("  median: backward %.2f ms + copies to and from the buckets %.2f + their allreduces %.2f = %.2f one after "
           "another\n", 1e3 * bwd, 1e3 * copy, 1e3 * comm, 1e3 * (bwd + copy + comm));
    for (int k = 0; k < 2; k++) {
      double hid[64];
      for (int r = 0; r < reps; r++) hid[r] = s_bwd[r] + s_copy[r] + s_comm[r] - s_ddp[k][r];
      clt_ddp_get_stats(ddp[k], &st);
      printf("  %s: clt_ddp_backward %.2f ms (%.2f in the backward, %.2f after it: waiting, copying back); %.1f of %d "
             "buckets started during the backward\n", mode_name[k], 1e3 * median(s_ddp[k], reps),
             1e3 * median(s_in[k], reps), 1e3 * median(s_wait[k], reps), (double)st.overlapped / (double)st.steps, nb);
      double hidden = median(hid, reps);
      printf("    overlap (backward + copies + allreduces - clt_ddp_backward, per round): median %.2f ms = %.0f%% of the "
             "allreduces' time (rounds: %.2f to %.2f ms)\n", 1e3 * hidden, 100 * hidden / comm, 1e3 * hid[0],
             1e3 * hid[reps - 1]);
    }
  }
  for (int b = 0; b < nb; b++) clt_release(bk.b[b]);
  for (int k = 0; k < 2; k++) clt_ddp_release(ddp[k]);
  for (int i = 0; i < m.n; i++) clt_release(m.p[i]);
  clt_release(x);
  clt_release(y);
}

static void usage(void) {
  printf("usage: mpirun -np N clt-dist-bench [options]\n"
         "  --device SPEC     device of the overlap model and of the device column (cl; host: no device column)\n"
         "  --max-mb X        largest allreduce (64)\n"
         "  --reps N          timed runs per figure, their median and best reported (15)\n"
         "  --model A-B-...   the overlap MLP's layer widths (1024-1024-1024-1024-1024-10)\n"
         "  --batch N         its batch per rank (64)\n"
         "  --bucket-mb X     its bucket size (1)\n"
         "  --only NAME       allreduce or overlap\n");
}

int main(int argc, char **argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char *spec = "cl", *only = NULL;
  double max_mb = 64, bucket_mb = 1;
  int reps = 15;
  int64_t batch = 64, sizes[MAX_LAYERS + 1] = {1024, 1024, 1024, 1024, 1024, 10};
  int nsizes = 6;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(a, "--help") == 0) {
      if (rank == 0) usage();
      MPI_Finalize();
      return 0;
    }
    if (strcmp(a, "--device") == 0) spec = v;
    else if (strcmp(a, "--max-mb") == 0) max_mb = atof(v);
    else if (strcmp(a, "--reps") == 0) reps = atoi(v);
    else if (strcmp(a, "--batch") == 0) batch = atoll(v);
    else if (strcmp(a, "--bucket-mb") == 0) bucket_mb = atof(v);
    else if (strcmp(a, "--only") == 0) only = v;
    else if (strcmp(a, "--model") == 0) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s", v);
      nsizes = 0;
      for (char *tok = strtok(buf, "-"); tok && nsizes <= MAX_LAYERS; tok = strtok(NULL, "-")) sizes[nsizes++] = atoll(tok);
    } else {
      if (rank == 0) fprintf(stderr, "clt-dist-bench: unknown option %s (see --help)\n", a);
      MPI_Finalize();
      return 2;
    }
    i++;
  }
  if (reps < 1 || reps > 64 || batch < 1 || batch > 4096 || nsizes < 2 || bucket_mb <= 0 || max_mb <= 0) {
    if (rank == 0) fprintf(stderr, "clt-dist-bench: --reps 1..64, --batch 1..4096, --model of 2..%d widths\n", MAX_LAYERS + 1);
    MPI_Finalize();
    return 2;
  }
  clt_dist *d;
  if (clt_dist_adopt(MPI_COMM_WORLD, &d) != CLT_OK) die("clt_dist_adopt");
  clt_device *host, *dev = NULL;
  if (clt_device_open("host", &host) != CLT_OK) die("opening the host");
  if (strcmp(spec, "host") != 0 && clt_device_open(spec, &dev) != CLT_OK) die("opening the device");
  if (rank == 0) {
    int len;
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    MPI_Get_library_version(version, &len);
    printf("clt-dist-bench: %d ranks, %s%s%s\n", size, strtok(version, ",\n"), dev ? "; device " : "",
           dev ? spec : "");
  }
  if (!only || strcmp(only, "allreduce") == 0) bench_allreduce(d, host, dev, reps, max_mb);
  if (!only || strcmp(only, "overlap") == 0) bench_overlap(d, dev ? dev : host, sizes, nsizes, batch, bucket_mb, reps);
  clt_device_release(dev);
  clt_device_release(host);
  clt_dist_release(d);
  MPI_Finalize();
  return 0;
}
