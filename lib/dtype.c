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

bool clt_dtype_is_float(clt_dtype dt) { return dt == CLT_FLOAT32 || dt == CLT_FLOAT64; }

double clt__load_f64(clt_dtype dt, const void *p) {
  switch (dt) {
    case CLT_FLOAT32: { float v; memcpy(&v, p, 4); return v; }
    case CLT_FLOAT64: { double v; memcpy(&v, p, 8); return v; }
    case CLT_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case CLT_INT64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case CLT_UINT8: return *(const uint8_t *)p;
    case CLT_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
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
    default: break;
  }
}

const char *clt_version(void) { return "0.1.0"; }
