/* An application's own buffers as tensors (clt_cl_tensor_wrap), and the backend entry that
 * adopts a cl_mem for the core (wrap_handle: DLPack's kDLOpenCL tensors come through it too). */
#include "cl_internal.h"

/* The buffer must be a buffer (not an image) of dev's context: clt's kernels, queue and pool
 * all live in that one context, and OpenCL leaves a cl_mem of another context undefined there. */
clt_status clt__cl_wrap_handle(clt_device *dev, void *handle, clt__storage *st) {
  cl_mem m = (cl_mem)handle;
  cl_context ctx = NULL;
  cl_mem_object_type type = 0;
  size_t size = 0;
  cl_int err = CLT__CL(clGetMemObjectInfo(m, CL_MEM_TYPE, sizeof type, &type, NULL));
  if (err == CL_SUCCESS) err = CLT__CL(clGetMemObjectInfo(m, CL_MEM_CONTEXT, sizeof ctx, &ctx, NULL));
  if (err == CL_SUCCESS) err = CLT__CL(clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL));
  if (err != CL_SUCCESS) return clt__cl_fail("clGetMemObjectInfo", err, "asking about the application's buffer");
  if (type != CL_MEM_OBJECT_BUFFER)
    return clt__err(CLT_ERR_INVALID_ARG, "the cl_mem is not a buffer (CL_MEM_TYPE 0x%x)", (unsigned)type);
  if (ctx != clt__cl(dev)->ctx)
    return clt__err(CLT_ERR_DEVICE_MISMATCH,
                    "the buffer belongs to another OpenCL context than %s's; open the device on the "
                    "application's context with clt_cl_device_wrap",
                    dev->info.spec);
  if ((err = CLT__CL(clRetainMemObject(m))) != CL_SUCCESS)
    return clt__cl_fail("clRetainMemObject", err, "adopting the application's buffer");
  CLT__LIVE_INC(CLT__LIVE_BUFFERS);
  st->handle = m;
  st->nbytes = size;
  return CLT_OK;
}

clt_tensor *clt_cl_tensor_wrap(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape, const int64_t *strides,
                               cl_mem buf, size_t byte_offset) {
  clt__api("clt_cl_tensor_wrap");
  if (dev && dev->be != &clt__cl_backend) {
    clt__err(CLT_ERR_DEVICE_MISMATCH, "device %s is not an OpenCL device", dev->info.spec);
    return NULL;
  }
  return clt__ret(clt__wrap_lent(dev, buf, byte_offset, dtype, ndim, shape, strides, NULL, NULL));
}
