/* Differential suite against PyTorch, without PyTorch: every case of tests/torch_refs/ (written by
 * tools/make_torch_refs.py with PyTorch in float64) runs on every device, in float32 and float64
 * where the case says, and its result's dtype, shape and values and its gradients must match.
 *
 * A case is one clt call (elementwise, scalar form, comparison, logical, where, cast, reduction,
 * softmax, indexing, matmul, loss, linear) on small inputs loaded from .npy files; the views each
 * input takes (transpose, permute, slice with a step, expand, ...) are built here from the
 * manifest, so the case goes through clt's strided paths. Cases where PyTorch raises must fail
 * in clt too. The gradient checked is that of sum(out * g) for the case's fixed random g, so every
 * element of the result counts.
 *
 * Tolerances. An element passes when it equals the expected value (NaN matches NaN; in cases
 * marked "sz", where PyTorch's signed zeros are deliberate (abs, neg, copies, where, ...), a zero
 * result must have the expected sign), or when both are finite and
 *     |got - want| <= rtol max(|want|, tiny) + atol max|want'|
 * where tiny is the dtype's smallest normal number (subnormal results are held to the ulps of the
 * smallest normal ones) and max|want'| is taken over the finite expected elements of that tensor
 * (a normwise bound, for sums only). Float32 runs compare with the float64 reference rounded to
 * float32. u = 2^-24 (float32), 2^-53 (float64):
 *
 *   class    float32 rtol, atol     float64 rtol, atol   used for
 *   exact    0                      0                    moves, selections, comparisons, integer
 *                                                         results, max/min, neg, abs, relu, clamp
 *   arith    8u (4 ulp), 0          8u (4 ulp), 0        add sub mul div sqrt square reciprocal
 *                                                         leaky_relu, their gradients
 *   transc   32u (16 ulp), 0        1e-12, 0             exp log sin tanh sigmoid gelu pow ...
 *   red      128u, 128u             1e-12, 1e-12         reductions, softmax, matmul, losses,
 *                                                         linear, and every gradient that sums
 *                                                         several result elements (broadcast or
 *                                                         expanded inputs)
 *
 * Where PyTorch's own float32 result is outside these bounds (a float32 formula that loses digits,
 * e.g. tanh's gradient near saturation), the generator also stored it ("alt"), and a float32
 * element may instead equal it or be no further from the reference than it is (plus the bound).
 * Integer and bool results, dtypes and shapes must match exactly; so must the presence of each
 * gradient.
 *
 * Manifest (tests/torch_refs/manifest.txt), one case per block:
 *   case NAME FAMILY OP [KEY=VALUE ...]    the clt call and its arguments (dims=0,2 keep=1 s=2.5
 *                                          corr=1.0 dim=1|all p0= p1= red=mean nc=5 dtype=int32)
 *   tol CLASS GRAD_CLASS [sz]
 *   runs f32 f64 | f64 | -                 the dtype of the "F" inputs in each run; - : none
 *   in FILE DTYPE|F grad|nograd [VIEW ARGS...]...   one line per input, views applied in order
 *   out FILE DTYPE_PER_RUN... | out error  expected result (float64 for float results)
 *   g FILE                                 the cotangent, float64
 *   grad INPUT FILE                        d sum(out * g) / d input (float64)
 *   alt RUN out|grad INPUT FILE            PyTorch's own float32 answer where it differs
 *   end
 * Views: transpose D0 D1, permute P..., slice DIM START STOP STEP, expand SIZES..., unsqueeze D,
 * squeeze D, reshape SIZES..., flatten START END.
 *
 * CLT_TORCH_REFS_ONLY=TEXT runs only the cases whose name contains TEXT (to work on one bug). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <float.h>
#include <stdarg.h>
#include <stdio.h>

#include "optable.h"
#include "tu.h"

enum { MAX_IN = 4, MAX_ARGS = 6, MAX_ALT = 6 };

typedef enum { TOL_EXACT, TOL_ARITH, TOL_TRANSC, TOL_RED, TOL_COUNT } tol_class;
static const char *const tol_names[TOL_COUNT] = {"exact", "arith", "transc", "red"};
#define U32 (1.0 / 16777216.0)
#define U64 (1.0 / 9007199254740992.0)
/* [class][float32, float64][rtol, normwise atol]: the table of the header comment */
static const double tol_table[TOL_COUNT][2][2] = {
    {{0, 0}, {0, 0}},
    {{8 * U32, 0}, {8 * U64, 0}},
    {{32 * U32, 0}, {1e-12, 0}},
    {{128 * U32, 128 * U32}, {1e-12, 1e-12}},
};

