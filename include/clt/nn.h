/* clt: building blocks for training: losses, linear layers, convolution and pooling,
 * normalization, dropout, embedding and attention, parameter initialisers, optimizers with their
 * checkpoints and learning-rate schedules, parameter lists and gradient clipping. Every op here
 * records autograd like the ops (clt/autograd.h). */
#ifndef CLT_NN_H
#define CLT_NN_H

#include "clt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- losses ----------------------------------------------------------------------------- */

/* How a loss reduces its elements. The values are part of the ABI and never change. */
typedef enum clt_reduction {
  CLT_REDUCTION_MEAN = 0, /* the mean over every element (the default in PyTorch) */
  CLT_REDUCTION_SUM = 1,
  CLT_REDUCTION_NONE = 2  /* one loss per element (per sample for class losses) */
} clt_reduction;

/* (input - target)^2 and |input - target|; target broadcasts to input's shape. */
CLT_API clt_tensor *clt_mse_loss(clt_tensor *input, clt_tensor *target, clt_reduction reduction);
CLT_API clt_tensor *clt_l1_loss(clt_tensor *input, clt_tensor *target, clt_reduction reduction);
/* Cross entropy of float logits [N, C] (or [C] with a 0-d label) against int32 or int64 class
 * labels [N] in 0..C-1 (CLT_ERR_INDEX names one that is not): logsumexp(x_i) - x_i[y_i], with
 * the log-sum-exp inside one kernel (no overflow for large logits) and a fused backward
 * (softmax - one_hot), the softmax as exp(x - max) / sum, exact next to a large max. */
CLT_API clt_tensor *clt_cross_entropy(clt_tensor *logits, clt_tensor *labels, clt_reduction reduction);
/* Negative log likelihood of log-probabilities [N, C] (log_softmax's output): -x_i[y_i]. */
CLT_API clt_tensor *clt_nll_loss(clt_tensor *logprobs, clt_tensor *labels, clt_reduction reduction);
/* Binary cross entropy of logits x against targets y in [0, 1], in the stable form
 * max(x, 0) - x y + log(1 + exp(-|x|)), one fused kernel each way. */
CLT_API clt_tensor *clt_binary_cross_entropy_with_logits(clt_tensor *logits, clt_tensor *target,
                                                          clt_reduction reduction);

/* ---- layers ----------------------------------------------------------------------------- */

/* x w^T + b (torch.nn.functional.linear): x [..., in], w [out, in], b [out] or NULL. w goes to
 * the GEMM as a transpose flag, without a copy; b is added by the GEMM itself, and its gradient
 * summed by the weight gradient's GEMM, where the host's BLAS runs the product (the host
 * device, PoCL): no command of their own. Recorded as one autograd node ("linear"). */
CLT_API clt_tensor *clt_linear(clt_tensor *x, clt_tensor *w, clt_tensor *b);
/* Zeroes each element with probability p and scales the rest by 1 / (1 - p), when train is true
 * (else returns x itself, a new reference). The mask comes from this thread's Philox generator
 * (clt_manual_seed), so a seed gives the same mask on every device. */
CLT_API clt_tensor *clt_dropout(clt_tensor *x, double p, bool train);

/* ---- convolution and pooling (NCHW, as PyTorch) ------------------------------------------ */

/* Every function here takes float32 or float64 tensors of one dtype on one device (weights and
 * bias too; CLT_ERR_DTYPE otherwise), with any strides, batched (x [N, C, H, W]; conv1d
 * [N, C, L]); other ranks are CLT_ERR_SHAPE. They are built from a few window kernels every
 * backend has (im2col, col2im, max pooling and its gradient; no atomics, so the same inputs give
 * the same bits), then matmul or reductions. Bad sizes or options give
 * CLT_ERR_SHAPE or CLT_ERR_INVALID_ARG naming the function, the argument and the shapes.
 * On OpenCL devices the window kernels index one image's plane in 32 bits: an image, or its
 * columns (kernel taps x output positions, per image and channel; for conv2d and conv1d, per
 * image over all its channels), of 2^31 elements or more gives CLT_ERR_UNSUPPORTED there (the
 * host takes any size).
 *
 * Options: pass NULL, or a zero-initialised struct, for PyTorch's defaults. A zero stride or
 * dilation means 1 (pooling: a zero stride means the kernel size), zero groups means 1;
 * negative values are refused. */
