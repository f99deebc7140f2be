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
  long long size = clt__file_size(f); /* < 0: a stream (pipe, /dev/stdin): read to its end */
  if (size >= 0 && (unsigned long long)size > max) {
    fclose(f);
    return clt__err(CLT_ERR_IO, "'%s' is larger than %zu bytes", path, max);
  }
  size_t cap = size >= 0 ? (size_t)size + 1 : 65536, n = 0;
  char *b = clt__malloc(cap);
  for (;;) {
    if (!b) {
      fclose(f);
      return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes to read '%s'", cap, path);
    }
    n += fread(b + n, 1, cap - 1 - n, f);
    if (n < cap - 1 || size >= 0) break;
    if (cap - 1 >= max) {
      clt__free_mem(b);
      fclose(f);
      return clt__err(CLT_ERR_IO, "'%s' is larger than %zu bytes", path, max);
    }
    size_t grown = cap * 2 > max + 1 ? max + 1 : cap * 2;
    char *nb = clt__realloc(b, grown);
    if (!nb) clt__free_mem(b);
    b = nb;
    cap = grown;
  }
  bool bad = ferror(f) != 0 || (size >= 0 && n != (size_t)size);
  fclose(f);
  if (bad) {
    clt__free_mem(b);
    return clt__err(CLT_ERR_IO, "'%s' could not be read whole (%zu of %lld bytes; it changed while being read?)", path,
                    n, size);
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return CLT_OK;
}
