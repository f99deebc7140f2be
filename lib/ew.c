/* Elementwise ops: dtype promotion, broadcasting, and dispatch to the backend. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "dispatch.h"
#include "ew.h"

const clt__op_info clt__op_table[CLT__EW_COUNT] = {
#define UI(name, np, saves) {#name, CLT__K_UNARY_INT, np},
#define UF(name, np, saves) {#name, CLT__K_UNARY_FLOAT, np},
#define BI(name, np, saves) {#name, CLT__K_BINARY_INT, np},
#define BF(name, np, saves) {#name, CLT__K_BINARY_FLOAT, np},
#define CM(name, np, saves) {#name, CLT__K_COMPARE, np},
#define LG(name, np, saves) {#name, CLT__K_LOGICAL, np},
    CLT_UNARY_INT_OPS(UI) CLT_UNARY_FLOAT_OPS(UF) CLT_BINARY_INT_OPS(BI) CLT_BINARY_FLOAT_OPS(BF)
        CLT_COMPARE_OPS(CM) CLT_LOGICAL_OPS(LG)
    {"logical_not", CLT__K_NOT, 0},
    {"where", CLT__K_WHERE, 0},
#define GR(name, nin) {#name, nin == 2 ? CLT__K_GRAD2 : CLT__K_GRAD3, 2},
    CLT_GRAD_KERNELS(GR)
#undef GR
#undef UI
#undef UF
#undef BI
#undef BF
#undef CM
#undef LG
};

const char *clt_op_name(clt_op op) {
  return (unsigned)op < (unsigned)CLT_OP_COUNT ? clt__op_table[op].name : NULL;
}

bool clt__op_is_unary(clt_op op) {
  clt__op_kind k = clt__op_table[op].kind;
  return k == CLT__K_UNARY_INT || k == CLT__K_UNARY_FLOAT || k == CLT__K_NOT;
}

int clt__op_arity(clt_op op) {
  clt__op_kind k = clt__op_table[op].kind;
  return clt__op_is_unary(op) ? 1 : (k == CLT__K_WHERE || k == CLT__K_GRAD3) ? 3 : 2;
}

clt_dtype clt__op_out_dtype(clt_op op, clt_dtype dt) {
  clt__op_kind k = clt__op_table[op].kind;
  return (k == CLT__K_COMPARE || k == CLT__K_LOGICAL || k == CLT__K_NOT) ? CLT_BOOL : dt;
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
  if (ka == KIND_FLOAT) return CLT_FLOAT64;
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

/* ---- running ---------------------------------------------------------------------------- */

clt_status clt__ew_run(int op, clt_tensor *out, clt_tensor *const *in, int nin, clt_dtype dt, const double *params,
                       int scalar) {
  if (out->numel == 0) return CLT_OK;
  const int64_t *strides[CLT__MAX_OPS];
  int64_t offsets[CLT__MAX_OPS], bs[CLT__MAX_OPS][CLT_MAX_DIMS];
  clt__storage *st[CLT__MAX_OPS];
  strides[0] = out->strides;
  offsets[0] = out->offset;
  st[0] = out->st;
  for (int k = 0; k < nin; k++) {
    clt__broadcast_strides(in[k], out->ndim, out->shape, bs[k]);
    strides[k + 1] = bs[k];
    offsets[k + 1] = in[k]->offset;
    st[k + 1] = in[k]->st;
  }
  clt__iter it;
  clt__iter_build(&it, out->ndim, out->shape, nin + 1, strides, offsets);
  return clt__run_ew(out->st->dev, op, &it, st, dt, params, scalar);
}

static clt_status run(clt_op op, clt_tensor *out, clt_tensor *const *in, int nin, clt_dtype dt, const double *params,
                      int scalar) {
  return clt__ew_run((int)op, out, in, nin, dt, params, scalar);
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
  clt__op_kind k = clt__op_table[op].kind;
  if ((k == CLT__K_UNARY_FLOAT || k == CLT__K_BINARY_FLOAT) && !clt_dtype_is_float(dt)) return CLT_FLOAT32;
  return dt;
}

clt_tensor *clt__unary(clt_op op, clt_tensor *x, double p0, double p1) {
  if ((unsigned)op >= (unsigned)CLT_OP_COUNT || !clt__op_is_unary(op)) {
    clt__err(CLT_ERR_INVALID_ARG, "op %d is not a unary op", (int)op);
    return NULL;
  }
  clt__op_kind k = clt__op_table[op].kind;
  if (k != CLT__K_NOT && refuse_bool(op, x->dtype) != CLT_OK) return NULL;
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
 * scalar). As PyTorch: sub refuses any bool operand; where the promoted dtype is bool, add and
 * maximum are logical or, mul and minimum logical and (a bool result), pow is refused, and div
 * computes in float32 as for integers. */
static clt_status binary_plan(clt_op op, clt_dtype promoted, clt_dtype a, clt_dtype b, clt_dtype *dt, clt_op *run) {
  clt__op_kind k = clt__op_table[op].kind;
  *run = op;
  if (op == CLT_OP_sub && (a == CLT_BOOL || b == CLT_BOOL))
    return clt__err(CLT_ERR_DTYPE, "sub of a bool tensor is not supported, as in PyTorch: invert a mask with "
                                   "clt_logical_not, compare two with clt_logical_xor, or cast first");
  if (promoted == CLT_BOOL && op == CLT_OP_pow) return refuse_bool(op, CLT_BOOL);
  if (promoted == CLT_BOOL && (op == CLT_OP_add || op == CLT_OP_maximum)) *run = CLT_OP_logical_or;
  if (promoted == CLT_BOOL && (op == CLT_OP_mul || op == CLT_OP_minimum)) *run = CLT_OP_logical_and;
  *dt = k == CLT__K_LOGICAL ? promoted : compute_dtype(op, promoted);
  return CLT_OK;
}

