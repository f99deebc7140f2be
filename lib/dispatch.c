/* The dispatch door (dispatch.h) and the description of every compute entry of the table. */
#include "dispatch.h"

#include <stddef.h>
#include <string.h>

#include "clt/nn.h"
#include "ew.h"
#include "fusion.h"

clt_status clt__dispatch(clt_device *dev, const clt__entry *e, const void *args) {
  clt_status s;
  if (clt__fusion_any_pending()) /* recorded chains this call reads or whose inputs it writes run first */
    for (int k = 0; k < e->nst; k++) {
      clt__storage *st = *(clt__storage *const *)((const char *)args + e->st[k]);
      if (st && (s = clt__fusion_settle(st, k < e->nout)) != CLT_OK) return s;
    }
  if (clt__fault_hit_call(e->point))
    s = clt__err(CLT_ERR_BACKEND, "%s failed on %s: a fault injected for a test", e->point, dev->info.spec);
  else if (dev->be->reference || !clt__check_enabled())
    s = e->call(dev, args);
  else
    s = clt__check_call(dev, e, args);
  if (s != CLT_OK && s != CLT_ERR_MISMATCH) /* a mismatch's message names the op already */
    clt__err_append(" (in %s on %s)", e->what ? e->what(args) : e->name, dev->info.spec);
  return s;
}

const clt__backend *clt__device_swap_backend(clt_device *dev, const clt__backend *be) {
  const clt__backend *old = dev->be;
  dev->be = be;
  return old;
}

/* The span of a contiguous run of n elements from off. */
static bool run(clt__span *o, int64_t off, int64_t n, clt_dtype dt) {
  int64_t one = 1;
  const int64_t *strides[1] = {&one};
  clt__iter_build(&o->it, 1, &n, 1, strides, &off);
  o->dt = dt;
  o->esize = clt_dtype_size(dt);
  o->exact = false;
  return n > 0;
}

/* Operand 0 of a walk. */
static bool operand0(clt__span *o, const clt__iter *it, clt_dtype dt, size_t esize, bool exact) {
  const int64_t *strides[1] = {it->strides[0]};
  clt__iter_build(&o->it, it->ndim, it->shape, 1, strides, &it->offset[0]);
  o->dt = dt;
  o->esize = esize;
  o->exact = exact;
  return it->numel > 0;
}

#define ST(type, f) offsetof(type, f)

/* Entries other than ew, cast, copy, fill and gather have no 16-bit kernels: the core brings
 * float16 and bfloat16 operands to float32 before it calls them (ew programs over 16-bit
 * operands compute in float32 inside each backend). Refused here, so that an op
 * that forgot reaches an error and never a kernel that reads half-sized elements as floats. */
static clt_status no16(clt_dtype dt, const char *entry) {
  if (dt != CLT_FLOAT16 && dt != CLT_BFLOAT16) return CLT_OK;
  return clt__err(CLT_ERR_DTYPE, "dispatch(%s): %s operands reach no backend entry but ew, cast, copy, fill and gather",
                  entry, clt_dtype_name(dt));
}

/* ---- elementwise ops -------------------------------------------------------------------- */

typedef struct {
  const clt__ew_prog *p;
  const clt__iter *it;
  clt__storage *st[CLT__MAX_OPS]; /* output first; NULL past it->nops */
} ew_call;

static clt_status call_ew(clt_device *dev, const void *a) {
  const ew_call *x = a;
  return dev->be->ew(dev, x->p, x->it, x->st);
}
static bool span_ew(const void *a, int k, clt__span *o) {
  const ew_call *x = a;
  clt_dtype dt = clt__ew_prog_out_dtype(x->p);
  (void)k;
  return operand0(o, x->it, dt, clt_dtype_size(dt), false);
}
static const char *what_ew(const void *a) { return clt__ew_prog_name(((const ew_call *)a)->p); }
static const clt__entry entry_ew = {"ew", "dispatch(ew)", call_ew, sizeof(ew_call), CLT__MAX_OPS, 1,
                                    {ST(ew_call, st[0]), ST(ew_call, st[1]), ST(ew_call, st[2]), ST(ew_call, st[3])},
                                    {"out"}, span_ew, what_ew};

