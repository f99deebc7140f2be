/* sort, argsort, topk, cumsum, cumprod, masked_fill, split, chunk, pad, flip, randperm, randint,
 * bernoulli, the *_like constructors and the scalar in-place forms: against naive loops here,
 * clt_gradcheck, PyTorch's answers (tests/fixtures/train_ops_refs.txt, from
 * tools/make_train_ops_refs.py), their errors and every fault point of a workload. */
#include <stdio.h>

#include "tu.h"

static char fixture_path[512];

/* ---- helpers ---------------------------------------------------------------------------- */

static double *pattern(int64_t n, int seed, int levels) {
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = (double)((i * 7919 + seed * 104729) % levels) - levels / 2;
  return v;
}

/* ---- naive references ------------------------------------------------------------------- */

/* Whether a goes strictly before b in an ascending (descending) sort; NaN greatest. */
static bool ref_before(double a, double b, bool desc) {
  if (isnan(a) || isnan(b)) return desc ? isnan(a) && !isnan(b) : !isnan(a) && isnan(b);
  return desc ? a > b : a < b;
}

/* Stable insertion sort of each slice along dim d of v (shape): values and indices. */
static void ref_sort(int nd, const int64_t *shape, int d, const double *v, bool desc, double *vals, int64_t *idx) {
  int64_t n = shape[d], A = tu_prod(d, shape), B = tu_prod(nd - d - 1, shape + d + 1);
  int64_t *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  for (int64_t a = 0; a < A; a++)
    for (int64_t b = 0; b < B; b++) {
      for (int64_t r = 0; r < n; r++) {
        int64_t j = r;
        while (j > 0 && ref_before(v[(a * n + r) * B + b], v[(a * n + p[j - 1]) * B + b], desc)) {
          p[j] = p[j - 1];
          j--;
        }
        p[j] = r;
      }
      for (int64_t r = 0; r < n; r++) {
        vals[(a * n + r) * B + b] = v[(a * n + p[r]) * B + b];
        idx[(a * n + r) * B + b] = p[r];
      }
    }
  free(p);
}

/* Sequential scan along d (op 0: sum, 1: product). */
static void ref_scan(int nd, const int64_t *shape, int d, const double *v, int op, double *out) {
  int64_t n = shape[d], A = tu_prod(d, shape), B = tu_prod(nd - d - 1, shape + d + 1);
  for (int64_t a = 0; a < A; a++)
    for (int64_t b = 0; b < B; b++) {
      double acc = op ? 1 : 0;
      for (int64_t r = 0; r < n; r++) {
        double x = v[(a * n + r) * B + b];
        acc = op ? acc * x : acc + x;
        out[(a * n + r) * B + b] = acc;
      }
    }
}

/* ---- forward against naive loops, every dtype ------------------------------------------- */

static const clt_dtype all_dtypes[] = {CLT_FLOAT32, CLT_FLOAT64, CLT_INT32, CLT_INT64, CLT_UINT8, CLT_BOOL};

