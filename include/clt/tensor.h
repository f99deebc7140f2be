/* clt: tensors, creation, views, host conversions, printing and scopes.
 *
 * A tensor is a typed, strided view (shape, element strides, storage offset) of a storage that
 * lives in host memory or in one OpenCL buffer. Shapes are row-major, up to CLT_MAX_DIMS
 * dimensions; 0-d scalars and tensors with a zero-size dimension are valid everywhere. Every
 * tensor and view, however made (creation, views such as clt_expand, broadcasting, clt_cat,
 * files), has sizes that multiply to at most 2^63 - 1 with a 0 counted as 1, so that its
 * element count and strides fit in int64; a shape past that is CLT_ERR_OVERFLOW (PyTorch refuses
 * (0, 2^62, 2^62) too). Copying out a view whose bytes exceed the address space (a large
 * expanded view) is CLT_ERR_OVERFLOW as well.
 *
 * Ownership: every function returning clt_tensor * returns one new reference that the caller
 * releases with clt_release(), unless a scope is open (see clt_scope_begin). Inputs are borrowed.
 * Views share their base's storage and keep it alive.
 *
 * const: a function that only reads a tensor and keeps nothing of it (properties, clt_to_host,
 * saves, clt_grad, clt_optim_set_state's copies) takes const clt_tensor *. A function that
 * returns a tensor takes clt_tensor *, because the result may hold its inputs (a view its base,
 * the autograd graph the tensors it saved); so do the in-place ops and everything that writes.
 * Arrays of tensors are clt_tensor *const *, read-only, because C does not convert
 * clt_tensor ** to const clt_tensor *const * without a cast.
 *
 * Conversions say whether they copy or share:
 *   clt_from_host   copies a row-major host array into a new tensor on a device
 *   clt_wrap_host   shares host memory as a host tensor (zero-copy); free_fn runs exactly once
 *   clt_host_data   borrowed pointer to a host tensor's first element (host tensors only)
 *   clt_to_host     copies out, row-major contiguous, checking the destination size
 *   clt_to          copies to another device; a new reference to the same tensor when already
 *                   there
 *   clt_item        one element to a host double
 */
#ifndef CLT_TENSOR_H
#define CLT_TENSOR_H

#include <stdio.h>

#include "clt/common.h"
#include "clt/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- references ------------------------------------------------------------------------- */

CLT_API clt_tensor *clt_retain(clt_tensor *t);
/* Drops one reference; NULL is a no-op. Releasing a tensor that an open scope tracks removes it
 * from the scope, so it is not released twice. */
CLT_API void clt_release(clt_tensor *t);

/* ---- properties ------------------------------------------------------------------------- */

/* Accessors are named for what they return: clt_ndim(t), clt_shape(t), clt_device_spec(dev).
 * Where that noun is also a type's name (clt_dtype, clt_device, clt_device_type), the accessor
 * adds "_of": clt_dtype_of(t). "get_" is kept for functions that return a clt_status and write
 * their results through pointers (clt_device_get_info, clt_rng_get_state), each with a "set_"
 * twin where the value can be set. Predicates start with "is_". */
CLT_API clt_dtype clt_dtype_of(const clt_tensor *t);
CLT_API int clt_ndim(const clt_tensor *t);
/* Size of dimension dim (negative counts from the end); -1 and an error for a bad dim. */
CLT_API int64_t clt_size(const clt_tensor *t, int dim);
/* Pointer to the shape array (ndim entries), valid while t lives. */
CLT_API const int64_t *clt_shape(const clt_tensor *t);
/* Element strides (ndim entries) and storage offset in elements. */
CLT_API const int64_t *clt_strides(const clt_tensor *t);
CLT_API int64_t clt_storage_offset(const clt_tensor *t);
CLT_API int64_t clt_numel(const clt_tensor *t);
CLT_API bool clt_is_contiguous(const clt_tensor *t);
/* The device of t (borrowed: retain it to keep it past t). */
CLT_API clt_device *clt_device_of(const clt_tensor *t);
/* true when a and b are views of the same storage. */
CLT_API bool clt_shares_storage(const clt_tensor *a, const clt_tensor *b);

/* ---- creation --------------------------------------------------------------------------- */

/* Uninitialised contents. */
CLT_API clt_tensor *clt_empty(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape);
CLT_API clt_tensor *clt_zeros(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape);
CLT_API clt_tensor *clt_ones(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape);
/* Every element = value converted to dtype (as a C cast; bool: value != 0). */
CLT_API clt_tensor *clt_full(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape,
                             double value);
