/* Files with clear errors: opening for reading, and atomic replacement on write. */
#ifndef CLT_FILEIO_H
#define CLT_FILEIO_H

#include <stdio.h>

#include "core.h"

clt_status clt__file_open_read(const char *path, FILE **out);
/* Writes the parts to a temporary file beside path, syncs it and renames it over path, so a
 * failure never leaves a partial file at path. */
clt_status clt__file_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                                  int nparts);
/* Reads a whole file of at most max bytes into a new buffer (caller frees). */
clt_status clt__file_read_all(const char *path, size_t max, void **buf, size_t *len);

#endif
