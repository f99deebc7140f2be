/* Named tensors on disk: safetensors (8-byte little-endian header length, a JSON header with
 * dtype, shape and data_offsets per tensor, then the raw little-endian data), with the JSON read
 * and written by Jansson; and directories of .npy files. Every size is checked against the
 * bytes that are there before anything is allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CLT_HAVE_JANSSON
#include <jansson.h>
#endif

#include "fileio.h"
#include "core.h"

#define MAX_HEADER (100u << 20) /* the format's own limit */

struct clt_tensor_list {
  int n, cap;
  char **names;
  clt_tensor **tensors;
};

static clt_status list_new(clt_tensor_list **out) {
  *out = clt__calloc(1, sizeof **out);
  return *out ? CLT_OK : clt__err(CLT_ERR_OOM, "cannot allocate a tensor list");
}

/* Takes over t (even on failure). */
static clt_status list_add(clt_tensor_list *l, const char *name, clt_tensor *t) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **names = clt__realloc(l->names, (size_t)cap * sizeof *names);
    if (names) l->names = names;
    clt_tensor **ts = names ? clt__realloc(l->tensors, (size_t)cap * sizeof *ts) : NULL;
    if (ts) l->tensors = ts;
    if (!names || !ts) {
      clt__tensor_release(t);
      return clt__err(CLT_ERR_OOM, "cannot grow the tensor list to %d entries", cap);
    }
    l->cap = cap;
  }
  char *copy = clt__strdup(name);
  if (!copy) {
    clt__tensor_release(t);
    return clt__err(CLT_ERR_OOM, "cannot copy a tensor name");
  }
  l->names[l->n] = copy;
  l->tensors[l->n++] = t;
  return CLT_OK;
}

void clt_tensor_list_release(clt_tensor_list *l) {
  if (!l) return;
  for (int i = 0; i < l->n; i++) {
    clt__free_mem(l->names[i]);
    clt__tensor_release(l->tensors[i]);
  }
  clt__free_mem(l->names);
  clt__free_mem(l->tensors);
  clt__free_mem(l);
}

int clt_tensor_list_size(const clt_tensor_list *l) { return l ? l->n : 0; }

const char *clt_tensor_list_name(const clt_tensor_list *l, int i) {
  return l && i >= 0 && i < l->n ? l->names[i] : NULL;
}

clt_tensor *clt_tensor_list_get(const clt_tensor_list *l, int i) {
  clt__api("clt_tensor_list_get");
  if (!l) return clt__err(CLT_ERR_INVALID_ARG, "argument l is NULL"), NULL;
  if (i < 0 || i >= l->n) return clt__err(CLT_ERR_INDEX, "index %d is out of range for %d tensors", i, l->n), NULL;
  return clt__ret(clt__retain(l->tensors[i]));
}

clt_tensor *clt_tensor_list_find(const clt_tensor_list *l, const char *name) {
  clt__api("clt_tensor_list_find");
  if (!l || !name) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", l ? "name" : "l"), NULL;
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->names[i], name) == 0) return clt__ret(clt__retain(l->tensors[i]));
  return clt__err(CLT_ERR_INDEX, "no tensor is named '%s'", name), NULL;
}

static const char *st_dtype(clt_dtype dt) {
  switch (dt) {
    case CLT_FLOAT32: return "F32";
    case CLT_FLOAT64: return "F64";
    case CLT_INT32: return "I32";
    case CLT_INT64: return "I64";
    case CLT_UINT8: return "U8";
    default: return "BOOL";
  }
}

static clt_status check_named(int n, const char *const *names, clt_tensor *const *tensors) {
  if (n < 0 || (n > 0 && (!names || !tensors))) return clt__err(CLT_ERR_INVALID_ARG, "need n >= 0 names and tensors");
  for (int i = 0; i < n; i++) {
    if (!names[i] || !*names[i]) return clt__err(CLT_ERR_INVALID_ARG, "names[%d] is NULL or empty", i);
    if (!tensors[i]) return clt__err(CLT_ERR_INVALID_ARG, "tensors[%d] ('%s') is NULL", i, names[i]);
    if (strcmp(names[i], "__metadata__") == 0) return clt__err(CLT_ERR_INVALID_ARG, "the name __metadata__ is reserved");
    for (int j = 0; j < i; j++)
      if (strcmp(names[i], names[j]) == 0) return clt__err(CLT_ERR_INVALID_ARG, "the name '%s' appears twice", names[i]);
  }
  return CLT_OK;
}

