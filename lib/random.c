/* Counter-based random numbers (Philox 4x32-10, Salmon et al. 2011): the same (seed, counter)
 * gives the same words on the host and in kernels/random.cl. */
#include <math.h>

#include "dispatch.h"
#include "ew.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static CLT__TLS uint64_t rng_seed = 0x5eedULL;
static CLT__TLS uint64_t rng_offset = 0;

void clt__philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c0 = n0;
    c1 = (uint32_t)p1;
    c2 = n2;
    c3 = (uint32_t)p0;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

uint64_t clt__philox_blocks(clt_dtype dt, int64_t n) {
  return dt == CLT_FLOAT64 ? ((uint64_t)n + 1) / 2 : ((uint64_t)n + 3) / 4;
}

static void block(uint64_t seed, uint64_t counter, uint32_t w[4]) {
  const uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0, 0};
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  clt__philox4x32(ctr, key, w);
}

/* [0,1): float32 from the top 24 bits of a word, float64 from 53 bits of two words. */
static float u01f(uint32_t a) { return (float)(a >> 8) * 0x1p-24f; }
static double u01d(uint32_t a, uint32_t b) {
  return (double)(((uint64_t)(a >> 5) << 26) | (b >> 6)) * 0x1p-53;
}

void clt__philox_uniform(void *dst, clt_dtype dt, int64_t n, uint64_t seed, uint64_t counter) {
  uint32_t w[4];
  for (int64_t i = 0; i < n; i++) {
    if (dt == CLT_FLOAT64) {
      if (i % 2 == 0) block(seed, counter + (uint64_t)i / 2, w);
      int l = (int)(i % 2) * 2;
      ((double *)dst)[i] = u01d(w[l], w[l + 1]);
    } else {
      if (i % 4 == 0) block(seed, counter + (uint64_t)i / 4, w);
      ((float *)dst)[i] = u01f(w[i % 4]);
    }
  }
}

void clt_manual_seed(uint64_t seed) {
  rng_seed = seed;
  rng_offset = 0;
}

void clt_rng_get_state(uint64_t *seed, uint64_t *offset) {
  if (seed) *seed = rng_seed;
  if (offset) *offset = rng_offset;
}

void clt_rng_set_state(uint64_t seed, uint64_t offset) {
  rng_seed = seed;
  rng_offset = offset;
}

static clt_status check_float(clt_dtype dt) {
  if (clt_dtype_is_float(dt)) return CLT_OK;
  return clt__err(CLT_ERR_DTYPE, "dtype %s is not a float dtype",
                  clt__dtype_valid(dt) ? clt_dtype_name(dt) : "(invalid)");
}

clt_tensor *clt_rand(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape) {
  clt__api("clt_rand");
  return clt__ret(clt__rand(dev, dtype, ndim, shape));
}

clt_tensor *clt__rand(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape) {
  if (check_float(dtype) != CLT_OK) return NULL;
  if (dtype == CLT_FLOAT16 || dtype == CLT_BFLOAT16) {
    /* float32's numbers scaled below the largest 16-bit value under 1 (1 - 2^-11, 1 - 2^-8),
     * so that rounding keeps them in [0, 1) */
    clt_tensor *f = clt__rand(dev, CLT_FLOAT32, ndim, shape);
    clt_tensor *s = f ? clt__binary_scalar(CLT_OP_mul, f, dtype == CLT_FLOAT16 ? 1 - 0x1p-11 : 1 - 0x1p-8, false) : NULL;
    clt_tensor *t = s ? clt__cast(s, dtype) : NULL;
    clt__tensor_release(f);
    clt__tensor_release(s);
    return t;
  }
  clt_tensor *t = clt__empty(dev, dtype, ndim, shape);
  if (!t) return NULL;
  uint64_t counter = rng_offset;
  if (t->numel > 0 &&
      clt__run_rand_uniform(dev, t->st, 0, t->numel, dtype, rng_seed, counter) != CLT_OK) {
    clt__tensor_release(t);
    return NULL;
  }
  rng_offset += clt__philox_blocks(dtype, t->numel);
  return t;
}

clt_tensor *clt_randn(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape) {
  clt__api("clt_randn");
  return clt__ret(clt__randn(dev, dtype, ndim, shape));
}

clt_tensor *clt__randn(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape) {
  if (check_float(dtype) != CLT_OK) return NULL;
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL"), NULL;
  clt_device *host = NULL;
  if (clt__host_for(dev, &host) != CLT_OK) return NULL;
  clt_tensor *h = clt__empty(host, CLT_FLOAT64, ndim, shape), *t = NULL;
  if (h) {
    /* Box-Muller on pairs of uniforms: elements 2j and 2j+1 share block offset + j. */
    double *p = h->st->ptr;
    for (int64_t j = 0; 2 * j < h->numel; j++) {
      uint32_t w[4];
      block(rng_seed, rng_offset + (uint64_t)j, w);
      double u1 = 1.0 - u01d(w[0], w[1]), u2 = u01d(w[2], w[3]); /* u1 in (0,1] */
      double r = sqrt(-2.0 * log(u1)), a = 2.0 * 3.14159265358979323846 * u2;
      p[2 * j] = r * cos(a);
      if (2 * j + 1 < h->numel) p[2 * j + 1] = r * sin(a);
    }
    rng_offset += ((uint64_t)h->numel + 1) / 2;
    clt_tensor *c = dtype == CLT_FLOAT64 ? clt__retain(h) : clt__empty(host, dtype, ndim, shape);
    if (c && dtype != CLT_FLOAT64) /* rounded once from double, into any float dtype */
      for (int64_t i = 0; i < h->numel; i++) clt__store_f64(dtype, (char *)c->st->ptr + (size_t)i * clt_dtype_size(dtype), p[i]);
    if (c) t = clt__to(c, dev);
    clt__tensor_release(c);
    clt__tensor_release(h);
  }
  clt__device_drop(host);
  return t;
}

void clt__rng_take(uint64_t blocks, uint64_t *seed, uint64_t *counter) {
  *seed = rng_seed;
  *counter = rng_offset;
  rng_offset += blocks;
}
