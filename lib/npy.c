/* NumPy .npy files (format described in numpy/lib/format.py and NEP 1): load versions 1.0-3.0,
 * save 1.0 (2.0 when the header needs it). Every size in the header is checked against the bytes
 * that are really there before anything is allocated. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "fileio.h"

#define MAGIC "\x93NUMPY"
#define MAGIC_LEN 6

typedef struct {
  clt_dtype dt;
  bool little;  /* the file's byte order */
  bool fortran;
  int ndim;
  int64_t shape[CLT_MAX_DIMS];
  int64_t numel;
  size_t nbytes;
} npy_header;

/* ---- the header dict, a Python literal such as
 *      {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                      ---- */

typedef struct {
  const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static bool eat(cursor *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return true;
  }
  return false;
}

/* A quoted string into out (at most cap-1 chars). */
static bool parse_str(cursor *c, char *out, size_t cap) {
  skip_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return false;
  char q = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != q) {
    if (*c->p == '\\' || n + 1 >= cap) return false;
    out[n++] = *c->p++;
  }
  if (c->p >= c->end) return false;
  c->p++;
  out[n] = '\0';
  return true;
}

static bool parse_word(cursor *c, const char *w) {
  skip_ws(c);
  size_t n = strlen(w);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return false;
  c->p += n;
  return true;
}

static clt_status fmt_err(const char *what) {
  return clt__err(CLT_ERR_FORMAT, "malformed .npy header: %s", what);
}

static clt_status parse_shape(cursor *c, npy_header *h) {
  if (!eat(c, '(')) return fmt_err("'shape' is not a tuple");
  h->ndim = 0;
  skip_ws(c);
  while (!eat(c, ')')) {
    skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return fmt_err("a 'shape' entry is not a non-negative integer");
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
      if (v > (INT64_MAX - 9) / 10) return clt__err(CLT_ERR_FORMAT, "malformed .npy header: a 'shape' entry overflows");
      v = v * 10 + (*c->p++ - '0');
    }
    if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
    if (h->ndim == CLT_MAX_DIMS)
      return clt__err(CLT_ERR_UNSUPPORTED, "the array has more than %d dims", CLT_MAX_DIMS);
    h->shape[h->ndim++] = v;
    if (!eat(c, ',')) {
      if (!eat(c, ')')) return fmt_err("'shape' tuple is not closed");
      /* Python reads (2) as the number 2, and NumPy refuses it; a 1-tuple is (2,) */
      if (h->ndim == 1) return fmt_err("'shape' (n) is a number, not a tuple (a 1-d shape is written (n,))");
      break;
    }
  }
  return CLT_OK;
}

static clt_status parse_descr(const char *d, npy_header *h) {
  char order = d[0];
  if (order != '<' && order != '>' && order != '|' && order != '=')
    return clt__err(CLT_ERR_DTYPE, "dtype '%s' is not a plain numeric dtype", d);
  if (strcmp(d + 1, "O") == 0 || d[1] == 'O')
    return clt__err(CLT_ERR_DTYPE, "object arrays ('%s') need pickle and are refused", d);
  int found = -1;
#define CLT__NPY_CODE(e, name, size, code) \
  if ((code)[0] && strcmp(d + 1, code) == 0) found = e;
  CLT_DTYPE_LIST(CLT__NPY_CODE)
#undef CLT__NPY_CODE
  if (found < 0) return clt__err(CLT_ERR_DTYPE, "dtype '%s' has no clt equivalent", d);
  h->dt = (clt_dtype)found;
  h->little = order == '<' || (order == '=' && clt__host_little()) || order == '|';
  if (order == '|' && clt_dtype_size(h->dt) > 1)
    return clt__err(CLT_ERR_FORMAT, "malformed .npy header: dtype '%s' needs a byte order", d);
  return CLT_OK;
}