typedef struct clt_conv2d_opts {
  int64_t stride[2];   /* (h, w); 0: 1 */
  int64_t padding[2];  /* zeros on both sides of each spatial dim */
  int64_t dilation[2]; /* 0: 1 */
  int64_t groups;      /* 0: 1; Cin and Cout must be multiples of it (Cin groups: depthwise) */
  bool padding_same;   /* padding="same": the output keeps H and W; total d (k - 1) per dim, the odd
                          one on the bottom/right as PyTorch; needs stride 1 and padding 0 */
} clt_conv2d_opts;

typedef struct clt_conv1d_opts {
  int64_t stride, padding, dilation, groups; /* as clt_conv2d_opts, for the one spatial dim */
  bool padding_same;
} clt_conv1d_opts;

typedef struct clt_conv_transpose2d_opts {
  int64_t stride[2], padding[2];
  int64_t output_padding[2]; /* added to one side of the output; below stride or dilation */
  int64_t dilation[2];
  int64_t groups;
} clt_conv_transpose2d_opts;

typedef struct clt_pool2d_opts {
  int64_t stride[2];   /* 0: the kernel size (PyTorch's stride=None) */
  int64_t padding[2];  /* at most half the (dilated) kernel, as PyTorch */
  int64_t dilation[2]; /* max_pool2d only; 0: 1 */
  bool ceil_mode;      /* ceil instead of floor for the output size; the last window must start
                          inside the input or the left padding, as PyTorch */
  bool exclude_pad;    /* avg_pool2d: count_include_pad=False (the zero default is PyTorch's True) */
} clt_pool2d_opts;

/* torch.nn.functional.unfold (im2col): x [N, C, H, W] -> [N, C kh kw, L], L the number of
 * kernel positions, rows ordered (c, ki, kj). opts: stride, padding, dilation (groups and
 * padding_same must stay zero). */
CLT_API clt_tensor *clt_unfold(clt_tensor *x, int64_t kh, int64_t kw, const clt_conv2d_opts *opts);
/* torch.nn.functional.fold (col2im), unfold's adjoint: cols [N, C kh kw, L] -> [N, C, out_h,
 * out_w], overlapping entries summed; L must be the number of kernel positions in out_h x out_w.
 * opts as unfold. */
CLT_API clt_tensor *clt_fold(clt_tensor *cols, int64_t out_h, int64_t out_w, int64_t kh, int64_t kw,
                             const clt_conv2d_opts *opts);
/* torch.nn.functional.conv2d: x [N, Cin, H, W], w [Cout, Cin / groups, kh, kw], b [Cout] or NULL
 * -> [N, Cout, Ho, Wo], Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1. */
CLT_API clt_tensor *clt_conv2d(clt_tensor *x, clt_tensor *w, clt_tensor *b, const clt_conv2d_opts *opts);
/* torch.nn.functional.conv1d: x [N, Cin, L], w [Cout, Cin / groups, k], b [Cout] or NULL. */
CLT_API clt_tensor *clt_conv1d(clt_tensor *x, clt_tensor *w, clt_tensor *b, const clt_conv1d_opts *opts);
/* torch.nn.functional.conv_transpose2d: x [N, Cin, H, W], w [Cin, Cout / groups, kh, kw], b [Cout]
 * or NULL -> [N, Cout, Ho, Wo], Ho = (H - 1) sh - 2 ph + dh (kh - 1) + oph + 1: the adjoint of
 * conv2d's map from its input (fold of w^T x). */
CLT_API clt_tensor *clt_conv_transpose2d(clt_tensor *x, clt_tensor *w, clt_tensor *b,
                                         const clt_conv_transpose2d_opts *opts);
