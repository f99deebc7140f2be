#define _POSIX_C_SOURCE 200809L
/* float16 and bfloat16: conversions of every bit pattern, rounding at ties and boundaries from
 * every source dtype, creation, views, printing, the array helpers, promotion, ops and their
 * gradients, on every device. The references here are written from the formats' definitions
 * (a value is m 2^e), independently of lib/dtype.c and kernels/cast.cl. */
#include <float.h>
#include <stdio.h>

#include <unistd.h>

#include "clt/io.h"
#include "ew.h"
#include "tu.h"

static const clt_dtype half_types[2] = {CLT_FLOAT16, CLT_BFLOAT16};

/* The value of bit pattern h: float16 has 5 exponent and 10 mantissa bits, bfloat16 8 and 7. */
static double ref_value(clt_dtype dt, uint16_t h) {
  int E = dt == CLT_FLOAT16 ? 5 : 8, M = dt == CLT_FLOAT16 ? 10 : 7, bias = (1 << (E - 1)) - 1;
  int e = h >> M & ((1 << E) - 1);
  int m = h & ((1 << M) - 1);
  double sign = h & 0x8000 ? -1.0 : 1.0;
  if (e == (1 << E) - 1) return m ? NAN : sign * INFINITY;
  if (e == 0) return sign * ldexp(m, 1 - bias - M);
  return sign * ldexp(m + (1 << M), e - bias - M);
}

/* The largest positive finite pattern; the next one up is inf. */
static uint16_t max_finite(clt_dtype dt) { return dt == CLT_FLOAT16 ? 0x7bff : 0x7f7f; }

static clt_tensor *raw(clt_device *dev, clt_dtype dt, int64_t n, const uint16_t *bits) {
  return clt_from_host(dev, dt, 1, &n, bits);
}

static void *to_host(clt_tensor *t, size_t esize) {
  size_t n = (size_t)clt_numel(t);
  void *p = calloc(n ? n : 1, esize);
  ck_assert_ptr_nonnull(p);
  ck_assert_msg(clt_to_host(t, p, n * esize) == CLT_OK, "%s", clt_last_error());
  return p;
}

/* Every one of the 65536 patterns to float32 and float64 and back: exact both ways, NaN to a
 * NaN (its payload is the driver's: vstore_half's NaN is implementation-defined). */
START_TEST(all_bit_patterns_round_trip) {
  clt_device *dev = TU_DEV;
  uint16_t *bits = malloc(65536 * sizeof *bits);
  for (int i = 0; i < 65536; i++) bits[i] = (uint16_t)i;
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = half_types[k];
    for (int wide = 0; wide < (dev->info.fp64 ? 2 : 1); wide++) {
      clt_dtype wt = wide ? CLT_FLOAT64 : CLT_FLOAT32;
      clt_tensor *h = raw(dev, dt, 65536, bits), *f = clt_cast(h, wt), *back = clt_cast(f, dt);
      ck_assert_msg(back != NULL, "%s", clt_last_error());
      uint16_t *b = to_host(back, 2);
      void *fv = to_host(f, clt_dtype_size(wt));
      for (int i = 0; i < 65536; i++) {
        double want = ref_value(dt, (uint16_t)i), got = wide ? ((double *)fv)[i] : ((float *)fv)[i];
        if (isnan(want)) {
          ck_assert_msg(isnan(got), "%s %04x to %s: %g, not NaN", clt_dtype_name(dt), i, clt_dtype_name(wt), got);
          ck_assert_msg(isnan(ref_value(dt, b[i])), "%s %04x back from %s: %04x is not NaN", clt_dtype_name(dt), i,
                        clt_dtype_name(wt), b[i]);
          continue;
        }
        ck_assert_msg(got == want && signbit(got) == signbit(want), "%s %04x to %s on %s: %.9g, want %.9g",
                      clt_dtype_name(dt), i, clt_dtype_name(wt), clt_device_spec(dev), got, want);
        ck_assert_msg(b[i] == i, "%s %04x through %s on %s came back as %04x", clt_dtype_name(dt), i,
                      clt_dtype_name(wt), clt_device_spec(dev), b[i]);
      }
      free(b);
      free(fv);
      clt_release(back);
      clt_release(f);
      clt_release(h);
    }
  }
  free(bits);
}
END_TEST

/* float32 to 16 bits at every positive finite pattern h of each type, both signs: h's value,
 * the midpoint to h + 1 (a tie: to the even one of the two), and the floats just below and
 * above the midpoint (h and h + 1). The midpoint above the largest finite value is a tie
 * between it (odd) and inf: inf. Beyond: inf; inf and NaN stay. */
START_TEST(float32_rounds_to_nearest_even) {
  clt_device *dev = TU_DEV;
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = half_types[k];
    int top = max_finite(dt);
    int64_t n = 2 * (4 * (top + 1) + 3);
    float *x = malloc((size_t)n * sizeof *x);
    uint16_t *want = malloc((size_t)n * sizeof *want);
    int64_t j = 0;
    for (int s = 0; s < 2; s++) {
      uint16_t sb = s ? 0x8000 : 0;
      for (int h = 0; h <= top; h++) {
        double v = ref_value(dt, (uint16_t)h), next = h == top ? ldexp(1, dt == CLT_FLOAT16 ? 16 : 128) : ref_value(dt, (uint16_t)(h + 1));
        float mid = (float)((v + next) / 2); /* exact: one bit more than the format */
        float sg = s ? -1.0f : 1.0f;
        uint16_t even = (uint16_t)(h % 2 == 0 ? h : h + 1);
        x[j] = sg * (float)v, want[j++] = sb | (uint16_t)h;
        x[j] = sg * mid, want[j++] = sb | even;
        x[j] = sg * nextafterf(mid, 0), want[j++] = sb | (uint16_t)h;
        x[j] = sg * nextafterf(mid, INFINITY), want[j++] = sb | (uint16_t)(h + 1);
      }
      float sg = s ? -1.0f : 1.0f;
      uint16_t inf = (uint16_t)(top + 1);
      x[j] = sg * FLT_MAX, want[j++] = sb | inf;
      x[j] = sg * INFINITY, want[j++] = sb | inf;
      x[j] = NAN, want[j++] = 0xffff; /* any NaN */
    }
    ck_assert_int_eq(j, n);
    clt_tensor *f = clt_from_host(dev, CLT_FLOAT32, 1, &n, x), *c = clt_cast(f, dt);
    ck_assert_msg(c != NULL, "%s", clt_last_error());
    uint16_t *got = to_host(c, 2);
    uint16_t *helper = malloc((size_t)n * sizeof *helper);
    ck_assert_int_eq(clt_float_to_16bit(dt, (size_t)n, x, helper), CLT_OK);
    for (int64_t i = 0; i < n; i++) {
      if (want[i] == 0xffff) {
        ck_assert_msg(isnan(ref_value(dt, got[i])) && isnan(ref_value(dt, helper[i])), "%s: NaN gave %04x / %04x",
                      clt_dtype_name(dt), got[i], helper[i]);
        continue;
      }
      ck_assert_msg(got[i] == want[i], "float32 %.9g (%a) to %s on %s: %04x, want %04x", x[i], x[i], clt_dtype_name(dt),
                    clt_device_spec(dev), got[i], want[i]);
      ck_assert_msg(helper[i] == want[i], "clt_float_to_16bit(%a) to %s: %04x, want %04x", x[i], clt_dtype_name(dt),
                    helper[i], want[i]);
    }
    free(helper);
    free(got);
    free(x);
    free(want);
    clt_release(c);
    clt_release(f);
  }
}
END_TEST