static clt_status parse_dict(const char *text, size_t len, npy_header *h) {
  cursor c = {text, text + len};
  bool have_descr = false, have_order = false, have_shape = false;
  char key[32], descr[32];
  if (!eat(&c, '{')) return fmt_err("it does not start with '{'");
  while (!eat(&c, '}')) {
    if (!parse_str(&c, key, sizeof key)) return fmt_err("a key is not a short quoted string");
    if (!eat(&c, ':')) return fmt_err("a key is not followed by ':'");
    clt_status st = CLT_OK;
    if (strcmp(key, "descr") == 0 && !have_descr) {
      skip_ws(&c);
      if (c.p < c.end && *c.p == '[')
        return clt__err(CLT_ERR_DTYPE, "structured dtypes are not supported");
      if (!parse_str(&c, descr, sizeof descr)) return fmt_err("'descr' is not a short string");
      st = parse_descr(descr, h);
      have_descr = true;
    } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
      if (parse_word(&c, "True")) h->fortran = true;
      else if (parse_word(&c, "False")) h->fortran = false;
      else return fmt_err("'fortran_order' is not True or False");
      have_order = true;
    } else if (strcmp(key, "shape") == 0 && !have_shape) {
      st = parse_shape(&c, h);
      have_shape = true;
    } else {
      return clt__err(CLT_ERR_FORMAT, "malformed .npy header: unexpected or repeated key '%s'", key);
    }
    if (st != CLT_OK) return st;
    if (!eat(&c, ',')) {
      if (!eat(&c, '}')) return fmt_err("entries are not separated by ','");
      break;
    }
  }
  skip_ws(&c);
  if (c.p != c.end) return fmt_err("text follows the closing '}'");
  if (!have_descr || !have_order || !have_shape)
    return fmt_err("'descr', 'fortran_order' or 'shape' is missing");
  int64_t numel = 1;
  for (int d = 0; d < h->ndim; d++)
    if (clt__mul_ovf(numel, h->shape[d], &numel))
      return clt__err(CLT_ERR_FORMAT, "malformed .npy header: the shape's element count overflows");
  h->numel = numel;
  if (clt__nbytes(numel, h->dt, &h->nbytes) != CLT_OK)
    return clt__err(CLT_ERR_FORMAT, "malformed .npy header: the data size of %lld elements of %s overflows",
                    (long long)numel, clt_dtype_name(h->dt));
  return CLT_OK;
}

/* Reads the fixed prefix: magic, version and header length. *data_off = where data starts. */
static clt_status parse_prefix(const uint8_t *p, size_t avail, size_t *hlen, size_t *hstart) {
  if (avail < 10 || memcmp(p, MAGIC, MAGIC_LEN) != 0)
    return clt__err(CLT_ERR_FORMAT, "not a .npy file (no \\x93NUMPY magic)");
  uint8_t major = p[6], minor = p[7];
  if (major == 1 && minor == 0) {
    *hlen = (size_t)p[8] | (size_t)p[9] << 8;
    *hstart = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (avail < 12) return clt__err(CLT_ERR_FORMAT, "the .npy file ends inside its prefix");
    *hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
    *hstart = 12;
  } else {
    return clt__err(CLT_ERR_FORMAT, ".npy format version %u.%u is not supported (1.0, 2.0, 3.0 are)",
                    major, minor);
  }
  if (*hlen > CLT_NPY_MAX_HEADER)
    return clt__err(CLT_ERR_FORMAT, "the .npy header of %zu bytes exceeds the limit of %d", *hlen,
                    CLT_NPY_MAX_HEADER);
  return CLT_OK;
}

/* Makes a host tensor of the header's shape from raw file data (swapping, normalising bools,
 * reordering Fortran data), then moves it to dev. */
