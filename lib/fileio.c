#include "fileio.h"

#include <errno.h>
#include <string.h>

clt_status clt__file_open_read(const char *path, FILE **out) {
  errno = 0;
  *out = clt__fopen(path, "rb");
  if (!*out)
    return clt__err(CLT_ERR_IO, "cannot open '%s' for reading: %s", path,
                    errno ? strerror(errno) : "unknown error");
  return CLT_OK;
}

clt_status clt__file_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                                  int nparts) {
  size_t n = strlen(path) + CLT__TMP_NAME_MAX;
  char *tmp = clt__malloc(n);
  if (!tmp) return clt__err(CLT_ERR_OOM, "cannot allocate a temporary file name");
  FILE *f;
  int err = clt__tmp_create(path, tmp, n, &f);
  if (err) {
    clt_status st = clt__err(CLT_ERR_IO, "cannot create a temporary file beside '%s' to write it: %s", path,
                             strerror(err));
    clt__free_mem(tmp);
    return st;
  }
  for (int i = 0; i < nparts && !err; i++)
    if (lens[i] > 0 && fwrite(parts[i], 1, lens[i], f) != lens[i]) err = errno ? errno : EIO;
  bool renamed = false;
  if (err) clt__tmp_discard(f, tmp);
  else err = clt__tmp_commit(f, tmp, path, &renamed);
  clt_status st = CLT_OK;
  if (err && renamed)
    st = clt__err(CLT_ERR_IO, "'%s' was written, but syncing its directory failed: %s (a crash now may lose it)",
                  path, strerror(err));
  else if (err)
    st = clt__err(CLT_ERR_IO, "writing '%s' failed: %s (the previous file, if any, is untouched)", path,
                  strerror(err));
  clt__free_mem(tmp);
  if (renamed) clt__tmp_clean_stale(path);
  return st;
}

clt_status clt__file_read_all(const char *path, size_t max, void **buf, size_t *len) {
  if (max == SIZE_MAX) max--;
  clt__src s;
  clt_status st = clt__src_open(&s, path);
  if (st != CLT_OK) return st;
  long long left = clt__src_left(&s);
  if (left >= 0 && (unsigned long long)left > max) {
    clt__src_close(&s);
    return clt__err(CLT_ERR_IO, "'%s' is larger than %zu bytes", path, max);
  }
  /* one byte more than can come: room for a terminating NUL, and from a stream the byte that
   * tells it goes on past max */
  size_t want = (left >= 0 ? (size_t)left : max) + 1, n;
  void *b;
  st = clt__src_read_alloc(&s, want, &b, &n);
  bool failed = s.err != 0;
  clt__src_close(&s);
  if (st != CLT_OK) return st;
  if (failed || (left >= 0 && n != (size_t)left)) {
    clt__free_mem(b);
    return clt__err(CLT_ERR_IO, "'%s' could not be read whole (%zu of %lld bytes; it changed while being read?)",
                    path, n, left);
  }
  if (n == want) {
    clt__free_mem(b);
    return clt__err(CLT_ERR_IO, "'%s' is larger than %zu bytes", path, max);
  }
  ((char *)b)[n] = '\0';
  *buf = b;
  *len = n;
  return CLT_OK;
}

/* ---- reading front to back ---------------------------------------------------------------- */

void clt__src_mem(clt__src *s, const void *buf, size_t len) {
  *s = (clt__src){NULL, buf, (long long)len, 0, 0};
}

clt_status clt__src_open(clt__src *s, const char *path) {
  *s = (clt__src){NULL, NULL, -1, 0, 0};
  clt_status st = clt__file_open_read(path, &s->f);
  if (st == CLT_OK) s->size = clt__file_size(s->f);
  return st;
}

void clt__src_close(clt__src *s) {
  if (s->f) fclose(s->f);
  s->f = NULL;
}

long long clt__src_left(const clt__src *s) { return s->size < 0 ? -1 : s->size - s->pos; }

size_t clt__src_read(clt__src *s, void *dst, size_t n) {
  size_t got;
  if (s->f) {
    errno = 0;
    got = n ? fread(dst, 1, n, s->f) : 0;
    if (got < n && ferror(s->f) && !s->err) s->err = errno ? errno : EIO;
  } else {
    long long left = s->size - s->pos;
    got = (unsigned long long)left < n ? (size_t)left : n;
    if (got) memcpy(dst, s->mem + s->pos, got);
  }
  s->pos += (long long)got;
  return got;
}

/* A stream's buffer starts at this and doubles while bytes keep coming. */
#define STREAM_STEP ((size_t)1 << 20)

clt_status clt__src_read_alloc(clt__src *s, size_t n, void **out, size_t *got) {
  size_t cap = s->size >= 0 || n < STREAM_STEP ? n : STREAM_STEP, have = 0;
  uint8_t *b = clt__malloc(cap);
  if (!b) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes", cap);
  for (;;) {
    size_t r = clt__src_read(s, b + have, cap - have);
    have += r;
    if (have < cap || cap == n) break;
    size_t grown = cap > n / 2 ? n : 2 * cap;
    uint8_t *nb = clt__realloc(b, grown);
    if (!nb) {
      clt__free_mem(b);
      return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes", grown);
    }
    b = nb;
    cap = grown;
  }
  *out = b;
  *got = have;
  return CLT_OK;
}

clt_status clt__src_short(const clt__src *s, const char *what, size_t want, size_t got) {
  if (s->err)
    return clt__err(CLT_ERR_IO, "reading %s failed after %zu of its %zu bytes: %s", what, got, want, strerror(s->err));
  return clt__err(CLT_ERR_FORMAT, "%s is truncated: %zu bytes expected, %zu present", what, want, got);
}

clt_tensor *clt__src_read_tensor(clt__src *s, clt_device *host, clt_dtype dt, int ndim, const int64_t *shape,
                                 size_t nbytes, const char *what) {
  if (s->size >= 0) {
    long long left = clt__src_left(s);
    if ((unsigned long long)left < nbytes) return clt__src_short(s, what, nbytes, (size_t)left), NULL;
    if (!s->f) { /* straight from the caller's buffer */
      clt_tensor *t = clt__from_host(host, dt, ndim, shape, s->mem + s->pos);
      if (t) s->pos += (long long)nbytes;
      return t;
    }
    clt_tensor *t = clt__empty(host, dt, ndim, shape);
    if (!t) return NULL;
    size_t got = clt__src_read(s, t->st->ptr, nbytes);
    if (got != nbytes) {
      clt__tensor_release(t);
      return clt__src_short(s, what, nbytes, got), NULL;
    }
    return t;
  }
  /* a stream: the bytes must arrive before memory of their size is taken for them */
  void *buf;
  size_t got;
  if (clt__src_read_alloc(s, nbytes, &buf, &got) != CLT_OK) return NULL;
  clt_tensor *t = got == nbytes ? clt__from_host(host, dt, ndim, shape, buf) : NULL;
  if (got != nbytes) clt__src_short(s, what, nbytes, got);
  clt__free_mem(buf);
  return t;
}

/* ---- byte order ----------------------------------------------------------------------------- */

bool clt__host_little(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one == 1;
}

void clt__byte_order(void *p, size_t n, size_t es, bool from_little, bool to_little) {
  if (from_little == to_little || es < 2) return;
  uint8_t *b = p;
  for (size_t i = 0; i + es <= n; i += es)
    for (size_t lo = i, hi = i + es - 1; lo < hi; lo++, hi--) {
      uint8_t t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
}
