/* clt: tensors to and from files.
 *
 * NumPy .npy: reads format versions 1.0, 2.0 and 3.0 with every clt dtype ('<f4', '<f8', '<i4',
 * '<i8', '|u1', '|b1', big-endian '>' forms too) in C or Fortran order; writes version 1.0
 * (2.0 when the header would not fit 1.0's 16-bit length), little-endian, C order. Object
 * dtypes and pickles are refused, and so is a 'shape' that is not a tuple ((2) rather than
 * (2,)), as NumPy refuses it. A malformed file gives CLT_ERR_FORMAT (never a crash); a dtype clt
 * lacks gives CLT_ERR_DTYPE.
 *
 * Paths are UTF-8 on every platform (on Windows they are opened through the wide-character
 * calls, so any name works, not only those of the ANSI code page).
 *
 * Every function takes the file first (its path, directory or buffer), then what is saved or the
 * device to load onto; outputs come last: clt_save_npy(path, t), clt_load_npy(path, dev, &t).
 *
 * Files are untrusted input. Every loader reads the header first and checks each size it names
 * against the bytes that are there before taking memory for them, so no allocation is larger
 * than the input can hold: a file's size is known, and from a stream (a pipe, /dev/stdin) the
 * data is read in bounded, growing steps as it arrives, so a short stream claiming gigabytes
 * costs what it delivered. Errors of the path loaders end with " (in '<path>')".
 *
 * Saving writes a new temporary file in the destination's directory, named
 * ".clt-tmp-<pid>-<12 random characters>" and created exclusively (an existing name, a symlink
 * or a FIFO planted there included, is never opened or followed), syncs it, gives it the
 * permission bits of the regular file it replaces (a new file gets 0666 less the umask), renames
 * it over the destination (a symlink there is replaced, not written through) and syncs the
 * directory. A failed save removes its temporary and leaves the old file as it was. A process
 * killed mid-save leaves its temporary behind; the next save into that directory removes such
 * files of this user whose process no longer runs and that are 10 minutes old (find them with
 * `find DIR -name '.clt-tmp-*'`).
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
CLT_API clt_status clt_save_npy(const char *path, const clt_tensor *t);
/* The bytes clt_save_npy would write, into a new buffer the caller frees with clt_free(). */
CLT_API clt_status clt_format_npy(const clt_tensor *t, void **buf, size_t *len);

/* ---- named tensors: safetensors and .npy directories ------------------------------------- */

/* A list of named tensors read from a file (names in file order). */
typedef struct clt_tensor_list clt_tensor_list;
CLT_API int clt_tensor_list_size(const clt_tensor_list *l);
/* Name of entry i (valid while l lives), NULL when out of range. */
CLT_API const char *clt_tensor_list_name(const clt_tensor_list *l, int i);
/* Entry i, or the entry called name: a new reference. */
CLT_API clt_tensor *clt_tensor_list_at(const clt_tensor_list *l, int i);
CLT_API clt_tensor *clt_tensor_list_find(const clt_tensor_list *l, const char *name);
CLT_API void clt_tensor_list_release(clt_tensor_list *l);

/* safetensors (huggingface/safetensors, what PyTorch and model hubs read): an 8-byte
 * little-endian header length, a JSON header {"name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, "__metadata__": {...}} padded with spaces to 8 bytes, then the
 * little-endian data (swapped on big-endian hosts). Saves n tensors (any device, any view) in
 * order, atomically (as clt_save_npy). dtypes F32, F64, I32, I64, U8, BOOL. The JSON is read and
 * written by Jansson; clt points Jansson's allocator at its own (malloc and free underneath)
 * the first time it needs Jansson, unless the application has set one (json_set_alloc_funcs),
 * so do that before the first safetensors call if you do. */
CLT_API clt_status clt_save_safetensors(const char *path, int n, const char *const *names,
                                        clt_tensor *const *tensors);
/* Loads every tensor onto dev (NULL: the host), listed in the header's order. The format's rules
 * are kept as its reference implementation keeps them: the tensors' data_offsets tile the data
 * exactly (no overlap, no two tensors on the same bytes, no gap, no byte after the last tensor),
 * every name is non-empty, and __metadata__ maps strings to strings. A file that breaks one
 * gives CLT_ERR_FORMAT naming the tensor; an unknown dtype CLT_ERR_DTYPE. */
CLT_API clt_status clt_load_safetensors(const char *path, clt_device *dev, clt_tensor_list **out);
CLT_API clt_status clt_parse_safetensors(const void *buf, size_t len, clt_device *dev, clt_tensor_list **out);

/* Loads a safetensors file into existing tensors by name (model.load_state_dict): each
 * names[i] found in the file is copied into params[i] (on its device), which must have the same
 * shape and dtype (CLT_ERR_SHAPE names the tensor and both shapes, strict or not). params are
 * leaves (not made by an op); their version counters are bumped, as by an in-place write.
 * strict: names missing from the file or entries of the file not in names are refused
 * (CLT_ERR_INVALID_ARG listing both) before anything is copied; otherwise they are skipped, and
 * *skipped (may be NULL) gets "missing: a, b; unexpected: c" (free it with clt_free), or NULL
 * when nothing was skipped. Every check runs before the first copy. Errors end with
 * " (in '<path>')". */
CLT_API clt_status clt_load_into(const char *path, int n, const char *const *names, clt_tensor *const *params,
                                 bool strict, char **skipped);
/* A directory of .npy files, one per tensor, named <name>.npy (names must be file names), each
 * saved as clt_save_npy saves. Loading reads every regular *.npy in the directory, in name
 * order, each header first; an error names the file. */
CLT_API clt_status clt_save_npy_dir(const char *dir, int n, const char *const *names, clt_tensor *const *tensors);
CLT_API clt_status clt_load_npy_dir(const char *dir, clt_device *dev, clt_tensor_list **out);

/* Frees memory the library allocated for the caller (clt_format_npy's buffer). */
CLT_API void clt_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