clt_tensor *clt__binary(clt_op op, clt_tensor *a, clt_tensor *b) {
  if ((unsigned)op >= (unsigned)CLT_OP_COUNT || clt__op_arity(op) != 2) {
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
  clt__op_kind k = (unsigned)op < (unsigned)CLT_OP_COUNT ? clt__op_table[op].kind : CLT__K_WHERE;
  if (k != CLT__K_BINARY_INT && k != CLT__K_BINARY_FLOAT && (k != CLT__K_COMPARE || scalar_first)) {
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

/* clamp's checks and promotion, for clt_clamp and clt_unary alike: the bounds promote as
 * scalars (clamp(int32, -0.5, 1) is float32, as PyTorch's); an infinite one is no bound
 * (PyTorch's None), so it changes no dtype. */
static clt_tensor *clamp_rec(clt_tensor *x, double lo, double hi) {
  if (lo > hi) return clt__err(CLT_ERR_INVALID_ARG, "min %g is greater than max %g", lo, hi), NULL;
  if (isnan(lo) || isnan(hi)) return clt__err(CLT_ERR_INVALID_ARG, "min and max must not be NaN"), NULL;
  result_state st = STATE_EMPTY;
  state_add_tensor(&st, x);
  if (isfinite(lo)) state_add_scalar(&st, lo);
  if (isfinite(hi)) state_add_scalar(&st, hi);
  clt_dtype dt = state_result(&st);
  if (!clt_dtype_is_float(dt) || dt == x->dtype) return unary_rec(CLT_OP_clamp, x, lo, hi);
  clt_tensor *xf = clt__cast(x, dt), *out = xf ? unary_rec(CLT_OP_clamp, xf, lo, hi) : NULL;
  clt__tensor_release(xf);
  return out;
}

clt_tensor *clt_unary(clt_op op, clt_tensor *x, double p0, double p1) {
  clt__api("clt_unary");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(op == CLT_OP_clamp ? clamp_rec(x, p0, p1) : unary_rec(op, x, p0, p1));
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

#define CLT__DEF_UNARY0(name)                             \
  clt_tensor *clt_##name(clt_tensor *x) {                 \
    clt__api("clt_" #name);                               \
    if (!x) return clt__null_arg("x"), NULL;              \
    return clt__ret(unary_rec(CLT_OP_##name, x, 0, 0));   \
  }
CLT__DEF_UNARY0(neg)
CLT__DEF_UNARY0(abs)
CLT__DEF_UNARY0(sign)
CLT__DEF_UNARY0(square)
CLT__DEF_UNARY0(relu)
CLT__DEF_UNARY0(exp)
CLT__DEF_UNARY0(expm1)
CLT__DEF_UNARY0(log)
CLT__DEF_UNARY0(log1p)
CLT__DEF_UNARY0(sqrt)
CLT__DEF_UNARY0(rsqrt)
CLT__DEF_UNARY0(reciprocal)
CLT__DEF_UNARY0(sin)
CLT__DEF_UNARY0(cos)
CLT__DEF_UNARY0(tanh)
CLT__DEF_UNARY0(sigmoid)
CLT__DEF_UNARY0(gelu)
CLT__DEF_UNARY0(gelu_tanh)
CLT__DEF_UNARY0(silu)
CLT__DEF_UNARY0(softplus)
CLT__DEF_UNARY0(logical_not)

clt_tensor *clt_leaky_relu(clt_tensor *x, double slope) {
  clt__api("clt_leaky_relu");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(unary_rec(CLT_OP_leaky_relu, x, slope, 0));
}

clt_tensor *clt_elu(clt_tensor *x, double alpha) {
  clt__api("clt_elu");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(unary_rec(CLT_OP_elu, x, alpha, 0));
}

clt_tensor *clt_clamp(clt_tensor *x, double lo, double hi) {
  clt__api("clt_clamp");
  if (!x) return clt__null_arg("x"), NULL;
  return clt__ret(clamp_rec(x, lo, hi));
}

#define CLT__DEF_BINARY(name, np, saves)                         \
  clt_tensor *clt_##name(clt_tensor *a, clt_tensor *b) {         \
    clt__api("clt_" #name);                                      \
    if (!a || !b) return clt__null_arg(a ? "b" : "a"), NULL;     \
    return clt__ret(binary_rec(CLT_OP_##name, a, b));            \
  }
CLT_BINARY_OPS(CLT__DEF_BINARY)
CLT_COMPARE_OPS(CLT__DEF_BINARY)
CLT_LOGICAL_OPS(CLT__DEF_BINARY)

#define CLT__DEF_SCALAR(name, np, saves)                                 \
  clt_tensor *clt_##name##_scalar(clt_tensor *a, double s) {             \
    clt__api("clt_" #name "_scalar");                                    \
    if (!a) return clt__null_arg("a"), NULL;                             \
    return clt__ret(scalar_rec(CLT_OP_##name, a, s, false));             \
  }
CLT_BINARY_OPS(CLT__DEF_SCALAR)
CLT_COMPARE_OPS(CLT__DEF_SCALAR)

#define CLT__DEF_RSCALAR(name, op)                                    \
  clt_tensor *clt_##name##_scalar(clt_tensor *b, double s) {          \
    clt__api("clt_" #name "_scalar");                                 \
    if (!b) return clt__null_arg("b"), NULL;                          \
    return clt__ret(scalar_rec(CLT_OP_##op, b, s, true));             \
  }
CLT__DEF_RSCALAR(rsub, sub)
CLT__DEF_RSCALAR(rdiv, div)
CLT__DEF_RSCALAR(rpow, pow)

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