/* 1-D tensor start, start+step, ... < end (> end for a negative step), as torch.arange:
 * ceil((end - start) / step) elements, each computed as start + i * step in double. */
CLT_API clt_tensor *clt_arange(clt_device *dev, clt_dtype dtype, double start, double end,
                               double step);

/* Random numbers from this thread's Philox 4x32-10 generator. The same seed gives the same
 * numbers on the host and on every device, bit for bit: element i of a float32 tensor comes
 * from word i % 4 of the block at counter offset + i / 4 (float64 uses two words per element).
 * Each call advances the generator past the blocks it used. */
CLT_API void clt_manual_seed(uint64_t seed);
/* The generator's seed and counter offset, to save and restore its state. */
CLT_API void clt_rng_get_state(uint64_t *seed, uint64_t *offset);
CLT_API void clt_rng_set_state(uint64_t seed, uint64_t offset);
/* Uniform in [0, 1); float dtypes only. */
CLT_API clt_tensor *clt_rand(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape);
/* Standard normal (Box-Muller in double on the host, then copied to dev); float dtypes only. */
CLT_API clt_tensor *clt_randn(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape);

/* ---- views (share storage) -------------------------------------------------------------- */

/* New shape with the same number of elements; one entry may be -1 (inferred). A view when the
 * strides allow it, else a contiguous copy (as torch.reshape). */
CLT_API clt_tensor *clt_reshape(clt_tensor *t, int ndim, const int64_t *shape);
/* Always a view; CLT_ERR_SHAPE when the strides do not allow one (as torch.Tensor.view). */
CLT_API clt_tensor *clt_view(clt_tensor *t, int ndim, const int64_t *shape);
/* Merges dims start..end (inclusive, negative from the end) into one. */
CLT_API clt_tensor *clt_flatten(clt_tensor *t, int start_dim, int end_dim);
CLT_API clt_tensor *clt_transpose(clt_tensor *t, int dim0, int dim1);
/* Dims reordered: result dim i is t's dim dims[i]. (ndims, dims) lists every dim of t once, a
 * permutation of 0..ndim-1 (negative entries count from the end); ndims must equal t's ndim
 * (CLT_ERR_INVALID_ARG otherwise). CLT_DIMS spells a literal list:
 * clt_permute(t, CLT_DIMS(2, 0, 1)). */
CLT_API clt_tensor *clt_permute(clt_tensor *t, int ndims, const int *dims);
/* Elements start, start+step, ... < end along dim, with Python's rules for negative and
 * out-of-range start and end (clamped); step >= 1. Use INT64_MAX for "to the end". */
CLT_API clt_tensor *clt_slice(clt_tensor *t, int dim, int64_t start, int64_t end, int64_t step);
/* Size-1 dims broadcast to the given shape (stride 0); -1 keeps a size; new leading dims may be
 * added. A shape whose sizes multiply past 2^63 - 1 is refused (CLT_ERR_OVERFLOW), as it is
 * everywhere a tensor or view is made (a 0 size counts as 1 there, so that strides fit too). */
CLT_API clt_tensor *clt_expand(clt_tensor *t, int ndim, const int64_t *shape);
/* Removes dim if its size is 1 (else returns a view unchanged, as PyTorch). */
CLT_API clt_tensor *clt_squeeze(clt_tensor *t, int dim);
/* Removes every size-1 dim. */
CLT_API clt_tensor *clt_squeeze_all(clt_tensor *t);
/* Inserts a size-1 dim at dim (in -ndim-1 .. ndim). */
CLT_API clt_tensor *clt_unsqueeze(clt_tensor *t, int dim);
/* t itself (a new reference) when contiguous, else a row-major copy on the same device. */
CLT_API clt_tensor *clt_contiguous(clt_tensor *t);
/* Starts computing t's elements now, without waiting. On OpenCL devices elementwise ops (unary,
 * binary, scalar forms, where) are recorded rather than launched, and a chain of them runs as one
 * kernel when something needs its result: an op of another kind, a read to the host, a view
 * that is not the whole result, an in-place write to one of its inputs, autograd, or
 * clt_device_synchronize. A result released unread is never computed. clt_eval is that need
 * made explicit (to time a chain, or to free its inputs' memory sooner); $CLT_FUSION=0 records
 * nothing. An error of the chain's launch names its ops. On PoCL's CPU device a chain of exact
 * ops (neg, abs, sign, square, relu, clamp, add, sub, mul, maximum, minimum, comparisons, where;
 * float32 and float64) of at most $CLT_HOST_OPS elements (default 65536; 0: never) runs on the
 * calling thread instead, over the buffers' own memory, when no work clt queued on the device
 * is pending (an enqueue there costs more than such an op): clt_eval then returns with it done,
 * with the same bytes the kernels give. */
