/* Training utilities (clt/nn.h, clt/io.h): parameter lists, gradient clipping against naive
 * float64 norms, learning-rate schedules against PyTorch's sequences
 * (tests/fixtures/sched_refs.txt, tools/make_sched_refs.py), loading parameters by name, and
 * optimizer checkpoints (a resumed run steps as the uninterrupted one; PyTorch's Adam state,
 * tests/fixtures/adam_*.safetensors from tools/make_optim_refs.py); bad arguments. */
#include <stdio.h>
#include <unistd.h>

#include "tu.h"

static char fixtures[512];

static double *pattern(int64_t n, int seed) {
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = -1 + 2 * (double)((i * 7919 + seed * 104729) % 1009) / 1009.0;
  return v;
}

/* A leaf of shape that requires grad, holding pattern(seed), and its gradient set to
 * pattern(seed + 50) scaled by gscale through a backward of sum(p * g). */
static clt_tensor *param_with_grad(clt_device *dev, clt_dtype dt, int nd, const int64_t *shape, int seed, double gscale) {
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= shape[d];
  double *v = pattern(n, seed), *g = pattern(n, seed + 50);
  for (int64_t i = 0; i < n; i++) g[i] *= gscale;
  clt_tensor *p = clt_cast(clt_from_host(dev, CLT_FLOAT64, nd, shape, v), dt);
  clt_tensor *gt = clt_cast(clt_from_host(dev, CLT_FLOAT64, nd, shape, g), dt);
  free(v);
  free(g);
  ck_assert_int_eq(clt_set_requires_grad(p, true), CLT_OK);
  ck_assert_int_eq(clt_backward(clt_sum(clt_mul(p, gt), CLT_ALL_DIMS, false), NULL), CLT_OK);
  return p;
}

/* ---- parameter lists -------------------------------------------------------------------- */