static clt_tensor *tensor_from_data(const npy_header *h, clt_tensor *raw, clt_device *dev) {
  uint8_t *p = raw->st->ptr;
  clt__byte_order(p, h->nbytes, clt_dtype_size(h->dt), h->little, clt__host_little());
  if (h->dt == CLT_BOOL)
    for (size_t i = 0; i < h->nbytes; i++) p[i] = p[i] != 0;
  clt_tensor *ordered = clt__retain(raw);
  if (h->fortran && h->ndim > 1) {
    int64_t strides[CLT_MAX_DIMS], s = 1;
    for (int d = 0; d < h->ndim; d++) {
      strides[d] = s;
      s = clt__wmul(s, h->shape[d] > 1 ? h->shape[d] : 1);
    }
    clt_tensor *fv = clt__view_of(raw, h->ndim, h->shape, strides, 0);
    clt__tensor_release(ordered);
    ordered = fv ? clt__clone(fv) : NULL;
    clt__tensor_release(fv);
  }
  if (!ordered) return NULL;
  clt_tensor *out = clt__to(ordered, dev);
  clt__tensor_release(ordered);
  return out;
}

/* Reads a .npy file from s front to back: the prefix, the header, then only as many data bytes
 * as the header names, checked against what the input holds before memory is taken for them. */
static clt_status load(clt__src *s, clt_device *dev, clt_tensor **out) {
  uint8_t prefix[12];
  size_t got = clt__src_read(s, prefix, 10), hlen = 0, hstart = 0;
  if (got == 10 && prefix[6] != 1) got += clt__src_read(s, prefix + 10, 2); /* versions 2 and 3 */
  if (s->err) return clt__src_short(s, "the .npy prefix", 10, got);
  clt_status st = parse_prefix(prefix, got, &hlen, &hstart);
  if (st != CLT_OK) return st;
  long long left = clt__src_left(s);
  if (left >= 0 && (unsigned long long)hlen > (unsigned long long)left)
    return clt__err(CLT_ERR_FORMAT, "the .npy header length %zu exceeds the %lld bytes that follow", hlen, left);
  void *text;
  if ((st = clt__src_read_alloc(s, hlen, &text, &got)) != CLT_OK) return st;
  npy_header h = {0};
  if (got != hlen)
    st = clt__src_short(s, "the .npy header", hlen, got);
  else
    st = parse_dict(text, hlen, &h);
  clt__free_mem(text);
  if (st != CLT_OK) return st;
  clt_device *host;
  if ((st = clt__host_for(dev, &host)) != CLT_OK) return st;
  clt_tensor *raw = clt__src_read_tensor(s, host, h.dt, h.ndim, h.shape, h.nbytes, "the .npy data");
  clt__device_drop(host);
  if (!raw) return clt_last_status();
  *out = tensor_from_data(&h, raw, dev ? dev : raw->st->dev);
  clt__tensor_release(raw);
  return *out ? CLT_OK : clt_last_status();
}

clt_status clt__npy_load(const char *path, clt_device *dev, clt_tensor **out) {
  clt__src s;
  clt_status st = clt__src_open(&s, path);
  if (st != CLT_OK) return st;
  st = load(&s, dev, out);
  clt__src_close(&s);
  if (st != CLT_OK) clt__err_append(" (in '%s')", path);
  return st;
}

clt_status clt_parse_npy(const void *buf, size_t len, clt_device *dev, clt_tensor **out) {
  clt__api("clt_parse_npy");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!buf && len > 0) return clt__err(CLT_ERR_INVALID_ARG, "argument buf is NULL");
  clt__src s;
  clt__src_mem(&s, buf, len);
  clt_status st = load(&s, dev, out);
  if (st == CLT_OK) *out = clt__ret(*out);
  return st;
}

clt_status clt_load_npy(const char *path, clt_device *dev, clt_tensor **out) {
  clt__api("clt_load_npy");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!path) return clt__err(CLT_ERR_INVALID_ARG, "argument path is NULL");
  clt_status st = clt__npy_load(path, dev, out);
  if (st == CLT_OK) *out = clt__ret(*out);
  return st;
}

/* ---- writing ---------------------------------------------------------------------------- */

