/* The lists the names of the public enums come from (clt_status_name, clt_status_string,
 * clt_dtype_name, clt_dtype_size, .npy type codes). The enums themselves are written out in
 * clt/common.h, with their values; error.c checks the status values agree. Internal: not
 * installed. */
#ifndef CLT_ENUMS_H
#define CLT_ENUMS_H

/* X(name, value, text) */
#define CLT_STATUS_LIST(X)                                                          \
  X(CLT_OK, 0, "success")                                                           \
  X(CLT_ERR_INVALID_ARG, -1, "invalid argument")                                    \
  X(CLT_ERR_SHAPE, -2, "invalid or mismatched shape")                               \
  X(CLT_ERR_DTYPE, -3, "invalid or mismatched dtype")                               \
  X(CLT_ERR_DEVICE_MISMATCH, -4, "tensors are on different devices")                \
  X(CLT_ERR_NO_DEVICE, -5, "no such device")                                        \
  X(CLT_ERR_UNSUPPORTED, -6, "not supported by this device or build")              \
  X(CLT_ERR_OOM, -7, "host out of memory")                                          \
  X(CLT_ERR_DEVICE_OOM, -8, "device out of memory")                                 \
  X(CLT_ERR_BACKEND, -9, "device backend call failed")                              \
  X(CLT_ERR_KERNEL_BUILD, -10, "kernel build failed")                               \
  X(CLT_ERR_FORMAT, -11, "malformed file or data")                                  \
  X(CLT_ERR_IO, -12, "file input/output failed")                                    \
  X(CLT_ERR_OVERFLOW, -13, "size overflows")                                        \
  X(CLT_ERR_INDEX, -14, "index out of range")                                       \
  X(CLT_ERR_AUTOGRAD, -15, "autograd error")                                        \
  X(CLT_ERR_MISMATCH, -16, "device result differs from the host reference")        \
  X(CLT_ERR_STATE, -17, "call made in the wrong state or order")

/* X(enum, name, size in bytes, NumPy type code without byte order; "" where NumPy has none) */
#define CLT_DTYPE_LIST(X)             \
  X(CLT_FLOAT32, float32, 4, "f4")    \
  X(CLT_FLOAT64, float64, 8, "f8")    \
  X(CLT_INT32, int32, 4, "i4")        \
  X(CLT_INT64, int64, 8, "i8")        \
  X(CLT_UINT8, uint8, 1, "u1")        \
  X(CLT_BOOL, bool, 1, "b1")          \
  X(CLT_FLOAT16, float16, 2, "f2")    \
  X(CLT_BFLOAT16, bfloat16, 2, "")

#endif
