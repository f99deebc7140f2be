/* Memory clt does not own: DLPack import and export (clt/dlpack.h) on every device, and an
 * application's cl_mem wrapped as a tensor (clt_cl_tensor_wrap). */
#include "tu.h"

#ifdef CLT_HAVE_OPENCL
#include "clt/clt_cl.h"
#endif
#ifdef CLT_HAVE_DLPACK
#include "clt/dlpack.h"
#endif

#if defined(CLT_HAVE_OPENCL) || defined(CLT_HAVE_DLPACK)
/* t's values as doubles equal want[0..n). */
static void assert_vals(const clt_tensor *t, const double *want, int64_t n) {
  ck_assert_int_eq(clt_numel(t), n);
  double *v = tu_values(t);
  for (int64_t i = 0; i < n; i++) ck_assert_msg(v[i] == want[i], "element %lld: %g, want %g", (long long)i, v[i], want[i]);
  free(v);
}
#endif

#ifdef CLT_HAVE_OPENCL
/* A buffer of n floats 0, 1, 2, ... made by the test on dev's own context. */
static cl_mem app_buffer(clt_device *dev, size_t n) {
  cl_context ctx;
  cl_command_queue q;
  ck_assert_int_eq(clt_cl_device_get(dev, &ctx, NULL, &q), CLT_OK);
  float *host = malloc(n * sizeof *host);
  for (size_t i = 0; i < n; i++) host[i] = (float)i;
  cl_int err;
  cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n * sizeof *host, host, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  free(host);
  return m;
}

static cl_uint refcount(cl_mem m) {
  cl_uint n = 0;
  ck_assert_int_eq(clGetMemObjectInfo(m, CL_MEM_REFERENCE_COUNT, sizeof n, &n, NULL), CL_SUCCESS);
  return n;
}