/* A tensor's bytes, row-major, little-endian (this file assumes a little-endian host, as the
 * .npy writer checks). */
static clt_status bytes_of(const clt_tensor *t, void **buf, size_t *len) {
  *len = (size_t)t->numel * clt_dtype_size(t->dtype);
  *buf = clt__malloc(*len ? *len : 1);
  if (!*buf) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes", *len);
  clt_status s = clt__to_host(t, *buf);
  if (s != CLT_OK) {
    clt__free_mem(*buf);
    *buf = NULL; /* the caller frees what is left in its array */
  }
  return s;
}

#ifdef CLT_HAVE_JANSSON

clt_status clt_save_safetensors(const char *path, int n, const char *const *names, clt_tensor *const *tensors) {
  clt__api("clt_save_safetensors");
  if (!path) return clt__err(CLT_ERR_INVALID_ARG, "argument path is NULL");
  clt_status s = check_named(n, names, tensors);
  if (s != CLT_OK) return s;
  json_t *hdr = json_object(), *meta = json_object();
  void **data = clt__calloc((size_t)(n ? n : 1), sizeof *data);
  size_t *lens = clt__calloc((size_t)n + 1, sizeof *lens); /* the header, then each tensor's data */
  const void **parts = clt__calloc((size_t)n + 1, sizeof *parts);
  if (!hdr || !meta || !data || !lens || !parts) s = clt__err(CLT_ERR_OOM, "cannot allocate the header");
  if (s == CLT_OK) {
    json_object_set_new(meta, "producer", json_string("clt"));
    json_object_set(hdr, "__metadata__", meta);
  }
  uint64_t off = 0;
  for (int i = 0; i < n && s == CLT_OK; i++) {
    const clt_tensor *t = tensors[i];
    if ((s = bytes_of(t, &data[i], &lens[i + 1])) != CLT_OK) break;
    json_t *e = json_object(), *shape = json_array(), *offs = json_array();
    for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
    json_array_append_new(offs, json_integer((json_int_t)off));
    json_array_append_new(offs, json_integer((json_int_t)(off + lens[i + 1])));
    json_object_set_new(e, "dtype", json_string(st_dtype(t->dtype)));
    json_object_set_new(e, "shape", shape);
    json_object_set_new(e, "data_offsets", offs);
    if (json_object_set_new(hdr, names[i], e) != 0) s = clt__err(CLT_ERR_OOM, "cannot build the header");
    off += lens[i + 1];
    parts[i + 1] = data[i];
  }
  char *text = s == CLT_OK ? json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  if (s == CLT_OK && !text) s = clt__err(CLT_ERR_OOM, "cannot write the header");
  if (s == CLT_OK) {
    size_t tl = strlen(text), padded = (tl + 7) / 8 * 8;
    char *h = clt__malloc(padded + 8);
    if (!h) {
      s = clt__err(CLT_ERR_OOM, "cannot allocate the header");
    } else {
      for (int i = 0; i < 8; i++) h[i] = (char)((uint64_t)padded >> (8 * i));
      memcpy(h + 8, text, tl);
      memset(h + 8 + tl, ' ', padded - tl); /* the format pads with spaces */
      parts[0] = h;
      lens[0] = padded + 8;
      s = clt__file_write_atomic(path, parts, lens, n + 1);
      clt__free_mem(h);
    }
  }
  free(text);
  for (int i = 0; i < n && data; i++) clt__free_mem(data[i]);
  clt__free_mem(data);
  clt__free_mem(lens);
  clt__free_mem(parts);
  json_decref(meta);
  json_decref(hdr);
  return s;
}

