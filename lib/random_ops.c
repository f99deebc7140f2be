/* randperm, randint, bernoulli and the *_like constructors (include/clt/tensor.h). randperm and
 * randint are made on the host from this thread's Philox generator, so every device gets the
 * same numbers, and copied to the device; bernoulli compares clt_rand's numbers on the device. */
#include <math.h>

#include "ew.h"
#include "reduce.h"

/* 64 bits of Philox block (seed, counter): words 0 and 1. */
static uint64_t word64(uint64_t seed, uint64_t counter) {
  const uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0, 0};
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  uint32_t w[4];
  clt__philox4x32(ctr, key, w);
  return (uint64_t)w[0] << 32 | w[1];
}

/* The range of integers dt holds exactly (floats: their integers up to 2^mantissa). */
static bool exact_range(clt_dtype dt, int64_t *lo, int64_t *hi) {
  switch (dt) {
    case CLT_FLOAT32: *lo = -(1LL << 24), *hi = 1LL << 24; return true;
    case CLT_FLOAT64: *lo = -(1LL << 53), *hi = 1LL << 53; return true;
    case CLT_INT32: *lo = INT32_MIN, *hi = INT32_MAX; return true;
    case CLT_INT64: *lo = INT64_MIN, *hi = INT64_MAX; return true;
    case CLT_UINT8: *lo = 0, *hi = 255; return true;
    default: return false;
  }
}

static clt_status check_dtype(clt_dtype dt) {
  int64_t lo, hi;
  if (clt__dtype_valid(dt) && exact_range(dt, &lo, &hi)) return CLT_OK;
  return clt__err(CLT_ERR_DTYPE, "dtype %s: an integer or float dtype is needed",
                  clt__dtype_valid(dt) ? clt_dtype_name(dt) : "(invalid)");
}

/* A host tensor of dt and shape, each element fill(i) from the generator's blocks counter + i
 * (taken here, numel of them), copied to dev. */
typedef void (*fill_fn)(void *user, uint64_t seed, uint64_t counter, int64_t *v, int64_t n);

static clt_tensor *host_made(clt_device *dev, clt_dtype dt, int ndim, const int64_t *shape, fill_fn fill, void *user) {
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL"), NULL;
  int64_t n;
  if (clt__check_shape(ndim, shape, &n, "shape") != CLT_OK) return NULL;
  size_t bytes;
  if (clt__nbytes(n, CLT_INT64, &bytes) != CLT_OK) return NULL;
  int64_t *v = clt__malloc(bytes ? bytes : 1);
  if (!v) return clt__err(CLT_ERR_OOM, "cannot allocate %lld values", (long long)n), NULL;
  uint64_t seed, counter;
  clt__rng_take((uint64_t)n, &seed, &counter);
  fill(user, seed, counter, v, n);
  clt_device *host = NULL;
  clt_tensor *h = NULL, *out = NULL;
  if (clt__host_for(dev, &host) == CLT_OK) {
    h = clt__from_host(host, CLT_INT64, ndim, shape, v);
    out = h ? (dt == CLT_INT64 ? clt__to(h, dev) : NULL) : NULL;
    if (h && dt != CLT_INT64) {
      clt_tensor *c = clt__cast(h, dt);
      out = c ? clt__to(c, dev) : NULL;
      clt__tensor_release(c);
    }
    clt__device_drop(host);
  }
  clt__tensor_release(h);
  clt__free_mem(v);
  return out;
}

static void fill_perm(void *user, uint64_t seed, uint64_t counter, int64_t *v, int64_t n) {
  (void)user;
  for (int64_t i = 0; i < n; i++) v[i] = i;
  for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
    int64_t j = (int64_t)(word64(seed, counter + (uint64_t)i) % (uint64_t)(i + 1)), t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
}

static clt_tensor *randperm(clt_device *dev, clt_dtype dt, int64_t n) {
  int64_t lo = 0, hi = 0;
  if (check_dtype(dt) != CLT_OK) return NULL;
  exact_range(dt, &lo, &hi);
  if (n < 0) return clt__err(CLT_ERR_INVALID_ARG, "n is %lld; it must be >= 0", (long long)n), NULL;
  if (n > 0 && n - 1 > hi)
    return clt__err(CLT_ERR_INVALID_ARG, "n %lld: %s cannot hold %lld exactly", (long long)n, clt_dtype_name(dt),
                    (long long)(n - 1)), NULL;
  return host_made(dev, dt, 1, &n, fill_perm, NULL);
}

typedef struct {
  int64_t low;
  uint64_t range;
} int_range;

static void fill_int(void *user, uint64_t seed, uint64_t counter, int64_t *v, int64_t n) {
  const int_range *r = user;
  for (int64_t i = 0; i < n; i++) v[i] = (int64_t)((uint64_t)r->low + word64(seed, counter + (uint64_t)i) % r->range);
}