START_TEST(cl_wrap_shares_the_application_buffer) {
  clt_device *dev = tu_cl();
  cl_command_queue q;
  ck_assert_int_eq(clt_cl_device_get(dev, NULL, NULL, &q), CLT_OK);
  cl_mem m = app_buffer(dev, 16);
  /* elements 2.. as a [3,4] view, then its transpose by strides */
  clt_tensor *t = clt_cl_tensor_wrap(dev, CLT_FLOAT32, CLT_SHAPE(3, 4), NULL, m, 2 * sizeof(float));
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(refcount(m), 2);
  ck_assert(clt_is_zero_copy(t));
  cl_mem back;
  size_t off;
  ck_assert_int_eq(clt_cl_tensor_get_buffer(t, &back, &off), CLT_OK);
  ck_assert_ptr_eq(back, m);
  ck_assert_uint_eq(off, 2 * sizeof(float));
  assert_vals(t, (const double[]){2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, 12);
  clt_tensor *tt = clt_cl_tensor_wrap(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), (const int64_t[]){1, 2}, m, 0);
  assert_vals(tt, (const double[]){0, 2, 4, 1, 3, 5}, 6);
  /* clt's writes reach the application's buffer, and the reverse */
  ck_assert_int_eq(clt_fill_(t, 7), CLT_OK);
  ck_assert_int_eq(clt_device_synchronize(dev), CLT_OK);
  float got[16], one = -1;
  ck_assert_int_eq(clEnqueueReadBuffer(q, m, CL_TRUE, 0, sizeof got, got, 0, NULL, NULL), CL_SUCCESS);
  ck_assert(got[1] == 1 && got[2] == 7 && got[13] == 7 && got[14] == 14);
  ck_assert_int_eq(clEnqueueWriteBuffer(q, m, CL_TRUE, 0, sizeof one, &one, 0, NULL, NULL), CL_SUCCESS);
  assert_vals(tt, (const double[]){-1, 7, 7, 1, 7, 7}, 6);
  /* the application drops its reference first: clt's keeps the buffer */
  clReleaseMemObject(m);
  ck_assert_uint_eq(refcount(m), 2);
  clt_release(tt);
  ck_assert_uint_eq(refcount(m), 1);
  assert_vals(clt_keep(t), (const double[]){7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, 12);
  clt_release(t); /* the last reference: the leak fixture sees the buffer counter back */
}
END_TEST

START_TEST(cl_wrap_refuses_what_it_cannot_hold) {
  clt_device *dev = tu_cl();
  cl_mem m = app_buffer(dev, 8);
  ck_assert_ptr_null(clt_cl_tensor_wrap(dev, CLT_FLOAT32, CLT_SHAPE(3, 3), NULL, m, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_cl_tensor_wrap", "reaches byte 0 + 36 of a buffer of 32 bytes");
  ck_assert_ptr_null(clt_cl_tensor_wrap(dev, CLT_INT64, CLT_SHAPE(4), NULL, m, 8));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "reaches byte 8 + 32 of a buffer of 32 bytes");
  ck_assert_ptr_null(clt_cl_tensor_wrap(dev, CLT_FLOAT32, CLT_SHAPE(2), NULL, m, 2));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "byte offset 2 is not a multiple of float32's 4 bytes");
  ck_assert_ptr_null(clt_cl_tensor_wrap(dev, CLT_FLOAT32, CLT_SHAPE(2, 2), (const int64_t[]){-1, 1}, m, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "stride -1 of dim 0 is negative");
  ck_assert_ptr_null(clt_cl_tensor_wrap(dev, CLT_FLOAT32, CLT_SHAPE(2), NULL, NULL, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "data is NULL for 2 elements");
  ck_assert_ptr_null(clt_cl_tensor_wrap(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(2), NULL, m, 0));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "host is not an OpenCL device");
  ck_assert_ptr_null(clt_cl_tensor_wrap(NULL, CLT_FLOAT32, CLT_SHAPE(2), NULL, m, 0));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  ck_assert_ptr_null(clt_cl_tensor_wrap(dev, (clt_dtype)99, CLT_SHAPE(2), NULL, m, 0));
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "dtype 99");
  /* a buffer of another context on the same device */
  cl_device_id id;
  ck_assert_int_eq(clt_cl_device_get(dev, NULL, &id, NULL), CLT_OK);
  cl_int err;
  cl_context other = clCreateContext(NULL, 1, &id, NULL, NULL, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  cl_mem foreign = clCreateBuffer(other, CL_MEM_READ_WRITE, 64, NULL, &err);
  ck_assert_ptr_null(clt_cl_tensor_wrap(dev, CLT_FLOAT32, CLT_SHAPE(2), NULL, foreign, 0));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "belongs to another OpenCL context", "clt_cl_device_wrap");
  ck_assert_uint_eq(refcount(foreign), 1);
  clReleaseMemObject(foreign);
  clReleaseContext(other);
  /* an empty view needs no buffer */
  clt_tensor *e = clt_cl_tensor_wrap(dev, CLT_FLOAT32, CLT_SHAPE(0, 3), NULL, NULL, 0);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(clt_numel(e), 0);
  clt_release(e);
  /* each driver call failing: a clean error, nothing retained */
  for (long n = 1;; n++) {
    clt__fault_reset();
    clt__fault_arm(n, 0);
    clt_tensor *t = clt_cl_tensor_wrap(dev, CLT_FLOAT32, CLT_SHAPE(8), NULL, m, 0);
    bool fired = clt__fault_fired();
    clt__fault_reset();
    if (!fired) {
      ck_assert_ptr_nonnull(t);
      clt_release(t);
      break;
    }
    ck_assert_ptr_null(t);
    ck_assert_uint_eq(refcount(m), 1);
  }
  clReleaseMemObject(m);
}
END_TEST
#endif

#ifdef CLT_HAVE_DLPACK
/* A producer's record over malloc'd memory, counting its deleter's calls. */
typedef struct {
  DLManagedTensor m;
  int64_t shape[CLT_MAX_DIMS], strides[CLT_MAX_DIMS];
  void *owned; /* host memory the deleter frees (NULL for a cl_mem the test releases) */
  int *deleted;
} producer;

static void producer_delete(DLManagedTensor *m) {
  producer *p = m->manager_ctx;
  ++*p->deleted;
  free(p->owned);
  free(p);
}

static DLManagedTensor *produce(DLDataType dt, int ndim, const int64_t *shape, const int64_t *strides, size_t bytes,
                                int *deleted) {
  producer *p = calloc(1, sizeof *p);
  p->deleted = deleted;
  p->m.manager_ctx = p;
  p->m.deleter = producer_delete;
  p->m.dl_tensor.data = p->owned = bytes ? calloc(1, bytes) : NULL;
  p->m.dl_tensor.device = (DLDevice){kDLCPU, 0};
  p->m.dl_tensor.ndim = ndim;
  p->m.dl_tensor.dtype = dt;
  memcpy(p->shape, shape, (size_t)ndim * sizeof *shape);
  p->m.dl_tensor.shape = p->shape;
  if (strides) {
    memcpy(p->strides, strides, (size_t)ndim * sizeof *strides);
    p->m.dl_tensor.strides = p->strides;
  }
  return &p->m;
}

static const struct {
  clt_dtype dt;
  uint8_t code, bits;
} dl_types[] = {{CLT_FLOAT32, kDLFloat, 32}, {CLT_FLOAT64, kDLFloat, 64}, {CLT_INT32, kDLInt, 32},
                {CLT_INT64, kDLInt, 64},     {CLT_UINT8, kDLUInt, 8},     {CLT_BOOL, CLT_DLPACK_BOOL, 8},
                {CLT_FLOAT16, kDLFloat, 16}, {CLT_BFLOAT16, kDLBfloat, 16}};

START_TEST(dlpack_round_trips_every_dtype) {
  clt_device *dev = TU_DEV;
  bool host = clt__is_host(dev);
  for (size_t k = 0; k < sizeof dl_types / sizeof dl_types[0]; k++) {
    if (dl_types[k].dt == CLT_FLOAT64 && !dev->info.fp64) continue;
    clt_tensor *a = clt_arange(dev, dl_types[k].dt, 0, 6, 1);
    if (dl_types[k].dt == CLT_BOOL) {
      clt_release(a);
      a = clt_full(dev, CLT_BOOL, CLT_SHAPE(6), 1);
    }
    clt_tensor *t = clt_reshape(a, CLT_SHAPE(2, 3));
    clt_tensor *v = clt_transpose(t, 0, 1); /* [3,2], strides [1,3] */
    clt_tensor *s = clt_slice(v, 0, 1, 3, 1); /* offset 1 */
    DLManagedTensor *m;
    ck_assert_int_eq(clt_to_dlpack(s, &m), CLT_OK);
    const DLTensor *d = &m->dl_tensor;
    ck_assert_int_eq(d->device.device_type, host ? kDLCPU : kDLOpenCL);
    ck_assert_int_eq(d->device.device_id, 0);
    ck_assert_uint_eq(d->dtype.code, dl_types[k].code);
    ck_assert_uint_eq(d->dtype.bits, dl_types[k].bits);
    ck_assert_uint_eq(d->dtype.lanes, 1);
    ck_assert_int_eq(d->ndim, 2);
    ck_assert(d->shape[0] == 2 && d->shape[1] == 2 && d->strides[0] == 1 && d->strides[1] == 3);
    ck_assert_uint_eq(d->byte_offset, clt_dtype_size(dl_types[k].dt));
    if (host) {
      ck_assert_ptr_eq((char *)d->data + d->byte_offset, clt_host_data(s));
    }
#ifdef CLT_HAVE_OPENCL
    else {
      cl_mem buf;
      ck_assert_int_eq(clt_cl_tensor_get_buffer(s, &buf, NULL), CLT_OK);
      ck_assert_ptr_eq(d->data, buf);
    }
#endif
    clt_tensor *back = clt_from_dlpack(dev, m);
    ck_assert_msg(back != NULL, "%s", clt_last_error());
    ck_assert(clt_is_zero_copy(back));
    double *want = tu_values(s);
    assert_vals(back, want, 4);
    free(want);
    /* a write through the import reaches the export's memory */
    ck_assert_int_eq(clt_fill_(back, 0), CLT_OK);
    double *after = tu_values(a);
    bool b = dl_types[k].dt == CLT_BOOL; /* all ones, else 0 .. 5 */
    ck_assert(after[1] == 0 && after[4] == 0 && after[2] == 0 && after[5] == 0);
    ck_assert(after[0] == (b ? 1 : 0) && after[3] == (b ? 1 : 3));
    free(after);
    clt_release(back);
    clt_release(s);
    clt_release(v);
    clt_release(t);
    clt_release(a);
  }
}
END_TEST

START_TEST(dlpack_scalars_and_empty_tensors) {
  clt_device *dev = TU_DEV;
  clt_tensor *z = clt_full(dev, CLT_INT32, 0, NULL, 42);
  DLManagedTensor *m;
  ck_assert_int_eq(clt_to_dlpack(z, &m), CLT_OK);
  ck_assert_int_eq(m->dl_tensor.ndim, 0);
  clt_tensor *back = clt_from_dlpack(dev, m);
  ck_assert_int_eq(clt_ndim(back), 0);
  int64_t v;
  ck_assert_int_eq(clt_item_int64(back, &v), CLT_OK);
  ck_assert_int_eq(v, 42);
  clt_release(back);
  clt_release(z);
  clt_tensor *e = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(3, 0, 2));
  ck_assert_int_eq(clt_to_dlpack(e, &m), CLT_OK);
  clt_release(e);
  back = clt_from_dlpack(dev, m);
  ck_assert_ptr_nonnull(back);
  ck_assert(clt_ndim(back) == 3 && clt_size(back, 0) == 3 && clt_size(back, 1) == 0 && clt_numel(back) == 0);
  clt_release(back);
}
END_TEST

