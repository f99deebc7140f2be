/* clt: tensors to and from files.
 *
 * NumPy .npy: reads format versions 1.0, 2.0 and 3.0 with every clt dtype ('<f4', '<f8', '<i4',
 * '<i8', '|u1', '|b1', big-endian '>' forms too) in C or Fortran order; writes version 1.0
 * (2.0 when the header would not fit 1.0's 16-bit length), little-endian, C order. Object
 * dtypes and pickles are refused. A malformed file gives CLT_ERR_FORMAT (never a crash, and
 * never an allocation larger than the file can hold); a dtype clt lacks gives CLT_ERR_DTYPE.
 */
#ifndef CLT_IO_H
#define CLT_IO_H

#include "clt/common.h"
#include "clt/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest .npy header clt accepts, in bytes (NumPy itself refuses headers over 10000). */
#define CLT_NPY_MAX_HEADER 65536

/* Loads path into a new contiguous tensor on dev (NULL: the host). */
CLT_API clt_status clt_load_npy(const char *path, clt_device *dev, clt_tensor **out);
/* Parses a whole .npy file held in memory (the entry point the fuzzers use). */
CLT_API clt_status clt_parse_npy(const void *buf, size_t len, clt_device *dev, clt_tensor **out);
/* Writes t (any device, any view) to path. The file is written to a temporary name beside it
 * and renamed, so a failed save leaves an existing file untouched. */
CLT_API clt_status clt_save_npy(const clt_tensor *t, const char *path);
/* The bytes clt_save_npy would write, into a new buffer the caller frees with clt_free(). */
CLT_API clt_status clt_format_npy(const clt_tensor *t, void **buf, size_t *len);

/* ---- named tensors: safetensors and .npy directories ------------------------------------- */

/* A list of named tensors read from a file (names in file order). */
typedef struct clt_tensor_list clt_tensor_list;
CLT_API int clt_tensor_list_size(const clt_tensor_list *l);
/* Name of entry i (valid while l lives), NULL when out of range. */
CLT_API const char *clt_tensor_list_name(const clt_tensor_list *l, int i);
/* Entry i, or the entry called name: a new reference. */
CLT_API clt_tensor *clt_tensor_list_get(const clt_tensor_list *l, int i);
CLT_API clt_tensor *clt_tensor_list_find(const clt_tensor_list *l, const char *name);
CLT_API void clt_tensor_list_release(clt_tensor_list *l);

/* safetensors (huggingface/safetensors, what PyTorch and model hubs read): an 8-byte
 * little-endian header length, a JSON header {"name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, "__metadata__": {...}} padded with spaces to 8 bytes, then the
 * data. Saves n tensors (any device, any view) in order, atomically (temporary file and rename).
 * dtypes F32, F64, I32, I64, U8, BOOL. The JSON is read and written by Jansson. */
CLT_API clt_status clt_save_safetensors(const char *path, int n, const char *const *names,
                                        clt_tensor *const *tensors);
/* Loads every tensor onto dev (NULL: the host). A malformed file gives CLT_ERR_FORMAT, an
 * unknown dtype CLT_ERR_DTYPE. */
CLT_API clt_status clt_load_safetensors(const char *path, clt_device *dev, clt_tensor_list **out);
CLT_API clt_status clt_parse_safetensors(const void *buf, size_t len, clt_device *dev, clt_tensor_list **out);

/* A directory of .npy files, one per tensor, named <name>.npy (names must be file names).
 * Loading reads every *.npy in the directory, in name order. */
CLT_API clt_status clt_save_npy_dir(const char *dir, int n, const char *const *names, clt_tensor *const *tensors);
CLT_API clt_status clt_load_npy_dir(const char *dir, clt_device *dev, clt_tensor_list **out);

/* Frees memory the library allocated for the caller (clt_format_npy's buffer). */
CLT_API void clt_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
