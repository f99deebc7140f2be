/* clt_gradcheck: analytic gradients against central differences. */
#include <math.h>
#include <string.h>

#include "autograd_impl.h"
#include "ew.h"
#include "grad.h"
#include "reduce.h"

/* A tensor of dtype dt on dev from row-major doubles. */
static clt_tensor *from_doubles(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape, const double *v,
                                size_t n) {
  size_t es = clt_dtype_size(dt), nbytes;
  if (clt__nbytes((int64_t)n, dt, &nbytes) != CLT_OK) return NULL;
  uint8_t *raw = clt__malloc(n ? nbytes : 1);
  if (!raw) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes", nbytes), NULL;
  for (size_t i = 0; i < n; i++) clt__store_f64(dt, raw + i * es, v[i]);
  clt_tensor *t = clt__from_host(dev, dt, ndim, shape, raw);
  clt__free_mem(raw);
  return t;
}

/* t's elements as doubles into v (numel of them). */
/* t's elements as doubles, converted on the host (a device without fp64 cannot cast to it). */
static clt_status to_doubles(clt_tensor *t, double *v) {
  size_t n = (size_t)t->numel, es = clt_dtype_size(t->dtype), nbytes;
  if (clt__nbytes(t->numel, t->dtype, &nbytes) != CLT_OK) return clt_last_status();
  uint8_t *raw = clt__malloc(n ? nbytes : 1);
  if (!raw) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes", nbytes);
  clt_status s = clt__to_host(t, raw);
  for (size_t i = 0; i < n && s == CLT_OK; i++) v[i] = clt__load_f64(t->dtype, raw + i * es);
  clt__free_mem(raw);
  return s;
}

/* sum(out * w), recorded when out requires grad. */
static clt_tensor *project(clt_tensor *out, clt_tensor *w) {
  clt_tensor *in[2] = {out, w};
  clt_tensor *p = clt__grad_ew(clt__binary(CLT_OP_mul, out, w), CLT_OP_mul, in, 2, 0, 0, 0);
  clt_tensor *s = p ? clt__grad_reduce(clt__sum(p, 0, NULL, false), p, CLT__RK_SUM, 0, NULL, 0) : NULL;
  clt__tensor_release(p);
  return s;
}

static clt_status call(clt_gradcheck_fn fn, void *user, clt_tensor *const *in, clt_tensor **out) {
  *out = fn(in, user);
  clt__api("clt_gradcheck");
  if (*out) return CLT_OK;
  return clt_last_status() ? clt_last_status() : clt__err(CLT_ERR_INVALID_ARG, "the function returned NULL");
}

/* L(x with input i replaced by h) as a double. */
static clt_status eval(clt_gradcheck_fn fn, void *user, clt_tensor *const *x, int n, int i, clt_tensor *h,
                       clt_tensor *w, double *v) {
  clt_tensor *xs[16], *out, *L = NULL;
  memcpy(xs, x, (size_t)n * sizeof *xs);
  xs[i] = h;
  clt_status s = call(fn, user, xs, &out);
  if (s == CLT_OK && !(L = project(out, w))) s = clt_last_status();
  if (s == CLT_OK) s = to_doubles(L, v);
  clt__tensor_release(L);
  clt_release(out);
  return s;
}