START_TEST(train_ops_match_naive_loops) {
  clt_device *dev = TU_DEV;
  const int64_t shape[3] = {3, 4, 6};
  int64_t n = tu_prod(3, shape);
  for (size_t di = 0; di < sizeof all_dtypes / sizeof *all_dtypes; di++) {
    clt_dtype dt = all_dtypes[di];
    double *v = pattern(n, (int)di, dt == CLT_BOOL ? 2 : 7); /* few levels: many ties */
    for (int64_t i = 0; i < n; i++)
      if (dt == CLT_UINT8 || dt == CLT_BOOL) v[i] = fabs(v[i]);
    if (dt == CLT_BOOL)
      for (int64_t i = 0; i < n; i++) v[i] = v[i] != 0;
    for (int strided = 0; strided < 2; strided++) {
      clt_scope_begin();
      clt_tensor *x = tu_make(dev, dt, 3, shape, v, strided);
      ck_assert_msg(x != NULL, "%s", clt_last_error());
      double *want = malloc((size_t)n * sizeof *want), *wi = malloc((size_t)n * sizeof *wi);
      int64_t *idx = malloc((size_t)n * sizeof *idx);
      for (int d = 0; d < 3; d++)
        for (int desc = 0; desc < 2; desc++) {
          ref_sort(3, shape, d, v, desc, want, idx);
          for (int64_t i = 0; i < n; i++) wi[i] = (double)idx[i];
          clt_tensor *ind = NULL, *y = clt_sort(x, d, desc, &ind);
          tu_check_close(y, 3, shape, want, 0, "sort values", clt_dtype_name(dt), dev);
          tu_check_close(ind, 3, shape, wi, 0, "sort indices (stable)", clt_dtype_name(dt), dev);
          ck_assert_int_eq(clt_dtype_of(y), dt);
          tu_check_close(clt_argsort(x, d - 3, desc), 3, shape, wi, 0, "argsort", clt_dtype_name(dt), dev);
          /* topk: the first k of the stable sort */
          int64_t ks[3] = {shape[0], shape[1], shape[2]}, k = shape[d] - 1;
          ks[d] = k;
          clt_tensor *ti = NULL, *tv = clt_topk(x, k, d, desc, &ti);
          double *tw = malloc((size_t)n * sizeof *tw), *twi = malloc((size_t)n * sizeof *twi);
          int64_t B = tu_prod(2 - d, shape + d + 1), A = tu_prod(d, shape), m = 0;
          for (int64_t a = 0; a < A; a++)
            for (int64_t r = 0; r < k; r++)
              for (int64_t b = 0; b < B; b++, m++) {
                tw[m] = want[(a * shape[d] + r) * B + b];
                twi[m] = wi[(a * shape[d] + r) * B + b];
              }
          tu_check_close(tv, 3, ks, tw, 0, "topk values", clt_dtype_name(dt), dev);
          tu_check_close(ti, 3, ks, twi, 0, "topk indices", clt_dtype_name(dt), dev);
          free(tw);
          free(twi);
          /* scans: integers and bool give int64 */
          for (int op = 0; op < 2; op++) {
            clt_tensor *c = op ? clt_cumprod(x, d) : clt_cumsum(x, d);
            ref_scan(3, shape, d, v, op, want);
            tu_check_close(c, 3, shape, want, dt == CLT_FLOAT32 ? 1e-5 : 1e-12, op ? "cumprod" : "cumsum", clt_dtype_name(dt), dev);
            ck_assert_int_eq(clt_dtype_of(c), clt_dtype_is_float(dt) ? dt : CLT_INT64);
          }
        }
      /* flip dims 0 and 2 */
      for (int64_t i = 0; i < n; i++) {
        int64_t a = i / 24, b = i / 6 % 4, c = i % 6;
        want[i] = v[((2 - a) * 4 + b) * 6 + (5 - c)];
      }
      tu_check_close(clt_flip(x, 2, (const int[]){0, -1}), 3, shape, want, 0, "flip", clt_dtype_name(dt), dev);
      /* pad, every mode, dims 1 and 2: the source position of each output element */
      for (int mode = 0; mode < 4; mode++) {
        const int64_t p[4] = {2, 1, 3, mode == 1 ? 2 : 3}; /* last dim (2, 1), dim 1 (3, 2 or 3) */
        int64_t os[3] = {3, 4 + p[2] + p[3], 6 + p[0] + p[1]}, on = tu_prod(3, os);
        double *pw = malloc((size_t)on * sizeof *pw);
        for (int64_t i = 0; i < on; i++) {
          int64_t a = i / (os[1] * os[2]), jb = i / os[2] % os[1] - p[2], jc = i % os[2] - p[0];
          int64_t src[2] = {jb, jc}, len[2] = {4, 6};
          bool outside = false;
          for (int k = 0; k < 2; k++) {
            int64_t q = src[k], L = len[k];
            if (mode == CLT_PAD_CONSTANT) outside = outside || q < 0 || q >= L;
            else if (mode == CLT_PAD_REFLECT) q = q < 0 ? -q : q >= L ? 2 * (L - 1) - q : q;
            else if (mode == CLT_PAD_REPLICATE) q = q < 0 ? 0 : q >= L ? L - 1 : q;
            else q = (q % L + L) % L;
            src[k] = q;
          }
          pw[i] = outside ? (dt == CLT_BOOL ? 1 : 9) : v[(a * 4 + src[0]) * 6 + src[1]];
        }
        tu_check_close(clt_pad(x, 4, p, (clt_pad_mode)mode, 9), 3, os, pw, 0, "pad", clt_dtype_name(dt), dev);
        free(pw);
      }
      /* masked_fill with a mask over the last two dims */
      double *mv = pattern(24, 5, 2);
      for (int i = 0; i < 24; i++) mv[i] = mv[i] != 0;
      clt_tensor *mask = clt_cast(clt_from_host(dev, CLT_FLOAT64, 2, (const int64_t[]){4, 6}, mv), CLT_BOOL);
      for (int64_t i = 0; i < n; i++) want[i] = mv[i % 24] ? (dt == CLT_BOOL ? 1 : 3) : v[i];
      tu_check_close(clt_masked_fill(x, mask, 3), 3, shape, want, 0, "masked_fill", clt_dtype_name(dt), dev);
      free(mv);
      free(want);
      free(wi);
      free(idx);
      clt_scope_end();
    }
    free(v);
  }
}
END_TEST

/* Large sorts: int64 keys past 2^53 compare exactly; float keys with NaN, -0 and many ties. */
START_TEST(train_ops_sort_exact_and_stable) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  int64_t big[5] = {(1LL << 60) + 1, 1LL << 60, (1LL << 60) + 3, -(1LL << 62), (1LL << 60) + 2};
  clt_tensor *b = clt_from_host(dev, CLT_INT64, 1, (const int64_t[]){5}, big);
  clt_tensor *bi = clt_argsort(b, 0, false);
  tu_assert_values(bi, 1, (const int64_t[]){5}, (const double[]){3, 1, 0, 4, 2});
  const int64_t n = 4000;
  double *v = pattern(n, 3, 5), *want = malloc((size_t)n * sizeof *want), *wi = malloc((size_t)n * sizeof *wi);
  int64_t *idx = malloc((size_t)n * sizeof *idx);
  for (int64_t i = 0; i < n; i += 97) v[i] = NAN;
  for (int64_t i = 5; i < n; i += 89) v[i] = -0.0;
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, 1, &n, NULL);
  ck_assert_ptr_null(x); /* data NULL with elements */
  clt_clear_error();
  x = clt_cast(clt_from_host(dev, CLT_FLOAT64, 1, &n, v), CLT_FLOAT32);
  for (int desc = 0; desc < 2; desc++) {
    ref_sort(1, &n, 0, v, desc, want, idx);
    for (int64_t i = 0; i < n; i++) wi[i] = (double)idx[i];
    clt_tensor *ind = NULL;
    tu_check_close(clt_sort(x, 0, desc, &ind), 1, &n, want, 0, "sort 4000", "float32", dev);
    tu_check_close(ind, 1, &n, wi, 0, "sort 4000 indices", "float32", dev);
  }
  free(v);
  free(want);
  free(wi);
  free(idx);
  clt_scope_end();
}
END_TEST

/* ---- gradients -------------------------------------------------------------------------- */

enum { G_SORT, G_TOPK, G_CUMSUM, G_CUMPROD, G_PAD_CONST, G_PAD_REFLECT, G_PAD_REPLICATE, G_PAD_CIRCULAR, G_FLIP, G_MASKED, G_SPLIT, G_COUNT };

