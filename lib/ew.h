/* Elementwise ops: the op table's rows as the core sees them. */
#ifndef CLT_EW_H
#define CLT_EW_H

#include "backend.h"
#include "clt/ops.h"

typedef enum {
  CLT__K_UNARY_INT,    /* integers stay integers */
  CLT__K_UNARY_FLOAT,  /* floats; integers promoted to float32 */
  CLT__K_BINARY_INT,
  CLT__K_BINARY_FLOAT,
  CLT__K_COMPARE,      /* result bool */
  CLT__K_LOGICAL,      /* result bool */
  CLT__K_NOT,
  CLT__K_WHERE,
  CLT__K_GRAD2, /* gradient kernels: g and a saved tensor, with parameters */
  CLT__K_GRAD3  /* g and a binary op's operands */
} clt__op_kind;

/* Gradient kernels are elementwise ops too, numbered after the public ones. */
enum clt__grad_kernel {
  CLT__G_START_ = CLT_OP_COUNT - 1,
#define CLT__G_ENUM(name, nin) CLT__G_##name,
  CLT_GRAD_KERNELS(CLT__G_ENUM)
#undef CLT__G_ENUM
  CLT__EW_COUNT
};

typedef struct {
  const char *name;
  clt__op_kind kind;
  int nparams;
} clt__op_info;

extern const clt__op_info clt__op_table[CLT__EW_COUNT];

/* Number of tensor inputs of an op (where: 3). */
int clt__op_arity(clt_op op);
bool clt__op_is_unary(clt_op op);
/* The output dtype of op on inputs of dtype dt. */
clt_dtype clt__op_out_dtype(clt_op op, clt_dtype dt);

/* torch.promote_types: the dtype two dtypes of equal standing promote to. */
clt_dtype clt__promote_types(clt_dtype a, clt_dtype b);

/* Broadcasts two shapes; records CLT_ERR_SHAPE naming both when they do not. */
clt_status clt__broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b, int *n, int64_t *out);
/* t's strides broadcast to shape (ndim dims; stride 0 where t has size 1 or no dim). */
void clt__broadcast_strides(const clt_tensor *t, int ndim, const int64_t *shape, int64_t *strides);
/* Same device or an error naming both. */
clt_status clt__check_same_device(const clt_tensor *a, const clt_tensor *b);

/* out = op(in...) with the inputs broadcast to out's shape, out any view (in-place ops pass an
 * input as out). dt: the inputs' dtype. */
clt_status clt__ew_run(int op, clt_tensor *out, clt_tensor *const *in, int nin, clt_dtype dt, const double *params,
                       int scalar);
/* A gradient kernel: out = k(g, s[, t]) with parameters, in g's dtype and broadcast shape. */
clt_tensor *clt__ew_grad(int k, clt_tensor *g, clt_tensor *s, clt_tensor *t, double p0, double p1);

/* Internal forms of the public ops (no scope registration). */
clt_tensor *clt__cast(clt_tensor *x, clt_dtype dt);
clt_tensor *clt__unary(clt_op op, clt_tensor *x, double p0, double p1);
clt_tensor *clt__binary(clt_op op, clt_tensor *a, clt_tensor *b);
/* scalar_first: s op a instead of a op s. */
clt_tensor *clt__binary_scalar(clt_op op, clt_tensor *a, double s, bool scalar_first);
clt_tensor *clt__where(clt_tensor *cond, clt_tensor *a, clt_tensor *b);

/* The check mode ($CLT_CHECK=1): a backend call on an OpenCL device rerun on the host and
 * compared (check.c). */
bool clt__check_enabled(void);

#endif
