/* DLPack import and export (include/clt/dlpack.h). The core names no backend API: an exported
 * tensor's data is its storage's host memory (host device) or its backend memory object
 * (st->handle: the cl_mem), and an import goes through clt__wrap_lent. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "clt/dlpack.h"
#include "fusion.h"

/* clt dtype <-> DLPack (code, bits), lanes 1. */
static const struct {
  clt_dtype dt;
  uint8_t code, bits;
} dtypes[] = {
    {CLT_FLOAT32, kDLFloat, 32}, {CLT_FLOAT64, kDLFloat, 64}, {CLT_INT32, kDLInt, 32},
    {CLT_INT64, kDLInt, 64},     {CLT_UINT8, kDLUInt, 8},     {CLT_BOOL, CLT_DLPACK_BOOL, 8},
    {CLT_FLOAT16, kDLFloat, 16}, {CLT_BFLOAT16, kDLBfloat, 16},
};

/* Backend (its table's name) <-> DLPack device type. A backend with no row cannot exchange. */
static const struct {
  const char *backend;
  DLDeviceType type;
} devtypes[] = {{"host", kDLCPU}, {"opencl", kDLOpenCL}};

static const char *devtype_name(int type) {
  switch (type) {
  case kDLCPU: return "kDLCPU";
  case kDLCUDA: return "kDLCUDA";
  case kDLCUDAHost: return "kDLCUDAHost";
  case kDLOpenCL: return "kDLOpenCL";
  case kDLVulkan: return "kDLVulkan";
  case kDLMetal: return "kDLMetal";
  case kDLROCM: return "kDLROCM";
  default: return "unknown";
  }
}

/* What an export holds: the DLPack record, its shape and strides, and the reference to t. */
typedef struct {
  DLManagedTensor m;
  int64_t shape[CLT_MAX_DIMS];
  int64_t strides[CLT_MAX_DIMS];
  clt_tensor *t;
} export_ctx;

static void export_deleter(DLManagedTensor *m) {
  if (!m) return;
  export_ctx *e = m->manager_ctx;
  clt__tensor_release(e->t);
  clt__free_mem(e);
}

clt_status clt_to_dlpack(clt_tensor *t, DLManagedTensor **out) {
  clt__api("clt_to_dlpack");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!t) return clt__null_arg("t");
  if (t->requires_grad)
    return clt__err(CLT_ERR_AUTOGRAD, "the tensor requires grad; export clt_detach(t) (as PyTorch)");
  clt_device *dev = t->st->dev;
  size_t k = 0, nd = sizeof devtypes / sizeof devtypes[0];
  while (k < nd && strcmp(devtypes[k].backend, dev->be->name) != 0) k++;
  if (k == nd) return clt__err(CLT_ERR_UNSUPPORTED, "%s (backend %s) has no DLPack device type", dev->info.spec, dev->be->name);
  size_t j = 0, ndt = sizeof dtypes / sizeof dtypes[0];
  while (j < ndt && dtypes[j].dt != t->dtype) j++;
  if (j == ndt) return clt__err(CLT_ERR_UNSUPPORTED, "dtype %s has no DLPack code in clt", clt_dtype_name(t->dtype));
  clt_status s = clt__fusion_settle(t->st, true); /* the consumer may read and write the memory */
  if (s == CLT_OK) s = dev->be->sync(dev); /* DLPack has no queue to order with: the values are ready */
  if (s != CLT_OK) return s;
  export_ctx *e = clt__calloc(1, sizeof *e);
  if (!e) return clt__err(CLT_ERR_OOM, "cannot allocate the DLPack record");
  const char *colon = strchr(dev->info.spec, ':');
  DLTensor *d = &e->m.dl_tensor;
  d->data = clt__is_host(dev) ? t->st->ptr : t->st->handle;
  d->device.device_type = devtypes[k].type;
  d->device.device_id = colon ? atoi(colon + 1) : 0;
  d->ndim = t->ndim;
  d->dtype = (DLDataType){.code = dtypes[j].code, .bits = dtypes[j].bits, .lanes = 1};
  memcpy(e->shape, t->shape, sizeof e->shape);
  memcpy(e->strides, t->strides, sizeof e->strides);
  d->shape = e->shape;
  d->strides = e->strides;
  d->byte_offset = (uint64_t)t->offset * clt_dtype_size(t->dtype);
  e->m.manager_ctx = e;
  e->m.deleter = export_deleter;
  e->t = clt__retain(t);
  clt__range_forget(t->st); /* the consumer may write */
  *out = &e->m;
  return CLT_OK;
}