typedef struct {
  int op;
  bool strided;
  clt_tensor *mask;
} gcase;

static clt_tensor *grad_fn(clt_tensor *const *in, void *user) {
  gcase *g = user;
  clt_tensor *x = g->strided ? clt_transpose(in[0], -1, -2) : in[0];
  switch (g->op) {
    case G_SORT: return clt_sort(x, 1, true, NULL);
    case G_TOPK: return clt_topk(x, 2, -1, false, NULL);
    case G_CUMSUM: return clt_cumsum(x, 1);
    case G_CUMPROD: return clt_cumprod(x, -1);
    case G_PAD_CONST: return clt_pad(x, 4, (const int64_t[]){1, -1, 2, 0}, CLT_PAD_CONSTANT, 0.5);
    case G_PAD_REFLECT: return clt_pad(x, 4, (const int64_t[]){2, 1, 1, 1}, CLT_PAD_REFLECT, 0);
    case G_PAD_REPLICATE: return clt_pad(x, 2, (const int64_t[]){2, 3}, CLT_PAD_REPLICATE, 0);
    case G_PAD_CIRCULAR: return clt_pad(x, 4, (const int64_t[]){3, 1, 0, 2}, CLT_PAD_CIRCULAR, 0);
    case G_FLIP: return clt_flip(x, 2, (const int[]){0, 1});
    case G_MASKED: return clt_masked_fill(x, g->mask, -4);
    default: {
      clt_tensor *p[3] = {NULL, NULL, NULL};
      if (clt_split_sizes(x, 3, (const int64_t[]){1, 3, 1}, 1, p) != CLT_OK) return NULL;
      return clt_cat(CLT_TENSORS(clt_mul_scalar(p[2], 3), p[0]), 1); /* p[1] gets no gradient */
    }
  }
}

START_TEST(train_ops_gradcheck) {
  clt_device *dev = TU_DEV;
  const int64_t shape[2] = {3, 5};
  /* distinct values (sort's order must not change under the finite differences), zeros for cumprod */
  double v[15];
  for (int i = 0; i < 15; i++) v[i] = ((i * 7) % 15 - 7) * 0.25;
  for (int op = 0; op < G_COUNT; op++)
    for (int strided = 0; strided < 2; strided++) {
      clt_scope_begin();
      double *mv = pattern(15, 2, 2);
      for (int i = 0; i < 15; i++) mv[i] = mv[i] != 0;
      gcase g = {op, strided, clt_cast(clt_from_host(dev, CLT_FLOAT64, 2, shape, mv), CLT_BOOL)};
      free(mv);
      int64_t s[2] = {strided ? shape[1] : shape[0], strided ? shape[0] : shape[1]};
      clt_tensor *in = clt_from_host(dev, CLT_FLOAT64, 2, s, v);
      ck_assert_msg(clt_gradcheck(grad_fn, &g, 1, &in, NULL) == CLT_OK, "op %d strided %d on %s: %s", op, strided,
                    clt_device_spec(dev), clt_last_error());
      clt_scope_end();
    }
}
END_TEST

/* cumprod's gradient at zeros, by hand: x = [2, 0, 3, 0, 5] (two zeros) and [2, 0, 3] (one). */
START_TEST(train_ops_cumprod_grad_at_zeros) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  const double xs[2][5] = {{2, 0, 3, 0, 5}, {2, 0, 3, 4, 5}};
  /* d/dx_j sum_i prod_{k<=i} x_k, exactly (no division) */
  for (int c = 0; c < 2; c++) {
    clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, 1, (const int64_t[]){5}, xs[c]);
    clt_set_requires_grad(x, true);
    ck_assert_int_eq(clt_backward(clt_sum(clt_cumprod(x, 0), CLT_ALL_DIMS, false), NULL), CLT_OK);
    double want[5];
    for (int j = 0; j < 5; j++) {
      want[j] = 0;
      for (int i = j; i < 5; i++) {
        double p = 1;
        for (int k = 0; k <= i; k++)
          if (k != j) p *= xs[c][k];
        want[j] += p;
      }
    }
    tu_check_close(clt_grad(x), 1, (const int64_t[]){5}, want, 0, "cumprod grad", "zeros", dev);
  }
  clt_scope_end();
}
END_TEST

/* ---- PyTorch's answers ------------------------------------------------------------------ */

typedef struct {
  int nd;
  int64_t shape[CLT_MAX_DIMS];
  double *v;
} ftensor;

enum { T_X, T_MASK, T_GY, T_Y, T_I, T_GX, T_COUNT };
static const char *const tnames[T_COUNT] = {"x", "mask", "gy", "y", "i", "gx"};

typedef struct {
  char name[64], op[16];
  int np;
  int64_t p[16];
  double value;
  ftensor t[T_COUNT];
} fcase;

static void free_case(fcase *c) {
  for (int k = 0; k < T_COUNT; k++) free(c->t[k].v);
  memset(c, 0, sizeof *c);
}

