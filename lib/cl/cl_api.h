/* The OpenCL and CLBlast functions clt calls, reached through tables that lib/cl/loader.c fills
 * at run time (dlopen / LoadLibrary), so that libclt does not import libOpenCL or libclblast:
 * an application linked with clt starts, and keeps the host device, on a machine without them
 * (Windows stops a process whose DLL import is missing before main, with c0000135).
 *
 * Every file of lib/cl/ includes this through cl_internal.h, after <CL/cl.h> (and
 * <clblast_c.h>), and keeps calling the functions by their own names: each name below is
 * redirected to its table entry, so CLT__CL's fault points (its #call text is taken before
 * macro expansion) and the release calls outside CLT__CL both go through the table. A function
 * used in lib/cl/ but missing from these lists leaves an undefined symbol, which the link of
 * libclt.so refuses (-Wl,--no-undefined): add its row and its #define.
 *
 * Rows: X(return type, name, parameter list). loader.c checks each row against the header's
 * own declaration at compile time. */
#ifndef CLT_CL_API_H
#define CLT_CL_API_H

#define CLT__CL_FUNCTIONS(X)                                                                                     \
  X(cl_int, clGetPlatformIDs, (cl_uint, cl_platform_id *, cl_uint *))                                            \
  X(cl_int, clGetPlatformInfo, (cl_platform_id, cl_platform_info, size_t, void *, size_t *))                     \
  X(cl_int, clGetDeviceIDs, (cl_platform_id, cl_device_type, cl_uint, cl_device_id *, cl_uint *))                \
  X(cl_int, clGetDeviceInfo, (cl_device_id, cl_device_info, size_t, void *, size_t *))                           \
  X(cl_context, clCreateContext,                                                                                 \
    (const cl_context_properties *, cl_uint, const cl_device_id *,                                               \
     void(CL_CALLBACK *)(const char *, const void *, size_t, void *), void *, cl_int *))                         \
  X(cl_int, clRetainContext, (cl_context))                                                                       \
  X(cl_int, clReleaseContext, (cl_context))                                                                      \
  X(cl_command_queue, clCreateCommandQueue, (cl_context, cl_device_id, cl_command_queue_properties, cl_int *))   \
  X(cl_int, clRetainCommandQueue, (cl_command_queue))                                                            \
  X(cl_int, clReleaseCommandQueue, (cl_command_queue))                                                           \
  X(cl_int, clGetCommandQueueInfo, (cl_command_queue, cl_command_queue_info, size_t, void *, size_t *))          \
  X(cl_int, clFinish, (cl_command_queue))                                                                        \
  X(cl_mem, clCreateBuffer, (cl_context, cl_mem_flags, size_t, void *, cl_int *))                               \
  X(cl_int, clRetainMemObject, (cl_mem))                                                                         \
  X(cl_int, clReleaseMemObject, (cl_mem))                                                                        \
  X(cl_int, clGetMemObjectInfo, (cl_mem, cl_mem_info, size_t, void *, size_t *))                                 \
  X(cl_program, clCreateProgramWithSource, (cl_context, cl_uint, const char **, const size_t *, cl_int *))       \
  X(cl_program, clCreateProgramWithBinary,                                                                       \
    (cl_context, cl_uint, const cl_device_id *, const size_t *, const unsigned char **, cl_int *, cl_int *))     \
  X(cl_int, clBuildProgram,                                                                                      \
    (cl_program, cl_uint, const cl_device_id *, const char *, void(CL_CALLBACK *)(cl_program, void *), void *))  \
  X(cl_int, clGetProgramInfo, (cl_program, cl_program_info, size_t, void *, size_t *))                           \
  X(cl_int, clGetProgramBuildInfo, (cl_program, cl_device_id, cl_program_build_info, size_t, void *, size_t *))  \
  X(cl_int, clReleaseProgram, (cl_program))                                                                      \
  X(cl_kernel, clCreateKernel, (cl_program, const char *, cl_int *))                                             \
  X(cl_int, clReleaseKernel, (cl_kernel))                                                                        \
  X(cl_int, clSetKernelArg, (cl_kernel, cl_uint, size_t, const void *))                                          \
  X(cl_int, clGetKernelWorkGroupInfo, (cl_kernel, cl_device_id, cl_kernel_work_group_info, size_t, void *,       \
                                       size_t *))                                                                \
  X(cl_int, clEnqueueNDRangeKernel, (cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *,       \
                                     const size_t *, cl_uint, const cl_event *, cl_event *))                     \
  X(cl_int, clEnqueueReadBuffer,                                                                                 \
    (cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint, const cl_event *, cl_event *))          \
  X(cl_int, clEnqueueWriteBuffer,                                                                                \
    (cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *, cl_uint, const cl_event *, cl_event *))    \
  X(cl_int, clEnqueueCopyBuffer,                                                                                 \
    (cl_command_queue, cl_mem, cl_mem, size_t, size_t, size_t, cl_uint, const cl_event *, cl_event *))           \
  X(void *, clEnqueueMapBuffer, (cl_command_queue, cl_mem, cl_bool, cl_map_flags, size_t, size_t, cl_uint,       \
                                 const cl_event *, cl_event *, cl_int *))                                        \
  X(cl_int, clEnqueueUnmapMemObject, (cl_command_queue, cl_mem, void *, cl_uint, const cl_event *, cl_event *))  \
  X(cl_int, clEnqueueMarkerWithWaitList, (cl_command_queue, cl_uint, const cl_event *, cl_event *))              \
  X(cl_int, clEnqueueBarrierWithWaitList, (cl_command_queue, cl_uint, const cl_event *, cl_event *))             \
  X(cl_event, clCreateUserEvent, (cl_context, cl_int *))                                                         \
  X(cl_int, clSetUserEventStatus, (cl_event, cl_int))                                                            \
  X(cl_int, clSetEventCallback, (cl_event, cl_int, void(CL_CALLBACK *)(cl_event, cl_int, void *), void *))       \
  X(cl_int, clRetainEvent, (cl_event))                                                                           \
  X(cl_int, clReleaseEvent, (cl_event))