static void call_deleter(void *data, void *user) {
  (void)data;
  DLManagedTensor *m = user;
  if (m->deleter) m->deleter(m);
}

/* The clt dtype of a DLPack dtype, or an error naming it. */
static clt_status import_dtype(DLDataType t, clt_dtype *out) {
  for (size_t j = 0; j < sizeof dtypes / sizeof dtypes[0]; j++)
    if (dtypes[j].code == t.code && dtypes[j].bits == t.bits && t.lanes == 1) {
      *out = dtypes[j].dt;
      return CLT_OK;
    }
  static const char *const codes[] = {"int", "uint", "float", "opaque handle", "bfloat", "complex", "bool"};
  return clt__err(CLT_ERR_DTYPE, "DLPack dtype %s%u (code %u) with %u lanes has no clt dtype",
                  t.code < sizeof codes / sizeof codes[0] ? codes[t.code] : "unknown", t.bits, t.code, t.lanes);
}

/* The device to import onto (a new reference): the host for kDLCPU, dev for kDLOpenCL. */
static clt_status import_device(clt_device *dev, DLDevice where, clt_device **out) {
  *out = NULL;
  size_t k = 0, nd = sizeof devtypes / sizeof devtypes[0];
  while (k < nd && devtypes[k].type != where.device_type) k++;
  if (k == nd)
    return clt__err(CLT_ERR_UNSUPPORTED, "DLPack device type %d (%s) is not one clt has (kDLCPU, kDLOpenCL)",
                    (int)where.device_type, devtype_name(where.device_type));
  if (where.device_type == kDLCPU) {
    if (dev && !clt__is_host(dev))
      return clt__err(CLT_ERR_DEVICE_MISMATCH, "a kDLCPU tensor lives in host memory, not on %s; import it on the "
                      "host (dev NULL), then clt_to", dev->info.spec);
    return clt__host_for(dev, out);
  }
  if (!dev)
    return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL for a %s tensor: its memory belongs to one context, "
                    "so name the clt device whose context made it", devtype_name(where.device_type));
  if (strcmp(dev->be->name, devtypes[k].backend) != 0)
    return clt__err(CLT_ERR_DEVICE_MISMATCH, "a %s tensor cannot be imported on %s", devtype_name(where.device_type),
                    dev->info.spec);
  *out = clt_device_retain(dev);
  return CLT_OK;
}

clt_tensor *clt_from_dlpack(clt_device *dev, DLManagedTensor *m) {
  clt__api("clt_from_dlpack");
  if (!m) {
    clt__err(CLT_ERR_INVALID_ARG, "argument m is NULL");
    return NULL;
  }
  const DLTensor *d = &m->dl_tensor;
  clt_dtype dt = CLT_FLOAT32;
  clt_device *on = NULL;
  if (import_dtype(d->dtype, &dt) != CLT_OK || import_device(dev, d->device, &on) != CLT_OK) {
    call_deleter(NULL, m);
    return NULL;
  }
  if (d->byte_offset > SIZE_MAX) {
    clt__device_drop(on);
    call_deleter(NULL, m);
    clt__err(CLT_ERR_OVERFLOW, "byte_offset %llu does not fit in size_t", (unsigned long long)d->byte_offset);
    return NULL;
  }
  clt_tensor *t = clt__wrap_lent(on, d->data, (size_t)d->byte_offset, dt, d->ndim, d->shape, d->strides,
                                 call_deleter, m);
  clt__device_drop(on); /* the storage holds its own */
  return clt__ret(t);
}
