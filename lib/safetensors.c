/* Named tensors on disk: safetensors (8-byte little-endian header length, a JSON header with
 * dtype, shape and data_offsets per tensor, then the raw little-endian data), with the JSON read
 * and written by Jansson; and directories of .npy files. Files are read header first: every size
 * is checked against the bytes that are there (or, from a stream, read as they arrive) before
 * memory of that size is taken, and the format's rules are kept as the reference implementation
 * (huggingface/safetensors) keeps them: the tensors' data_offsets tile the data exactly, with no
 * overlap, gap or trailing byte, and __metadata__ maps strings to strings. */
#include <stdatomic.h>
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

clt_tensor *clt_tensor_list_at(const clt_tensor_list *l, int i) {
  clt__api("clt_tensor_list_at");
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

#ifdef CLT_HAVE_JANSSON /* the writer's helpers */
static const char *st_dtype(clt_dtype dt) {
  switch (dt) {
    case CLT_FLOAT32: return "F32";
    case CLT_FLOAT64: return "F64";
    case CLT_INT32: return "I32";
    case CLT_INT64: return "I64";
    case CLT_UINT8: return "U8";
    case CLT_FLOAT16: return "F16";
    case CLT_BFLOAT16: return "BF16";
    default: return "BOOL";
  }
}
#endif

/* Whether s is UTF-8 as JSON requires of the header's keys: no overlong form, no surrogate,
 * nothing past U+10FFFF. */
static bool valid_utf8(const char *s) {
  static const uint32_t least[4] = {0, 0x80, 0x800, 0x10000};
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    unsigned c = *p, n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 4;
    if (n == 4) return false;
    uint32_t cp = n ? c & (0x3fu >> n) : c;
    for (unsigned k = 1; k <= n; k++) { /* a NUL ends this before reading past it */
      if ((p[k] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (p[k] & 0x3f);
    }
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += n + 1;
  }
  return true;
}

static clt_status check_named(int n, const char *const *names, clt_tensor *const *tensors) {
  if (n < 0 || (n > 0 && (!names || !tensors))) return clt__err(CLT_ERR_INVALID_ARG, "need n >= 0 names and tensors");
  for (int i = 0; i < n; i++) {
    if (!names[i] || !*names[i]) return clt__err(CLT_ERR_INVALID_ARG, "names[%d] is NULL or empty", i);
    if (!tensors[i]) return clt__err(CLT_ERR_INVALID_ARG, "tensors[%d] ('%s') is NULL", i, names[i]);
    if (strcmp(names[i], "__metadata__") == 0) return clt__err(CLT_ERR_INVALID_ARG, "the name __metadata__ is reserved");
    if (!valid_utf8(names[i])) return clt__err(CLT_ERR_INVALID_ARG, "names[%d] is not UTF-8 (safetensors names are JSON keys)", i);
    for (int j = 0; j < i; j++)
      if (strcmp(names[i], names[j]) == 0) return clt__err(CLT_ERR_INVALID_ARG, "the name '%s' appears twice", names[i]);
  }
  return CLT_OK;
}

#ifdef CLT_HAVE_JANSSON
/* A tensor's bytes, row-major, little-endian. */
static clt_status bytes_of(const clt_tensor *t, void **buf, size_t *len) {
  clt_status s = clt__nbytes(t->numel, t->dtype, len);
  if (s != CLT_OK) return s;
  *buf = clt__malloc(*len ? *len : 1);
  if (!*buf) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes", *len);
  s = clt__to_host(t, *buf);
  if (s != CLT_OK) {
    clt__free_mem(*buf);
    *buf = NULL; /* the caller frees what is left in its array */
    return s;
  }
  clt__byte_order(*buf, *len, clt_dtype_size(t->dtype), clt__host_little(), true);
  return CLT_OK;
}
#endif

#ifdef CLT_HAVE_JANSSON

/* Jansson's allocations go through clt's, so the fault hook reaches them (tests make each fail
 * in turn) and a failure there is reported like any other. Jansson's allocator is process-wide:
 * it is set once, and only while it is still the C library's, so an application that gave
 * Jansson its own keeps it. clt__malloc and clt__free_mem are malloc and free underneath, so
 * objects made before the switch are freed correctly after it. */
/* Jansson reports a failed allocation inside its lexer as a syntax error ("premature end of
 * input"), so the loader counts them itself to call it what it was. */
static CLT__TLS unsigned long json_alloc_failures;
static void *json_alloc(size_t n) {
  void *p = clt__malloc(n);
  if (!p) json_alloc_failures++;
  return p;
}

static void use_clt_allocator(void) {
  static atomic_int state; /* 0: not yet, 1: being set, 2: done */
  int expected = 0;
  if (atomic_load(&state) == 2) return;
  if (atomic_compare_exchange_strong(&state, &expected, 1)) {
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (m == malloc && f == free) json_set_alloc_funcs(json_alloc, clt__free_mem);
    atomic_store(&state, 2);
  }
  while (atomic_load(&state) != 2) {
  }
}

/* One tensor's header entry; NULL when Jansson runs out of memory. The _new calls take over
 * their value even when they fail, so nothing leaks on any path. */
static json_t *entry_json(const clt_tensor *t, uint64_t begin, uint64_t end) {
  json_t *e = json_object(), *shape = json_array(), *offs = json_array();
  bool bad = false;
  for (int d = 0; d < t->ndim; d++) bad |= json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) != 0;
  bad |= json_array_append_new(offs, json_integer((json_int_t)begin)) != 0;
  bad |= json_array_append_new(offs, json_integer((json_int_t)end)) != 0;
  bad |= json_object_set_new(e, "dtype", json_string(st_dtype(t->dtype))) != 0;
  bad |= json_object_set_new(e, "shape", shape) != 0;
  bad |= json_object_set_new(e, "data_offsets", offs) != 0;
  if (!bad) return e;
  json_decref(e);
  return NULL;
}

clt_status clt_save_safetensors(const char *path, int n, const char *const *names, clt_tensor *const *tensors) {
  clt__api("clt_save_safetensors");
  if (!path) return clt__err(CLT_ERR_INVALID_ARG, "argument path is NULL");
  clt_status s = check_named(n, names, tensors);
  if (s != CLT_OK) return s;
  use_clt_allocator();
  unsigned long failures = json_alloc_failures;
  json_t *hdr = json_object(), *meta = json_object();
  void **data = clt__calloc((size_t)(n ? n : 1), sizeof *data);
  size_t *lens = clt__calloc((size_t)n + 1, sizeof *lens); /* the header, then each tensor's data */
  const void **parts = clt__calloc((size_t)n + 1, sizeof *parts);
  if (!hdr || !meta || !data || !lens || !parts ||
      json_object_set_new(meta, "producer", json_string("clt")) != 0 || json_object_set(hdr, "__metadata__", meta) != 0)
    s = clt__err(CLT_ERR_OOM, "cannot allocate the header");
  uint64_t off = 0;
  for (int i = 0; i < n && s == CLT_OK; i++) {
    const clt_tensor *t = tensors[i];
    if ((s = bytes_of(t, &data[i], &lens[i + 1])) != CLT_OK) break;
    json_t *e = entry_json(t, off, off + lens[i + 1]);
    if (!e) s = clt__err(CLT_ERR_OOM, "cannot build the header entry of '%s'", names[i]);
    else if (json_object_set_new(hdr, names[i], e) != 0)
      s = clt__err(CLT_ERR_OOM, "cannot add '%s' to the header", names[i]);
    off += lens[i + 1];
    parts[i + 1] = data[i];
  }
  char *text = s == CLT_OK ? json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  /* Jansson 2.14 can return a truncated text when an allocation fails while it writes */
  if (s == CLT_OK && (!text || json_alloc_failures != failures)) s = clt__err(CLT_ERR_OOM, "cannot write the header");
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
  if (text) {
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f); /* clt's, unless the application set its own */
    f(text);
  }
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
      {"F32", CLT_FLOAT32}, {"F64", CLT_FLOAT64}, {"I32", CLT_INT32}, {"I64", CLT_INT64}, {"U8", CLT_UINT8}, {"BOOL", CLT_BOOL},
      {"F16", CLT_FLOAT16}, {"BF16", CLT_BFLOAT16}};
  for (size_t i = 0; i < sizeof m / sizeof *m; i++)
    if (strcmp(s, m[i].name) == 0) {
      *dt = m[i].dt;
      return CLT_OK;
    }
  return clt__err(CLT_ERR_DTYPE, "safetensors dtype '%s' has no clt equivalent", s);
}

