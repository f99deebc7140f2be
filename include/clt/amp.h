/* clt: mixed precision. float32 master weights and optimizer state, a forward and backward in
 * float16 or bfloat16, and for float16 a dynamic loss scale that keeps small gradients from
 * flushing to zero (PyTorch's torch.amp.GradScaler).
 *
 * A step, as PyTorch's scaler.scale(loss).backward(); scaler.step(opt); scaler.update():
 *
 *   clt_tensor *w16 = clt_cast(w, CLT_FLOAT16);          // recorded: w's gradient is float32
 *   clt_tensor *loss = ...forward with w16 and 16-bit activations...;
 *   clt_backward(clt_grad_scaler_scale(s, loss), NULL);  // gradients of loss * scale
 *   bool stepped;
 *   clt_grad_scaler_step(s, opt, &stepped);              // unscale, skip on inf/NaN, else step
 *   clt_grad_scaler_update(s);                           // back off after a skip, grow after
 *                                                        // growth_interval clean steps
 * bfloat16 has float32's exponent range and needs no scaling: use the same calls with a
 * scaler made disabled (enabled false), which passes everything through, as PyTorch's.
 */
#ifndef CLT_AMP_H
#define CLT_AMP_H

#include "clt/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clt_grad_scaler clt_grad_scaler;

typedef struct clt_grad_scaler_config {
  double init_scale;       /* 65536 */
  double growth_factor;    /* 2: > 1 */
  double backoff_factor;   /* 0.5: in (0, 1) */
  int64_t growth_interval; /* 2000: >= 1 */
  bool enabled;            /* true; false: scale 1, step is a plain optimizer step, update does nothing */
} clt_grad_scaler_config;

/* PyTorch's defaults (listed above). */
CLT_API clt_grad_scaler_config clt_grad_scaler_defaults(void);
/* A scaler (config NULL: the defaults); CLT_ERR_INVALID_ARG for a value outside its range. */
CLT_API clt_status clt_grad_scaler_create(const clt_grad_scaler_config *config, clt_grad_scaler **out);
CLT_API void clt_grad_scaler_release(clt_grad_scaler *s);
/* loss times the current scale: a recorded op, in float32 (float64 stays; others are cast);
 * loss itself (a new reference) when disabled. Compute the loss itself in float32, as autocast
 * does (clt_cross_entropy(clt_cast(logits16, CLT_FLOAT32), ...)): the gradient reaching a
 * float16 loss would be the scale, which overflows float16 from 65536 on. */
CLT_API clt_tensor *clt_grad_scaler_scale(clt_grad_scaler *s, clt_tensor *loss);
/* Divides the gradients of params (those that have one) by the scale in place and records
 * whether any is inf or NaN (*found_inf, may be NULL), as GradScaler.unscale_; call it before
 * clipping gradients. Once per step: a second call before clt_grad_scaler_update is
 * CLT_ERR_STATE. */
CLT_API clt_status clt_grad_scaler_unscale(clt_grad_scaler *s, int n, clt_tensor *const *params, bool *found_inf);
/* Unscales o's parameters' gradients unless clt_grad_scaler_unscale did, then steps o unless a
 * gradient was inf or NaN (*stepped, may be NULL, says which). */
CLT_API clt_status clt_grad_scaler_step(clt_grad_scaler *s, clt_optim *o, bool *stepped);
/* After a step that found inf or NaN: scale times backoff_factor; after growth_interval steps in
 * a row without: scale times growth_factor. */
CLT_API clt_status clt_grad_scaler_update(clt_grad_scaler *s);
/* The current scale (1 when disabled); NAN for NULL. */
CLT_API double clt_grad_scaler_get_scale(const clt_grad_scaler *s);

#ifdef __cplusplus
}
#endif

#endif
