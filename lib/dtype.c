/* dtype attributes and scalar conversions, all from CLT_DTYPE_LIST (lib/enums.h). */
#include <math.h>
#include <string.h>

#include "core.h"

/* Every dtype of clt/common.h is in lib/enums.h's list. */
#define CLT__DT_ONE(e, name, size, code) +1
_Static_assert(0 CLT_DTYPE_LIST(CLT__DT_ONE) == CLT_DTYPE_COUNT, "lib/enums.h lists every dtype of clt/common.h");
#undef CLT__DT_ONE

bool clt__dtype_valid(clt_dtype dt) { return (unsigned)dt < (unsigned)CLT_DTYPE_COUNT; }

const char *clt_dtype_name(clt_dtype dt) {
  switch (dt) {
#define CLT__DT_NAME(e, name, size, code) \
  case e:                                 \
    return #name;
    CLT_DTYPE_LIST(CLT__DT_NAME)
#undef CLT__DT_NAME
    default:
      return NULL;
  }
}

size_t clt_dtype_size(clt_dtype dt) {
  switch (dt) {
#define CLT__DT_SIZE(e, name, size, code) \
  case e:                                 \
    return size;
    CLT_DTYPE_LIST(CLT__DT_SIZE)
#undef CLT__DT_SIZE
    default:
      return 0;
  }
}

bool clt_dtype_is_float(clt_dtype dt) {
  return dt == CLT_FLOAT32 || dt == CLT_FLOAT64 || dt == CLT_FLOAT16 || dt == CLT_BFLOAT16;
}

/* ---- 16-bit floats ---------------------------------------------------------------------- */

/* The two 16-bit formats: exponent and stored mantissa bits. */
static const struct { int e, m; } fmt16[2] = {{5, 10}, {8, 7}};

static int is16(clt_dtype dt) { return dt == CLT_FLOAT16 ? 0 : dt == CLT_BFLOAT16 ? 1 : -1; }

/* mant * 2^exp2 (mant != 0) with sign neg, rounded once to nearest even into format f. Integer
 * arithmetic only, so the result does not depend on the FPU's rounding mode, and the source may
 * carry up to 64 significant bits (int64 values, float64's 53): one rounding, where going
 * through float32 first would round twice. */
static uint16_t encode16(int f, bool neg, uint64_t mant, int exp2) {
  int E = fmt16[f].e, M = fmt16[f].m, bias = (1 << (E - 1)) - 1;
  int top = 63;
  while (!(mant >> top)) top--;
  int ue = exp2 + top;                     /* the value's unbiased exponent */
  int eb = ue + bias < 1 ? 1 : ue + bias;  /* its biased exponent in f; 1 in the subnormals */
  int shift = exp2 - (eb - bias - M);      /* quantum 2^(eb - bias - M): mant >> -shift */
  uint64_t m;
  if (shift >= 0) m = shift > 63 - top ? UINT64_MAX : mant << shift; /* exact: no rounding */
  else if (-shift > 64) m = 0;
  else {
    int s = -shift;
    m = s == 64 ? 0 : mant >> s;
    uint64_t rem = s == 64 ? mant : mant & ((UINT64_C(1) << s) - 1), half = UINT64_C(1) << (s - 1);
    if (rem > half || (rem == half && (m & 1))) m++;
  }
  uint64_t inf = (uint64_t)((1u << E) - 1) << M;
  /* m holds the implicit bit, which carries into the exponent field (and past it to inf) */
  uint64_t bits = ((uint64_t)(eb - 1) << M) + m;
  if (m == UINT64_MAX || bits >= inf) bits = inf;
  return (uint16_t)((neg ? 0x8000u : 0) | bits);
}

static uint16_t nan16(int f, bool neg) {
  return (uint16_t)((neg ? 0x8000u : 0) | ((1u << fmt16[f].e) - 1) << fmt16[f].m | 1u << (fmt16[f].m - 1));
}

static uint16_t f64_to16(int f, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  bool neg = u >> 63;
  int ef = (int)(u >> 52 & 0x7ff);
  uint64_t frac = u & ((UINT64_C(1) << 52) - 1);
  if (ef == 0x7ff) return frac ? nan16(f, neg) : encode16(f, neg, 1, 4096); /* 2^4096: inf */
  if (ef == 0) /* zero, or a float64 subnormal: far below half the smallest 16-bit subnormal */
    return (uint16_t)(neg ? 0x8000u : 0);
  return encode16(f, neg, frac | UINT64_C(1) << 52, ef - 1075);
}