/* torch.nn.functional.max_pool2d: the largest value of each window (padding counts as -inf). The
 * gradient goes to one element per window, as PyTorch's: the first largest in row-major window
 * order, never the padding (a window of -inf: its first element inside the input). A NaN wins
 * its window (value NaN); with two NaNs in a window the gradient goes to the last, as PyTorch's. */
CLT_API clt_tensor *clt_max_pool2d(clt_tensor *x, int64_t kh, int64_t kw, const clt_pool2d_opts *opts);
/* torch.nn.functional.avg_pool2d: window sums divided by the window's size within the padded
 * input (count_include_pad, the default) or by its count of input elements (exclude_pad). No
 * dilation (as PyTorch). */
CLT_API clt_tensor *clt_avg_pool2d(clt_tensor *x, int64_t kh, int64_t kw, const clt_pool2d_opts *opts);
/* torch.nn.functional.adaptive_avg_pool2d: x [N, C, H, W] -> [N, C, out_h, out_w], output (i, j)
 * the mean of rows floor(i H / out_h) .. ceil((i + 1) H / out_h) - 1 and the same for columns;
 * computed as A_h x A_w^T with host-built averaging matrices. */
CLT_API clt_tensor *clt_adaptive_avg_pool2d(clt_tensor *x, int64_t out_h, int64_t out_w);

/* ---- normalization ----------------------------------------------------------------------- */

/* Every function here takes a float32 or float64 x with any strides (copied to a contiguous one
 * first when it is not) and optional affine weight and bias (NULL: none) of x's dtype, on x's
 * device. y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance, over the
 * elements each function names. Each is one fused backend call forward and one backward (dx,
 * and dweight/dbias reduced per channel) from the mean and 1 / sqrt(var + eps) the forward
 * saves. Stable for data far from zero (float32 at 1e4 + noise keeps float32's precision in y
 * and the gradients): the statistics take two passes over the data (the mean, then squared
 * deviations from it), summed in double on the host and on devices with fp64, else in float
 * with compensated (Neumaier) sums, and the mean is kept as two floats so that x - mean is
 * exact. eps < 0 means PyTorch's default: 1e-5, and for rms_norm the dtype's
 * machine epsilon (torch.finfo(dtype).eps, PyTorch's eps=None). Bad shapes give CLT_ERR_SHAPE
 * naming the function, the argument and the shapes; a dtype other than x's CLT_ERR_DTYPE. */

/* torch.nn.functional.batch_norm: x [N, C, ...] (2 or more dims) normalized per channel over N
 * and the dims after C; weight, bias, running_mean and running_var are [C]. training: the
 * batch's statistics (more than one value per channel, else CLT_ERR_SHAPE), and, when
 * running_mean and running_var are given, both updated in place (recording nothing): r = (1 -
 * momentum) r + momentum s, with the unbiased variance for running_var, as PyTorch (momentum 0.1
 * there). Eval (training false): normalizes with running_mean and running_var, which are then
 * required (CLT_ERR_INVALID_ARG), and its gradient treats them as constants. Running statistics
 * that require grad are refused (CLT_ERR_AUTOGRAD) in training. */
CLT_API clt_tensor *clt_batch_norm(clt_tensor *x, clt_tensor *running_mean, clt_tensor *running_var,
                                   clt_tensor *weight, clt_tensor *bias, bool training, double momentum, double eps);
/* torch.nn.functional.layer_norm: over the last k dims of x, which must be normalized_shape[0 ..
 * k) (k >= 1); weight and bias have shape normalized_shape. */
CLT_API clt_tensor *clt_layer_norm(clt_tensor *x, int k, const int64_t *normalized_shape, clt_tensor *weight,
                                   clt_tensor *bias, double eps);
/* torch.nn.functional.group_norm: x [N, C, ...] with C a multiple of num_groups, normalized per
 * sample over each group of C / num_groups channels and the dims after C; weight and bias [C]. */