/* Sources wider than float32 round once: a float64 or an integer just past a tie rounds away
 * from it, where rounding to float32 first would land on the tie and then go to even. */
START_TEST(wide_sources_round_once) {
  clt_device *dev = TU_DEV;
  /* float16: 2049 is a tie between 2048 and 2050 (even: 2048); 2051 one between 2050 and 2052 */
  const struct { clt_dtype dt, src; double v; uint16_t want; } cases[] = {
      {CLT_FLOAT16, CLT_INT32, 2049, 0x6800},      {CLT_FLOAT16, CLT_INT32, 2051, 0x6802},
      {CLT_FLOAT16, CLT_INT64, 65519, 0x7bff},     {CLT_FLOAT16, CLT_INT64, 65520, 0x7c00},
      {CLT_FLOAT16, CLT_INT32, -65520, 0xfc00},    {CLT_FLOAT16, CLT_UINT8, 255, 0x5bf8},
      {CLT_FLOAT16, CLT_BOOL, 1, 0x3c00},
      /* bfloat16 at 2^24: ulp 2^17; 2^24 + 2^16 + 1 rounds up (through float32 it would be the
       * tie 2^24 + 2^16, then even: 2^24) */
      {CLT_BFLOAT16, CLT_INT32, 16777216 + 65536 + 1, 0x4b81}, {CLT_BFLOAT16, CLT_INT32, 16777216 + 65536, 0x4b80},
      {CLT_BFLOAT16, CLT_INT64, -(16777216.0 + 65536 + 1), 0xcb81},
      {CLT_BFLOAT16, CLT_INT64, 1099511627776.0 + 4294967296.0 + 1, 0x5381}, /* 2^40 + 2^32 + 1 */
      {CLT_FLOAT16, CLT_FLOAT64, 1.0 + 0x1p-11 + 0x1p-40, 0x3c01},            /* past the tie 1 + 2^-11 */
      {CLT_FLOAT16, CLT_FLOAT64, 1.0 + 0x1p-11, 0x3c00},
      {CLT_BFLOAT16, CLT_FLOAT64, 1.0 + 0x1p-8 + 0x1p-40, 0x3f81},
      {CLT_BFLOAT16, CLT_FLOAT64, 1.0 + 0x1p-8 - 0x1p-40, 0x3f80},
      {CLT_BFLOAT16, CLT_FLOAT64, 1e300, 0x7f80},
      {CLT_FLOAT16, CLT_FLOAT64, 0x1p-25 + 0x1p-60, 0x0001}, /* past half the smallest subnormal */
      {CLT_FLOAT16, CLT_FLOAT64, 0x1p-25, 0x0000},
      {CLT_BFLOAT16, CLT_FLOAT64, 1e-300, 0x0000},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i].src == CLT_FLOAT64 && !dev->info.fp64) continue;
    clt_tensor *s = clt_full(dev, cases[i].src, CLT_SHAPE(1), cases[i].v);
    if (cases[i].src == CLT_INT64 || cases[i].src == CLT_INT32) { /* full goes through double: exact here */
      int64_t iv = 0;
      ck_assert_int_eq(clt_item_int64(s, &iv), CLT_OK);
      ck_assert_int_eq(iv, (int64_t)cases[i].v);
    }
    clt_tensor *c = clt_cast(s, cases[i].dt);
    uint16_t got = 0;
    ck_assert_msg(c && clt_to_host(c, &got, 2) == CLT_OK, "%s", clt_last_error());
    ck_assert_msg(got == cases[i].want, "case %zu: %s %.17g to %s on %s: %04x, want %04x", i, clt_dtype_name(cases[i].src),
                  cases[i].v, clt_dtype_name(cases[i].dt), clt_device_spec(dev), got, cases[i].want);
    clt_release(c);
    clt_release(s);
  }
}
END_TEST

/* To integers and bool as from float32: saturating, NaN to 0, != 0. */
START_TEST(to_integers_saturate) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = half_types[k];
    clt_tensor *x = clt_cast(clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(6), (const float[]){-2.75f, 300, -0.0f, NAN, INFINITY, 0.5f}), dt);
    tu_assert_values(clt_cast(x, CLT_INT32), 1, (const int64_t[]){6}, (const double[]){-2, 300, 0, 0, 2147483647, 0});
    tu_assert_values(clt_cast(x, CLT_UINT8), 1, (const int64_t[]){6}, (const double[]){0, 255, 0, 0, 255, 0});
    tu_assert_values(clt_cast(x, CLT_BOOL), 1, (const int64_t[]){6}, (const double[]){1, 1, 0, 1, 1, 1});
  }
  clt_scope_end();
}
END_TEST

START_TEST(create_view_print_item) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = half_types[k];
    ck_assert(clt_dtype_is_float(dt));
    ck_assert_uint_eq(clt_dtype_size(dt), 2);
    tu_assert_values(clt_ones(dev, dt, CLT_SHAPE(2)), 1, (const int64_t[]){2}, (const double[]){1, 1});
    tu_assert_values(clt_full(dev, dt, CLT_SHAPE(2), 0.1), 1, (const int64_t[]){2},
                     (const double[]){dt == CLT_FLOAT16 ? 0.0999755859375 : 0.10009765625, dt == CLT_FLOAT16 ? 0.0999755859375 : 0.10009765625});
    tu_assert_values(clt_arange(dev, dt, 0, 3, 1), 1, (const int64_t[]){3}, (const double[]){0, 1, 2});
    clt_tensor *m = clt_reshape(clt_arange(dev, dt, 0, 6, 1), CLT_SHAPE(2, 3));
    /* views and copies by the element size */
    tu_assert_values(clt_contiguous(clt_transpose(m, 0, 1)), 2, (const int64_t[]){3, 2}, (const double[]){0, 3, 1, 4, 2, 5});
    tu_assert_values(clt_cat(CLT_TENSORS(m, m), 1), 2, (const int64_t[]){2, 6},
                     (const double[]){0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
    clt_tensor *idx = clt_from_host(dev, CLT_INT64, CLT_SHAPE(2), (const int64_t[]){2, 0});
    tu_assert_values(clt_index_select(m, 1, idx), 2, (const int64_t[]){2, 2}, (const double[]){2, 0, 5, 3});
    clt_tensor *e = clt_expand(clt_slice(m, 0, 1, 2, 1), CLT_SHAPE(3, 3));
    tu_assert_values(clt_contiguous(e), 2, (const int64_t[]){3, 3}, (const double[]){3, 4, 5, 3, 4, 5, 3, 4, 5});
    double v = 0;
    clt_tensor *one = clt_full(dev, dt, 0, NULL, 65504.0 * (k ? 1e20 : 1));
    ck_assert_int_eq(clt_item(one, &v), CLT_OK);
    ck_assert(v == (k ? 6.5504e24 : 65504) || (k && fabs(v - 6.5504e24) < 2e22));
    clt_tensor *r = clt_rand(dev, dt, CLT_SHAPE(1000));
    double lo = 1, hi = 0, *rv = tu_values(r);
    for (int i = 0; i < 1000; i++) lo = fmin(lo, rv[i]), hi = fmax(hi, rv[i]);
    ck_assert_msg(lo >= 0 && hi < 1 && hi > 0.9, "rand %s in [%g, %g]", clt_dtype_name(dt), lo, hi);
    free(rv);
    clt_tensor *rn = clt_randn(dev, dt, CLT_SHAPE(3));
    ck_assert_int_eq(clt_dtype_of(rn), dt);
    char buf[256];
    clt_tensor *p = clt_from_host(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(3), (const float[]){1.5f, -0.1f, INFINITY});
    clt_tensor *ph = clt_cast(p, dt);
    ck_assert_int_eq(clt_format(ph, buf, sizeof buf, NULL), CLT_OK);
    ck_assert_str_eq(buf, k ? "tensor([ 1.5000, -0.1001,     inf], dtype=bfloat16)" : "tensor([ 1.5000, -0.1000,     inf], dtype=float16)");
  }
  clt_scope_end();
}
END_TEST

