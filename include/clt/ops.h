/* clt: operations on tensors.
 *
 * Every op takes borrowed tensors and returns a new tensor (one reference) on the inputs' device,
 * or NULL with the error recorded (clt_last_error). Inputs must be on the same device
 * (CLT_ERR_DEVICE_MISMATCH otherwise). A NULL input gives NULL and keeps the error already
 * recorded, so a chain needs one check at its end.
 *
 * Broadcasting follows NumPy: shapes are aligned from the right, and each dim must be equal or 1.
 *
 * Dtype promotion is PyTorch's (torch.result_type), checked against a table PyTorch wrote
 * (tests/fixtures/result_types.txt, from tools/make_result_types.py). Two dtypes promote as
 * torch.promote_types: bool < integers < floats; uint8 and int32 give int32, any int with int64
 * gives int64, float32 with float64 gives float64, an integer with a float gives the float.
 * Operands with dims decide first; 0-d tensors and then scalars count only when their kind
 * (bool < integer < float) is higher than what decided so far, and then by their own dtype:
 *   float32 [2] + 0-d float64 -> float32     int32 [2] + 0-d float64 -> float64
 *   int32 [2] + 0-d int64     -> int32       bool [2] + 0-d int32    -> int32
 * A double scalar is a Python int (int64) when its value is integral, else a Python float
 * (float32, torch's default dtype): int32 [2] + 2.0 is int32, int32 [2] + 2.5 is float32,
 * bool [2] + 2 is int64. Ops defined for floats only (exp, div, ...) compute integer and bool
 * results in float32. Where the result is bool, add and maximum are logical or, mul and minimum
 * logical and, and pow is refused (CLT_ERR_DTYPE); sub refuses any bool operand (use
 * clt_logical_not or clt_logical_xor), all as PyTorch. Comparisons and logical ops give bool.
 *
 * Results are row-major contiguous, except for elementwise ops whose tensor inputs all have the
 * result's shape and one and the same dense permuted layout (a transposed matrix, a permuted
 * tensor): the result then takes that layout, as PyTorch's does, so exp(x.T) or a.T + b.T walk
 * memory in order. clt_is_contiguous says which; clt_contiguous makes any tensor row-major.
 *
 * IEEE 754 everywhere: no fast-math; NaN and infinities behave as in C. maximum/minimum and
 * clamp propagate NaN, as PyTorch does. Where PyTorch 2.x (CPU) departs from C, clt follows it,
 * on every device, in value and in gradient:
 *   sign(NaN) and sign(-0) are +0; abs(-0) is +0.
 *   A power by a scalar (clt_pow_scalar) of 0.5 or -0.5 is sqrt or 1 / sqrt: (-inf)^0.5 is NaN
 *   and (-0)^0.5 is -0 (C's pow gives +inf and +0). A power by a tensor (clt_pow) is C's pow.
 *   relu's and elu's gradients at NaN pass g (their zero branch is x <= 0); leaky_relu's is
 *   slope * g.
 *   maximum and minimum: ties split g evenly; where either operand is NaN both get g.
 *   rpow_scalar(+-0, x) has gradient 0 where x >= 0, and g (+-0)^x log 0 where x < 0 (-inf
 *   for +0; for -0, +inf at odd x and -inf at even x); so has pow(+-0, b) for b.
 *   softmax and log_softmax of a row holding +inf (or NaN, or only -inf) are NaN in the whole
 *   row, and so is their gradient.
 *   std's gradient is 0 where the std is 0 (a constant slice, a 0-d tensor, a dim of size 1
 *   with correction 0); where n - correction <= 0 the std and its gradient are NaN.
 * tanh is exactly +-1 from |x| = 9.1 in float32 on every driver (PoCL's own tanh stops at
 * +-0.99999994), so its gradient 1 - t^2 is 0 there.
 * Where clt departs from PyTorch on purpose: gelu_tanh is x sigmoid(2u), u = sqrt(2/pi) (x +
 * 0.044715 x^3), computed from e^(-2|u|) without the cancellation of PyTorch's 0.5 x (1 + tanh u)
 * for negative x, whose float64 result loses digits as x falls (relative error 6.8e-15 at -3,
 * 1.4e-12 at -4, 2.7e-7 at -6, all from -8: -0 at -20, where clt gives -3.4e-261); and where x^3
 * overflows for a finite x (float64 |x| > 5.6e102) the gradient is its limit, 1 or 0, where
 * PyTorch's is NaN. At +-inf clt gives PyTorch's answers: gelu_tanh(-inf) is NaN, the gradient
 * NaN at both. (tests/torch_refs/ holds the exact values for gelu_tanh in float64.)
 */