CLT_API clt_tensor *clt_group_norm(clt_tensor *x, int64_t num_groups, clt_tensor *weight, clt_tensor *bias,
                                   double eps);
/* torch.nn.functional.rms_norm: x / sqrt(mean(x^2) + eps) * weight over the last k dims (no
 * centring, no bias); weight has shape normalized_shape. eps < 0: the dtype's epsilon. */
CLT_API clt_tensor *clt_rms_norm(clt_tensor *x, int k, const int64_t *normalized_shape, clt_tensor *weight, double eps);

/* ---- embedding and attention ------------------------------------------------------------ */

/* torch.nn.functional.embedding: weight [V, D] (float32 or float64) and ids (int32 or int64, any
 * shape and strides, entries in 0 .. V-1: CLT_ERR_INDEX names one that is not) -> [..., D], row
 * ids[...] of weight. padding_idx in 0 .. V-1 gives that row a zero gradient (its value is still
 * read, as PyTorch's); a negative padding_idx means none (PyTorch's None; for PyTorch's negative
 * padding_idx pass V + padding_idx). The gradient is a scatter_add of the result's gradient rows
 * into zeros [V, D], so repeated ids add up; the backward keeps an int64 copy of ids, as
 * PyTorch's keeps the indices. */
CLT_API clt_tensor *clt_embedding(clt_tensor *weight, clt_tensor *ids, int64_t padding_idx);

/* torch.nn.functional.scaled_dot_product_attention, its math path: q [..., L, E], k [..., S, E],
 * v [..., S, Ev] (one float dtype, one device; the batch dims broadcast) ->
 * dropout(softmax(q k^T scale + mask)) v, [..., L, Ev].
 *   mask: NULL, bool (true: attend; false: -inf) or a float mask of q's dtype that is added (it
 *     may require grad); it broadcasts to [..., L, S]. Rows a mask leaves nothing to attend to
 *     give zeros (and zero gradients), as PyTorch's math path (NaN from a plain softmax).
 *   dropout_p: in [0, 1]; above 0 the probabilities go through clt_dropout (always, as PyTorch's
 *     function, which has no training flag), from this thread's generator: clt_manual_seed
 *     gives the same result on every device.
 *   causal: PyTorch's is_causal: position i attends to 0 .. i, the lower triangle of an [L, S]
 *     matrix aligned top-left (also for L != S). With a mask: CLT_ERR_INVALID_ARG, as PyTorch.
 *   scale: <= 0 takes PyTorch's default 1 / sqrt(E) (scale=None); NaN or inf: CLT_ERR_INVALID_ARG.
 * Composed from matmul, softmax, where and dropout, so the gradient (to q, k, v and a float
 * mask) is theirs. What the backward keeps: q scale [..., L, E], k and v (the caller's, not
 * copied), the softmax's result [..., L, S], with dropout its scaled mask and the dropped
 * probabilities [..., L, S], and with a mask a bool [..., L, 1] marking the empty rows (PyTorch's
 * math path keeps the same: the scaled q and k, the softmax, the dropout mask, the dropped
 * attention and v).
 * Short attention runs fused instead, as PyTorch has fused kernels beside its math path: no
 * mask (causal allowed), dropout_p 0, q, k and v with the same batch dims (at most 2, none
 * broadcast) and L, S, E, Ev from 1 to 16: one device command forward and one backward (the
 * composite path: about 6 and 12), recorded as one node "scaled_dot_product_attention" whose
 * backward keeps q, k, v (the caller's; for 16-bit inputs their float32 copies), the result and
 * two numbers per row of q (its largest
 * score and the sum of exp(score - it)). q, k and v are read at their strides (heads split from
 * one projection are not copied); with 2 batch dims [B, H] the result is laid out as [B, L, H, Ev]
 * and returned as its [B, H, L, Ev] view, so that transpose(1, 2) and a reshape to
 * [B, L, H Ev] are views. The two paths agree to rounding, NaN where a masked-out key holds
 * one too (it takes part with probability 0, as in PyTorch), except where the scores overflow:
 * an infinite k in a key causal masks out gives the composite path's row NaN (inf + -inf in its
 * additive mask) and the fused one's finite, as PyTorch's math and flash paths differ; and the
 * host's fused path sums in double. $CLT_SDPA_COMPOSITE=1 forces the composite one. */
