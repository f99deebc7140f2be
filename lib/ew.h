/* Elementwise ops: the op table's rows (optable.h) as the core sees them, and the programs the
 * backends run. */
#ifndef CLT_EW_H
#define CLT_EW_H

#include "backend.h"
#include "clt/ops.h"
#include "optable.h"

/* Gradient and loss kernels are elementwise ops too, numbered after the public ones. */
enum clt__grad_kernel {
  CLT__G_START_ = CLT_OP_COUNT - 1,
#define CLT__GK_EMIT(k, nin) CLT__G_##k,
  CLT_GRAD_KERNELS
#undef CLT__GK_EMIT
  CLT__EW_COUNT
};

/* The dtype rules of optable.h, and CLT__R_KERNEL for gradient and loss kernels (floats, in g's
 * dtype). */
typedef enum {
  CLT__R_INT,
  CLT__R_INT_BOUNDS,
  CLT__R_INT_OR,
  CLT__R_INT_AND,
  CLT__R_INT_NOBOOL,
  CLT__R_FLOAT,
  CLT__R_CMP,
  CLT__R_LOGIC,
  CLT__R_WHERE,
  CLT__R_KERNEL
} clt__dtype_rule;

/* Test domains of an operand (optable.h). */
typedef enum { CLT__DOM_REAL, CLT__DOM_POS, CLT__DOM_NONZERO, CLT__DOM_EXPONENT } clt__domain;

/* The forms of a differentiable op a node records: the tensor form, a op s, s op b. */
typedef enum { CLT__FORM_TENSOR, CLT__FORM_SCALAR, CLT__FORM_RSCALAR, CLT__FORM_COUNT } clt__form;
#define CLT__FORMS_T (1 << CLT__FORM_TENSOR)
#define CLT__FORMS_TS (CLT__FORMS_T | 1 << CLT__FORM_SCALAR)
#define CLT__FORMS_TSR (CLT__FORMS_TS | 1 << CLT__FORM_RSCALAR)

/* A gradient term (optable.h): kind, the op or kernel it runs, its operands. */
typedef enum { CLT__T_NONE, CLT__T_PASS, CLT__T_ZEROS, CLT__T_OP, CLT__T_KERN } clt__term_kind;
typedef enum { CLT__GO__, CLT__GO_G, CLT__GO_A, CLT__GO_B, CLT__GO_C, CLT__GO_Y, CLT__GO_S, CLT__GO_Z } clt__operand;
typedef struct {
  uint8_t kind;  /* clt__term_kind */
  uint8_t x[3];  /* clt__operand */
  int16_t op;    /* a clt_op (CLT__T_OP) or a kernel (CLT__T_KERN) */
} clt__grad_term;

typedef struct {
  const char *name;      /* NULL: no op has this value */
  int8_t arity;          /* tensor inputs of the tensor form */
  int8_t rule;           /* clt__dtype_rule */
  int8_t nparams;
  int8_t forms;          /* CLT__FORMS_* */
  int8_t domain[3];      /* clt__domain of each input */
  clt__grad_term grad[CLT__FORM_COUNT][3]; /* [form][input]; a scalar form's tensor is input 0 */
} clt__op_info;

extern const clt__op_info clt__op_table[CLT__EW_COUNT];

/* Whether op is a value of the public enum that names an op. */
bool clt__op_valid(int op);
/* Number of tensor inputs of an op (where: 3). */
int clt__op_arity(clt_op op);
bool clt__op_is_unary(clt_op op);
/* The output dtype of op on inputs of dtype dt. */
clt_dtype clt__op_out_dtype(int op, clt_dtype dt);
/* Whether op takes bool tensors (as PyTorch: logical where the promoted dtype is bool, div in
 * float32; comparisons and logical ops). */
bool clt__op_takes_bool(clt_op op, clt_dtype a, clt_dtype b);
/* A value of the test domain d for u in [0, 1), spread over it: REAL [-2, 2), POS [0.2, 3),
 * NONZERO [-2, -0.5) and [0.5, 2), EXPONENT [-1.5, 1.5). */
double clt__domain_value(clt__domain d, double u);
/* Bit mask (1 << CLT__GO_A, _B, _C, _Y) of the values form's backward reads. */
unsigned clt__op_saves(int op, clt__form form);

