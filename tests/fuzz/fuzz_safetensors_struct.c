/* libFuzzer harness, structure-aware: the fuzz bytes choose a safetensors file rather than
 * being one. A byte-level fuzzer rarely writes JSON that parses (Jansson is not instrumented,
 * so it gets no guidance there), and so never reaches the rules behind it; here every input is
 * a well-formed header whose choices come from the bytes: up to 5 tensors with names (empty,
 * repeated, reserved, non-ASCII), dtypes (clt's, others, not a string), shapes (small, empty,
 * huge, negative, not integers), data_offsets that tile the data or are nudged off it (overlap,
 * gap, reversed, huge, wrong arity), __metadata__ with values of every JSON type, the entries
 * in or out of data order, trailing or missing data bytes and a header length off by a little.
 * What loads goes through the first ops (fuzz_ops.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ops.h"

typedef struct {
  const uint8_t *p;
  size_t n;
} bytes;

/* The next choice in 0..mod-1 (0 once the bytes run out, the plain choice everywhere). */
static unsigned pick(bytes *b, unsigned mod) {
  if (!b->n) return 0;
  b->n--;
  return *b->p++ % mod;
}

typedef struct {
  char *s;
  size_t n, cap;
} text;

static void put(text *t, const char *s) {
  size_t k = strlen(s);
  if (t->n + k + 1 > t->cap) return; /* bounded: the header is at most cap bytes */
  memcpy(t->s + t->n, s, k + 1);
  t->n += k;
}

static void put_int(text *t, long long v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", v);
  put(t, buf);
}

static const char *const names[] = {"a", "b", "w.0", "", "__metadata__", "a", "x\\u00e9", "layers.10.bias"};
static const struct {
  const char *json;
  int size; /* bytes per element; 0: not one of clt's */
} dtypes[] = {{"\"F32\"", 4}, {"\"F64\"", 8}, {"\"I32\"", 4}, {"\"I64\"", 8}, {"\"U8\"", 1}, {"\"BOOL\"", 1},
              {"\"F16\"", 0}, {"\"bogus\"", 0}, {"7", 0}};
/* Dims: mostly 0..3; now and then one of these (1 in 32 each), rare enough that a bug they
 * trigger does not hide the rest of the rules from the fuzzer. */
static const long long odd_dims[] = {4611686018427387904LL, -1, 1LL << 31};
static const char *const meta_values[] = {"\"v\"", "3", "{\"k\":\"v\"}", "[\"x\"]", "null", "true", "\"\""};

/* One tensor entry; returns the bytes its data takes. */
static long long entry(text *t, bytes *b, long long at) {
  put(t, "\"");
  put(t, names[pick(b, sizeof names / sizeof *names)]);
  put(t, "\":{\"dtype\":");
  unsigned dt = pick(b, 16);
  dt = dt < sizeof dtypes / sizeof *dtypes ? dt : 0; /* mostly F32 */
  put(t, dtypes[dt].json);
  put(t, ",\"shape\":[");
  unsigned ndim = pick(b, 4);
  long long numel = 1;
  for (unsigned d = 0; d < ndim; d++) {
    unsigned c = pick(b, 32);
    long long v = c >= 28 && c < 31 ? odd_dims[c - 28] : (long long)(c % 4);
    if (d) put(t, ",");
    if (c == 31) put(t, "1.5");
    else put_int(t, v);
    numel = v >= 0 && v < 1000 ? numel * v : numel;
  }
  put(t, "],\"data_offsets\":[");
  long long len = numel * (dtypes[dt].size ? dtypes[dt].size : 4), begin = at, end = at + len;
  unsigned nudge = pick(b, 24), by = pick(b, 9);
  switch (nudge) {
    case 0: begin -= by; break;                     /* overlaps the one before */
    case 1: begin += by, end += by; break;          /* a gap */
    case 2: end += by; break;                       /* size mismatch */
    case 3: begin = end, end = at; break;           /* reversed */
    case 4: begin = 0, end = len; break;            /* shares the first bytes */
    case 5: end = 9223372036854775807LL; break;     /* huge */
    case 6: begin = -8; break;                      /* negative */
    default: break;                                 /* the tiling */
  }
  put_int(t, begin);
  put(t, ",");
  put_int(t, end);
  if (nudge == 7) put(t, ",0"); /* three offsets */
  put(t, "]}");
  return len;
}

static void metadata(text *t, bytes *b) {
  put(t, "\"__metadata__\":");
  unsigned kind = pick(b, 8);
  if (kind == 7) {
    put(t, "\"not an object\"");
    return;
  }
  put(t, "{");
  for (unsigned i = 0, n = pick(b, 4); i < n; i++) {
    put(t, i ? ",\"k" : "\"k");
    put_int(t, i);
    put(t, "\":");
    put(t, meta_values[(kind + i) % (sizeof meta_values / sizeof *meta_values)]);
  }
  put(t, "}");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bytes b = {data, size};
  static char json[8192];
  text t = {json, 0, sizeof json};
  put(&t, "{");
  unsigned n = pick(&b, 6), meta_at = pick(&b, 8);
  long long at = 0, lens[8] = {0};
  for (unsigned i = 0; i < n; i++) {
    if (i) put(&t, ",");
    if (i == meta_at) {
      metadata(&t, &b);
      put(&t, ",");
    }
    lens[i] = entry(&t, &b, at);
    at += lens[i] > 0 && lens[i] < 4096 ? lens[i] : 0;
  }
  put(&t, "}");
  /* the format pads the header with spaces to 8 bytes */
  while (t.n % 8 && t.n + 1 < t.cap) put(&t, " ");
  unsigned tail = pick(&b, 8);
  long long data_len = at + (tail == 1 ? 1 + pick(&b, 8) : 0) - (tail == 2 && at > 0 ? 1 : 0);
  if (data_len > 4096) data_len = 4096;
  unsigned off = pick(&b, 16);
  uint64_t hl = (uint64_t)t.n + (off == 1 ? 1 : 0) - (off == 2 ? 1 : 0);
  size_t total = 8 + t.n + (size_t)data_len;
  uint8_t *file = malloc(total);
  if (!file) return 0;
  for (int i = 0; i < 8; i++) file[i] = (uint8_t)(hl >> (8 * i));
  memcpy(file + 8, json, t.n);
  for (long long i = 0; i < data_len; i++) file[8 + t.n + i] = b.n ? (uint8_t)pick(&b, 256) : (uint8_t)i;
  clt_tensor_list *l = NULL;
  if (clt_parse_safetensors(file, total, NULL, &l) == CLT_OK) fuzz_ops_list(l);
  clt_tensor_list_release(l);
  clt_clear_error();
  free(file);
  return 0;
}
