/* clt-train: trains a classifier with clt. With no arguments it learns the UCI handwritten
 * digits (embedded) on the default device: a 64-128-10 ReLU MLP (--model cnn and transformer:
 * tools/models.c), Adam lr 1e-3, batches of 64, 30 epochs, a fixed seed and an 80/20 split. Run with --help for the options. Under mpirun with
 * --distributed, every rank takes its share of each batch (clt/dist.h): the same run, faster. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt.h"
#include "clt/amp.h"
#include "clt/dist.h"
#include "tool_platform.h"
#include "models.h"

extern const unsigned char clt_digits[];
extern const unsigned long clt_digits_size;

#define MAX_LAYERS 8

typedef struct {
  const char *device, *x_path, *y_path, *save, *load, *log, *checkpoint, *resume, *plot;
  int epochs, batch, nhidden;
  bool hidden_set;
  model_kind model;
  int64_t hidden[MAX_LAYERS];
  double lr, test_fraction, timeout, bucket_mb, loss_scale;
  clt_dtype precision; /* the forward's and backward's dtype; the weights stay float32 */
  clt_optim_kind optim;
  uint64_t seed;
  enum { NORM_DEFAULT, NORM_NONE, NORM_MINMAX, NORM_STANDARD } normalize;
  bool json, quiet, distributed;
} options;

static void usage(FILE *f) {
  fprintf(f,
          "usage: clt-train [options]\n"
          "Trains a classifier; by default on the embedded UCI handwritten digits (1797 8x8\n"
          "images, 10 classes; E. Alpaydin and C. Kaynak, CC BY 4.0, as shipped by scikit-learn).\n\n"
          "  --device SPEC        host, cl, cl:N, cl:TEXT (default: $CLT_DEVICE, else a GPU, else PoCL)\n"
          "  --epochs N           passes over the training split (30)\n"
          "  --batch N            mini-batch size (64)\n"
          "  --lr X               learning rate (0.001)\n"
          "  --model NAME         mlp, cnn or transformer (mlp); cnn and transformer take 8x8 images:\n"
          "                       cnn: conv3x3 1-16, relu, maxpool 2, conv3x3 16-32, relu, maxpool 2,\n"
          "                       linear 128-10; transformer: the 8 rows as tokens, linear to d=32 plus a\n"
          "                       learned position embedding, 2 pre-norm blocks (4-head self-attention,\n"
          "                       GELU MLP of 4d), layer norm, mean over tokens, linear 32-10\n"
          "  --hidden A[,B...]    with --model mlp: hidden layer widths (128)\n"
          "  --optim NAME         adam, adamw or sgd (adam)\n"
          "  --precision P        fp32, bf16, fp16 or fp64 (fp32): with bf16 and fp16 the forward and\n"
          "                       backward run in bfloat16 or float16 (the weights and the optimizer's\n"
          "                       state stay float32, the loss is computed in float32); fp16 scales the\n"
          "                       loss dynamically and skips the steps whose gradients overflow\n"
          "                       (clt/amp.h); fp64 trains in float64: weights (made in float32, then\n"
          "                       converted; loaded as saved), optimizer state and loss; the features\n"
          "                       are read in float32 and converted per batch; --save writes float64\n"
          "  --loss-scale X       with fp16: the first loss scale (65536)\n"
          "  --seed N             seed of the split, the initial weights and the batch order (1)\n"
          "  --x FILE.npy         features [N, F] of any float or integer dtype, instead of the digits\n"
          "  --y FILE.npy         integer class labels [N] in 0..C-1 (with --x)\n"
          "  --normalize MODE     none, minmax or standard, from the training split's statistics\n"
          "                       (standard for --x data; the digits are scaled to [0, 1])\n"
          "  --test-fraction X    part of the data held out for testing (0.2)\n"
          "  --save FILE          the trained weights as safetensors, named as the state_dict() of the\n"
          "                       same model in PyTorch (tools/bench_torch.py): 0.weight, 0.bias, 2.weight ...\n"
          "                       for the MLP's nn.Sequential(Linear, ReLU, Linear)\n"
          "  --load FILE          start from these weights (safetensors, same names and shapes)\n"
          "  --log FILE.csv       one line per epoch: epoch,loss,train_acc,test_acc,samples_per_s,seconds\n"
          "  --plot FILE.svg      the loss and accuracy curves of the run, as an SVG picture\n"
          "  --checkpoint FILE    after every epoch, the weights, the optimizer's state and the epoch\n"
          "                       (safetensors, replaced atomically)\n"
          "  --resume FILE        continue the run a --checkpoint file saved (same data, seed and batch)\n"
          "  --distributed        under mpirun: each rank takes its share of every batch (--batch stays the\n"
          "                       global batch) and the gradients are averaged over the ranks; rank 0\n"
          "                       prints and saves (see docs/DISTRIBUTED.md)\n"
          "  --timeout S          with --distributed: fail when the other ranks do not answer for S\n"
          "                       seconds (600, or $CLT_DIST_TIMEOUT)\n"
          "  --bucket-mb X        with --distributed: gradients per allreduce, in MiB (25)\n"
          "  --json               machine-readable output: one JSON object per epoch and a summary\n"
          "  --quiet              only the summary\n"
          "  --help               this text\n");
}

static const char *precision_name(clt_dtype t) {
  return t == CLT_FLOAT16 ? "fp16" : t == CLT_BFLOAT16 ? "bf16" : t == CLT_FLOAT64 ? "fp64" : "fp32";
}

/* With --distributed, messages name the rank. */
static char who[32] = "clt-train";

static int fail(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", who, what, clt_last_error());
  return 1;
}

/* Prints a message of clt-train's own and returns 1. */
static int complain(const char *fmt, ...) TOOL_PRINTF(1, 2);
static int complain(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", who);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

static bool parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static bool parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  *out = strtod(s, &end);
  return !errno && !*end && end != s && isfinite(*out);
}