/* Every family the generator writes; a case of a family missing here would never run. */
static const char *const families[] = {"unary", "binary", "scalar", "compare", "logical", "where", "cast",
                                       "reduce", "softmax", "index", "matmul", "loss", "linear", "errors"};
#define NFAMILIES ((int)(sizeof families / sizeof *families))

typedef struct {
  const char *file;
  int dtype; /* a clt_dtype, or -1: the run's float dtype */
  bool grad;
  const char *views; /* the rest of the line, parsed when the case runs */
  const char *grad_file;
} ref_input;

typedef struct {
  int run, input; /* input -1: the result */
  const char *file;
} ref_alt;

typedef struct {
  const char *name, *family, *op;
  const char *args[MAX_ARGS];
  int nargs;
  int tol, grad_tol;
  bool sz;
  int nruns;
  int run_dtype[2]; /* CLT_FLOAT32, CLT_FLOAT64, or -1 (no F inputs) */
  ref_input in[MAX_IN];
  int nin;
  bool error;
  const char *out, *g;
  clt_dtype out_dtype[2];
  ref_alt alt[MAX_ALT];
  int nalt;
} ref_case;

static char *manifest;     /* the manifest's text, tokenised in place */
static ref_case *cases;
static int ncases;
static char refs_dir[4096];
static char parse_error[512]; /* set when the manifest could not be read */

/* ---- reading the manifest ---------------------------------------------------------------- */

static char *next_token(char **p) {
  while (**p == ' ') (*p)++;
  if (!**p) return NULL;
  char *t = *p;
  while (**p && **p != ' ') (*p)++;
  if (**p) *(*p)++ = '\0';
  return t;
}

static int dtype_named(const char *s) {
  for (int d = 0; s && d < CLT_DTYPE_COUNT; d++)
    if (strcmp(s, clt_dtype_name((clt_dtype)d)) == 0) return d;
  return -1;
}

static int tol_named(const char *s) {
  for (int k = 0; k < TOL_COUNT; k++)
    if (strcmp(s, tol_names[k]) == 0) return k;
  return -1;
}

static int run_index(const ref_case *c, const char *run) {
  int dt = strcmp(run, "f32") == 0 ? CLT_FLOAT32 : strcmp(run, "f64") == 0 ? CLT_FLOAT64 : -1;
  for (int r = 0; r < c->nruns; r++)
    if (c->run_dtype[r] == dt) return r;
  return -2;
}

static bool bad(int lineno, const char *fmt, ...) {
  int o = snprintf(parse_error, sizeof parse_error, "manifest line %d: ", lineno);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(parse_error + o, sizeof parse_error - (size_t)o, fmt, ap);
  va_end(ap);
  return false;
}

