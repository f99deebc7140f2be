/* Embedding and scaled dot-product attention (clt/nn.h): against naive float64 loops written
 * here, on every device, float32 and float64, contiguous and strided inputs; gradients by
 * clt_gradcheck (masks, causal, L != S); PyTorch's answers (tests/fixtures/attn_refs.txt, from
 * tools/make_attn_refs.py); dropout by statistics and by its seed; bad arguments; a fault sweep. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dispatch.h"
#include "tu.h"

static char fixture_path[512];

static double *pattern(int64_t n, int seed) {
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = -1 + 2 * (double)((i * 7919 + seed * 104729) % 1009) / 1009.0;
  return v;
}

/* ---- embedding -------------------------------------------------------------------------- */

/* Rows of weight [V, D] at ids (ids[2][3] as given, read through a transposed view when
 * strided), the gradient of sum(out * gy) against a naive scatter with padding_idx's row zero,
 * repeated ids included. */
START_TEST(embedding_matches_naive) {
  clt_device *dev = TU_DEV;
  enum { V = 5, D = 3 };
  const int64_t ids_v[6] = {4, 1, 4, 2, 0, 4}; /* [2, 3]; 4 three times */
  for (int dti = 0; dti < 2; dti++)
    for (int strided = 0; strided < 2; strided++)
      for (int pad = -1; pad <= 4; pad += 5) {
        clt_dtype dt = dti ? CLT_FLOAT32 : CLT_FLOAT64;
        clt_scope_begin();
        double *wv = pattern(V * D, 1), *gv = pattern(6 * D, 2);
        clt_tensor *w = clt_cast(clt_from_host(dev, CLT_FLOAT64, 2, (const int64_t[]){V, D}, wv), dt);
        clt_set_requires_grad(w, true);
        clt_tensor *ids;
        if (strided) { /* stored [3, 2], read transposed as [2, 3] */
          int32_t t[6];
          for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) t[j * 2 + i] = (int32_t)ids_v[i * 3 + j];
          ids = clt_transpose(clt_from_host(dev, CLT_INT32, 2, (const int64_t[]){3, 2}, t), 0, 1);
        } else {
          ids = clt_from_host(dev, CLT_INT64, 2, (const int64_t[]){2, 3}, ids_v);
        }
        clt_tensor *out = clt_embedding(w, ids, pad);
        double want[6 * D], gw[V * D] = {0};
        for (int r = 0; r < 6; r++)
          for (int d = 0; d < D; d++) {
            want[r * D + d] = dt == CLT_FLOAT32 ? (double)(float)wv[ids_v[r] * D + d] : wv[ids_v[r] * D + d];
            if (ids_v[r] != pad) gw[ids_v[r] * D + d] += dt == CLT_FLOAT32 ? (double)(float)gv[r * D + d] : gv[r * D + d];
          }
        const char *name = pad < 0 ? "embedding" : "embedding padding_idx 4";
        tu_check_close(out, 3, (const int64_t[]){2, 3, D}, want, 0, "forward", name, dev);
        clt_tensor *gy = clt_cast(clt_from_host(dev, CLT_FLOAT64, 3, (const int64_t[]){2, 3, D}, gv), dt);
        ck_assert_msg(clt_backward(out, gy) == CLT_OK, "%s", clt_last_error());
        tu_check_close(clt_grad(w), 2, (const int64_t[]){V, D}, gw, dt == CLT_FLOAT32 ? 1e-6 : 1e-15, "gradient", name, dev);
        clt_scope_end();
        free(wv);
        free(gv);
      }
}
END_TEST

/* 0-d and empty ids: [D] and [0, D]. */
START_TEST(embedding_shapes) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  double wv[6] = {1, 2, 3, 4, 5, 6};
  clt_tensor *w = clt_from_host(dev, CLT_FLOAT64, 2, (const int64_t[]){3, 2}, wv);
  clt_set_requires_grad(w, true);
  tu_assert_values(clt_embedding(w, clt_full(dev, CLT_INT32, 0, NULL, 2), -1), 1, (const int64_t[]){2}, (const double[]){5, 6});
  clt_tensor *e = clt_embedding(w, clt_zeros(dev, CLT_INT64, 1, (const int64_t[]){0}), 1);
  tu_assert_values(e, 2, (const int64_t[]){0, 2}, NULL);
  ck_assert_int_eq(clt_backward(clt_sum(e, CLT_ALL_DIMS, false), NULL), CLT_OK);
  tu_assert_values(clt_grad(w), 2, (const int64_t[]){3, 2}, (const double[]){0, 0, 0, 0, 0, 0});
  clt_scope_end();
}
END_TEST

static clt_tensor *embedding_fn(clt_tensor *const *in, void *user) {
  return clt_embedding(in[0], (clt_tensor *)user, -1);
}

START_TEST(embedding_gradcheck) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  double *wv = pattern(4 * 3, 5);
  clt_tensor *w = clt_from_host(dev, CLT_FLOAT64, 2, (const int64_t[]){4, 3}, wv);
  clt_tensor *ids = clt_from_host(dev, CLT_INT32, 2, (const int64_t[]){2, 2}, (const int32_t[]){3, 0, 3, 3});
  ck_assert_msg(clt_gradcheck(embedding_fn, ids, 1, &w, NULL) == CLT_OK, "%s", clt_last_error());
  clt_scope_end();
  free(wv);
}
END_TEST

/* ---- attention: the naive reference ----------------------------------------------------- */

/* One batch dim B (q, k, v, mask each B or 1 there); mask [Bm, L, S] of 0/1 (bool) or added
 * (float), or NULL. Fully masked rows give zeros, as PyTorch's math path. */
typedef struct {
  int64_t B, bq, bk, bv, bm, L, S, E, Ev;
  int mask; /* 0 none, 1 bool, 2 float */
  bool causal;
  double scale;
} acase;

