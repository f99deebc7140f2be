/* What a training loop needs around the optimizer (include/clt/nn.h, clt/io.h): parameter lists,
 * gradient clipping, learning-rate schedules, and checkpoints of parameters and optimizer state
 * in safetensors files. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clt/io.h"
#include "ew.h"
#include "optim.h"
#include "reduce.h"

#define CLT_PI 3.14159265358979323846 /* Python's math.pi as a double */

/* ---- parameter lists -------------------------------------------------------------------- */

struct clt_params {
  int n, cap;
  clt_tensor **tensors;
  char **names;
};

clt_status clt_params_create(clt_params **out) {
  clt__api("clt_params_create");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = clt__calloc(1, sizeof **out);
  return *out ? CLT_OK : clt__err(CLT_ERR_OOM, "cannot allocate a parameter list");
}

void clt_params_release(clt_params *l) {
  if (!l) return;
  for (int i = 0; i < l->n; i++) {
    clt__tensor_release(l->tensors[i]);
    clt__free_mem(l->names[i]);
  }
  clt__free_mem(l->tensors);
  clt__free_mem(l->names);
  clt__free_mem(l);
}

clt_status clt_params_add(clt_params *l, const char *name, clt_tensor *t) {
  clt__api("clt_params_add");
  if (!l || !name || !t) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", !l ? "l" : !name ? "name" : "t");
  if (!*name) return clt__err(CLT_ERR_INVALID_ARG, "name is empty");
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->names[i], name) == 0) return clt__err(CLT_ERR_INVALID_ARG, "name '%s' is already in the list", name);
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 8;
    clt_tensor **t2 = clt__realloc(l->tensors, (size_t)cap * sizeof *t2);
    if (t2) l->tensors = t2;
    char **n2 = t2 ? clt__realloc(l->names, (size_t)cap * sizeof *n2) : NULL;
    if (n2) l->names = n2;
    if (!t2 || !n2) return clt__err(CLT_ERR_OOM, "cannot grow a parameter list past %d entries", l->n);
    l->cap = cap;
  }
  char *copy = clt__strdup(name);
  if (!copy) return clt__err(CLT_ERR_OOM, "cannot copy the name '%s'", name);
  l->names[l->n] = copy;
  l->tensors[l->n++] = clt__retain(t);
  return CLT_OK;
}

int clt_params_size(const clt_params *l) { return l ? l->n : 0; }

clt_tensor *clt_params_at(const clt_params *l, int i) {
  clt__api("clt_params_at");
  if (!l) return clt__err(CLT_ERR_INVALID_ARG, "argument l is NULL"), NULL;
  if (i < 0 || i >= l->n) return clt__err(CLT_ERR_INDEX, "index %d is out of range for %d parameters", i, l->n), NULL;
  return clt__ret(clt__retain(l->tensors[i]));
}

const char *clt_params_name(const clt_params *l, int i) { return l && i >= 0 && i < l->n ? l->names[i] : NULL; }
clt_tensor *const *clt_params_tensors(const clt_params *l) { return l ? l->tensors : NULL; }
const char *const *clt_params_names(const clt_params *l) { return l ? (const char *const *)l->names : NULL; }

/* ---- gradient clipping ------------------------------------------------------------------ */

static clt_status check_params(clt_tensor *const *params, int n) {
  if (n < 0 || (n > 0 && !params)) return clt__err(CLT_ERR_INVALID_ARG, "params is NULL or n (%d) is negative", n);
  for (int i = 0; i < n; i++)
    if (!params[i]) return clt__err(CLT_ERR_INVALID_ARG, "params[%d] is NULL", i);
  return CLT_OK;
}