typedef struct clt__cl_api {
#define CLT__CL_MEMBER(ret, name, params) ret(CL_API_CALL *p_##name) params;
  CLT__CL_FUNCTIONS(CLT__CL_MEMBER)
#undef CLT__CL_MEMBER
} clt__cl_api;
/* Filled once, before clt__cl_load first returns true; read-only afterwards. */
extern clt__cl_api clt__cl_fn;

#ifdef CLT_HAVE_CLBLAST
/* CLBlast's C API: cdecl everywhere (PUBLIC_API is only dllimport/dllexport). */
#define CLT__CLBLAST_FUNCTIONS(X)                                                                                \
  X(CLBlastStatusCode, CLBlastSgemm,                                                                             \
    (const CLBlastLayout, const CLBlastTranspose, const CLBlastTranspose, const size_t, const size_t,             \
     const size_t, const float, const cl_mem, const size_t, const size_t, const cl_mem, const size_t,             \
     const size_t, const float, cl_mem, const size_t, const size_t, cl_command_queue *, cl_event *))             \
  X(CLBlastStatusCode, CLBlastDgemm,                                                                             \
    (const CLBlastLayout, const CLBlastTranspose, const CLBlastTranspose, const size_t, const size_t,             \
     const size_t, const double, const cl_mem, const size_t, const size_t, const cl_mem, const size_t,            \
     const size_t, const double, cl_mem, const size_t, const size_t, cl_command_queue *, cl_event *))            \
  X(CLBlastStatusCode, CLBlastSgemmStridedBatched,                                                               \
    (const CLBlastLayout, const CLBlastTranspose, const CLBlastTranspose, const size_t, const size_t,             \
     const size_t, const float, const cl_mem, const size_t, const size_t, const size_t, const cl_mem,             \
     const size_t, const size_t, const size_t, const float, cl_mem, const size_t, const size_t, const size_t,     \
     const size_t, cl_command_queue *, cl_event *))                                                              \
  X(CLBlastStatusCode, CLBlastDgemmStridedBatched,                                                               \
    (const CLBlastLayout, const CLBlastTranspose, const CLBlastTranspose, const size_t, const size_t,             \
     const size_t, const double, const cl_mem, const size_t, const size_t, const size_t, const cl_mem,            \
     const size_t, const size_t, const size_t, const double, cl_mem, const size_t, const size_t, const size_t,    \
     const size_t, cl_command_queue *, cl_event *))                                                              \
  X(CLBlastStatusCode, CLBlastOverrideParameters,                                                                \
    (const cl_device_id, const char *, const CLBlastPrecision, const size_t, const char **, const size_t *))     \
  X(CLBlastStatusCode, CLBlastClearCache, (void))

typedef struct clt__clblast_api {
#define CLT__CLBLAST_MEMBER(ret, name, params) ret(*p_##name) params;
  CLT__CLBLAST_FUNCTIONS(CLT__CLBLAST_MEMBER)
#undef CLT__CLBLAST_MEMBER
} clt__clblast_api;
/* Filled once, before clt__clblast_load first returns true. */
extern clt__clblast_api clt__clblast_fn;
#endif