static clt_tensor *randint(clt_device *dev, clt_dtype dt, int64_t low, int64_t high, int ndim, const int64_t *shape) {
  int64_t lo = 0, hi = 0;
  if (check_dtype(dt) != CLT_OK) return NULL;
  exact_range(dt, &lo, &hi);
  if (low >= high)
    return clt__err(CLT_ERR_INVALID_ARG, "low %lld must be less than high %lld", (long long)low, (long long)high), NULL;
  if (low < lo || high - 1 > hi)
    return clt__err(CLT_ERR_INVALID_ARG, "[low, high) = [%lld, %lld) is not within what %s holds exactly, [%lld, %lld]",
                    (long long)low, (long long)high, clt_dtype_name(dt), (long long)lo, (long long)hi), NULL;
  int_range r = {low, (uint64_t)high - (uint64_t)low};
  return host_made(dev, dt, ndim, shape, fill_int, &r);
}

/* Whether any p lies outside [0, 1] (or is NaN): one bool reduction read back. */
static clt_status check_probabilities(clt_tensor *p) {
  if (p->numel == 0) return CLT_OK;
  clt_tensor *ge = clt__binary_scalar(CLT_OP_ge, p, 0.0, false), *le = ge ? clt__binary_scalar(CLT_OP_le, p, 1.0, false) : NULL;
  clt_tensor *ok = le ? clt__binary(CLT_OP_logical_and, ge, le) : NULL, *all = ok ? clt__prod(ok, CLT_ALL_DIMS, false) : NULL;
  int64_t v = 0;
  clt_status s = all ? clt__to_host(all, &v) : clt_last_status();
  clt__tensor_release(ge);
  clt__tensor_release(le);
  clt__tensor_release(ok);
  clt__tensor_release(all);
  if (s == CLT_OK && v != 1) s = clt__err(CLT_ERR_INVALID_ARG, "p holds values outside [0, 1] (or NaN)");
  return s;
}

static clt_tensor *bernoulli(clt_tensor *p) {
  if (!clt_dtype_is_float(p->dtype))
    return clt__err(CLT_ERR_DTYPE, "p must be float32 or float64, not %s", clt_dtype_name(p->dtype)), NULL;
  if (check_probabilities(p) != CLT_OK) return NULL;
  clt_tensor *u = clt__rand(p->st->dev, p->dtype, p->ndim, p->shape);
  clt_tensor *lt = u ? clt__binary(CLT_OP_lt, u, p) : NULL, *out = lt ? clt__cast(lt, p->dtype) : NULL;
  clt__tensor_release(u);
  clt__tensor_release(lt);
  return out;
}

/* ---- public ----------------------------------------------------------------------------- */

clt_tensor *clt_randperm(clt_device *dev, clt_dtype dtype, int64_t n) {
  clt__api("clt_randperm");
  return clt__ret(randperm(dev, dtype, n));
}

clt_tensor *clt_randint(clt_device *dev, clt_dtype dtype, int64_t low, int64_t high, int ndim, const int64_t *shape) {
  clt__api("clt_randint");
  return clt__ret(randint(dev, dtype, low, high, ndim, shape));
}

clt_tensor *clt_bernoulli(clt_tensor *p) {
  clt__api("clt_bernoulli");
  if (!p) return clt__null_arg("p"), NULL;
  return clt__ret(bernoulli(p));
}

typedef enum { LIKE_EMPTY, LIKE_FULL, LIKE_RAND, LIKE_RANDN } like_kind;

static clt_tensor *like(const char *name, clt_tensor *t, like_kind k, double v) {
  clt__api(name);
  if (!t) return clt__null_arg("t"), NULL;
  clt_device *dev = t->st->dev;
  switch (k) {
    case LIKE_EMPTY: return clt__ret(clt__empty(dev, t->dtype, t->ndim, t->shape));
    case LIKE_FULL: return clt__ret(clt__full(dev, t->dtype, t->ndim, t->shape, v));
    case LIKE_RAND: return clt__ret(clt__rand(dev, t->dtype, t->ndim, t->shape));
    default: return clt__ret(clt__randn(dev, t->dtype, t->ndim, t->shape));
  }
}

clt_tensor *clt_empty_like(clt_tensor *t) { return like("clt_empty_like", t, LIKE_EMPTY, 0); }
clt_tensor *clt_zeros_like(clt_tensor *t) { return like("clt_zeros_like", t, LIKE_FULL, 0); }
clt_tensor *clt_ones_like(clt_tensor *t) { return like("clt_ones_like", t, LIKE_FULL, 1); }
clt_tensor *clt_full_like(clt_tensor *t, double value) { return like("clt_full_like", t, LIKE_FULL, value); }
clt_tensor *clt_rand_like(clt_tensor *t) { return like("clt_rand_like", t, LIKE_RAND, 0); }
clt_tensor *clt_randn_like(clt_tensor *t) { return like("clt_randn_like", t, LIKE_RANDN, 0); }
