/* Elementwise ops: dtype promotion, broadcasting, and dispatch to the backend. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd_impl.h"
#include "dispatch.h"
#include "ew.h"
#include "fusion.h"

atomic_ulong clt__kernel_launches;

/* ---- the table ------------------------------------------------------------------------- */

/* A row's columns as C data (optable.h). A term's head is pasted onto CLT__TM_, which takes the
 * slot's kernel name next (used by KERN2 and KERN3 only). */
#define CLT__NP_P0 0
#define CLT__NP_P1(a) 1
#define CLT__NP_P2(a, b) 2
#define CLT__TM_NONE(k) {CLT__T_NONE, {0, 0, 0}, 0}
#define CLT__TM_PASS(k) {CLT__T_PASS, {CLT__GO_G, 0, 0}, 0}
#define CLT__TM_ZEROS(k) {CLT__T_ZEROS, {0, 0, 0}, 0}
#define CLT__TM_OP(o, x, y, z) {CLT__T_OP, {CLT__GO_##x, CLT__GO_##y, CLT__GO_##z}, CLT_OP_##o} CLT__TM_EAT
#define CLT__TM_GK(k, x, y, z) {CLT__T_KERN, {CLT__GO_##x, CLT__GO_##y, CLT__GO_##z}, CLT__G_##k} CLT__TM_EAT
#define CLT__TM_KERN2(x, y) {CLT__T_KERN, {CLT__GO_##x, CLT__GO_##y, CLT__GO__}, CLT__TM_KID
#define CLT__TM_KERN3(x, y, z) {CLT__T_KERN, {CLT__GO_##x, CLT__GO_##y, CLT__GO_##z}, CLT__TM_KID
#define CLT__TM_KID(k) CLT__G_##k}
#define CLT__TM_EAT(k)