/* sum |g|^p over g (0-d), or max |g| for p = inf; NULL for an empty g under inf. */
static clt_tensor *norm_part(clt_tensor *g, double p) {
  clt_tensor *a = clt__unary(p == 2 ? CLT_OP_square : CLT_OP_abs, g, 0, 0);
  clt_tensor *b = a && p != 2 && p != 1 && !isinf(p) ? clt__binary_scalar(CLT_OP_pow, a, p, false) : clt__retain(a);
  clt_tensor *out = b ? (isinf(p) ? clt__max(b, CLT_ALL_DIMS, false) : clt__sum(b, CLT_ALL_DIMS, false)) : NULL;
  clt__tensor_release(a);
  clt__tensor_release(b);
  return out;
}

/* The norm of all gradients together, one read: the parts are added (or maxed) on the first
 * gradient's device. */
static clt_status total_norm(clt_tensor *const *params, int n, double p, double *out) {
  clt_tensor *acc = NULL;
  clt_status s = CLT_OK;
  for (int i = 0; i < n && s == CLT_OK; i++) {
    clt_tensor *g = params[i]->grad;
    if (!g || g->numel == 0) continue;
    clt_tensor *part = norm_part(g, p);
    clt_tensor *there = part && acc ? clt__to(part, acc->st->dev) : clt__retain(part);
    clt_tensor *sum = there && acc ? clt__binary(isinf(p) ? CLT_OP_maximum : CLT_OP_add, acc, there) : clt__retain(there);
    if (!sum) s = clt_last_status();
    clt__tensor_release(part);
    clt__tensor_release(there);
    clt__tensor_release(acc);
    acc = sum;
  }
  double v = 0;
  if (s == CLT_OK && acc) {
    unsigned char buf[8];
    s = clt__to_host(acc, buf);
    v = clt__load_f64(acc->dtype, buf);
  }
  clt__tensor_release(acc);
  *out = isinf(p) || p == 1 ? v : p == 2 ? sqrt(v) : pow(v, 1 / p);
  return s;
}

clt_status clt_clip_grad_norm_(int n, clt_tensor *const *params, double max_norm, double norm_type, double *total) {
  clt__api("clt_clip_grad_norm_");
  if (total) *total = NAN;
  if (check_params(params, n) != CLT_OK) return clt_last_status();
  if (!(max_norm >= 0)) return clt__err(CLT_ERR_INVALID_ARG, "max_norm %g must be >= 0", max_norm);
  if (!(norm_type > 0))
    return clt__err(CLT_ERR_INVALID_ARG, "norm_type %g must be > 0 or INFINITY", norm_type);
  double t;
  clt_status s = total_norm(params, n, norm_type, &t);
  if (s != CLT_OK) return s;
  if (total) *total = t;
  double coef = max_norm / (t + 1e-6);
  if (coef >= 1) return CLT_OK; /* PyTorch multiplies by min(coef, 1): 1 changes nothing */
  const double sc[2] = {coef, 0};
  for (int i = 0; i < n && s == CLT_OK; i++) {
    clt_tensor *g = params[i]->grad;
    if (g && g->numel) s = clt__ew_run(CLT_OP_mul, g, &g, 1, g->dtype, sc, 1);
  }
  return s;
}

clt_status clt_clip_grad_value_(int n, clt_tensor *const *params, double clip_value) {
  clt__api("clt_clip_grad_value_");
  if (check_params(params, n) != CLT_OK) return clt_last_status();
  if (!(clip_value >= 0)) return clt__err(CLT_ERR_INVALID_ARG, "clip_value %g must be >= 0", clip_value);
  const double b[2] = {-clip_value, clip_value};
  clt_status s = CLT_OK;
  for (int i = 0; i < n && s == CLT_OK; i++) {
    clt_tensor *g = params[i]->grad;
    if (g && g->numel) s = clt__ew_run(CLT_OP_clamp, g, &g, 1, g->dtype, b, 0);
  }
  return s;
}

/* ---- learning-rate schedules ------------------------------------------------------------ */

struct clt_lr_schedule {
  clt_optim *o;
  clt_lr_schedule_config c;
  double base_lr;
  int64_t last_epoch;
};

clt_lr_schedule_config clt_lr_schedule_defaults(clt_lr_schedule_kind kind) {
  clt_lr_schedule_config c = {.kind = kind, .gamma = 0.1, .start_factor = 1.0 / 3, .end_factor = 1.0, .total_iters = 5};
  return c;
}