START_TEST(params_list) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_params *l;
  ck_assert_int_eq(clt_params_create(&l), CLT_OK);
  char name[32];
  for (int i = 0; i < 20; i++) { /* past the first growth */
    snprintf(name, sizeof name, "layer%d.weight", i);
    clt_tensor *t = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){i + 1});
    ck_assert_int_eq(clt_set_requires_grad(t, true), CLT_OK);
    ck_assert_int_eq(clt_params_add(l, name, t), CLT_OK);
  }
  clt_scope_end(); /* the list keeps its tensors */
  clt_scope_begin();
  ck_assert_int_eq(clt_params_size(l), 20);
  ck_assert_str_eq(clt_params_name(l, 7), "layer7.weight");
  ck_assert_str_eq(clt_params_names(l)[19], "layer19.weight");
  ck_assert_int_eq(clt_numel(clt_params_at(l, 7)), 8);
  ck_assert_ptr_eq(clt_params_tensors(l)[7], clt_params_at(l, 7));
  ck_assert_ptr_null(clt_params_at(l, 20));
  TU_ASSERT_ERR(CLT_ERR_INDEX, "clt_params_at", "index 20", "20 parameters");
  ck_assert_ptr_null(clt_params_name(l, -1));
  ck_assert_int_eq(clt_params_add(l, "layer3.weight", clt_params_tensors(l)[0]), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_params_add", "'layer3.weight' is already in the list");
  ck_assert_int_eq(clt_params_add(l, "", clt_params_tensors(l)[0]), CLT_ERR_INVALID_ARG);
  ck_assert_int_eq(clt_params_add(l, "x", NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_params_add", "t");
  ck_assert_int_eq(clt_params_create(NULL), CLT_ERR_INVALID_ARG);
  ck_assert_int_eq(clt_params_size(NULL), 0);
  ck_assert_ptr_null(clt_params_tensors(NULL));
  ck_assert_ptr_null(clt_params_names(NULL));
  /* the arrays go straight to the optimizer */
  clt_optim *o;
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_SGD);
  ck_assert_msg(clt_optim_create(&cfg, clt_params_size(l), clt_params_tensors(l), &o) == CLT_OK, "%s", clt_last_error());
  clt_optim_release(o);
  clt_scope_end();
  clt_params_release(l);
  clt_params_release(NULL);
}
END_TEST

/* ---- gradient clipping ------------------------------------------------------------------ */

START_TEST(clip_grad_norm_matches_naive) {
  clt_device *dev = TU_DEV;
  const double types[] = {2, INFINITY, 1, 3};
  for (int ti = 0; ti < 4; ti++)
    for (int big = 0; big < 2; big++) {
      double p = types[ti], gscale = big ? 10 : 0.01;
      clt_scope_begin();
      clt_tensor *ps[4] = {param_with_grad(dev, CLT_FLOAT64, 2, (const int64_t[]){3, 4}, 1, gscale),
                           clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){5}), /* no gradient: skipped */
                           param_with_grad(dev, CLT_FLOAT32, 1, (const int64_t[]){7}, 2, -gscale),
                           param_with_grad(dev, CLT_FLOAT64, 3, (const int64_t[]){2, 1, 3}, 3, gscale)};
      double *before[4] = {NULL}, want = 0;
      for (int i = 0; i < 4; i++) {
        if (i == 1) continue;
        before[i] = tu_values(clt_grad(ps[i]));
        for (int64_t j = 0; j < clt_numel(ps[i]); j++)
          want = isinf(p) ? fmax(want, fabs(before[i][j])) : want + pow(fabs(before[i][j]), p);
      }
      if (!isinf(p)) want = pow(want, 1 / p);
      double total = 0, max_norm = 1.5;
      ck_assert_msg(clt_clip_grad_norm_(4, ps, max_norm, p, &total) == CLT_OK, "%s", clt_last_error());
      ck_assert_msg(fabs(total - want) <= 1e-6 * want, "norm %g: total %.17g, want %.17g", p, total, want);
      double coef = fmin(max_norm / (want + 1e-6), 1);
      ck_assert_msg(big == (coef < 1), "case %d: coef %g", big, coef);
      for (int i = 0; i < 4; i++) {
        if (i == 1) {
          ck_assert_ptr_null(clt_grad(ps[i]));
          continue;
        }
        double *after = tu_values(clt_grad(ps[i]));
        for (int64_t j = 0; j < clt_numel(ps[i]); j++)
          ck_assert_msg(fabs(after[j] - before[i][j] * coef) <= 1e-6 * fabs(before[i][j]), "norm %g param %d [%lld]: %g, want %g",
                        p, i, (long long)j, after[j], before[i][j] * coef);
        free(after);
        free(before[i]);
      }
      clt_scope_end();
    }
  /* nothing with a gradient: total 0 */
  clt_scope_begin();
  clt_tensor *z = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){2});
  double total = -1;
  ck_assert_int_eq(clt_clip_grad_norm_(1, &z, 1, 2, &total), CLT_OK);
  ck_assert(total == 0);
  ck_assert_int_eq(clt_clip_grad_norm_(0, NULL, 1, 2, NULL), CLT_OK);
  clt_scope_end();
}
END_TEST

START_TEST(clip_grad_value_clamps) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *ps[2] = {param_with_grad(dev, CLT_FLOAT32, 2, (const int64_t[]){4, 5}, 4, 2),
                       clt_zeros(dev, CLT_FLOAT64, 1, (const int64_t[]){3})};
  double *before = tu_values(clt_grad(ps[0]));
  ck_assert_int_eq(clt_clip_grad_value_(2, ps, 0.75), CLT_OK);
  double *after = tu_values(clt_grad(ps[0]));
  int clipped = 0;
  for (int j = 0; j < 20; j++) {
    double want = fmin(fmax(before[j], -0.75), 0.75);
    clipped += want != before[j];
    ck_assert_msg(after[j] == want, "[%d] %g, want %g", j, after[j], want);
  }
  ck_assert_int_gt(clipped, 3);
  ck_assert_ptr_null(clt_grad(ps[1]));
  free(before);
  free(after);
  clt_scope_end();
}
END_TEST