/* loader.c defines CLT__CL_NO_REDIRECT to see the headers' own declarations. */
#ifndef CLT__CL_NO_REDIRECT
#define clGetPlatformIDs clt__cl_fn.p_clGetPlatformIDs
#define clGetPlatformInfo clt__cl_fn.p_clGetPlatformInfo
#define clGetDeviceIDs clt__cl_fn.p_clGetDeviceIDs
#define clGetDeviceInfo clt__cl_fn.p_clGetDeviceInfo
#define clCreateContext clt__cl_fn.p_clCreateContext
#define clRetainContext clt__cl_fn.p_clRetainContext
#define clReleaseContext clt__cl_fn.p_clReleaseContext
#define clCreateCommandQueue clt__cl_fn.p_clCreateCommandQueue
#define clRetainCommandQueue clt__cl_fn.p_clRetainCommandQueue
#define clReleaseCommandQueue clt__cl_fn.p_clReleaseCommandQueue
#define clGetCommandQueueInfo clt__cl_fn.p_clGetCommandQueueInfo
#define clFinish clt__cl_fn.p_clFinish
#define clCreateBuffer clt__cl_fn.p_clCreateBuffer
#define clRetainMemObject clt__cl_fn.p_clRetainMemObject
#define clReleaseMemObject clt__cl_fn.p_clReleaseMemObject
#define clGetMemObjectInfo clt__cl_fn.p_clGetMemObjectInfo
#define clCreateProgramWithSource clt__cl_fn.p_clCreateProgramWithSource
#define clCreateProgramWithBinary clt__cl_fn.p_clCreateProgramWithBinary
#define clBuildProgram clt__cl_fn.p_clBuildProgram
#define clGetProgramInfo clt__cl_fn.p_clGetProgramInfo
#define clGetProgramBuildInfo clt__cl_fn.p_clGetProgramBuildInfo
#define clReleaseProgram clt__cl_fn.p_clReleaseProgram
#define clCreateKernel clt__cl_fn.p_clCreateKernel
#define clReleaseKernel clt__cl_fn.p_clReleaseKernel
#define clSetKernelArg clt__cl_fn.p_clSetKernelArg
#define clGetKernelWorkGroupInfo clt__cl_fn.p_clGetKernelWorkGroupInfo
#define clEnqueueNDRangeKernel clt__cl_fn.p_clEnqueueNDRangeKernel
#define clEnqueueReadBuffer clt__cl_fn.p_clEnqueueReadBuffer
#define clEnqueueWriteBuffer clt__cl_fn.p_clEnqueueWriteBuffer
#define clEnqueueCopyBuffer clt__cl_fn.p_clEnqueueCopyBuffer
#define clEnqueueMapBuffer clt__cl_fn.p_clEnqueueMapBuffer
#define clEnqueueUnmapMemObject clt__cl_fn.p_clEnqueueUnmapMemObject
#define clEnqueueMarkerWithWaitList clt__cl_fn.p_clEnqueueMarkerWithWaitList
#define clEnqueueBarrierWithWaitList clt__cl_fn.p_clEnqueueBarrierWithWaitList
#define clCreateUserEvent clt__cl_fn.p_clCreateUserEvent
#define clSetUserEventStatus clt__cl_fn.p_clSetUserEventStatus
#define clSetEventCallback clt__cl_fn.p_clSetEventCallback
#define clRetainEvent clt__cl_fn.p_clRetainEvent
#define clReleaseEvent clt__cl_fn.p_clReleaseEvent
#ifdef CLT_HAVE_CLBLAST
#define CLBlastSgemm clt__clblast_fn.p_CLBlastSgemm
#define CLBlastDgemm clt__clblast_fn.p_CLBlastDgemm
#define CLBlastSgemmStridedBatched clt__clblast_fn.p_CLBlastSgemmStridedBatched
#define CLBlastDgemmStridedBatched clt__clblast_fn.p_CLBlastDgemmStridedBatched
#define CLBlastOverrideParameters clt__clblast_fn.p_CLBlastOverrideParameters
#define CLBlastClearCache clt__clblast_fn.p_CLBlastClearCache
#endif
#endif

/* Loads the OpenCL ICD loader once per process (thread-safe): $CLT_OPENCL_LIBRARY if set, else
 * the functions the process already has (POSIX: linked or preloaded, as Oclgrind does), else
 * the platform's name for it (libOpenCL.so.1, OpenCL.dll, libOpenCL.so on Android, OpenCL.framework).
 * False when it or one of its functions is missing: clt__cl_load_note says why. Never records an
 * error. The library stays loaded until the process exits (loader.c says why). */
bool clt__cl_load(void);
/* CLBlast likewise ($CLT_CLBLAST_LIBRARY, else libclblast.so.1, clblast.dll, ...), after the
 * ICD loader; false in builds without CLBlast. */
bool clt__clblast_load(void);
/* One line on what was loaded, or why not; for the "cl" backend's status (device.c). */
void clt__cl_load_note(char *buf, size_t len);

#endif
