/* Files with clear errors: atomic replacement on write, and reading formats header first from a
 * file, a stream or a buffer, so that no allocation is larger than the input can justify. */
#ifndef CLT_FILEIO_H
#define CLT_FILEIO_H

#include <stdio.h>

#include "core.h"

clt_status clt__file_open_read(const char *path, FILE **out);
/* Writes the parts to a new temporary file beside path (platform.h says how it is made), syncs
 * it and renames it over path, so a failure never leaves a partial file at path, a planted link
 * or FIFO is never followed, and the replaced file's permission bits are kept. Then removes the
 * temporaries dead processes left in that directory. */
clt_status clt__file_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                                  int nparts);
/* Reads a whole file of at most max bytes into a new buffer (caller frees). */
clt_status clt__file_read_all(const char *path, size_t max, void **buf, size_t *len);

/* ---- reading front to back ---------------------------------------------------------------- */

/* Bytes from a buffer, a regular file (its size known) or a stream (a pipe, /dev/stdin: its
 * size unknown until it ends). */
typedef struct {
  FILE *f;            /* NULL: the buffer */
  const uint8_t *mem;
  long long size;     /* total bytes, -1 for a stream */
  long long pos;      /* bytes consumed */
  int err;            /* errno of a failed read, 0 when none failed */
} clt__src;

void clt__src_mem(clt__src *s, const void *buf, size_t len);
/* Opens path (closed by clt__src_close). */
clt_status clt__src_open(clt__src *s, const char *path);
void clt__src_close(clt__src *s);
/* Bytes left, -1 when unknown (a stream). */
long long clt__src_left(const clt__src *s);
/* Up to n bytes into dst; returns how many came (fewer: the input ended, or a read failed and
 * s->err says why). */
size_t clt__src_read(clt__src *s, void *dst, size_t n);
/* The error for got of want bytes of what: CLT_ERR_IO with the reason when a read failed, else
 * CLT_ERR_FORMAT "<what> is truncated: <want> bytes expected, <got> present". */
clt_status clt__src_short(const clt__src *s, const char *what, size_t want, size_t got);
/* n bytes into a new buffer (caller frees), *got of them there. When the size is known the
 * caller has checked n against clt__src_left; from a stream the buffer grows in bounded steps
 * as bytes arrive, so a stream that ends early costs no more memory than it delivered. */
clt_status clt__src_read_alloc(clt__src *s, size_t n, void **out, size_t *got);
/* A host tensor of dt and shape filled with the next nbytes bytes (clt__nbytes of its
 * elements; for a known size the caller has checked them against clt__src_left). NULL and an
 * error when they do not all come: CLT_ERR_FORMAT "... truncated ..." naming what. */
clt_tensor *clt__src_read_tensor(clt__src *s, clt_device *host, clt_dtype dt, int ndim, const int64_t *shape,
                                 size_t nbytes, const char *what);

/* Loads the .npy file at path (npy.c; the directory loader shares it); errors name the path. */
clt_status clt__npy_load(const char *path, clt_device *dev, clt_tensor **out);

/* ---- byte order ----------------------------------------------------------------------------- */

bool clt__host_little(void);
/* Converts n bytes of es-byte elements from one byte order to the other in place (a no-op when
 * from_little == to_little). Files are little-endian: loaders convert from the file's order to
 * clt__host_little(), savers from clt__host_little() to little; the orders are arguments so that
 * a test on a little-endian host runs the big-endian path. */
void clt__byte_order(void *p, size_t n, size_t es, bool from_little, bool to_little);

#endif