clt_status clt__run_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  ew_call x = {.p = p, .it = it};
  for (int k = 0; k < it->nops; k++) x.st[k] = st[k];
  return clt__dispatch(dev, &entry_ew, &x);
}

/* ---- casts, copies, fills, random numbers ----------------------------------------------- */

typedef struct {
  const clt__iter *it;
  clt__storage *dst;
  clt_dtype ddt;
  const clt__storage *src;
  clt_dtype sdt;
} cast_call;

static clt_status call_cast(clt_device *dev, const void *a) {
  const cast_call *x = a;
  return dev->be->cast(dev, x->it, x->dst, x->ddt, x->src, x->sdt);
}
static bool span_cast(const void *a, int k, clt__span *o) {
  const cast_call *x = a;
  (void)k;
  return operand0(o, x->it, x->ddt, clt_dtype_size(x->ddt), false);
}
static const clt__entry entry_cast = {"cast", "dispatch(cast)", call_cast, sizeof(cast_call), 2, 1,
                                      {ST(cast_call, dst), ST(cast_call, src)}, {"dst"}, span_cast, NULL};

clt_status clt__run_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                         const clt__storage *src, clt_dtype sdt) {
  cast_call x = {it, dst, ddt, src, sdt};
  return clt__dispatch(dev, &entry_cast, &x);
}

typedef struct {
  const clt__iter *it;
  clt__storage *dst;
  const clt__storage *src;
  size_t esize;
  const void *value; /* fill */
} move_call;

static clt_status call_copy(clt_device *dev, const void *a) {
  const move_call *x = a;
  return dev->be->copy(dev, x->it, x->dst, x->src, x->esize);
}
static clt_status call_fill(clt_device *dev, const void *a) {
  const move_call *x = a;
  return dev->be->fill(dev, x->it, x->dst, x->esize, x->value);
}
/* Copies and fills move bytes: compared exactly. */
static bool span_move(const void *a, int k, clt__span *o) {
  const move_call *x = a;
  (void)k;
  return operand0(o, x->it, CLT_UINT8, x->esize, true);
}
static const clt__entry entry_copy = {"copy", "dispatch(copy)", call_copy, sizeof(move_call), 2, 1,
                                      {ST(move_call, dst), ST(move_call, src)}, {"dst"}, span_move, NULL};
static const clt__entry entry_fill = {"fill", "dispatch(fill)", call_fill, sizeof(move_call), 1, 1,
                                      {ST(move_call, dst)}, {"dst"}, span_move, NULL};

clt_status clt__run_copy(clt_device *dev, const clt__iter *it, clt__storage *dst, const clt__storage *src,
                         size_t esize) {
  move_call x = {.it = it, .dst = dst, .src = src, .esize = esize};
  return clt__dispatch(dev, &entry_copy, &x);
}

clt_status clt__run_fill(clt_device *dev, const clt__iter *it, clt__storage *dst, size_t esize, const void *value) {
  move_call x = {.it = it, .dst = dst, .esize = esize, .value = value};
  return clt__dispatch(dev, &entry_fill, &x);
}

typedef struct {
  clt__storage *dst;
  int64_t off, n;
  clt_dtype dt;
  uint64_t seed, counter;
} rand_call;

static clt_status call_rand(clt_device *dev, const void *a) {
  const rand_call *x = a;
  return dev->be->rand_uniform(dev, x->dst, x->off, x->n, x->dt, x->seed, x->counter);
}
static bool span_rand(const void *a, int k, clt__span *o) {
  const rand_call *x = a;
  (void)k;
  return run(o, x->off, x->n, x->dt);
}
static const clt__entry entry_rand = {"rand_uniform", "dispatch(rand_uniform)", call_rand, sizeof(rand_call), 1, 1,
                                      {ST(rand_call, dst)}, {"dst"}, span_rand, NULL};

clt_status clt__run_rand_uniform(clt_device *dev, clt__storage *dst, int64_t off, int64_t n, clt_dtype dt,
                                 uint64_t seed, uint64_t counter) {
  rand_call x = {dst, off, n, dt, seed, counter};
  return no16(dt, "rand_uniform") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_rand, &x);
}

/* ---- reductions and softmax ------------------------------------------------------------- */