/* 0: ok, 1: --help, 2: bad arguments (reported). */
static int parse_args(int argc, char **argv, options *o) {
  /* seed 1: the first seed whose split reaches 97% (test accuracy over seeds 0-19 is 95.5-98.1%,
   * mean 96.9%, the same as PyTorch's; see docs/PERFORMANCE.md) */
  *o = (options){.epochs = 30, .batch = 64, .nhidden = 1, .hidden = {128}, .lr = 1e-3, .test_fraction = 0.2,
                 .optim = CLT_OPTIM_ADAM, .seed = 1, .precision = CLT_FLOAT32};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int64_t n;
    bool takes = true, ok = v != NULL;
    static const char *valued[] = {"--device", "--epochs", "--batch", "--lr", "--seed", "--x", "--y", "--save",
                                   "--load", "--log", "--test-fraction", "--optim", "--normalize", "--hidden",
                                   "--checkpoint", "--resume", "--timeout", "--bucket-mb", "--model", "--plot",
                                   "--precision", "--loss-scale"};
    bool known = false;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known = known || strcmp(a, valued[k]) == 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return 1;
    if (strcmp(a, "--json") == 0) o->json = true, takes = false, ok = true;
    else if (strcmp(a, "--quiet") == 0) o->quiet = true, takes = false, ok = true;
    else if (strcmp(a, "--distributed") == 0) o->distributed = true, takes = false, ok = true;
    else if (!known) {
      fprintf(stderr, "clt-train: unknown option '%s' (see --help)\n", a);
      return 2;
    } else if (!v) ok = false;
    else if (strcmp(a, "--device") == 0) o->device = v;
    else if (strcmp(a, "--epochs") == 0) ok = parse_int(v, 0, 1000000, &n), o->epochs = (int)n;
    else if (strcmp(a, "--batch") == 0) ok = parse_int(v, 1, 1 << 24, &n), o->batch = (int)n;
    else if (strcmp(a, "--lr") == 0) ok = parse_double(v, &o->lr) && o->lr > 0;
    else if (strcmp(a, "--seed") == 0) ok = parse_int(v, 0, INT64_MAX, &n), o->seed = (uint64_t)n;
    else if (strcmp(a, "--x") == 0) o->x_path = v;
    else if (strcmp(a, "--y") == 0) o->y_path = v;
    else if (strcmp(a, "--save") == 0) o->save = v;
    else if (strcmp(a, "--load") == 0) o->load = v;
    else if (strcmp(a, "--log") == 0) o->log = v;
    else if (strcmp(a, "--plot") == 0) o->plot = v;
    else if (strcmp(a, "--model") == 0) ok = model_parse(v, &o->model);
    else if (strcmp(a, "--loss-scale") == 0) ok = parse_double(v, &o->loss_scale) && o->loss_scale > 0;
    else if (strcmp(a, "--precision") == 0) {
      if (strcmp(v, "fp32") == 0) o->precision = CLT_FLOAT32;
      else if (strcmp(v, "bf16") == 0) o->precision = CLT_BFLOAT16;
      else if (strcmp(v, "fp16") == 0) o->precision = CLT_FLOAT16;
      else if (strcmp(v, "fp64") == 0) o->precision = CLT_FLOAT64;
      else {
        fprintf(stderr, "clt-train: unknown --precision '%s': fp32, bf16, fp16 or fp64\n", v);
        return 2;
      }
    }
    else if (strcmp(a, "--checkpoint") == 0) o->checkpoint = v;
    else if (strcmp(a, "--resume") == 0) o->resume = v;
    else if (strcmp(a, "--timeout") == 0) ok = parse_double(v, &o->timeout) && o->timeout > 0;
    else if (strcmp(a, "--bucket-mb") == 0) ok = parse_double(v, &o->bucket_mb) && o->bucket_mb > 0 && o->bucket_mb < 1e6;
    else if (strcmp(a, "--test-fraction") == 0) ok = parse_double(v, &o->test_fraction) && o->test_fraction > 0 && o->test_fraction < 1;
    else if (strcmp(a, "--optim") == 0) {
      if (strcmp(v, "adam") == 0) o->optim = CLT_OPTIM_ADAM;
      else if (strcmp(v, "adamw") == 0) o->optim = CLT_OPTIM_ADAMW;
      else if (strcmp(v, "sgd") == 0) o->optim = CLT_OPTIM_SGD;
      else ok = false;
    } else if (strcmp(a, "--normalize") == 0) {
      if (strcmp(v, "none") == 0) o->normalize = NORM_NONE;
      else if (strcmp(v, "minmax") == 0) o->normalize = NORM_MINMAX;
      else if (strcmp(v, "standard") == 0) o->normalize = NORM_STANDARD;
      else ok = false;
    } else if (strcmp(a, "--hidden") == 0) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s", v);
      o->nhidden = 0;
      o->hidden_set = true;
      for (char *tok = strtok(buf, ","); tok && ok; tok = strtok(NULL, ",")) {
        ok = o->nhidden < MAX_LAYERS - 1 && parse_int(tok, 1, 1 << 20, &n);
        if (ok) o->hidden[o->nhidden++] = n;
      }
      ok = ok && o->nhidden > 0;
    }
    if (!ok) {
      fprintf(stderr, "clt-train: bad or missing value for %s%s%s (see --help)\n", a, v ? ": " : "", v && takes ? v : "");
      return 2;
    }
    if (takes) i++;
  }
  if (!o->x_path != !o->y_path) {
    fprintf(stderr, "clt-train: --x and --y go together\n");
    return 2;
  }
  if (o->hidden_set && o->model != MODEL_MLP) {
    fprintf(stderr, "clt-train: --hidden goes with --model mlp\n");
    return 2;
  }
  if (o->loss_scale > 0 && o->precision != CLT_FLOAT16) {
    fprintf(stderr, "clt-train: --loss-scale goes with --precision fp16\n");
    return 2;
  }
  if ((o->timeout > 0 || o->bucket_mb > 0) && !o->distributed) {
    fprintf(stderr, "clt-train: --timeout and --bucket-mb go with --distributed\n");
    return 2;
  }
  return 0;
}

/* ---- data ------------------------------------------------------------------------------- */

typedef struct {
  int64_t n, f, classes;
  float *x;   /* [n, f] */
  int64_t *y; /* [n] */
} dataset;

static void dataset_free(dataset *d) {
  free(d->x);
  free(d->y);
}

static int load_digits(dataset *d) {
  d->n = (int64_t)(clt_digits_size / 65);
  d->f = 64;
  d->classes = 10;
  d->x = malloc((size_t)(d->n * d->f) * sizeof *d->x);
  d->y = malloc((size_t)d->n * sizeof *d->y);
  if (!d->x || !d->y) return complain("out of memory");
  for (int64_t i = 0; i < d->n; i++) {
    for (int64_t j = 0; j < 64; j++) d->x[i * 64 + j] = (float)clt_digits[i * 65 + j] / 16.0f;
    d->y[i] = clt_digits[i * 65 + 64];
  }
  return 0;
}