START_TEST(array_helpers) {
  const float x[4] = {1, -2.5f, 65536, 1e-8f};
  uint16_t h[4];
  float back[4];
  ck_assert_int_eq(clt_float_to_16bit(CLT_FLOAT16, 4, x, h), CLT_OK);
  ck_assert_uint_eq(h[0], 0x3c00);
  ck_assert_uint_eq(h[1], 0xc100);
  ck_assert_uint_eq(h[2], 0x7c00);
  ck_assert_uint_eq(h[3], 0x0000);
  ck_assert_int_eq(clt_16bit_to_float(CLT_FLOAT16, 4, h, back), CLT_OK);
  ck_assert(back[1] == -2.5f && isinf(back[2]));
  ck_assert_int_eq(clt_float_to_16bit(CLT_BFLOAT16, 4, x, h), CLT_OK);
  ck_assert_uint_eq(h[2], 0x4780);
  ck_assert_int_eq(clt_16bit_to_float(CLT_BFLOAT16, 4, h, back), CLT_OK);
  ck_assert(back[2] == 65536 && back[3] > 0);
  ck_assert_int_eq(clt_float_to_16bit(CLT_FLOAT32, 4, x, h), CLT_ERR_DTYPE);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_float_to_16bit: dtype float32 is not float16 or bfloat16");
  ck_assert_int_eq(clt_16bit_to_float(CLT_DTYPE_COUNT, 1, h, back), CLT_ERR_DTYPE);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_16bit_to_float: dtype (invalid)");
  ck_assert_int_eq(clt_16bit_to_float(CLT_BFLOAT16, 1, NULL, back), CLT_ERR_INVALID_ARG);
  ck_assert_int_eq(clt_float_to_16bit(CLT_BFLOAT16, 1, x, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument dst is NULL");
  ck_assert_int_eq(clt_float_to_16bit(CLT_BFLOAT16, 0, NULL, NULL), CLT_OK);
}
END_TEST


/* max |got - want| / (atol + rtol |want|) <= 1 elementwise, as doubles. */
static void assert_near(clt_tensor *got, clt_tensor *want, double rtol, double atol, const char *what) {
  ck_assert_msg(got && want, "%s: %s", what, clt_last_error());
  ck_assert_int_eq(clt_numel(got), clt_numel(want));
  double *g = tu_values(got), *w = tu_values(want);
  for (int64_t i = 0; i < clt_numel(got); i++)
    ck_assert_msg(fabs(g[i] - w[i]) <= atol + rtol * fabs(w[i]) || (isnan(g[i]) && isnan(w[i])),
                  "%s: element %lld is %.9g, want %.9g", what, (long long)i, g[i], w[i]);
  free(g);
  free(w);
}

/* One rounding from float32 per op: the 16-bit results are the float64 results (from the same
 * 16-bit inputs) rounded, within one 16-bit ulp (the float32 computation may fall on the other
 * side of a rounding boundary). Sums accumulate in float32: 3000 ones make 3000 (bfloat16:
 * 3008), where a float16 accumulator stops at 2048 (bfloat16: 256). */
START_TEST(ops_compute_in_float32) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = half_types[k];
    double ulp = dt == CLT_FLOAT16 ? 0x1p-10 : 0x1p-7;
    clt_tensor *x = clt_cast(clt_sub_scalar(clt_mul_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(6, 7)), 4), 2), dt);
    clt_tensor *w = clt_cast(clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(7, 5)), 0.5), dt);
    clt_tensor *x64 = clt_cast(clt_to(x, tu_dev[0]), CLT_FLOAT64), *w64 = clt_cast(clt_to(w, tu_dev[0]), CLT_FLOAT64);
    clt_tensor *labels = clt_from_host(dev, CLT_INT64, CLT_SHAPE(6), (const int64_t[]){0, 4, 2, 1, 3, 4});
    clt_tensor *labels_h = clt_to(labels, tu_dev[0]);
    struct { const char *what; clt_tensor *got, *want; } c[] = {
        {"sum", clt_sum(x, CLT_DIMS(1), false), clt_sum(x64, CLT_DIMS(1), false)},
        {"mean", clt_mean(x, CLT_ALL_DIMS, false), clt_mean(x64, CLT_ALL_DIMS, false)},
        {"max", clt_max(x, CLT_DIMS(0), false), clt_max(x64, CLT_DIMS(0), false)},
        {"std", clt_std(x, CLT_DIMS(1), 1, false), clt_std(x64, CLT_DIMS(1), 1, false)},
        {"logsumexp", clt_logsumexp(x, CLT_DIMS(1), false), clt_logsumexp(x64, CLT_DIMS(1), false)},
        {"softmax", clt_softmax(x, 1), clt_softmax(x64, 1)},
        {"log_softmax", clt_log_softmax(x, 0), clt_log_softmax(x64, 0)},
        {"matmul", clt_matmul(x, w), clt_matmul(x64, w64)},
        {"exp", clt_exp(x), clt_exp(x64)},
        {"cross_entropy", clt_cross_entropy(clt_matmul(x, w), labels, CLT_REDUCTION_MEAN),
         clt_cross_entropy(clt_matmul(x64, w64), labels_h, CLT_REDUCTION_MEAN)},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
      char what[64];
      snprintf(what, sizeof what, "%s in %s on %s", c[i].what, clt_dtype_name(dt), clt_device_spec(dev));
      ck_assert_msg(c[i].got && clt_dtype_of(c[i].got) == dt, "%s: %s", what, c[i].got ? "dtype" : clt_last_error());
      /* cross entropy rounds its matmul's product first: a few ulps of the loss */
      assert_near(c[i].got, c[i].want, (i == 9 ? 8 : 1) * ulp, 1e-6, what);
    }
    int64_t am = -1;
    ck_assert_int_eq(clt_item_int64(clt_argmax(x, CLT_ALL_DIMS, false), &am), CLT_OK);
    int64_t am64 = -2;
    ck_assert_int_eq(clt_item_int64(clt_argmax(x64, CLT_ALL_DIMS, false), &am64), CLT_OK);
    ck_assert_int_eq(am, am64);
    double n = dt == CLT_FLOAT16 ? 3000 : 3008; /* 3000 rounded (bfloat16's ulp there is 16) */
    tu_assert_values(clt_sum(clt_ones(dev, dt, CLT_SHAPE(3000)), CLT_ALL_DIMS, false), 0, NULL, &n);
    tu_assert_values(clt_matmul(clt_ones(dev, dt, CLT_SHAPE(1, 3000)), clt_ones(dev, dt, CLT_SHAPE(3000))), 1,
                     (const int64_t[]){1}, &n);
  }
  clt_scope_end();
}
END_TEST

