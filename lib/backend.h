/* The one table through which the core talks to a backend (host, OpenCL), and the registry that
 * finds backends. Adding a backend means implementing this table and a registry entry in its own
 * directory (lib/<name>/) and listing both in meson.build; no core file changes
 * (docs/ARCHITECTURE.md). The core calls the compute entries only through the dispatch door
 * (dispatch.h), which checks them against the reference backend under $CLT_CHECK. */
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

/* An elementwise program: a short sequence of instructions over up to 3 input operands, which
 * a backend runs in one pass (a fused chain needs no new interface). Registers 0 .. nin-1 are
 * the inputs (operands 1 .. nin of the walk), register nin + i the result of instruction i, in
 * the dtype its op gives (lib/ew.h: clt__op_out_dtype); the last instruction's result is the
 * output (operand 0). A single op is a one-instruction program over registers 0, 1, 2. */
#define CLT__EW_MAX_INSTR 16

typedef struct {
  int16_t op;     /* a clt_op, or a gradient or loss kernel (lib/ew.h: CLT__G_*) */
  int8_t scalar;  /* 1: the second operand is p[0] instead of a register; 2: the first is */
  uint8_t dt;     /* the clt_dtype its operands are in (where: a's and b's; the condition is bool) */
  uint8_t in[3];  /* its operands' registers */
  double p[2];    /* its parameters (clamp's bounds, leaky_relu's slope, the scalar) */
} clt__ew_instr;

typedef struct clt__ew_prog {
  int n;                           /* instructions, 1 .. CLT__EW_MAX_INSTR */
  int nin;                         /* inputs, at most CLT__MAX_OPS - 1 */
  uint8_t in_dt[CLT__MAX_OPS - 1]; /* the inputs' dtypes */
  clt__ew_instr ins[CLT__EW_MAX_INSTR];
} clt__ew_prog;

struct clt__reduce_args_s;
struct clt__softmax_args_s;

/* Row-major C[m,n] = op(A)[m,k] op(B)[k,n] for batch matrices at strides a_stride, b_stride,
 * c_stride (0: the same matrix for every batch). ta: A is stored as [k,m] rows of lda; else
 * [m,k]. Likewise tb. m, n, k, batch > 0.
 * Two optional epilogues, which every backend's entry honours (a linear layer's bias and its
 * gradient, lib/nn.c; a convolution's, lib/conv.c): bias (not NULL): C[e,i,j] += bias[bias_off +
 * e bias_stride + i bias_row + j bias_inc] in batch entry e, the bias in dt (a linear layer's:
 * bias_inc only, one value per column; a convolution's: bias_row, one value per output channel,
 * and with groups bias_stride); asum (not NULL, batch 1 only): asum[asum_off + i] = the sum over
 * p of op(A)[i,p] (written, not added to). The host's GEMM (lib/blas.c) runs them where it runs
 * the product, with no command of their own on OpenCL; other providers launch kernels. */
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
  const clt__storage *bias;
  int64_t bias_off, bias_inc, bias_row, bias_stride;
  clt__storage *asum;
  int64_t asum_off;
} clt__gemm_args;

/* One optimizer step over n contiguous elements of a parameter (optim.c). */
typedef struct {
  int kind; /* clt_optim_kind */
  double lr, weight_decay, momentum, dampening, beta1, beta2, eps, bc1, bc2;
  bool nesterov, first;
} clt__optim_hp;

/* Most parameters one optim_steps call takes: an OpenCL kernel takes each one's four buffers as
 * arguments (kernels/optim.cl), and clt's launches pass at most 24 (lib/cl/cl_internal.h). */
#define CLT__OPTIM_SLOTS 5

/* One parameter of an optim_steps call: n contiguous elements of p from po and of its gradient g
 * from go, the state s1, s2 from 0 (NULL where the optimizer keeps none); first: s1 is new this
 * step (SGD's momentum buffer then takes the gradient itself). */
typedef struct {
  int64_t n, po, go;
  clt__storage *p, *s1, *s2;
  const clt__storage *g;
  bool first;
} clt__optim_part;

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

/* Fused normalization (lib/norm.c: batch, layer, group and RMS norm) over x viewed as [P, S, Q],
 * contiguous from xo: statistic s (mean and rstd = 1 / sqrt(var + eps), var biased) covers the
 * P Q elements (p, s, q). The affine channel of (p, s, q) is ((s % smod) Q + q) / cdiv, one of
 * NC = smod Q / cdiv (batch norm: S channels; layer norm: Q; group norm: C). */