static clt_status check_schedule(const clt_lr_schedule_config *c) {
  switch (c->kind) {
    case CLT_LR_STEP:
      if (c->step_size < 1) return clt__err(CLT_ERR_INVALID_ARG, "step_size %lld must be >= 1", (long long)c->step_size);
      if (!(c->gamma >= 0) || isinf(c->gamma)) return clt__err(CLT_ERR_INVALID_ARG, "gamma %g must be finite and >= 0", c->gamma);
      return CLT_OK;
    case CLT_LR_COSINE:
      if (c->T_max < 1) return clt__err(CLT_ERR_INVALID_ARG, "T_max %lld must be >= 1", (long long)c->T_max);
      if (!(c->eta_min >= 0) || isinf(c->eta_min))
        return clt__err(CLT_ERR_INVALID_ARG, "eta_min %g must be finite and >= 0", c->eta_min);
      return CLT_OK;
    case CLT_LR_LINEAR: /* PyTorch's bounds */
      if (!(c->start_factor > 0 && c->start_factor <= 1))
        return clt__err(CLT_ERR_INVALID_ARG, "start_factor %g must be in (0, 1]", c->start_factor);
      if (!(c->end_factor >= 0 && c->end_factor <= 1))
        return clt__err(CLT_ERR_INVALID_ARG, "end_factor %g must be in [0, 1]", c->end_factor);
      if (c->total_iters < 1) return clt__err(CLT_ERR_INVALID_ARG, "total_iters %lld must be >= 1", (long long)c->total_iters);
      return CLT_OK;
  }
  return clt__err(CLT_ERR_INVALID_ARG, "schedule kind %d is not step, cosine or linear", (int)c->kind);
}

/* The next lr from the current one, PyTorch's recursive (chainable) form, in its order of
 * operations, so that the sequences match its bit for bit. */
static double next_lr(const clt_lr_schedule *s, double lr) {
  const clt_lr_schedule_config *c = &s->c;
  int64_t e = s->last_epoch;
  switch (c->kind) {
    case CLT_LR_STEP: return e == 0 || e % c->step_size != 0 ? lr : lr * c->gamma;
    case CLT_LR_COSINE: {
      if (e == 0) return lr;
      int64_t T = c->T_max, m = ((e - 1 - T) % (2 * T) + 2 * T) % (2 * T); /* Python's % */
      if (m == 0) return lr + (s->base_lr - c->eta_min) * (1 - cos(CLT_PI / (double)T)) / 2;
      return (1 + cos(CLT_PI * (double)e / (double)T)) / (1 + cos(CLT_PI * (double)(e - 1) / (double)T)) * (lr - c->eta_min) +
             c->eta_min;
    }
    default:
      if (e == 0) return lr * c->start_factor;
      if (e > c->total_iters) return lr;
      return lr * (1.0 + (c->end_factor - c->start_factor) /
                             ((double)c->total_iters * c->start_factor + (double)(e - 1) * (c->end_factor - c->start_factor)));
  }
}

static clt_status apply_lr(clt_lr_schedule *s, const char *api) {
  double lr = next_lr(s, clt__optim_config(s->o)->lr);
  clt_status st = clt_optim_set_lr(s->o, lr);
  clt__api(api);
  return st;
}

clt_status clt_lr_schedule_create(clt_optim *o, const clt_lr_schedule_config *config, clt_lr_schedule **out) {
  clt__api("clt_lr_schedule_create");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!o || !config) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", o ? "config" : "o");
  if (check_schedule(config) != CLT_OK) return clt_last_status();
  clt_lr_schedule *s = clt__calloc(1, sizeof *s);
  if (!s) return clt__err(CLT_ERR_OOM, "cannot allocate a schedule");
  *s = (clt_lr_schedule){.o = o, .c = *config, .base_lr = clt__optim_config(o)->lr};
  clt_status st = apply_lr(s, "clt_lr_schedule_create"); /* epoch 0, as PyTorch's constructor */
  if (st != CLT_OK) {
    clt__free_mem(s);
    return st;
  }
  *out = s;
  return CLT_OK;
}