/* The export's consumer holds the tensor: the producer's release does not free it. */
START_TEST(dlpack_export_outlives_its_producer) {
  clt_device *dev = TU_DEV;
  clt_tensor *t = clt_arange(dev, CLT_FLOAT32, 0, 4, 1);
  DLManagedTensor *m;
  ck_assert_int_eq(clt_to_dlpack(t, &m), CLT_OK);
  long live = atomic_load(&clt__live[CLT__LIVE_STORAGES]);
  clt_release(t);
  ck_assert_int_eq(atomic_load(&clt__live[CLT__LIVE_STORAGES]), live); /* still held by m */
  clt_tensor *back = clt_from_dlpack(dev, m);
  clt_tensor *sl = clt_slice(back, 0, 2, 4, 1);
  clt_release(back);
  assert_vals(sl, (const double[]){2, 3}, 2);
  clt_release(sl); /* the deleter runs: the fixture sees every counter back */
}
END_TEST

/* A host producer's memory stays until the last clt tensor on it goes; the deleter runs once. */
START_TEST(dlpack_import_calls_the_deleter_once) {
  int deleted = 0;
  DLManagedTensor *m = produce((DLDataType){kDLInt, 64, 1}, 2, (const int64_t[]){2, 3}, NULL, 6 * 8, &deleted);
  int64_t *data = m->dl_tensor.data;
  for (int i = 0; i < 6; i++) data[i] = 10 * i;
  clt_tensor *t = clt_from_dlpack(NULL, m);
  ck_assert_ptr_nonnull(t);
  ck_assert_ptr_eq(clt_host_data(t), data);
  clt_tensor *row = clt_slice(t, 0, 1, 2, 1);
  clt_release(t);
  ck_assert_int_eq(deleted, 0);
  data[4] = -7; /* the producer's write is seen through clt */
  assert_vals(row, (const double[]){30, -7, 50}, 3);
  clt_release(row);
  ck_assert_int_eq(deleted, 1);
  /* strides in elements, and a byte offset */
  m = produce((DLDataType){kDLFloat, 32, 1}, 2, (const int64_t[]){2, 2}, (const int64_t[]){1, 3}, 8 * 4, &deleted);
  float *f = m->dl_tensor.data;
  for (int i = 0; i < 8; i++) f[i] = (float)i;
  m->dl_tensor.byte_offset = 4;
  t = clt_from_dlpack(tu_dev[0], m);
  assert_vals(t, (const double[]){1, 4, 2, 5}, 4);
  clt_release(t);
  ck_assert_int_eq(deleted, 2);
}
END_TEST