#define U_ROW(name, v, rule, params, g, dom, doc)                                                          \
  [CLT_OP_##name] = {#name, 1, CLT__R_##rule, CLT__NP_##params, CLT__FORMS_T, {CLT__DOM_##dom, 0, 0}, \
                     {{CLT__TM_##g(name##_bwd)}}},
#define B_ROW(name, v, rule, forms, ga, gb, gs, gr, da, db, doc)                                            \
  [CLT_OP_##name] = {#name, 2, CLT__R_##rule, 0, CLT__FORMS_##forms, {CLT__DOM_##da, CLT__DOM_##db, 0},  \
                     {{CLT__TM_##ga(name##_bwd), CLT__TM_##gb(name##_bwd_b)},                              \
                      {CLT__TM_##gs(name##_scalar_bwd)},                                                   \
                      {CLT__TM_##gr(r##name##_bwd)}}},
#define T_ROW(name, v, rule, args, g0, g1, g2, doc)                           \
  [CLT_OP_##name] = {#name, 3, CLT__R_##rule, 0, CLT__FORMS_T, {0, 0, 0}, \
                     {{CLT__TM_##g0(name##_bwd), CLT__TM_##g1(name##_bwd_b), CLT__TM_##g2(name##_bwd_c)}}},
#define CLT__GK_EMIT(k, nin) [CLT__G_##k] = {#k, nin, CLT__R_KERNEL, 2, 0, {0, 0, 0}, {{CLT__TM_NONE(k)}}},

const clt__op_info clt__op_table[CLT__EW_COUNT] = {
    CLT_UNARY_OPS(U_ROW) CLT_BINARY_OPS(B_ROW) CLT_TERNARY_OPS(T_ROW) CLT_GRAD_KERNELS};
#undef CLT__GK_EMIT

/* The public enum (clt/elementwise.h, generated from the table) agrees with the rows: a stale
 * header does not compile. */
#define ASSERT_VALUE(name, v) _Static_assert(CLT_OP_##name == v, "clt/elementwise.h is stale: run the regen target");
#define U_VALUE(name, v, rule, params, g, dom, doc) ASSERT_VALUE(name, v)
#define B_VALUE(name, v, rule, forms, ga, gb, gs, gr, da, db, doc) ASSERT_VALUE(name, v)
#define T_VALUE(name, v, rule, args, g0, g1, g2, doc) ASSERT_VALUE(name, v)
CLT_UNARY_OPS(U_VALUE)
CLT_BINARY_OPS(B_VALUE)
CLT_TERNARY_OPS(T_VALUE)

bool clt__op_valid(int op) { return op >= 0 && op < CLT_OP_COUNT && clt__op_table[op].name; }

const char *clt_op_name(clt_op op) { return clt__op_valid((int)op) ? clt__op_table[op].name : NULL; }

bool clt__op_is_unary(clt_op op) { return clt__op_table[op].arity == 1; }

int clt__op_arity(clt_op op) { return clt__op_table[op].arity; }

clt_dtype clt__op_out_dtype(int op, clt_dtype dt) {
  clt__dtype_rule r = (clt__dtype_rule)clt__op_table[op].rule;
  return r == CLT__R_CMP || r == CLT__R_LOGIC ? CLT_BOOL : dt;
}

bool clt__op_takes_bool(clt_op op, clt_dtype a, clt_dtype b) {
  clt__dtype_rule r = (clt__dtype_rule)clt__op_table[op].rule;
  if (r == CLT__R_LOGIC || r == CLT__R_CMP || r == CLT__R_WHERE) return true;
  if (clt__op_table[op].arity == 1) return a != CLT_BOOL;
  if (r == CLT__R_INT_NOBOOL) return a != CLT_BOOL && b != CLT_BOOL;
  return r != CLT__R_INT || clt__promote_types(a, b) != CLT_BOOL;
}

double clt__domain_value(clt__domain d, double u) {
  switch (d) {
    case CLT__DOM_POS: return 0.2 + 2.8 * u;
    case CLT__DOM_NONZERO: return u < 0.5 ? -2.0 + 3.0 * u : 0.5 + 3.0 * (u - 0.5);
    case CLT__DOM_EXPONENT: return -1.5 + 3.0 * u;
    default: return -2.0 + 4.0 * u;
  }
}

unsigned clt__op_saves(int op, clt__form form) {
  unsigned m = 0;
  const clt__op_info *o = &clt__op_table[op];
  for (int i = 0; i < (form == CLT__FORM_TENSOR ? o->arity : 1); i++)
    for (int k = 0; k < 3; k++) m |= 1u << o->grad[form][i].x[k];
  return m & (1u << CLT__GO_A | 1u << CLT__GO_B | 1u << CLT__GO_C | 1u << CLT__GO_Y);
}

/* ---- promotion -------------------------------------------------------------------------- */

typedef enum { KIND_BOOL, KIND_INT, KIND_FLOAT } kind;

static kind kind_of(clt_dtype dt) {
  return dt == CLT_BOOL ? KIND_BOOL : clt_dtype_is_float(dt) ? KIND_FLOAT : KIND_INT;
}

/* PyTorch's promotion of two dtypes of the same standing (torch.promote_types). */
clt_dtype clt__promote_types(clt_dtype a, clt_dtype b) {
  if (a == b) return a;
  kind ka = kind_of(a), kb = kind_of(b);
  if (ka != kb) return ka > kb ? a : b;
  if (ka == KIND_FLOAT) { /* float16, bfloat16 < float32 < float64; float16 + bfloat16 is float32 */
    int fa = a == CLT_FLOAT64 ? 2 : a == CLT_FLOAT32, fb = b == CLT_FLOAT64 ? 2 : b == CLT_FLOAT32;
    return fa == fb ? CLT_FLOAT32 : fa > fb ? a : b;
  }
  /* integers: uint8 < int32 < int64 */
  int ra = a == CLT_UINT8 ? 0 : a == CLT_INT32 ? 1 : 2, rb = b == CLT_UINT8 ? 0 : b == CLT_INT32 ? 1 : 2;
  return ra > rb ? a : b;
}

/* PyTorch's result type (c10's ResultTypeState and combine_categories): dimensioned tensors,
 * 0-d tensors and scalars are promoted among themselves, each group into its own slot; then a
 * lower slot counts only when its kind is higher than the upper one's (float over integer over
 * bool), and then by its own dtype: int32 [2] + a 0-d float64 is float64, int32 [2] + a 0-d
 * int64 is int32, bool [2] + a 0-d int32 is int32. Scalars enter with their kind's default
 * dtype: int64, or float32 for a float (torch's default dtype). SLOT_NONE: an empty slot. */
#define SLOT_NONE CLT_DTYPE_COUNT

static clt_dtype promote_slot(clt_dtype a, clt_dtype b) {
  return a == SLOT_NONE ? b : b == SLOT_NONE ? a : clt__promote_types(a, b);
}

static clt_dtype combine(clt_dtype higher, clt_dtype lower) {
  if (higher != SLOT_NONE && kind_of(higher) == KIND_FLOAT) return higher;
  if (higher == CLT_BOOL || (lower != SLOT_NONE && kind_of(lower) == KIND_FLOAT)) return promote_slot(higher, lower);
  return higher != SLOT_NONE ? higher : lower;
}

typedef struct {
  clt_dtype slot[3]; /* dimensioned tensors, 0-d tensors, scalars */
} result_state;

static void state_add(result_state *st, int slot, clt_dtype dt) { st->slot[slot] = promote_slot(st->slot[slot], dt); }

static void state_add_tensor(result_state *st, const clt_tensor *t) { state_add(st, t->ndim > 0 ? 0 : 1, t->dtype); }

/* A double scalar is a Python int when integral (and in int64's range), else a Python float. */
static void state_add_scalar(result_state *st, double s) {
  bool integral = isfinite(s) && s == floor(s) && fabs(s) < 9.2e18;
  state_add(st, 2, integral ? CLT_INT64 : CLT_FLOAT32);
}

static clt_dtype state_result(const result_state *st) { return combine(st->slot[0], combine(st->slot[1], st->slot[2])); }

#define STATE_EMPTY ((result_state){{SLOT_NONE, SLOT_NONE, SLOT_NONE}})

clt_dtype clt_result_type(const clt_tensor *a, const clt_tensor *b) {
  if (!a || !b) return CLT_DTYPE_COUNT;
  result_state st = STATE_EMPTY;
  state_add_tensor(&st, a);
  state_add_tensor(&st, b);
  return state_result(&st);
}

static clt_dtype scalar_result_type(const clt_tensor *a, double s) {
  result_state st = STATE_EMPTY;
  state_add_tensor(&st, a);
  state_add_scalar(&st, s);
  return state_result(&st);
}

/* ---- shapes and devices ----------------------------------------------------------------- */

clt_status clt__broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b, int *n, int64_t *out) {
  int m = na > nb ? na : nb;
  for (int i = 0; i < m; i++) {
    int ia = na - m + i, ib = nb - m + i;
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      char sa[CLT__SHAPE_STR], sb[CLT__SHAPE_STR];
      return clt__err(CLT_ERR_SHAPE, "shapes %s and %s cannot broadcast (dim %d: %lld vs %lld)",
                      clt__shape_str(sa, na, a), clt__shape_str(sb, nb, b), i, (long long)da, (long long)db);
    }
    out[i] = da == 1 ? db : da;
  }
  *n = m;
  if (!clt__shape_fits(m, out, NULL)) { /* expanded views can make each operand fit but not the result */
    char sa[CLT__SHAPE_STR], sb[CLT__SHAPE_STR], so[CLT__SHAPE_STR];
    return clt__err(CLT_ERR_OVERFLOW, "shapes %s and %s broadcast to %s, whose sizes multiply past 2^63 - 1",
                    clt__shape_str(sa, na, a), clt__shape_str(sb, nb, b), clt__shape_str(so, m, out));
  }
  return CLT_OK;
}

void clt__broadcast_strides(const clt_tensor *t, int ndim, const int64_t *shape, int64_t *strides) {
  for (int i = 0; i < ndim; i++) {
    int it = t->ndim - ndim + i;
    strides[i] = (it >= 0 && t->shape[it] == shape[i] && shape[i] != 1) ? t->strides[it] : 0;
  }
}

clt_status clt__check_same_device(const clt_tensor *a, const clt_tensor *b) {
  if (clt__same_device(a->st->dev, b->st->dev)) return CLT_OK;
  return clt__err(CLT_ERR_DEVICE_MISMATCH, "tensors are on different devices (%s and %s); move one with clt_to()",
                  a->st->dev->info.spec, b->st->dev->info.spec);
}

/* ---- programs --------------------------------------------------------------------------- */

/* The dtype operand k of an instruction reads (where's condition is bool). */
static clt_dtype operand_dtype(int op, clt_dtype dt, int k) {
  return clt__op_table[op].rule == CLT__R_WHERE && k == 0 ? CLT_BOOL : dt;
}

static void set_instr(clt__ew_instr *i, int op, clt_dtype dt, const int *in, const double *params, int scalar) {
  i->op = (int16_t)op;
  i->scalar = (int8_t)scalar;
  i->dt = (uint8_t)dt;
  for (int k = 0; k < 3; k++) i->in[k] = (uint8_t)(in ? in[k] : k);
  i->p[0] = params ? params[0] : 0;
  i->p[1] = params ? params[1] : 0;
}

void clt__ew_prog_single(clt__ew_prog *p, int op, int nin, clt_dtype dt, const double *params, int scalar) {
  p->n = 1;
  p->nin = nin;
  for (int k = 0; k < CLT__MAX_OPS - 1; k++) p->in_dt[k] = (uint8_t)operand_dtype(op, dt, k);
  set_instr(&p->ins[0], op, dt, NULL, params, scalar);
}

void clt__ew_prog_init(clt__ew_prog *p, int nin, const clt_dtype *in_dt) {
  p->n = 0;
  p->nin = nin;
  for (int k = 0; k < CLT__MAX_OPS - 1; k++) p->in_dt[k] = (uint8_t)(k < nin ? in_dt[k] : 0);
}

int clt__ew_prog_add(clt__ew_prog *p, int op, clt_dtype dt, const int *in, const double *params, int scalar) {
  if (p->n >= CLT__EW_MAX_INSTR)
    return clt__err(CLT_ERR_INVALID_ARG, "elementwise program: more than %d instructions", CLT__EW_MAX_INSTR), -1;
  int regs[3] = {0, 0, 0};
  for (int k = 0; k < 3 && k < clt__op_table[op].arity - (scalar ? 1 : 0); k++) regs[k] = in[k];
  set_instr(&p->ins[p->n], op, dt, regs, params, scalar);
  return p->nin + p->n++;
}

clt_dtype clt__ew_prog_reg_dtype(const clt__ew_prog *p, int r) {
  if (r < p->nin) return (clt_dtype)p->in_dt[r];
  const clt__ew_instr *i = &p->ins[r - p->nin];
  return clt__op_out_dtype(i->op, (clt_dtype)i->dt);
}

clt_dtype clt__ew_prog_out_dtype(const clt__ew_prog *p) { return clt__ew_prog_reg_dtype(p, p->nin + p->n - 1); }

const char *clt__ew_prog_name(const clt__ew_prog *p) {
  if (p->n == 1) return clt__op_table[p->ins[0].op].name;
  /* a fused chain's error names each of its ops, in order */
  static CLT__TLS char buf[CLT__EW_MAX_INSTR * 24 + 32];
  size_t used = (size_t)snprintf(buf, sizeof buf, "fused chain of");
  for (int i = 0; i < p->n && i < CLT__EW_MAX_INSTR && used < sizeof buf; i++) {
    int op = p->ins[i].op;
    const char *name = op >= 0 && op < CLT__EW_COUNT && clt__op_table[op].name ? clt__op_table[op].name : "?";
    int n = snprintf(buf + used, sizeof buf - used, "%s %s", i ? "," : "", name);
    if (n < 0) break;
    used += (size_t)n;
  }
  return buf;
}

clt_status clt__ew_prog_check(const clt__ew_prog *p) {
  if (p->n < 1 || p->n > CLT__EW_MAX_INSTR || p->nin < 0 || p->nin > CLT__MAX_OPS - 1)
    return clt__err(CLT_ERR_INVALID_ARG, "elementwise program of %d instructions over %d inputs (at most %d over %d)",
                    p->n, p->nin, CLT__EW_MAX_INSTR, CLT__MAX_OPS - 1);
  for (int k = 0; k < p->nin; k++)
    if (!clt__dtype_valid((clt_dtype)p->in_dt[k]))
      return clt__err(CLT_ERR_INVALID_ARG, "elementwise program: input %d has dtype %d", k, p->in_dt[k]);
  for (int n = 0; n < p->n; n++) {
    const clt__ew_instr *i = &p->ins[n];
    if (i->op < 0 || i->op >= CLT__EW_COUNT || !clt__op_table[i->op].name || !clt__dtype_valid((clt_dtype)i->dt) ||
        i->scalar < 0 || i->scalar > 2 || (i->scalar && clt__op_table[i->op].arity != 2))
      return clt__err(CLT_ERR_INVALID_ARG, "elementwise program: instruction %d (op %d, dtype %d, scalar %d) is not an op",
                      n, i->op, i->dt, i->scalar);
    int nops = clt__op_table[i->op].arity - (i->scalar ? 1 : 0);
    for (int k = 0; k < nops; k++) {
      int r = i->in[k];
      if (r >= p->nin + n)
        return clt__err(CLT_ERR_INVALID_ARG, "elementwise program: instruction %d (%s) reads register %d before it is written",
                        n, clt__op_table[i->op].name, r);
      clt_dtype want = operand_dtype(i->op, (clt_dtype)i->dt, i->scalar == 2 ? 1 : k), have = clt__ew_prog_reg_dtype(p, r);
      if (have != want)
        return clt__err(CLT_ERR_INVALID_ARG, "elementwise program: instruction %d (%s) reads register %d as %s, which holds %s",
                        n, clt__op_table[i->op].name, r, clt_dtype_name(want), clt_dtype_name(have));
    }
  }
  return CLT_OK;
}

/* ---- running ---------------------------------------------------------------------------- */

/* p over in into out; checked: p's instructions and dtypes first (single ops are right by
 * construction and skip it). */
static clt_status run_prog(const clt__ew_prog *p, clt_tensor *out, clt_tensor *const *in, bool checked) {
  if (out->numel == 0) return CLT_OK;
  if (checked) {
    clt_status s = clt__ew_prog_check(p);
    for (int k = 0; k < p->nin && s == CLT_OK; k++)
      if (in[k]->dtype != p->in_dt[k])
        s = clt__err(CLT_ERR_DTYPE, "elementwise program: input %d is %s, the program reads %s", k,
                     clt_dtype_name(in[k]->dtype), clt_dtype_name((clt_dtype)p->in_dt[k]));
    if (s == CLT_OK && out->dtype != clt__ew_prog_out_dtype(p))
      s = clt__err(CLT_ERR_DTYPE, "elementwise program gives %s, the output is %s",
                   clt_dtype_name(clt__ew_prog_out_dtype(p)), clt_dtype_name(out->dtype));
    if (s != CLT_OK) return s;
  }
  const int64_t *strides[CLT__MAX_OPS];
  int64_t offsets[CLT__MAX_OPS], bs[CLT__MAX_OPS][CLT_MAX_DIMS];
  clt__storage *st[CLT__MAX_OPS];
  strides[0] = out->strides;
  offsets[0] = out->offset;
  st[0] = out->st;
  for (int k = 0; k < p->nin; k++) {
    clt__broadcast_strides(in[k], out->ndim, out->shape, bs[k]);
    strides[k + 1] = bs[k];
    offsets[k + 1] = in[k]->offset;
    st[k + 1] = in[k]->st;
  }
  clt__iter it;
  clt__iter_build(&it, out->ndim, out->shape, p->nin + 1, strides, offsets);
  return clt__run_ew(out->st->dev, p, &it, st);
}

bool clt__is16(clt_dtype dt) { return dt == CLT_FLOAT16 || dt == CLT_BFLOAT16; }

clt_tensor *clt__narrow(clt_tensor *r, clt_dtype dt) {
  clt_tensor *out = r ? clt__cast(r, dt) : NULL;
  clt__tensor_release(r);
  return out;
}

clt_tensor *clt__rec_cast(clt_tensor *x, clt_dtype dt) { return x ? clt__grad_cast(clt__cast(x, dt), x) : NULL; }

clt_tensor *clt__rec_narrow(clt_tensor *r, clt_dtype dt) {
  clt_tensor *out = clt__rec_cast(r, dt);
  clt__tensor_release(r);
  return out;
}

bool clt__widen16(clt_dtype dt, int n, clt_tensor **const *ts, clt_tensor **own) {
  for (int i = 0; i < n; i++) own[i] = NULL;
  if (!clt__is16(dt)) return true;
  for (int i = 0; i < n; i++) {
    clt_tensor *t = ts[i] ? *ts[i] : NULL;
    if (!t || !clt__is16(t->dtype)) continue;
    if (!(own[i] = clt__rec_cast(t, CLT_FLOAT32))) {
      for (int j = 0; j < i; j++) clt__tensor_release(own[j]);
      return false;
    }
    *ts[i] = own[i];
  }
  return true;
}

clt_tensor *clt__widen16_end(clt_tensor *r, clt_dtype dt, int n, clt_tensor **own) {
  for (int i = 0; i < n; i++) clt__tensor_release(own[i]);
  return clt__is16(dt) ? clt__rec_narrow(r, dt) : r;
}

clt_status clt__ew_run_prog(const clt__ew_prog *p, clt_tensor *out, clt_tensor *const *in) {
  return run_prog(p, out, in, true);
}

clt_status clt__ew_run(int op, clt_tensor *out, clt_tensor *const *in, int nin, clt_dtype dt, const double *params,
                       int scalar) {
  clt__ew_prog p;
  clt__ew_prog_single(&p, op, nin, dt, params, scalar);
  return run_prog(&p, out, in, false);
}

/* An op into its fresh result out: recorded as part of a chain where fusion takes it
 * (fusion.h), else launched. */
static clt_status run(clt_op op, clt_tensor *out, clt_tensor *const *in, int nin, clt_dtype dt, const double *params,
                      int scalar) {
  clt__ew_prog p;
  clt__ew_prog_single(&p, (int)op, nin, dt, params, scalar);
  clt_status s;
  if (out->numel > 0 && clt__fusion_record(&p, out, in, &s)) return s;
  return run_prog(&p, out, in, false);
}

clt_tensor *clt__ew_grad(int k, clt_tensor *g, clt_tensor *s, clt_tensor *t, double p0, double p1) {
  int nd, n2;
  int64_t shape[CLT_MAX_DIMS], s2[CLT_MAX_DIMS];
  if (clt__broadcast_shapes(g->ndim, g->shape, s->ndim, s->shape, &nd, shape) != CLT_OK) return NULL;
  if (t) {
    if (clt__broadcast_shapes(nd, shape, t->ndim, t->shape, &n2, s2) != CLT_OK) return NULL;
    nd = n2;
    memcpy(shape, s2, sizeof shape);
  }
  clt_tensor *out = clt__empty(g->st->dev, g->dtype, nd, shape);
  clt_tensor *in[3] = {g, s, t};
  const double params[2] = {p0, p1};
  if (out && clt__ew_run(k, out, in, t ? 3 : 2, g->dtype, params, 0) != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  return out;
}

clt_tensor *clt__cast(clt_tensor *x, clt_dtype dt) {
  if (!clt__dtype_valid(dt)) {
    clt__err(CLT_ERR_DTYPE, "dtype %d is not a clt dtype", (int)dt);
    return NULL;
  }
  clt_tensor *out = clt__empty(x->st->dev, dt, x->ndim, x->shape);
  if (!out || out->numel == 0) return out;
  clt__iter it;
  const clt_tensor *ops[2] = {out, x};
  clt__iter_tensors(&it, 2, ops);
  clt_status st = x->dtype == dt ? clt__copy_into(out, x) : clt__run_cast(x->st->dev, &it, out->st, dt, x->st, x->dtype);
  if (st != CLT_OK) {
    clt__tensor_release(out);
    return NULL;
  }
  return out;
}

/* The result of an elementwise op, as PyTorch lays it out in the common case: where every tensor
 * input has the result's shape and one and the same dense, non-row-major layout (a transposed or
 * permuted tensor), the result takes that layout, so the op reads and writes every operand in
 * memory order (on PoCL a.T + b.T at n = 1e6 went from 0.31-0.39 of the copy kernel, a transpose,
 * to a contiguous add); otherwise it is row-major. */
static clt_tensor *empty_result(clt_device *dev, clt_dtype dt, int nd, const int64_t *shape, clt_tensor *const *in,
                                int nin) {
  const int64_t *st = NULL;
  bool same = nin > 0 && nd > 1;
  for (int i = 0; i < nin && same; i++) {
    same = in[i]->ndim == nd;
    for (int d = 0; d < nd && same; d++) same = in[i]->shape[d] == shape[d] && (!st || in[i]->strides[d] == st[d]);
    if (!st) st = in[i]->strides;
  }
  int perm[CLT_MAX_DIMS];
  if (same) { /* dense if, by decreasing stride, the dims longer than 1 are row-major */
    clt__order_by_stride(nd, st, perm);
    bool identity = true;
    int64_t expect = 1;
    for (int i = nd - 1; i >= 0 && same; i--) {
      if (shape[perm[i]] == 1) continue;
      same = st[perm[i]] == expect;
      expect *= shape[perm[i]]; /* fits: the shape does (clt__shape_fits) */
    }
    for (int i = 0, prev = -1; i < nd; i++) /* row-major already: the plain path */
      if (shape[perm[i]] != 1) {
        identity = identity && perm[i] > prev;
        prev = perm[i];
      }
    same = same && !identity;
  }
  if (!same) return clt__empty(dev, dt, nd, shape);
  int64_t pshape[CLT_MAX_DIMS], strides[CLT_MAX_DIMS], acc = 1;
  for (int i = 0; i < nd; i++) pshape[i] = shape[perm[i]];
  for (int i = nd - 1; i >= 0; i--) {
    strides[perm[i]] = acc;
    acc *= pshape[i];
  }
  clt_tensor *base = clt__empty(dev, dt, nd, pshape);
  clt_tensor *out = base ? clt__view_of(base, nd, shape, strides, 0) : NULL;
  clt__tensor_release(base);
  return out;
}

/* x in dtype dt: x itself (a new reference) or a cast copy. */
static clt_tensor *as_dtype(clt_tensor *x, clt_dtype dt) {
  return x->dtype == dt ? clt__retain(x) : clt__cast(x, dt);
}

static clt_status refuse_bool(clt_op op, clt_dtype dt) {
  if (dt != CLT_BOOL) return CLT_OK;
  return clt__err(CLT_ERR_DTYPE, "%s is not defined for bool tensors; cast them first", clt_op_name(op));
}

/* The dtype a numeric op computes in, from the promoted dtype. */
static clt_dtype compute_dtype(clt_op op, clt_dtype dt) {
  if (clt__op_table[op].rule == CLT__R_FLOAT && !clt_dtype_is_float(dt)) return CLT_FLOAT32;
  return dt;
}

clt_tensor *clt__unary(clt_op op, clt_tensor *x, double p0, double p1) {
  if (!clt__op_valid((int)op) || !clt__op_is_unary(op)) {
    clt__err(CLT_ERR_INVALID_ARG, "op %d is not a unary op", (int)op);
    return NULL;
  }
  if (clt__op_table[op].rule != CLT__R_LOGIC && refuse_bool(op, x->dtype) != CLT_OK) return NULL;
  clt_dtype dt = compute_dtype(op, x->dtype);
  clt_tensor *xc = as_dtype(x, dt);
  if (!xc) return NULL;
  clt_tensor *out = empty_result(x->st->dev, clt__op_out_dtype(op, dt), x->ndim, x->shape, &x, 1);
  const double params[2] = {p0, p1};
  if (out && run(op, out, &xc, 1, dt, params, 0) != CLT_OK) {
    clt__tensor_release(out);
    out = NULL;
  }
  clt__tensor_release(xc);
  return out;
}

/* The dtype both inputs of a binary op are brought to, and the op that runs (b: SLOT_NONE for a
 * scalar), by the op's dtype rule (optable.h), as PyTorch: sub (INT_NOBOOL) refuses any bool
 * operand; where the promoted dtype is bool, add and maximum (INT_OR) are logical or, mul and
 * minimum (INT_AND) logical and (a bool result), pow (INT) is refused, and div (FLOAT) computes
 * in float32 as for integers. */
static clt_status binary_plan(clt_op op, clt_dtype promoted, clt_dtype a, clt_dtype b, clt_dtype *dt, clt_op *run) {
  clt__dtype_rule r = (clt__dtype_rule)clt__op_table[op].rule;
  *run = op;
  if (r == CLT__R_INT_NOBOOL && (a == CLT_BOOL || b == CLT_BOOL))
    return clt__err(CLT_ERR_DTYPE, "%s of a bool tensor is not supported, as in PyTorch: invert a mask with "
                                   "clt_logical_not, compare two with clt_logical_xor, or cast first", clt_op_name(op));
  if (promoted == CLT_BOOL && (r == CLT__R_INT || r == CLT__R_INT_BOUNDS)) return refuse_bool(op, CLT_BOOL);
  if (promoted == CLT_BOOL && r == CLT__R_INT_OR) *run = CLT_OP_logical_or;
  if (promoted == CLT_BOOL && r == CLT__R_INT_AND) *run = CLT_OP_logical_and;
  *dt = r == CLT__R_LOGIC ? promoted : compute_dtype(op, promoted);
  return CLT_OK;
}

clt_tensor *clt__binary(clt_op op, clt_tensor *a, clt_tensor *b) {
  if (!clt__op_valid((int)op) || clt__op_arity(op) != 2) {
    clt__err(CLT_ERR_INVALID_ARG, "op %d is not a binary op", (int)op);
    return NULL;
  }
  clt_dtype dt;
  clt_op run_op;
  int nd;
  int64_t shape[CLT_MAX_DIMS];
  if (clt__check_same_device(a, b) != CLT_OK ||
      binary_plan(op, clt_result_type(a, b), a->dtype, b->dtype, &dt, &run_op) != CLT_OK ||
      clt__broadcast_shapes(a->ndim, a->shape, b->ndim, b->shape, &nd, shape) != CLT_OK)
    return NULL;
  clt_tensor *in[2] = {as_dtype(a, dt), NULL}, *out = NULL;
  if (in[0]) in[1] = as_dtype(b, dt);
  if (in[1]) out = empty_result(a->st->dev, clt__op_out_dtype(run_op, dt), nd, shape, in, 2);
  if (out && run(run_op, out, in, 2, dt, NULL, 0) != CLT_OK) {
    clt__tensor_release(out);
    out = NULL;
  }
  clt__tensor_release(in[0]);
  clt__tensor_release(in[1]);
  return out;
}

clt_tensor *clt__binary_scalar(clt_op op, clt_tensor *a, double s, bool scalar_first) {
  int form = scalar_first ? CLT__FORM_RSCALAR : CLT__FORM_SCALAR;
  if (!clt__op_valid((int)op) || !(clt__op_table[op].forms & 1 << form)) {
    clt__err(CLT_ERR_INVALID_ARG, "op %s has no scalar form", clt_op_name(op) ? clt_op_name(op) : "(invalid)");
    return NULL;
  }
  clt_dtype dt;
  clt_op run_op; /* a scalar never promotes to bool: the op itself */
  if (binary_plan(op, scalar_result_type(a, s), a->dtype, SLOT_NONE, &dt, &run_op) != CLT_OK) return NULL;
  if (op == CLT_OP_pow && !scalar_first && !clt_dtype_is_float(dt) && s < 0) /* PyTorch's rule too */
    return clt__err(CLT_ERR_INVALID_ARG,
                    "exponent %g: integers to negative integer powers are not allowed (the result would be %s); "
                    "cast the %s tensor to a float dtype first",
                    s, clt_dtype_name(dt), clt_dtype_name(a->dtype)),
           NULL;
  clt_tensor *ac = as_dtype(a, dt);
  if (!ac) return NULL;
  clt_tensor *out = empty_result(a->st->dev, clt__op_out_dtype(op, dt), a->ndim, a->shape, &ac, 1);
  const double params[2] = {s, 0};
  if (out && run(op, out, &ac, 1, dt, params, scalar_first ? 2 : 1) != CLT_OK) {
    clt__tensor_release(out);
    out = NULL;
  }
  clt__tensor_release(ac);
  return out;
}

clt_tensor *clt__where(clt_tensor *cond, clt_tensor *a, clt_tensor *b) {
  int n1, n2;
  int64_t s1[CLT_MAX_DIMS], s2[CLT_MAX_DIMS];
  if (clt__check_same_device(cond, a) != CLT_OK || clt__check_same_device(a, b) != CLT_OK ||
      clt__broadcast_shapes(a->ndim, a->shape, b->ndim, b->shape, &n1, s1) != CLT_OK ||
      clt__broadcast_shapes(cond->ndim, cond->shape, n1, s1, &n2, s2) != CLT_OK)
    return NULL;
  clt_dtype dt = clt_result_type(a, b);
  clt_tensor *in[3] = {as_dtype(cond, CLT_BOOL), NULL, NULL}, *out = NULL;
  if (in[0]) in[1] = as_dtype(a, dt);
  if (in[1]) in[2] = as_dtype(b, dt);
  if (in[2]) out = empty_result(a->st->dev, dt, n2, s2, in, 3);
  if (out && run(CLT_OP_where, out, in, 3, dt, NULL, 0) != CLT_OK) {
    clt__tensor_release(out);
    out = NULL;
  }
  for (int i = 0; i < 3; i++) clt__tensor_release(in[i]);
  return out;
}

/* ---- public entry points ---------------------------------------------------------------- */

/* The recorded forms: the op, then its autograd node (composite ops in lib/ use them too). */
clt_tensor *clt__rec_unary(clt_op op, clt_tensor *x, double p0, double p1) {
  return clt__grad_ew(clt__unary(op, x, p0, p1), (int)op, &x, 1, p0, p1, 0);
}

clt_tensor *clt__rec_binary(clt_op op, clt_tensor *a, clt_tensor *b) {
  clt_tensor *in[2] = {a, b};
  return clt__grad_ew(clt__binary(op, a, b), (int)op, in, 2, 0, 0, 0);
}

clt_tensor *clt__rec_scalar(clt_op op, clt_tensor *a, double s, bool first) {
  return clt__grad_ew(clt__binary_scalar(op, a, s, first), (int)op, &a, 1, s, 0, first ? 2 : 1);
}
#define unary_rec clt__rec_unary
#define binary_rec clt__rec_binary
#define scalar_rec clt__rec_scalar

/* A unary op with bounds (INT_BOUNDS: clamp), for its own function and clt_unary alike: the
 * bounds promote as scalars (clamp(int32, -0.5, 1) is float32, as PyTorch's); an infinite one
 * is no bound (PyTorch's None), so it changes no dtype. */
static clt_tensor *bounds_rec(clt_op op, clt_tensor *x, double lo, double hi) {
  if (lo > hi) return clt__err(CLT_ERR_INVALID_ARG, "min %g is greater than max %g", lo, hi), NULL;
  if (isnan(lo) || isnan(hi)) return clt__err(CLT_ERR_INVALID_ARG, "min and max must not be NaN"), NULL;
  result_state st = STATE_EMPTY;
  state_add_tensor(&st, x);
  if (isfinite(lo)) state_add_scalar(&st, lo);
  if (isfinite(hi)) state_add_scalar(&st, hi);
  clt_dtype dt = state_result(&st);
  if (!clt_dtype_is_float(dt) || dt == x->dtype) return unary_rec(op, x, lo, hi);
  clt_tensor *xf = clt__cast(x, dt), *out = xf ? unary_rec(op, xf, lo, hi) : NULL;
  clt__tensor_release(xf);
  return out;
}

static clt_tensor *unary_entry(clt_op op, clt_tensor *x, double p0, double p1) {
  bool bounds = clt__op_valid((int)op) && clt__op_table[op].rule == CLT__R_INT_BOUNDS;
  return bounds ? bounds_rec(op, x, p0, p1) : unary_rec(op, x, p0, p1);
}

clt_tensor *clt_unary(clt_op op, clt_tensor *x, double p0, double p1) {
  clt__api("clt_unary");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(unary_entry(op, x, p0, p1));
}

clt_tensor *clt_binary(clt_op op, clt_tensor *a, clt_tensor *b) {
  clt__api("clt_binary");
  if (!a || !b) return clt__null_arg(a ? "b" : "a"), NULL;
  return clt__ret(binary_rec(op, a, b));
}

clt_tensor *clt_binary_scalar(clt_op op, clt_tensor *a, double s) {
  clt__api("clt_binary_scalar");
  if (!a) return clt__null_arg("a"), NULL;
  return clt__ret(scalar_rec(op, a, s, false));
}

/* The public function of every row (clt/elementwise.h declares them): a unary op with its
 * parameters; a binary op, its scalar form (a op s) and reversed scalar form (s op b) as its
 * forms column says. Names are pasted where the row is received. */
#define UNARY_BODY(op, api, p0, p1)           \
  {                                       \
    clt__api(api);                        \
    if (!x) return clt__null_arg("x"), NULL; \
    return clt__ret(unary_entry(op, x, p0, p1)); \
  }
#define DEFU_P0 DEFU0
#define DEFU_P1(a) DEFU1
#define DEFU_P2(a, b) DEFU2
#define DEFU0(fn, op, api) clt_tensor *fn(clt_tensor *x) UNARY_BODY(op, api, 0, 0)
#define DEFU1(fn, op, api) clt_tensor *fn(clt_tensor *x, double p0) UNARY_BODY(op, api, p0, 0)
#define DEFU2(fn, op, api) clt_tensor *fn(clt_tensor *x, double p0, double p1) UNARY_BODY(op, api, p0, p1)
#define U_DEF(name, v, rule, params, g, dom, doc) DEFU_##params(clt_##name, CLT_OP_##name, "clt_" #name)
CLT_UNARY_OPS(U_DEF)

#define DEF_BINARY(fn, op, api)                                  \
  clt_tensor *fn(clt_tensor *a, clt_tensor *b) {                 \
    clt__api(api);                                               \
    if (!a || !b) return clt__null_arg(a ? "b" : "a"), NULL;     \
    return clt__ret(binary_rec(op, a, b));                       \
  }
#define DEF_SCALAR(fn, op, api, arg, first)                      \
  clt_tensor *fn(clt_tensor *arg, double s) {                    \
    clt__api(api);                                               \
    if (!arg) return clt__null_arg(#arg), NULL;                  \
    return clt__ret(scalar_rec(op, arg, s, first));              \
  }
#define DEFB_T(sfn, rfn, op, sapi, rapi)
#define DEFB_TS(sfn, rfn, op, sapi, rapi) DEF_SCALAR(sfn, op, sapi, a, false)
#define DEFB_TSR(sfn, rfn, op, sapi, rapi) DEF_SCALAR(sfn, op, sapi, a, false) DEF_SCALAR(rfn, op, rapi, b, true)
#define B_DEF(name, v, rule, forms, ga, gb, gs, gr, da, db, doc)                                              \
  DEF_BINARY(clt_##name, CLT_OP_##name, "clt_" #name)                                                        \
  DEFB_##forms(clt_##name##_scalar, clt_r##name##_scalar, CLT_OP_##name, "clt_" #name "_scalar", "clt_r" #name \
               "_scalar")
CLT_BINARY_OPS(B_DEF)

clt_tensor *clt_where(clt_tensor *cond, clt_tensor *a, clt_tensor *b) {
  clt__api("clt_where");
  if (!cond || !a || !b) return clt__null_arg(!cond ? "cond" : !a ? "a" : "b"), NULL;
  clt_tensor *in[3] = {cond, a, b};
  return clt__ret(clt__grad_ew(clt__where(cond, a, b), CLT_OP_where, in, 3, 0, 0, 0));
}

clt_tensor *clt_cast(clt_tensor *x, clt_dtype dtype) {
  clt__api("clt_cast");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(clt__grad_cast(clt__cast(x, dtype), x));
}