static bool read_case(FILE *f, fcase *c) {
  char line[65536];
  memset(c, 0, sizeof *c);
  while (fgets(line, sizeof line, f)) {
    char *s = line, *e;
    if (strncmp(s, "case ", 5) == 0) {
      char *last = strrchr(s, ' ');
      *last = 0;
      snprintf(c->name, sizeof c->name, "%.63s", s + 5);
      snprintf(c->op, sizeof c->op, "%.15s", last + 1);
      c->op[strcspn(c->op, "\n")] = 0;
    } else if (s[0] == 'p') {
      c->np = (int)strtol(s + 1, &e, 10);
      for (int i = 0; i < c->np; i++) c->p[i] = strtoll(e, &e, 10);
    } else if (s[0] == 'v') {
      c->value = strtod(s + 1, NULL);
    } else if (s[0] == 't') {
      s += 2;
      int k = 0;
      while (k < T_COUNT && !(strncmp(s, tnames[k], strlen(tnames[k])) == 0 && s[strlen(tnames[k])] == ' ')) k++;
      ck_assert_msg(k < T_COUNT, "unknown tensor line: %s", line);
      ftensor *t = &c->t[k];
      t->nd = (int)strtol(s + strlen(tnames[k]), &e, 10);
      for (int d = 0; d < t->nd; d++) t->shape[d] = strtoll(e, &e, 10);
      int64_t n = tu_prod(t->nd, t->shape);
      t->v = malloc((size_t)(n ? n : 1) * sizeof *t->v);
      for (int64_t i = 0; i < n; i++) t->v[i] = strtod(e, &e);
    } else if (strncmp(s, "end", 3) == 0) {
      return true;
    }
  }
  return false;
}

/* The case's op on x; *ind gets the indices where the op gives them. */
static clt_tensor *run_case(const fcase *c, clt_tensor *x, clt_tensor *mask, clt_tensor **ind) {
  const int64_t *p = c->p;
  if (!strcmp(c->op, "sort")) return clt_sort(x, (int)p[0], p[1], ind);
  if (!strcmp(c->op, "argsort")) return *ind = clt_argsort(x, (int)p[0], p[1]), NULL;
  if (!strcmp(c->op, "topk")) return clt_topk(x, p[0], (int)p[1], p[2], ind);
  if (!strcmp(c->op, "cumsum")) return clt_cumsum(x, (int)p[0]);
  if (!strcmp(c->op, "cumprod")) return clt_cumprod(x, (int)p[0]);
  if (!strcmp(c->op, "pad")) return clt_pad(x, (int)p[1], p + 2, (clt_pad_mode)p[0], c->value);
  if (!strcmp(c->op, "flip")) {
    int dims[CLT_MAX_DIMS];
    for (int i = 0; i < p[0]; i++) dims[i] = (int)p[1 + i];
    return clt_flip(x, (int)p[0], dims);
  }
  if (!strcmp(c->op, "masked_fill")) return clt_masked_fill(x, mask, c->value);
  ck_abort_msg("unknown op %s", c->op);
  return NULL;
}