static void naive_sdpa(const acase *c, const double *q, const double *k, const double *v, const double *m, double *out) {
  double scale = c->scale > 0 ? c->scale : 1 / sqrt((double)c->E);
  double *s = malloc((size_t)c->S * sizeof *s);
  for (int64_t b = 0; b < c->B; b++)
    for (int64_t i = 0; i < c->L; i++) {
      const double *qi = q + ((c->bq > 1 ? b : 0) * c->L + i) * c->E;
      const double *mi = m ? m + ((c->bm > 1 ? b : 0) * c->L + i) * c->S : NULL;
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < c->S; j++) {
        const double *kj = k + ((c->bk > 1 ? b : 0) * c->S + j) * c->E;
        double d = 0;
        for (int64_t e = 0; e < c->E; e++) d += qi[e] * kj[e];
        s[j] = d * scale;
        if (c->causal && j > i) s[j] = -INFINITY;
        if (c->mask == 1 && mi[j] == 0) s[j] = -INFINITY;
        if (c->mask == 2) s[j] += mi[j];
        if (s[j] > mx) mx = s[j];
      }
      for (int64_t j = 0; j < c->S; j++) sum += s[j] = mx == -INFINITY ? 0 : exp(s[j] - mx);
      for (int64_t e = 0; e < c->Ev; e++) {
        double acc = 0;
        for (int64_t j = 0; j < c->S; j++) acc += (sum > 0 ? s[j] / sum : 0) * v[((c->bv > 1 ? b : 0) * c->S + j) * c->Ev + e];
        out[(b * c->L + i) * c->Ev + e] = acc;
      }
    }
  free(s);
}

static const acase acases[] = {
    {.B = 2, .bq = 2, .bk = 2, .bv = 2, .L = 3, .S = 4, .E = 5, .Ev = 2},
    {.B = 2, .bq = 2, .bk = 1, .bv = 2, .L = 4, .S = 3, .E = 2, .Ev = 3, .scale = 0.3},
    {.B = 2, .bq = 2, .bk = 2, .bv = 1, .bm = 1, .L = 3, .S = 4, .E = 2, .Ev = 2, .mask = 1},
    {.B = 2, .bq = 2, .bk = 2, .bv = 2, .bm = 2, .L = 2, .S = 5, .E = 3, .Ev = 2, .mask = 2},
    {.B = 1, .bq = 1, .bk = 1, .bv = 1, .L = 3, .S = 5, .E = 2, .Ev = 2, .causal = true},
    {.B = 2, .bq = 2, .bk = 2, .bv = 2, .L = 5, .S = 3, .E = 2, .Ev = 3, .causal = true, .scale = 2},
};
#define NACASES (int)(sizeof acases / sizeof *acases)

/* The inputs of case c: q, k, v [b?, rows, cols], and the mask ([bm, L, S]; bool: 0/1 with row 1
 * of the first batch all 0). */
typedef struct {
  double *q, *k, *v, *m;
  int64_t qs[3], ks[3], vs[3], ms[3];
} ainputs;

static void make_inputs(const acase *c, int seed, ainputs *in) {
  memcpy(in->qs, (const int64_t[]){c->bq, c->L, c->E}, sizeof in->qs);
  memcpy(in->ks, (const int64_t[]){c->bk, c->S, c->E}, sizeof in->ks);
  memcpy(in->vs, (const int64_t[]){c->bv, c->S, c->Ev}, sizeof in->vs);
  memcpy(in->ms, (const int64_t[]){c->bm, c->L, c->S}, sizeof in->ms);
  in->q = pattern(tu_prod(3, in->qs), seed);
  in->k = pattern(tu_prod(3, in->ks), seed + 1);
  in->v = pattern(tu_prod(3, in->vs), seed + 2);
  in->m = c->mask ? pattern(tu_prod(3, in->ms), seed + 3) : NULL;
  for (int64_t i = 0; c->mask == 1 && i < tu_prod(3, in->ms); i++)
    in->m[i] = (i / c->S == 1) ? 0 : in->m[i] > -0.4 || i % c->S == 0;
}

static void free_inputs(ainputs *in) {
  free(in->q);
  free(in->k);
  free(in->v);
  free(in->m);
}

static clt_tensor *make_mask(clt_device *dev, const acase *c, const ainputs *in, clt_dtype dt) {
  if (!c->mask) return NULL;
  clt_tensor *m = clt_from_host(dev, CLT_FLOAT64, 3, in->ms, in->m);
  return c->mask == 1 ? clt_ne_scalar(m, 0) : clt_cast(m, dt);
}

START_TEST(sdpa_matches_naive) {
  clt_device *dev = TU_DEV;
  for (int ci = 0; ci < NACASES; ci++)
    for (int dti = 0; dti < 2; dti++) {
      const acase *c = &acases[ci];
      clt_dtype dt = dti ? CLT_FLOAT32 : CLT_FLOAT64;
      bool strided = (ci + dti) % 2;
      ainputs in;
      make_inputs(c, 10 * ci, &in);
      double *want = malloc((size_t)(c->B * c->L * c->Ev) * sizeof *want);
      naive_sdpa(c, in.q, in.k, in.v, in.m, want);
      clt_scope_begin();
      clt_tensor *q = tu_make(dev, dt, 3, in.qs, in.q, strided), *k = tu_make(dev, dt, 3, in.ks, in.k, strided);
      clt_tensor *v = tu_make(dev, dt, 3, in.vs, in.v, strided);
      clt_tensor *y = clt_scaled_dot_product_attention(q, k, v, make_mask(dev, c, &in, dt), 0, c->causal, c->scale);
      char name[32];
      snprintf(name, sizeof name, "sdpa case %d %s", ci, clt_dtype_name(dt));
      tu_check_close(y, 3, (const int64_t[]){c->B, c->L, c->Ev}, want, dt == CLT_FLOAT32 ? 2e-6 : 1e-13, "forward", name, dev);
      clt_scope_end();
      free(want);
      free_inputs(&in);
    }
}
END_TEST

