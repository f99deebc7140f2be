#define _POSIX_C_SOURCE 200809L
/* Host conversions (copy or share, as named) and scopes. */
#include <stdio.h>
#include <unistd.h>

#include "clt/io.h"
#include "tu.h"

static int frees;
static void *freed_data, *freed_user;
static void count_free(void *data, void *user) {
  frees++;
  freed_data = data;
  freed_user = user;
}

START_TEST(from_host_copies) {
  clt_device *dev = TU_DEV;
  float a[2][3] = {{1, 2, 3}, {4, 5, 6}};
  clt_tensor *t = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), a);
  a[0][0] = 100; /* a copy: the tensor does not see this */
  tu_assert_values(t, 2, (const int64_t[]){2, 3}, (const double[]){1, 2, 3, 4, 5, 6});
  float back[6] = {0};
  ck_assert_int_eq(clt_to_host(t, back, sizeof back), CLT_OK);
  ck_assert(back[5] == 6.0f);
  ck_assert_int_eq(clt_to_host(t, back, sizeof back - 1), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_to_host: dst_bytes 23 is too small for float32 [2,3] (24 bytes needed)");
  ck_assert_int_eq(clt_to_host(t, NULL, 24), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument dst is NULL");
  ck_assert_ptr_null(clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2), NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_from_host: argument data is NULL for 2 elements");
  clt_tensor *e = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(0, 4), NULL); /* nothing to read */
  ck_assert_ptr_nonnull(e);
  clt_release(e);
  clt_release(t);
}
END_TEST

START_TEST(wrap_host_shares_and_frees_once) {
  double *mem = malloc(12 * sizeof *mem);
  for (int i = 0; i < 12; i++) mem[i] = i;
  frees = 0;
  int user = 42;
  /* a strided (column) view of a 3x4 row-major array: shape [4,3], strides [1,4] */
  clt_tensor *t = clt_wrap_host(CLT_FLOAT64, CLT_SHAPE(4, 3), (const int64_t[]){1, 4}, mem, count_free, &user);
  ck_assert_ptr_nonnull(t);
  ck_assert_ptr_eq(clt_host_data(t), mem);
  ck_assert(clt_is_zero_copy(t));
  mem[1] = 100; /* shared: the tensor sees it */
  tu_assert_values(t, 2, (const int64_t[]){4, 3}, (const double[]){0, 4, 8, 100, 5, 9, 2, 6, 10, 3, 7, 11});
  clt_tensor *v = clt_slice(t, 0, 1, 3, 1);
  ck_assert_ptr_eq(clt_host_data(v), mem + 1);
  ck_assert(clt_is_zero_copy(v)); /* a view shares what its base shares */
  clt_tensor *copy = clt_contiguous(t);  /* not contiguous: a copy clt owns */
  ck_assert(!clt_is_zero_copy(copy));
  clt_release(copy);
  ck_assert(!clt_is_zero_copy(NULL));
  clt_release(t);
  ck_assert_int_eq(frees, 0); /* the view keeps the memory alive */
  clt_release(v);
  ck_assert_int_eq(frees, 1);
  ck_assert_ptr_eq(freed_data, mem);
  ck_assert_ptr_eq(freed_user, &user);
  free(mem);
  /* on failure free_fn runs too, exactly once */
  int dummy[4];
  frees = 0;
  ck_assert_ptr_null(clt_wrap_host(CLT_INT32, CLT_SHAPE(2, 2), (const int64_t[]){2, -1}, dummy, count_free, NULL));
  ck_assert_int_eq(frees, 1);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_wrap_host: stride -1 of dim 1 is negative");
  ck_assert_ptr_null(clt_wrap_host((clt_dtype)9, CLT_SHAPE(2), NULL, dummy, count_free, NULL));
  ck_assert_int_eq(frees, 2);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_wrap_host: dtype 9 is not a clt dtype");
  ck_assert_ptr_null(clt_wrap_host(CLT_INT32, CLT_SHAPE(2), NULL, NULL, count_free, NULL));
  ck_assert_int_eq(frees, 3);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument data is NULL for 2 elements");
  ck_assert_ptr_null(clt_wrap_host(CLT_INT32, CLT_SHAPE(2, 2), (const int64_t[]){INT64_MAX, 1}, dummy, count_free, NULL));
  ck_assert_int_eq(frees, 4);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "strides reach past 2^63 elements");
  /* allocation failure inside the wrap: still exactly once */
  for (long n = 1; n <= 4; n++) {
    frees = 0;
    clt__fault_reset();
    clt__fault_arm(n, 0);
    clt_tensor *w = clt_wrap_host(CLT_INT32, CLT_SHAPE(4), NULL, dummy, count_free, NULL);
    bool fired = clt__fault_fired();
    clt__fault_reset();
    if (fired) {
      ck_assert_ptr_null(w);
      ck_assert_int_eq(frees, 1);
      ck_assert_int_eq(clt_last_status(), CLT_ERR_OOM);
      clt_clear_error();
    } else {
      ck_assert_ptr_nonnull(w);
      clt_release(w);
      ck_assert_int_eq(frees, 1);
    }
  }
  /* no free_fn: the caller keeps ownership */
  clt_tensor *z = clt_wrap_host(CLT_INT32, CLT_SHAPE(0), NULL, dummy, NULL, NULL);
  ck_assert_ptr_nonnull(z);
  clt_release(z);
}
END_TEST

