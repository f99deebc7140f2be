/* clt: building blocks for training: losses, linear layers, dropout, parameter initialisers,
 * and optimizers. Every function here records autograd like the ops (clt/autograd.h). */
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
 * the GEMM as a transpose flag, without a copy. */
CLT_API clt_tensor *clt_linear(clt_tensor *x, clt_tensor *w, clt_tensor *b);
/* Zeroes each element with probability p and scales the rest by 1 / (1 - p), when train is true
 * (else returns x itself, a new reference). The mask comes from this thread's Philox generator
 * (clt_manual_seed), so a seed gives the same mask on every device. */
CLT_API clt_tensor *clt_dropout(clt_tensor *x, double p, bool train);

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
/* An optimizer over n parameters: float leaves that require grad, contiguous, on one device.
 * The optimizer retains them. */
CLT_API clt_status clt_optim_create(const clt_optim_config *config, int n, clt_tensor *const *params,
                                    clt_optim **out);
/* One step over every parameter that has a gradient: on OpenCL devices one fused kernel per
 * parameter. Records nothing. */
CLT_API clt_status clt_optim_step(clt_optim *o);
/* Drops every parameter's gradient, as PyTorch's zero_grad() (set_to_none=True): clt_grad(p)
 * is NULL until the next backward, which then stores each gradient as computed, with no fill and
 * no add (on PoCL, 6 fewer kernels per step of a two-layer MLP). clt_optim_step skips parameters
 * without a gradient. clt_zero_grad(p) still zeroes one in place. */
CLT_API clt_status clt_optim_zero_grad(clt_optim *o);
CLT_API clt_status clt_optim_set_lr(clt_optim *o, double lr);
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

#ifdef __cplusplus
}
#endif

#endif