CLT_API clt_tensor *clt_scaled_dot_product_attention(clt_tensor *q, clt_tensor *k, clt_tensor *v, clt_tensor *mask,
                                                     double dropout_p, bool causal, double scale);

/* ---- initialisers (in place, recording nothing; as torch.nn.init) ------------------------ */

/* Uniform in [lo, hi) and normal(mean, std), from this thread's generator: the same seed gives
 * the same weights on every device. */
CLT_API clt_status clt_init_uniform_(clt_tensor *t, double lo, double hi);
CLT_API clt_status clt_init_normal_(clt_tensor *t, double mean, double std);
/* Kaiming (He) uniform for a leaky-ReLU slope a: bound sqrt(6 / ((1 + a^2) fan_in)); PyTorch's
 * nn.Linear uses a = sqrt(5), which gives bound 1 / sqrt(fan_in). fan_in = shape[1] times the
 * size of any further dims. */
CLT_API clt_status clt_init_kaiming_uniform_(clt_tensor *t, double a);
/* Xavier (Glorot) uniform: bound gain * sqrt(6 / (fan_in + fan_out)). */
CLT_API clt_status clt_init_xavier_uniform_(clt_tensor *t, double gain);

/* ---- optimizers ------------------------------------------------------------------------- */

typedef struct clt_optim clt_optim;

/* The values are part of the ABI and never change. */
typedef enum clt_optim_kind {
  CLT_OPTIM_SGD = 0,
  CLT_OPTIM_ADAM = 1,
  CLT_OPTIM_ADAMW = 2
} clt_optim_kind;

/* Hyperparameters, as PyTorch's torch.optim.SGD / Adam / AdamW. */
typedef struct clt_optim_config {
  clt_optim_kind kind;
  double lr;
  double weight_decay; /* SGD and Adam: added to the gradient (L2); AdamW: decoupled */
  double momentum;     /* SGD */
  double dampening;    /* SGD */
  bool nesterov;       /* SGD (needs momentum > 0 and dampening 0) */
  double beta1, beta2; /* Adam, AdamW */
  double eps;          /* Adam, AdamW */
} clt_optim_config;

/* PyTorch's defaults for kind: SGD lr 0.01 (PyTorch requires one), Adam lr 1e-3, betas (0.9,
 * 0.999), eps 1e-8; AdamW the same with weight decay 0.01. */
CLT_API clt_optim_config clt_optim_defaults(clt_optim_kind kind);
/* An optimizer over n parameters: float leaves that require grad, contiguous, on one device,
 * each listed once (a parameter listed twice, or two sharing memory, is CLT_ERR_INVALID_ARG:
 * PyTorch warns of duplicates). The optimizer retains them. */
CLT_API clt_status clt_optim_create(const clt_optim_config *config, int n, clt_tensor *const *params,
                                    clt_optim **out);
/* One step over every parameter that has a gradient: on OpenCL devices one fused kernel per
 * five parameters of a dtype (each element's arithmetic that of a parameter alone), in the
 * parameter's dtype with the scalars (1 - beta1, 1 - beta2, lr / (1 - beta1^t), ...) worked out
 * in double and rounded once, as PyTorch's; the host computes the whole step in double. Records
 * nothing. A failed step may have stepped the parameters of the calls made before the failure;
 * the others are as they were, their state too (a parameter whose first step failed takes its
 * next step as a first one). */
CLT_API clt_status clt_optim_step(clt_optim *o);
/* Drops every parameter's gradient, as PyTorch's zero_grad() (set_to_none=True): clt_grad(p)
 * is NULL until the next backward, which then stores each gradient as computed, with no fill and
 * no add (on PoCL, 6 fewer kernels per step of a two-layer MLP). clt_optim_step skips parameters
 * without a gradient. clt_zero_grad(p) still zeroes one in place. */
