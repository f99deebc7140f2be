/* Optimizer steps, one fused kernel per parameter, stamped for a float dtype T; the math and
 * its order are PyTorch's (torch.optim.SGD, Adam, AdamW), and lib/optim.c's host reference. */

#if CLT_IS_FLOAT
/* The scalars come from the host (lib/cl/nn.c) worked out in double and rounded once to T, as
 * PyTorch's Python floats are: 1 - beta2 formed here from beta2 = 0.999 rounded to float was
 * 0.000999987, 1.3e-5 off, which lengthened every Adam step by 6.4e-6 on every element and step
 * alike and put the digits CNN's 30-epoch loss on PoCL 1.1e-2 away from the host's and
 * PyTorch's (tests/test_nn.c: adam_float_coefficients). */

/* g += wd p; buf = first ? g : momentum buf + odamp g (odamp = 1 - dampening); g = nesterov ?
 * g + momentum buf : buf (when momentum != 0); p -= lr g. */
__kernel void sgd_step(__global T *p, __global const T *grad, __global T *buf, long n, T lr, T wd, T momentum,
                       T odamp, int nesterov, int first) {
  long i = get_global_id(0);
  if (i >= n) return;
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
__kernel void adam_step(__global T *p, __global const T *grad, __global T *m, __global T *v, long n, T wd, T decay,
                        T beta1, T beta2, T obeta1, T obeta2, T eps, T step, T sbc2, int decoupled) {
  long i = get_global_id(0);
  if (i >= n) return;
  T x = p[i], g = grad[i];
  if (decoupled) x *= decay;
  else g += wd * x;
  T mi = beta1 * m[i] + obeta1 * g;
  T vi = beta2 * v[i] + obeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  p[i] = x - step * mi / (sqrt(vi) / sbc2 + eps);
}
#endif
