/* Optimizer steps, one fused kernel per parameter, stamped for a float dtype T; the math and
 * its order are PyTorch's (torch.optim.SGD, Adam, AdamW), and lib/optim.c's host reference. */

#if CLT_IS_FLOAT
/* g += wd p; buf = first ? g : momentum buf + (1 - dampening) g; g = nesterov ? g + momentum buf
 * : buf (when momentum != 0); p -= lr g. */
__kernel void sgd_step(__global T *p, __global const T *grad, __global T *buf, long n, T lr, T wd, T momentum,
                       T dampening, int nesterov, int first) {
  long i = get_global_id(0);
  if (i >= n) return;
  T g = grad[i] + wd * p[i];
  if (momentum != 0) {
    T b = first ? g : momentum * buf[i] + ((T)1 - dampening) * g;
    buf[i] = b;
    g = nesterov ? g + momentum * b : b;
  }
  p[i] -= lr * g;
}

/* Adam (decoupled 0) and AdamW (decoupled 1); bc1 = 1 - beta1^t, bc2 = 1 - beta2^t. */
__kernel void adam_step(__global T *p, __global const T *grad, __global T *m, __global T *v, long n, T lr, T wd,
                        T beta1, T beta2, T eps, T bc1, T bc2, int decoupled) {
  long i = get_global_id(0);
  if (i >= n) return;
  T x = p[i], g = grad[i];
  if (decoupled) x *= (T)1 - lr * wd;
  else g += wd * x;
  T mi = beta1 * m[i] + ((T)1 - beta1) * g;
  T vi = beta2 * v[i] + ((T)1 - beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  p[i] = x - (lr / bc1) * mi / (sqrt(vi) / sqrt(bc2) + eps);
}
#endif