START_TEST(train_ops_match_pytorch) {
  clt_device *dev = TU_DEV;
  FILE *f = fopen(fixture_path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", fixture_path);
  fcase c;
  int ncases = 0;
  while (read_case(f, &c)) {
    ncases++;
    for (int dt = 0; dt < 2; dt++)
      for (int strided = 0; strided < 2; strided++) {
        clt_dtype t = dt ? CLT_FLOAT64 : CLT_FLOAT32;
        double tol = dt ? 1e-12 : 2e-6;
        clt_scope_begin();
        ftensor *fx = &c.t[T_X];
        clt_tensor *x = tu_make(dev, t, fx->nd, fx->shape, fx->v, strided);
        clt_tensor *mask = c.t[T_MASK].v ? clt_cast(tu_make(dev, CLT_FLOAT64, c.t[T_MASK].nd, c.t[T_MASK].shape, c.t[T_MASK].v, false), CLT_BOOL) : NULL;
        ck_assert_int_eq(clt_set_requires_grad(x, true), CLT_OK);
        clt_tensor *ind = NULL, *y = run_case(&c, x, mask, &ind);
        char what[96];
        snprintf(what, sizeof what, "%.63s (%s%s)", c.name, clt_dtype_name(t), strided ? ", strided" : "");
        if (c.t[T_Y].v) {
          tu_check_close(y, c.t[T_Y].nd, c.t[T_Y].shape, c.t[T_Y].v, tol, "values", what, dev);
          clt_tensor *gy = clt_cast(tu_make(dev, CLT_FLOAT64, c.t[T_GY].nd, c.t[T_GY].shape, c.t[T_GY].v, false), t);
          ck_assert_msg(clt_backward(y, gy) == CLT_OK, "%s: %s", c.name, clt_last_error());
          tu_check_close(clt_grad(x), c.t[T_GX].nd, c.t[T_GX].shape, c.t[T_GX].v, dt ? 1e-10 : 1e-5, "gradient", what, dev);
        }
        if (c.t[T_I].v) tu_check_close(ind, c.t[T_I].nd, c.t[T_I].shape, c.t[T_I].v, 0, "indices", what, dev);
        clt_scope_end();
      }
    free_case(&c);
  }
  fclose(f);
  ck_assert_msg(ncases >= 25, "only %d cases in %s", ncases, fixture_path);
}
END_TEST

/* ---- split and chunk -------------------------------------------------------------------- */

static void check_pieces(clt_tensor *x, clt_tensor **out, int n, int dim, const int64_t *sizes) {
  int64_t start = 0;
  double *xv = tu_values(x);
  for (int i = 0; i < n; i++) {
    ck_assert_ptr_nonnull(out[i]);
    ck_assert_msg(clt_shares_storage(out[i], x), "piece %d is not a view", i);
    ck_assert_int_eq(clt_shape(out[i])[dim], sizes[i]);
    double *pv = tu_values(out[i]);
    /* x is [4, L]: along dim 1 a piece is columns start .., along dim 0 rows */
    int64_t rows = clt_shape(out[i])[0], cols = clt_shape(out[i])[1], L = clt_shape(x)[1];
    for (int64_t r = 0; r < rows; r++)
      for (int64_t k = 0; k < cols; k++)
        ck_assert_msg(pv[r * cols + k] == xv[(dim ? r : start + r) * L + (dim ? start + k : k)], "piece %d element (%lld, %lld)",
                      i, (long long)r, (long long)k);
    free(pv);
    start += sizes[i];
  }
  free(xv);
}

START_TEST(train_ops_split_and_chunk) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  double v[28];
  for (int i = 0; i < 28; i++) v[i] = i;
  clt_tensor *x = tu_make(dev, CLT_FLOAT32, 2, (const int64_t[]){4, 7}, v, true), *out[8];
  int n = -1;
  ck_assert_int_eq(clt_split(x, 3, 1, NULL, 0, &n), CLT_OK); /* the count only */
  ck_assert_int_eq(n, 3);
  ck_assert_int_eq(clt_split(x, 3, -1, out, 8, &n), CLT_OK);
  ck_assert_int_eq(n, 3);
  check_pieces(x, out, 3, 1, (const int64_t[]){3, 3, 1});
  ck_assert_int_eq(clt_split(x, 3, 1, out, 2, &n), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_split", "3 pieces", "room for 2");
  ck_assert_ptr_null(out[0]);
  ck_assert_int_eq(clt_split_sizes(x, 3, (const int64_t[]){2, 0, 5}, 1, out), CLT_OK);
  check_pieces(x, out, 3, 1, (const int64_t[]){2, 0, 5});
  ck_assert_int_eq(clt_split_sizes(x, 2, (const int64_t[]){3, 1}, 0, out), CLT_OK);
  check_pieces(x, out, 2, 0, (const int64_t[]){3, 1});
  ck_assert_int_eq(clt_chunk(x, 4, 1, out, &n), CLT_OK); /* 7 in 4 chunks: 2, 2, 2, 1 */
  ck_assert_int_eq(n, 4);
  check_pieces(x, out, 4, 1, (const int64_t[]){2, 2, 2, 1});
  ck_assert_int_eq(clt_chunk(x, 3, 0, out, &n), CLT_OK); /* 4 in 3 chunks: 2, 2 (torch.chunk) */
  ck_assert_int_eq(n, 2);
  check_pieces(x, out, 2, 0, (const int64_t[]){2, 2});
  ck_assert_ptr_null(out[2]);
  clt_tensor *e = clt_zeros(dev, CLT_FLOAT32, 2, (const int64_t[]){2, 0});
  ck_assert_int_eq(clt_split(e, 2, 1, out, 8, &n), CLT_OK);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(clt_chunk(e, 3, 1, out, &n), CLT_OK);
  ck_assert_int_eq(n, 3);
  ck_assert_int_eq(clt_numel(out[2]), 0);
  clt_scope_end();
}
END_TEST

/* Empty tensors and 0-d ones: every op gives the shapes PyTorch gives. */
START_TEST(train_ops_empty_and_0d) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *e = clt_zeros(dev, CLT_FLOAT32, 2, (const int64_t[]){0, 3}), *ind = NULL;
  ck_assert_int_eq(clt_numel(clt_sort(e, 0, false, &ind)), 0);
  ck_assert_int_eq(clt_numel(ind), 0);
  ck_assert_int_eq(clt_numel(clt_topk(e, 2, 1, true, NULL)), 0);
  ck_assert_int_eq(clt_numel(clt_cumsum(e, 0)), 0);
  ck_assert_int_eq(clt_numel(clt_cumprod(e, 1)), 0);
  ck_assert_int_eq(clt_numel(clt_flip(e, 1, (const int[]){0})), 0);
  clt_tensor *p = clt_pad(e, 4, (const int64_t[]){1, 0, 1, 1}, CLT_PAD_CONSTANT, 7);
  tu_assert_values(p, 2, (const int64_t[]){2, 4}, (const double[]){7, 7, 7, 7, 7, 7, 7, 7});
  ck_assert_ptr_null(clt_pad(e, 4, (const int64_t[]){0, 0, 1, 1}, CLT_PAD_REPLICATE, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_pad", "replicate", "empty");
  clt_tensor *z = clt_full(dev, CLT_FLOAT64, 0, NULL, 2.5);
  clt_set_requires_grad(z, true);
  clt_tensor *s = clt_sort(z, 0, true, &ind), *k = clt_topk(z, 1, -1, true, NULL);
  tu_assert_values(s, 0, NULL, (const double[]){2.5});
  tu_assert_values(ind, 0, NULL, (const double[]){0});
  tu_assert_values(clt_argsort(z, 0, false), 0, NULL, (const double[]){0});
  tu_assert_values(clt_cumprod(z, 0), 0, NULL, (const double[]){2.5});
  tu_assert_values(clt_flip(z, 1, (const int[]){0}), 0, NULL, (const double[]){2.5});
  ck_assert_int_eq(clt_backward(clt_add(clt_mul_scalar(s, 2), clt_cumsum(k, -1)), NULL), CLT_OK);
  tu_assert_values(clt_grad(z), 0, NULL, (const double[]){3});
  clt_scope_end();
}
END_TEST

/* ---- random ----------------------------------------------------------------------------- */

static uint64_t ref_word64(uint64_t seed, uint64_t counter) {
  const uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0, 0}, key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  uint32_t w[4];
  clt__philox4x32(ctr, key, w);
  return (uint64_t)w[0] << 32 | w[1];
}

START_TEST(train_ops_random) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  /* randperm: Fisher-Yates from blocks offset + i, a permutation */
  const int64_t n = 50;
  clt_manual_seed(7);
  clt_rng_set_state(7, 3);
  clt_tensor *p = clt_randperm(dev, CLT_INT32, n);
  double want[64];
  int64_t perm[64];
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(ref_word64(7, 3 + (uint64_t)i) % (uint64_t)(i + 1)), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (int64_t i = 0; i < n; i++) want[i] = (double)perm[i];
  tu_assert_values(p, 1, &n, want);
  ck_assert_int_eq(clt_dtype_of(p), CLT_INT32);
  uint64_t seed, off;
  clt_rng_get_state(&seed, &off);
  ck_assert_msg(seed == 7 && off == 3 + (uint64_t)n, "generator at (%llu, %llu)", (unsigned long long)seed, (unsigned long long)off);
  bool seen[64] = {false};
  for (int64_t i = 0; i < n; i++) seen[perm[i]] = true;
  for (int64_t i = 0; i < n; i++) ck_assert(seen[i]);
  ck_assert_int_eq(clt_numel(clt_randperm(dev, CLT_INT64, 0)), 0);
  /* randint in [-3, 4) */
  clt_tensor *r = clt_randint(dev, CLT_INT64, -3, 4, 2, (const int64_t[]){4, 5});
  for (int i = 0; i < 20; i++) want[i] = (double)(-3 + (int64_t)(ref_word64(7, off + (uint64_t)i) % 7));
  tu_assert_values(r, 2, (const int64_t[]){4, 5}, want);
  clt_tensor *rf = clt_randint(dev, CLT_FLOAT32, 0, 2, 1, (const int64_t[]){8});
  ck_assert_int_eq(clt_dtype_of(rf), CLT_FLOAT32);
  /* bernoulli: rand_like(p) < p with the same generator state */
  double pv[12];
  for (int i = 0; i < 12; i++) pv[i] = i / 11.0;
  clt_tensor *pr = clt_from_host(dev, CLT_FLOAT64, 1, (const int64_t[]){12}, pv);
  clt_rng_set_state(11, 0);
  clt_tensor *b = clt_bernoulli(pr);
  clt_rng_set_state(11, 0);
  clt_tensor *u = clt_rand_like(pr);
  double *uv = tu_values(u);
  for (int i = 0; i < 12; i++) want[i] = uv[i] < pv[i];
  free(uv);
  tu_assert_values(b, 1, (const int64_t[]){12}, want);
  ck_assert_double_eq(want[0], 0);
  ck_assert_double_eq(want[11], 1);
  /* the *_like constructors */
  clt_tensor *t = tu_make(dev, CLT_FLOAT32, 2, (const int64_t[]){2, 3}, pv, true);
  tu_assert_values(clt_zeros_like(t), 2, (const int64_t[]){2, 3}, (const double[]){0, 0, 0, 0, 0, 0});
  tu_assert_values(clt_ones_like(t), 2, (const int64_t[]){2, 3}, (const double[]){1, 1, 1, 1, 1, 1});
  tu_assert_values(clt_full_like(t, 2.5), 2, (const int64_t[]){2, 3}, (const double[]){2.5, 2.5, 2.5, 2.5, 2.5, 2.5});
  clt_tensor *em = clt_empty_like(t);
  ck_assert(em && clt_dtype_of(em) == CLT_FLOAT32 && clt_numel(em) == 6 && clt_device_of(em) == clt_device_of(t));
  clt_rng_set_state(5, 9);
  clt_tensor *rl = clt_randn_like(t);
  clt_rng_set_state(5, 9);
  clt_tensor *rn = clt_randn(dev, CLT_FLOAT32, 2, (const int64_t[]){2, 3});
  double *a1 = tu_values(rl);
  tu_assert_values(rn, 2, (const int64_t[]){2, 3}, a1);
  free(a1);
  clt_scope_end();
}
END_TEST