CLT_API clt_status clt_optim_zero_grad(clt_optim *o);
CLT_API clt_status clt_optim_set_lr(clt_optim *o, double lr);
/* The learning rate the next step uses (optimizer.param_groups[0]["lr"]). */
CLT_API clt_status clt_optim_get_lr(const clt_optim *o, double *lr);
/* Steps taken so far. */
CLT_API int64_t clt_optim_steps(const clt_optim *o);
/* The state of params[i], for checkpoints: new references to the optimizer's own buffers (SGD
 * with momentum: the momentum buffer in *s1; Adam and AdamW: the first and second moments in *s1
 * and *s2), NULL where there is none (SGD without momentum; before the first step). */
CLT_API clt_status clt_optim_get_state(const clt_optim *o, int i, clt_tensor **s1, clt_tensor **s2);
/* Restores params[i]'s state from a checkpoint: copies of s1 and s2 (float tensors of the
 * parameter's shape, on any device; NULL: none, as before the first step). With the step count
 * (clt_optim_set_steps, which sets Adam's bias corrections) a resumed run steps as the
 * uninterrupted one. */
CLT_API clt_status clt_optim_set_state(clt_optim *o, int i, const clt_tensor *s1, const clt_tensor *s2);
CLT_API clt_status clt_optim_set_steps(clt_optim *o, int64_t steps);
CLT_API void clt_optim_release(clt_optim *o);
/* Optimizer state to and from a safetensors file, named as PyTorch's optimizer.state_dict()
 * flattens (parameter i is params[i] of clt_optim_create):
 *   "param_groups.0.lr"                        F64 0-d, the current lr
 *   "state.<i>.momentum_buffer"                SGD with momentum, after parameter i's first step
 *   "state.<i>.exp_avg", "state.<i>.exp_avg_sq" Adam and AdamW: the first and second moments
 *   "state.<i>.step"                           Adam and AdamW: the step count (F64 0-d; clt keeps
 *                                              one count for all parameters, so a file whose
 *                                              steps differ is refused)
 * Other hyperparameters are not saved (they come with clt_optim_create). Loading replaces every
 * parameter's state (one without entries gets none, as before its first step), sets the lr and
 * the step count; buffers may be float32 or float64 (cast to the parameter's dtype) and must have
 * the parameter's shape. An unknown entry, a buffer of the wrong shape or half of Adam's pair is
 * refused before anything changes; errors end with " (in '<path>')". */
CLT_API clt_status clt_optim_save(const char *path, const clt_optim *o);
CLT_API clt_status clt_optim_load(const char *path, clt_optim *o);

/* ---- learning-rate schedules (torch.optim.lr_scheduler) ---------------------------------- */

typedef struct clt_lr_schedule clt_lr_schedule;

/* The values are part of the ABI and never change. */
typedef enum clt_lr_schedule_kind {
  CLT_LR_STEP = 0,   /* StepLR: lr times gamma every step_size steps */
  CLT_LR_COSINE = 1, /* CosineAnnealingLR: from the base lr down to eta_min over T_max steps, and
                        back up after (PyTorch's recursive form, no restarts) */
  CLT_LR_LINEAR = 2  /* LinearLR (linear warm-up): the base lr times a factor going linearly from
                        start_factor to end_factor over total_iters steps, then kept */
} clt_lr_schedule_kind;

typedef struct clt_lr_schedule_config {
  clt_lr_schedule_kind kind;
  int64_t step_size;                /* step: >= 1 (PyTorch requires it) */
  double gamma;                     /* step: 0.1 by default */
  int64_t T_max;                    /* cosine: >= 1 (PyTorch requires it) */
  double eta_min;                   /* cosine: 0 by default */
  double start_factor, end_factor;  /* linear: 1/3 and 1 by default; (0, 1] and [0, 1] */
  int64_t total_iters;              /* linear: 5 by default */
} clt_lr_schedule_config;