/* One tensor of the header, checked on its own; the tiling is checked over all of them. */
typedef struct {
  const char *name; /* in the JSON, which outlives it */
  clt_dtype dt;
  int ndim;
  int64_t shape[CLT_MAX_DIMS];
  uint64_t begin, end;
  clt_tensor *t;
} entry;

/* Names longer than this are cut in messages. */
#define NAME_SHOWN 200

static clt_status parse_entry(const char *name, json_t *e, long long data_len, entry *out) {
  json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"), *jo = json_object_get(e, "data_offsets");
  if (!*name) return fmt("a tensor has an empty name");
  if (!json_is_object(e) || !json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
    return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: entry '%.*s' lacks dtype, shape or data_offsets",
                    NAME_SHOWN, name);
  out->name = name;
  clt_status s = parse_dtype(json_string_value(jd), &out->dt);
  if (s != CLT_OK) return s;
  size_t nd = json_array_size(js);
  if (nd > CLT_MAX_DIMS)
    return clt__err(CLT_ERR_UNSUPPORTED, "entry '%.*s' has %zu dims (clt has %d)", NAME_SHOWN, name, nd, CLT_MAX_DIMS);
  out->ndim = (int)nd;
  int64_t numel = 1;
  for (size_t d = 0; d < nd; d++) {
    json_t *v = json_array_get(js, d);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return fmt("a shape entry is not a non-negative integer");
    out->shape[d] = (int64_t)json_integer_value(v);
    if (clt__mul_ovf(numel, out->shape[d], &numel)) return fmt("a shape's element count overflows");
  }
  json_t *b = json_array_get(jo, 0), *en = json_array_get(jo, 1);
  if (!json_is_integer(b) || !json_is_integer(en) || json_integer_value(b) < 0 || json_integer_value(en) < json_integer_value(b))
    return fmt("data_offsets are not two increasing non-negative integers");
  out->begin = (uint64_t)json_integer_value(b);
  out->end = (uint64_t)json_integer_value(en);
  int64_t nbytes;
  if (clt__mul_ovf(numel, (int64_t)clt_dtype_size(out->dt), &nbytes) || (uint64_t)nbytes != out->end - out->begin)
    return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: entry '%.*s' has %llu data bytes for shape of %lld elements of %s",
                    NAME_SHOWN, name, (unsigned long long)(out->end - out->begin), (long long)numel, clt_dtype_name(out->dt));
  if (data_len >= 0 && out->end > (uint64_t)data_len)
    return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: entry '%.*s' ends at byte %llu of %lld data bytes (truncated?)",
                    NAME_SHOWN, name, (unsigned long long)out->end, data_len);
  if ((uint64_t)nbytes > SIZE_MAX)
    return clt__err(CLT_ERR_OVERFLOW, "entry '%.*s' has %lld bytes, more than this host's address space", NAME_SHOWN, name,
                    (long long)nbytes);
  return CLT_OK;
}