/* ---- in-place scalar forms -------------------------------------------------------------- */

START_TEST(train_ops_inplace_scalar) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *f = clt_from_host(dev, CLT_FLOAT64, 1, (const int64_t[]){3}, (const double[]){1, 2, 4});
  ck_assert_int_eq(clt_add_scalar_(f, 0.1), CLT_OK);
  ck_assert_int_eq(clt_mul_scalar_(f, 3), CLT_OK);
  ck_assert_int_eq(clt_sub_scalar_(f, 1), CLT_OK);
  ck_assert_int_eq(clt_div_scalar_(f, 0.5), CLT_OK);
  tu_assert_values(f, 1, (const int64_t[]){3},
                   (const double[]){((1 + 0.1) * 3 - 1) / 0.5, ((2 + 0.1) * 3 - 1) / 0.5, ((4 + 0.1) * 3 - 1) / 0.5});
  clt_tensor *i = clt_from_host(dev, CLT_INT32, 1, (const int64_t[]){2}, (const int32_t[]){5, -7});
  ck_assert_int_eq(clt_add_scalar_(i, 2), CLT_OK);
  ck_assert_int_eq(clt_mul_scalar_(i, -3), CLT_OK);
  tu_assert_values(i, 1, (const int64_t[]){2}, (const double[]){-21, 15});
  ck_assert_int_eq(clt_dtype_of(i), CLT_INT32);
  ck_assert_int_eq(clt_add_scalar_(i, 2.5), CLT_ERR_DTYPE);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_add_scalar_", "int32");
  ck_assert_int_eq(clt_div_scalar_(i, 2), CLT_ERR_DTYPE);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_div_scalar_");
  clt_tensor *bo = clt_zeros(dev, CLT_BOOL, 1, (const int64_t[]){2});
  ck_assert_int_eq(clt_sub_scalar_(bo, 1), CLT_ERR_DTYPE);
  clt_clear_error();
  ck_assert_int_eq(clt_mul_scalar_(NULL, 1), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_mul_scalar_", "t");
  /* float32 keeps float32; gradient through mul_ on a non-leaf: d/dw sum((w * 1) *= 3) = 3 */
  clt_tensor *w = clt_from_host(dev, CLT_FLOAT32, 1, (const int64_t[]){2}, (const float[]){1, 2});
  clt_set_requires_grad(w, true);
  clt_tensor *h = clt_mul_scalar(w, 1);
  ck_assert_int_eq(clt_mul_scalar_(h, 3), CLT_OK);
  ck_assert_int_eq(clt_add_scalar_(h, 1e20), CLT_OK);
  ck_assert_int_eq(clt_dtype_of(h), CLT_FLOAT32);
  ck_assert_int_eq(clt_backward(clt_sum(h, CLT_ALL_DIMS, false), NULL), CLT_OK);
  tu_assert_values(clt_grad(w), 1, (const int64_t[]){2}, (const double[]){3, 3});
  ck_assert_int_eq(clt_mul_scalar_(w, 2), CLT_ERR_AUTOGRAD); /* a leaf that requires grad */
  clt_scope_end();
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(train_ops_errors_name_the_argument) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_zeros(dev, CLT_FLOAT32, 2, (const int64_t[]){3, 4}), *out[4], *ind = x;
  int n;
  ck_assert_ptr_null(clt_sort(x, 2, false, &ind));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_sort", "dim");
  ck_assert_ptr_null(ind);
  ck_assert_ptr_null(clt_topk(x, 5, 1, true, NULL));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_topk", "k 5", "[3,4]");
  ck_assert_ptr_null(clt_argsort(x, -3, false));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_argsort", "dim");
  ck_assert_ptr_null(clt_cumsum(x, 2));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_cumsum", "dim");
  ck_assert_ptr_null(clt_masked_fill(x, x, 1));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_masked_fill", "mask", "float32");
  clt_tensor *m = clt_zeros(dev, CLT_BOOL, 2, (const int64_t[]){2, 4});
  ck_assert_ptr_null(clt_masked_fill(x, m, 1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_masked_fill", "mask [2,4]", "x [3,4]");
  clt_tensor *m5 = clt_zeros(dev, CLT_BOOL, 3, (const int64_t[]){2, 3, 4});
  ck_assert_ptr_null(clt_masked_fill(x, m5, 1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_masked_fill", "mask [2,3,4]");
  ck_assert_ptr_null(clt_pad(x, 3, (const int64_t[]){1, 1, 1}, CLT_PAD_CONSTANT, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_pad", "npad 3", "[3,4]");
  ck_assert_ptr_null(clt_pad(x, 2, (const int64_t[]){4, 0}, CLT_PAD_REFLECT, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_pad", "reflect", "(4, 0)", "dim 1", "0 .. 3");
  ck_assert_ptr_null(clt_pad(x, 2, (const int64_t[]){5, 0}, CLT_PAD_CIRCULAR, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_pad", "circular", "0 .. 4");
  ck_assert_ptr_null(clt_pad(x, 2, (const int64_t[]){-3, -2}, CLT_PAD_CONSTANT, 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_pad", "(-3, -2)", "dim 1", "negative");
  ck_assert_ptr_null(clt_pad(x, 2, (const int64_t[]){INT64_MAX, 1}, CLT_PAD_CONSTANT, 0));
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_pad", "dim 1", "overflows");
  ck_assert_ptr_null(clt_pad(x, 4, (const int64_t[]){1LL << 62, 0, 0, 0}, CLT_PAD_CONSTANT, 0)); /* [3, 2^62 + 4] */
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_pad");
  ck_assert_ptr_null(clt_randint(dev, CLT_INT64, 0, 2, 2, (const int64_t[]){1LL << 62, 4}));
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_randint");
  ck_assert_ptr_null(clt_pad(x, 2, (const int64_t[]){1, 1}, (clt_pad_mode)7, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_pad", "mode 7");
  ck_assert_ptr_null(clt_flip(x, 2, (const int[]){1, -1}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_flip", "repeats dim 1");
  ck_assert_ptr_null(clt_flip(x, 1, (const int[]){2}));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_flip", "dims entry");
  ck_assert_int_eq(clt_split(x, 0, 0, out, 4, &n), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_split", "split_size 0");
  ck_assert_int_eq(clt_split_sizes(x, 2, (const int64_t[]){1, 1}, 0, out), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_split_sizes", "add up to 2", "[3,4]", "has 3");
  ck_assert_int_eq(clt_split_sizes(x, 2, (const int64_t[]){4, -1}, 0, out), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_split_sizes", "sizes[1]");
  ck_assert_int_eq(clt_chunk(x, 0, 0, out, &n), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_chunk", "chunks 0");
  ck_assert_int_eq(clt_chunk(clt_zeros(dev, CLT_FLOAT32, 0, NULL), 2, 0, out, &n), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_chunk", "0-d");
  ck_assert_ptr_null(clt_randperm(dev, CLT_UINT8, 300));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_randperm", "uint8", "299");
  ck_assert_ptr_null(clt_randperm(dev, CLT_BOOL, 2));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_randperm", "bool");
  ck_assert_ptr_null(clt_randint(dev, CLT_INT32, 5, 5, 1, (const int64_t[]){2}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_randint", "low 5", "high 5");
  ck_assert_ptr_null(clt_randint(dev, CLT_UINT8, -1, 5, 1, (const int64_t[]){2}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_randint", "uint8");
  ck_assert_ptr_null(clt_randint(NULL, CLT_INT32, 0, 5, 1, (const int64_t[]){2}));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_randint", "dev");
  clt_tensor *bad = clt_from_host(dev, CLT_FLOAT32, 1, (const int64_t[]){2}, (const float[]){0.5f, NAN});
  ck_assert_ptr_null(clt_bernoulli(bad));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_bernoulli", "[0, 1]");
  ck_assert_ptr_null(clt_bernoulli(m));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_bernoulli", "bool");
  ck_assert_ptr_null(clt_rand_like(m));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_rand_like", "bool");
  if (tu_ndev > 1) { /* mixed devices */
    clt_device *other = tu_dev[0] == dev ? tu_dev[1] : tu_dev[0];
    clt_tensor *mo = clt_zeros(other, CLT_BOOL, 1, (const int64_t[]){4});
    ck_assert_ptr_null(clt_masked_fill(x, mo, 1));
    TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_masked_fill");
  }
  /* NULL in, NULL out, the first error kept */
  ck_assert_ptr_null(clt_cumsum(x, 9));
  clt_tensor *none = NULL;
  ind = x;
  ck_assert_ptr_null(clt_sort(none, 0, false, &ind));
  ck_assert_ptr_null(ind);
  ck_assert_ptr_null(clt_argsort(none, 0, false));
  ck_assert_ptr_null(clt_topk(none, 1, 0, true, NULL));
  ck_assert_ptr_null(clt_cumprod(none, 0));
  ck_assert_ptr_null(clt_masked_fill(none, m, 0));
  ck_assert_ptr_null(clt_pad(none, 0, NULL, CLT_PAD_CONSTANT, 0));
  ck_assert_ptr_null(clt_flip(none, 0, NULL));
  ck_assert_ptr_null(clt_bernoulli(none));
  ck_assert_ptr_null(clt_zeros_like(none));
  ck_assert_ptr_null(clt_empty_like(none));
  ck_assert_int_eq(clt_split(none, 1, 0, out, 4, &n), CLT_ERR_INDEX);
  ck_assert_int_eq(clt_chunk(none, 1, 0, out, &n), CLT_ERR_INDEX);
  ck_assert_int_eq(clt_split_sizes(none, 1, (const int64_t[]){1}, 0, out), CLT_ERR_INDEX);
  ck_assert_int_eq(clt_add_scalar_(none, 1), CLT_ERR_INDEX);
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_cumsum", "dim");
  clt_clear_error();
  ck_assert_ptr_null(clt_flip(none, 0, NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_flip", "x");
  clt_scope_end();
}
END_TEST

/* ---- faults ----------------------------------------------------------------------------- */

/* Every differentiable op here, forward and backward, and the random ones; *out gets the loss. */
static clt_status workload(clt_device *dev, double *out) {
  clt_status st = CLT_OK;
  clt_scope_begin();
  double v[12];
  for (int i = 0; i < 12; i++) v[i] = ((i * 5) % 12 - 5) * 0.5;
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, 2, (const int64_t[]){3, 4}, v), *pieces[2] = {NULL, NULL};
  if (!x) goto fail;
  if ((st = clt_set_requires_grad(x, true)) != CLT_OK) goto done;
  clt_tensor *xt = clt_transpose(x, 0, 1);
  clt_tensor *s = clt_sort(xt, 1, true, NULL);
  clt_tensor *k = clt_topk(s, 2, 0, true, NULL);
  clt_tensor *c = clt_cumprod(clt_cumsum(k, 1), 0);
  clt_tensor *pd = clt_pad(clt_pad(c, 2, (const int64_t[]){1, 2}, CLT_PAD_REFLECT, 0), 2, (const int64_t[]){1, 1}, CLT_PAD_CONSTANT, 2);
  clt_tensor *mf = clt_masked_fill(clt_flip(pd, 1, (const int[]){-1}), clt_gt_scalar(pd, 2.5), 0);
  int n = 0;
  if (!mf) goto fail;
  if ((st = clt_chunk(mf, 2, 1, pieces, &n)) != CLT_OK) goto done;
  st = clt_mul_scalar_(pieces[0], 2); /* a view while recording: refused */
  if (st != CLT_ERR_AUTOGRAD) {
    if (st == CLT_OK) st = CLT_ERR_STATE;
    goto done;
  }
  st = CLT_OK;
  clt_tensor *b = clt_bernoulli(clt_full_like(pieces[1], 0.5)), *r = clt_randint(dev, CLT_INT32, 0, 3, 1, (const int64_t[]){2});
  clt_tensor *loss = clt_sum(clt_square(clt_mul(pieces[1], clt_add(b, clt_ones_like(b)))), CLT_ALL_DIMS, false);
  if (!loss || !r || !clt_randperm(dev, CLT_INT64, 5)) goto fail;
  if ((st = clt_backward(loss, NULL)) != CLT_OK || (st = clt_item(loss, out)) != CLT_OK) goto done;
  goto done;
fail:
  st = clt_last_status();
  if (st == CLT_OK) st = CLT_ERR_STATE;
done:
  clt_scope_end();
  return st;
}

/* Every fault point of the workload fails it cleanly: an error, nothing left alive, and the next
 * clean run gives the same loss (the generator reset before each run). */
/* the workload from the same seed every time (it draws random numbers) */
static clt_status seeded_workload(clt_device *dev, double *out) {
  clt_manual_seed(3);
  return workload(dev, out);
}

START_TEST(train_ops_survive_every_fault) { tu_fault_sweep(TU_DEV, seeded_workload, 1e-12, 51); }
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("train_ops");
  TCase *tc = tu_tcase("train_ops");
  TU_DEVICES(tc, train_ops_match_naive_loops);
  TU_DEVICES(tc, train_ops_sort_exact_and_stable);
  TU_DEVICES(tc, train_ops_gradcheck);
  TU_DEVICES(tc, train_ops_cumprod_grad_at_zeros);
  TU_DEVICES(tc, train_ops_match_pytorch);
  TU_DEVICES(tc, train_ops_split_and_chunk);
  TU_DEVICES(tc, train_ops_empty_and_0d);
  TU_DEVICES(tc, train_ops_random);
  TU_DEVICES(tc, train_ops_inplace_scalar);
  TU_DEVICES(tc, train_ops_errors_name_the_argument);
  TU_DEVICES(tc, train_ops_survive_every_fault);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  const char *dir = getenv("CLT_FIXTURES");
  snprintf(fixture_path, sizeof fixture_path, "%s/train_ops_refs.txt", dir ? dir : "tests/fixtures");
  return tu_main(suite, TU_MANY_KERNELS);
}