static clt_status call_reduce(clt_device *dev, const void *a) { return dev->be->reduce(dev, a); }
/* out: A*B results (A*R*B for prod's gradient) from out_off; idx: A*B indices from idx_off. */
static bool span_reduce(const void *a, int k, clt__span *o) {
  const clt__reduce_args *r = a;
  int64_t n = r->L.A * r->L.B * (r->op == CLT__R_PRODX ? r->L.R : 1);
  if (k == 0) return r->out && run(o, r->out_off, n, r->odt);
  return r->idx && run(o, r->idx_off, r->L.A * r->L.B, CLT_INT64);
}
static const char *what_reduce(const void *a) {
  static const char *const names[CLT__R_COUNT] = {
      "sum", "prod", "max", "min", "argmax", "argmin", "sum of squared deviations", "sum of exponentials",
      "max |x|", "scaled sum", "sum of deviations", "product of the others"};
  clt__rop op = ((const clt__reduce_args *)a)->op;
  return op >= 0 && op < CLT__R_COUNT ? names[op] : "reduction";
}
static const clt__entry entry_reduce = {
    "reduce", "dispatch(reduce)", call_reduce, sizeof(clt__reduce_args), 4, 2,
    {ST(clt__reduce_args, out), ST(clt__reduce_args, idx), ST(clt__reduce_args, in), ST(clt__reduce_args, m)},
    {"out", "idx"}, span_reduce, what_reduce};

clt_status clt__run_reduce(clt_device *dev, const clt__reduce_args *r) {
  if (no16(r->dt, "reduce") != CLT_OK || no16(r->odt, "reduce") != CLT_OK) return clt_last_status();
  return clt__dispatch(dev, &entry_reduce, r);
}

static clt_status call_softmax(clt_device *dev, const void *a) { return dev->be->softmax(dev, a); }
static bool span_softmax(const void *a, int k, clt__span *o) {
  const clt__softmax_args *x = a;
  int64_t shape[3] = {x->L.A, x->L.R, x->L.B}, strides[3] = {x->oA, x->oR, x->oB};
  const int64_t *ss[1] = {strides};
  (void)k;
  clt__iter_build(&o->it, 3, shape, 1, ss, &x->out_off);
  o->dt = x->dt;
  o->esize = clt_dtype_size(x->dt);
  o->exact = false;
  return o->it.numel > 0;
}
static const char *what_softmax(const void *a) { return ((const clt__softmax_args *)a)->log ? "log_softmax" : "softmax"; }
static const clt__entry entry_softmax = {
    "softmax", "dispatch(softmax)", call_softmax, sizeof(clt__softmax_args), 4, 1,
    {ST(clt__softmax_args, out), ST(clt__softmax_args, in), ST(clt__softmax_args, m), ST(clt__softmax_args, s)},
    {"out"}, span_softmax, what_softmax};

clt_status clt__run_softmax(clt_device *dev, const clt__softmax_args *a) {
  return no16(a->dt, "softmax") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_softmax, a);
}

/* ---- gather and scatter-add ------------------------------------------------------------- */

typedef struct {
  const clt__iter *it;
  int dim;
  clt__storage *out;
  const clt__storage *a, *b; /* gather: x, index; scatter: index, src */
  clt_dtype dt, idt;
} index_call;

static clt_status call_gather(clt_device *dev, const void *a) {
  const index_call *x = a;
  return dev->be->gather(dev, x->it, x->dim, x->out, x->a, x->b, x->dt, x->idt);
}
static clt_status call_scatter(clt_device *dev, const void *a) {
  const index_call *x = a;
  return dev->be->scatter_add(dev, x->it, x->dim, x->out, x->a, x->b, x->dt, x->idt);
}
/* Gather writes a contiguous run from it->offset[0]; scatter anywhere in its target. */
static bool span_gather(const void *a, int k, clt__span *o) {
  const index_call *x = a;
  (void)k;
  return run(o, x->it->offset[0], x->it->numel, x->dt);
}
static bool span_scatter(const void *a, int k, clt__span *o) {
  const index_call *x = a;
  (void)k;
  return run(o, 0, (int64_t)(x->out->nbytes / clt_dtype_size(x->dt)), x->dt);
}
static const clt__entry entry_gather = {"gather", "dispatch(gather)", call_gather, sizeof(index_call), 3, 1,
                                        {ST(index_call, out), ST(index_call, a), ST(index_call, b)},
                                        {"out"}, span_gather, NULL};
