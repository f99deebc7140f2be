/* clt: reverse-mode automatic differentiation, with PyTorch's rules.
 *
 * Mark float leaves with clt_set_requires_grad(t, true). While grad mode is on (it is, unless
 * inside clt_no_grad_begin() .. clt_no_grad_end() on this thread), every differentiable op whose
 * inputs require grad records how to go back: its result requires grad and has a grad_fn.
 * clt_backward(loss, NULL) then computes d loss / d leaf for every leaf the loss depends on and
 * adds it to the leaf's gradient (clt_grad). Gradients accumulate over backward calls until
 * clt_zero_grad.
 *
 * Memory: the graph is held by the tensors that can reach it and freed with the last of them.
 * By default backward frees the tensors the graph saved; a second backward through the same
 * graph is then CLT_ERR_AUTOGRAD (clt_backward_ex with retain_graph keeps them). Ops save
 * aliases of their inputs and results that share storage; an in-place op on a saved tensor
 * makes the later backward fail with CLT_ERR_AUTOGRAD (it names the op and the versions)
 * instead of giving a wrong gradient.
 *
 * Differentiable: every elementwise op of the op table except the comparisons, logical ops and
 * sign's zero gradient aside; where (through a and b), float casts, every reduction but argmax
 * and argmin (max/min split the gradient evenly between tied elements, as PyTorch's amax), softmax
 * and log_softmax, matmul, every view, contiguous and clone, cat, stack, index_select, gather and
 * scatter_add. Integer results never require grad. No higher-order gradients: backward itself
 * records nothing.
 */
#ifndef CLT_AUTOGRAD_H
#define CLT_AUTOGRAD_H

#include "clt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks a leaf (a tensor no op made while recording) as needing gradients. Only float
 * tensors can require grad (CLT_ERR_DTYPE); a tensor an op made is not a leaf
 * (CLT_ERR_AUTOGRAD: detach it first). false stops collecting gradients. */
CLT_API clt_status clt_set_requires_grad(clt_tensor *t, bool requires_grad);
CLT_API bool clt_requires_grad(const clt_tensor *t);
/* true for tensors no recorded op made (their gradients are kept). */
CLT_API bool clt_is_leaf(const clt_tensor *t);
/* The name of the op that made t ("mul", "relu", ...), NULL for a leaf. */
CLT_API const char *clt_grad_fn_name(const clt_tensor *t);

/* Backpropagates from t. grad is d(result)/d t, of t's shape (it may be NULL when t has one
 * element: 1 is used). t must require grad. Frees the graph's saved tensors afterwards. */
CLT_API clt_status clt_backward(clt_tensor *t, clt_tensor *grad);
/* The same, keeping the saved tensors when retain_graph, so that backward can run again. */
CLT_API clt_status clt_backward_ex(clt_tensor *t, clt_tensor *grad, bool retain_graph);

/* The gradient accumulated in leaf t: a new reference, or NULL (with no error recorded) while
 * there is none. */
CLT_API clt_tensor *clt_grad(const clt_tensor *t);
/* Sets t's accumulated gradient to zeros (keeping its memory); nothing when it has none. */
CLT_API clt_status clt_zero_grad(clt_tensor *t);

/* Grad mode for this thread: between begin and end (they nest) ops record nothing. */
CLT_API clt_status clt_no_grad_begin(void);
CLT_API clt_status clt_no_grad_end(void);
CLT_API bool clt_is_grad_enabled(void);
/* The number of no-grad regions open on this thread, and a return to depth of them (for an early
 * return on an error, as clt_scope_unwind; the recorded error is kept). CLT_ERR_STATE when
 * depth is negative or more than are open. */
CLT_API int clt_no_grad_depth(void);
CLT_API clt_status clt_no_grad_unwind(int depth);

/* A tensor sharing t's storage (and version counter) that records nothing and requires no
 * grad (torch.Tensor.detach). */
CLT_API clt_tensor *clt_detach(clt_tensor *t);

/* In-place ops: t op= other, with other broadcast to t's shape and converted to t's dtype
 * (integers cannot take float results: CLT_ERR_DTYPE). They bump the version counter shared by
 * t's storage and all its views. While recording, in-place on a leaf that requires grad is
 * CLT_ERR_AUTOGRAD (as PyTorch); on a tensor an op made, the op joins its graph. */
CLT_API clt_status clt_add_(clt_tensor *t, clt_tensor *other);
CLT_API clt_status clt_sub_(clt_tensor *t, clt_tensor *other);
CLT_API clt_status clt_mul_(clt_tensor *t, clt_tensor *other);
CLT_API clt_status clt_div_(clt_tensor *t, clt_tensor *other);
CLT_API clt_status clt_zero_(clt_tensor *t);
CLT_API clt_status clt_fill_(clt_tensor *t, double value);
/* Copies src (broadcast to t's shape, converted to t's dtype) into t. */
CLT_API clt_status clt_copy_(clt_tensor *t, clt_tensor *src);
CLT_API clt_status clt_clamp_(clt_tensor *t, double lo, double hi);
/* ---- ops5: scalar forms (issue 14 item 5) ---- */
/* t op= s (torch.Tensor.add_(s), sub_, mul_, div_ with a Python number): s is a Python int
 * when integral and finite, else a Python float, and t must hold the result as for the tensor
 * forms (int32 add_ 2 is int32; int32 add_ 2.5 or div_ anything is CLT_ERR_DTYPE; bool:
 * CLT_ERR_DTYPE). Recorded as the tensor forms with a constant other. */
CLT_API clt_status clt_add_scalar_(clt_tensor *t, double s);
CLT_API clt_status clt_sub_scalar_(clt_tensor *t, double s);
CLT_API clt_status clt_mul_scalar_(clt_tensor *t, double s);
CLT_API clt_status clt_div_scalar_(clt_tensor *t, double s);
/* ---- end of ops5 ---- */

/* Gradient checking: fn maps the inputs to an output; the analytic gradient of
 * sum(output * w), for a fixed random w, is compared with central differences in every element
 * of every float input. Inputs are taken in float64 on their device (float32 on a device without
 * fp64); integer inputs (indices) are passed unchanged. Defaults: float64 eps 1e-6, atol 1e-5,
 * rtol 1e-3; float32 eps 1e-2, atol 1e-2, rtol 1e-2 (pass NULL opts for them). CLT_OK when every
 * element agrees, else CLT_ERR_MISMATCH naming the input, the element and both values. */
/* Callbacks take the caller's user pointer last, as clt_free_fn does. */
typedef clt_tensor *(*clt_gradcheck_fn)(clt_tensor *const *inputs, void *user);
typedef struct clt_gradcheck_opts {
  double eps, atol, rtol;
} clt_gradcheck_opts;
CLT_API clt_status clt_gradcheck(clt_gradcheck_fn fn, void *user, int n, clt_tensor *const *inputs,
                                 const clt_gradcheck_opts *opts);

#ifdef __cplusplus
}
#endif

#endif
