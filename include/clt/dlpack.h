/* clt: DLPack, the exchange format of NumPy, PyTorch, JAX, CuPy and others (zero-copy both
 * ways). Built when the DLPack header is found (Debian: libdlpack-dev; meson option -Ddlpack);
 * not included by clt.h, so that using clt needs no DLPack header.
 *
 * Devices: a host tensor is kDLCPU (device_id 0): data is the host address of its storage and
 * byte_offset its first element's. A tensor on an OpenCL device is kDLOpenCL, by DLPack's
 * convention for OpenCL: data is the cl_mem and byte_offset the first element's offset in it;
 * device_id is N of the device's spec "cl:N" (0 for a device adopted with clt_cl_device_wrap).
 * A cl_mem belongs to one OpenCL context, and each clt_device_open makes its own context, so an
 * import of a kDLOpenCL tensor names the clt device whose context holds the buffer (device_id is
 * not enough to find it) and is refused for a buffer of another context.
 *
 * dtypes: float32, float64 (kDLFloat 32/64), int32, int64 (kDLInt 32/64), uint8 (kDLUInt 8) and
 * bool as kDLBool 8 (code 6, CLT_DLPACK_BOOL: defined since DLPack 0.8; the 0.6 header has no
 * name for it, and PyTorch and NumPy 1.25+ use that code). Lanes are always 1.
 *
 * Strides are in elements; clt exports them always, and takes NULL strides on import as
 * row-major contiguous. */
#ifndef CLT_DLPACK_H
#define CLT_DLPACK_H

#include <dlpack/dlpack.h>

#include "clt/common.h"
#include "clt/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DLPack's code for bool (kDLBool, DLPack 0.8 and later). */
#define CLT_DLPACK_BOOL 6

/* Shares t as a DLPack tensor without a copy. *out holds a reference to t: the consumer calls
 * (*out)->deleter(*out) exactly once when done, which releases it (t then lives at least until
 * that call, whatever the caller releases before). Work queued on t's device is finished before
 * this returns, so a consumer on another queue reads the values. Refused (NULL in *out): a tensor
 * that requires grad (CLT_ERR_AUTOGRAD, as PyTorch: export clt_detach(t)), a NULL t (keeping the
 * recorded error), a device with no DLPack type (CLT_ERR_UNSUPPORTED). */
CLT_API clt_status clt_to_dlpack(clt_tensor *t, DLManagedTensor **out);

/* A tensor over m's memory without a copy (as torch.from_dlpack). clt takes ownership of m: it
 * calls m->deleter(m) (when not NULL) exactly once, when the last tensor using the memory is
 * released, or before returning NULL when the import fails (so the caller never calls it after
 * passing m here; a NULL m is only an error). dev: NULL or the host device for kDLCPU; for
 * kDLOpenCL the OpenCL device whose context holds the cl_mem (required; CLT_ERR_DEVICE_MISMATCH
 * for a buffer of another context). Refused with CLT_ERR_DTYPE: lanes other than 1 and dtypes
 * clt does not have (float16, bfloat16, complex, int8, ...); CLT_ERR_INVALID_ARG: negative
 * strides, or a view that does not fit in the cl_mem; CLT_ERR_UNSUPPORTED: other device types
 * (CUDA, ...). */
CLT_API clt_tensor *clt_from_dlpack(clt_device *dev, DLManagedTensor *m);

#ifdef __cplusplus
}
#endif

#endif