/* Features [N, F] of any dtype and integral labels [N] from .npy files made by NumPy. */
static int load_npy_xy(const options *o, dataset *d) {
  clt_tensor *x = NULL, *y = NULL;
  if (clt_load_npy(o->x_path, NULL, &x) != CLT_OK) return fail("--x");
  if (clt_load_npy(o->y_path, NULL, &y) != CLT_OK) {
    clt_release(x);
    return fail("--y");
  }
  int rc = 0;
  if (clt_ndim(x) < 2 || clt_ndim(y) != 1 || clt_size(x, 0) != clt_size(y, 0) || clt_size(x, 0) < 2) {
    fprintf(stderr, "clt-train: --x must be [N, F] (or more dims, flattened) and --y [N] with N >= 2; got %d-d with %lld rows and %d-d with %lld\n",
            clt_ndim(x), (long long)clt_size(x, 0), clt_ndim(y), (long long)(clt_ndim(y) ? clt_size(y, 0) : 0));
    rc = 1;
  }
  clt_tensor *flat = rc ? NULL : clt_flatten(x, 1, -1);
  clt_tensor *xf = flat ? clt_cast(flat, CLT_FLOAT32) : NULL, *yf = rc ? NULL : clt_cast(y, CLT_FLOAT64);
  clt_release(flat);
  if (!rc && (!xf || !yf)) rc = fail("reading the data");
  if (!rc) {
    d->n = clt_size(xf, 0);
    d->f = clt_size(xf, 1);
  }
  if (!rc && d->f == 0) { /* no features: the initialisers' bounds would be 1/sqrt(0) */
    fprintf(stderr, "clt-train: --x %s has 0 features per row (shape [%lld, 0] once flattened); need at least 1\n",
            o->x_path, (long long)d->n);
    rc = 1;
  }
  if (!rc) {
    d->x = malloc((size_t)clt_numel(xf) * sizeof *d->x);
    d->y = malloc((size_t)d->n * sizeof *d->y);
    double *yv = malloc((size_t)d->n * sizeof *yv);
    if (!d->x || !d->y || !yv) rc = complain("out of memory");
    if (!rc && (clt_to_host(xf, d->x, (size_t)clt_numel(xf) * sizeof *d->x) != CLT_OK ||
                clt_to_host(yf, yv, (size_t)d->n * sizeof *yv) != CLT_OK))
      rc = fail("reading the data");
    for (int64_t i = 0; i < d->n && !rc; i++) {
      if (!(yv[i] >= 0 && yv[i] == floor(yv[i]) && yv[i] < 1e6)) {
        fprintf(stderr, "clt-train: label %lld is %g; labels must be integers in 0..999999\n", (long long)i, yv[i]);
        rc = 1;
        break;
      }
      d->y[i] = (int64_t)yv[i];
      if (d->y[i] + 1 > d->classes) d->classes = d->y[i] + 1;
    }
    for (int64_t i = 0; i < d->n * d->f && !rc; i++)
      if (!isfinite(d->x[i])) rc = complain("feature %lld is not finite", (long long)i);
    if (!rc && d->classes < 2) rc = complain("the labels name fewer than 2 classes");
    free(yv);
  }
  clt_release(xf);
  clt_release(yf);
  clt_release(x);
  clt_release(y);
  return rc;
}

/* splitmix64: a seeded, portable order for the split and the batches. */
static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static void shuffle(int64_t *a, int64_t n, uint64_t *state) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(next_u64(state) % (uint64_t)(i + 1)), t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* A seeded permutation with the test rows last: the same share of every class in both parts
 * (stratified, as sklearn's train_test_split(stratify=y)), each part in shuffled order. */
static void stratified_split(const dataset *d, int64_t *order, int64_t n_test, uint64_t *rng) {
  for (int64_t i = 0; i < d->n; i++) order[i] = i;
  shuffle(order, d->n, rng);
  /* walk the shuffled rows class by class, giving each class its share of test rows */
  int64_t *test = malloc((size_t)d->n * sizeof *test), *train = malloc((size_t)d->n * sizeof *train);
  int64_t nt = 0, nr = 0;
  double want = (double)n_test / (double)d->n;
  for (int64_t c = 0; c < d->classes; c++) {
    int64_t seen = 0, taken = 0;
    for (int64_t k = 0; k < d->n; k++) {
      int64_t i = order[k];
      if (d->y[i] != c) continue;
      seen++;
      if (taken < (int64_t)llround(want * (double)seen) && nt < n_test) test[nt++] = i, taken++;
      else train[nr++] = i;
    }
  }
  while (nt < n_test && nr > 0) test[nt++] = train[--nr]; /* rounding leftovers */
  shuffle(train, nr, rng);
  shuffle(test, nt, rng);
  memcpy(order, train, (size_t)nr * sizeof *order);
  memcpy(order + nr, test, (size_t)nt * sizeof *order);
  free(test);
  free(train);
}

/* Scales features with the statistics of the rows in idx[0..n). */
static void normalize(dataset *d, const int64_t *idx, int64_t n, int mode) {
  if (mode == NORM_NONE) return;
  for (int64_t j = 0; j < d->f; j++) {
    double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
    for (int64_t k = 0; k < n; k++) {
      double v = d->x[idx[k] * d->f + j];
      lo = fmin(lo, v);
      hi = fmax(hi, v);
      sum += v;
    }
    double mean = sum / (double)n;
    for (int64_t k = 0; k < n; k++) {
      double v = d->x[idx[k] * d->f + j] - mean;
      sq += v * v;
    }
    double sd = sqrt(sq / (double)n);
    for (int64_t i = 0; i < d->n; i++) {
      float *v = &d->x[i * d->f + j];
      if (mode == NORM_MINMAX) *v = hi > lo ? (float)((*v - lo) / (hi - lo)) : 0.0f;
      else *v = (float)((*v - mean) / (sd > 0 ? sd : 1.0));
    }
  }
}

/* Rows idx[0..n) of d as tensors on dev. */
static int upload(clt_device *dev, const dataset *d, const int64_t *idx, int64_t n, clt_tensor **x, clt_tensor **y) {
  float *xb = malloc((size_t)(n * d->f) * sizeof *xb);
  int64_t *yb = malloc((size_t)n * sizeof *yb);
  if (!xb || !yb) {
    free(xb);
    free(yb);
    return complain("out of memory");
  }
  for (int64_t k = 0; k < n; k++) {
    memcpy(xb + k * d->f, d->x + idx[k] * d->f, (size_t)d->f * sizeof *xb);
    yb[k] = d->y[idx[k]];
  }
  *x = clt_keep(clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(n, d->f), xb));
  *y = clt_keep(clt_from_host(dev, CLT_INT64, CLT_SHAPE(n), yb));
  free(xb);
  free(yb);
  return *x && *y ? 0 : fail("uploading the data");
}