/* Zero-copy import: the device works on the caller's memory itself. */
START_TEST(wrap_host_on_shares_with_the_device) {
  clt_device *dev = TU_DEV;
  clt_device_info in;
  clt_device_get_info(dev, &in);
  float *mem = malloc(8 * sizeof *mem);
  for (int i = 0; i < 8; i++) mem[i] = (float)i;
  frees = 0;
  clt_tensor *t = clt_wrap_host_on(dev, CLT_FLOAT32, CLT_SHAPE(2, 4), mem, count_free, NULL);
  if (!in.host_unified_memory) {
    ck_assert_ptr_null(t);
    ck_assert_int_eq(frees, 1);
    TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_wrap_host_on: ");
    free(mem);
    return;
  }
  ck_assert_msg(t != NULL, "%s", clt_last_error());
  ck_assert_ptr_eq(clt_device_of(t), dev);
  ck_assert(clt_is_zero_copy(t));
  clt_tensor *copied = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 4), mem);
  ck_assert(!clt_is_zero_copy(copied));
  clt_release(copied);
  clt_scope_begin();
  tu_assert_values(clt_sum(t, CLT_DIMS(1), false), 1, (const int64_t[]){2}, (const double[]){6, 22});
  ck_assert_int_eq(clt_add_(t, clt_ones(dev, CLT_FLOAT32, 0, NULL)), CLT_OK); /* written by the device ... */
  ck_assert_int_eq(clt_device_synchronize(dev), CLT_OK);
  ck_assert(mem[7] == 8.0f); /* ... seen in the caller's array: no copy was made */
  clt_scope_end();
  clt_release(t);
  ck_assert_int_eq(frees, 1);
  free(mem);
  ck_assert_ptr_null(clt_wrap_host_on(dev, CLT_FLOAT32, CLT_SHAPE(2), NULL, count_free, NULL));
  ck_assert_int_eq(frees, 2);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_wrap_host_on: argument data is NULL for 2 elements");
}
END_TEST

/* Import: shared where the device can share host memory, else copied with free_fn called at
 * once; clt_is_zero_copy says which. The copy path runs on PoCL with
 * CLT_DISABLE_HOST_UNIFIED (as on a discrete GPU), where clt_wrap_host_on refuses. */