/* One manifest line into c; false (and parse_error) for anything malformed. */
static bool parse_line(char *line, ref_case *c, int lineno) {
  char *p = line, *key = next_token(&p);
#define BAD(...) bad(lineno, __VA_ARGS__)
  if (!key || key[0] == '#' || strcmp(key, "seed") == 0) return true;
  if (strcmp(key, "case") == 0) {
    memset(c, 0, sizeof *c);
    c->name = next_token(&p), c->family = next_token(&p), c->op = next_token(&p);
    if (!c->op) return BAD("case needs a name, a family and an op");
    for (char *a; (a = next_token(&p));) {
      if (c->nargs == MAX_ARGS) return BAD("too many arguments");
      c->args[c->nargs++] = a;
    }
    return true;
  }
  if (!c->name) return BAD("'%s' outside a case", key);
  if (strcmp(key, "tol") == 0) {
    char *a = next_token(&p), *b = next_token(&p), *s = next_token(&p);
    c->tol = a ? tol_named(a) : -1, c->grad_tol = b ? tol_named(b) : -1;
    c->sz = s && strcmp(s, "sz") == 0;
    return c->tol >= 0 && c->grad_tol >= 0 ? true : BAD("unknown tolerance class");
  }
  if (strcmp(key, "runs") == 0) {
    for (char *r; (r = next_token(&p));) {
      if (c->nruns == 2) return BAD("more than two runs");
      c->run_dtype[c->nruns++] = strcmp(r, "f32") == 0 ? CLT_FLOAT32 : strcmp(r, "f64") == 0 ? CLT_FLOAT64 : -1;
    }
    return c->nruns ? true : BAD("no runs");
  }
  if (strcmp(key, "in") == 0) {
    if (c->nin == MAX_IN) return BAD("too many inputs");
    ref_input *in = &c->in[c->nin++];
    char *dt = (in->file = next_token(&p)) ? next_token(&p) : NULL, *g = dt ? next_token(&p) : NULL;
    if (!g) return BAD("in needs a file, a dtype and grad or nograd");
    in->dtype = strcmp(dt, "F") == 0 ? -1 : dtype_named(dt);
    if (in->dtype == -1 && strcmp(dt, "F") != 0) return BAD("unknown dtype %s", dt);
    in->grad = strcmp(g, "grad") == 0;
    in->views = p;
    return true;
  }
  if (strcmp(key, "out") == 0) {
    char *f = next_token(&p);
    if (!f) return BAD("out needs a file");
    if (strcmp(f, "error") == 0) return c->error = true;
    c->out = f;
    for (int r = 0; r < c->nruns; r++) {
      char *d = next_token(&p);
      int dt = d ? dtype_named(d) : -1;
      if (dt < 0) return BAD("out needs a dtype per run");
      c->out_dtype[r] = (clt_dtype)dt;
    }
    return true;
  }
  if (strcmp(key, "g") == 0) return (c->g = next_token(&p)) ? true : BAD("g needs a file");
  if (strcmp(key, "grad") == 0) {
    char *i = next_token(&p), *f = i ? next_token(&p) : NULL;
    int k = i ? atoi(i) : -1;
    if (!f || k < 0 || k >= c->nin) return BAD("grad needs an input index and a file");
    c->in[k].grad_file = f;
    return true;
  }
  if (strcmp(key, "alt") == 0) {
    char *run = next_token(&p), *what = run ? next_token(&p) : NULL;
    if (!what || c->nalt == MAX_ALT) return BAD("bad alt");
    ref_alt *a = &c->alt[c->nalt++];
    a->run = run_index(c, run), a->input = -1;
    if (strcmp(what, "grad") == 0) {
      char *i = next_token(&p);
      a->input = i ? atoi(i) : -1;
    }
    a->file = next_token(&p);
    return a->file && a->run >= 0 ? true : BAD("bad alt");
  }
  if (strcmp(key, "end") == 0) return true;
  return BAD("unknown line '%s'", key);
#undef BAD
}

static bool known_family(const char *f) {
  for (int k = 0; k < NFAMILIES; k++)
    if (strcmp(f, families[k]) == 0) return true;
  return false;
}