#ifndef CLT_OPS_H
#define CLT_OPS_H

#include "clt/common.h"
#include "clt/elementwise.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "add", "relu", ...; NULL for a value no op has. */
CLT_API const char *clt_op_name(clt_op op);

/* ---- elementwise ------------------------------------------------------------------------ */

/* Every elementwise function is declared in clt/elementwise.h, generated from the op table (one
 * line of documentation each); what they share is said here.
 *
 * Unary: clt_neg clt_abs clt_sign clt_square clt_relu clt_clamp keep integers; clt_exp clt_expm1
 * clt_log clt_log1p clt_sqrt clt_rsqrt clt_reciprocal clt_sin clt_cos clt_tanh clt_sigmoid
 * clt_leaky_relu clt_elu clt_gelu clt_gelu_tanh clt_silu clt_softplus compute integers in
 * float32. All refuse bool tensors, except clt_logical_not (bool result).
 *
 * clt_clamp(x, lo, hi): min(max(x, lo), hi); NaN stays NaN. Use -INFINITY / INFINITY for one
 * side only: an infinite bound is no bound (PyTorch's None). The bounds promote as scalars: a
 * finite fractional one makes an integer tensor's result float32 (clamp(int32, -0.5, 1) is
 * float32, as PyTorch's); an integer tensor's bounds saturate into its dtype. The gradient
 * passes g strictly inside the bounds, 0 at them and at NaN (PyTorch 2.x).
 * clt_unary(CLT_OP_clamp, ...) is the same.
 *
 * Binary, with broadcasting and promotion: clt_add clt_sub clt_mul clt_div clt_pow clt_maximum
 * clt_minimum; comparisons (bool result): clt_eq clt_ne clt_lt clt_le clt_gt clt_ge; logical
 * (bool result, nonzero is true): clt_logical_and clt_logical_or clt_logical_xor. The
 * arithmetic ops and comparisons have a scalar form with a scalar second operand (a op s):
 * clt_add_scalar ... clt_ge_scalar; sub, div and pow also one with a scalar first operand
 * (s op b): clt_rsub_scalar(b, s) is s - b, clt_rdiv_scalar s / b, clt_rpow_scalar s ** b.
 * div is true division (integers give float32). Integer pow with a tensor of negative exponents
 * truncates (0 unless the base is 1 or -1), as PyTorch's; clt_pow_scalar refuses an integer
 * tensor (or a bool one, which promotes to int64) to a negative integer power
 * (CLT_ERR_INVALID_ARG, naming the exponent), as PyTorch. Gradients compute in the result's
 * dtype, with the operands promoted to it as the op did, and are formed so that they over- or
 * underflow only where the gradient itself does (a / b^2 for b = 1e20 or 1e-40, b a^(b-1) for a
 * tiny base, a^b log a past a^b's overflow): in float32 within 4 ulp of the float64 reference
 * for div and 32 for pow (OpenCL's error bounds; 1 and 2 measured on PoCL). */

/* x converted to dtype (a new tensor; a copy even when the dtype is the same). Floats to
 * integers truncate and saturate, NaN gives 0; integers to narrower integers wrap; to bool is
 * != 0. To float16 and bfloat16 every dtype rounds once to nearest even (float64, int32 and
 * int64 too, where PyTorch goes through float32 and may round twice), past the largest finite
 * value to inf, NaN to NaN.
 *
 * float16 and bfloat16 are storage types: every op computes them in float32 (reductions and
 * matmul accumulate in float32 or wider) and rounds its result once into the 16-bit dtype, on
 * every device; gradients flow through them in the same way. They promote as PyTorch's:
 * float16 + bfloat16 is float32, an integer with a 16-bit float is the 16-bit float, and a
 * float32 or float64 0-d tensor or a scalar with a 16-bit tensor keeps the 16-bit dtype.
 * scatter_add refuses them (cast first). */
CLT_API clt_tensor *clt_cast(clt_tensor *x, clt_dtype dtype);