START_TEST(import_host_on_shares_or_copies) {
  clt_device *devs[2] = {TU_DEV, NULL};
  if (!clt__is_host(devs[0])) {
    setenv("CLT_DISABLE_HOST_UNIFIED", "1", 1);
    ck_assert_int_eq(clt_device_open(clt_device_spec(devs[0]), &devs[1]), CLT_OK);
    unsetenv("CLT_DISABLE_HOST_UNIFIED");
  }
  for (int k = 0; k < 2 && devs[k]; k++) {
    clt_device *dev = devs[k];
    clt_device_info in;
    clt_device_get_info(dev, &in);
    bool shares = clt__is_host(dev) || in.host_unified_memory;
    float *mem = malloc(8 * sizeof *mem);
    for (int i = 0; i < 8; i++) mem[i] = (float)i;
    frees = 0;
    clt_tensor *t = clt_import_host_on(dev, CLT_FLOAT32, CLT_SHAPE(2, 4), mem, count_free, NULL);
    ck_assert_msg(t != NULL, "%s", clt_last_error());
    ck_assert_ptr_eq(clt_device_of(t), dev);
    ck_assert(clt_is_zero_copy(t) == shares);
    ck_assert_int_eq(frees, shares ? 0 : 1); /* copied: the caller's memory is no longer needed */
    clt_scope_begin();
    tu_assert_values(clt_sum(t, CLT_DIMS(1), false), 1, (const int64_t[]){2}, (const double[]){6, 22});
    ck_assert_int_eq(clt_add_(t, clt_ones(dev, CLT_FLOAT32, 0, NULL)), CLT_OK);
    ck_assert_int_eq(clt_device_synchronize(dev), CLT_OK);
    ck_assert(mem[7] == (shares ? 8.0f : 7.0f));
    clt_scope_end();
    clt_release(t);
    ck_assert_int_eq(frees, 1);
    if (!shares) {
      frees = 0;
      ck_assert_ptr_null(clt_wrap_host_on(dev, CLT_FLOAT32, CLT_SHAPE(2, 4), mem, count_free, NULL));
      ck_assert_int_eq(frees, 1);
      TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_wrap_host_on: ", "does not share memory with the host; copy with clt_from_host");
    }
    free(mem);
    frees = 0;
    ck_assert_ptr_null(clt_import_host_on(dev, CLT_FLOAT32, CLT_SHAPE(2), NULL, count_free, NULL));
    ck_assert_int_eq(frees, 1);
    TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_import_host_on: argument data is NULL for 2 elements");
  }
  clt_device_release(devs[1]);
  frees = 0;
  ck_assert_ptr_null(clt_import_host_on(NULL, CLT_FLOAT32, CLT_SHAPE(2), NULL, count_free, NULL));
  ck_assert_int_eq(frees, 1);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_import_host_on: argument dev is NULL");
}
END_TEST

START_TEST(host_data_is_for_host_tensors) {
  clt_tensor *t = clt_ones(tu_cl(), CLT_FLOAT32, CLT_SHAPE(2));
  ck_assert_ptr_null(clt_host_data(t));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_host_data: the tensor is on ", "not the host");
  clt_tensor *h = clt_to(t, tu_dev[0]);
  float *p = clt_host_data(h);
  ck_assert_ptr_nonnull(p);
  ck_assert(p[1] == 1.0f);
  clt_tensor *e = clt_zeros(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(0));
  ck_assert_ptr_nonnull(clt_host_data(e)); /* valid, though there is nothing behind it */
  clt_release(e);
  clt_release(h);
  clt_release(t);
}
END_TEST