/* Reads $CLT_TORCH_REFS/manifest.txt; on failure parse_error says why (the suite then fails). */
static void load_manifest(void) {
  const char *dir = getenv("CLT_TORCH_REFS");
  if (!dir || !*dir) {
    snprintf(parse_error, sizeof parse_error, "CLT_TORCH_REFS is not set (tests/meson.build sets it)");
    return;
  }
  snprintf(refs_dir, sizeof refs_dir, "%s", dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/manifest.txt", dir);
  FILE *f = fopen(path, "rb");
  long len = -1;
  if (f && fseek(f, 0, SEEK_END) == 0) len = ftell(f);
  if (len < 0 || fseek(f, 0, SEEK_SET) != 0 || !(manifest = malloc((size_t)len + 1)) ||
      fread(manifest, 1, (size_t)len, f) != (size_t)len) {
    snprintf(parse_error, sizeof parse_error, "cannot read %.400s", path);
    if (f) fclose(f);
    return;
  }
  fclose(f);
  manifest[len] = '\0';
  int cap = 0, lineno = 0;
  ref_case cur = {0};
  for (char *line = manifest, *nl; line && *line; line = nl) {
    if ((nl = strchr(line, '\n'))) *nl++ = '\0';
    lineno++;
    if (!parse_line(line, &cur, lineno)) return;
    if (strncmp(line, "end", 3) == 0) {
      if (!known_family(cur.family)) {
        snprintf(parse_error, sizeof parse_error, "case %s: unknown family %s", cur.name, cur.family);
        return;
      }
      if (ncases == cap) {
        ref_case *grown = realloc(cases, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *cases);
        if (!grown) {
          snprintf(parse_error, sizeof parse_error, "out of memory");
          return;
        }
        cases = grown;
      }
      cases[ncases++] = cur;
      memset(&cur, 0, sizeof cur);
    }
  }
}

static void free_manifest(void) {
  free(cases);
  free(manifest);
}

/* ---- case arguments ---------------------------------------------------------------------- */

static const char *arg(const ref_case *c, const char *key) {
  size_t n = strlen(key);
  for (int k = 0; k < c->nargs; k++)
    if (strncmp(c->args[k], key, n) == 0 && c->args[k][n] == '=') return c->args[k] + n + 1;
  return NULL;
}

static double arg_f(const ref_case *c, const char *key) {
  const char *v = arg(c, key);
  return v ? strtod(v, NULL) : 0;
}

static int arg_i(const ref_case *c, const char *key) { return (int)arg_f(c, key); }

/* "dims=0,-1" into dims; returns the count (0: every dim). */
static int arg_dims(const ref_case *c, int *dims) {
  const char *v = arg(c, "dims");
  int n = 0;
  for (char *e; v && *v && n < CLT_MAX_DIMS; v = *e ? e + 1 : e) dims[n++] = (int)strtol(v, &e, 10);
  return n;
}

static clt_reduction arg_reduction(const ref_case *c) {
  const char *r = arg(c, "red");
  return r && strcmp(r, "sum") == 0 ? CLT_REDUCTION_SUM : r && strcmp(r, "none") == 0 ? CLT_REDUCTION_NONE
                                                                                      : CLT_REDUCTION_MEAN;
}

/* ---- views ------------------------------------------------------------------------------- */

static clt_tensor *view_permute(clt_tensor *t, int n, const int *dims) { return clt_permute(t, n, dims); }

static clt_tensor *call_argminmax(clt_tensor *x, const char *dim, bool keep, bool min) {
  int nd = !dim || strcmp(dim, "all") == 0 ? 0 : 1, d = nd ? atoi(dim) : 0;
  return min ? clt_argmin(x, nd, &d, keep) : clt_argmax(x, nd, &d, keep);
}

/* Applies the view list ("transpose 0 1 slice 0 1 7 2") to t. */
static clt_tensor *apply_views(clt_tensor *t, const char *views) {
  const char *p = views;
  while (t && *p) {
    while (*p == ' ') p++;
    if (!*p) break;
    char op[16] = {0};
    int n = 0;
    while (isalpha((unsigned char)*p) && n < 15) op[n++] = *p++;
    int64_t a[CLT_MAX_DIMS + 2];
    int na = 0;
    for (char *e;; p = e) {
      while (*p == ' ') p++;
      if (!(*p == '-' || isdigit((unsigned char)*p)) || na == CLT_MAX_DIMS + 2) break;
      a[na++] = strtoll(p, &e, 10);
    }
    int ia[CLT_MAX_DIMS];
    for (int k = 0; k < na && k < CLT_MAX_DIMS; k++) ia[k] = (int)a[k];
    if (strcmp(op, "transpose") == 0 && na == 2) t = clt_transpose(t, ia[0], ia[1]);
    else if (strcmp(op, "permute") == 0) t = view_permute(t, na, ia);
    else if (strcmp(op, "slice") == 0 && na == 4) t = clt_slice(t, ia[0], a[1], a[2], a[3]);
    else if (strcmp(op, "expand") == 0) t = clt_expand(t, na, a);
    else if (strcmp(op, "unsqueeze") == 0 && na == 1) t = clt_unsqueeze(t, ia[0]);
    else if (strcmp(op, "squeeze") == 0 && na == 1) t = clt_squeeze(t, ia[0]);
    else if (strcmp(op, "reshape") == 0) t = clt_reshape(t, na, a);
    else if (strcmp(op, "flatten") == 0 && na == 2) t = clt_flatten(t, ia[0], ia[1]);
    else ck_abort_msg("unknown view '%s' with %d arguments", op, na);
  }
  return t;
}

/* ---- the clt call of each op ------------------------------------------------------------- */

#define EW_UNARY(name, v, rule, params, g, dom, doc) {#name, CLT_OP_##name, 1},
#define EW_BINARY(name, v, rule, forms, ga, gb, gs, gr, da, db, doc) {#name, CLT_OP_##name, 2},
static const struct {
  const char *name;
  clt_op op;
  int arity;
} ew_ops[] = {CLT_UNARY_OPS(EW_UNARY) CLT_BINARY_OPS(EW_BINARY)};
#undef EW_UNARY
#undef EW_BINARY

static int ew_lookup(const char *name, size_t len, int arity) {
  for (size_t k = 0; k < sizeof ew_ops / sizeof *ew_ops; k++)
    if (ew_ops[k].arity == arity && strlen(ew_ops[k].name) == len && strncmp(ew_ops[k].name, name, len) == 0) return (int)k;
  return -1;
}

/* The reductions; *known false for any other op. */
static clt_tensor *call_reduction(const ref_case *c, clt_tensor *x, bool *known) {
  int dims[CLT_MAX_DIMS], nd = arg_dims(c, dims);
  bool keep = arg_i(c, "keep") != 0;
  const int *d = nd ? dims : NULL;
  static const struct {
    const char *name;
    clt_tensor *(*fn)(clt_tensor *, int, const int *, bool);
  } plain[] = {{"sum", clt_sum}, {"mean", clt_mean}, {"prod", clt_prod},
               {"max", clt_max}, {"min", clt_min},   {"logsumexp", clt_logsumexp}};
  for (size_t k = 0; k < sizeof plain / sizeof *plain; k++)
    if (strcmp(c->op, plain[k].name) == 0) return *known = true, plain[k].fn(x, nd, d, keep);
  *known = true;
  if (strcmp(c->op, "var") == 0) return clt_var(x, nd, d, arg_f(c, "corr"), keep);
  if (strcmp(c->op, "std") == 0) return clt_std(x, nd, d, arg_f(c, "corr"), keep);
  if (strcmp(c->op, "argmax") == 0 || strcmp(c->op, "argmin") == 0)
    return call_argminmax(x, arg(c, "dim"), keep, strcmp(c->op, "argmin") == 0);
  *known = false;
  return NULL;
}

static clt_tensor *call_loss(const ref_case *c, clt_tensor *const *x) {
  static const struct {
    const char *name;
    clt_tensor *(*fn)(clt_tensor *, clt_tensor *, clt_reduction);
  } losses[] = {{"mse_loss", clt_mse_loss},
                {"l1_loss", clt_l1_loss},
                {"cross_entropy", clt_cross_entropy},
                {"nll_loss", clt_nll_loss},
                {"binary_cross_entropy_with_logits", clt_binary_cross_entropy_with_logits}};
  for (size_t k = 0; k < sizeof losses / sizeof *losses; k++)
    if (strcmp(c->op, losses[k].name) == 0) return losses[k].fn(x[0], x[1], arg_reduction(c));
  return NULL;
}

/* The case's clt call on its (viewed) inputs; aborts the test for an op this file does not know. */
static clt_tensor *call_op(const ref_case *c, clt_tensor *const *x) {
  const char *op = c->op;
  size_t len = strlen(op);
  int k;
  if (len > 7 && strcmp(op + len - 7, "_scalar") == 0) {
    double s = arg_f(c, "s");
    if (strcmp(op, "rsub_scalar") == 0) return clt_rsub_scalar(x[0], s);
    if (strcmp(op, "rdiv_scalar") == 0) return clt_rdiv_scalar(x[0], s);
    if (strcmp(op, "rpow_scalar") == 0) return clt_rpow_scalar(x[0], s);
    if ((k = ew_lookup(op, len - 7, 2)) >= 0) return clt_binary_scalar(ew_ops[k].op, x[0], s);
  }
  if ((k = ew_lookup(op, len, 1)) >= 0) return clt_unary(ew_ops[k].op, x[0], arg_f(c, "p0"), arg_f(c, "p1"));
  if ((k = ew_lookup(op, len, 2)) >= 0) return clt_binary(ew_ops[k].op, x[0], x[1]);
  if (strcmp(op, "logical_not") == 0) return clt_logical_not(x[0]);
  if (strcmp(op, "where") == 0) return clt_where(x[0], x[1], x[2]);
  if (strcmp(op, "cast") == 0) return clt_cast(x[0], (clt_dtype)dtype_named(arg(c, "dtype")));
  bool known = false;
  clt_tensor *r = call_reduction(c, x[0], &known);
  if (known) return r;
  if (strcmp(op, "softmax") == 0) return clt_softmax(x[0], arg_i(c, "dim"));
  if (strcmp(op, "log_softmax") == 0) return clt_log_softmax(x[0], arg_i(c, "dim"));
  if (strcmp(op, "matmul") == 0) return clt_matmul(x[0], x[1]);
  if (strcmp(op, "linear") == 0) return clt_linear(x[0], x[1], c->nin > 2 ? x[2] : NULL);
  if (strcmp(op, "cat") == 0) return clt_cat(c->nin, x, arg_i(c, "dim"));
  if (strcmp(op, "stack") == 0) return clt_stack(c->nin, x, arg_i(c, "dim"));
  if (strcmp(op, "index_select") == 0) return clt_index_select(x[0], arg_i(c, "dim"), x[1]);
  if (strcmp(op, "gather") == 0) return clt_gather(x[0], arg_i(c, "dim"), x[1]);
  if (strcmp(op, "scatter_add") == 0) return clt_scatter_add(x[0], arg_i(c, "dim"), x[1], x[2]);
  if (strcmp(op, "one_hot") == 0) return clt_one_hot(x[0], arg_i(c, "nc"));
  r = call_loss(c, x);
  if (!r && clt_last_status() == CLT_OK) ck_abort_msg("case %s: this suite does not know op %s", c->name, op);
  return r;
}

/* ---- comparing --------------------------------------------------------------------------- */

typedef struct {
  const ref_case *c;
  int run;
  clt_device *dev;
  int nfail;
  char first[1024];
} checker;

static void record_failure(checker *k, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char line[1024];
  const char *run = k->c->run_dtype[k->run] < 0 ? "" : clt_dtype_name((clt_dtype)k->c->run_dtype[k->run]);
  snprintf(line, sizeof line, "case %s (%s %s%s%s) on %s: %s", k->c->name, k->c->family, k->c->op, *run ? ", " : "",
           run, clt_device_spec(k->dev), msg);
  fprintf(stderr, "torch_refs: FAIL %s\n", line);
  if (k->nfail++ == 0) snprintf(k->first, sizeof k->first, "%s", line);
}

/* Records a failure and leaves the function. */
#define FAIL_RET(...)  \
  do {                 \
    record_failure(__VA_ARGS__); \
    return;            \
  } while (0)

static clt_tensor *load(const char *file) {
  char path[4400];
  snprintf(path, sizeof path, "%s/data/%s", refs_dir, file);
  clt_tensor *t = NULL;
  if (clt_load_npy(path, NULL, &t) != CLT_OK) ck_abort_msg("cannot load %s: %s", path, clt_last_error());
  return t;
}

/* Elements as doubles (NULL, with the error, when the copy fails). */
static double *values(const clt_tensor *t) {
  int64_t n = clt_numel(t);
  size_t es = clt_dtype_size(clt_dtype_of(t));
  unsigned char *raw = malloc((size_t)(n ? n : 1) * es);
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  if (raw && v && clt_to_host(t, raw, (size_t)n * es) == CLT_OK) {
    for (int64_t i = 0; i < n; i++) v[i] = clt__load_f64(clt_dtype_of(t), raw + (size_t)i * es);
  } else {
    free(v);
    v = NULL;
  }
  free(raw);
  return v;
}

/* The tolerance of the header comment: tiny is the dtype's smallest normal number, so that
 * subnormal results are held to the same number of ulps as the smallest normal ones. */
static bool element_ok(double got, double want, double rtol, double atol, double tiny, bool sz) {
  if (isnan(got) || isnan(want)) return isnan(got) && isnan(want);
  if (got == want) return !sz || want != 0 || signbit(got) == signbit(want);
  return isfinite(got) && isfinite(want) && fabs(got - want) <= rtol * fmax(fabs(want), tiny) + atol;
}

/* With PyTorch's own float32 answer alt: equal to it, or no further from the reference than it
 * is, give or take the tolerance. */
static bool alt_ok(double got, double want, double alt, double rtol, double atol, double tiny, bool sz) {
  if (element_ok(got, alt, rtol, atol, tiny, sz)) return true;
  return isfinite(got) && isfinite(want) && isfinite(alt) &&
         fabs(got - want) <= rtol * fmax(fabs(want), tiny) + atol + fabs(alt - want);
}

static void index_str(char *buf, size_t len, const clt_tensor *t, int64_t i) {
  int nd = clt_ndim(t);
  int64_t idx[CLT_MAX_DIMS];
  for (int d = nd - 1; d >= 0; d--) {
    int64_t s = clt_shape(t)[d];
    idx[d] = s ? i % s : 0;
    i = s ? i / s : 0;
  }
  size_t o = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < nd && o < len; d++) o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? "," : "", (long long)idx[d]);
  if (o < len) snprintf(buf + o, len - o, "]");
}