static clt_status check_metadata(json_t *meta) {
  if (!json_is_object(meta)) return fmt("__metadata__ is not an object of strings");
  const char *key;
  json_t *v;
  json_object_foreach(meta, key, v) {
    if (!json_is_string(v))
      return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: __metadata__ value '%.*s' is not a string",
                      NAME_SHOWN, key);
  }
  return CLT_OK;
}

static int by_offsets(const void *a, const void *b) {
  const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* The data must be the tensors back to back: each begins where the one before it ends. */
static clt_status check_tiling(entry **sorted, size_t n, long long data_len) {
  uint64_t at = 0;
  const char *prev = NULL;
  for (size_t i = 0; i < n; i++) {
    const entry *e = sorted[i];
    if (e->begin < at)
      return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: entry '%.*s' (bytes %llu..%llu) overlaps '%.*s', "
                      "which ends at byte %llu", NAME_SHOWN, e->name, (unsigned long long)e->begin,
                      (unsigned long long)e->end, NAME_SHOWN, prev, (unsigned long long)at);
    if (e->begin > at)
      return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: entry '%.*s' begins at byte %llu, leaving bytes "
                      "%llu..%llu %s%.*s%s unused (a gap)", NAME_SHOWN, e->name, (unsigned long long)e->begin,
                      (unsigned long long)at, (unsigned long long)e->begin, prev ? "after '" : "at the start",
                      NAME_SHOWN, prev ? prev : "", prev ? "'" : "");
    at = e->end;
    prev = e->name;
  }
  if (data_len >= 0 && at < (uint64_t)data_len) {
    if (!prev)
      return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: %lld data bytes belong to no tensor", data_len);
    return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: %llu bytes follow the data of the last tensor, '%.*s' "
                    "(trailing bytes)", (unsigned long long)data_len - at, NAME_SHOWN, prev);
  }
  return CLT_OK;
}