typedef struct {
  const acase *c;
  clt_tensor *bool_mask;
} gcase;

static clt_tensor *sdpa_fn(clt_tensor *const *in, void *user) {
  const gcase *g = user;
  clt_tensor *mask = g->c->mask == 1 ? g->bool_mask : g->c->mask == 2 ? in[3] : NULL;
  return clt_scaled_dot_product_attention(in[0], in[1], in[2], mask, 0, g->c->causal, g->c->scale);
}

START_TEST(sdpa_gradcheck) {
  clt_device *dev = TU_DEV;
  for (int ci = 0; ci < NACASES; ci++) {
    const acase *c = &acases[ci];
    ainputs ai;
    make_inputs(c, 10 * ci + 3, &ai);
    clt_scope_begin();
    gcase g = {c, c->mask == 1 ? make_mask(dev, c, &ai, CLT_FLOAT64) : NULL};
    clt_tensor *in[4] = {tu_make(dev, CLT_FLOAT64, 3, ai.qs, ai.q, ci % 2), tu_make(dev, CLT_FLOAT64, 3, ai.ks, ai.k, false),
                         tu_make(dev, CLT_FLOAT64, 3, ai.vs, ai.v, ci % 2), NULL};
    int n = 3;
    if (c->mask == 2) in[n++] = make_mask(dev, c, &ai, CLT_FLOAT64);
    ck_assert_msg(clt_gradcheck(sdpa_fn, &g, n, in, NULL) == CLT_OK, "case %d on %s: %s", ci, clt_device_spec(dev),
                  clt_last_error());
    clt_scope_end();
    free_inputs(&ai);
  }
}
END_TEST

/* ---- attention: PyTorch's answers ------------------------------------------------------- */

typedef struct {
  int nd;
  int64_t shape[4];
  double *v;
} ftensor;

static const char *const tnames[] = {"q", "k", "v", "mask", "gy", "out", "gq", "gk", "gv", "gmask"};
#define NT (int)(sizeof tnames / sizeof *tnames)

static bool read_case(FILE *f, char *name, int *mask, int *causal, double *scale, ftensor *t) {
  memset(t, 0, NT * sizeof *t);
  if (fscanf(f, " case %63s %d %d %lf", name, mask, causal, scale) != 4) return false;
  for (;;) {
    long pos = ftell(f);
    char tag[8], tn[32];
    if (fscanf(f, " %7s", tag) != 1 || strcmp(tag, "t") != 0) {
      fseek(f, pos, SEEK_SET);
      return true;
    }
    int slot = -1, nd;
    ck_assert_int_eq(fscanf(f, "%31s %d", tn, &nd), 2);
    for (int i = 0; i < NT; i++)
      if (strcmp(tn, tnames[i]) == 0) slot = i;
    ck_assert_msg(slot >= 0 && nd >= 1 && nd <= 4, "bad tensor %s", tn);
    t[slot].nd = nd;
    for (int d = 0; d < nd; d++) ck_assert_int_eq(fscanf(f, "%lld", (long long *)&t[slot].shape[d]), 1);
    int64_t n = tu_prod(nd, t[slot].shape);
    t[slot].v = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) ck_assert_int_eq(fscanf(f, "%lf", &t[slot].v[i]), 1);
  }
}