static uint16_t i64_to16(int f, int64_t v) {
  if (v == 0) return 0;
  uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  return encode16(f, v < 0, mag, 0);
}

static float from16(int f, uint16_t h) {
  uint32_t bits;
  if (f == 1) bits = (uint32_t)h << 16;
  else {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = h >> 10 & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) bits = sign | 0x7f800000u | m << 13; /* inf, NaN with its payload */
    else if (e) bits = sign | (e + 112) << 23 | m << 13;
    else { /* subnormal or zero: m * 2^-24, exact in float */
      float v = (float)m * 0x1p-24f;
      return sign ? -v : v;
    }
  }
  float v;
  memcpy(&v, &bits, 4);
  return v;
}

clt_status clt_float_to_16bit(clt_dtype dt, size_t n, const float *src, uint16_t *dst) {
  clt__api("clt_float_to_16bit");
  int f = is16(dt);
  if (f < 0) return clt__err(CLT_ERR_DTYPE, "dtype %s is not float16 or bfloat16", clt_dtype_name(dt) ? clt_dtype_name(dt) : "(invalid)");
  if (n && (!src || !dst)) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", src ? "dst" : "src");
  for (size_t i = 0; i < n; i++) dst[i] = f64_to16(f, src[i]);
  return CLT_OK;
}

clt_status clt_16bit_to_float(clt_dtype dt, size_t n, const uint16_t *src, float *dst) {
  clt__api("clt_16bit_to_float");
  int f = is16(dt);
  if (f < 0) return clt__err(CLT_ERR_DTYPE, "dtype %s is not float16 or bfloat16", clt_dtype_name(dt) ? clt_dtype_name(dt) : "(invalid)");
  if (n && (!src || !dst)) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", src ? "dst" : "src");
  for (size_t i = 0; i < n; i++) dst[i] = from16(f, src[i]);
  return CLT_OK;
}

void clt__store_i64(clt_dtype dt, void *p, int64_t v) {
  int f = is16(dt);
  if (f >= 0) {
    uint16_t h = i64_to16(f, v);
    memcpy(p, &h, 2);
  } else clt__store_f64(dt, p, (double)v);
}

double clt__load_f64(clt_dtype dt, const void *p) {
  switch (dt) {
    case CLT_FLOAT32: { float v; memcpy(&v, p, 4); return v; }
    case CLT_FLOAT64: { double v; memcpy(&v, p, 8); return v; }
    case CLT_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case CLT_INT64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case CLT_UINT8: return *(const uint8_t *)p;
    case CLT_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
    case CLT_FLOAT16:
    case CLT_BFLOAT16: { uint16_t h; memcpy(&h, p, 2); return from16(is16(dt), h); }
    default: return 0.0;
  }
}

int64_t clt__load_i64(clt_dtype dt, const void *p) {
  switch (dt) {
    case CLT_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case CLT_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
    case CLT_UINT8: return *(const uint8_t *)p;
    case CLT_BOOL: return *(const uint8_t *)p ? 1 : 0;
    default: {
      double d = clt__load_f64(dt, p);
      if (!(d > -9.3e18 && d < 9.3e18)) return d > 0 ? INT64_MAX : INT64_MIN; /* NaN too */
      return (int64_t)d;
    }
  }
}

/* C casts with out-of-range values saturated instead of undefined. */
static int64_t to_i64_sat(double v, double lo, double hi) {
  if (v != v) return 0;
  if (v <= lo) return (int64_t)lo;
  if (v >= hi) return (int64_t)hi;
  return (int64_t)v;
}

void clt__store_f64(clt_dtype dt, void *p, double v) {
  switch (dt) {
    case CLT_FLOAT32: { float f = (float)v; memcpy(p, &f, 4); break; }
    case CLT_FLOAT64: memcpy(p, &v, 8); break;
    case CLT_INT32: { int32_t i = (int32_t)to_i64_sat(v, -2147483648.0, 2147483647.0); memcpy(p, &i, 4); break; }
    case CLT_INT64: {
      int64_t i = v >= 0x1p63 ? INT64_MAX : to_i64_sat(v, -0x1p63, 0x1p63);
      memcpy(p, &i, 8);
      break;
    }
    case CLT_UINT8: *(uint8_t *)p = (uint8_t)to_i64_sat(v, 0.0, 255.0); break;
    case CLT_BOOL: *(uint8_t *)p = v != 0.0; break;
    case CLT_FLOAT16:
    case CLT_BFLOAT16: { uint16_t h = f64_to16(is16(dt), v); memcpy(p, &h, 2); break; }
    default: break;
  }
}

const char *clt_version(void) { return "0.1.0"; }