static const clt__entry entry_scatter = {"scatter_add", "dispatch(scatter_add)", call_scatter, sizeof(index_call), 3, 1,
                                         {ST(index_call, out), ST(index_call, a), ST(index_call, b)},
                                         {"out"}, span_scatter, NULL};

clt_status clt__run_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                           const clt__storage *index, clt_dtype dt, clt_dtype idt) {
  index_call c = {it, dim, out, x, index, dt, idt};
  return clt__dispatch(dev, &entry_gather, &c);
}

clt_status clt__run_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                                const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt) {
  index_call c = {it, dim, out, index, src, dt, idt};
  return no16(dt, "scatter_add") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_scatter, &c);
}

/* ---- matrix products -------------------------------------------------------------------- */

static clt_status call_gemm(clt_device *dev, const void *a) { return dev->be->gemm(dev, a); }
/* C's batch of m x n matrices: rows ldc apart, matrices c_stride apart. */
static bool span_gemm(const void *a, int k, clt__span *o) {
  const clt__gemm_args *g = a;
  if (k == 1) return g->asum && run(o, g->asum_off, g->m, g->dt); /* asum's m sums */
  int64_t shape[3] = {g->batch, g->m, g->n}, strides[3] = {g->c_stride, g->ldc, 1};
  const int64_t *ss[1] = {strides};
  clt__iter_build(&o->it, 3, shape, 1, ss, &g->c_off);
  o->dt = g->dt;
  o->esize = clt_dtype_size(g->dt);
  o->exact = false;
  return o->it.numel > 0;
}
static const clt__entry entry_gemm = {"gemm", "dispatch(gemm)", call_gemm, sizeof(clt__gemm_args), 5, 2,
                                      {ST(clt__gemm_args, c), ST(clt__gemm_args, asum), ST(clt__gemm_args, a),
                                       ST(clt__gemm_args, b), ST(clt__gemm_args, bias)},
                                      {"c", "asum", "a", "b", "bias"}, span_gemm, NULL};

clt_status clt__run_gemm(clt_device *dev, const clt__gemm_args *g) {
  return no16(g->dt, "gemm") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_gemm, g);
}

/* ---- cross entropy and optimizer steps -------------------------------------------------- */

static clt_status call_ce_fwd(clt_device *dev, const void *a) { return dev->be->ce_fwd(dev, a); }
static clt_status call_ce_bwd(clt_device *dev, const void *a) { return dev->be->ce_bwd(dev, a); }
static bool span_ce_fwd(const void *a, int k, clt__span *o) {
  const clt__ce_args *x = a;
  return run(o, 0, k == 0 ? x->N : 2 * x->N, x->dt); /* loss [N], lse [N, 2] */
}
static bool span_ce_bwd(const void *a, int k, clt__span *o) {
  const clt__ce_args *x = a;
  (void)k;
  return run(o, 0, x->N * x->C, x->dt);
}
static const char *what_ce_fwd(const void *a) {
  (void)a;
  return "cross_entropy";
}
static const char *what_ce_bwd(const void *a) {
  (void)a;
  return "cross_entropy's gradient";
}
static const clt__entry entry_ce_fwd = {
    "ce_fwd", "dispatch(ce_fwd)", call_ce_fwd, sizeof(clt__ce_args), 4, 2,
    {ST(clt__ce_args, loss), ST(clt__ce_args, lse), ST(clt__ce_args, x), ST(clt__ce_args, y)},
    {"loss", "lse"}, span_ce_fwd, what_ce_fwd};
static const clt__entry entry_ce_bwd = {
    "ce_bwd", "dispatch(ce_bwd)", call_ce_bwd, sizeof(clt__ce_args), 5, 1,
    {ST(clt__ce_args, out), ST(clt__ce_args, x), ST(clt__ce_args, y), ST(clt__ce_args, lse), ST(clt__ce_args, g)},
    {"out"}, span_ce_bwd, what_ce_bwd};