static clt_status fmt(const char *what) { return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: %s", what); }

static clt_status parse_dtype(const char *s, clt_dtype *dt) {
  static const struct { const char *name; clt_dtype dt; } m[] = {
      {"F32", CLT_FLOAT32}, {"F64", CLT_FLOAT64}, {"I32", CLT_INT32}, {"I64", CLT_INT64}, {"U8", CLT_UINT8}, {"BOOL", CLT_BOOL}};
  for (size_t i = 0; i < sizeof m / sizeof *m; i++)
    if (strcmp(s, m[i].name) == 0) {
      *dt = m[i].dt;
      return CLT_OK;
    }
  return clt__err(CLT_ERR_DTYPE, "safetensors dtype '%s' has no clt equivalent", s);
}

/* One entry of the header into a tensor on dev. */
static clt_status parse_entry(const char *name, json_t *e, const uint8_t *data, uint64_t data_len, clt_device *host,
                              clt_device *dev, clt_tensor **out) {
  json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"), *jo = json_object_get(e, "data_offsets");
  if (!json_is_object(e) || !json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
    return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: entry '%s' lacks dtype, shape or data_offsets", name);
  clt_dtype dt = CLT_FLOAT32;
  clt_status s = parse_dtype(json_string_value(jd), &dt);
  if (s != CLT_OK) return s;
  size_t nd = json_array_size(js);
  if (nd > CLT_MAX_DIMS) return clt__err(CLT_ERR_UNSUPPORTED, "entry '%s' has %zu dims (clt has %d)", name, nd, CLT_MAX_DIMS);
  int64_t shape[CLT_MAX_DIMS], numel = 1;
  for (size_t d = 0; d < nd; d++) {
    json_t *v = json_array_get(js, d);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return fmt("a shape entry is not a non-negative integer");
    shape[d] = (int64_t)json_integer_value(v);
    if (clt__mul_ovf(numel, shape[d], &numel)) return fmt("a shape's element count overflows");
  }
  json_t *b = json_array_get(jo, 0), *en = json_array_get(jo, 1);
  if (!json_is_integer(b) || !json_is_integer(en) || json_integer_value(b) < 0 || json_integer_value(en) < json_integer_value(b))
    return fmt("data_offsets are not two increasing non-negative integers");
  uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(en);
  int64_t nbytes;
  if (clt__mul_ovf(numel, (int64_t)clt_dtype_size(dt), &nbytes) || (uint64_t)nbytes != end - begin)
    return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: entry '%s' has %llu data bytes for shape of %lld elements of %s",
                    name, (unsigned long long)(end - begin), (long long)numel, clt_dtype_name(dt));
  if (end > data_len)
    return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: entry '%s' ends at byte %llu of %llu data bytes (truncated?)",
                    name,
                    (unsigned long long)end, (unsigned long long)data_len);
  clt_tensor *h = clt__from_host(host, dt, (int)nd, shape, data + begin);
  if (!h) return clt_last_status();
  if (dt == CLT_BOOL)
    for (int64_t i = 0; i < numel; i++) ((uint8_t *)h->st->ptr)[i] = ((uint8_t *)h->st->ptr)[i] != 0;
  *out = dev ? clt__to(h, dev) : clt__retain(h);
  clt__tensor_release(h);
  return *out ? CLT_OK : clt_last_status();
}

static clt_status parse(const uint8_t *buf, size_t len, clt_device *dev, clt_tensor_list **out) {
  if (len < 8) return fmt("shorter than its 8-byte header length");
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)buf[i] << (8 * i);
  if (hl > MAX_HEADER || hl > len - 8)
    return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: header length %llu exceeds the %zu bytes that follow",
                    (unsigned long long)hl, len - 8);
  json_error_t jerr;
  json_t *hdr = json_loadb((const char *)buf + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &jerr);
  if (!hdr) return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: header JSON: %s (at %d)", jerr.text, jerr.position);
  clt_status s = json_is_object(hdr) ? CLT_OK : fmt("the header is not a JSON object");
  clt_device *host = NULL;
  if (s == CLT_OK) s = clt__host_for(dev, &host);
  if (s == CLT_OK) s = list_new(out);
  const char *name;
  json_t *e;
  json_object_foreach(hdr, name, e) {
    if (s != CLT_OK) break;
    if (strcmp(name, "__metadata__") == 0) continue;
    clt_tensor *t = NULL;
    s = parse_entry(name, e, buf + 8 + hl, len - 8 - hl, host, dev, &t);
    if (s == CLT_OK) s = list_add(*out, name, t);
  }
  if (s != CLT_OK) {
    clt_tensor_list_release(*out);
    *out = NULL;
  }
  clt_device_release(host);
  json_decref(hdr);
  return s;
}

#else /* no Jansson */

clt_status clt_save_safetensors(const char *path, int n, const char *const *names, clt_tensor *const *tensors) {
  (void)path, (void)n, (void)names, (void)tensors;
  clt__api("clt_save_safetensors");
  return clt__err(CLT_ERR_UNSUPPORTED, "clt was built without Jansson (libjansson-dev), which safetensors needs");
}