/* Reads the tensors in the order of their data, each straight to dev. */
static clt_status read_tensors(clt__src *s, entry **sorted, size_t n, clt_device *host, clt_device *dev) {
  for (size_t i = 0; i < n; i++) {
    entry *e = sorted[i];
    char what[NAME_SHOWN + 32];
    snprintf(what, sizeof what, "the data of '%.*s'", NAME_SHOWN, e->name);
    clt_tensor *h = clt__src_read_tensor(s, host, e->dt, e->ndim, e->shape, (size_t)(e->end - e->begin), what);
    if (!h) return clt_last_status();
    uint8_t *p = h->st->ptr;
    clt__byte_order(p, (size_t)(e->end - e->begin), clt_dtype_size(e->dt), true, clt__host_little());
    if (e->dt == CLT_BOOL)
      for (uint64_t k = 0; k < e->end - e->begin; k++) p[k] = p[k] != 0;
    e->t = dev ? clt__to(h, dev) : clt__retain(h);
    clt__tensor_release(h);
    if (!e->t) return clt_last_status();
  }
  if (clt__src_left(s) < 0) { /* a stream: it must end with the last tensor */
    uint8_t extra;
    size_t more = clt__src_read(s, &extra, 1);
    if (more == 0 && s->err) return clt__src_short(s, "the end of the file", 1, 0);
    if (more == 1 && n == 0)
      return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: data bytes belong to no tensor");
    if (more == 1)
      return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: bytes follow the data of the last tensor, '%.*s' "
                      "(trailing bytes)", NAME_SHOWN, sorted[n - 1]->name);
  }
  return CLT_OK;
}

/* The header's tensors, checked, with the metadata; *sorted: the same in data order. */
static clt_status parse_header(json_t *hdr, long long data_len, entry *entries, entry **sorted, size_t *n) {
  if (!json_is_object(hdr)) return fmt("the header is not a JSON object");
  const char *name;
  json_t *e;
  *n = 0;
  json_object_foreach(hdr, name, e) {
    clt_status s = strcmp(name, "__metadata__") == 0 ? check_metadata(e) : parse_entry(name, e, data_len, &entries[*n]);
    if (s != CLT_OK) return s;
    if (strcmp(name, "__metadata__") != 0) {
      sorted[*n] = &entries[*n];
      (*n)++;
    }
  }
  qsort(sorted, *n, sizeof *sorted, by_offsets);
  return check_tiling(sorted, *n, data_len);
}