clt_status clt_lr_schedule_step(clt_lr_schedule *s) {
  clt__api("clt_lr_schedule_step");
  if (!s) return clt__err(CLT_ERR_INVALID_ARG, "argument s is NULL");
  s->last_epoch++;
  clt_status st = apply_lr(s, "clt_lr_schedule_step");
  if (st != CLT_OK) s->last_epoch--;
  return st;
}

int64_t clt_lr_schedule_last_epoch(const clt_lr_schedule *s) { return s ? s->last_epoch : -1; }

void clt_lr_schedule_release(clt_lr_schedule *s) { clt__free_mem(s); }

/* ---- names ------------------------------------------------------------------------------ */

/* A growing ", "-separated list of names, for messages and reports. */
typedef struct {
  char *s;
  size_t len, cap;
  int count;
} namelist;

static bool names_add(namelist *l, const char *name) {
  size_t add = strlen(name) + 2;
  if (l->len + add + 1 > l->cap) {
    size_t cap = (l->cap ? 2 * l->cap : 64) + add;
    char *p = clt__realloc(l->s, cap);
    if (!p) return false;
    l->s = p;
    l->cap = cap;
  }
  l->len += (size_t)snprintf(l->s + l->len, l->cap - l->len, "%s%s", l->count ? ", " : "", name);
  l->count++;
  return true;
}

static void names_free(namelist *l) { clt__free_mem(l->s); }

/* ---- loading parameters by name --------------------------------------------------------- */

static int find_name(const clt_tensor_list *l, const char *name) {
  for (int i = 0; i < clt_tensor_list_size(l); i++)
    if (strcmp(clt_tensor_list_name(l, i), name) == 0) return i;
  return -1;
}

static bool same_shape(const clt_tensor *a, const clt_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}

/* Copies src (any device) into p's storage and tells saved graphs that p changed. */
static clt_status copy_into_param(clt_tensor *p, clt_tensor *src) {
  clt_tensor *on = clt__to(src, p->st->dev);
  clt_status s = on ? clt__copy_into(p, on) : clt_last_status();
  clt__tensor_release(on);
  if (s == CLT_OK) atomic_fetch_add(&p->st->version, 1);
  return s;
}

/* Checks names, shapes and dtypes; *found[i] gets the file's index of names[i] or -1. */
static clt_status match_names(const clt_tensor_list *l, int n, const char *const *names, clt_tensor *const *params, bool strict,
                              int *found, namelist *missing, namelist *unexpected) {
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  for (int i = 0; i < n; i++) {
    if (!names[i] || !params[i]) return clt__err(CLT_ERR_INVALID_ARG, "%s[%d] is NULL", names[i] ? "params" : "names", i);
    if (params[i]->grad_fn)
      return clt__err(CLT_ERR_INVALID_ARG, "params[%d] ('%s') was made by an op; load into leaves", i, names[i]);
    for (int j = 0; j < i; j++)
      if (strcmp(names[j], names[i]) == 0) return clt__err(CLT_ERR_INVALID_ARG, "names[%d] and names[%d] are both '%s'", j, i, names[i]);
    found[i] = find_name(l, names[i]);
    if (found[i] < 0) {
      if (!names_add(missing, names[i])) return clt__err(CLT_ERR_OOM, "cannot list the missing names");
      continue;
    }
    clt_tensor *t = clt_tensor_list_at(l, found[i]);
    clt__api("clt_load_into");
    bool ok = same_shape(t, params[i]) && t->dtype == params[i]->dtype;
    if (!ok)
      clt__err(CLT_ERR_SHAPE, "'%s' is %s %s in the file and %s %s in params[%d]", names[i], clt_dtype_name(t->dtype),
               clt__shape_str(a, t->ndim, t->shape), clt_dtype_name(params[i]->dtype),
               clt__shape_str(b, params[i]->ndim, params[i]->shape), i);
    clt_release(t);
    if (!ok) return CLT_ERR_SHAPE;
  }
  for (int k = 0; k < clt_tensor_list_size(l); k++) {
    bool used = false;
    for (int i = 0; i < n && !used; i++) used = found[i] == k;
    if (!used && !names_add(unexpected, clt_tensor_list_name(l, k))) return clt__err(CLT_ERR_OOM, "cannot list the unexpected names");
  }
  if (strict && (missing->count || unexpected->count))
    return clt__err(CLT_ERR_INVALID_ARG, "strict: %d missing (%s), %d unexpected (%s)", missing->count,
                    missing->count ? missing->s : "none", unexpected->count, unexpected->count ? unexpected->s : "none");
  return CLT_OK;
}