typedef struct clt__norm_args_s {
  clt_dtype dt;
  int64_t P, S, Q, smod, cdiv;
  bool rms;   /* RMS norm: no centring (mean 0), rstd = 1 / sqrt(mean(x^2) + eps) */
  bool fixed; /* batch norm in eval: the statistics are rm and 1 / sqrt(rv + eps), and the
                 backward does not differentiate through them */
  double eps, momentum;
  const clt__storage *x, *w, *b; /* w, b: NC values from wo, bo, or NULL (1 and 0) */
  int64_t xo, wo, bo;
  clt__storage *y;     /* forward: [P, S, Q] from 0 */
  /* [S, 3] from 0: the forward writes it, the backward reads it. (mean_hi, mean_lo, rstd): the
   * mean as T's value nearest it plus the rest, and x - mean computed as (x - mean_hi) - mean_lo,
   * whose first difference is exact for x near the mean: float32 data at 1e4 + noise keeps its
   * deviations to float32's precision instead of ulp(1e4) = 1e-3, forward and backward. */
  clt__storage *stats;
  /* Batch norm's running statistics (S values each, elements rm_off + i rm_stride): read when
   * fixed, else, when not NULL, updated in place: r = (1 - momentum) r + momentum v, with the
   * unbiased variance (P Q / (P Q - 1) var) for rv, as PyTorch. */
  clt__storage *rm, *rv;
  int64_t rm_off, rm_stride, rv_off, rv_stride;
  const clt__storage *g; /* backward: the incoming gradient, [P, S, Q] contiguous from go */
  int64_t go;
  clt__storage *dx, *dw, *db; /* backward: [P, S, Q] and NC values from 0; NULL: not wanted */
  bool dx_acc;                 /* backward: dx holds a gradient already, which dx's is added into
                                  (rounded to dt first, as a separate add would: the same bits) */
} clt__norm_args;

/* Fused scaled dot-product attention for short rows (lib/attention.c: attn_fused), over the
 * batch [B0, B1] (either may be 1): q [B0, B1, L, E], k [B0, B1, S, E], v [B0, B1, S, Ev], each
 * with its own strides (xs[0..3]: b0, b1, row, column; any, as heads split from one projection
 * have) from its offset. Row i attends to keys 0 .. S-1, or 0 .. min(i, S-1) when causal (no row
 * is empty: L, S >= 1). L, S, E, Ev <= CLT__ATTN_MAX (the kernels' private arrays, sized by
 * kernels/attn.cl's ATTN_MAX, the same number; lib/attention.c: fusable).
 *   forward: out[b, i] = sum_j softmax_j(q_i . k_j scale) v_j, written at out's strides (os), and
 *     lse [B0 B1 L, 2] from 0, each row's (m, l): its largest score and the sum of
 *     exp(score - m), all the backward needs to rebuild the probabilities exp(score - m) / l:
 *     [L, 2] per batch instead of the math path's [L, S] softmax (the pair rather than
 *     m + log(l): a log per row cost PoCL's forward 12%).
 *   backward: reads q, k, v, out (at os), lse and g (the result's gradient, at gs) and writes
 *     dq [B0, B1, L, E], dk [B0, B1, S, E], dv [B0, B1, S, Ev], contiguous from 0 (all three
 *     given: one launch writes them together). */
#define CLT__ATTN_MAX 16
typedef struct {
  clt_dtype dt;
  bool causal;
  double scale;
  int64_t B0, B1, L, S, E, Ev;
  const clt__storage *q, *k, *v;
  int64_t qo, ko, vo, qs[4], ks[4], vs[4];
  clt__storage *out; /* written by the forward, read by the backward */
  int64_t oo, os[4];
  clt__storage *lse;
  const clt__storage *g;
  int64_t go, gs[4];
  clt__storage *dq, *dk, *dv;
} clt__attn_args;

/* Sliding windows over images (lib/conv.c: im2col, col2im, max_pool2d), each one kernel with
 * no atomics: every output element is written by one work-item. Images [NC, H, W] and windows
 * [NC, Ho, Wo] (kernel kh x kw, stride sh, sw, padding before ph, pw, dilation dh, dw), all
 * contiguous; x from xo, the others from 0.
 *   CLT__WIN_IM2COL: x the image; y the columns [NC, kh kw, Ho Wo], 0 in the padding (unfold).
 *   CLT__WIN_COL2IM: x the columns [NC, kh kw, Ho Wo]; y the image [NC, H, W]: each pixel sums
 *     the column entries that read it (fold).
 *   CLT__WIN_MAX: x the image; y [NC, Ho, Wo] each window's largest element, yi (int64) its
 *     place in its image (ih W + iw): PyTorch's rule, the first largest in row-major order
 *     unless a NaN comes later (the last NaN wins), -inf windows pointing at their first element
 *     inside the image.
 *   CLT__WIN_MAX_BWD: x the windows' gradient [NC, Ho, Wo], idx the forward's yi; y the
 *     image's gradient [NC, H, W]: each pixel sums the gradients of the windows that chose it.
 * cols_cn (im2col and col2im): the columns are [C kh kw, N, Ho Wo] instead, the NC images being
 * N of C channels, so that one product can take several images' columns (lib/conv.c: conv2d). */