/* Gradients flow through 16-bit ops in their dtype (a float16 leaf gets a float16 gradient),
 * computed in float32: against float64 gradients from the same 16-bit values, within 2^-7
 * relative (float16) and 2^-4 (bfloat16) plus 1e-3 absolute: each op's forward and backward
 * round to the 16-bit type once, and the chain here is five ops deep each way. */
START_TEST(gradients_match_float64) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = half_types[k];
    double rtol = dt == CLT_FLOAT16 ? 0x1p-7 : 0x1p-4;
    clt_tensor *x0 = clt_cast(clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(4, 6)), 0.5), dt);
    clt_tensor *w0 = clt_cast(clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(6, 3)), 0.5), dt);
    clt_tensor *b0 = clt_cast(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(3)), dt);
    clt_tensor *labels = clt_from_host(dev, CLT_INT64, CLT_SHAPE(4), (const int64_t[]){0, 2, 1, 2});
    clt_tensor *g[2][3];
    for (int wide = 0; wide < 2; wide++) {
      clt_device *d = wide ? tu_dev[0] : dev;
      clt_dtype t = wide ? CLT_FLOAT64 : dt;
      clt_tensor *p[3] = {clt_cast(clt_to(x0, d), t), clt_cast(clt_to(w0, d), t), clt_cast(clt_to(b0, d), t)};
      for (int i = 0; i < 3; i++) ck_assert_int_eq(clt_set_requires_grad(p[i], true), CLT_OK);
      clt_tensor *h = clt_tanh(clt_add(clt_matmul(p[0], p[1]), p[2]));
      clt_tensor *loss = clt_add(clt_cross_entropy(h, clt_to(labels, d), CLT_REDUCTION_MEAN),
                                 clt_mean(clt_mul(h, h), CLT_ALL_DIMS, false));
      ck_assert_msg(clt_dtype_of(loss) == t, "%s", clt_last_error());
      ck_assert_msg(clt_backward(loss, NULL) == CLT_OK, "%s", clt_last_error());
      for (int i = 0; i < 3; i++) {
        g[wide][i] = clt_grad(p[i]);
        ck_assert_int_eq(clt_dtype_of(g[wide][i]), t);
      }
    }
    static const char *names[3] = {"x", "w", "b"};
    for (int i = 0; i < 3; i++) {
      char what[64];
      snprintf(what, sizeof what, "d loss / d %s in %s on %s", names[i], clt_dtype_name(dt), clt_device_spec(dev));
      assert_near(g[0][i], g[1][i], rtol, 1e-3, what);
    }
  }
  clt_scope_end();
}
END_TEST

/* Composites with no 16-bit path of their own (convolution, pooling, normalization, attention,
 * embedding) run on float32 copies and round the result: within a few 16-bit ulps of float64
 * from the same inputs, forward and backward. Entries with no 16-bit kernel refuse a 16-bit
 * operand instead of misreading it (scatter_add). */
START_TEST(composites_run_in_float32) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = half_types[k];
    double tol = 4 * (dt == CLT_FLOAT16 ? 0x1p-10 : 0x1p-7);
    clt_tensor *x0 = clt_cast(clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(2, 3, 5, 5)), 0.5), dt);
    clt_tensor *w0 = clt_cast(clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(4, 3, 3, 3)), 0.5), dt);
    clt_tensor *e0 = clt_cast(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(6, 4)), dt);
    clt_tensor *ids = clt_from_host(dev, CLT_INT64, CLT_SHAPE(3), (const int64_t[]){5, 0, 2});
    clt_tensor *out[2][6], *gx[2];
    for (int wide = 0; wide < 2; wide++) {
      clt_device *d = wide ? tu_dev[0] : dev;
      clt_dtype t = wide ? CLT_FLOAT64 : dt;
      clt_tensor *x = clt_cast(clt_to(x0, d), t), *w = clt_cast(clt_to(w0, d), t), *e = clt_cast(clt_to(e0, d), t);
      clt_set_requires_grad(x, true);
      clt_tensor *q = clt_reshape(x, CLT_SHAPE(2, 15, 5));
      out[wide][0] = clt_conv2d(x, w, NULL, NULL);
      out[wide][1] = clt_max_pool2d(x, 2, 2, NULL);
      out[wide][2] = clt_layer_norm(x, 2, (const int64_t[]){5, 5}, NULL, NULL, 1e-5);
      out[wide][3] = clt_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
      out[wide][4] = clt_scaled_dot_product_attention(q, q, q, NULL, 0, false, 0);
      out[wide][5] = clt_embedding(e, clt_to(ids, d), -1);
      for (int i = 0; i < 6; i++) ck_assert_msg(out[wide][i] && clt_dtype_of(out[wide][i]) == t, "op %d in %s: %s", i,
                                               clt_dtype_name(t), clt_last_error());
      clt_tensor *loss = clt_add(clt_add(clt_sum(clt_square(out[wide][0]), CLT_ALL_DIMS, false),
                                         clt_sum(clt_square(out[wide][4]), CLT_ALL_DIMS, false)),
                                 clt_add(clt_sum(clt_mul(out[wide][2], x), CLT_ALL_DIMS, false),
                                         clt_sum(clt_square(out[wide][1]), CLT_ALL_DIMS, false)));
      ck_assert_msg(clt_backward(clt_cast(loss, CLT_FLOAT32), NULL) == CLT_OK, "%s", clt_last_error());
      gx[wide] = clt_grad(x);
    }
    static const char *names[6] = {"conv2d", "max_pool2d", "layer_norm", "batch_norm", "attention", "embedding"};
    for (int i = 0; i < 6; i++) {
      char what[64];
      snprintf(what, sizeof what, "%s in %s on %s", names[i], clt_dtype_name(dt), clt_device_spec(dev));
      assert_near(out[0][i], out[1][i], tol, 1e-3, what);
    }
    assert_near(gx[0], gx[1], 4 * tol, 1e-2, "their gradient");
    clt_tensor *z = clt_zeros(dev, dt, CLT_SHAPE(3));
    ck_assert_ptr_null(clt_scatter_add(z, 0, clt_to(ids, dev), clt_ones(dev, dt, CLT_SHAPE(3))));
    TU_ASSERT_ERR(CLT_ERR_DTYPE, clt_dtype_name(dt));
  }
  clt_scope_end();
}
END_TEST

