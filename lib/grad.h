/* Recording helpers of the differentiable ops (grad.c): each takes the op's result and inputs,
 * records a node when grad mode is on and an input requires grad, and returns the result (NULL
 * after releasing it when recording failed). */
#ifndef CLT_GRAD_H
#define CLT_GRAD_H

#include "autograd_impl.h"
#include "clt/ops.h"

typedef enum {
  CLT__RK_SUM,
  CLT__RK_MEAN,
  CLT__RK_PROD,
  CLT__RK_MAX,
  CLT__RK_MIN,
  CLT__RK_VAR,
  CLT__RK_STD,
  CLT__RK_LSE
} clt__rkind;

clt_tensor *clt__grad_permute(clt_tensor *out, clt_tensor *x, const int *perm);
clt_tensor *clt__grad_slice(clt_tensor *out, clt_tensor *x, int dim, int64_t start, int64_t step);
clt_tensor *clt__grad_reduce(clt_tensor *out, clt_tensor *x, clt__rkind k, int ndims, const int *dims, double correction);
clt_tensor *clt__grad_softmax(clt_tensor *out, clt_tensor *x, int dim, bool log);
clt_tensor *clt__grad_matmul(clt_tensor *out, clt_tensor *a, clt_tensor *b);
clt_tensor *clt__grad_cat(clt_tensor *out, clt_tensor *const *ts, int n, int dim, bool stack);
clt_tensor *clt__grad_gather(clt_tensor *out, clt_tensor *x, int dim, clt_tensor *index);
clt_tensor *clt__grad_scatter_add(clt_tensor *out, clt_tensor *x, int dim, clt_tensor *index, clt_tensor *src);

/* The backward of elementwise ops, from the op table's gradient terms (node args.ew: the op, its
 * form, its parameters; saved: the inputs in slots 0 .. 2, the result in slot 3, those the terms
 * read; in-place ops reuse it). */
clt_status clt__bw_ew(clt__node *n, clt_tensor *g, clt_tensor **gin);

/* Recorded internal ops, for composite ops in lib/ (losses, layers). */
clt_tensor *clt__rec_unary(clt_op op, clt_tensor *x, double p0, double p1);
clt_tensor *clt__rec_binary(clt_op op, clt_tensor *a, clt_tensor *b);
clt_tensor *clt__rec_scalar(clt_op op, clt_tensor *a, double s, bool first);
/* clt_dropout without naming itself (attention's dropout). */
clt_tensor *clt__dropout(clt_tensor *x, double p, bool train);

/* Internal forms of public ops the backward functions use. */
clt_tensor *clt__matmul(clt_tensor *a, clt_tensor *b);
/* a @ b + bias (NULL, or broadcast to the product: [n] added to every row, [m, 1] to every
 * column), and where asum is not NULL *asum = the sums of a's rows ([m]; a and b at most 2-d),
 * each run by the GEMM itself where it can (matmul.c). */
clt_tensor *clt__matmul_ep(clt_tensor *a, clt_tensor *b, clt_tensor *bias, clt_tensor **asum);
/* A linear layer's node: out = x w^T + b over x [..., in], w [out, in], b [out] or NULL (nn.c
 * makes out; the backward's products give b's gradient too). */
clt_tensor *clt__grad_linear(clt_tensor *out, clt_tensor *x, clt_tensor *w, clt_tensor *b);
/* x [..., in] (1-d or more) as the matrix [M, in] of its rows: x itself when 2-d, else a view
 * where x's strides allow, or a view of a contiguous copy (not recorded). */
clt_tensor *clt__linear_rows(clt_tensor *x);
/* t (any layout) as shape: a view where its strides allow, else of a contiguous copy (not
 * recorded). */
clt_tensor *clt__reshaped_plain(clt_tensor *t, int ndim, const int64_t *shape);
/* t as GEMM reads it when it is a product's operand of batch shape its own: t itself, or a
 * contiguous copy where its layout needs one (matmul.c), for a tensor used in several products. */
clt_tensor *clt__gemm_operand(clt_tensor *t);
/* Every entry of the int index in [0, limit), or CLT_ERR_INDEX naming one (reads back min and max). */
clt_status clt__check_index_range(clt_tensor *index, int64_t limit, const char *what);
clt_tensor *clt__gather(clt_tensor *x, int dim, clt_tensor *index);
clt_tensor *clt__scatter_add(clt_tensor *x, int dim, clt_tensor *index, clt_tensor *src);

#endif