/* torch.promote_types: the dtype two dtypes of equal standing promote to. */
clt_dtype clt__promote_types(clt_dtype a, clt_dtype b);

/* Broadcasts two shapes; records CLT_ERR_SHAPE naming both when they do not. */
clt_status clt__broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b, int *n, int64_t *out);
/* t's strides broadcast to shape (ndim dims; stride 0 where t has size 1 or no dim). */
void clt__broadcast_strides(const clt_tensor *t, int ndim, const int64_t *shape, int64_t *strides);
/* Same device or an error naming both. */
clt_status clt__check_same_device(const clt_tensor *a, const clt_tensor *b);

/* ---- programs --------------------------------------------------------------------------- */

/* The one-instruction program of op over nin inputs of dtype dt (where's condition: bool;
 * params may be NULL). */
void clt__ew_prog_single(clt__ew_prog *p, int op, int nin, clt_dtype dt, const double *params, int scalar);
/* An empty program over nin inputs of dtypes in_dt. */
void clt__ew_prog_init(clt__ew_prog *p, int nin, const clt_dtype *in_dt);
/* Appends an instruction over registers in[0 .. its tensor operands); returns its result's
 * register, or -1 (recorded CLT_ERR_INVALID_ARG) when the program is full. */
int clt__ew_prog_add(clt__ew_prog *p, int op, clt_dtype dt, const int *in, const double *params, int scalar);
/* CLT_OK when every instruction is an op or kernel, reads registers written before it, in the
 * dtype they hold; else CLT_ERR_INVALID_ARG naming the instruction. */
clt_status clt__ew_prog_check(const clt__ew_prog *p);
/* The dtype of register r, and of the program's result. */
clt_dtype clt__ew_prog_reg_dtype(const clt__ew_prog *p, int r);
clt_dtype clt__ew_prog_out_dtype(const clt__ew_prog *p);
/* The op's name for a one-instruction program, "elementwise program" otherwise. */
const char *clt__ew_prog_name(const clt__ew_prog *p);

/* out = p(in...) with the inputs broadcast to out's shape, out any view; p is checked first
 * (clt__ew_prog_check, and its inputs' and output's dtypes against the tensors'). */
clt_status clt__ew_run_prog(const clt__ew_prog *p, clt_tensor *out, clt_tensor *const *in);
/* out = op(in...) (in-place ops pass an input as out). dt: the inputs' dtype. */
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
/* float16 and bfloat16, the storage types: ops other than the elementwise ones compute them as
 * float32 copies and round the result once into the 16-bit dtype with clt__narrow (which takes
 * r, NULL included, and releases it). */
bool clt__is16(clt_dtype dt);
clt_tensor *clt__narrow(clt_tensor *r, clt_dtype dt);
/* The same at the level of recorded ops, for composites whose own backward computes in the
 * input's dtype: a recorded cast (gradients flow back through it; x NULL gives NULL), and a
 * recorded clt__narrow. */
clt_tensor *clt__rec_cast(clt_tensor *x, clt_dtype dt);
clt_tensor *clt__rec_narrow(clt_tensor *r, clt_dtype dt);
/* The public entries of composites with no 16-bit path of their own (convolutions, pooling,
 * normalization, attention, embedding): when dt (the first input's dtype) is 16-bit, each
 * 16-bit tensor among *ts[0..n) (entries and tensors may be NULL) is replaced by a recorded
 * float32 cast kept in own[n]; false on failure, with nothing kept. clt__widen16_end releases
 * own and narrows r back to dt (recorded) when dt is 16-bit; r itself otherwise. */
bool clt__widen16(clt_dtype dt, int n, clt_tensor **const *ts, clt_tensor **own);
clt_tensor *clt__widen16_end(clt_tensor *r, clt_dtype dt, int n, clt_tensor **own);
clt_tensor *clt__where(clt_tensor *cond, clt_tensor *a, clt_tensor *b);

/* Kernel launches enqueued by every device since the process started (tests: a fused chain is
 * one launch). */
extern atomic_ulong clt__kernel_launches;

/* The check mode ($CLT_CHECK=1): a backend call on an OpenCL device rerun on the host and
 * compared (check.c). */
bool clt__check_enabled(void);

#endif