CLT_API clt_status clt_eval(const clt_tensor *t);
/* A new contiguous copy that shares nothing with t. */
CLT_API clt_tensor *clt_clone(clt_tensor *t);

/* ---- host conversions ------------------------------------------------------------------- */

/* Like the creation functions, these take (dev, dtype, ndim, shape) first, then the host
 * memory, then what frees it (free_fn, user: free_fn(data, user)). */
/* Copies ndim/shape elements of dtype from the row-major host array data into a new tensor on
 * dev. data may be NULL only when the tensor has no elements. */
CLT_API clt_tensor *clt_from_host(clt_device *dev, clt_dtype dtype, int ndim,
                                  const int64_t *shape, const void *data);

typedef void (*clt_free_fn)(void *data, void *user);
/* Shares host memory as a tensor on the host device without copying (as torch.from_numpy).
 * strides are in elements (NULL: row-major contiguous) and must not be negative. free_fn (may be
 * NULL) is called exactly once with (data, user): when the last tensor using the memory is
 * released, or before this function returns NULL on failure. data must stay valid until then. */
CLT_API clt_tensor *clt_wrap_host(clt_dtype dtype, int ndim, const int64_t *shape, const int64_t *strides,
                                  void *data, clt_free_fn free_fn, void *user);
/* Shares row-major host memory with dev without copying (zero-copy import): on the host device
 * as clt_wrap_host; on an OpenCL device whose memory is the host's (host_unified_memory, e.g.
 * PoCL and integrated GPUs) through a CL_MEM_USE_HOST_PTR buffer. Other devices cannot share it:
 * CLT_ERR_UNSUPPORTED (use clt_from_host, which copies). free_fn as clt_wrap_host. While the
 * tensor lives, let only clt touch data (OpenCL's rule for host pointers): read results through
 * clt_to_host or clt_host_data after clt_device_synchronize. */
CLT_API clt_tensor *clt_wrap_host_on(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape, void *data,
                                     clt_free_fn free_fn, void *user);
/* Imports row-major host memory to dev as cheaply as dev allows: shares it as clt_wrap_host_on
 * where dev can (the host; OpenCL devices with host_unified_memory), else copies it as
 * clt_from_host and, the copy done, calls free_fn (may be NULL) at once: data is no longer
 * needed. clt_is_zero_copy(t) says which happened. free_fn is called exactly once in
 * every case, failures included. For code that runs on any device; where sharing matters, call
 * clt_wrap_host_on and let its error say so. */
CLT_API clt_tensor *clt_import_host_on(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape, void *data,
                                       clt_free_fn free_fn, void *user);
/* Whether t's elements live in memory the caller lent (clt_wrap_host, clt_wrap_host_on,
 * clt_import_host_on where it shared, or a view of such a tensor): writes through t then reach
 * the caller's array and the reverse. false for tensors clt allocated (clt_from_host and clt_to
 * always copy) and for NULL. */
CLT_API bool clt_is_zero_copy(const clt_tensor *t);
/* Borrowed pointer to the first element of a host tensor (valid while t lives; strides as
 * clt_strides). NULL and CLT_ERR_DEVICE_MISMATCH for a tensor on an OpenCL device. */
CLT_API void *clt_host_data(clt_tensor *t);
/* Copies t's elements, row-major contiguous, to dst; dst_bytes must be at least
 * numel * dtype size. Waits for the device. */
CLT_API clt_status clt_to_host(const clt_tensor *t, void *dst, size_t dst_bytes);
/* t on dev: a new reference to t when it is already there, else a contiguous copy. */
CLT_API clt_tensor *clt_to(clt_tensor *t, clt_device *dev);
/* The single element of t (numel must be 1) converted to double. */
CLT_API clt_status clt_item(const clt_tensor *t, double *out);
/* The single element of t as int64 (exact for integer dtypes; floats are truncated). */
CLT_API clt_status clt_item_int64(const clt_tensor *t, int64_t *out);

/* ---- printing --------------------------------------------------------------------------- */

/* Prints as PyTorch does, e.g.
 *   tensor([[2, 0],
 *           [2, 3]], dtype=int32, device='cl:0')
 * float32, int64 and the host device are left unsaid; more than 1000 elements are summarised
 * with "...". */
