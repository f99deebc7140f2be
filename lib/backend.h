/* The one table through which the core talks to a backend (host, OpenCL). Adding a backend means
 * implementing this table; no core file changes. */
#ifndef CLT_BACKEND_H
#define CLT_BACKEND_H

#include "core.h"

/* Most operands an iteration describes (output first). */
#define CLT__MAX_OPS 4

/* A strided walk over numel elements in row-major order of shape, for up to CLT__MAX_OPS
 * operands at once. Built by clt__iter_build: size-1 dims dropped, mergeable dims merged, so a
 * walk over contiguous operands has ndim 1 and unit strides (contiguous = true). Strides and
 * offsets count elements. */
typedef struct clt__iter {
  int ndim;
  int nops;
  bool contiguous;
  int64_t numel;
  int64_t shape[CLT_MAX_DIMS];
  int64_t strides[CLT__MAX_OPS][CLT_MAX_DIMS];
  int64_t offset[CLT__MAX_OPS];
} clt__iter;

/* Builds the walk over shape (ndim dims) for operands whose strides (already broadcast to
 * shape, 0 for broadcast dims) and offsets are given. */
void clt__iter_build(clt__iter *it, int ndim, const int64_t *shape, int nops,
                     const int64_t *const *strides, const int64_t *offsets);
/* The walk over tensors of one shape (dst first). */
void clt__iter_tensors(clt__iter *it, int nops, const clt_tensor *const *ts);
/* order[0..ndim) = the dims by decreasing stride, ties in dim order (row-major: 0, 1, ...). */
void clt__order_by_stride(int ndim, const int64_t *strides, int *order);
/* Offsets of element i for every operand (host loops, tests). */
void clt__iter_offsets(const clt__iter *it, int64_t i, int64_t *off);

struct clt__reduce_args_s;
struct clt__softmax_args_s;

/* Row-major C[m,n] = op(A)[m,k] op(B)[k,n] for batch matrices at strides a_stride, b_stride,
 * c_stride (0: the same matrix for every batch). ta: A is stored as [k,m] rows of lda; else
 * [m,k]. Likewise tb. m, n, k, batch > 0. */
typedef struct {
  clt_dtype dt;
  bool ta, tb;
  int64_t m, n, k, batch;
  const clt__storage *a;
  int64_t a_off, lda, a_stride;
  const clt__storage *b;
  int64_t b_off, ldb, b_stride;
  clt__storage *c;
  int64_t c_off, ldc, c_stride;
} clt__gemm_args;

/* One optimizer step over n contiguous elements of a parameter (optim.c). */
typedef struct {
  int kind; /* clt_optim_kind */
  double lr, weight_decay, momentum, dampening, beta1, beta2, eps, bc1, bc2;
  bool nesterov, first;
} clt__optim_hp;

/* Fused cross entropy over logits x [N, C] (contiguous from xo) and labels y (from yo). */
typedef struct {
  clt_dtype dt, idt;
  int64_t N, C;
  const clt__storage *x;
  int64_t xo;
  const clt__storage *y;
  int64_t yo;
  clt__storage *loss, *lse;       /* forward: loss [N], lse [N, 2] (the row's max m and sum of exp(x - m)), from 0 */
  const clt__storage *g;          /* backward: row i's gradient at go + i * gs */
  int64_t go, gs;
  clt__storage *out;              /* backward: [N, C] from 0 */
} clt__ce_args;

/* What a map gives the host (backend map): the storage's bytes to read, and/or memory whose
 * writes reach the storage at unmap. */
enum { CLT__MAP_READ = 1, CLT__MAP_WRITE = 2 };