static clt_status check_input(clt_gradcheck_fn fn, void *user, clt_tensor *const *x, int n, int i, clt_tensor *w,
                              const clt_gradcheck_opts *o) {
  size_t m = (size_t)x[i]->numel; /* x[i] is a cast copy: its bytes, and so m doubles, fit */
  double *val = clt__malloc((m ? m : 1) * sizeof *val), *ana = clt__calloc(m ? m : 1, sizeof *ana);
  clt_status s = val && ana ? CLT_OK : clt__err(CLT_ERR_OOM, "cannot allocate %zu doubles", m);
  if (s == CLT_OK) s = to_doubles(x[i], val);
  if (s == CLT_OK && x[i]->grad) s = to_doubles(x[i]->grad, ana);
  for (size_t j = 0; j < m && s == CLT_OK; j++) {
    double keep = val[j], l[2] = {0, 0};
    for (int side = 0; side < 2 && s == CLT_OK; side++) {
      val[j] = keep + (side ? -o->eps : o->eps);
      clt_tensor *h = from_doubles(x[i]->st->dev, x[i]->dtype, x[i]->ndim, x[i]->shape, val, m);
      s = h ? eval(fn, user, x, n, i, h, w, &l[side]) : clt_last_status();
      clt__tensor_release(h);
    }
    val[j] = keep;
    double num = (l[0] - l[1]) / (2 * o->eps);
    if (s == CLT_OK && !(fabs(ana[j] - num) <= o->atol + o->rtol * fabs(num))) {
      char sh[CLT__SHAPE_STR];
      s = clt__err(CLT_ERR_MISMATCH,
                   "input %d (shape %s), element %zu: analytic gradient %.9g, numerical %.9g (eps %g, atol %g, rtol %g)",
                   i, clt__shape_str(sh, x[i]->ndim, x[i]->shape), j, ana[j], num, o->eps, o->atol, o->rtol);
    }
  }
  clt__free_mem(val);
  clt__free_mem(ana);
  return s;
}

clt_status clt_gradcheck(clt_gradcheck_fn fn, void *user, int n, clt_tensor *const *inputs,
                         const clt_gradcheck_opts *opts) {
  clt__api("clt_gradcheck");
  if (!fn || !inputs || n < 1 || n > 16) return clt__err(CLT_ERR_INVALID_ARG, "needs a function and 1 to 16 inputs");
  for (int i = 0; i < n; i++)
    if (!inputs[i]) return clt__null_arg("inputs[i]");
  if (!clt_is_grad_enabled()) return clt__err(CLT_ERR_STATE, "grad mode is off (inside clt_no_grad_begin)");
  clt_device *dev = inputs[0]->st->dev;
  clt_dtype dt = dev->info.fp64 ? CLT_FLOAT64 : CLT_FLOAT32;
  clt_gradcheck_opts o = dt == CLT_FLOAT64 ? (clt_gradcheck_opts){1e-6, 1e-5, 1e-3} : (clt_gradcheck_opts){1e-2, 1e-2, 1e-2};
  if (opts) o = *opts;
  clt_tensor *x[16] = {NULL}, *w = NULL, *out = NULL, *L = NULL;
  clt_status st = CLT_OK;
  for (int i = 0; i < n && st == CLT_OK; i++) {
    bool fl = clt_dtype_is_float(inputs[i]->dtype);
    x[i] = fl ? clt__cast(inputs[i], dt) : clt__retain(inputs[i]);
    if (!x[i]) st = clt_last_status();
    else if (fl) x[i]->requires_grad = true;
  }
  if (st == CLT_OK) st = call(fn, user, x, &out);
  if (st == CLT_OK) { /* fixed weights w in [-0.5, 0.5), from a generator of its own */
    size_t m = (size_t)out->numel, nbytes;
    double *wv = NULL;
    st = clt__nbytes(out->numel, CLT_FLOAT64, &nbytes); /* out may be a large expanded view */
    if (st == CLT_OK && !(wv = clt__malloc(m ? nbytes : 1))) st = clt__err(CLT_ERR_OOM, "cannot allocate the weights");
    if (st == CLT_OK) {
      clt__philox_uniform(wv, CLT_FLOAT64, (int64_t)m, 0x9c7eULL, 0);
      for (size_t i = 0; i < m; i++) wv[i] -= 0.5;
      if (!(w = from_doubles(out->st->dev, dt, out->ndim, out->shape, wv, m))) st = clt_last_status();
    }
    clt__free_mem(wv);
  }
  if (st == CLT_OK && !(L = project(out, w))) st = clt_last_status();
  if (st == CLT_OK && L->requires_grad) st = clt__backward(L, NULL, false);
  if (st == CLT_OK) {
    clt_no_grad_begin();
    clt__api("clt_gradcheck");
    for (int i = 0; i < n && st == CLT_OK; i++)
      if (clt_dtype_is_float(x[i]->dtype)) st = check_input(fn, user, x, n, i, w, &o);
    clt_no_grad_end();
  }
  for (int i = 0; i < n; i++) clt__tensor_release(x[i]);
  clt_release(out);
  clt__tensor_release(w);
  clt__tensor_release(L);
  return st;
}