clt_status clt__run_ce_fwd(clt_device *dev, const clt__ce_args *a) {
  return no16(a->dt, "ce_fwd") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_ce_fwd, a);
}
clt_status clt__run_ce_bwd(clt_device *dev, const clt__ce_args *a) {
  return no16(a->dt, "ce_bwd") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_ce_bwd, a);
}

/* ---- normalization ---------------------------------------------------------------------- */

static clt_status call_norm_fwd(clt_device *dev, const void *a) { return dev->be->norm_fwd(dev, a); }
static clt_status call_norm_bwd(clt_device *dev, const void *a) { return dev->be->norm_bwd(dev, a); }
/* A running statistic: S elements from off, stride apart. */
static bool strided(clt__span *o, int64_t off, int64_t n, int64_t stride, clt_dtype dt) {
  const int64_t *strides[1] = {&stride};
  clt__iter_build(&o->it, 1, &n, 1, strides, &off);
  o->dt = dt;
  o->esize = clt_dtype_size(dt);
  o->exact = false;
  return n > 0;
}
/* y [P, S, Q], stats [S, 3], and the running statistics where the forward updates them. */
static bool span_norm_fwd(const void *a, int k, clt__span *o) {
  const clt__norm_args *x = a;
  if (k == 0) return run(o, 0, x->P * x->S * x->Q, x->dt);
  if (k == 1) return run(o, 0, 3 * x->S, x->dt);
  if (x->fixed) return false;
  if (k == 2) return x->rm && strided(o, x->rm_off, x->S, x->rm_stride, x->dt);
  return x->rv && strided(o, x->rv_off, x->S, x->rv_stride, x->dt);
}
/* dx [P, S, Q]; dw and db, NC channel values each. */
static bool span_norm_bwd(const void *a, int k, clt__span *o) {
  const clt__norm_args *x = a;
  if (k == 0) return x->dx && run(o, 0, x->P * x->S * x->Q, x->dt);
  int64_t nc = x->cdiv > 0 ? x->smod * x->Q / x->cdiv : 0;
  return (k == 1 ? x->dw : x->db) && run(o, 0, nc, x->dt);
}
static const char *what_norm_fwd(const void *a) {
  const clt__norm_args *x = a;
  return x->rms ? "rms_norm" : x->fixed ? "batch_norm (eval)" : "normalization";
}
static const char *what_norm_bwd(const void *a) {
  const clt__norm_args *x = a;
  return x->rms ? "rms_norm's gradient" : "normalization's gradient";
}
static const clt__entry entry_norm_fwd = {
    "norm_fwd", "dispatch(norm_fwd)", call_norm_fwd, sizeof(clt__norm_args), 7, 4,
    {ST(clt__norm_args, y), ST(clt__norm_args, stats), ST(clt__norm_args, rm), ST(clt__norm_args, rv),
     ST(clt__norm_args, x), ST(clt__norm_args, w), ST(clt__norm_args, b)},
    {"y", "stats", "running_mean", "running_var"}, span_norm_fwd, what_norm_fwd};
static const clt__entry entry_norm_bwd = {
    "norm_bwd", "dispatch(norm_bwd)", call_norm_bwd, sizeof(clt__norm_args), 7, 3,
    {ST(clt__norm_args, dx), ST(clt__norm_args, dw), ST(clt__norm_args, db), ST(clt__norm_args, g),
     ST(clt__norm_args, x), ST(clt__norm_args, stats), ST(clt__norm_args, w)},
    {"dx", "dweight", "dbias"}, span_norm_bwd, what_norm_bwd};

clt_status clt__run_norm_fwd(clt_device *dev, const clt__norm_args *a) {
  return no16(a->dt, "norm_fwd") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_norm_fwd, a);
}
clt_status clt__run_norm_bwd(clt_device *dev, const clt__norm_args *a) {
  return no16(a->dt, "norm_bwd") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_norm_bwd, a);
}

/* ---- attention -------------------------------------------------------------------------- */