/* PyTorch's defaults for kind (step_size and T_max, which PyTorch requires, are 0: set them). */
CLT_API clt_lr_schedule_config clt_lr_schedule_defaults(clt_lr_schedule_kind kind);
/* A schedule over o's lr, which it reads as the base lr. Like PyTorch's constructor it takes the
 * first step (epoch 0) at once: LinearLR sets lr = base lr * start_factor. The schedule borrows
 * o, which must outlive it. */
CLT_API clt_status clt_lr_schedule_create(clt_optim *o, const clt_lr_schedule_config *config, clt_lr_schedule **out);
/* scheduler.step(): the next epoch's lr, computed from the optimizer's current lr as PyTorch's
 * get_lr() does (the same operations in the same order: the sequences match PyTorch's to the
 * bit, tests/fixtures/sched_refs.txt), set with clt_optim_set_lr. Call it after
 * clt_optim_step, once per epoch or step as PyTorch's. */
CLT_API clt_status clt_lr_schedule_step(clt_lr_schedule *s);
/* PyTorch's last_epoch: the steps taken (0 after create); -1 for NULL. */
CLT_API int64_t clt_lr_schedule_last_epoch(const clt_lr_schedule *s);
CLT_API void clt_lr_schedule_release(clt_lr_schedule *s);

/* ---- parameter lists and gradient clipping ----------------------------------------------- */

/* A growable list of named tensors (a model's parameters, as model.named_parameters()), so
 * that they need not be gathered by hand: clt_optim_create(&cfg, clt_params_size(l),
 * clt_params_tensors(l), &o), clt_clip_grad_norm_(clt_params_size(l), clt_params_tensors(l),
 * ...), clt_save_safetensors(path, clt_params_size(l), clt_params_names(l),
 * clt_params_tensors(l)) and clt_load_into alike. The list retains its tensors and copies the
 * names; names are non-empty and unique (CLT_ERR_INVALID_ARG). */
typedef struct clt_params clt_params;
CLT_API clt_status clt_params_create(clt_params **out);
CLT_API clt_status clt_params_add(clt_params *l, const char *name, clt_tensor *t);
/* Entries so far (0 for NULL). */
CLT_API int clt_params_size(const clt_params *l);
/* Entry i: a new reference (CLT_ERR_INDEX out of range), and its name (NULL out of range). */
CLT_API clt_tensor *clt_params_at(const clt_params *l, int i);
CLT_API const char *clt_params_name(const clt_params *l, int i);
/* The entries and their names as arrays of clt_params_size(l), valid until the next add or
 * release (NULL for NULL). */
CLT_API clt_tensor *const *clt_params_tensors(const clt_params *l);
CLT_API const char *const *clt_params_names(const clt_params *l);
CLT_API void clt_params_release(clt_params *l);

/* torch.nn.utils.clip_grad_norm_: the norm of all the gradients of params together (the norm of
 * the per-parameter norms; norm_type any p > 0, or INFINITY: the largest |g|) goes to
 * *total_norm (may be NULL; the norm before clipping, as PyTorch returns it), and when
 * max_norm / (total + 1e-6) < 1 every gradient is multiplied by it in place (a NaN or inf total
 * makes that NaN or 0, as PyTorch without error_if_nonfinite). Parameters without a gradient are
 * skipped. The parts are summed in the gradients' dtype on the first gradient's device, read back
 * once. */
CLT_API clt_status clt_clip_grad_norm_(int n, clt_tensor *const *params, double max_norm, double norm_type,
                                       double *total_norm);
/* torch.nn.utils.clip_grad_value_: every gradient clamped to [-clip_value, clip_value] in place
 * (clip_value >= 0); parameters without a gradient are skipped. */
CLT_API clt_status clt_clip_grad_value_(int n, clt_tensor *const *params, double clip_value);

#ifdef __cplusplus
}
#endif

#endif