START_TEST(clip_errors) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *ps[2] = {clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){2}), NULL};
  ck_assert_int_eq(clt_clip_grad_norm_(2, ps, 1, 2, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_clip_grad_norm_", "params[1] is NULL");
  ck_assert_int_eq(clt_clip_grad_norm_(1, ps, -1, 2, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_clip_grad_norm_", "max_norm -1");
  ck_assert_int_eq(clt_clip_grad_norm_(1, ps, 1, 0, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_clip_grad_norm_", "norm_type 0");
  ck_assert_int_eq(clt_clip_grad_norm_(1, ps, 1, -INFINITY, NULL), CLT_ERR_INVALID_ARG);
  ck_assert_int_eq(clt_clip_grad_norm_(1, NULL, 1, 2, NULL), CLT_ERR_INVALID_ARG);
  ck_assert_int_eq(clt_clip_grad_value_(1, ps, NAN), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_clip_grad_value_", "clip_value nan");
  ck_assert_int_eq(clt_clip_grad_value_(-1, ps, 1), CLT_ERR_INVALID_ARG);
  clt_scope_end();
}
END_TEST

/* ---- learning-rate schedules ------------------------------------------------------------ */

START_TEST(lr_schedules_match_pytorch) {
  clt_device *dev = TU_DEV;
  char path[600];
  snprintf(path, sizeof path, "%s/sched_refs.txt", fixtures);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char kind[16];
  double lr, a, b;
  long long c, steps;
  int ncase = 0, kinds = 0;
  clt_scope_begin();
  clt_tensor *w = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){2});
  clt_set_requires_grad(w, true);
  while (fscanf(f, "%15s %lf %lf %lf %lld %lld", kind, &lr, &a, &b, &c, &steps) == 6) {
    clt_optim_config oc = clt_optim_defaults(CLT_OPTIM_SGD);
    oc.lr = lr;
    clt_optim *o;
    ck_assert_int_eq(clt_optim_create(&oc, 1, &w, &o), CLT_OK);
    clt_lr_schedule_config sc;
    if (strcmp(kind, "step") == 0) {
      sc = clt_lr_schedule_defaults(CLT_LR_STEP);
      sc.step_size = (int64_t)a, sc.gamma = b;
      kinds |= 1;
    } else if (strcmp(kind, "cosine") == 0) {
      sc = clt_lr_schedule_defaults(CLT_LR_COSINE);
      sc.T_max = (int64_t)a, sc.eta_min = b;
      kinds |= 2;
    } else {
      sc = clt_lr_schedule_defaults(CLT_LR_LINEAR);
      sc.start_factor = a, sc.end_factor = b, sc.total_iters = c;
      kinds |= 4;
    }
    clt_lr_schedule *s;
    ck_assert_msg(clt_lr_schedule_create(o, &sc, &s) == CLT_OK, "%s", clt_last_error());
    for (long long i = 0; i <= steps; i++) {
      double want, got;
      ck_assert_int_eq(fscanf(f, "%lf", &want), 1);
      if (i > 0) ck_assert_int_eq(clt_lr_schedule_step(s), CLT_OK);
      ck_assert_int_eq(clt_optim_get_lr(o, &got), CLT_OK);
      ck_assert_int_eq(clt_lr_schedule_last_epoch(s), i);
      ck_assert_msg(got == want, "%s case %d, step %lld: lr %.17g, PyTorch %.17g", kind, ncase, i, got, want);
    }
    clt_lr_schedule_release(s);
    clt_optim_release(o);
    ncase++;
  }
  fclose(f);
  clt_scope_end();
  ck_assert_msg(ncase >= 7 && kinds == 7, "%s: %d cases", path, ncase);
}
END_TEST

START_TEST(lr_schedule_errors) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *w = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){2});
  clt_set_requires_grad(w, true);
  clt_optim_config oc = clt_optim_defaults(CLT_OPTIM_ADAM);
  clt_optim *o;
  ck_assert_int_eq(clt_optim_create(&oc, 1, &w, &o), CLT_OK);
  clt_lr_schedule *s = (clt_lr_schedule *)1;
  clt_lr_schedule_config c = clt_lr_schedule_defaults(CLT_LR_STEP);
  ck_assert_int_eq(clt_lr_schedule_create(o, &c, &s), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_lr_schedule_create", "step_size 0");
  ck_assert_ptr_null(s);
  c = clt_lr_schedule_defaults(CLT_LR_COSINE);
  ck_assert_int_eq(clt_lr_schedule_create(o, &c, &s), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_lr_schedule_create", "T_max 0");
  c = clt_lr_schedule_defaults(CLT_LR_LINEAR);
  c.start_factor = 0;
  ck_assert_int_eq(clt_lr_schedule_create(o, &c, &s), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_lr_schedule_create", "start_factor 0");
  c = clt_lr_schedule_defaults((clt_lr_schedule_kind)7);
  ck_assert_int_eq(clt_lr_schedule_create(o, &c, &s), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_lr_schedule_create", "kind 7");
  ck_assert_int_eq(clt_lr_schedule_create(NULL, &c, &s), CLT_ERR_INVALID_ARG);
  ck_assert_int_eq(clt_lr_schedule_step(NULL), CLT_ERR_INVALID_ARG);
  ck_assert_int_eq(clt_lr_schedule_last_epoch(NULL), -1);
  double lr;
  ck_assert_int_eq(clt_optim_get_lr(NULL, &lr), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_optim_get_lr", "o");
  ck_assert_int_eq(clt_optim_get_lr(o, &lr), CLT_OK);
  ck_assert(lr == 1e-3);
  clt_lr_schedule_release(NULL);
  clt_optim_release(o);
  clt_scope_end();
}
END_TEST

/* ---- loading parameters by name --------------------------------------------------------- */

/* In memory where there is a tmpfs: saves sync the file and its directory, which on a disk
 * made the fault sweep's hundreds of saves take 40 s. */
static void tmp_path(char *buf, size_t cap, const char *what) {
  const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(buf, cap, "%s/clt-train-utils-%ld-%s.safetensors", dir, (long)getpid(), what);
}

START_TEST(load_into_by_name) {
  clt_device *dev = TU_DEV;
  char path[256];
  tmp_path(path, sizeof path, "params");
  clt_scope_begin();
  clt_tensor *src[3] = {clt_arange(dev, CLT_FLOAT32, 0, 6, 1), clt_full(dev, CLT_FLOAT64, 2, (const int64_t[]){2, 2}, 7),
                        clt_ones(dev, CLT_FLOAT32, 1, (const int64_t[]){3})};
  const char *names[3] = {"w", "b", "extra"};
  ck_assert_int_eq(clt_save_safetensors(path, 3, names, src), CLT_OK);
  clt_tensor *w = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){6}), *b = clt_zeros(dev, CLT_FLOAT64, 2, (const int64_t[]){2, 2});
  clt_tensor *m = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){4});
  clt_set_requires_grad(w, true);
  clt_tensor *params[3] = {w, b, m};
  const char *pn[3] = {"w", "b", "missing"};
  /* strict: refused, naming both lists, nothing copied */
  char *skipped = (char *)1;
  ck_assert_int_eq(clt_load_into(path, 3, pn, params, true, &skipped), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_load_into", "1 missing (missing)", "1 unexpected (extra)", path);
  ck_assert_ptr_null(skipped);
  tu_assert_values(w, 1, (const int64_t[]){6}, (const double[]){0, 0, 0, 0, 0, 0});
  /* not strict: the two found are copied, the rest reported */
  ck_assert_msg(clt_load_into(path, 3, pn, params, false, &skipped) == CLT_OK, "%s", clt_last_error());
  ck_assert_str_eq(skipped, "missing: missing; unexpected: extra");
  clt_free(skipped);
  tu_assert_values(w, 1, (const int64_t[]){6}, (const double[]){0, 1, 2, 3, 4, 5});
  tu_assert_values(b, 2, (const int64_t[]){2, 2}, (const double[]){7, 7, 7, 7});
  /* strict with every name: nothing skipped */
  clt_tensor *all[3] = {w, b, clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){3})};
  ck_assert_int_eq(clt_load_into(path, 3, names, all, true, &skipped), CLT_OK);
  ck_assert_ptr_null(skipped);
  tu_assert_values(all[2], 1, (const int64_t[]){3}, (const double[]){1, 1, 1});
  /* shapes and dtypes are checked, strict or not, before anything is copied */
  clt_tensor *w5 = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){5}), *bf = clt_zeros(dev, CLT_FLOAT32, 2, (const int64_t[]){2, 2});
  clt_tensor *bad[2] = {b, w5};
  ck_assert_int_eq(clt_load_into(path, 2, (const char *[]){"b", "w"}, bad, false, NULL), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_load_into", "'w' is float32 [6] in the file and float32 [5] in params[1]", path);
  bad[1] = bf;
  ck_assert_int_eq(clt_load_into(path, 1, (const char *[]){"b"}, &bf, false, NULL), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_load_into", "'b' is float64 [2,2] in the file and float32 [2,2]");
  ck_assert_int_eq(clt_load_into(path, 2, (const char *[]){"w", "w"}, (clt_tensor *[]){w, w}, false, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_load_into", "names[0] and names[1] are both 'w'");
  clt_tensor *made = clt_add(w, w);
  ck_assert_int_eq(clt_load_into(path, 1, (const char *[]){"w"}, &made, false, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_load_into", "made by an op");
  ck_assert_int_eq(clt_load_into("/nonexistent/x.safetensors", 1, names, &w, false, NULL), CLT_ERR_IO);
  ck_assert_int_eq(clt_load_into(NULL, 1, names, &w, false, NULL), CLT_ERR_INVALID_ARG);
  clt_scope_end();
  unlink(path);
}
END_TEST

/* ---- optimizer checkpoints -------------------------------------------------------------- */

/* Two parameters, n steps of opt with fixed gradients (pattern(seed + step)). */
static void train(clt_optim *o, clt_tensor *const *ps, int from, int to) {
  for (int s = from; s < to; s++) {
    clt_scope_begin();
    clt_tensor *loss = NULL;
    for (int i = 0; i < 2; i++) {
      double *g = pattern(clt_numel(ps[i]), 30 * s + i);
      clt_tensor *gt = clt_from_host(clt_device_of(ps[i]), clt_dtype_of(ps[i]), clt_ndim(ps[i]), clt_shape(ps[i]), g);
      free(g);
      clt_tensor *part = clt_sum(clt_mul(ps[i], gt), CLT_ALL_DIMS, false);
      loss = loss ? clt_add(loss, part) : part;
    }
    ck_assert_int_eq(clt_optim_zero_grad(o), CLT_OK);
    ck_assert_int_eq(clt_backward(loss, NULL), CLT_OK);
    ck_assert_int_eq(clt_optim_step(o), CLT_OK);
    clt_scope_end();
  }
}

static clt_tensor *leaf(clt_device *dev, clt_dtype dt, int nd, const int64_t *shape, int seed) {
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= shape[d];
  double *v = pattern(n, seed);
  clt_tensor *t = clt_cast(clt_from_host(dev, CLT_FLOAT64, nd, shape, v), dt);
  free(v);
  clt_set_requires_grad(t, true);
  return t;
}

/* Saved after 3 steps and loaded into a fresh optimizer (over fresh copies of the parameters),
 * 2 more steps give the uninterrupted run's parameters; the file holds PyTorch's names. */
START_TEST(optim_save_load_resumes) {
  clt_device *dev = TU_DEV;
  char path[256];
  tmp_path(path, sizeof path, "optim");
  const clt_optim_kind kinds[3] = {CLT_OPTIM_ADAM, CLT_OPTIM_SGD, CLT_OPTIM_ADAMW};
  const char *const want_names[3][6] = {
      {"param_groups.0.lr", "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step", "state.1.exp_avg", "state.1.step"},
      {"param_groups.0.lr", "state.0.momentum_buffer", "state.1.momentum_buffer", NULL},
      {"param_groups.0.lr", "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step", "state.1.exp_avg_sq", NULL}};
  for (int ki = 0; ki < 3; ki++) {
    clt_scope_begin();
    clt_optim_config cfg = clt_optim_defaults(kinds[ki]);
    cfg.momentum = 0.9;
    cfg.lr = 0.05;
    clt_tensor *a[2] = {leaf(dev, CLT_FLOAT32, 2, (const int64_t[]){3, 2}, 1), leaf(dev, CLT_FLOAT64, 1, (const int64_t[]){4}, 2)};
    clt_tensor *b[2] = {clt_detach(clt_clone(a[0])), clt_detach(clt_clone(a[1]))};
    clt_set_requires_grad(b[0], true);
    clt_set_requires_grad(b[1], true);
    clt_optim *oa, *ob;
    ck_assert_int_eq(clt_optim_create(&cfg, 2, a, &oa), CLT_OK);
    train(oa, a, 0, 3);
    ck_assert_int_eq(clt_optim_set_lr(oa, 0.02), CLT_OK); /* as a schedule would */
    ck_assert_msg(clt_optim_save(path, oa) == CLT_OK, "%s", clt_last_error());
    clt_tensor_list *l;
    ck_assert_int_eq(clt_load_safetensors(path, NULL, &l), CLT_OK);
    for (int j = 0; j < 6 && want_names[ki][j]; j++) {
      clt_tensor *t = clt_tensor_list_find(l, want_names[ki][j]);
      ck_assert_msg(t != NULL, "%s lacks %s", path, want_names[ki][j]);
      if (strstr(want_names[ki][j], "step")) {
        double v;
        ck_assert_int_eq(clt_item(t, &v), CLT_OK);
        ck_assert(v == 3);
      }
    }
    ck_assert_int_eq(clt_tensor_list_size(l), kinds[ki] == CLT_OPTIM_SGD ? 3 : 7);
    clt_tensor_list_release(l);
    /* copies of the parameters at step 3 into b, b's optimizer from the file */
    ck_assert_int_eq(clt_no_grad_begin(), CLT_OK);
    ck_assert_int_eq(clt_copy_(b[0], a[0]), CLT_OK);
    ck_assert_int_eq(clt_copy_(b[1], a[1]), CLT_OK);
    ck_assert_int_eq(clt_no_grad_end(), CLT_OK);
    cfg.lr = 0.5; /* replaced by the file's */
    ck_assert_int_eq(clt_optim_create(&cfg, 2, b, &ob), CLT_OK);
    ck_assert_msg(clt_optim_load(path, ob) == CLT_OK, "%s", clt_last_error());
    double lr;
    ck_assert_int_eq(clt_optim_get_lr(ob, &lr), CLT_OK);
    ck_assert(lr == 0.02);
    ck_assert_int_eq(clt_optim_steps(ob), kinds[ki] == CLT_OPTIM_SGD ? 0 : 3);
    train(oa, a, 3, 5);
    train(ob, b, 3, 5);
    for (int i = 0; i < 2; i++) {
      double *va = tu_values(a[i]), *vb = tu_values(b[i]);
      for (int64_t j = 0; j < clt_numel(a[i]); j++)
        ck_assert_msg(va[j] == vb[j], "kind %d param %d [%lld]: resumed %.17g, uninterrupted %.17g", ki, i, (long long)j, vb[j], va[j]);
      free(va);
      free(vb);
    }
    clt_optim_release(oa);
    clt_optim_release(ob);
    clt_scope_end();
  }
  unlink(path);
}
END_TEST

/* PyTorch's Adam state_dict after two steps (flattened by tools/make_optim_refs.py), loaded into
 * clt's Adam over the same parameters: the third step gives PyTorch's parameters. */
START_TEST(optim_load_pytorch_adam) {
  clt_device *dev = TU_DEV;
  char state[600], casef[600];
  snprintf(state, sizeof state, "%s/adam_state.safetensors", fixtures);
  snprintf(casef, sizeof casef, "%s/adam_case.safetensors", fixtures);
  clt_scope_begin();
  clt_tensor_list *c;
  ck_assert_msg(clt_load_safetensors(casef, dev, &c) == CLT_OK, "%s", clt_last_error());
  clt_tensor *p[2] = {clt_clone(clt_tensor_list_find(c, "param.0")), clt_clone(clt_tensor_list_find(c, "param.1"))};
  clt_set_requires_grad(p[0], true);
  clt_set_requires_grad(p[1], true);
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  cfg.beta1 = 0.8, cfg.beta2 = 0.95, cfg.eps = 1e-6, cfg.weight_decay = 0.1;
  clt_optim *o;
  ck_assert_int_eq(clt_optim_create(&cfg, 2, p, &o), CLT_OK);
  ck_assert_msg(clt_optim_load(state, o) == CLT_OK, "%s", clt_last_error());
  ck_assert_int_eq(clt_optim_steps(o), 2);
  clt_tensor *loss = clt_add(clt_sum(clt_mul(p[0], clt_tensor_list_find(c, "grad.0")), CLT_ALL_DIMS, false),
                             clt_sum(clt_mul(p[1], clt_tensor_list_find(c, "grad.1")), CLT_ALL_DIMS, false));
  ck_assert_int_eq(clt_backward(loss, NULL), CLT_OK);
  ck_assert_int_eq(clt_optim_step(o), CLT_OK);
  for (int i = 0; i < 2; i++) {
    double *got = tu_values(p[i]), *want = tu_values(clt_tensor_list_find(c, i ? "after.1" : "after.0"));
    for (int64_t j = 0; j < clt_numel(p[i]); j++)
      ck_assert_msg(fabs(got[j] - want[j]) <= 1e-12, "param %d [%lld]: %.17g, PyTorch %.17g", i, (long long)j, got[j], want[j]);
    free(got);
    free(want);
  }
  clt_optim_release(o);
  clt_tensor_list_release(c);
  clt_scope_end();
}
END_TEST

START_TEST(optim_load_refuses_bad_files) {
  clt_device *dev = TU_DEV;
  char path[256];
  tmp_path(path, sizeof path, "badoptim");
  clt_scope_begin();
  clt_tensor *w = leaf(dev, CLT_FLOAT32, 1, (const int64_t[]){3}, 1);
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  clt_optim *o;
  ck_assert_int_eq(clt_optim_create(&cfg, 1, &w, &o), CLT_OK);
  clt_tensor *z3 = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){3}), *z2 = clt_zeros(dev, CLT_FLOAT32, 1, (const int64_t[]){2});
  clt_tensor *lr = clt_full(dev, CLT_FLOAT64, 0, NULL, 0.25);
  struct {
    int n;
    const char *names[3];
    clt_tensor *t[3];
    clt_status st;
    const char *msg;
  } bad[] = {
      {2, {"param_groups.0.lr", "state.1.exp_avg"}, {lr, z3}, CLT_ERR_INVALID_ARG, "unexpected entry 'state.1.exp_avg' for Adam over 1"},
      {1, {"state.0.momentum_buffer"}, {z3}, CLT_ERR_INVALID_ARG, "unexpected entry 'state.0.momentum_buffer'"},
      {1, {"state.00.exp_avg"}, {z3}, CLT_ERR_INVALID_ARG, "unexpected entry 'state.00.exp_avg'"},
      {2, {"param_groups.0.lr", "state.0.exp_avg"}, {lr, z3}, CLT_ERR_FORMAT, "parameter 0 has one of exp_avg and exp_avg_sq"},
      {2, {"state.0.exp_avg", "state.0.exp_avg_sq"}, {z3, z2}, CLT_ERR_SHAPE, "'state.0.exp_avg_sq' is float32 [2]; parameter 0 is [3]"},
      {1, {"param_groups.0.lr"}, {z3}, CLT_ERR_FORMAT, "'param_groups.0.lr' must hold one float"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ck_assert_int_eq(clt_save_safetensors(path, bad[i].n, bad[i].names, bad[i].t), CLT_OK);
    ck_assert_int_eq(clt_optim_load(path, o), bad[i].st);
    TU_ASSERT_ERR(bad[i].st, "clt_optim_load", bad[i].msg, path);
    double v;
    ck_assert_int_eq(clt_optim_get_lr(o, &v), CLT_OK);
    ck_assert(v == 1e-3); /* unchanged */
  }
  ck_assert_int_eq(clt_optim_load(NULL, o), CLT_ERR_INVALID_ARG);
  ck_assert_int_eq(clt_optim_save(path, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_optim_save", "o");
  clt_optim_release(o);
  clt_scope_end();
  unlink(path);
}
END_TEST

/* ---- faults ----------------------------------------------------------------------------- */

/* A list, a backward, both clippings, Adam with a cosine schedule, the parameters and the
 * optimizer saved and loaded back, another step; *out gets a sum over the parameters and lr.
 * The calls that return no tensor run outside any scope, where a reference they forgot would
 * stay alive (a scope would release it). */
static clt_status workload(clt_device *dev, double *out) {
  char pp[256], po[256];
  tmp_path(pp, sizeof pp, "sweep-params");
  tmp_path(po, sizeof po, "sweep-optim");
  clt_status st = CLT_OK;
  clt_params *l = NULL;
  clt_optim *o = NULL;
  clt_lr_schedule *sched = NULL;
  char *skipped = NULL;
  double total, lr, sum;
  clt_scope_begin();
  clt_tensor *w = leaf(dev, CLT_FLOAT64, 2, (const int64_t[]){3, 2}, 1), *b = leaf(dev, CLT_FLOAT32, 1, (const int64_t[]){4}, 2);
  clt_tensor *loss = clt_add(clt_sum(clt_square(w), CLT_ALL_DIMS, false), clt_sum(clt_mul_scalar(b, 3), CLT_ALL_DIMS, false));
  if (!loss) {
    st = clt_last_status();
    clt_scope_end();
    return st;
  }
  if ((st = clt_backward(loss, NULL)) != CLT_OK || (st = clt_params_create(&l)) != CLT_OK ||
      (st = clt_params_add(l, "w", w)) != CLT_OK || (st = clt_params_add(l, "b", b)) != CLT_OK) {
    clt_scope_end();
    goto done;
  }
  clt_scope_end(); /* the list holds w and b */
  clt_tensor *const *ps = clt_params_tensors(l);
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  clt_lr_schedule_config sc = clt_lr_schedule_defaults(CLT_LR_COSINE);
  sc.T_max = 4;
  if ((st = clt_clip_grad_norm_(2, ps, 0.5, 2, &total)) != CLT_OK || (st = clt_clip_grad_value_(2, ps, 0.05)) != CLT_OK ||
      (st = clt_optim_create(&cfg, 2, ps, &o)) != CLT_OK || (st = clt_lr_schedule_create(o, &sc, &sched)) != CLT_OK ||
      (st = clt_optim_step(o)) != CLT_OK || (st = clt_lr_schedule_step(sched)) != CLT_OK ||
      (st = clt_save_safetensors(pp, 2, clt_params_names(l), ps)) != CLT_OK || (st = clt_optim_save(po, o)) != CLT_OK ||
      (st = clt_optim_step(o)) != CLT_OK ||
      (st = clt_load_into(pp, 2, (const char *[]){"w", "c"}, ps, false, &skipped)) != CLT_OK ||
      (st = clt_optim_load(po, o)) != CLT_OK || (st = clt_optim_step(o)) != CLT_OK || (st = clt_optim_get_lr(o, &lr)) != CLT_OK)
    goto done;
  clt_scope_begin();
  clt_tensor *r = clt_add(clt_sum(ps[0], CLT_ALL_DIMS, false), clt_sum(ps[1], CLT_ALL_DIMS, false));
  st = r ? clt_item(r, &sum) : clt_last_status();
  if (st == CLT_OK) *out = sum + lr + total + (skipped ? (double)strlen(skipped) : 0);
  clt_scope_end();
done:
  clt_free(skipped);
  clt_lr_schedule_release(sched);
  clt_optim_release(o);
  clt_params_release(l);
  unlink(pp);
  unlink(po);
  return st;
}

START_TEST(train_utils_survive_every_fault) {
  tu_fault_sweep(TU_DEV, workload, 1e-12, 30);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("train_utils");
  TCase *tc = tu_tcase("train_utils");
  TU_DEVICES(tc, params_list);
  TU_DEVICES(tc, clip_grad_norm_matches_naive);
  TU_DEVICES(tc, clip_grad_value_clamps);
  TU_DEVICES(tc, clip_errors);
  TU_DEVICES(tc, lr_schedules_match_pytorch);
  TU_DEVICES(tc, lr_schedule_errors);
  TU_DEVICES(tc, load_into_by_name);
  TU_DEVICES(tc, optim_save_load_resumes);
  TU_DEVICES(tc, optim_load_pytorch_adam);
  TU_DEVICES(tc, optim_load_refuses_bad_files);
  TU_DEVICES(tc, train_utils_survive_every_fault);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  const char *dir = getenv("CLT_FIXTURES");
  snprintf(fixtures, sizeof fixtures, "%s", dir ? dir : "tests/fixtures");
  return tu_main(suite, TU_MANY_KERNELS);
}