/* ---- model (tools/models.c): weights saved and loaded under PyTorch's state_dict names ------ */

static int model_save(const model *m, const char *path) {
  return clt_save_safetensors(path, model_size(m), model_names(m), model_tensors(m)) == CLT_OK ? 0 : fail("--save");
}

/* Copies the model's weights from l (read from path). */
static int model_load_list(model *m, clt_tensor_list *l, const char *path, const char *what) {
  int rc = 0, n = model_size(m);
  for (int i = 0; i < n && !rc; i++) {
    const char *name = model_names(m)[i];
    clt_tensor *dst = model_tensors(m)[i], *src = clt_tensor_list_find(l, name);
    bool ok = src && clt_ndim(src) == clt_ndim(dst);
    for (int d = 0; ok && d < clt_ndim(dst); d++) ok = clt_size(src, d) == clt_size(dst, d);
    if (!ok) {
      fprintf(stderr, "%s: %s %s: %s is missing or not shaped like the model's\n", who, what, path, name);
      rc = 1;
    } else {
      clt_no_grad_begin();
      if (clt_copy_(dst, src) != CLT_OK) rc = fail(what);
      clt_no_grad_end();
    }
    clt_release(src);
  }
  return rc;
}

static int model_load(model *m, const char *path, clt_device *dev) {
  clt_tensor_list *l;
  if (clt_load_safetensors(path, dev, &l) != CLT_OK) return fail("--load");
  int rc = model_load_list(m, l, path, "--load");
  clt_tensor_list_release(l);
  return rc;
}

/* ---- checkpoints: the weights, the optimizer's state and where the run is ----------------- */

/* train.state holds these, as int64 */
enum { CK_EPOCH, CK_STEPS, CK_SEED, CK_BATCH, CK_SAMPLES, CK_LEN };

/* The name of parameter i's optimizer state j (0 or 1) in a checkpoint. */
static void state_name(char *buf, size_t n, const model *m, int i, int j) {
  snprintf(buf, n, "optim.%.40s.s%d", model_names(m)[i], j + 1);
}

/* Saved by rank 0 after an epoch, atomically (a run killed while saving keeps the last one). */
static int checkpoint_save(const char *path, const model *m, clt_optim *opt, clt_device *dev, const int64_t *state) {
  int n = model_size(m), nheld = 0, rc = 0, total = 3 * n + 1;
  char (*names)[64] = malloc((size_t)total * sizeof *names);
  const char **np = malloc((size_t)total * sizeof *np);
  clt_tensor **ts = malloc((size_t)total * sizeof *ts);
  if (!names || !np || !ts) rc = complain("out of memory");
  for (int i = 0; i < n && !rc; i++) {
    np[i] = model_names(m)[i];
    ts[i] = model_tensors(m)[i];
  }
  for (int i = 0; i < n && !rc; i++) {
    clt_tensor *s[2];
    if (clt_optim_get_state(opt, i, &s[0], &s[1]) != CLT_OK) rc = fail("--checkpoint");
    for (int j = 0; j < 2 && !rc; j++) {
      if (!s[j]) continue;
      state_name(names[nheld], sizeof *names, m, i, j);
      np[n + nheld] = names[nheld];
      ts[n + nheld++] = s[j];
    }
  }
  clt_tensor *st = rc ? NULL : clt_from_host(dev, CLT_INT64, CLT_SHAPE(CK_LEN), state);
  if (!rc && !st) rc = fail("--checkpoint");
  if (!rc) {
    np[n + nheld] = "train.state";
    ts[n + nheld] = st;
    if (clt_save_safetensors(path, n + nheld + 1, np, ts) != CLT_OK) rc = fail("--checkpoint");
  }
  clt_release(st);
  for (int i = 0; i < nheld; i++) clt_release(ts[n + i]);
  free(names);
  free(np);
  free(ts);
  return rc;
}

/* Reads a checkpoint into the model and the optimizer; state gets train.state. With --distributed
 * only rank 0 reads it: resume_share hands the rest to the other ranks. */
static int checkpoint_load(const char *path, model *m, clt_optim *opt, clt_device *dev, int64_t *state) {
  clt_tensor_list *l;
  if (clt_load_safetensors(path, dev, &l) != CLT_OK) return fail("--resume");
  /* the weights' dtype tells a --precision fp64 run's checkpoint from the others' (float32
   * masters for fp32, bf16 and fp16): resuming across it would convert them silently */
  int rc = 0;
  clt_tensor *w0 = model_size(m) ? clt_tensor_list_find(l, model_names(m)[0]) : NULL;
  if (w0 && clt_dtype_of(w0) != clt_dtype_of(model_tensors(m)[0])) {
    bool f64 = clt_dtype_of(w0) == CLT_FLOAT64;
    fprintf(stderr, "%s: --resume %s holds %s weights (%s); this run's are %s\n", who, path, f64 ? "float64" : "float32",
            f64 ? "saved by --precision fp64" : "not saved by --precision fp64", f64 ? "float32" : "float64");
    rc = 1;
  }
  clt_release(w0);
  if (!rc) rc = model_load_list(m, l, path, "--resume");
  clt_tensor *st = rc ? NULL : clt_tensor_list_find(l, "train.state");
  if (!rc && (!st || clt_numel(st) != CK_LEN || clt_dtype_of(st) != CLT_INT64)) {
    fprintf(stderr, "%s: --resume %s: no train.state: not a checkpoint of clt-train's\n", who, path);
    rc = 1;
  }
  if (!rc && clt_to_host(st, state, CK_LEN * sizeof *state) != CLT_OK) rc = fail("--resume");
  clt_release(st);
  for (int i = 0; i < model_size(m) && !rc; i++) {
    clt_tensor *s[2];
    for (int j = 0; j < 2; j++) {
      char sn[64];
      state_name(sn, sizeof sn, m, i, j);
      s[j] = clt_tensor_list_find(l, sn); /* NULL: none, as before the first step */
    }
    if (clt_optim_set_state(opt, i, s[0], s[1]) != CLT_OK) rc = fail("--resume");
    clt_release(s[0]);
    clt_release(s[1]);
  }
  if (!rc && clt_optim_set_steps(opt, state[CK_STEPS]) != CLT_OK) rc = fail("--resume");
  clt_tensor_list_release(l);
  return rc;
}

