/* clt: status codes, dtypes, errors and the export macro.
 *
 * Error model
 * -----------
 * Functions that create a tensor return it (one reference, the caller releases it) or NULL on
 * failure. Every other function returns a clt_status: CLT_OK (0) or a negative error code.
 * A failure records the status and a message in thread-local storage, readable with
 * clt_last_status() and clt_last_error(). The message names the function, the argument and the
 * shapes or values at fault, and for backend failures the OpenCL call and its error code, e.g.
 *   "clt_add: shapes [2,3] and [4] cannot broadcast".
 * A success does not clear the record (as errno); clt_clear_error() does. An op given a NULL
 * tensor returns NULL and keeps the error already recorded, so a chain of ops needs one check at
 * its end. The library never aborts and never exits.
 */
#ifndef CLT_COMMON_H
#define CLT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#include <initializer_list>

extern "C" {
#endif

/* On Windows the DLL exports its functions; a program calls them without __declspec(dllimport)
 * (clt exports no data, and a function call links through the import library's stub), so the
 * same header and the same compiler flags serve the DLL and the static library (libclt.a /
 * clt.lib): `pkg-config --static` needs no -DCLT_STATIC. */
#if defined(_WIN32)
#  if defined(CLT_BUILDING) && !defined(CLT_STATIC)
#    define CLT_API __declspec(dllexport)
#  else
#    define CLT_API
#  endif
#elif defined(__GNUC__)
#  define CLT_API __attribute__((visibility("default")))
#else
#  define CLT_API
#endif

#define CLT_VERSION_MAJOR 0
#define CLT_VERSION_MINOR 1
#define CLT_VERSION_PATCH 0

/* Largest number of dimensions a tensor may have. */
#define CLT_MAX_DIMS 8

/* Status codes: 0 for success, negative for errors. The values are part of the ABI and never
 * change; a new status takes the next free value. clt_status_name() and clt_status_string()
 * give a status's name and a short English description. */
typedef enum clt_status {
  CLT_OK = 0,
  CLT_ERR_INVALID_ARG = -1,     /* invalid argument */
  CLT_ERR_SHAPE = -2,           /* invalid or mismatched shape */
  CLT_ERR_DTYPE = -3,           /* invalid or mismatched dtype */
  CLT_ERR_DEVICE_MISMATCH = -4, /* tensors are on different devices */
  CLT_ERR_NO_DEVICE = -5,       /* no such device */
  CLT_ERR_UNSUPPORTED = -6,     /* not supported by this device or build */
  CLT_ERR_OOM = -7,             /* host out of memory */
  CLT_ERR_DEVICE_OOM = -8,      /* device out of memory */
  CLT_ERR_BACKEND = -9,         /* device backend call failed */
  CLT_ERR_KERNEL_BUILD = -10,   /* kernel build failed */
  CLT_ERR_FORMAT = -11,         /* malformed file or data */
  CLT_ERR_IO = -12,             /* file input/output failed */
  CLT_ERR_OVERFLOW = -13,       /* size overflows */
  CLT_ERR_INDEX = -14,          /* index out of range */
  CLT_ERR_AUTOGRAD = -15,       /* autograd error */
  CLT_ERR_MISMATCH = -16,       /* device result differs from the host reference */
  CLT_ERR_STATE = -17           /* call made in the wrong state or order */
} clt_status;

/* Element types. The values are part of the ABI and never change; a new dtype takes the next
 * free value. */
typedef enum clt_dtype {
  CLT_FLOAT32 = 0,
  CLT_FLOAT64 = 1,
  CLT_INT32 = 2,
  CLT_INT64 = 3,
  CLT_UINT8 = 4,
  CLT_BOOL = 5,    /* one byte, 0 or 1 */
  CLT_FLOAT16 = 6,  /* IEEE 754 binary16 (PyTorch's torch.float16, NumPy's '<f2') */
  CLT_BFLOAT16 = 7, /* the high 16 bits of a float32 (torch.bfloat16) */
  CLT_DTYPE_COUNT = 8 /* one more than the largest value; grows as dtypes are added */
} clt_dtype;

typedef struct clt_device clt_device;
typedef struct clt_tensor clt_tensor;

/* "CLT_OK", "CLT_ERR_SHAPE", ...; "CLT_ERR_UNKNOWN" for a value not in the list. */
CLT_API const char *clt_status_name(clt_status s);
/* A short English description of the status. */
CLT_API const char *clt_status_string(clt_status s);

/* Status of the last failed call on this thread (CLT_OK when none since clt_clear_error()). */
CLT_API clt_status clt_last_status(void);
/* Message of the last failed call on this thread; never NULL ("" when none). */
CLT_API const char *clt_last_error(void);
/* Forget the recorded error of this thread. */
CLT_API void clt_clear_error(void);

/* "float32", "int64", ...; NULL for an invalid dtype. */
CLT_API const char *clt_dtype_name(clt_dtype dt);
/* Bytes per element; 0 for an invalid dtype. */
CLT_API size_t clt_dtype_size(clt_dtype dt);
/* true for float32, float64, float16 and bfloat16. */
CLT_API bool clt_dtype_is_float(clt_dtype dt);

/* 16-bit floats as the raw bits clt_from_host, clt_to_host and the files carry them in.
 * clt_float_to_16bit writes n float32 values as float16 or bfloat16 (dt), rounded to nearest
 * even: beyond the largest finite value to +-inf, below the smallest subnormal to +-0, NaN to a
 * quiet NaN of the same sign. clt_16bit_to_float reads n of them back, exactly. Both return
 * CLT_ERR_DTYPE for another dt and CLT_ERR_INVALID_ARG for a NULL array (with n > 0). */
CLT_API clt_status clt_float_to_16bit(clt_dtype dt, size_t n, const float *src, uint16_t *dst);
CLT_API clt_status clt_16bit_to_float(clt_dtype dt, size_t n, const uint16_t *src, float *dst);

/* Library version as "MAJOR.MINOR.PATCH". */
CLT_API const char *clt_version(void);

/* List helpers. A list the caller passes in is a (count, array) pair, count first, everywhere
 * ((ndim, shape), (ndims, dims), (n, tensors)); a buffer the library writes into is (buffer,
 * capacity), as snprintf's (clt_to_host, clt_format, clt_device_list). Each helper expands to a
 * (count, array) pair for a list written out in the call.
 *   CLT_SHAPE(2, 3)     2, {2, 3} as const int64_t *: clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2, 3))
 *                       (for a 0-d scalar pass 0, NULL)
 *   CLT_DIMS(2, 0, 1)   3, {2, 0, 1} as const int *: the dims of reductions and clt_permute
 *   CLT_TENSORS(a, b)   2, {a, b} as clt_tensor *const *: clt_cat(CLT_TENSORS(a, b), 0)
 * Each argument is evaluated once. The array lives until the end of the enclosing block in C and
 * of the full expression in C++ (a temporary), so use it only as a call's argument. The same
 * macros compile as standard C++11 (no compound literals, which C++ lacks: g++ -pedantic-errors
 * refuses them), where list initialisation refuses narrowing: an int64_t or a constant fits a
 * shape, a size_t variable needs a cast. */
#ifdef __cplusplus
#define CLT_SHAPE(...) CLT_CXX_LIST_(int64_t, __VA_ARGS__)
#define CLT_DIMS(...) CLT_CXX_LIST_(int, __VA_ARGS__)
#define CLT_TENSORS(...) CLT_CXX_LIST_(clt_tensor *, __VA_ARGS__)
#else
#define CLT_C_LIST_(T, ...) (int)(sizeof((T[]){__VA_ARGS__}) / sizeof(T)), (T[]) { __VA_ARGS__ }
#define CLT_SHAPE(...) CLT_C_LIST_(const int64_t, __VA_ARGS__)
#define CLT_DIMS(...) CLT_C_LIST_(const int, __VA_ARGS__)
#define CLT_TENSORS(...) CLT_C_LIST_(clt_tensor *const, __VA_ARGS__)
#endif

#ifdef __cplusplus
}

/* The C++ side of the list helpers: the count from an unevaluated call (sizeof), so each
 * argument runs once, and the array from a std::initializer_list temporary. */
template <class... A> char (&clt_cxx_count_(const A &...))[sizeof...(A)];
#define CLT_CXX_LIST_(T, ...) \
  (int)sizeof(clt_cxx_count_(__VA_ARGS__)), std::initializer_list<T>{__VA_ARGS__}.begin()
#endif

#endif