clt_status clt_load_into(const char *path, int n, const char *const *names, clt_tensor *const *params, bool strict,
                         char **skipped) {
  clt__api("clt_load_into");
  if (skipped) *skipped = NULL;
  if (!path) return clt__err(CLT_ERR_INVALID_ARG, "argument path is NULL");
  if (n < 0 || (n > 0 && (!names || !params))) return clt__err(CLT_ERR_INVALID_ARG, "names or params is NULL, or n (%d) < 0", n);
  clt_tensor_list *l = NULL;
  clt_status s = clt_load_safetensors(path, NULL, &l);
  clt__api("clt_load_into");
  if (s != CLT_OK) return s;
  int *found = clt__calloc((size_t)(n ? n : 1), sizeof *found);
  namelist missing = {0}, unexpected = {0};
  s = found ? match_names(l, n, names, params, strict, found, &missing, &unexpected)
            : clt__err(CLT_ERR_OOM, "cannot allocate an index of %d names", n);
  for (int i = 0; i < n && s == CLT_OK; i++) {
    if (found[i] < 0) continue;
    clt_tensor *t = clt_tensor_list_at(l, found[i]);
    clt__api("clt_load_into");
    s = t ? copy_into_param(params[i], t) : clt_last_status();
    clt_release(t);
  }
  if (s == CLT_OK && skipped && (missing.count || unexpected.count)) {
    size_t len = missing.len + unexpected.len + 64;
    *skipped = clt__malloc(len);
    if (!*skipped) s = clt__err(CLT_ERR_OOM, "cannot allocate the report of skipped names");
    else
      snprintf(*skipped, len, "missing: %s; unexpected: %s", missing.count ? missing.s : "none",
               unexpected.count ? unexpected.s : "none");
  }
  if (s != CLT_OK) clt__err_append(" (in '%s')", path);
  names_free(&missing);
  names_free(&unexpected);
  clt__free_mem(found);
  clt_tensor_list_release(l);
  return s;
}

/* ---- optimizer checkpoints -------------------------------------------------------------- */

/* PyTorch's names for a parameter's state buffers: SGD's momentum, Adam's two moments. */
static const char *state_key(clt_optim_kind kind, int k) {
  if (kind == CLT_OPTIM_SGD) return k == 0 ? "momentum_buffer" : NULL;
  return k == 0 ? "exp_avg" : "exp_avg_sq";
}

/* Up to 4 tensors per parameter (two buffers, step) and the lr. */
typedef struct {
  int n;
  char **names;
  clt_tensor **tensors;
} entries;

static clt_status entry_add(entries *e, const char *name, clt_tensor *t) {
  char *copy = t ? clt__strdup(name) : NULL;
  if (!copy) {
    clt__tensor_release(t);
    return t ? clt__err(CLT_ERR_OOM, "cannot copy a name") : clt_last_status();
  }
  e->names[e->n] = copy;
  e->tensors[e->n++] = t;
  return CLT_OK;
}

static void entries_free(entries *e) {
  for (int i = 0; i < e->n; i++) {
    clt__free_mem(e->names[i]);
    clt__tensor_release(e->tensors[i]);
  }
  clt__free_mem(e->names);
  clt__free_mem(e->tensors);
}