static clt_tensor *find(clt_tensor_list *l, const char *name) {
  clt_tensor *t = clt_tensor_list_find(l, name);
  ck_assert_msg(t != NULL, "%s: %s", name, clt_last_error());
  return t;
}

/* A safetensors file PyTorch wrote (tools/make_half_fixtures.py): F16 and BF16 tensors load
 * with their values, clt rounds PyTorch's float32 edge cases and random values to the same
 * bits (NaN: a NaN; PyTorch writes bfloat16 NaN as 0xffff), and a save loads back bit for
 * bit under the same dtype names. NumPy has no bfloat16: .npy refuses it. */
START_TEST(safetensors_agree_with_pytorch) {
  clt_device *dev = TU_DEV;
  char path[600], out[64];
  snprintf(path, sizeof path, "%s/safetensors/half.safetensors", getenv("CLT_FIXTURES") ? getenv("CLT_FIXTURES") : ".");
  clt_tensor_list *l = NULL;
  ck_assert_msg(clt_load_safetensors(path, dev, &l) == CLT_OK, "%s", clt_last_error());
  clt_scope_begin();
  const double i6[6] = {-2, -0.5, 1, 2.5, 4, 5.5};
  tu_assert_values(find(l, "f16"), 2, (const int64_t[]){2, 3}, i6);
  tu_assert_values(find(l, "bf16"), 2, (const int64_t[]){2, 3}, i6);
  ck_assert_int_eq(clt_dtype_of(find(l, "f16")), CLT_FLOAT16);
  ck_assert_int_eq(clt_dtype_of(find(l, "bf16")), CLT_BFLOAT16);
  clt_tensor *src = find(l, "src32");
  const char *rounded[2] = {"f16_round", "bf16_round"};
  for (int k = 0; k < 2; k++) {
    clt_tensor *want = find(l, rounded[k]), *got = clt_cast(src, half_types[k]);
    ck_assert_int_eq(clt_dtype_of(want), half_types[k]);
    uint16_t *w = to_host(want, 2), *g = to_host(got, 2);
    float *x = to_host(src, 4);
    for (int64_t i = 0; i < clt_numel(src); i++) {
      bool nan = isnan(x[i]);
      ck_assert_msg(nan ? isnan(ref_value(half_types[k], g[i])) && isnan(ref_value(half_types[k], w[i])) : g[i] == w[i],
                    "float32 %a to %s on %s: %04x, PyTorch %04x", x[i], clt_dtype_name(half_types[k]), clt_device_spec(dev),
                    g[i], w[i]);
    }
    free(w);
    free(g);
    free(x);
  }
  snprintf(out, sizeof out, "/tmp/clt-half-XXXXXX");
  int fd = mkstemp(out);
  ck_assert_int_ge(fd, 0);
  close(fd);
  const char *names[3] = {"a", "b", "c"};
  clt_tensor *ts[3] = {find(l, "f16_round"), clt_transpose(find(l, "bf16"), 0, 1), find(l, "bf16_round")};
  ck_assert_msg(clt_save_safetensors(out, 3, names, ts) == CLT_OK, "%s", clt_last_error());
  clt_tensor_list *back = NULL;
  ck_assert_msg(clt_load_safetensors(out, dev, &back) == CLT_OK, "%s", clt_last_error());
  for (int i = 0; i < 3; i++) {
    clt_tensor *b = find(back, names[i]);
    ck_assert_int_eq(clt_dtype_of(b), clt_dtype_of(ts[i]));
    uint16_t *w = to_host(ts[i], 2), *g = to_host(b, 2);
    ck_assert(memcmp(w, g, (size_t)clt_numel(b) * 2) == 0);
    free(w);
    free(g);
  }
  FILE *f = fopen(out, "rb");
  char head[512] = {0};
  ck_assert_uint_gt(fread(head, 1, sizeof head - 1, f), 8);
  fclose(f);
  ck_assert_ptr_nonnull(strstr(head + 8, "\"F16\""));
  ck_assert_ptr_nonnull(strstr(head + 8, "\"BF16\""));
  ck_assert_int_eq(clt_save_npy(out, ts[2]), CLT_ERR_DTYPE);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_save_npy: NumPy has no bfloat16 dtype");
  ck_assert_int_eq(clt_save_npy(out, ts[0]), CLT_OK);
  clt_tensor *n = NULL;
  ck_assert_int_eq(clt_load_npy(out, dev, &n), CLT_OK);
  ck_assert_int_eq(clt_dtype_of(n), CLT_FLOAT16);
  clt_release(n);
  remove(out);
  clt_tensor_list_release(back);
  clt_scope_end();
  clt_tensor_list_release(l);
}
END_TEST

static void assert_vec(clt_tensor *t, int n, const double *want, const char *what) {
  double *v = tu_values(t);
  for (int i = 0; i < n; i++) ck_assert_msg(fabs(v[i] - want[i]) <= 1e-6 * (1 + fabs(want[i])), "%s: [%d] %.9g, want %.9g", what, i, v[i], want[i]);
  free(v);
}

/* GradScaler's rules: scaled gradients are unscaled before the step; a step with an inf or NaN
 * gradient is skipped and halves the scale; growth_interval clean steps double it. */