START_TEST(to_moves_between_devices) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *h = clt_reshape(clt_arange(tu_dev[0], CLT_INT64, 0, 12, 1), CLT_SHAPE(3, 4));
  clt_tensor *d = clt_to(h, dev);
  ck_assert_ptr_eq(clt_device_of(d), dev);
  ck_assert_ptr_eq(clt_to(d, dev), d); /* already there: the same tensor */
  /* a strided view goes over as a contiguous copy, and comes back */
  clt_tensor *v = clt_transpose(d, 0, 1);
  clt_tensor *back = clt_contiguous(clt_to(v, tu_dev[0]));
  ck_assert(clt_is_contiguous(back));
  tu_assert_values(back, 2, (const int64_t[]){4, 3}, (const double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  clt_tensor *again = clt_to(clt_transpose(h, 0, 1), dev);
  tu_assert_values(again, 2, (const int64_t[]){4, 3}, (const double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  /* between two handles of one OpenCL device: a copy through the host */
  clt_device *other;
  ck_assert_int_eq(clt_device_open(clt_device_spec(dev), &other), CLT_OK);
  clt_tensor *o = clt_to(v, other);
  tu_assert_values(o, 2, (const int64_t[]){4, 3}, (const double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  ck_assert_ptr_eq(clt_device_of(o), _i == 0 ? clt_device_of(o) : other);
  clt_device_release(other);
  ck_assert_ptr_null(clt_to(h, NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_to: argument dev is NULL");
  clt_scope_end();
}
END_TEST

START_TEST(item_reads_one_element) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  clt_tensor *t = clt_from_host(dev, CLT_INT64, CLT_SHAPE(1, 1), (const int64_t[]){-(1LL << 60)});
  int64_t i;
  double v;
  ck_assert_int_eq(clt_item_int64(t, &i), CLT_OK);
  ck_assert_int_eq(i, -(1LL << 60));
  ck_assert_int_eq(clt_item(t, &v), CLT_OK);
  ck_assert(v == -1152921504606846976.0);
  clt_tensor *b = clt_from_host(dev, CLT_BOOL, CLT_SHAPE(3), (const uint8_t[]){0, 1, 0});
  ck_assert_int_eq(clt_item(clt_slice(b, 0, 1, 2, 1), &v), CLT_OK);
  ck_assert(v == 1.0);
  ck_assert_int_eq(clt_item(b, &v), CLT_ERR_SHAPE);
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_item: the tensor has shape [3] (3 elements); one is needed");
  ck_assert_int_eq(clt_item(b, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_item: argument out is NULL");
  ck_assert_int_eq(clt_item(NULL, &v), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_item: argument t is NULL");
  clt_tensor *f = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(1), 1e10);
  ck_assert_int_eq(clt_item_int64(f, &i), CLT_OK);
  ck_assert_int_eq(i, 10000000000LL);
  clt_scope_end();
}
END_TEST

START_TEST(scopes_release_what_they_track) {
  clt_device *dev = TU_DEV;
  long live = atomic_load(&clt__live[CLT__LIVE_TENSORS]);
  ck_assert_int_eq(clt_scope_depth(), 0);
  ck_assert_int_eq(clt_scope_begin(), CLT_OK);
  clt_tensor *a = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(4));
  clt_tensor *kept = clt_keep(clt_transpose(clt_reshape(a, CLT_SHAPE(2, 2)), 0, 1));
  ck_assert_int_eq(clt_scope_begin(), CLT_OK); /* nested */
  ck_assert_int_eq(clt_scope_depth(), 2);
  for (int i = 0; i < 1000; i++) clt_zeros(dev, CLT_INT32, CLT_SHAPE(3)); /* grows the scope */
  clt_tensor *inner = clt_ones(dev, CLT_INT32, CLT_SHAPE(1));
  clt_release(inner); /* released by hand inside a scope: not released twice */
  ck_assert_int_eq(clt_scope_end(), CLT_OK);
  ck_assert_int_eq(atomic_load(&clt__live[CLT__LIVE_TENSORS]), live + 3);
  ck_assert_int_eq(clt_scope_end(), CLT_OK);
  ck_assert_int_eq(atomic_load(&clt__live[CLT__LIVE_TENSORS]), live + 1);
  tu_assert_values(kept, 2, (const int64_t[]){2, 2}, (const double[]){1, 1, 1, 1});
  clt_release(kept);
  ck_assert_int_eq(clt_scope_end(), CLT_ERR_STATE);
  TU_ASSERT_ERR(CLT_ERR_STATE, "clt_scope_end: no scope is open");
  ck_assert_ptr_null(clt_keep(NULL));
  for (int i = 0; i < 64; i++) ck_assert_int_eq(clt_scope_begin(), CLT_OK);
  ck_assert_int_eq(clt_scope_begin(), CLT_ERR_STATE);
  TU_ASSERT_ERR(CLT_ERR_STATE, "64 scopes are open already");
  for (int i = 0; i < 64; i++) ck_assert_int_eq(clt_scope_end(), CLT_OK);
}
END_TEST

/* Every fault point of a conversion round trip, failed in turn: an error, no leak, and the
 * next clean run works. */
START_TEST(round_trip_survives_every_fault) {
  clt_device *dev = TU_DEV;
  float src[6] = {1, 2, 3, 4, 5, 6}, dst[6];
  for (long n = 1;; n++) {
    clt_device_empty_cache(dev);
    clt__fault_reset();
    clt__fault_arm(n, n % 2 ? -5 : -4);
    clt_clear_error();
    clt_scope_begin();
    clt_status st = CLT_OK;
    clt_tensor *t = clt_transpose(clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), src), 0, 1);
    clt_tensor *h = clt_to(clt_contiguous(t), tu_dev[0]);
    if (!h) st = clt_last_status();
    if (st == CLT_OK) st = clt_to_host(t, dst, sizeof dst);
    clt_scope_end();
    bool fired = clt__fault_fired();
    clt__fault_reset();
    if (!fired) {
      ck_assert_int_eq(st, CLT_OK);
      ck_assert(dst[1] == 4.0f);
      ck_assert_int_gt(n, 3);
      break;
    }
    ck_assert_msg(st != CLT_OK, "fault %ld fired but the round trip succeeded", n);
    ck_assert_msg(strchr(clt_last_error(), ':') != NULL, "fault %ld: %s", n, clt_last_error());
  }
  clt_clear_error();
}
END_TEST

/* A view whose element count fits in int64 but whose bytes do not fit in size_t (2^61 float64
 * elements: 2^64 bytes): every path that forms its byte count refuses it. Before, the count
 * wrapped to 0, clt_to_host into 16 bytes went ahead, and printing or saving it wrote past a
 * zero-byte buffer. */
START_TEST(byte_counts_past_size_max_are_refused) {
  clt_device *dev = TU_DEV;
  clt_scope_begin();
  const int64_t n = (int64_t)1 << 61;
  clt_tensor *v = clt_expand(clt_ones(dev, CLT_FLOAT64, CLT_SHAPE(1)), 1, &n);
  ck_assert_ptr_nonnull(v);
  ck_assert_int_eq(clt_numel(v), n);
  double buf[2];
  ck_assert_int_eq(clt_to_host(v, buf, sizeof buf), CLT_ERR_OVERFLOW);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_to_host: 2305843009213693952 elements of float64 overflow the address space");
  char text[64];
  ck_assert_int_eq(clt_format(v, text, sizeof text, NULL), CLT_ERR_OVERFLOW);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_format: 2305843009213693952 elements of float64 overflow");
  FILE *f = tmpfile();
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(clt_print(v, f), CLT_ERR_OVERFLOW);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_print: 2305843009213693952 elements of float64 overflow");
  ck_assert_int_eq(ftell(f), 0);
  fclose(f);
  ck_assert_ptr_null(clt_contiguous(v));
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_contiguous: 2305843009213693952 elements of float64 overflow");
  clt_device *other = dev == tu_dev[0] ? tu_cl() : tu_dev[0]; /* clt_to its own device moves nothing */
  if (other) {
    ck_assert_ptr_null(clt_to(v, other));
    TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_to: 2305843009213693952 elements of float64 overflow");
  }
  void *npy = NULL;
  size_t len = 0;
  ck_assert_int_eq(clt_format_npy(v, &npy, &len), CLT_ERR_OVERFLOW);
  ck_assert_ptr_null(npy);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_format_npy: ");
  char dir[] = "/tmp/clt-convert-XXXXXX", path[64];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/v.npy", dir);
  ck_assert_int_eq(clt_save_npy(path, v), CLT_ERR_OVERFLOW);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_save_npy: ");
  ck_assert_int_eq(rmdir(dir), 0); /* empty: no file, no temporary left */
  /* the same from wrapped memory: stride 0 over one element */
  static double one = 1;
  clt_tensor *w = clt_wrap_host(CLT_FLOAT64, 1, &n, (const int64_t[]){0}, &one, NULL, NULL);
  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(clt_to_host(w, buf, sizeof buf), CLT_ERR_OVERFLOW);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_to_host: 2305843009213693952 elements of float64 overflow the address space");
  clt_scope_end();
}
END_TEST

/* A .npy file in memory: version 1.0 with the given dtype and shape text, no data. */
static size_t npy_header(uint8_t *buf, size_t cap, const char *descr, const char *shape) {
  char dict[200];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
  size_t hlen = ((10 + (size_t)n + 1 + 63) / 64) * 64 - 10;
  ck_assert_uint_le(10 + hlen, cap);
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (uint8_t)(hlen & 0xff);
  buf[9] = (uint8_t)(hlen >> 8);
  memset(buf + 10, ' ', hlen);
  memcpy(buf + 10, dict, (size_t)n);
  buf[10 + hlen - 1] = '\n';
  return 10 + hlen;
}

/* An empty tensor with large dims from a file: loaded when its sizes fit, refused when they
 * would overflow (before, (0, 2^62, 2^62) loaded, and reductions and cat then overflowed). */
START_TEST(loaders_check_empty_shapes) {
  clt_device *dev = TU_DEV;
  uint8_t buf[256];
  clt_tensor *t = NULL;
  size_t n = npy_header(buf, sizeof buf, "<f4", "(0, 2147483648, 2147483648)");
  ck_assert_int_eq(clt_parse_npy(buf, n, dev, &t), CLT_OK);
  ck_assert_int_eq(clt_numel(t), 0);
  ck_assert_int_eq(clt_shape(t)[2], (int64_t)1 << 31);
  clt_tensor *s = clt_sum(t, CLT_DIMS(1, 2), false);
  tu_assert_values(s, 1, (const int64_t[]){0}, NULL);
  clt_release(s);
  clt_release(t);
  t = NULL;
  n = npy_header(buf, sizeof buf, "<f4", "(0, 4611686018427387904, 4611686018427387904)");
  clt_status st = clt_parse_npy(buf, n, dev, &t);
  ck_assert_ptr_null(t);
  /* refused by the shape rule (CLT_ERR_OVERFLOW) or by the header's own checks */
  ck_assert_msg(st == CLT_ERR_OVERFLOW || st == CLT_ERR_FORMAT, "status %s: %s", clt_status_name(st), clt_last_error());
  ck_assert_msg(strstr(clt_last_error(), "clt_parse_npy: ") == clt_last_error(), "%s", clt_last_error());
  char json[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[0,4611686018427387904,4611686018427387904],"
                 "\"data_offsets\":[0,0]}}";
  size_t jl = sizeof json - 1, pad = (8 - jl % 8) % 8;
  clt_tensor_list *l = NULL;
  for (int fits = 0; fits < 2; fits++) {
    if (fits) /* the same length, so the header length stays */
      memcpy(strstr(json, "[0,"), "[0,2147483648,2147483648]                  ", 43);
    memset(buf, 0, 8);
    buf[0] = (uint8_t)(jl + pad);
    memcpy(buf + 8, json, jl);
    memset(buf + 8 + jl, ' ', pad);
    st = clt_parse_safetensors(buf, 8 + jl + pad, dev, &l);
    if (!fits) {
      ck_assert_ptr_null(l);
      ck_assert_msg(st == CLT_ERR_OVERFLOW || st == CLT_ERR_FORMAT, "status %s: %s", clt_status_name(st),
                    clt_last_error());
    }
  }
  ck_assert_int_eq(st, CLT_OK);
  t = clt_tensor_list_at(l, 0);
  ck_assert_int_eq(clt_shape(t)[1], (int64_t)1 << 31);
  clt_release(t);
  clt_tensor_list_release(l);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("convert");
  TCase *tc = tu_tcase("convert");
  TU_DEVICES(tc, from_host_copies);
  tcase_add_test(tc, wrap_host_shares_and_frees_once);
  TU_DEVICES(tc, wrap_host_on_shares_with_the_device);
  TU_DEVICES(tc, import_host_on_shares_or_copies);
  if (tu_cl()) tcase_add_test(tc, host_data_is_for_host_tensors);
  TU_DEVICES(tc, to_moves_between_devices);
  TU_DEVICES(tc, item_reads_one_element);
  TU_DEVICES(tc, scopes_release_what_they_track);
  TU_DEVICES(tc, round_trip_survives_every_fault);
  TU_DEVICES(tc, byte_counts_past_size_max_are_refused);
  TU_DEVICES(tc, loaders_check_empty_shapes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