START_TEST(dlpack_refuses_with_the_deleter_called) {
  int deleted = 0, want = 0;
  static const struct {
    DLDataType dt;
    DLDevice dev;
    int64_t stride;
    bool need_cl;
    clt_status st;
    const char *msg;
  } cases[] = {
      {{kDLFloat, 8, 1}, {kDLCPU, 0}, 1, false, CLT_ERR_DTYPE, "DLPack dtype float8 (code 2) with 1 lanes has no clt dtype"},
      {{kDLFloat, 32, 4}, {kDLCPU, 0}, 1, false, CLT_ERR_DTYPE, "float32 (code 2) with 4 lanes"},
      {{kDLBfloat, 32, 1}, {kDLCPU, 0}, 1, false, CLT_ERR_DTYPE, "bfloat32"},
      {{9, 8, 1}, {kDLCPU, 0}, 1, false, CLT_ERR_DTYPE, "unknown8 (code 9)"},
      {{kDLFloat, 32, 1}, {kDLCUDA, 0}, 1, false, CLT_ERR_UNSUPPORTED, "device type 2 (kDLCUDA) is not one clt has"},
      {{kDLFloat, 32, 1}, {kDLCPU, 0}, -1, false, CLT_ERR_INVALID_ARG, "stride -1 of dim 0 is negative"},
      {{kDLFloat, 32, 1}, {kDLOpenCL, 0}, 1, false, CLT_ERR_INVALID_ARG, "dev is NULL for a kDLOpenCL tensor"},
      {{kDLFloat, 32, 1}, {kDLCPU, 0}, 1, true, CLT_ERR_DEVICE_MISMATCH, "a kDLCPU tensor lives in host memory"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    if (cases[k].need_cl && !tu_cl()) continue;
    DLManagedTensor *m = produce(cases[k].dt, 1, (const int64_t[]){4}, (const int64_t[]){cases[k].stride}, 16, &deleted);
    if (cases[k].dev.device_type != kDLCPU) m->dl_tensor.device = cases[k].dev;
    ck_assert_ptr_null(clt_from_dlpack(cases[k].need_cl ? tu_cl() : NULL, m));
    TU_ASSERT_ERR(cases[k].st, "clt_from_dlpack", cases[k].msg);
    ck_assert_int_eq(deleted, ++want);
  }
  ck_assert_ptr_null(clt_from_dlpack(NULL, NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_from_dlpack: argument m is NULL");
  /* the host allocations of an import failing one by one */
  for (long n = 1;; n++) {
    DLManagedTensor *m = produce((DLDataType){kDLFloat, 32, 1}, 1, (const int64_t[]){4}, NULL, 16, &deleted);
    clt__fault_reset();
    clt__fault_arm(n, 0);
    clt_tensor *t = clt_from_dlpack(NULL, m);
    bool fired = clt__fault_fired();
    clt__fault_reset();
    if (!fired) {
      clt_release(t);
      ck_assert_int_eq(deleted, ++want);
      break;
    }
    ck_assert_ptr_null(t);
    ck_assert_int_eq(deleted, ++want);
  }
  /* exports refused */
  DLManagedTensor *m = (DLManagedTensor *)&want;
  clt_tensor *w = clt_ones(TU_DEV, CLT_FLOAT32, CLT_SHAPE(2));
  ck_assert_int_eq(clt_set_requires_grad(w, true), CLT_OK);
  ck_assert_int_eq(clt_to_dlpack(w, &m), CLT_ERR_AUTOGRAD);
  ck_assert_ptr_null(m);
  TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "clt_to_dlpack: the tensor requires grad; export clt_detach(t)");
  ck_assert_int_eq(clt_to_dlpack(w, NULL), CLT_ERR_INVALID_ARG);
  clt_release(w);
  clt_clear_error();
  ck_assert_int_eq(clt_to_dlpack(NULL, &m), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_to_dlpack", "t");
}
END_TEST

#ifdef CLT_HAVE_OPENCL
/* An application's kDLOpenCL record: its cl_mem is imported on the device of its context only. */
START_TEST(dlpack_opencl_buffers_need_their_context) {
  clt_device *dev = tu_cl();
  cl_mem buf = app_buffer(dev, 8);
  int deleted = 0;
  DLManagedTensor *m = produce((DLDataType){kDLFloat, 32, 1}, 1, (const int64_t[]){3}, NULL, 0, &deleted);
  m->dl_tensor.data = buf;
  m->dl_tensor.device = (DLDevice){kDLOpenCL, 0};
  m->dl_tensor.byte_offset = 16;
  clt_tensor *t = clt_from_dlpack(dev, m);
  ck_assert_msg(t != NULL, "%s", clt_last_error());
  assert_vals(t, (const double[]){4, 5, 6}, 3);
  clt_release(t);
  ck_assert_int_eq(deleted, 1);
  /* a view past the end, and a buffer of another context (a second open of the same device) */
  m = produce((DLDataType){kDLFloat, 32, 1}, 1, (const int64_t[]){3}, NULL, 0, &deleted);
  m->dl_tensor.data = buf;
  m->dl_tensor.device = (DLDevice){kDLOpenCL, 0};
  m->dl_tensor.byte_offset = 24;
  ck_assert_ptr_null(clt_from_dlpack(dev, m));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_from_dlpack", "reaches byte 24 + 12 of a buffer of 32 bytes");
  ck_assert_int_eq(deleted, 2);
  ck_assert_uint_eq(refcount(buf), 1);
  clReleaseMemObject(buf);
  clt_device *other;
  ck_assert_int_eq(clt_device_open(dev->info.spec, &other), CLT_OK);
  cl_mem foreign = app_buffer(other, 4);
  m = produce((DLDataType){kDLFloat, 32, 1}, 1, (const int64_t[]){3}, NULL, 0, &deleted);
  m->dl_tensor.data = foreign;
  m->dl_tensor.device = (DLDevice){kDLOpenCL, 0};
  ck_assert_ptr_null(clt_from_dlpack(dev, m));
  TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "clt_from_dlpack", "another OpenCL context");
  ck_assert_int_eq(deleted, 3);
  ck_assert_uint_eq(refcount(foreign), 1);
  clReleaseMemObject(foreign);
  clt_device_release(other);
}
END_TEST
#endif
#endif

static Suite *suite(void) {
  Suite *s = suite_create("dlpack");
  TCase *tc = tu_tcase("dlpack");
#ifdef CLT_HAVE_OPENCL
  if (tu_cl()) {
    tcase_add_test(tc, cl_wrap_shares_the_application_buffer);
    tcase_add_test(tc, cl_wrap_refuses_what_it_cannot_hold);
  }
#endif
#ifdef CLT_HAVE_DLPACK
  TU_DEVICES(tc, dlpack_round_trips_every_dtype);
  TU_DEVICES(tc, dlpack_scalars_and_empty_tensors);
  TU_DEVICES(tc, dlpack_export_outlives_its_producer);
  tcase_add_test(tc, dlpack_import_calls_the_deleter_once);
  TU_DEVICES(tc, dlpack_refuses_with_the_deleter_called);
#ifdef CLT_HAVE_OPENCL
  if (tu_cl()) tcase_add_test(tc, dlpack_opencl_buffers_need_their_context);
#endif
#endif
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_FEW_KERNELS); }