/* Any elementwise op by its enum: unary (p0, p1 are its parameters), binary, binary with a
 * scalar second operand. */
CLT_API clt_tensor *clt_unary(clt_op op, clt_tensor *x, double p0, double p1);
CLT_API clt_tensor *clt_binary(clt_op op, clt_tensor *a, clt_tensor *b);
CLT_API clt_tensor *clt_binary_scalar(clt_op op, clt_tensor *a, double s);

/* torch.result_type(a, b): the dtype the promotion rules above give a and b (the dtype a binary
 * op computes in, before float-only ops take integers to float32). CLT_DTYPE_COUNT for NULL. */
CLT_API clt_dtype clt_result_type(const clt_tensor *a, const clt_tensor *b);

/* ---- reductions ------------------------------------------------------------------------- */

/* Reductions take the dims to reduce as (ndims, dims): negative dims count from the end, and
 * ndims 0 (dims NULL) reduces every dim. CLT_DIMS(0, 2) spells a literal list; CLT_ALL_DIMS is
 * 0, NULL. keepdim keeps reduced dims as size 1. Float sums accumulate in chunks and then
 * pairwise, within n * eps * sum|x| of the exact sum. */
#define CLT_ALL_DIMS 0, NULL

/* Sum and product: integers and bool give int64, floats keep their dtype. An empty reduction
 * gives 0 (sum) or 1 (prod). prod's gradient is g times the product of the other elements of
 * the slice (exclusive prefix times suffix products, one work-item per slice on OpenCL), so
 * zeros, infinities and NaN count as they do in the product: PyTorch's answer where the input
 * holds a zero; where it holds none, PyTorch divides prod / x, NaN at an inf, and clt does not. */
CLT_API clt_tensor *clt_sum(clt_tensor *x, int ndims, const int *dims, bool keepdim);
CLT_API clt_tensor *clt_prod(clt_tensor *x, int ndims, const int *dims, bool keepdim);
/* Mean of floats (integers: CLT_ERR_DTYPE, as PyTorch); empty gives NaN. */
CLT_API clt_tensor *clt_mean(clt_tensor *x, int ndims, const int *dims, bool keepdim);
/* Largest / smallest values (torch.amax / amin): any dtype, NaN wins. Empty: CLT_ERR_SHAPE. */
CLT_API clt_tensor *clt_max(clt_tensor *x, int ndims, const int *dims, bool keepdim);
CLT_API clt_tensor *clt_min(clt_tensor *x, int ndims, const int *dims, bool keepdim);
/* Index (int64) of the first largest / smallest value along one dim, CLT_DIMS(d), or over all
 * elements in row-major order with CLT_ALL_DIMS (torch.argmax with dim=None): the dims as every
 * reduction takes them, so "all" is spelled the same everywhere. More than one dim is
 * CLT_ERR_INVALID_ARG. NaN counts as the largest (and the smallest). keepdim keeps the reduced
 * dim as size 1; over all dims it keeps every dim, so the result has shape [1, ..., 1] (0-d for
 * a 0-d x), as PyTorch. No elements to choose from: CLT_ERR_SHAPE. */
CLT_API clt_tensor *clt_argmax(clt_tensor *x, int ndims, const int *dims, bool keepdim);
CLT_API clt_tensor *clt_argmin(clt_tensor *x, int ndims, const int *dims, bool keepdim);
/* Variance and standard deviation with Bessel's correction: sum((x - mean)^2) / (n - correction)
 * (correction 1: the unbiased estimate, 0: the population one). Floats only. Computed on each
 * slice scaled by the power of two that brings its largest |x| below 1, in four passes (max |x|,
 * the mean, the mean of the deviations from it, which puts back what rounding the mean lost,
 * and the squared deviations), so that no square over- or underflows: over the whole float32
 * range within 8 ulp of the float64 reference (1 measured on PoCL); var past the largest float
 * is inf. The gradients take the mean the same way. */
CLT_API clt_tensor *clt_var(clt_tensor *x, int ndims, const int *dims, double correction, bool keepdim);
CLT_API clt_tensor *clt_std(clt_tensor *x, int ndims, const int *dims, double correction, bool keepdim);
/* log(sum(exp(x))), computed as max + log(sum(exp(x - max))); integers promote to float32. */
CLT_API clt_tensor *clt_logsumexp(clt_tensor *x, int ndims, const int *dims, bool keepdim);
/* Softmax and log-softmax along dim, numerically stable (the max is subtracted first);
 * integers promote to float32. */