START_TEST(sdpa_matches_pytorch) {
  clt_device *dev = TU_DEV;
  FILE *f = fopen(fixture_path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", fixture_path);
  char name[64];
  int mk, causal, ncase = 0;
  double scale;
  ftensor t[NT];
  while (read_case(f, name, &mk, &causal, &scale, t)) {
    clt_scope_begin();
    clt_tensor *in[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++) {
      if (!t[i].v) continue;
      in[i] = clt_from_host(dev, CLT_FLOAT64, t[i].nd, t[i].shape, t[i].v);
      if (i < 3 || mk == 2) clt_set_requires_grad(in[i], true);
    }
    clt_tensor *mask = mk == 1 ? clt_ne_scalar(in[3], 0) : in[3];
    clt_tensor *y = clt_scaled_dot_product_attention(in[0], in[1], in[2], mask, 0, causal, scale);
    tu_check_close(y, t[5].nd, t[5].shape, t[5].v, 1e-12, "forward", name, dev);
    ck_assert_msg(clt_backward(y, clt_from_host(dev, CLT_FLOAT64, t[4].nd, t[4].shape, t[4].v)) == CLT_OK, "%s: %s", name,
                  clt_last_error());
    for (int i = 0; i < 4; i++)
      if (i < 3 || mk == 2) tu_check_close(clt_grad(in[i]), t[6 + i].nd, t[6 + i].shape, t[6 + i].v, 1e-12, tnames[6 + i], name, dev);
    clt_scope_end();
    for (int i = 0; i < NT; i++) free(t[i].v);
    ncase++;
  }
  fclose(f);
  ck_assert_msg(ncase >= 5, "%s holds %d cases", fixture_path, ncase);
}
END_TEST

/* ---- attention: dropout ----------------------------------------------------------------- */

/* q = k = 0 makes every probability 1/S, and v = I shows them: each element is 0 (dropped, with
 * probability p) or 1 / (S (1 - p)). The same seed gives the same result, on every device. */
static clt_tensor *dropped_probs(clt_device *dev, int64_t L, int64_t S, double p, uint64_t seed) {
  clt_manual_seed(seed);
  clt_tensor *z = clt_zeros(dev, CLT_FLOAT32, 2, (const int64_t[]){L, 4});
  clt_tensor *kz = clt_zeros(dev, CLT_FLOAT32, 2, (const int64_t[]){S, 4});
  double *eye = calloc((size_t)(S * S), sizeof *eye);
  for (int64_t i = 0; i < S; i++) eye[i * S + i] = 1;
  clt_tensor *v = clt_cast(clt_from_host(dev, CLT_FLOAT64, 2, (const int64_t[]){S, S}, eye), CLT_FLOAT32);
  free(eye);
  return clt_scaled_dot_product_attention(z, kz, v, NULL, p, false, 0);
}

START_TEST(sdpa_dropout) {
  clt_device *dev = TU_DEV;
  enum { L = 64, S = 64 };
  const double p = 0.3;
  clt_scope_begin();
  double *a = tu_values(dropped_probs(dev, L, S, p, 11)), *b = tu_values(dropped_probs(dev, L, S, p, 11));
  double *c = tu_values(dropped_probs(dev, L, S, p, 12)), *h = tu_values(dropped_probs(tu_dev[0], L, S, p, 11));
  int64_t zeros = 0, differ = 0;
  double kept = 1.0 / (S * (1 - p));
  for (int64_t i = 0; i < L * S; i++) {
    ck_assert_msg(a[i] == 0 || fabs(a[i] - kept) <= 1e-6 * kept, "[%lld] %g", (long long)i, a[i]);
    zeros += a[i] == 0;
    differ += a[i] != c[i];
    ck_assert_msg(a[i] == b[i] && a[i] == h[i], "seed 11 gave %g, then %g, on the host %g at %lld", a[i], b[i], h[i],
                  (long long)i);
  }
  /* 4096 Bernoulli(0.3): sd 29, so 5 sd is 147 */
  ck_assert_msg(llabs(zeros - (int64_t)(p * L * S)) < 147, "%lld of %d dropped with p %g", (long long)zeros, L * S, p);
  ck_assert_msg(differ > 1000, "seeds 11 and 12 differ in %lld elements only", (long long)differ);
  free(a);
  free(b);
  free(c);
  free(h);
  /* the gradient flows through the kept probabilities only: v's gradient is the dropped
   * probabilities summed over L (gy = 1) */
  clt_manual_seed(5);
  clt_tensor *q = clt_zeros(dev, CLT_FLOAT64, 2, (const int64_t[]){3, 2}), *k = clt_zeros(dev, CLT_FLOAT64, 2, (const int64_t[]){4, 2});
  clt_tensor *v = clt_ones(dev, CLT_FLOAT64, 2, (const int64_t[]){4, 1});
  clt_set_requires_grad(v, true);
  clt_tensor *y = clt_scaled_dot_product_attention(q, k, v, NULL, 0.5, false, 0);
  ck_assert_int_eq(clt_backward(clt_sum(y, CLT_ALL_DIMS, false), NULL), CLT_OK);
  double ysum, gsum;
  ck_assert_int_eq(clt_item(clt_sum(y, CLT_ALL_DIMS, false), &ysum), CLT_OK);
  ck_assert_int_eq(clt_item(clt_sum(clt_grad(v), CLT_ALL_DIMS, false), &gsum), CLT_OK);
  ck_assert_msg(fabs(ysum - gsum) < 1e-12, "sum of y %g, of v's gradient %g", ysum, gsum);
  clt_scope_end();
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(attn_errors_name_the_argument) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *w = clt_zeros(dev, CLT_FLOAT32, 2, (const int64_t[]){4, 3});
  clt_tensor *ids = clt_zeros(dev, CLT_INT64, 1, (const int64_t[]){2});
  ck_assert_ptr_null(clt_embedding(w, clt_full(dev, CLT_INT32, 1, (const int64_t[]){2}, 4), -1));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_embedding", "ids index 4 is out of range for size 4");
  ck_assert_ptr_null(clt_embedding(w, clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){2}), -1));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_embedding", "ids has dtype float32");
  ck_assert_ptr_null(clt_embedding(clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){4}), ids, -1));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_embedding", "weight [4] must be 2-d");
  ck_assert_ptr_null(clt_embedding(clt_zeros(dev, CLT_INT32, 2, (const int64_t[]){4, 3}), ids, -1));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_embedding", "weight must be float32 or float64");
  ck_assert_ptr_null(clt_embedding(w, ids, 4));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_embedding", "padding_idx 4", "weight [4,3]");
  ck_assert_ptr_null(clt_embedding(NULL, ids, -1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_embedding", "weight");

  clt_tensor *q = clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){2, 3, 4});
  clt_tensor *k = clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){2, 5, 4});
  clt_tensor *v = clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){2, 5, 6});
  ck_assert_ptr_nonnull(clt_scaled_dot_product_attention(q, k, v, NULL, 0, false, 0));
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){2, 5, 3}), v, NULL, 0, false, 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_scaled_dot_product_attention", "k [2,5,3] must be [..., S, E]", "q [2,3,4]");
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, k, clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){2, 4, 6}), NULL, 0, false, 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_scaled_dot_product_attention", "v [2,4,6]", "k [2,5,4]");
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, clt_zeros(dev, CLT_FLOAT32, 3, (const int64_t[]){3, 5, 4}), v, NULL, 0, false, 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_scaled_dot_product_attention", "batch dims of q [2,3,4] and k [3,5,4]");
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, k, clt_zeros(dev, CLT_FLOAT64, 3, (const int64_t[]){2, 5, 6}), NULL, 0, false, 0));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_scaled_dot_product_attention", "v has dtype float64");
  ck_assert_ptr_null(clt_scaled_dot_product_attention(clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){4}), k, v, NULL, 0, false, 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_scaled_dot_product_attention", "q [4] must have at least 2 dims");
  clt_tensor *m = clt_zeros(dev, CLT_BOOL, 2, (const int64_t[]){3, 5});
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, k, v, m, 0, true, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_scaled_dot_product_attention", "mask and causal together");
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, k, v, clt_zeros(dev, CLT_BOOL, 2, (const int64_t[]){3, 4}), 0, false, 0));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_scaled_dot_product_attention", "mask [3,4] does not broadcast", "L 3, S 5");
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, k, v, clt_zeros(dev, CLT_INT32, 2, (const int64_t[]){3, 5}), 0, false, 0));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_scaled_dot_product_attention", "mask has dtype int32");
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, k, v, NULL, 1.5, false, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_scaled_dot_product_attention", "dropout_p 1.5");
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, k, v, NULL, 0, false, NAN));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_scaled_dot_product_attention", "scale nan");
  ck_assert_ptr_null(clt_scaled_dot_product_attention(q, NULL, v, NULL, 0, false, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_scaled_dot_product_attention", "k");
  /* NULL in, NULL out, the first error kept */
  ck_assert_ptr_null(clt_embedding(w, ids, 9));
  ck_assert_ptr_null(clt_scaled_dot_product_attention(clt_embedding(w, ids, 9), k, v, NULL, 0, false, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_embedding", "padding_idx 9");
  if (tu_ndev > 1) {
    clt_tensor *kh = clt_zeros(tu_dev[dev == tu_dev[0] ? 1 : 0], CLT_FLOAT32, 3, (const int64_t[]){2, 5, 4});
    ck_assert_ptr_null(clt_scaled_dot_product_attention(q, kh, v, NULL, 0, false, 0));
    ck_assert_int_eq(clt_last_status(), CLT_ERR_DEVICE_MISMATCH);
    ck_assert_ptr_null(clt_embedding(w, clt_to(ids, clt_device_of(kh)), -1));
    ck_assert_int_eq(clt_last_status(), CLT_ERR_DEVICE_MISMATCH);
  }
  clt_scope_end();
}
END_TEST

/* ---- faults ----------------------------------------------------------------------------- */

/* Embedding into attention (causal, a bool mask, dropout), forward and backward; *out gets the
 * loss. */
static clt_status workload(clt_device *dev, double *out) {
  clt_status st = CLT_OK;
  clt_scope_begin();
  double *wv = pattern(6 * 4, 3);
  clt_tensor *w = clt_from_host(dev, CLT_FLOAT64, 2, (const int64_t[]){6, 4}, wv);
  free(wv);
  clt_tensor *ids = clt_from_host(dev, CLT_INT32, 2, (const int64_t[]){2, 3}, (const int32_t[]){1, 5, 1, 0, 2, 5});
  clt_tensor *mask = clt_from_host(dev, CLT_BOOL, 2, (const int64_t[]){3, 3}, (const bool[]){1, 0, 1, 0, 0, 0, 1, 1, 0});
  if (!w || !ids || !mask) goto fail;
  if ((st = clt_set_requires_grad(w, true)) != CLT_OK) goto done;
  clt_tensor *x = clt_embedding(w, ids, 5);
  clt_tensor *h = clt_scaled_dot_product_attention(x, x, x, NULL, 0, true, 0);
  clt_manual_seed(3);
  clt_tensor *y = clt_scaled_dot_product_attention(h, x, x, mask, 0.25, false, 0.5);
  clt_tensor *loss = clt_sum(clt_square(y), CLT_ALL_DIMS, false);
  if (!loss) goto fail;
  if ((st = clt_backward(loss, NULL)) != CLT_OK || (st = clt_item(loss, out)) != CLT_OK) goto done;
  goto done;
fail:
  st = clt_last_status();
  if (st == CLT_OK) st = CLT_ERR_STATE; /* a NULL without an error */
done:
  clt_scope_end();
  return st;
}

/* Every fault point of the workload fails it cleanly: an error, nothing left alive, and the next
 * clean run gives the same loss (to rounding: scatter_add adds in any order on parallel devices). */
START_TEST(attn_survives_every_fault) {
  tu_fault_sweep(TU_DEV, workload, 1e-12, 30);
}
END_TEST

/* ---- heads split from one projection ---------------------------------------------------- */

static const clt__backend *real_be;
static const clt__storage *watched;
static int watched_copies;

static clt_status counting_copy(clt_device *dev, const clt__iter *it, clt__storage *dst, const clt__storage *src,
                                size_t esize) {
  if (src == watched) watched_copies++;
  return real_be->copy(dev, it, dst, src, esize);
}

/* Multi-head attention's q, k and v split from one projection x [B, T, 3 H E] as views
 * [B, H, T, E] (tools/models.c: split_heads): the batch dims of k and v do not merge into one
 * GEMM stride, so each is copied once, for the forward's and the backward's products alike
 * (each product copied them again: 4 copies of x's elements, 2 now). The answer and x's
 * gradient are those of contiguous q, k and v. */
START_TEST(sdpa_split_heads_copied_once) {
  clt_device *dev = TU_DEV;
  enum { B = 2, T = 3, H = 2, E = 4 };
  double *xv = pattern(B * T * 3 * H * E, 7), loss[2], *grad[2];
  for (int contiguous = 0; contiguous < 2; contiguous++) {
    clt_scope_begin();
    clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, 3, (const int64_t[]){B, T, 3 * H * E}, xv);
    ck_assert(x && clt_set_requires_grad(x, true) == CLT_OK);
    clt_tensor *h[3];
    for (int i = 0; i < 3; i++) {
      clt_tensor *s = clt_slice(x, 2, i * H * E, (i + 1) * H * E, 1);
      h[i] = clt_transpose(clt_reshape(s, 4, (const int64_t[]){B, T, H, E}), 1, 2);
      if (contiguous) h[i] = clt_contiguous(h[i]);
    }
    real_be = clt__device_swap_backend(dev, NULL);
    clt__backend counting = *real_be;
    counting.copy = counting_copy;
    clt__device_swap_backend(dev, &counting);
    watched = x->st;
    watched_copies = 0;
    clt_tensor *y = clt_scaled_dot_product_attention(h[0], h[1], h[2], NULL, 0, false, 0);
    clt_tensor *l = clt_sum(clt_square(y), CLT_ALL_DIMS, false);
    clt_status st = l ? clt_backward(l, NULL) : clt_last_status();
    clt__device_swap_backend(dev, real_be);
    ck_assert_msg(st == CLT_OK, "%s", clt_last_error());
    if (!contiguous)
      ck_assert_msg(watched_copies <= 2, "on %s: %d copies of the projection's elements, not 2", clt_device_spec(dev),
                    watched_copies);
    ck_assert(clt_item(l, &loss[contiguous]) == CLT_OK);
    grad[contiguous] = tu_values(clt_grad(x));
    clt_scope_end();
  }
  ck_assert_msg(loss[0] == loss[1], "%.17g against %.17g", loss[0], loss[1]);
  for (int i = 0; i < B * T * 3 * H * E; i++)
    ck_assert_msg(grad[0][i] == grad[1][i], "x's gradient at %d: %.17g against %.17g", i, grad[0][i], grad[1][i]);
  free(grad[0]);
  free(grad[1]);
  free(xv);
}
END_TEST

/* ---- the fused path (lib/attention.c: attn_fused) ---------------------------------------- */

/* Counts the calls of the fused entries, the device's own table underneath. */
static const clt__backend *fused_real;
static int fused_fwd_calls, fused_bwd_calls;
static clt_status counting_attn_fwd(clt_device *dev, const clt__attn_args *a) {
  fused_fwd_calls++;
  return fused_real->attn_fwd(dev, a);
}
static clt_status counting_attn_bwd(clt_device *dev, const clt__attn_args *a) {
  fused_bwd_calls++;
  return fused_real->attn_bwd(dev, a);
}
static clt__backend fused_counting;
static void count_fused(clt_device *dev) {
  fused_real = clt__device_swap_backend(dev, NULL);
  fused_counting = *fused_real;
  fused_counting.attn_fwd = counting_attn_fwd;
  fused_counting.attn_bwd = counting_attn_bwd;
  clt__device_swap_backend(dev, &fused_counting);
  fused_fwd_calls = fused_bwd_calls = 0;
}
static void uncount_fused(clt_device *dev) { clt__device_swap_backend(dev, fused_real); }

/* nb batch dims (0, 1 or 2: [B1] or [B0, B1]), q [.., L, E], k [.., S, E], v [.., S, Ev]; layout
 * 0: contiguous; 1: as heads split from one projection, each a view of a base [B0, R, B1, C + 3]
 * (batch dims apart, rows padded: tools/models.c's split_heads); 2: the last two dims transposed
 * (columns strided). */
typedef struct {
  int nb;
  int64_t B0, B1, L, S, E, Ev;
  bool causal;
  int layout;
} fcase;

static const fcase fcases[] = {
    {2, 3, 4, 8, 8, 8, 8, false, 1},   /* the digits transformer's heads, smaller batch */
    {2, 2, 3, 5, 7, 6, 3, true, 1},    /* causal, L < S, E != Ev */
    {2, 2, 1, 7, 4, 5, 9, true, 2},    /* causal, L > S: rows past S see every key */
    {1, 3, 1, 9, 6, 10, 4, false, 1},  /* 1 batch dim, past 8 lanes */
    {1, 2, 1, 11, 13, 16, 8, true, 1},  /* causal over 2 blocks of rows and of keys */
    {0, 1, 1, 6, 11, 3, 5, true, 2},   /* no batch dim */
    {1, 2, 1, 1, 1, 1, 1, false, 0},   /* one element */
    {2, 1, 2, 16, 16, 16, 16, true, 0}, /* at the limit (CLT__ATTN_MAX) */
    {2, 1, 2, 16, 9, 16, 16, false, 1},
    {1, 2, 1, 17, 8, 8, 8, false, 1},  /* just past it: the composite path */
    {1, 2, 1, 8, 17, 8, 8, true, 0},
    {1, 2, 1, 8, 8, 17, 8, false, 2},
    {1, 2, 1, 8, 8, 8, 17, false, 1},
};
#define NFCASES (int)(sizeof fcases / sizeof *fcases)

static bool fcase_fused(const fcase *c) {
  return c->L <= CLT__ATTN_MAX && c->S <= CLT__ATTN_MAX && c->E <= CLT__ATTN_MAX && c->Ev <= CLT__ATTN_MAX;
}

/* The base tensor of a [B0, B1, R, C] operand (its batch dims those of c). */
static clt_tensor *fbase(clt_device *dev, clt_dtype dt, const fcase *c, int64_t R, int64_t C, int seed) {
  int64_t shape[4] = {c->B0, R, c->B1, C + 3};
  if (c->layout == 0) shape[1] = c->B1, shape[2] = R, shape[3] = C;
  if (c->layout == 2) shape[1] = c->B1, shape[2] = C, shape[3] = R;
  double *v = pattern(tu_prod(4, shape), seed);
  clt_tensor *b = clt_cast(clt_from_host(dev, CLT_FLOAT64, 4, shape, v), dt);
  free(v);
  return b;
}

/* The operand's view of its base, with c->nb batch dims. */
static clt_tensor *fview(clt_tensor *base, const fcase *c, int64_t C) {
  clt_tensor *t = base;
  if (c->layout == 1) t = clt_slice(clt_transpose(base, 1, 2), 3, 2, 2 + C, 1);
  if (c->layout == 2) t = clt_transpose(base, 2, 3);
  if (c->nb == 2) return t;
  t = clt_squeeze(t, 0);
  return c->nb == 1 ? t : clt_squeeze(t, 0);
}

typedef struct {
  const fcase *c;
} fuser;

static clt_tensor *fused_fn(clt_tensor *const *in, void *user) {
  const fcase *c = ((const fuser *)user)->c;
  return clt_scaled_dot_product_attention(fview(in[0], c, c->E), fview(in[1], c, c->E), fview(in[2], c, c->Ev), NULL, 0,
                                          c->causal, 0);
}

/* The fused path against the composite one ($CLT_SDPA_COMPOSITE), values and the gradients
 * of the bases (through the views' own gradients), with a strided result gradient; and that
 * the fused entries ran (once each way) exactly where the shapes are within CLT__ATTN_MAX. */
START_TEST(sdpa_fused_matches_composite) {
  clt_device *dev = TU_DEV;
  for (int ci = 0; ci < NFCASES; ci++)
    for (int dti = 0; dti < 2; dti++) {
      const fcase *c = &fcases[ci];
      clt_dtype dt = dti ? CLT_FLOAT32 : CLT_FLOAT64;
      double tol = dti ? 1e-5 : 1e-12;
      double *got[4], *want[4];
      int64_t yshape[4], count[4];
      int ynd = 0;
      for (int fused = 0; fused < 2; fused++) {
        clt_scope_begin();
        clt_tensor *b[3] = {fbase(dev, dt, c, c->L, c->E, 1), fbase(dev, dt, c, c->S, c->E, 2),
                            fbase(dev, dt, c, c->S, c->Ev, 3)};
        for (int i = 0; i < 3; i++) ck_assert(b[i] && clt_set_requires_grad(b[i], true) == CLT_OK);
        if (!fused) setenv("CLT_SDPA_COMPOSITE", "1", 1);
        count_fused(dev);
        fuser u = {c};
        clt_tensor *y = fused_fn(b, &u);
        clt_status st = y ? CLT_OK : clt_last_status();
        if (y) {
          ynd = clt_ndim(y);
          memcpy(yshape, clt_shape(y), (size_t)ynd * sizeof *yshape);
          /* the result's gradient through a transposed view: strided */
          double *gv = pattern(tu_prod(ynd, yshape), 4);
          clt_tensor *gy = tu_make(dev, dt, ynd, yshape, gv, true);
          free(gv);
          st = clt_backward(y, gy);
        }
        uncount_fused(dev); /* before any assert: a failed one leaves the test */
        unsetenv("CLT_SDPA_COMPOSITE");
        ck_assert_msg(st == CLT_OK, "case %d: %s", ci, clt_last_error());
        int want_calls = fused && fcase_fused(c);
        ck_assert_msg(fused_fwd_calls == want_calls && fused_bwd_calls == want_calls,
                      "case %d %s on %s (%s path): attn_fwd ran %d times, attn_bwd %d, not %d", ci, clt_dtype_name(dt),
                      clt_device_spec(dev), fused ? "fused" : "composite", fused_fwd_calls, fused_bwd_calls, want_calls);
        double **dst = fused ? got : want;
        dst[0] = tu_values(y);
        count[0] = clt_numel(y);
        for (int i = 0; i < 3; i++) {
          dst[1 + i] = tu_values(clt_grad(b[i]));
          count[1 + i] = clt_numel(b[i]);
        }
        clt_scope_end();
      }
      char name[64];
      snprintf(name, sizeof name, "fused sdpa case %d %s", ci, clt_dtype_name(dt));
      static const char *const what[4] = {"forward", "q's gradient", "k's gradient", "v's gradient"};
      clt_scope_begin();
      for (int i = 0; i < 4; i++) {
        clt_tensor *t = clt_from_host(dev, CLT_FLOAT64, 1, &count[i], got[i]);
        tu_check_close(t, 1, &count[i], want[i], tol, what[i], name, dev);
        free(got[i]);
        free(want[i]);
      }
      clt_scope_end();
    }
}
END_TEST

/* clt_gradcheck through the fused path (float64), strided heads, causal and not. */
START_TEST(sdpa_fused_gradcheck) {
  clt_device *dev = TU_DEV;
  static const fcase gc[] = {{2, 2, 2, 3, 4, 5, 2, false, 1}, {1, 2, 1, 4, 3, 2, 3, true, 2}, {0, 1, 1, 3, 3, 4, 4, true, 0}};
  for (size_t ci = 0; ci < sizeof gc / sizeof *gc; ci++) {
    const fcase *c = &gc[ci];
    clt_scope_begin();
    clt_tensor *b[3] = {fbase(dev, CLT_FLOAT64, c, c->L, c->E, 5), fbase(dev, CLT_FLOAT64, c, c->S, c->E, 6),
                        fbase(dev, CLT_FLOAT64, c, c->S, c->Ev, 7)};
    fuser u = {c};
    count_fused(dev);
    clt_status st = clt_gradcheck(fused_fn, &u, 3, b, NULL);
    uncount_fused(dev);
    ck_assert_msg(st == CLT_OK, "case %zu on %s: %s", ci, clt_device_spec(dev), clt_last_error());
    ck_assert_msg(fused_fwd_calls > 0 && fused_bwd_calls > 0, "case %zu: the fused path did not run (%d, %d)", ci,
                  fused_fwd_calls, fused_bwd_calls);
    clt_scope_end();
  }
}
END_TEST

/* The fused result of heads [B, H, L, Ev] lies as [B, L, H, Ev]: transpose(1, 2) and the reshape
 * to [B, L, H Ev] that multi-head attention does next are views of it, not a copy, and hold
 * the composite path's values. */
START_TEST(sdpa_fused_heads_merge_without_copy) {
  clt_device *dev = TU_DEV;
  const fcase c = {2, 2, 3, 4, 5, 2, 6, true, 1};
  double *r[2];
  for (int fused = 0; fused < 2; fused++) {
    clt_scope_begin();
    clt_tensor *b[3] = {fbase(dev, CLT_FLOAT64, &c, c.L, c.E, 8), fbase(dev, CLT_FLOAT64, &c, c.S, c.E, 9),
                        fbase(dev, CLT_FLOAT64, &c, c.S, c.Ev, 10)};
    if (!fused) setenv("CLT_SDPA_COMPOSITE", "1", 1);
    fuser u = {&c};
    clt_tensor *y = fused_fn(b, &u);
    unsetenv("CLT_SDPA_COMPOSITE");
    clt_tensor *m = clt_reshape(clt_transpose(y, 1, 2), 3, (const int64_t[]){c.B0, c.L, c.B1 * c.Ev});
    ck_assert_msg(m != NULL, "%s", clt_last_error());
    if (fused) ck_assert_msg(m->st == y->st, "on %s: the merged heads are a copy", clt_device_spec(dev));
    r[fused] = tu_values(m);
    clt_scope_end();
  }
  clt_scope_begin();
  int64_t n = c.B0 * c.L * c.B1 * c.Ev;
  tu_check_close(clt_from_host(dev, CLT_FLOAT64, 1, &n, r[1]), 1, &n, r[0], 1e-12, "merged heads", "fused sdpa", dev);
  clt_scope_end();
  free(r[0]);
  free(r[1]);
}
END_TEST

/* A NaN in the v of a key that causal attention masks out for the first rows: the fused path's
 * answer (values, and which are NaN) is the composite path's, on every device, and PyTorch's
 * (its math and its flash path both give row 0 of y [1, 1.25, nan] here): masked keys take part
 * with probability 0, and 0 times NaN is NaN. The host's fused reference once skipped them and
 * gave row 0 finite. */
START_TEST(sdpa_fused_masked_nonfinite_as_composite) {
  clt_device *dev = TU_DEV;
  const int64_t L = 4, E = 3, shape[2] = {L, E};
  double qv[12], kv[12], vv[12];
  for (int i = 0; i < 12; i++) qv[i] = 0.1 * i, kv[i] = 0.05 * (11 - i), vv[i] = 1 + 0.25 * i;
  vv[11] = NAN; /* the last key's, seen by the last row only */
  double *r[2][4];
  for (int fused = 0; fused < 2; fused++) {
    clt_scope_begin();
    clt_tensor *in[3];
    const double *src[3] = {qv, kv, vv};
    for (int i = 0; i < 3; i++) {
      ck_assert((in[i] = clt_cast(clt_from_host(dev, CLT_FLOAT64, 2, shape, src[i]), CLT_FLOAT32)) != NULL);
      ck_assert_int_eq(clt_set_requires_grad(in[i], true), CLT_OK);
    }
    if (!fused) setenv("CLT_SDPA_COMPOSITE", "1", 1);
    count_fused(dev);
    clt_tensor *y = clt_scaled_dot_product_attention(in[0], in[1], in[2], NULL, 0, true, 0);
    clt_status st = y ? clt_backward(y, clt_ones(dev, CLT_FLOAT32, 2, shape)) : clt_last_status();
    uncount_fused(dev);
    unsetenv("CLT_SDPA_COMPOSITE");
    ck_assert_msg(st == CLT_OK, "%s", clt_last_error());
    ck_assert_int_eq(fused_fwd_calls, fused);
    r[fused][0] = tu_values(y);
    for (int i = 0; i < 3; i++) r[fused][1 + i] = tu_values(clt_grad(in[i]));
    clt_scope_end();
  }
  static const char *const what[4] = {"y", "q's gradient", "k's gradient", "v's gradient"};
  for (int w = 0; w < 4; w++)
    for (int i = 0; i < 12; i++) {
      double f = r[1][w][i], c = r[0][w][i];
      ck_assert_msg(isnan(f) == isnan(c) && (isnan(f) || fabs(f - c) <= 1e-5 * (1 + fabs(c))),
                    "on %s: %s[%d] is %g fused, %g composite", clt_device_spec(dev), what[w], i, f, c);
    }
  ck_assert_msg(isnan(r[1][0][2]), "on %s: y[0, 2] is %g, not NaN (PyTorch's)", clt_device_spec(dev), r[1][0][2]);
  for (int f = 0; f < 2; f++)
    for (int w = 0; w < 4; w++) free(r[f][w]);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("attn");
  TCase *tc = tu_tcase("attn");
  TU_DEVICES(tc, embedding_matches_naive);
  TU_DEVICES(tc, embedding_shapes);
  TU_DEVICES(tc, embedding_gradcheck);
  TU_DEVICES(tc, sdpa_matches_naive);
  TU_DEVICES(tc, sdpa_gradcheck);
  TU_DEVICES(tc, sdpa_split_heads_copied_once);
  TU_DEVICES(tc, sdpa_fused_matches_composite);
  TU_DEVICES(tc, sdpa_fused_gradcheck);
  TU_DEVICES(tc, sdpa_fused_heads_merge_without_copy);
  TU_DEVICES(tc, sdpa_fused_masked_nonfinite_as_composite);
  TU_DEVICES(tc, sdpa_matches_pytorch);
  TU_DEVICES(tc, sdpa_dropout);
  TU_DEVICES(tc, attn_errors_name_the_argument);
  TU_DEVICES(tc, attn_survives_every_fault);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  const char *dir = getenv("CLT_FIXTURES");
  snprintf(fixture_path, sizeof fixture_path, "%s/attn_refs.txt", dir ? dir : "tests/fixtures");
  return tu_main(suite, TU_MANY_KERNELS);
}