static const char *descr_of(clt_dtype dt) {
  switch (dt) {
    case CLT_FLOAT32: return "<f4";
    case CLT_FLOAT64: return "<f8";
    case CLT_INT32: return "<i4";
    case CLT_INT64: return "<i8";
    case CLT_UINT8: return "|u1";
    case CLT_FLOAT16: return "<f2";
    default: return "|b1";
  }
}

/* Builds prefix + header into hdr (at most 256 + padding bytes); returns its length. */
static size_t make_header(const clt_tensor *t, char *hdr, size_t cap) {
  char dict[512];
  size_t n = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                              descr_of(t->dtype));
  for (int d = 0; d < t->ndim; d++)
    n += (size_t)snprintf(dict + n, sizeof dict - n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
  n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", t->ndim == 1 ? "," : "");
  bool v2 = 10 + n + 1 > 65535; /* never with CLT_MAX_DIMS dims, kept for the format's sake */
  size_t pre = v2 ? 12 : 10, total = (pre + n + 1 + 63) / 64 * 64, hlen = total - pre;
  if (total > cap) return 0;
  memcpy(hdr, MAGIC, MAGIC_LEN);
  hdr[6] = v2 ? 2 : 1;
  hdr[7] = 0;
  for (size_t i = 0; i < (v2 ? 4u : 2u); i++) hdr[8 + i] = (char)((hlen >> (8 * i)) & 0xff);
  memcpy(hdr + pre, dict, n);
  memset(hdr + pre + n, ' ', hlen - n - 1);
  hdr[total - 1] = '\n';
  return total;
}

/* A new buffer of lead bytes (left for the caller) then the tensor's bytes, row-major,
 * little-endian; *len: the bytes of data. */
static clt_status data_bytes(const clt_tensor *t, size_t lead, uint8_t **buf, size_t *len) {
  if (t->dtype == CLT_BFLOAT16)
    return clt__err(CLT_ERR_DTYPE, "NumPy has no bfloat16 dtype: cast t to float32 first, or save it as safetensors");
  clt_status st = clt__nbytes(t->numel, t->dtype, len);
  if (st != CLT_OK) return st;
  if (*len > SIZE_MAX - lead)
    return clt__err(CLT_ERR_OVERFLOW, "%zu bytes of data and a %zu-byte header overflow the address space", *len, lead);
  *buf = clt__malloc(lead + *len);
  if (!*buf) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes to write", lead + *len);
  if ((st = clt__to_host(t, *buf + lead)) != CLT_OK) {
    clt__free_mem(*buf);
    return st;
  }
  clt__byte_order(*buf + lead, *len, clt_dtype_size(t->dtype), clt__host_little(), true);
  return CLT_OK;
}

clt_status clt_format_npy(const clt_tensor *t, void **buf, size_t *len) {
  clt__api("clt_format_npy");
  if (!t) return clt__null_arg("t");
  if (!buf || !len) return clt__err(CLT_ERR_INVALID_ARG, "argument buf or len is NULL");
  char hdr[1024];
  size_t hn = make_header(t, hdr, sizeof hdr), dn;
  uint8_t *out;
  clt_status st = data_bytes(t, hn, &out, &dn);
  if (st != CLT_OK) return st;
  memcpy(out, hdr, hn);
  *buf = out;
  *len = hn + dn;
  return CLT_OK;
}

clt_status clt_save_npy(const char *path, const clt_tensor *t) {
  clt__api("clt_save_npy");
  if (!t) return clt__null_arg("t");
  if (!path) return clt__err(CLT_ERR_INVALID_ARG, "argument path is NULL");
  char hdr[1024];
  size_t hn = make_header(t, hdr, sizeof hdr);
  uint8_t *data;
  size_t dn;
  clt_status st = data_bytes(t, 0, &data, &dn);
  if (st != CLT_OK) return st;
  const void *parts[2] = {hdr, data};
  const size_t lens[2] = {hn, dn};
  st = clt__file_write_atomic(path, parts, lens, 2);
  clt__free_mem(data);
  return st;
}