START_TEST(grad_scaler_follows_pytorch) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_grad_scaler_config c = clt_grad_scaler_defaults();
  ck_assert(c.init_scale == 65536 && c.growth_factor == 2 && c.backoff_factor == 0.5 && c.growth_interval == 2000 && c.enabled);
  c.init_scale = 4;
  c.growth_interval = 2;
  clt_grad_scaler *s = NULL;
  ck_assert_int_eq(clt_grad_scaler_create(&c, &s), CLT_OK);
  clt_tensor *w = clt_keep(clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2)));
  clt_set_requires_grad(w, true);
  clt_optim_config oc = clt_optim_defaults(CLT_OPTIM_SGD);
  oc.lr = 0.5;
  clt_optim *o = NULL;
  ck_assert_int_eq(clt_optim_create(&oc, 1, &w, &o), CLT_OK);
  const struct { double x0, scale_after, w[2]; bool stepped; } steps[] = {
      {1, 4, {-0.5, -1}, true}, {1, 8, {-1, -2}, true}, {INFINITY, 4, {-1, -2}, false}, {NAN, 2, {-1, -2}, false},
      {1, 2, {-1.5, -3}, true}, {1, 4, {-2, -4}, true}};
  for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
    ck_assert_int_eq(clt_optim_zero_grad(o), CLT_OK);
    clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2), (const float[]){(float)steps[k].x0, 2});
    clt_tensor *loss = clt_sum(clt_cast(clt_mul(clt_cast(w, CLT_FLOAT16), clt_cast(x, CLT_FLOAT16)), CLT_FLOAT32), CLT_ALL_DIMS, false);
    double scale = clt_grad_scaler_get_scale(s);
    ck_assert_int_eq(clt_backward(clt_grad_scaler_scale(s, loss), NULL), CLT_OK);
    if (steps[k].stepped) { /* the gradient reached w scaled, in float32 */
      clt_tensor *g = clt_grad(w);
      ck_assert_int_eq(clt_dtype_of(g), CLT_FLOAT32);
      assert_vec(g, 2, (const double[]){scale * steps[k].x0, scale * 2}, "scaled gradient");
    }
    bool stepped = !steps[k].stepped;
    ck_assert_msg(clt_grad_scaler_step(s, o, &stepped) == CLT_OK, "%s", clt_last_error());
    ck_assert_int_eq(stepped, steps[k].stepped);
    ck_assert_int_eq(clt_grad_scaler_update(s), CLT_OK);
    ck_assert_msg(clt_grad_scaler_get_scale(s) == steps[k].scale_after, "step %zu: scale %g", k, clt_grad_scaler_get_scale(s));
    char what[32];
    snprintf(what, sizeof what, "w after step %zu", k);
    assert_vec(w, 2, steps[k].w, what);
  }
  bool inf = true;
  clt_tensor *ws[1] = {w};
  ck_assert_int_eq(clt_grad_scaler_unscale(s, 1, ws, &inf), CLT_OK);
  ck_assert(!inf);
  ck_assert_int_eq(clt_grad_scaler_unscale(s, 1, ws, &inf), CLT_ERR_STATE);
  TU_ASSERT_ERR(CLT_ERR_STATE, "clt_grad_scaler_unscale: the gradients were unscaled already");
  ck_assert_int_eq(clt_grad_scaler_update(s), CLT_OK);
  clt_grad_scaler_release(s);
  c.backoff_factor = 1;
  ck_assert_int_eq(clt_grad_scaler_create(&c, &s), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "backoff_factor 1 must be in (0, 1)");
  ck_assert_ptr_null(s);
  ck_assert_ptr_null(clt_grad_scaler_scale(NULL, w));
  ck_assert(isnan(clt_grad_scaler_get_scale(NULL)));
  c = clt_grad_scaler_defaults();
  c.enabled = false;
  ck_assert_int_eq(clt_grad_scaler_create(&c, &s), CLT_OK);
  ck_assert(clt_grad_scaler_get_scale(s) == 1);
  clt_tensor *same = clt_grad_scaler_scale(s, w); /* w itself: released by hand, so the scope forgets it */
  ck_assert_ptr_eq(same, w);
  clt_release(same);
  clt_grad_scaler_release(s);
  clt_optim_release(o);
  clt_release(w);
  clt_scope_end();
}
END_TEST

/* Why float16 needs the scale: a loss whose gradients lie below float16's smallest subnormal
 * (2^-24) trains nothing unscaled (the 16-bit gradients flush to 0) and matches float32
 * training with the scaler. bfloat16, with float32's range, needs none. */
START_TEST(loss_scaling_keeps_small_gradients) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *x = clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(8, 5)), 0.5);
  clt_tensor *labels = clt_from_host(dev, CLT_INT64, CLT_SHAPE(8), (const int64_t[]){0, 1, 2, 0, 1, 2, 0, 1});
  clt_tensor *w0 = clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(5, 3)), 0.5);
  clt_tensor *grads[4];
  for (int run = 0; run < 4; run++) { /* float32; float16 unscaled; float16 scaled; bfloat16 unscaled */
    clt_dtype dt = run == 0 ? CLT_FLOAT32 : run == 3 ? CLT_BFLOAT16 : CLT_FLOAT16;
    clt_tensor *w = clt_keep(clt_clone(w0));
    clt_set_requires_grad(w, true);
    clt_tensor *logits = clt_matmul(clt_cast(x, dt), clt_cast(w, dt));
    /* the loss in float32, as autocast computes losses: its gradient (the scale) fits */
    clt_tensor *loss = clt_mul_scalar(clt_cross_entropy(clt_cast(logits, CLT_FLOAT32), labels, CLT_REDUCTION_MEAN), 0x1p-30);
    clt_grad_scaler_config c = clt_grad_scaler_defaults();
    c.enabled = run == 2;
    clt_grad_scaler *s = NULL;
    ck_assert_int_eq(clt_grad_scaler_create(&c, &s), CLT_OK);
    ck_assert_int_eq(clt_backward(clt_grad_scaler_scale(s, loss), NULL), CLT_OK);
    clt_tensor *ws[1] = {w};
    bool inf = true;
    ck_assert_int_eq(clt_grad_scaler_unscale(s, 1, ws, &inf), CLT_OK);
    ck_assert(!inf);
    grads[run] = clt_mul_scalar(clt_grad(w), 0x1p30);
    ck_assert_int_eq(clt_dtype_of(grads[run]), CLT_FLOAT32);
    clt_grad_scaler_release(s);
    clt_release(w);
  }
  double *unscaled = tu_values(grads[1]);
  for (int i = 0; i < 15; i++) ck_assert_msg(unscaled[i] == 0, "float16 without scaling kept %g", unscaled[i]);
  free(unscaled);
  assert_near(grads[2], grads[0], 0x1p-6, 1e-3, "float16 scaled against float32");
  assert_near(grads[3], grads[0], 0x1p-3, 1e-2, "bfloat16 against float32");
  clt_scope_end();
}
END_TEST

/* The other ops on 16-bit tensors, against the same op in float32 on the same (rounded)
 * values: equal for those that move or compare values, within four 16-bit ulps for those that
 * compute (each rounds its float32 result once). */