CLT_API clt_status clt_print(const clt_tensor *t, FILE *f);
/* The same text into buf (NUL-terminated, truncated); *needed (may be NULL) gets the full
 * length without the NUL. */
CLT_API clt_status clt_format(const clt_tensor *t, char *buf, size_t buf_len, size_t *needed);

/* ---- scopes ----------------------------------------------------------------------------- */

/* Every tensor a clt function returns while a scope is open belongs to the innermost scope and
 * is released by clt_scope_end(), unless clt_keep() took it out. Scopes nest and are per
 * thread. A training step written inside a scope needs no release calls. */
CLT_API clt_status clt_scope_begin(void);
/* Releases the tensors of the innermost scope; CLT_ERR_STATE when no scope is open. */
CLT_API clt_status clt_scope_end(void);
/* Takes t out of the innermost scope that tracks it, so the caller owns that reference and
 * releases it. Returns t (NULL stays NULL, keeping the recorded error). */
CLT_API clt_tensor *clt_keep(clt_tensor *t);
/* Number of scopes open on this thread. */
CLT_API int clt_scope_depth(void);
/* Ends the scopes opened on this thread since clt_scope_depth() returned depth (releasing their
 * tensors), innermost first: for an early return on an error, so that the caller's scopes are as
 * it found them. The recorded error is kept. CLT_ERR_STATE when depth is negative or more than
 * are open.
 *   int depth = clt_scope_depth();
 *   ...
 *   if (!loss) { clt_scope_unwind(depth); return clt_last_status(); } */
CLT_API clt_status clt_scope_unwind(int depth);

/* ---- leaks ------------------------------------------------------------------------------ */

/* Every tensor a clt function returns to the caller is listed, with the function that made it,
 * until its last reference is released. Writes the ones still alive to f (NULL: only counts),
 * oldest first, one a line: dtype, shape, device, the function that made it ("float32 [2,3] on
 * cl:0, made by clt_matmul"); returns how many there are. With $CLT_LEAK_CHECK=1 clt writes the
 * same to stderr at exit, and when the caller's last handle of a device is released while
 * tensors it returned keep the device open (clt works on: the report is a diagnosis). */
CLT_API int64_t clt_leak_report(FILE *f);


/* ---- ops5: more random tensors and *_like constructors (issue 14 item 5) ---------------- */

/* torch.randperm(n, dtype): a random permutation of 0 .. n-1 (n >= 0) as a 1-d tensor of an
 * integer or float dtype that holds n - 1 exactly. Fisher-Yates on the host from this thread's
 * generator (swap i takes block offset + i: j = (64 bits of it) mod (i + 1), a bias below
 * n / 2^64), then copied to dev; advances the generator by n blocks. */
CLT_API clt_tensor *clt_randperm(clt_device *dev, clt_dtype dtype, int64_t n);
/* torch.randint(low, high, shape, dtype): integers uniform in [low, high) (low < high, both
 * held exactly by dtype; not bool). Element i is low + (64 bits of block offset + i) mod
 * (high - low), made on the host and copied to dev; advances the generator by numel blocks. */
CLT_API clt_tensor *clt_randint(clt_device *dev, clt_dtype dtype, int64_t low, int64_t high, int ndim,
                                const int64_t *shape);
/* torch.bernoulli(p): 1 with probability p (elementwise), else 0, in p's float dtype on p's
 * device: rand_like(p) < p, with the generator advanced as clt_rand. Every p must lie in
 * [0, 1] (CLT_ERR_INVALID_ARG otherwise, NaN included, as PyTorch; checked with one reduction
 * read back). Not differentiable. */
CLT_API clt_tensor *clt_bernoulli(clt_tensor *p);
/* torch.empty_like, zeros_like, ones_like, full_like, rand_like, randn_like: t's shape, dtype
 * and device, row-major contiguous (PyTorch keeps a dense input's layout; clt does not). rand
 * and randn need a float t, as clt_rand and clt_randn. */
CLT_API clt_tensor *clt_empty_like(clt_tensor *t);
CLT_API clt_tensor *clt_zeros_like(clt_tensor *t);
CLT_API clt_tensor *clt_ones_like(clt_tensor *t);
CLT_API clt_tensor *clt_full_like(clt_tensor *t, double value);
CLT_API clt_tensor *clt_rand_like(clt_tensor *t);
CLT_API clt_tensor *clt_randn_like(clt_tensor *t);

/* ---- end of ops5 ------------------------------------------------------------------------ */

#ifdef __cplusplus
}
#endif

#endif
