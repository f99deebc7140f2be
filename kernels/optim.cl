/* Optimizer steps, one fused kernel per parameter (sgd_step, adam_step) or per up to
 * CLT__OPTIM_SLOTS parameters (sgd_steps, adam_steps: lib/backend.h), stamped for a float dtype
 * T; the math and its order are PyTorch's (torch.optim.SGD, Adam, AdamW), and lib/host/nn.c's
 * host reference. Both forms run the same element function, so a parameter's result does not
 * depend on the others it shares a launch with (tests/test_nn.c: optim_batched_matches_single). */

#if CLT_IS_FLOAT
#if CLT_DT == 1
typedef double16 T16;
#else
typedef float16 T16;
#endif

/* The scalars come from the host (lib/cl/nn.c) worked out in double and rounded once to T, as
 * PyTorch's Python floats are: 1 - beta2 formed here from beta2 = 0.999 rounded to float was
 * 0.000999987, 1.3e-5 off, which lengthened every Adam step by 6.4e-6 on every element and step
 * alike and put the digits CNN's 30-epoch loss on PoCL 1.1e-2 away from the host's and
 * PyTorch's (tests/test_nn.c: adam_float_coefficients). */

/* g += wd p; buf = first ? g : momentum buf + odamp g (odamp = 1 - dampening); g = nesterov ?
 * g + momentum buf : buf (when momentum != 0); p -= lr g. */
inline void sgd_one(__global T *p, __global const T *grad, __global T *buf, long i, T lr, T wd, T momentum, T odamp,
                    int nesterov, int first) {
  T g = grad[i] + wd * p[i];
  if (momentum != 0) {
    T b = first ? g : momentum * buf[i] + odamp * g;
    buf[i] = b;
    g = nesterov ? g + momentum * b : b;
  }
  p[i] -= lr * g;
}

/* Adam (decoupled 0) and AdamW (decoupled 1): decay = 1 - lr wd, obeta1 = 1 - beta1, obeta2 =
 * 1 - beta2, step = lr / (1 - beta1^t), sbc2 = sqrt(1 - beta2^t). */
inline void adam_one(__global T *p, __global const T *grad, __global T *m, __global T *v, long i, T wd, T decay,
                     T beta1, T beta2, T obeta1, T obeta2, T eps, T step, T sbc2, int decoupled) {
  T x = p[i], g = grad[i];
  if (decoupled) x *= decay;
  else g += wd * x;
  T mi = beta1 * m[i] + obeta1 * g;
  T vi = beta2 * v[i] + obeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  p[i] = x - step * mi / (sqrt(vi) / sbc2 + eps);
}

__kernel void sgd_step(__global T *p, __global const T *grad, __global T *buf, long n, T lr, T wd, T momentum,
                       T odamp, int nesterov, int first) {
  long i = get_global_id(0);
  if (i < n) sgd_one(p, grad, buf, i, lr, wd, momentum, odamp, nesterov, first);
}

__kernel void adam_step(__global T *p, __global const T *grad, __global T *m, __global T *v, long n, T wd, T decay,
                        T beta1, T beta2, T obeta1, T obeta2, T eps, T step, T sbc2, int decoupled) {
  long i = get_global_id(0);
  if (i < n) adam_one(p, grad, m, v, i, wd, decay, beta1, beta2, obeta1, obeta2, eps, step, sbc2, decoupled);
}

/* Five parameters per launch: slot k's parameter p, gradient g and state a, b (SGD: a the
 * momentum buffer, b unused). geo: s0-s4 the slots' element counts, s5-s9 the first work-group
 * of each slot (a slot's elements start a group; unused slots LONG_MAX), sa-se each slot's
 * first flag, sf nesterov (SGD) or decoupled (Adam). A work-group belongs to one slot, so the
 * choice below is the same for all its work-items. */
#define SLOT(k) __global T *p##k, __global const T *g##k, __global T *a##k, __global T *b##k
#define PICK(k, N, START, FIRST)                                                                                 \
  if (grp >= geo.START) {                                                                                        \
    p = p##k, g = g##k, a = a##k, b = b##k, n = geo.N, start = geo.START, first = geo.FIRST;                      \
  }
#define SELECT                                                                                                   \
  long grp = get_group_id(0), n = geo.s0, start = 0, first = geo.sa;                                             \
  __global T *p = p0, *a = a0, *b = b0;                                                                          \
  __global const T *g = g0;                                                                                      \
  PICK(1, s1, s6, sb)                                                                                            \
  PICK(2, s2, s7, sc)                                                                                            \
  PICK(3, s3, s8, sd)                                                                                            \
  PICK(4, s4, s9, se)                                                                                            \
  long i = (grp - start) * (long)get_local_size(0) + (long)get_local_id(0);                                     \
  if (i >= n) return;

/* h: s0 lr, s1 wd, s2 momentum, s3 odamp */
__kernel void sgd_steps(SLOT(0), SLOT(1), SLOT(2), SLOT(3), SLOT(4), long16 geo, T16 h) {
  SELECT
  (void)b;
  sgd_one(p, g, a, i, h.s0, h.s1, h.s2, h.s3, (int)geo.sf, (int)first);
}

/* h: s0 wd, s1 decay, s2 beta1, s3 beta2, s4 obeta1, s5 obeta2, s6 eps, s7 step, s8 sbc2 */
__kernel void adam_steps(SLOT(0), SLOT(1), SLOT(2), SLOT(3), SLOT(4), long16 geo, T16 h) {
  SELECT
  (void)first;
  adam_one(p, g, a, b, i, h.s0, h.s1, h.s2, h.s3, h.s4, h.s5, h.s6, h.s7, h.s8, (int)geo.sf);
}
#endif