/* With --distributed: rank 0 read the checkpoint (ok says whether it could); every rank gets
 * train.state and the optimizer's state from it (the weights come with clt_ddp_create). */
static int resume_share(clt_dist *dist, model *m, clt_optim *opt, clt_device *dev, bool ok, int64_t *state) {
  int n = model_size(m), rank = clt_dist_rank(dist), len = 1 + CK_LEN + 2 * n;
  int64_t *head = calloc((size_t)len, sizeof *head); /* ok, train.state, then which buffers rank 0 has */
  if (!head) return complain("out of memory");
  int rc = 0;
  head[0] = ok;
  if (rank == 0 && ok) {
    memcpy(head + 1, state, CK_LEN * sizeof *state);
    for (int i = 0; i < n && !rc; i++) {
      clt_tensor *s[2];
      if (clt_optim_get_state(opt, i, &s[0], &s[1]) != CLT_OK) {
        rc = fail("--resume");
        break;
      }
      head[1 + CK_LEN + 2 * i] = s[0] != NULL;
      head[2 + CK_LEN + 2 * i] = s[1] != NULL;
      clt_release(s[0]);
      clt_release(s[1]);
    }
  }
  clt_tensor *h = rc ? NULL : clt_from_host(dev, CLT_INT64, CLT_SHAPE(len), head);
  if (!rc && !(h && clt_dist_broadcast(dist, h, 0) == CLT_OK && clt_to_host(h, head, (size_t)len * sizeof *head) == CLT_OK))
    rc = fail("--resume");
  clt_release(h);
  if (!rc && !head[0]) rc = 1; /* rank 0 said why */
  if (!rc) memcpy(state, head + 1, CK_LEN * sizeof *state);
  for (int i = 0; i < n && !rc; i++) {
    clt_tensor *s[2] = {NULL, NULL}, *p = model_tensors(m)[i];
    if (rank == 0 && clt_optim_get_state(opt, i, &s[0], &s[1]) != CLT_OK) rc = fail("--resume");
    for (int j = 0; j < 2 && !rc; j++) {
      if (!head[1 + CK_LEN + 2 * i + j]) continue;
      if (rank != 0 && !(s[j] = clt_zeros(dev, clt_dtype_of(p), clt_ndim(p), clt_shape(p)))) rc = fail("--resume");
      else if (clt_dist_broadcast(dist, s[j], 0) != CLT_OK) rc = fail("--resume");
    }
    if (!rc && rank != 0 && clt_optim_set_state(opt, i, s[0], s[1]) != CLT_OK) rc = fail("--resume");
    clt_release(s[0]);
    clt_release(s[1]);
  }
  if (!rc && clt_optim_set_steps(opt, state[CK_STEPS]) != CLT_OK) rc = fail("--resume");
  free(head);
  return rc;
}

/* The loss's dtype: float32 (from 16-bit logits too, as autocast), float64 with fp64. */
static clt_dtype loss_type(clt_dtype precision) { return precision == CLT_FLOAT64 ? CLT_FLOAT64 : CLT_FLOAT32; }

/* Loss and correct predictions over a whole split, without recording. */
static int evaluate(const model *m, clt_dtype precision, clt_tensor *x, clt_tensor *y, double *loss, double *acc) {
  clt_no_grad_begin();
  clt_scope_begin();
  clt_tensor *logits = clt_cast(model_forward_as(m, x, precision), loss_type(precision));
  clt_tensor *l = clt_cross_entropy(logits, y, CLT_REDUCTION_MEAN);
  clt_tensor *hits = clt_sum(clt_eq(clt_argmax(logits, CLT_DIMS(1), false), y), CLT_ALL_DIMS, false);
  double h = 0;
  int rc = (l && hits && clt_item(l, loss) == CLT_OK && clt_item(hits, &h) == CLT_OK) ? 0 : fail("evaluating");
  *acc = h / (double)clt_size(y, 0);
  clt_scope_end();
  clt_no_grad_end();
  return rc;
}

/* ---- --plot: the run's curves as a hand-written SVG ----------------------------------------- */

enum { H_LOSS, H_TEST_LOSS, H_TRAIN_ACC, H_TEST_ACC, H_LEN }; /* per-epoch history, H_LEN per epoch */

/* One panel: axes, ticks and a polyline per series (an id each, so a test or a script can find
 * them), x the epochs first..first + n - 1, y from lo to hi. */
static void plot_panel(FILE *f, double x0, const char *title, const double *h, int n, int first, const int *series,
                       const char *const *ids, const char *const *labels, int nseries, double lo, double hi) {
  const double w = 380, top = 50, ht = 260, left = x0 + 55;
  const char *colors[] = {"#1f77b4", "#ff7f0e"};
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\">%s</text>\n", left + w / 2, top - 12,
          title);
  fprintf(f, "<path d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" stroke=\"#444\"/>\n", left, top, top + ht, left + w);
  for (int t = 0; t <= 4; t++) { /* five y ticks */
    double v = lo + (hi - lo) * t / 4, y = top + ht - ht * t / 4;
    fprintf(f, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#ddd\"/>\n", left, y, left + w);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n", left - 5, y + 4, v);
  }
  int last = first + n - 1;
  for (int t = 0; t <= 4 && n > 1; t++) { /* epoch ticks */
    int e = first + (last - first) * t / 4;
    double x = left + w * (e - first) / (n - 1);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%d</text>\n", x, top + ht + 16, e);
  }
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n", left + w / 2,
          top + ht + 34);
  for (int s = 0; s < nseries; s++) {
    fprintf(f, "<polyline id=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", ids[s], colors[s]);
    for (int i = 0; i < n; i++) {
      double v = h[i * H_LEN + series[s]], y = top + ht - ht * (fmin(fmax(v, lo), hi) - lo) / (hi - lo);
      fprintf(f, "%s%.1f,%.1f", i ? " " : "", n > 1 ? left + w * i / (n - 1) : left + w / 2, y);
    }
    fprintf(f, "\"/>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"%s\">%s</text>\n", left + w - 90,
            top + 16 + 16 * s, colors[s], labels[s]);
  }
}