typedef clt_tensor *(*op)(clt_tensor *x, clt_tensor *m);
static clt_tensor *o_sort(clt_tensor *x, clt_tensor *m) { (void)m; return clt_sort(x, 1, false, NULL); }
static clt_tensor *o_topk(clt_tensor *x, clt_tensor *m) { (void)m; return clt_topk(x, 2, 1, true, NULL); }
static clt_tensor *o_cumsum(clt_tensor *x, clt_tensor *m) { (void)m; return clt_cumsum(x, 1); }
static clt_tensor *o_cumprod(clt_tensor *x, clt_tensor *m) { (void)m; return clt_cumprod(x, 1); }
static clt_tensor *o_mfill(clt_tensor *x, clt_tensor *m) { return clt_masked_fill(x, m, 0.5); }
static clt_tensor *o_pad(clt_tensor *x, clt_tensor *m) { (void)m; return clt_pad(x, 2, (const int64_t[]){1, 2}, CLT_PAD_CONSTANT, 0.25); }
static clt_tensor *o_flip(clt_tensor *x, clt_tensor *m) { (void)m; return clt_flip(x, CLT_DIMS(1)); }
static clt_tensor *o_where(clt_tensor *x, clt_tensor *m) { return clt_where(m, x, clt_neg(x)); }
static clt_tensor *o_stack(clt_tensor *x, clt_tensor *m) { (void)m; return clt_stack(CLT_TENSORS(x, x), 0); }
static clt_tensor *o_var(clt_tensor *x, clt_tensor *m) { (void)m; return clt_var(x, CLT_DIMS(1), 1, false); }
static clt_tensor *o_prod(clt_tensor *x, clt_tensor *m) { (void)m; return clt_prod(x, CLT_DIMS(1), false); }
static clt_tensor *o_min(clt_tensor *x, clt_tensor *m) { (void)m; return clt_min(x, CLT_DIMS(1), false); }
static clt_tensor *o_mse(clt_tensor *x, clt_tensor *m) { (void)m; return clt_mse_loss(x, clt_neg(x), CLT_REDUCTION_MEAN); }
static clt_tensor *o_bce(clt_tensor *x, clt_tensor *m) { return clt_binary_cross_entropy_with_logits(x, clt_cast(m, clt_dtype_of(x)), CLT_REDUCTION_MEAN); }
static clt_tensor *o_drop(clt_tensor *x, clt_tensor *m) { (void)m; return clt_mul_scalar(clt_dropout(x, 0.0, true), 1); }
static clt_tensor *o_bern(clt_tensor *x, clt_tensor *m) { (void)m; clt_manual_seed(3); return clt_bernoulli(clt_sigmoid(x)); }
static clt_tensor *o_gather(clt_tensor *x, clt_tensor *m) { (void)m; return clt_gather(x, 1, clt_zeros(clt_device_of(x), CLT_INT64, CLT_SHAPE(4, 2))); }
static clt_tensor *o_linear(clt_tensor *x, clt_tensor *m) { (void)m; return clt_linear(x, x, NULL); }

START_TEST(other_ops_match_float32) {
  clt_device *dev = TU_DEV;
  static const struct { const char *n; op f; bool exact; } ops[] = {
      {"sort", o_sort, true}, {"topk", o_topk, true}, {"cumsum", o_cumsum, false}, {"cumprod", o_cumprod, false},
      {"masked_fill", o_mfill, true}, {"pad", o_pad, true}, {"flip", o_flip, true}, {"where", o_where, true},
      {"stack", o_stack, true}, {"var", o_var, false}, {"prod", o_prod, false}, {"min", o_min, true},
      {"mse_loss", o_mse, false}, {"bce_with_logits", o_bce, false}, {"dropout", o_drop, true},
      {"bernoulli", o_bern, true}, {"gather", o_gather, true}, {"linear", o_linear, false}};
  for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
    for (int d = 0; d < 2; d++) {
      clt_dtype dt = half_types[d];
      double tol = 4 * (dt == CLT_FLOAT16 ? 0x1p-10 : 0x1p-7);
      clt_scope_begin();
      clt_manual_seed(7);
      clt_tensor *x32 = clt_cast(clt_cast(clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(4, 5)), 0.5), dt), CLT_FLOAT32);
      clt_tensor *m = clt_gt_scalar(x32, 0);
      clt_tensor *a = ops[k].f(clt_cast(x32, dt), m), *b = ops[k].f(x32, m);
      char what[64];
      snprintf(what, sizeof what, "%s in %s on %s", ops[k].n, clt_dtype_name(dt), clt_device_spec(dev));
      ck_assert_msg(a != NULL, "%s: %s", what, clt_last_error());
      ck_assert_msg(clt_dtype_of(a) == dt, "%s gives %s", what, clt_dtype_name(clt_dtype_of(a)));
      assert_near(a, clt_cast(b, dt), ops[k].exact ? 0 : tol, ops[k].exact ? 0 : tol, what);
      clt_scope_end();
    }
}
END_TEST

/* An elementwise chain over 16-bit tensors, as a linear layer's bias and ReLU in mixed-precision
 * training: recorded and run again and again (lib/fusion.c fuses a chain from its second run on
 * an OpenCL device), each run the host's values. The generated kernels had no 16-bit types: the
 * second run failed on PoCL. */
START_TEST(chains_run_repeatedly) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  for (int k = 0; k < 2; k++) {
    clt_dtype dt = half_types[k];
    clt_tensor *a = clt_cast(clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(5, 6)), 0.5), dt);
    clt_tensor *b = clt_cast(clt_sub_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(6)), 0.5), dt);
    clt_tensor *a_h = clt_to(a, tu_dev[0]), *b_h = clt_to(b, tu_dev[0]);
    clt_tensor *want = clt_mul_scalar(clt_relu(clt_add(a_h, b_h)), 3);
    for (int run = 0; run < 3; run++) {
      char what[64];
      snprintf(what, sizeof what, "run %d in %s on %s", run, clt_dtype_name(dt), clt_device_spec(dev));
      clt_tensor *got = clt_mul_scalar(clt_relu(clt_add(a, b)), 3);
      ck_assert_msg(got && clt_dtype_of(got) == dt, "%s: %s", what, clt_last_error());
      assert_near(got, want, 0, 0, what);
    }
  }
  clt_scope_end();
}
END_TEST

/* Contiguous 16-bit operands take the wide kernels on CPU devices (32 elements per work-item,
 * the run's end element by element; common.clh: CLT_WIDE), strided ones the one-element kernels:
 * both give the same bits for every elementwise row, forward and (unary rows) backward, and for
 * the casts to and from float32, at lengths around the width, from an odd element offset too,
 * over values that include zeros, subnormals, the largest finite, inf and NaN (quiet and
 * signalling: a cast keeps the payload; an op's NaN result is any NaN, see assert_same_bits). */
static uint16_t wide_bits(clt_dtype dt, int64_t i, int which) {
  static const uint16_t f16[] = {0x0000, 0x8000, 0x0001, 0x83ff, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0xfc01, 0x3c00, 0x3555};
  static const uint16_t bf16[] = {0x0000, 0x8000, 0x0001, 0x807f, 0x7f7f, 0xff7f, 0x7f80, 0xff80, 0x7fc0, 0xff81, 0x3f80, 0x3eab};
  int64_t k = i * 7 + which * 5;
  if (k % 3 == 0) return (dt == CLT_FLOAT16 ? f16 : bf16)[(k / 3) % 12];
  uint32_t h = (uint32_t)(k * 2654435761u) >> 7; /* ordinary values of either sign around 1 */
  return (uint16_t)((dt == CLT_FLOAT16 ? 0x3000 : 0x3e00) + (h & 0x1fff)) | (uint16_t)(h & 0x8000);
}

/* bits[i] of n elements as a contiguous tensor at element offset off, and as a view that steps by 2 */
static void wide_pair(clt_device *dev, clt_dtype dt, int64_t n, int which, clt_tensor **cont, clt_tensor **strided) {
  int64_t m = 2 * n + 1;
  uint16_t *b = malloc((size_t)m * sizeof *b), *c = malloc((size_t)m * sizeof *c);
  for (int64_t i = 0; i < m; i++) b[i] = c[i] = 0x1234;
  for (int64_t i = 0; i < n; i++) b[1 + i] = c[2 * i] = wide_bits(dt, i, which);
  *cont = clt_slice(raw(dev, dt, m, b), 0, 1, n + 1, 1);
  *strided = clt_slice(raw(dev, dt, m, c), 0, 0, 2 * n, 2);
  free(b);
  free(c);
}