static void shape_str(char *buf, size_t len, const clt_tensor *t) {
  size_t o = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < clt_ndim(t) && o < len; d++)
    o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? "," : "", (long long)clt_shape(t)[d]);
  if (o < len) snprintf(buf + o, len - o, "]");
}

/* got against want (the reference file, float64 for floats, rounded here to dtype), or against
 * alt (PyTorch's own float32 answer) when there is one. */
static void compare(checker *k, const char *what, const clt_tensor *got, const clt_tensor *want, const clt_tensor *alt,
                    clt_dtype dtype, int tol, bool sz) {
  char a[128], b[128];
  if (clt_dtype_of(got) != dtype)
    FAIL_RET(k, "%s has dtype %s, PyTorch's %s", what, clt_dtype_name(clt_dtype_of(got)), clt_dtype_name(dtype));
  bool same_shape = clt_ndim(got) == clt_ndim(want);
  for (int d = 0; same_shape && d < clt_ndim(got); d++) same_shape = clt_shape(got)[d] == clt_shape(want)[d];
  shape_str(a, sizeof a, got), shape_str(b, sizeof b, want);
  if (!same_shape) FAIL_RET(k, "%s has shape %s, PyTorch's %s", what, a, b);
  double *g = values(got), *w = values(want), *al = alt ? values(alt) : NULL;
  if (!g || !w || (alt && !al)) {
    record_failure(k, "%s: cannot read the values: %s", what, clt_last_error());
  } else {
    int64_t n = clt_numel(got);
    bool f32 = dtype == CLT_FLOAT32, fl = clt_dtype_is_float(dtype);
    double rtol = fl ? tol_table[tol][!f32][0] : 0, atol = fl ? tol_table[tol][!f32][1] : 0;
    double scale = 0, alt_scale = 0;
    for (int64_t i = 0; i < n; i++) {
      if (f32) w[i] = (double)(float)w[i];
      if (isfinite(w[i])) scale = fmax(scale, fabs(w[i]));
      if (al && isfinite(al[i])) alt_scale = fmax(alt_scale, fabs(al[i]));
    }
    double tiny = f32 ? FLT_MIN : DBL_MIN;
    int64_t bad = -1, nbad = 0;
    for (int64_t i = 0; i < n; i++)
      if (!element_ok(g[i], w[i], rtol, atol * scale, tiny, sz) &&
          !(al && alt_ok(g[i], w[i], al[i], rtol, atol * fmax(scale, alt_scale), tiny, sz)) && nbad++ == 0)
        bad = i;
    if (nbad) {
      index_str(a, sizeof a, got, bad);
      char alt_text[64] = "";
      if (al) snprintf(alt_text, sizeof alt_text, " (PyTorch float32: %.9g)", al[bad]);
      record_failure(k, "%s%s: got %.17g, PyTorch %.17g%s [tol %s]; %lld of %lld elements differ", what, a, g[bad],
                     w[bad], alt_text, tol_names[tol], (long long)nbad, (long long)n);
    }
  }
  free(g);
  free(w);
  free(al);
}

