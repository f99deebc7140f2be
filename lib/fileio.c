#include "fileio.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

clt_status clt__file_open_read(const char *path, FILE **out) {
  errno = 0;
  *out = fopen(path, "rb");
  if (!*out)
    return clt__err(CLT_ERR_IO, "cannot open '%s' for reading: %s", path,
                    errno ? strerror(errno) : "unknown error");
  return CLT_OK;
}

clt_status clt__file_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                                  int nparts) {
  static atomic_ulong serial;
  size_t n = strlen(path) + 64;
  char *tmp = clt__malloc(n);
  if (!tmp) return clt__err(CLT_ERR_OOM, "cannot allocate a temporary file name");
  snprintf(tmp, n, "%s.tmp-%lu-%lu", path, clt__process_id(), (unsigned long)atomic_fetch_add(&serial, 1));
  errno = 0;
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    clt_status st = clt__err(CLT_ERR_IO, "cannot create '%s': %s", tmp, errno ? strerror(errno) : "unknown error");
    clt__free_mem(tmp);
    return st;
  }
  int err = 0;
  for (int i = 0; i < nparts && !err; i++)
    if (lens[i] > 0 && fwrite(parts[i], 1, lens[i], f) != lens[i]) err = errno ? errno : EIO;
  if (!err) err = clt__file_sync(f);
  if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
  if (!err) err = clt__rename_replace(tmp, path);
  if (err) {
    remove(tmp);
    clt_status st = clt__err(CLT_ERR_IO, "writing '%s' failed: %s (the previous file, if any, is untouched)",
                             path, strerror(err));
    clt__free_mem(tmp);
    return st;
  }
  clt__free_mem(tmp);
  return CLT_OK;
}

clt_status clt__file_read_all(const char *path, size_t max, void **buf, size_t *len) {
  FILE *f;
  clt_status st = clt__file_open_read(path, &f);
  if (st != CLT_OK) return st;
  long long size = clt__file_size(f);
  if (size < 0 || (unsigned long long)size > max) {
    fclose(f);
    return clt__err(CLT_ERR_IO, "'%s' is not a regular file of at most %zu bytes", path, max);
  }
  *buf = clt__malloc((size_t)size + 1);
  if (!*buf) {
    fclose(f);
    return clt__err(CLT_ERR_OOM, "cannot allocate %lld bytes to read '%s'", size, path);
  }
  size_t got = fread(*buf, 1, (size_t)size, f);
  fclose(f);
  if (got != (size_t)size) {
    clt__free_mem(*buf);
    *buf = NULL;
    return clt__err(CLT_ERR_IO, "'%s' could not be read whole (%zu of %lld bytes)", path, got, size);
  }
  ((char *)*buf)[size] = '\0';
  *len = (size_t)size;
  return CLT_OK;
}