static clt_status load(clt__src *src, clt_device *dev, clt_tensor_list **out) {
  uint8_t lb[8];
  size_t got = clt__src_read(src, lb, 8);
  if (got != 8) return src->err ? clt__src_short(src, "the header length", 8, got) : fmt("shorter than its 8-byte header length");
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)lb[i] << (8 * i);
  long long left = clt__src_left(src);
  if (hl > MAX_HEADER || (left >= 0 && hl > (unsigned long long)left)) {
    if (left < 0)
      return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: header length %llu exceeds the format's limit of %u",
                      (unsigned long long)hl, MAX_HEADER);
    return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: header length %llu exceeds the %lld bytes that follow",
                    (unsigned long long)hl, left);
  }
  void *text;
  clt_status s = clt__src_read_alloc(src, (size_t)hl, &text, &got);
  if (s != CLT_OK) return s;
  if (got != hl) {
    clt__free_mem(text);
    return clt__src_short(src, "the safetensors header", (size_t)hl, got);
  }
  use_clt_allocator();
  json_error_t jerr;
  unsigned long failures = json_alloc_failures;
  json_t *hdr = json_loadb(text, (size_t)hl, JSON_REJECT_DUPLICATES, &jerr);
  clt__free_mem(text);
  if (!hdr && json_alloc_failures != failures)
    return clt__err(CLT_ERR_OOM, "cannot allocate memory to parse the safetensors header (%s)", jerr.text);
  if (!hdr) return clt__err(CLT_ERR_FORMAT, "malformed safetensors file: header JSON: %s (at %d)", jerr.text, jerr.position);
  size_t cap = json_is_object(hdr) ? json_object_size(hdr) : 0, n = 0;
  entry *entries = clt__calloc(cap ? cap : 1, sizeof *entries);
  entry **sorted = clt__calloc(cap ? cap : 1, sizeof *sorted);
  clt_device *host = NULL;
  if (!entries || !sorted) s = clt__err(CLT_ERR_OOM, "cannot allocate %zu header entries", cap);
  if (s == CLT_OK) s = parse_header(hdr, clt__src_left(src), entries, sorted, &n);
  if (s == CLT_OK) s = clt__host_for(dev, &host);
  if (s == CLT_OK) s = read_tensors(src, sorted, n, host, dev);
  if (s == CLT_OK) s = list_new(out);
  for (size_t i = 0; i < n; i++) { /* the list keeps the header's order */
    if (s == CLT_OK) s = list_add(*out, entries[i].name, entries[i].t);
    else clt__tensor_release(entries[i].t);
  }
  if (s != CLT_OK) {
    clt_tensor_list_release(*out);
    *out = NULL;
  }
  clt__device_drop(host);
  clt__free_mem(entries);
  clt__free_mem(sorted);
  json_decref(hdr);
  return s;
}

#else /* no Jansson */

clt_status clt_save_safetensors(const char *path, int n, const char *const *names, clt_tensor *const *tensors) {
  (void)path, (void)n, (void)names, (void)tensors;
  clt__api("clt_save_safetensors");
  return clt__err(CLT_ERR_UNSUPPORTED, "clt was built without Jansson (libjansson-dev), which safetensors needs");
}

static clt_status load(clt__src *src, clt_device *dev, clt_tensor_list **out) {
  (void)src, (void)dev, (void)out;
  return clt__err(CLT_ERR_UNSUPPORTED, "clt was built without Jansson (libjansson-dev), which safetensors needs");
}

#endif

clt_status clt_parse_safetensors(const void *buf, size_t len, clt_device *dev, clt_tensor_list **out) {
  clt__api("clt_parse_safetensors");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!buf && len > 0) return clt__err(CLT_ERR_INVALID_ARG, "argument buf is NULL");
  clt__src s;
  clt__src_mem(&s, buf, len);
  return load(&s, dev, out);
}

clt_status clt_load_safetensors(const char *path, clt_device *dev, clt_tensor_list **out) {
  clt__api("clt_load_safetensors");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!path) return clt__err(CLT_ERR_INVALID_ARG, "argument path is NULL");
  clt__src src;
  clt_status s = clt__src_open(&src, path);
  if (s != CLT_OK) return s;
  s = load(&src, dev, out);
  clt__src_close(&src);
  if (s != CLT_OK) clt__err_append(" (in '%s')", path);
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
    clt_tensor *t = NULL;
    s = clt__npy_load(path, dev, &t); /* header first: a huge or endless file costs nothing */
    if (s == CLT_OK) {
      files[i][strlen(files[i]) - 4] = '\0'; /* the name without .npy */
      s = list_add(*out, files[i], t);
    }
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