CLT_API clt_tensor *clt_softmax(clt_tensor *x, int dim);
CLT_API clt_tensor *clt_log_softmax(clt_tensor *x, int dim);

/* ---- matrix products -------------------------------------------------------------------- */

/* Matrix product with NumPy's rules: 1-d . 1-d is a dot product (0-d), 2-d . 2-d a matrix
 * product, a 1-d operand gains a dim of size 1 (removed again from the result), and leading
 * batch dims broadcast. float32 and float64 (integers: CLT_ERR_DTYPE; mixed floats promote).
 * On OpenCL devices CLBlast computes it (strided-batched GEMM for batches); on the host CBLAS
 * (OpenBLAS) when the build found it, else a blocked loop. Transposed views go in as transpose
 * flags without a copy; m, n or k of 0 need no BLAS call. */
CLT_API clt_tensor *clt_matmul(clt_tensor *a, clt_tensor *b);

/* ---- joining and indexing -------------------------------------------------------------- */

/* Joins n tensors along dim; every shape must match except in dim (1-d tensors with no
 * elements are skipped, as PyTorch does). The result's dtype is the promotion of all inputs.
 * CLT_TENSORS spells a literal list: clt_cat(CLT_TENSORS(a, b), 0). */
CLT_API clt_tensor *clt_cat(int n, clt_tensor *const *tensors, int dim);
/* Stacks n tensors of one shape along a new dim (in -ndim-1 .. ndim). */
CLT_API clt_tensor *clt_stack(int n, clt_tensor *const *tensors, int dim);
/* The entries of x at the positions index (1-d or 0-d, int32 or int64) along dim. */
CLT_API clt_tensor *clt_index_select(clt_tensor *x, int dim, clt_tensor *index);
/* out[i][j][k] = x[i][index[i][j][k]][k] for dim 1 (and likewise for every dim): index has
 * x's number of dims, sizes at most x's except in dim, and int32 or int64 entries in
 * 0 .. x.shape[dim]-1 (CLT_ERR_INDEX names the first one out of range). */
CLT_API clt_tensor *clt_gather(clt_tensor *x, int dim, clt_tensor *index);
/* A copy of x with src added where index points along dim (the reverse of gather; gather's
 * gradient): out[i][index[i][j][k]][k] += src[i][j][k] for dim 1. float32, float64, int32,
 * int64. On parallel devices float additions land in any order, so the last bits may vary
 * between runs. */
CLT_API clt_tensor *clt_scatter_add(clt_tensor *x, int dim, clt_tensor *index, clt_tensor *src);
/* int64 tensor of index's shape plus a last dim of num_classes, 1 at each index and 0
 * elsewhere; num_classes -1 takes max(index) + 1. */
CLT_API clt_tensor *clt_one_hot(clt_tensor *index, int64_t num_classes);


/* ---- ops5: sorting, scans, padding, splitting (issue 14 item 5) ------------------------- */

/* torch.sort(x, dim, descending, stable=True): the values of x sorted along dim (negative
 * counts from the end), and in *indices (may be NULL; int64, x's shape) where each came from.
 * Stable: equal keys keep their order, ascending and descending alike. NaN is greater than
 * everything (last ascending, first descending), as PyTorch; -0 equals +0. Any dtype (int64
 * keys compare exactly, not through double); a 0-d x is its own sort. The order is found on
 * the host by a merge sort of each slice: on an OpenCL device that costs a device -> host copy
 * of x and a host -> device copy of the int64 indices (there is no sorting kernel yet); the
 * values are then a gather of x on its device, whose gradient scatters g back (float dtypes). */
CLT_API clt_tensor *clt_sort(clt_tensor *x, int dim, bool descending, clt_tensor **indices);
/* torch.argsort(x, dim, descending, stable=True): clt_sort's indices alone. */
CLT_API clt_tensor *clt_argsort(clt_tensor *x, int dim, bool descending);
/* torch.topk(x, k, dim, largest, sorted=True): the k largest (smallest) values along dim, in
 * order (largest first, or smallest first), ties in their order in x; *indices (may be NULL)
 * as clt_sort's. k in 0 .. x.shape[dim]. As clt_sort (the host finds the order). */