static clt_status call_attn_fwd(clt_device *dev, const void *a) { return dev->be->attn_fwd(dev, a); }
static clt_status call_attn_bwd(clt_device *dev, const void *a) { return dev->be->attn_bwd(dev, a); }
/* out [B0, B1, L, Ev] at its strides, lse [B0 B1 L, 2]. */
static bool span_attn_fwd(const void *a, int k, clt__span *o) {
  const clt__attn_args *x = a;
  if (k == 1) return run(o, 0, 2 * x->B0 * x->B1 * x->L, x->dt);
  const int64_t shape[4] = {x->B0, x->B1, x->L, x->Ev}, *strides[1] = {x->os};
  clt__iter_build(&o->it, 4, shape, 1, strides, &x->oo);
  o->dt = x->dt;
  o->esize = clt_dtype_size(x->dt);
  o->exact = false;
  return o->it.numel > 0;
}
/* dq, dk, dv: contiguous. */
static bool span_attn_bwd(const void *a, int k, clt__span *o) {
  const clt__attn_args *x = a;
  int64_t rows = k == 0 ? x->L : x->S, cols = k == 2 ? x->Ev : x->E;
  return (k == 0 ? x->dq : k == 1 ? x->dk : x->dv) && run(o, 0, x->B0 * x->B1 * rows * cols, x->dt);
}
static const char *what_attn_fwd(const void *a) {
  (void)a;
  return "scaled_dot_product_attention";
}
static const char *what_attn_bwd(const void *a) {
  (void)a;
  return "scaled_dot_product_attention's gradient";
}
static const clt__entry entry_attn_fwd = {
    "attn_fwd", "dispatch(attn_fwd)", call_attn_fwd, sizeof(clt__attn_args), 5, 2,
    {ST(clt__attn_args, out), ST(clt__attn_args, lse), ST(clt__attn_args, q), ST(clt__attn_args, k),
     ST(clt__attn_args, v)},
    {"out", "lse"}, span_attn_fwd, what_attn_fwd};
static const clt__entry entry_attn_bwd = {
    "attn_bwd", "dispatch(attn_bwd)", call_attn_bwd, sizeof(clt__attn_args), 9, 3,
    {ST(clt__attn_args, dq), ST(clt__attn_args, dk), ST(clt__attn_args, dv), ST(clt__attn_args, q),
     ST(clt__attn_args, k), ST(clt__attn_args, v), ST(clt__attn_args, out), ST(clt__attn_args, lse),
     ST(clt__attn_args, g)},
    {"dq", "dk", "dv"}, span_attn_bwd, what_attn_bwd};

clt_status clt__run_attn_fwd(clt_device *dev, const clt__attn_args *a) {
  return no16(a->dt, "attn_fwd") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_attn_fwd, a);
}
clt_status clt__run_attn_bwd(clt_device *dev, const clt__attn_args *a) {
  return no16(a->dt, "attn_bwd") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_attn_bwd, a);
}

/* ---- sliding windows -------------------------------------------------------------------- */

static clt_status call_windows(clt_device *dev, const void *a) { return dev->be->windows(dev, a); }
/* y: the columns (im2col), the image (col2im, the pooling gradient) or the windows (max); yi:
 * the windows' indices (max). */
static bool span_windows(const void *a, int k, clt__span *o) {
  const clt__win_args *x = a;
  int64_t img = x->NC * x->H * x->W, win = x->NC * x->Ho * x->Wo;
  if (k == 1) {
    if (x->kind != CLT__WIN_MAX || !run(o, 0, win, CLT_INT64)) return false;
    o->exact = true;
    return true;
  }
  return run(o, 0, x->kind == CLT__WIN_IM2COL ? win * x->kh * x->kw : x->kind == CLT__WIN_MAX ? win : img, x->dt);
}
static const char *what_windows(const void *a) {
  static const char *const names[] = {"im2col", "col2im", "max_pool2d", "max_pool2d's gradient"};
  return names[((const clt__win_args *)a)->kind];
}
static const clt__entry entry_windows = {
    "windows", "dispatch(windows)", call_windows, sizeof(clt__win_args), 4, 2,
    {ST(clt__win_args, y), ST(clt__win_args, yi), ST(clt__win_args, x), ST(clt__win_args, idx)},
    {"y", "indices"}, span_windows, what_windows};

clt_status clt__run_windows(clt_device *dev, const clt__win_args *a) {
  return no16(a->dt, "windows") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_windows, a);
}