static clt_tensor *host_scalar(clt_device *host, double v) { return clt__from_host(host, CLT_FLOAT64, 0, NULL, &v); }

clt_status clt_optim_save(const char *path, const clt_optim *o) {
  clt__api("clt_optim_save");
  if (!o || !path) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", o ? "path" : "o");
  const clt_optim_config *c = clt__optim_config(o);
  int n = clt__optim_count(o);
  entries e = {0};
  e.names = clt__calloc((size_t)n * 3 + 1, sizeof *e.names);
  e.tensors = clt__calloc((size_t)n * 3 + 1, sizeof *e.tensors);
  clt_device *host = NULL;
  clt_status s = !e.names || !e.tensors ? clt__err(CLT_ERR_OOM, "cannot list the state of %d parameters", n) : clt__host_for(NULL, &host);
  if (s == CLT_OK) s = entry_add(&e, "param_groups.0.lr", host_scalar(host, c->lr));
  for (int i = 0; i < n && s == CLT_OK; i++) {
    clt_tensor *st[2] = {NULL, NULL};
    s = clt_optim_get_state(o, i, &st[0], &st[1]);
    clt__api("clt_optim_save");
    char name[64];
    for (int k = 0; k < 2 && s == CLT_OK; k++) {
      if (!st[k]) continue;
      snprintf(name, sizeof name, "state.%d.%s", i, state_key(c->kind, k));
      s = entry_add(&e, name, clt__retain(st[k]));
    }
    if (s == CLT_OK && st[0] && c->kind != CLT_OPTIM_SGD) { /* PyTorch's Adam keeps a step per parameter */
      snprintf(name, sizeof name, "state.%d.step", i);
      s = entry_add(&e, name, host_scalar(host, (double)clt_optim_steps(o)));
    }
    if (st[0] || st[1]) { /* get_state's references */
      clt_release(st[0]);
      clt_release(st[1]);
    }
  }
  if (s == CLT_OK) {
    s = clt_save_safetensors(path, e.n, (const char *const *)e.names, e.tensors);
    clt__api("clt_optim_save");
  }
  entries_free(&e);
  clt_device_release(host);
  return s;
}

/* Parses "state.<i>.<key>" into i and the buffer slot k (0, 1; 2: step); false for any other. */
static bool parse_state_name(const char *name, clt_optim_kind kind, int n, int *i, int *k) {
  long v;
  int used = 0;
  char key[32];
  if (sscanf(name, "state.%ld.%31s%n", &v, key, &used) != 2 || name[used] || v < 0 || v >= n) return false;
  char canon[64];
  snprintf(canon, sizeof canon, "state.%ld.%s", v, key); /* no sign, no leading zeros */
  if (strcmp(canon, name) != 0) return false;
  *i = (int)v;
  for (*k = 0; *k < 2; (*k)++)
    if (state_key(kind, *k) && strcmp(key, state_key(kind, *k)) == 0) return true;
  *k = 2;
  return kind != CLT_OPTIM_SGD && strcmp(key, "step") == 0;
}

static clt_status read_scalar(const clt_tensor_list *l, int idx, double *v) {
  clt_tensor *t = clt_tensor_list_at(l, idx);
  clt__api("clt_optim_load");
  clt_status s = !t ? clt_last_status()
                 : t->numel != 1 || !clt_dtype_is_float(t->dtype)
                     ? clt__err(CLT_ERR_FORMAT, "'%s' must hold one float", clt_tensor_list_name(l, idx))
                     : clt_item(t, v);
  clt_release(t);
  clt__api("clt_optim_load");
  return s;
}