CLT_API clt_tensor *clt_topk(clt_tensor *x, int64_t k, int dim, bool largest, clt_tensor **indices);

/* torch.cumsum / torch.cumprod(x, dim): inclusive running sum / product along dim. Integers
 * and bool give int64 (as PyTorch), floats keep their dtype. Computed on x's device as
 * ceil(log2 n) steps of y op (y shifted by 1, 2, 4, ... along dim, the gap filled with 0 or 1),
 * a Hillis-Steele scan of existing elementwise ops (log2 n passes over the tensor, each a new
 * tensor), so each float result is a tree of at most ceil(log2 n) + 1 levels of roundings,
 * not PyTorch's sequential n (the last bits may differ from PyTorch's). Gradients come from
 * the scan's own graph: cumsum's is the reverse cumsum of g; cumprod's is products of the
 * other elements, never a division, so it is right where x holds zeros (PyTorch's too). */
CLT_API clt_tensor *clt_cumsum(clt_tensor *x, int dim);
CLT_API clt_tensor *clt_cumprod(clt_tensor *x, int dim);

/* torch.Tensor.masked_fill(mask, value): x with value (converted to x's dtype, as a C cast;
 * bool: value != 0) where the bool mask is true. mask broadcasts to x's shape (not the
 * reverse); the result has x's shape. x's gradient is g where mask is false, 0 where filled. */
CLT_API clt_tensor *clt_masked_fill(clt_tensor *x, clt_tensor *mask, double value);

/* torch.split(x, split_size, dim): views of x along dim, split_size elements each (the last
 * may be smaller; a dim of size 0 gives one empty piece). *n gets the number of pieces; out
 * (room for cap) gets them, or may be NULL to ask for the number only. More pieces than cap:
 * CLT_ERR_INVALID_ARG, nothing made. On any failure every out[i] is NULL. Each piece is a view
 * (clt_slice): the caller releases each. */
CLT_API clt_status clt_split(clt_tensor *x, int64_t split_size, int dim, clt_tensor **out, int cap, int *n);
/* torch.split(x, [sizes], dim): nsizes views of the given sizes, which must add up to
 * x.shape[dim]. */
CLT_API clt_status clt_split_sizes(clt_tensor *x, int nsizes, const int64_t *sizes, int dim, clt_tensor **out);
/* torch.chunk(x, chunks, dim): views of ceil(size / chunks) elements each along dim, so
 * possibly fewer than chunks pieces (torch.chunk(arange(5), 4) gives 3); a dim of size 0 gives
 * chunks empty pieces. out has room for chunks; *n gets the number made. */
CLT_API clt_status clt_chunk(clt_tensor *x, int chunks, int dim, clt_tensor **out, int *n);

/* Padding modes of clt_pad (torch.nn.functional.pad's mode). */
typedef enum clt_pad_mode {
  CLT_PAD_CONSTANT = 0,  /* "constant": value outside x */
  CLT_PAD_REFLECT = 1,   /* "reflect": mirrored about the edge element (pad < size) */
  CLT_PAD_REPLICATE = 2, /* "replicate": the edge element repeated (size > 0) */
  CLT_PAD_CIRCULAR = 3   /* "circular": wrapped around (pad <= size) */
} clt_pad_mode;
/* torch.nn.functional.pad(x, pad, mode, value): pad holds npad (even, npad / 2 <= ndim)
 * entries, (before, after) pairs for the last dim first, then the one before it, and so on.
 * Constant mode takes negative entries (cropping), as PyTorch; the other modes need entries
 * >= 0 and, unlike PyTorch (which pads only the last 1-3 dims of 2-5-d inputs there), pad any
 * dims of any tensor. value: constant mode only (converted to x's dtype). Any dtype.
 * Gradients: constant mode's is g cropped back; the others' are g scattered back (a gather
 * per padded dim, as index_select). */
CLT_API clt_tensor *clt_pad(clt_tensor *x, int npad, const int64_t *pad, clt_pad_mode mode, double value);
/* torch.flip(x, dims): x reversed along each of the ndims dims listed (negative from the end,
 * no repeats). A new tensor (PyTorch's too), one gather per dim; the gradient is g flipped. */
CLT_API clt_tensor *clt_flip(clt_tensor *x, int ndims, const int *dims);

/* ---- end of ops5 ------------------------------------------------------------------------ */

#ifdef __cplusplus
}
#endif

#endif
