/* clt: OpenCL interoperability. The only public header that includes <CL/cl.h> (on macOS
 * <OpenCL/opencl.h>).
 *
 * An application that already has an OpenCL context and queue can hand them to clt, and get the
 * cl_mem behind a tensor to run its own kernels on. clt retains what it is given and releases
 * only its own references: it never steals or destroys the application's objects.
 */
#ifndef CLT_CL_H
#define CLT_CL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#if defined(__APPLE__) /* Apple's framework (untested: no Mac here) */
#ifndef CL_SILENCE_DEPRECATION
#define CL_SILENCE_DEPRECATION /* OpenCL is deprecated on macOS since 10.14, but still ships */
#endif
#include <OpenCL/opencl.h>
#else
#include <CL/cl.h>
#endif

#include "clt/common.h"
#include "clt/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A device handle over the application's context, device and in-order queue (queue may be NULL:
 * clt then creates its own on ctx). Each is retained; clt_device_release() drops those
 * references. The device's spec string is "cl:app". clt calls OpenCL through the ICD loader it
 * loads itself at run time (clt_backend_get_status, clt/device.h), which serves every ICD's
 * objects; CLT_ERR_NO_DEVICE, with the reason, when it cannot load one. */
CLT_API clt_status clt_cl_device_wrap(cl_context ctx, cl_device_id device, cl_command_queue queue,
                                      clt_device **out);
/* The OpenCL objects behind an OpenCL device handle (borrowed; retain them to keep them). Once
 * the queue has been asked for (or given to clt_cl_device_wrap), clt cannot see every command
 * on it, so from then on each host GEMM on PoCL takes its own marker and barrier instead of
 * joining the one before it (a few microseconds a product); ask with queue NULL when only the
 * context or device is wanted. */
CLT_API clt_status clt_cl_device_get(const clt_device *dev, cl_context *ctx,
                                     cl_device_id *device, cl_command_queue *queue);
/* OpenCL's own description of an OpenCL device, beyond the backend-neutral clt_device_info
 * (whose driver and driver_vendor are the platform's name and vendor, and whose backend_version
 * is device_version). Strings are NUL-terminated and truncated to fit. */
typedef struct clt_cl_details {
  char platform[128];         /* CL_PLATFORM_NAME: "Portable Computing Language" */
  char platform_vendor[128];  /* CL_PLATFORM_VENDOR: "The pocl project" */
  char platform_version[128]; /* CL_PLATFORM_VERSION: "OpenCL 3.0 PoCL 3.1 ..." */
  char device_version[128];   /* CL_DEVICE_VERSION: "OpenCL 3.0 PoCL HSTR: ..." */
  char opencl_c_version[64];  /* CL_DEVICE_OPENCL_C_VERSION: "OpenCL C 1.2 PoCL" */
  bool int64_atomics;         /* cl_khr_int64_base_atomics */
} clt_cl_details;
/* The OpenCL record of an open OpenCL device. CLT_ERR_DEVICE_MISMATCH for another backend's. */
CLT_API clt_status clt_cl_device_get_details(const clt_device *dev, clt_cl_details *out);
/* The CLBlast kernels whose parameters clt set on this device when it opened, as
 * "Xgemm/32 XgemmDirect/32" (kernel/precision), from clt's built-in table of measured devices and
 * the file $CLT_CLBLAST_TUNING names ("none": none set); "" when none matched, the build has
 * no CLBlast or CLBlast did not load (clt_backend_get_status). Owned by the device. NULL (with the error set) for NULL or a non-OpenCL device. */
CLT_API const char *clt_cl_device_gemm_tuning(const clt_device *dev);
/* The buffer behind an OpenCL tensor (borrowed) and the byte offset of its first element. Work
 * queued on the device's queue is ordered with clt's own; on another queue, call
 * clt_device_synchronize() first. */
CLT_API clt_status clt_cl_tensor_get_buffer(const clt_tensor *t, cl_mem *buf, size_t *byte_offset);
/* The reverse: the application's buffer buf as a tensor on dev, without a copy (as
 * clt_wrap_host for host memory). The first element is at byte_offset (a multiple of the dtype's
 * size); strides are in elements (NULL: row-major contiguous) and must not be negative. buf must be
 * a buffer of dev's context (CL_MEM_CONTEXT: else CLT_ERR_DEVICE_MISMATCH; a device opened with
 * clt_cl_device_wrap over the application's context accepts its buffers) and the view must fit in
 * its CL_MEM_SIZE (else CLT_ERR_INVALID_ARG). clt retains buf (clRetainMemObject) and releases it
 * when the last tensor using it goes; the application may release its own reference at once.
 * Writes through the tensor reach buf and the reverse; order work on another queue with
 * clt_device_synchronize. buf may be NULL only for a tensor with no elements. */
CLT_API clt_tensor *clt_cl_tensor_wrap(clt_device *dev, clt_dtype dtype, int ndim, const int64_t *shape,
                                       const int64_t *strides, cl_mem buf, size_t byte_offset);

#ifdef __cplusplus
}
#endif

#endif