/* The loss (training and test) and the accuracy (training and test) per epoch, side by side. */
static int write_plot(const char *path, const char *title, const double *h, int n, int first) {
  FILE *f = fopen(path, "w");
  if (!f) return complain("cannot write %s", path);
  double lmax = 0, amin = 1;
  for (int i = 0; i < n; i++) {
    lmax = fmax(lmax, fmax(h[i * H_LEN + H_LOSS], h[i * H_LEN + H_TEST_LOSS]));
    amin = fmin(amin, fmin(h[i * H_LEN + H_TRAIN_ACC], h[i * H_LEN + H_TEST_ACC]));
  }
  if (!(lmax > 0) || !isfinite(lmax)) lmax = 1;
  amin = floor(amin * 10) / 10; /* accuracy axis from a round value below the lowest to 1 */
  if (amin >= 1) amin = 0.9;
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"380\" viewBox=\"0 0 900 380\" "
             "font-family=\"sans-serif\">\n<rect width=\"900\" height=\"380\" fill=\"white\"/>\n"
             "<text x=\"450\" y=\"18\" font-size=\"13\" text-anchor=\"middle\">");
  for (const char *c = title; *c; c++) /* the title names the device, which may hold & or < */
    if (*c == '&' || *c == '<' || *c == '>') fputs(*c == '&' ? "&amp;" : *c == '<' ? "&lt;" : "&gt;", f);
    else fputc(*c, f);
  fprintf(f, "</text>\n");
  plot_panel(f, 0, "loss", h, n, first, (const int[]){H_LOSS, H_TEST_LOSS}, (const char *const[]){"loss", "test_loss"},
             (const char *const[]){"training", "test"}, 2, 0, lmax * 1.05);
  plot_panel(f, 450, "accuracy", h, n, first, (const int[]){H_TRAIN_ACC, H_TEST_ACC},
             (const char *const[]){"train_acc", "test_acc"}, (const char *const[]){"training", "test"}, 2, amin, 1);
  fprintf(f, "</svg>\n");
  return fclose(f) == 0 ? 0 : complain("cannot write %s", path);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double now(void) { return tool_now(); }