static clt_status parse(const uint8_t *buf, size_t len, clt_device *dev, clt_tensor_list **out) {
  (void)buf, (void)len, (void)dev, (void)out;
  return clt__err(CLT_ERR_UNSUPPORTED, "clt was built without Jansson (libjansson-dev), which safetensors needs");
}

#endif

clt_status clt_parse_safetensors(const void *buf, size_t len, clt_device *dev, clt_tensor_list **out) {
  clt__api("clt_parse_safetensors");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!buf && len > 0) return clt__err(CLT_ERR_INVALID_ARG, "argument buf is NULL");
  return parse(buf, len, dev, out);
}

clt_status clt_load_safetensors(const char *path, clt_device *dev, clt_tensor_list **out) {
  clt__api("clt_load_safetensors");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!path) return clt__err(CLT_ERR_INVALID_ARG, "argument path is NULL");
  void *buf;
  size_t len;
  clt_status s = clt__file_read_all(path, (size_t)1 << 40, &buf, &len);
  if (s != CLT_OK) return s;
  s = parse(buf, len, dev, out);
  clt__free_mem(buf);
  return s;
}

/* ---- directories of .npy files ---------------------------------------------------------- */

static clt_status check_file_name(const char *name) {
  if (strchr(name, '/') || strchr(name, '\\') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return clt__err(CLT_ERR_INVALID_ARG, "the name '%s' cannot be a file name", name);
  return CLT_OK;
}

static char *join(const char *dir, const char *name, const char *ext) {
  size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
  char *p = clt__malloc(n);
  if (p) snprintf(p, n, "%s/%s%s", dir, name, ext);
  else clt__err(CLT_ERR_OOM, "cannot allocate a path");
  return p;
}

clt_status clt_save_npy_dir(const char *dir, int n, const char *const *names, clt_tensor *const *tensors) {
  clt__api("clt_save_npy_dir");
  if (!dir) return clt__err(CLT_ERR_INVALID_ARG, "argument dir is NULL");
  clt_status s = check_named(n, names, tensors);
  for (int i = 0; i < n && s == CLT_OK; i++) s = check_file_name(names[i]);
  if (s != CLT_OK) return s;
  if (!clt__mkdir_p(dir)) return clt__err(CLT_ERR_IO, "cannot create the directory '%s'", dir);
  for (int i = 0; i < n && s == CLT_OK; i++) {
    char *path = join(dir, names[i], ".npy");
    if (!path) return clt_last_status();
    void *buf;
    size_t len;
    s = clt_format_npy(tensors[i], &buf, &len);
    clt__api("clt_save_npy_dir");
    if (s == CLT_OK) {
      const void *parts[1] = {buf};
      s = clt__file_write_atomic(path, parts, &len, 1);
      clt_free(buf);
    }
    clt__free_mem(path);
  }
  return s;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

clt_status clt_load_npy_dir(const char *dir, clt_device *dev, clt_tensor_list **out) {
  clt__api("clt_load_npy_dir");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!dir) return clt__err(CLT_ERR_INVALID_ARG, "argument dir is NULL");
  char **files = NULL;
  size_t nf = 0;
  if (!clt__list_dir(dir, ".npy", &files, &nf)) return clt__err(CLT_ERR_IO, "cannot list the directory '%s'", dir);
  qsort(files, nf, sizeof *files, by_name);
  clt_status s = list_new(out);
  for (size_t i = 0; i < nf && s == CLT_OK; i++) {
    char *path = join(dir, files[i], "");
    if (!path) {
      s = clt_last_status();
      break;
    }
    void *buf;
    size_t len;
    s = clt__file_read_all(path, (size_t)1 << 40, &buf, &len);
    clt_tensor *t = NULL;
    if (s == CLT_OK) {
      s = clt_parse_npy(buf, len, dev, &t);
      clt__api("clt_load_npy_dir");
      if (t) clt_keep(t);
      clt__free_mem(buf);
    }
    if (s == CLT_OK) {
      files[i][strlen(files[i]) - 4] = '\0'; /* the name without .npy */
      s = list_add(*out, files[i], t);
    }
    if (s != CLT_OK) clt__err_append(" (in '%s')", path);
    clt__free_mem(path);
  }
  for (size_t i = 0; i < nf; i++) free(files[i]);
  free(files);
  if (s != CLT_OK) {
    clt_tensor_list_release(*out);
    *out = NULL;
  }
  return s;
}