enum { CLT__WIN_IM2COL, CLT__WIN_COL2IM, CLT__WIN_MAX, CLT__WIN_MAX_BWD };

typedef struct {
  int kind;
  clt_dtype dt;
  int64_t NC, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw;
  clt__storage *y, *yi; /* yi: CLT__WIN_MAX only */
  const clt__storage *x, *idx; /* idx: CLT__WIN_MAX_BWD only */
  int64_t xo;
  int64_t C;    /* channels per image, with cols_cn */
  bool cols_cn;
} clt__win_args;

/* What a map gives the host (backend map): the storage's bytes to read, and/or memory whose
 * writes reach the storage at unmap. */
enum { CLT__MAP_READ = 1, CLT__MAP_WRITE = 2 };

struct clt__backend {
  const char *name;
  /* The reference backend (the host's plain loops): every other table is checked against it. */
  bool reference;
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
  /* Elementwise program p along it: st[0] is the output, st[1 .. p->nin] the inputs (see
   * clt__ew_prog). The host runs any valid program; the OpenCL backend runs one-instruction
   * programs with its prebuilt kernels and longer ones (lib/fusion.c's chains) with a kernel
   * generated per program signature; one whose instructions compute in different dtypes is
   * CLT_ERR_UNSUPPORTED there. One launch either way. */
  clt_status (*ew)(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st);
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
  /* Normalization (clt__norm_args): the forward writes y and stats (and updates the running
   * statistics); the backward writes dx = d loss / dx, dw, db from g, x, stats and w. */
  clt_status (*norm_fwd)(clt_device *dev, const clt__norm_args *a);
  clt_status (*norm_bwd)(clt_device *dev, const clt__norm_args *a);
  /* Attention (clt__attn_args): the forward writes out and lse, the backward dq, dk and dv. */
  clt_status (*attn_fwd)(clt_device *dev, const clt__attn_args *a);
  clt_status (*attn_bwd)(clt_device *dev, const clt__attn_args *a);
  clt_status (*windows)(clt_device *dev, const clt__win_args *a);
  /* s1, s2: the optimizer's state (SGD momentum buffer; Adam m and v), n elements each. */
  clt_status (*optim_step)(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int64_t n, clt__storage *p,
                           int64_t po, const clt__storage *g, int64_t go, clt__storage *s1, clt__storage *s2);
  /* optim_step over n (2 to CLT__OPTIM_SLOTS) parameters of one dtype in one call (hp->first
   * unused: each part says), element for element the same arithmetic: on OpenCL one launch
   * instead of n. */
  clt_status (*optim_steps)(clt_device *dev, const clt__optim_hp *hp, clt_dtype dt, int n, const clt__optim_part *parts);
  /* Makes st->handle address the caller's memory st->ptr (st->nbytes) without copying, or
   * CLT_ERR_UNSUPPORTED. NULL for backends that address host memory directly. */
  clt_status (*wrap_host)(clt_device *dev, clt__storage *st);
  /* Adopts handle, a memory object of this backend the caller lends (an OpenCL cl_mem), as st's
   * memory without copying: checks that it belongs to dev, takes a reference of its own (free
   * drops it) and sets st->handle and st->nbytes (the object's size). NULL for backends without
   * such objects (the host). */
  clt_status (*wrap_handle)(clt_device *dev, void *handle, clt__storage *st);
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

/* A backend's entry in the registry: the specs "<prefix>" and "<prefix>:<rest>" name its devices
 * (device.c). Each backend defines one as clt__backend_<name>, where <name> is how meson.build's
 * list of backends names it (registry.c). */
typedef struct clt__backend_entry {
  const char *prefix;
  /* Writes the records of up to cap of the backend's devices to info (spec "<prefix>:N" for
   * number N, or "<prefix>" for a backend with one device) and the number that exist to *count.
   * Errors are recorded; a backend whose driver is missing is not an error (count 0). */
  clt_status (*list)(clt_device_info *info, size_t cap, size_t *count);
  /* Opens device number index of the list. */
  clt_status (*open)(size_t index, clt_device **out);
  /* For a backend that loads its driver's libraries at run time (NULL for one that needs none):
   * loads them if not yet tried, writes one line on what it loaded or why it could not to note,
   * and says whether they loaded. Without them the backend lists no device. Records no error. */
  bool (*runtime)(char *note, size_t len);
} clt__backend_entry;

/* The registry (registry.c): the backends the build has, the reference backend first. */
size_t clt__backend_count(void);
const clt__backend_entry *clt__backend_at(size_t i);
/* Opens the reference backend's device: host memory, plain loops. */
clt_status clt__reference_open(clt_device **out);

#endif