static const clt_tensor *find_alt(const ref_case *c, int run, int input, clt_tensor **loaded) {
  for (int a = 0; a < c->nalt; a++)
    if (c->alt[a].run == run && c->alt[a].input == input) return *loaded = load(c->alt[a].file);
  return NULL;
}

/* ---- running a case ---------------------------------------------------------------------- */

static bool needs_fp64(const ref_case *c, int run) {
  if (c->run_dtype[run] == CLT_FLOAT64) return true;
  for (int i = 0; i < c->nin; i++)
    if (c->in[i].dtype == CLT_FLOAT64) return true;
  return false;
}

static void run_case(checker *k) {
  const ref_case *c = k->c;
  clt_device *dev = k->dev;
  clt_tensor *leaf[MAX_IN], *x[MAX_IN];
  clt_clear_error();
  for (int i = 0; i < c->nin; i++) {
    clt_tensor *t = load(c->in[i].file);
    int dt = c->in[i].dtype < 0 ? c->run_dtype[k->run] : c->in[i].dtype;
    if (clt_dtype_of(t) != (clt_dtype)dt) t = clt_cast(t, (clt_dtype)dt);
    leaf[i] = clt_to(t, dev);
    if (!leaf[i]) FAIL_RET(k, "input %d: %s", i, clt_last_error());
    if (c->in[i].grad && clt_set_requires_grad(leaf[i], true) != CLT_OK)
      FAIL_RET(k, "input %d: requires_grad: %s", i, clt_last_error());
    if (!(x[i] = apply_views(leaf[i], c->in[i].views)))
      FAIL_RET(k, "input %d: views '%s': %s", i, c->in[i].views, clt_last_error());
  }
  clt_tensor *out = call_op(c, x);
  if (c->error) {
    char s[128];
    if (out) shape_str(s, sizeof s, out);
    if (out) FAIL_RET(k, "PyTorch raises, clt returned a %s tensor of shape %s", clt_dtype_name(clt_dtype_of(out)), s);
    clt_clear_error();
    return;
  }
  if (!out) FAIL_RET(k, "clt failed where PyTorch did not: %s", clt_last_error());
  clt_tensor *alt = NULL;
  compare(k, "result", out, load(c->out), find_alt(c, k->run, -1, &alt), c->out_dtype[k->run], c->tol, c->sz);
  if (!c->g) return;
  if (!clt_requires_grad(out)) FAIL_RET(k, "the result does not require grad; PyTorch's does");
  clt_tensor *g = clt_to(clt_cast(load(c->g), clt_dtype_of(out)), dev);
  if (!g) FAIL_RET(k, "the cotangent: %s", clt_last_error());
  if (clt_backward(out, g) != CLT_OK) FAIL_RET(k, "backward: %s", clt_last_error());
  for (int i = 0; i < c->nin; i++) {
    if (!c->in[i].grad_file) continue;
    clt_tensor *gr = clt_grad(leaf[i]);
    char what[32];
    snprintf(what, sizeof what, "grad of input %d", i);
    if (!gr) {
      record_failure(k, "%s: none; PyTorch has one", what);
      continue;
    }
    compare(k, what, gr, load(c->in[i].grad_file), find_alt(c, k->run, i, &alt), clt_dtype_of(leaf[i]), c->grad_tol,
            false);
  }
}