static void progress(int epoch, int epochs, int64_t done, int64_t total) {
  const int width = 30;
  int fill = (int)(width * done / (total ? total : 1));
  fprintf(stdout, "\repoch %3d/%d [%.*s%*s] %3d%%", epoch, epochs, fill, "==============================",
          width - fill, "", (int)(100 * done / (total ? total : 1)));
  fflush(stdout);
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc == 1) {
    usage(stdout);
    return 0;
  }
  if (rc) return 2;
  /* With --distributed every rank runs this program on its share of each batch: rank 0 talks. */
  clt_dist *dist = NULL;
  int rank = 0, world = 1;
  if (o.distributed) {
    if (clt_dist_init(&argc, &argv, &dist) != CLT_OK) return fail("--distributed");
    rank = clt_dist_rank(dist);
    world = clt_dist_size(dist);
    snprintf(who, sizeof who, "clt-train (rank %d of %d)", rank, world);
    if (o.timeout > 0 && clt_dist_set_timeout(dist, o.timeout) != CLT_OK) return fail("--timeout");
    if (rank != 0) o.json = false, o.quiet = true, o.log = NULL, o.save = NULL, o.checkpoint = NULL, o.plot = NULL;
  }
  clt_device *dev;
  if (clt_device_open(o.device, &dev) != CLT_OK) return fail("opening the device");
  clt_device_info info;
  clt_device_get_info(dev, &info);

  dataset d = {0};
  rc = o.x_path ? load_npy_xy(&o, &d) : load_digits(&d);
  int64_t *order = rc ? NULL : malloc((size_t)d.n * sizeof *order);
  if (!rc && !order) rc = complain("out of memory");
  uint64_t rng = o.seed * 0x2545F4914F6CDD1DULL + 1;
  int64_t n_test = (int64_t)llround((double)d.n * o.test_fraction), n_train = d.n - n_test;
  if (!rc && (n_test < 1 || n_train < 1)) rc = complain("--test-fraction leaves an empty split");
  if (!rc) {
    stratified_split(&d, order, n_test, &rng);
    normalize(&d, order, n_train, o.normalize == NORM_DEFAULT ? (o.x_path ? NORM_STANDARD : NORM_NONE) : (int)o.normalize);
  }

  clt_scope_begin(); /* every tensor not kept explicitly is released at the end */
  clt_manual_seed(o.seed);
  int64_t sizes[MAX_LAYERS + 1];
  int nsizes = 0;
  sizes[nsizes++] = d.f;
  for (int i = 0; i < o.nhidden; i++) sizes[nsizes++] = o.hidden[i];
  sizes[nsizes++] = d.classes;
  model m = {0};
  clt_tensor *xtr = NULL, *ytr = NULL, *xte = NULL, *yte = NULL;
  if (!rc && model_init(&m, o.model, dev, sizes, nsizes) != CLT_OK) rc = fail("initialising the model");
  if (!rc && o.precision == CLT_FLOAT64 && model_cast(&m, CLT_FLOAT64) != CLT_OK) rc = fail("--precision fp64");
  if (!rc && o.load) rc = model_load(&m, o.load, dev); /* converted to the parameters' dtype */
  if (!rc) rc = upload(dev, &d, order, n_train, &xtr, &ytr);
  if (!rc) rc = upload(dev, &d, order + n_train, n_test, &xte, &yte);
  clt_optim *opt = NULL;
  if (!rc) {
    clt_optim_config cfg = clt_optim_defaults(o.optim);
    cfg.lr = o.lr;
    if (clt_optim_create(&cfg, model_size(&m), model_tensors(&m), &opt) != CLT_OK) rc = fail("creating the optimizer");
  }
  /* fp16 scales the loss so that small gradients do not flush to zero in float16; bfloat16 has
   * float32's range, and fp32 and bf16 get a disabled scaler: plain optimizer steps. A --resume
   * starts from the first scale again (checkpoints keep no scaler state). */
  clt_grad_scaler *scaler = NULL;
  if (!rc) {
    clt_grad_scaler_config sc = clt_grad_scaler_defaults();
    sc.enabled = o.precision == CLT_FLOAT16;
    if (o.loss_scale > 0) sc.init_scale = o.loss_scale;
    if (clt_grad_scaler_create(&sc, &scaler) != CLT_OK) rc = fail("--loss-scale");
  }
  /* The batches' order: one stream from the seed, any epoch's made directly (clt_dist_shard). */
  uint64_t brng = o.seed * 0x9E3779B97F4A7C15ULL + 7;
  int64_t ck[CK_LEN] = {0}, start = 0; /* epochs done before this run */
  if (!rc && o.resume) {
    bool ok = rank != 0 || checkpoint_load(o.resume, &m, opt, dev, ck) == 0;
    if (ok && rank == 0 && (ck[CK_SEED] != (int64_t)o.seed || ck[CK_BATCH] != o.batch || ck[CK_SAMPLES] != n_train))
      ok = !complain("--resume %s was saved by a run with seed %lld, batch %lld and %lld training samples, not %llu, %d and %lld",
                     o.resume, (long long)ck[CK_SEED], (long long)ck[CK_BATCH], (long long)ck[CK_SAMPLES],
                     (unsigned long long)o.seed, o.batch, (long long)n_train);
    rc = dist ? resume_share(dist, &m, opt, dev, ok, ck) : !ok;
    start = ck[CK_EPOCH];
  }
  clt_ddp *ddp = NULL;
  if (!rc && dist) {
    clt_ddp_options dopt = {.bucket_bytes = (size_t)(o.bucket_mb * 1048576.0)};
    if (clt_ddp_create(dist, model_size(&m), model_tensors(&m), &dopt, &ddp) != CLT_OK) rc = fail("--distributed");
  }
  FILE *log = NULL;
  if (!rc && o.log && !(log = fopen(o.log, "w"))) rc = complain("cannot write %s", o.log);
  if (log) fprintf(log, "epoch,loss,train_acc,test_acc,samples_per_s,seconds\n");
  bool tty = tool_isatty(stdout) && !o.json && !o.quiet;
  if (!rc && !o.quiet) {
    char arch[128] = "", ranks[64] = "", desc[128];
    for (int i = 0; i < nsizes; i++) snprintf(arch + strlen(arch), sizeof arch - strlen(arch), i ? "-%lld" : "%lld", (long long)sizes[i]);
    model_describe(&m, desc, sizeof desc);
    if (dist) snprintf(ranks, sizeof ranks, " on %d ranks (global)", world);
    if (o.json)
      printf("{\"device\": \"%s\", \"device_name\": \"%s\", \"model\": \"%s\", \"train\": %lld, \"test\": %lld, "
             "\"world_size\": %d, \"start_epoch\": %lld, \"precision\": \"%s\"}\n",
             info.spec, info.name, o.model == MODEL_MLP ? arch : model_name(o.model), (long long)n_train, (long long)n_test, world,
             (long long)start, precision_name(o.precision));
    else
      printf("clt-train: %s on %s (%s), %lld training and %lld test samples, %s lr %g, batch %d%s%s%s\n", desc, info.spec,
             info.name, (long long)n_train, (long long)n_test,
             o.optim == CLT_OPTIM_SGD ? "SGD" : o.optim == CLT_OPTIM_ADAM ? "Adam" : "AdamW", o.lr, o.batch, ranks,
             o.precision == CLT_FLOAT16   ? ", float16 (float32 weights, loss scaling)"
             : o.precision == CLT_BFLOAT16 ? ", bfloat16 (float32 weights)"
             : o.precision == CLT_FLOAT64  ? ", float64"
                                           : "",
             o.resume ? ", resumed" : "");
    if (o.resume && !o.json) printf("resuming after epoch %lld\n", (long long)start);
  }

  int64_t nbatches = (n_train + o.batch - 1) / o.batch;
  int64_t *perm = malloc((size_t)(n_train > 0 ? n_train : 1) * sizeof *perm);
  int64_t *counts = malloc((size_t)(nbatches > 0 ? nbatches : 1) * sizeof *counts);
  double *epoch_s = malloc((size_t)(o.epochs > 0 ? o.epochs : 1) * sizeof *epoch_s);
  double *hist = malloc((size_t)(o.epochs > 0 ? o.epochs : 1) * H_LEN * sizeof *hist);
  if (!rc && (!perm || !counts || !epoch_s || !hist)) rc = complain("out of memory");
  double t_train = 0, test_acc = 0, train_acc = 0, last_loss = 0, test_loss = 0;
  int64_t steps = 0, trained = 0, skipped = 0;
  for (int epoch = (int)start + 1; epoch <= o.epochs && !rc; epoch++) {
    /* this rank's part of every batch of the epoch's permutation (all of it for one process) */
    if (clt_dist_shard(n_train, o.batch, brng, epoch - 1, rank, world, perm, counts) != CLT_OK) {
      rc = fail("starting an epoch");
      break;
    }
    int64_t n_local = 0;
    for (int64_t b = 0; b < nbatches; b++) n_local += counts[b];
    clt_tensor *pt = clt_from_host(dev, CLT_INT64, CLT_SHAPE(n_local), perm);
    clt_tensor *loss_sum = clt_zeros(dev, loss_type(o.precision), 0, NULL);
    if (!pt || !loss_sum) {
      rc = fail("starting an epoch");
      break;
    }
    double t0 = now();
    for (int64_t b = 0, s = 0, e = 0; b < nbatches && !rc; b++, s = e) {
      int64_t len = n_train - b * o.batch < o.batch ? n_train - b * o.batch : o.batch; /* the global batch */
      e = s + counts[b];
      clt_scope_begin();
      clt_tensor *idx = clt_slice(pt, 0, s, e, 1);
      clt_tensor *xb = clt_index_select(xtr, 0, idx), *yb = clt_index_select(ytr, 0, idx);
      /* the loss in float32 from 16-bit logits, as autocast computes it */
      clt_tensor *logits = clt_cast(model_forward_as(&m, xb, o.precision), loss_type(o.precision)), *loss, *part;
      if (ddp) {
        /* The sum over this rank's samples times world / len: its mean over the ranks (what
         * clt_ddp_backward takes) is the global batch's mean loss, whatever each rank's share. */
        part = clt_cross_entropy(logits, yb, CLT_REDUCTION_SUM);
        loss = clt_mul_scalar(part, (double)world / (double)len);
      } else {
        loss = clt_cross_entropy(logits, yb, CLT_REDUCTION_MEAN);
        part = clt_mul_scalar(loss, (double)len);
      }
      clt_tensor *scaled = clt_grad_scaler_scale(scaler, loss);
      bool stepped = true;
      if (!loss || !part || !scaled || clt_optim_zero_grad(opt) != CLT_OK ||
          (ddp ? clt_ddp_backward(ddp, scaled, NULL) : clt_backward(scaled, NULL)) != CLT_OK ||
          clt_grad_scaler_step(scaler, opt, &stepped) != CLT_OK || clt_grad_scaler_update(scaler) != CLT_OK)
        rc = fail("training");
      else {
        skipped += !stepped;
        clt_no_grad_begin(); /* the epoch's loss stays on the device until the end of the epoch */
        clt_add_(loss_sum, part);
        clt_no_grad_end();
      }
      clt_scope_end();
      steps++;
      if (tty) progress(epoch, o.epochs, b * o.batch + len, n_train);
    }
    double sum = 0;
    if (!rc && dist && clt_dist_allreduce(dist, loss_sum, CLT_DIST_SUM) != CLT_OK) rc = fail("summing the loss");
    if (!rc && clt_item(loss_sum, &sum) != CLT_OK) rc = fail("reading the loss");
    double dt = now() - t0;
    t_train += dt;
    epoch_s[trained++] = dt;
    clt_release(pt);
    clt_release(loss_sum);
    if (rc) break;
    last_loss = sum / (double)n_train;
    if (o.checkpoint) {
      int64_t state[CK_LEN] = {[CK_EPOCH] = epoch, [CK_STEPS] = clt_optim_steps(opt), [CK_SEED] = (int64_t)o.seed,
                               [CK_BATCH] = o.batch, [CK_SAMPLES] = n_train};
      if ((rc = checkpoint_save(o.checkpoint, &m, opt, dev, state)) != 0) break;
    }
    if (rank != 0) continue; /* the others go on to the next epoch's first allreduce */
    if (evaluate(&m, o.precision, xtr, ytr, &(double){0}, &train_acc) || evaluate(&m, o.precision, xte, yte, &test_loss, &test_acc)) {
      rc = 1;
      break;
    }
    double sps = (double)n_train / dt, *hr = hist + (trained - 1) * H_LEN;
    hr[H_LOSS] = last_loss, hr[H_TEST_LOSS] = test_loss, hr[H_TRAIN_ACC] = train_acc, hr[H_TEST_ACC] = test_acc;
    if (log) fprintf(log, "%d,%.6f,%.6f,%.6f,%.1f,%.4f\n", epoch, last_loss, train_acc, test_acc, sps, dt);
    if (o.json && !o.quiet)
      printf("{\"epoch\": %d, \"loss\": %.6f, \"train_acc\": %.6f, \"test_acc\": %.6f, \"samples_per_s\": %.1f, "
             "\"seconds\": %.4f}\n", epoch, last_loss, train_acc, test_acc, sps, dt);
    else if (!o.quiet)
      printf("%sepoch %3d/%d  loss %.4f  train %.1f%%  test %.1f%%  %.0f samples/s\n", tty ? "\r" : "", epoch, o.epochs,
             last_loss, 100 * train_acc, 100 * test_acc, sps);
  }
  if (!rc && trained == 0 && rank == 0) rc = evaluate(&m, o.precision, xte, yte, &test_loss, &test_acc);
  if (!rc && o.save) rc = model_save(&m, o.save);
  if (!rc && o.plot) {
    char title[512], desc[128];
    model_describe(&m, desc, sizeof desc);
    snprintf(title, sizeof title, "clt-train: %s on %s (%s), seed %llu", desc, info.spec, info.name,
             (unsigned long long)o.seed);
    rc = write_plot(o.plot, title, hist, (int)trained, (int)start + 1);
  }
  if (!rc && rank == 0) {
    double ms = steps ? 1000.0 * t_train / (double)steps : 0, steady = ms;
    if (trained >= 3) { /* the median epoch after the first (which compiles the kernels) */
      qsort(epoch_s + 1, (size_t)trained - 1, sizeof *epoch_s, cmp_double);
      steady = 1000.0 * epoch_s[1 + (trained - 1) / 2] / (double)nbatches;
    }
    char ranks[160] = ""; /* with --distributed: where rank 0's backward time went */
    clt_ddp_stats ds;
    if (ddp && clt_ddp_get_stats(ddp, &ds) == CLT_OK)
      snprintf(ranks, sizeof ranks, ", \"buckets\": %d, \"backward_seconds\": %.4f, \"allreduce_wait_seconds\": %.4f",
               clt_ddp_buckets(ddp), ds.backward_s, ds.wait_s);
    char scaled[96] = ""; /* fp16: what the loss scaler did */
    if (o.precision == CLT_FLOAT16)
      snprintf(scaled, sizeof scaled, "; loss scale %g, %lld steps skipped", clt_grad_scaler_get_scale(scaler),
               (long long)skipped);
    if (o.json)
      printf("{\"summary\": true, \"device\": \"%s\", \"device_name\": \"%s\", \"epochs\": %d, \"steps\": %lld, "
             "\"train_seconds\": %.4f, \"ms_per_step\": %.4f, \"steady_ms_per_step\": %.4f, \"final_loss\": %.9g, "
             "\"test_loss\": %.9g, \"test_acc\": %.6f, \"train_acc\": %.6f, \"world_size\": %d, "
             "\"precision\": \"%s\", \"loss_scale\": %.17g, \"skipped_steps\": %lld%s}\n",
             info.spec, info.name, o.epochs, (long long)steps, t_train, ms, steady, last_loss, test_loss, test_acc,
             train_acc, world, precision_name(o.precision), clt_grad_scaler_get_scale(scaler), (long long)skipped, ranks);
    else
      printf("done on %s (%s)%s: %d epochs, %lld steps in %.2f s (%.3f ms per step, %.3f after the first epoch); "
             "final loss %.4f, test accuracy %.2f%%%s\n",
             info.spec, info.name, dist ? ", rank 0" : "", o.epochs, (long long)steps, t_train, ms, steady, last_loss,
             100 * test_acc, scaled);
  }
  if (log) fclose(log);
  free(perm);
  free(counts);
  free(epoch_s);
  free(hist);
  clt_ddp_release(ddp);
  clt_grad_scaler_release(scaler);
  clt_optim_release(opt);
  model_free(&m);
  clt_release(xtr);
  clt_release(ytr);
  clt_release(xte);
  clt_release(yte);
  clt_scope_end();
  free(order);
  dataset_free(&d);
  clt_device_release(dev);
  /* After a failure the job must end: without MPI_Finalize (which would wait for the other
   * ranks), mpirun ends the other ranks at once. */
  if (!rc) clt_dist_release(dist);
  return rc;
}