struct clt__backend {
  const char *name;
  void (*destroy)(clt_device *dev);
  /* Memory: alloc fills st->ptr or st->handle for st->nbytes > 0 bytes. */
  clt_status (*alloc)(clt_device *dev, clt__storage *st);
  void (*free)(clt_device *dev, clt__storage *st);
  clt_status (*write)(clt_device *dev, clt__storage *st, size_t off, const void *src, size_t n);
  clt_status (*read)(clt_device *dev, const clt__storage *st, size_t off, void *dst, size_t n);
  /* Copies elements of esize bytes along it: operand 0 in dst, 1 in src. */
  clt_status (*copy)(clt_device *dev, const clt__iter *it, clt__storage *dst,
                     const clt__storage *src, size_t esize);
  /* Sets every element of operand 0 along it to the esize-byte pattern value. */
  clt_status (*fill)(clt_device *dev, const clt__iter *it, clt__storage *dst, size_t esize,
                     const void *value);
  /* Fills n contiguous elements of float dt at element offset off with Philox uniforms. */
  clt_status (*rand_uniform)(clt_device *dev, clt__storage *dst, int64_t off, int64_t n,
                             clt_dtype dt, uint64_t seed, uint64_t counter);
  /* Elementwise op along it: st[0] is the output, st[1..] the inputs. dt is the inputs' dtype
   * (where: a's and b's; its condition is bool). scalar 1: the second input is params[0]
   * instead of a tensor; scalar 2: the first is. params[0..1] are the op's parameters. */
  clt_status (*ew)(clt_device *dev, int op, const clt__iter *it, clt__storage *const *st, clt_dtype dt,
                   const double *params, int scalar);
  /* dst (dtype ddt) = src (dtype sdt) converted, along it (operand 0 dst, 1 src). */
  clt_status (*cast)(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                     const clt__storage *src, clt_dtype sdt);
  /* Reductions over the canonical [A, R, B] walk (reduce.h). */
  clt_status (*reduce)(clt_device *dev, const struct clt__reduce_args_s *r);
  clt_status (*softmax)(clt_device *dev, const struct clt__softmax_args_s *a);
  /* Gather and scatter-add over the index's shape (it->shape, never merged): operand 0 is the
   * output (gather: contiguous from it->offset[0]; scatter: the strided target), 1 x (gather)
   * or the index (scatter), 2 the index (gather) or src (scatter). dim is replaced by the
   * index's value in the x (gather) or target (scatter) position. */
  clt_status (*gather)(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                       const clt__storage *index, clt_dtype dt, clt_dtype idt);
  clt_status (*scatter_add)(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                            const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt);
  clt_status (*gemm)(clt_device *dev, const clt__gemm_args *g);
  clt_status (*ce_fwd)(clt_device *dev, const clt__ce_args *a);
  clt_status (*ce_bwd)(clt_device *dev, const clt__ce_args *a);
  /* s1, s2: the optimizer's state (SGD momentum buffer; Adam m and v), n elements each. */
  clt_status (*optim_step)(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                           int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2);
  /* Makes st->handle address the caller's memory st->ptr (st->nbytes) without copying, or
   * CLT_ERR_UNSUPPORTED. NULL for backends that address host memory directly. */
  clt_status (*wrap_host)(clt_device *dev, clt__storage *st);
  /* Host access to bytes [off, off + n) of st (n > 0), once the work queued on the device before
   * is done: *ptr gets memory that holds those bytes (flags has CLT__MAP_READ) and whose writes
   * reach st at unmap (CLT__MAP_WRITE), until unmap. The storage's own memory on the host and on
   * devices that share host memory (no copy); elsewhere the driver stages it (a copy in to read,
   * a copy out after writing). No device work may use st while it is mapped, and one map of a
   * storage at a time. MPI reads and writes device tensors through this (lib/dist/). */
  clt_status (*map)(clt_device *dev, clt__storage *st, size_t off, size_t n, unsigned flags, void **ptr);
  clt_status (*unmap)(clt_device *dev, clt__storage *st, void *ptr);
  clt_status (*sync)(clt_device *dev);
  void (*memory_stats)(const clt_device *dev, clt_memory_stats *out);
  void (*empty_cache)(clt_device *dev);
};

extern const clt__backend clt__host_backend;
/* Opens a host device handle (host.c). */
clt_status clt__host_open(clt_device **out);

/* Backends the build has, tried by spec (device.c). */
#ifdef CLT_HAVE_OPENCL
extern const clt__backend clt__cl_backend;
/* Enumerates OpenCL devices into info[0..cap) (spec "cl:N"); *count gets the total. Errors are
 * recorded; no platform at all is not an error (count 0). */
clt_status clt__cl_list(clt_device_info *info, size_t cap, size_t *count);
/* Opens OpenCL device number index of clt__cl_list. */
clt_status clt__cl_open(size_t index, clt_device **out);
#endif

#endif