clt_status clt_optim_load(const char *path, clt_optim *o) {
  clt__api("clt_optim_load");
  if (!o || !path) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", o ? "path" : "o");
  const clt_optim_config *c = clt__optim_config(o);
  int n = clt__optim_count(o);
  clt_tensor_list *l = NULL;
  clt_status s = clt_load_safetensors(path, NULL, &l);
  clt__api("clt_optim_load");
  if (s != CLT_OK) return s;
  int *slot = clt__malloc((size_t)n * 2 * sizeof *slot); /* the file's index of each buffer, or -1 */
  if (!slot) s = clt__err(CLT_ERR_OOM, "cannot index the state of %d parameters", n);
  for (int i = 0; s == CLT_OK && i < 2 * n; i++) slot[i] = -1;
  double lr = c->lr, step = -1;
  for (int j = 0; s == CLT_OK && j < clt_tensor_list_size(l); j++) {
    const char *name = clt_tensor_list_name(l, j);
    int i, k;
    double v;
    if (strcmp(name, "param_groups.0.lr") == 0) {
      s = read_scalar(l, j, &lr);
    } else if (!parse_state_name(name, c->kind, n, &i, &k)) {
      s = clt__err(CLT_ERR_INVALID_ARG, "unexpected entry '%s' for %s over %d parameters", name,
                   c->kind == CLT_OPTIM_SGD ? "SGD" : c->kind == CLT_OPTIM_ADAM ? "Adam" : "AdamW", n);
    } else if (k == 2) {
      if ((s = read_scalar(l, j, &v)) == CLT_OK && step >= 0 && v != step)
        s = clt__err(CLT_ERR_INVALID_ARG, "'%s' is %g, another parameter's step %g: clt keeps one count", name, v, step);
      step = v;
    } else {
      slot[2 * i + k] = j;
    }
  }
  if (s == CLT_OK && !(lr >= 0 && isfinite(lr))) s = clt__err(CLT_ERR_FORMAT, "param_groups.0.lr %g is not a learning rate", lr);
  if (s == CLT_OK && (step != floor(step) || step > 9e15)) s = clt__err(CLT_ERR_FORMAT, "step %g is not a count", step);
  /* all checks (state_set's too) before any change, so a bad file leaves o as it was */
  for (int i = 0; s == CLT_OK && i < n; i++) {
    bool want2 = c->kind != CLT_OPTIM_SGD;
    if (want2 && (slot[2 * i] < 0) != (slot[2 * i + 1] < 0))
      s = clt__err(CLT_ERR_FORMAT, "parameter %d has one of exp_avg and exp_avg_sq", i);
  }
  clt_tensor **st = s == CLT_OK ? clt__calloc((size_t)n * 2 + 1, sizeof *st) : NULL;
  if (s == CLT_OK && !st) s = clt__err(CLT_ERR_OOM, "cannot hold the state of %d parameters", n);
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  for (int i = 0; s == CLT_OK && i < 2 * n; i++) {
    if (slot[i] < 0) continue;
    st[i] = clt_tensor_list_at(l, slot[i]);
    clt__api("clt_optim_load");
    const clt_tensor *p = clt__optim_param(o, i / 2);
    if (!st[i])
      s = clt_last_status();
    else if (!same_shape(st[i], p) || !clt_dtype_is_float(st[i]->dtype))
      s = clt__err(CLT_ERR_SHAPE, "'%s' is %s %s; parameter %d is %s", clt_tensor_list_name(l, slot[i]),
                   clt_dtype_name(st[i]->dtype), clt__shape_str(a, st[i]->ndim, st[i]->shape), i / 2,
                   clt__shape_str(b, p->ndim, p->shape));
  }
  /* set_state copies each buffer; only a failed copy (memory, device) stops it part way */
  for (int i = 0; s == CLT_OK && i < n; i++) {
    s = clt_optim_set_state(o, i, st[2 * i], st[2 * i + 1]);
    clt__api("clt_optim_load");
  }
  if (s == CLT_OK) s = clt_optim_set_lr(o, lr);
  if (s == CLT_OK && step >= 0) s = clt_optim_set_steps(o, (int64_t)step);
  clt__api("clt_optim_load");
  for (int i = 0; st && i < 2 * n; i++) clt_release(st[i]);
  if (s != CLT_OK) clt__err_append(" (in '%s')", path);
  clt__free_mem(st);
  clt__free_mem(slot);
  clt_tensor_list_release(l);
  return s;
}