/* The same bits, except that NaN matches any NaN where nan_any: an op's NaN result from two NaN
 * operands of opposite signs takes the sign of the one the compiled code names first (x86),
 * which differs between kernels, and the wide kernels of ops store the NaN quieted (sign and top
 * payload bits kept: F16C's conversion for float16, the quiet bit set for bfloat16) where the
 * one-element kernels store 0x7e00 or 0x7fc0 with the sign (common.clh: clt_f16_storew_anynan,
 * clt_bf16_rne_anynan); casts keep every NaN's bits. */
static void assert_same_bits(clt_tensor *a, clt_tensor *b, bool nan_any, const char *what) {
  ck_assert_msg(a && b, "%s: %s", what, clt_last_error());
  ck_assert_int_eq(clt_numel(a), clt_numel(b));
  clt_dtype dt = clt_dtype_of(a);
  size_t es = clt_dtype_size(dt);
  unsigned char *x = to_host(clt_contiguous(a), es), *y = to_host(clt_contiguous(b), es);
  for (int64_t i = 0; i < clt_numel(a); i++) {
    const void *p = x + (size_t)i * es, *q = y + (size_t)i * es;
    uint32_t u = 0, w = 0;
    memcpy(&u, p, es < 4 ? es : 4);
    memcpy(&w, q, es < 4 ? es : 4);
    bool nan = dt == CLT_FLOAT32 ? isnan(((const float *)p)[0]) && isnan(((const float *)q)[0])
               : dt == CLT_FLOAT16 || dt == CLT_BFLOAT16 ? isnan(ref_value(dt, (uint16_t)u)) && isnan(ref_value(dt, (uint16_t)w))
                                                         : false;
    ck_assert_msg(memcmp(p, q, es) == 0 || (nan_any && nan), "%s: element %lld differs: %08x, %08x", what, (long long)i,
                  u, w);
  }
  free(x);
  free(y);
}

START_TEST(wide_kernels_match_one_element_kernels) {
  clt_device *dev = TU_DEV;
  /* around the 32 elements a work-item takes, and 8200: more than 256 work-items (the local size
   * the padded launch rounds up to) of 16 or 32 elements, so that a host and kernels that disagree
   * on the elements per work-item leave elements unwritten */
  static const int64_t lengths[] = {1, 15, 16, 17, 31, 32, 33, 250, 8200};
  for (int k = 0; k < 2; k++)
    for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++) {
      clt_dtype dt = half_types[k];
      int64_t n = lengths[li];
      clt_scope_begin();
      clt_tensor *a, *as, *b, *bs;
      wide_pair(dev, dt, n, 0, &a, &as);
      wide_pair(dev, dt, n, 1, &b, &bs);
      char what[96];
      for (int op = 0; op < CLT_OP_COUNT; op++) {
        /* each row in one of the two types (their wide kernels share everything but the loads and
         * stores, which the casts below and the other rows check): a cold run compiles half as
         * many kernels (PoCL: about 0.1 s each) */
        if (!clt__op_valid(op) || !clt__op_takes_bool((clt_op)op, dt, dt) || op % 2 != k) continue;
        snprintf(what, sizeof what, "%s(%s) of %lld on %s", clt_op_name((clt_op)op), clt_dtype_name(dt), (long long)n,
                 clt_device_spec(dev));
        if (clt__op_is_unary((clt_op)op)) {
          assert_same_bits(clt_unary((clt_op)op, a, 0.3, 0.7), clt_unary((clt_op)op, as, 0.3, 0.7), true, what);
          if (clt__op_table[op].grad[CLT__FORM_TENSOR][0].kind == CLT__T_NONE) continue;
          clt_tensor *la = clt_detach(a), *ls = clt_detach(as), *g = clt_mul_scalar(b, 1);
          clt_set_requires_grad(la, true);
          clt_set_requires_grad(ls, true);
          ck_assert_int_eq(clt_backward(clt_unary((clt_op)op, la, 0.3, 0.7), g), CLT_OK);
          ck_assert_int_eq(clt_backward(clt_unary((clt_op)op, ls, 0.3, 0.7), g), CLT_OK);
          strcat(what, ", gradient");
          assert_same_bits(clt_grad(la), clt_grad(ls), true, what);
        } else if (clt__op_arity((clt_op)op) == 2) {
          assert_same_bits(clt_binary((clt_op)op, a, b), clt_binary((clt_op)op, as, bs), true, what);
          if (clt__op_table[op].forms & 1 << CLT__FORM_SCALAR)
            assert_same_bits(clt_binary_scalar((clt_op)op, a, 1.5), clt_binary_scalar((clt_op)op, as, 1.5), true, what);
        }
      }
      clt_dtype other = k ? CLT_FLOAT16 : CLT_BFLOAT16;
      snprintf(what, sizeof what, "casts of %s, %lld elements, on %s", clt_dtype_name(dt), (long long)n, clt_device_spec(dev));
      assert_same_bits(clt_cast(a, CLT_FLOAT32), clt_cast(as, CLT_FLOAT32), false, what);
      assert_same_bits(clt_cast(a, other), clt_cast(as, other), false, what);
      clt_tensor *f = clt_cast(a, CLT_FLOAT32);
      float *fv = to_host(f, 4), *f2 = calloc((size_t)(2 * n), sizeof *f2);
      for (int64_t i = 0; i < n; i++) f2[2 * i] = fv[i];
      int64_t m = 2 * n;
      clt_tensor *fs = clt_slice(clt_from_host(dev, CLT_FLOAT32, 1, &m, f2), 0, 0, m, 2);
      assert_same_bits(clt_cast(f, dt), clt_cast(fs, dt), false, what);
      assert_same_bits(clt_cast(f, other), clt_cast(fs, other), false, what);
      free(fv);
      free(f2);
      clt_scope_end();
    }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("half");
  TCase *tc = tu_tcase("half");
  TU_DEVICES(tc, all_bit_patterns_round_trip);
  TU_DEVICES(tc, float32_rounds_to_nearest_even);
  TU_DEVICES(tc, wide_sources_round_once);
  TU_DEVICES(tc, to_integers_saturate);
  TU_DEVICES(tc, create_view_print_item);
  tcase_add_test(tc, array_helpers);
  TU_DEVICES(tc, ops_compute_in_float32);
  TU_DEVICES(tc, gradients_match_float64);
  TU_DEVICES(tc, composites_run_in_float32);
  TU_DEVICES(tc, other_ops_match_float32);
  TU_DEVICES(tc, chains_run_repeatedly);
  TU_DEVICES(tc, wide_kernels_match_one_element_kernels);
  TU_DEVICES(tc, safetensors_agree_with_pytorch);
  TU_DEVICES(tc, grad_scaler_follows_pytorch);
  TU_DEVICES(tc, loss_scaling_keeps_small_gradients);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
