/* Reductions: the canonical [A, R, B] walk every backend implements. */
#ifndef CLT_REDUCE_H
#define CLT_REDUCE_H

#include "backend.h"

typedef enum {
  CLT__R_SUM,
  CLT__R_PROD,
  CLT__R_MAX,
  CLT__R_MIN,
  CLT__R_ARGMAX,
  CLT__R_ARGMIN,
  CLT__R_SQDEV,  /* sum of (x 2^-e - m2 - m3)^2, m = [max |x|, m2, m3] (A*B each), 2^-e from max |x| */
  CLT__R_SUMEXP, /* sum of exp(x - m'), m' = m where finite, else 0 */
  CLT__R_MAXABS, /* max |x| (NaN ignored) */
  CLT__R_SUMSC,  /* sum of x 2^-e, m = max |x| */
  CLT__R_DEVSUM, /* sum of x 2^-e - m2, m = [max |x|, m2] */
  CLT__R_PRODX,  /* prod's gradient: out holds [A, R, B], (a, r, b) the product of the slice's others */
  CLT__R_COUNT
} clt__rop;

/* Var, std and the mean their gradient uses scale each slice by the power of two 2^-e that
 * brings its largest |x| below 1 (kernels/reduce.cl: clt_slice_exp), so that no square over- or
 * underflows; the post-ops scale back. */
typedef enum {
  CLT__POST_NONE,
  CLT__POST_SCALE,     /* acc * scale */
  CLT__POST_STD,       /* sqrt(acc * scale) 2^e, e from m (max |x|) */
  CLT__POST_LOG_ADD_M, /* log(acc) + m' */
  CLT__POST_VAR,       /* acc * scale 2^(2e) */
  CLT__POST_UNSCALE    /* acc * scale 2^e */
} clt__rpost;

/* Element (a, r, b) of the input is at off + a*sA + r*sR + b*sB; the result of (a, b) goes to
 * element a*B + b of the outputs. */
typedef struct {
  int64_t A, R, B;
  int64_t sA, sR, sB, off;
} clt__rlayout;

typedef struct clt__reduce_args_s {
  clt__rop op;
  clt__rpost post;
  double scale;
  const clt__storage *in;
  clt_dtype dt; /* the input's dtype */
  clt__rlayout L;
  const clt__storage *m; /* [A*B] of dt, for SQDEV, SUMEXP and LOG_ADD_M */
  int64_t m_off;
  clt__storage *out; /* [A*B] results in odt; NULL for ARGMAX/ARGMIN when only indices are wanted */
  int64_t out_off;
  clt_dtype odt;
  clt__storage *idx; /* int64 [A*B] for ARGMAX/ARGMIN */
  int64_t idx_off;
} clt__reduce_args;

/* out = softmax (or log_softmax) of x along R: out element (a, r, b) at a*oA + r*oR + b*oB
 * (+ out_off); m and s are the [A*B] max and sum of exp(x - m'). */
typedef struct clt__softmax_args_s {
  const clt__storage *in;
  clt_dtype dt;
  clt__rlayout L;
  const clt__storage *m, *s; /* each row's max and sum of exp(x - max); both NULL: found by the
                               * backend (short rows, lib/reduce.c: SOFTMAX_ROWS_MAX) */
  clt__storage *out;
  int64_t out_off, oA, oR, oB;
  bool log;
} clt__softmax_args;

/* The accumulator dtype of op on dt: sums and products of integers are int64. */
clt_dtype clt__reduce_acc_dtype(clt__rop op, clt_dtype dt);

/* Internal forms of the public reductions (no scope registration, no recording). */
clt_tensor *clt__sum(clt_tensor *x, int ndims, const int *dims, bool keepdim);
clt_tensor *clt__mean(clt_tensor *x, int ndims, const int *dims, bool keepdim);
clt_tensor *clt__prod(clt_tensor *x, int ndims, const int *dims, bool keepdim);
clt_tensor *clt__max(clt_tensor *x, int ndims, const int *dims, bool keepdim);
/* x's shape (float x): each element the product of the other elements of its slice over dims,
 * prod's gradient (lib/grad.c), from exclusive prefix and suffix products (no division). */
clt_tensor *clt__prod_others(clt_tensor *x, int ndims, const int *dims);
clt_tensor *clt__softmax(clt_tensor *x, int dim, bool log);
/* The mean as var computes it (of x scaled per slice, then scaled back): no overflow where
 * the sum of x would overflow (var's and std's gradients use it). */
clt_tensor *clt__mean_scaled(clt_tensor *x, int ndims, const int *dims, bool keepdim);

#endif