typedef struct {
  const clt__optim_hp *hp;
  clt_dtype dt;
  int64_t n, po, go;
  clt__storage *p, *s1, *s2;
  const clt__storage *g;
} optim_call;

static clt_status call_optim(clt_device *dev, const void *a) {
  const optim_call *x = a;
  return dev->be->optim_step(dev, x->hp, x->dt, x->n, x->p, x->po, x->g, x->go, x->s1, x->s2);
}
/* p from po; the state buffers from 0. */
static bool span_optim(const void *a, int k, clt__span *o) {
  const optim_call *x = a;
  if (k == 0) return run(o, x->po, x->n, x->dt);
  return (k == 1 ? x->s1 : x->s2) && run(o, 0, x->n, x->dt);
}
static const char *what_optim(const void *a) {
  int kind = ((const optim_call *)a)->hp->kind;
  return kind == CLT_OPTIM_SGD ? "sgd step" : kind == CLT_OPTIM_ADAM ? "adam step" : "adamw step";
}
static const clt__entry entry_optim = {
    "optim_step", "dispatch(optim_step)", call_optim, sizeof(optim_call), 4, 3,
    {ST(optim_call, p), ST(optim_call, s1), ST(optim_call, s2), ST(optim_call, g)},
    {"the parameter", "the first state", "the second state"}, span_optim, what_optim};

clt_status clt__run_optim_step(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                               int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2) {
  optim_call x = {.hp = hp, .dt = dt, .n = n, .po = po, .go = go, .p = p, .s1 = s1, .s2 = s2, .g = g};
  return no16(dt, "optim_step") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_optim, &x);
}

/* Several parameters: the parameters, then the first states, the second states (the outputs),
 * then the gradients, slot by slot; a slot past n holds NULLs. */
typedef struct {
  const clt__optim_hp *hp;
  clt_dtype dt;
  int n;
  clt__optim_part part[CLT__OPTIM_SLOTS];
} optims_call;

static clt_status call_optims(clt_device *dev, const void *a) {
  const optims_call *x = a;
  return dev->be->optim_steps(dev, x->hp, x->dt, x->n, x->part);
}
static bool span_optims(const void *a, int k, clt__span *o) {
  const optims_call *x = a;
  const clt__optim_part *p = &x->part[k % CLT__OPTIM_SLOTS];
  int which = k / CLT__OPTIM_SLOTS;
  if (which == 0) return run(o, p->po, p->n, x->dt);
  return (which == 1 ? p->s1 : p->s2) && run(o, 0, p->n, x->dt);
}
static const char *what_optims(const void *a) {
  int kind = ((const optims_call *)a)->hp->kind;
  return kind == CLT_OPTIM_SGD ? "sgd step" : kind == CLT_OPTIM_ADAM ? "adam step" : "adamw step";
}
#define OPT_SLOT(f, i) ST(optims_call, part[i].f)
#define OPT_FIELD(f) OPT_SLOT(f, 0), OPT_SLOT(f, 1), OPT_SLOT(f, 2), OPT_SLOT(f, 3), OPT_SLOT(f, 4)
_Static_assert(CLT__OPTIM_SLOTS == 5, "OPT_FIELD names every slot");
static const clt__entry entry_optims = {
    "optim_steps", "dispatch(optim_steps)", call_optims, sizeof(optims_call), 4 * CLT__OPTIM_SLOTS,
    3 * CLT__OPTIM_SLOTS, {OPT_FIELD(p), OPT_FIELD(s1), OPT_FIELD(s2), OPT_FIELD(g)},
    {"a parameter", "a parameter", "a parameter", "a parameter", "a parameter", "a first state", "a first state",
     "a first state", "a first state", "a first state", "a second state", "a second state", "a second state",
     "a second state", "a second state"},
    span_optims, what_optims};

clt_status clt__run_optim_steps(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int n,
                                const clt__optim_part *parts) {
  optims_call x = {.hp = hp, .dt = dt, .n = n};
  for (int i = 0; i < n; i++) x.part[i] = parts[i];
  return no16(dt, "optim_steps") != CLT_OK ? clt_last_status() : clt__dispatch(dev, &entry_optims, &x);
}