/* Runs every case of one family on one device; loop index = family * devices + device. */
START_TEST(family_matches_pytorch) {
  ck_assert_msg(!parse_error[0], "%s", parse_error);
  const char *family = families[_i / tu_ndev];
  clt_device *dev = tu_dev[_i % tu_ndev];
  clt_device_info info;
  ck_assert_int_eq(clt_device_get_info(dev, &info), CLT_OK);
  const char *only = getenv("CLT_TORCH_REFS_ONLY");
  int runs = 0, skipped = 0, nfail = 0;
  char first[1024] = "";
  for (int n = 0; n < ncases; n++) {
    if (strcmp(cases[n].family, family) != 0 || (only && !strstr(cases[n].name, only))) continue;
    for (int r = 0; r < cases[n].nruns; r++) {
      if (!info.fp64 && needs_fp64(&cases[n], r)) {
        skipped++;
        continue;
      }
      checker k = {.c = &cases[n], .run = r, .dev = dev};
      clt_scope_begin();
      run_case(&k);
      clt_scope_end();
      clt_clear_error();
      runs++;
      if (k.nfail && !nfail++) snprintf(first, sizeof first, "%s", k.first);
    }
  }
  fprintf(stderr, "torch_refs: %s on %s: %d runs, %d failed%s\n", family, clt_device_spec(dev), runs, nfail,
          skipped ? " (float64 runs skipped: the device has no fp64)" : "");
  ck_assert_msg(runs > 0 || only, "no case of family %s ran", family);
  ck_assert_msg(nfail == 0, "%d of %d %s runs differ from PyTorch on %s; the first: %s", nfail, runs, family,
                clt_device_spec(dev), first);
}
END_TEST

/* Every family has cases and the manifest reads: a missing or truncated directory fails here. */
START_TEST(manifest_is_complete) {
  ck_assert_msg(!parse_error[0], "%s", parse_error);
  for (int f = 0; f < NFAMILIES; f++) {
    int n = 0;
    for (int k = 0; k < ncases; k++) n += strcmp(cases[k].family, families[f]) == 0;
    ck_assert_msg(n > 0, "no case of family %s in %s/manifest.txt", families[f], refs_dir);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("torch_refs");
  TCase *tc = tu_tcase("torch_refs");
  tcase_add_test(tc, manifest_is_complete);
  tcase_add_loop_test(tc, family_matches_pytorch, 0, NFAMILIES * tu_ndev);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  load_manifest();
  int rc = tu_main(suite, TU_MANY_KERNELS);
  free_manifest();
  return rc;
}
