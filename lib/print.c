/* clt_print: the text PyTorch prints for a tensor. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

#define EDGE 3          /* elements shown at each end of a summarised dim */
#define SUMMARIZE 1000  /* more elements than this are summarised */
#define LINE_WIDTH 80

typedef struct {
  char *buf;
  size_t len, cap;
  bool oom;
} sbuf;

static void sb_add(sbuf *s, const char *str, size_t n) {
  if (s->oom) return;
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + n + 1) cap *= 2;
    char *b = clt__realloc(s->buf, cap);
    if (!b) {
      s->oom = true;
      return;
    }
    s->buf = b;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, str, n);
  s->len += n;
  s->buf[s->len] = '\0';
}

static void sb_str(sbuf *s, const char *str) { sb_add(s, str, strlen(str)); }

static void sb_rep(sbuf *s, char c, int n) {
  for (int i = 0; i < n; i++) sb_add(s, &c, 1);
}

typedef enum { FMT_INT, FMT_BOOL, FMT_FLOAT_INT, FMT_FIXED, FMT_SCI } fmt_mode;

typedef struct {
  const clt_tensor *t;
  const uint8_t *data; /* row-major copy on the host */
  bool summarize;
  fmt_mode mode;
  int width;
  double max_abs, min_abs;
  bool any_finite_nonzero, all_int;
  sbuf out;
} printer;

static void format_elem(const printer *p, int64_t i, char *buf, size_t n) {
  clt_dtype dt = p->t->dtype;
  const void *e = p->data + (size_t)i * clt_dtype_size(dt);
  if (dt == CLT_BOOL) {
    snprintf(buf, n, "%s", *(const uint8_t *)e ? "True" : "False");
    return;
  }
  if (!clt_dtype_is_float(dt)) {
    snprintf(buf, n, "%lld", (long long)clt__load_i64(dt, e));
    return;
  }
  double v = clt__load_f64(dt, e);
  if (isnan(v)) snprintf(buf, n, "nan");
  else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
  else if (p->mode == FMT_FLOAT_INT) snprintf(buf, n, "%.0f.", v);
  else if (p->mode == FMT_SCI) snprintf(buf, n, "%.4e", v);
  else snprintf(buf, n, "%.4f", v);
}

/* Visits the shown elements in order; measure pass (out == NULL) or print pass. */
static void visit(printer *p, int dim, int64_t base, int indent, bool measure);

static void shown(const printer *p, int dim, int64_t *idx, int *count, bool *ellipsis_at) {
  int64_t n = p->t->shape[dim];
  *count = 0;
  if (p->summarize && n > 2 * EDGE) {
    for (int64_t i = 0; i < EDGE; i++) idx[(*count)++] = i;
    for (int64_t i = n - EDGE; i < n; i++) idx[(*count)++] = i;
    *ellipsis_at = true;
  } else {
    for (int64_t i = 0; i < n && *count < 2 * EDGE + 1; i++) idx[(*count)++] = i;
    *ellipsis_at = false;
  }
}

static void measure_elem(printer *p, int64_t i) {
  clt_dtype dt = p->t->dtype;
  if (clt_dtype_is_float(dt)) {
    double v = clt__load_f64(dt, p->data + (size_t)i * clt_dtype_size(dt));
    if (isfinite(v) && v != 0.0) {
      double a = fabs(v);
      if (!p->any_finite_nonzero || a > p->max_abs) p->max_abs = a;
      if (!p->any_finite_nonzero || a < p->min_abs) p->min_abs = a;
      p->any_finite_nonzero = true;
      if (v != floor(v)) p->all_int = false;
    }
    return;
  }
  char b[64];
  format_elem(p, i, b, sizeof b);
  int w = (int)strlen(b);
  if (w > p->width) p->width = w;
}

/* Widths as PyTorch's _Formatter: floats count only nonzero finite values (so "nan" and "0."
 * may stick out), other dtypes every value. */
static void measure_width(printer *p, int64_t i) {
  clt_dtype dt = p->t->dtype;
  if (clt_dtype_is_float(dt)) {
    double v = clt__load_f64(dt, p->data + (size_t)i * clt_dtype_size(dt));
    if (!isfinite(v) || v == 0.0) return;
  }
  char b[64];
  format_elem(p, i, b, sizeof b);
  int w = (int)strlen(b);
  if (w > p->width) p->width = w;
}

static int64_t row_stride(const printer *p, int dim) {
  int64_t s = 1;
  for (int d = dim + 1; d < p->t->ndim; d++) s *= p->t->shape[d];
  return s;
}

static void visit(printer *p, int dim, int64_t base, int indent, bool measure) {
  const clt_tensor *t = p->t;
  int64_t idx[2 * EDGE + 1];
  int count;
  bool ell;
  if (dim == t->ndim) { /* 0-d */
    if (measure) measure_elem(p, base);
    return;
  }
  if (t->shape[dim] > 2 * EDGE && !p->summarize) { /* full row: stream all of it */
    count = -1;
    ell = false;
  } else {
    shown(p, dim, idx, &count, &ell);
  }
  int64_t n = count < 0 ? t->shape[dim] : count, rs = row_stride(p, dim);
  bool last = dim == t->ndim - 1;
  int per_line = last ? (LINE_WIDTH - indent) / (p->width + 2) : 1;
  if (per_line < 1) per_line = 1;
  if (!measure) sb_str(&p->out, "[");
  for (int64_t k = 0; k < n; k++) {
    int64_t i = count < 0 ? k : idx[k];
    if (!measure && k > 0) {
      if (last) {
        sb_str(&p->out, ",");
        if (k % per_line == 0) {
          sb_str(&p->out, "\n");
          sb_rep(&p->out, ' ', indent + 1);
        } else {
          sb_str(&p->out, " ");
        }
      } else {
        sb_str(&p->out, ",");
        sb_rep(&p->out, '\n', t->ndim - dim - 1);
        sb_rep(&p->out, ' ', indent + 1);
      }
    }
    if (!measure && count >= 0 && ell && k == EDGE) {
      sb_str(&p->out, last ? " ..." : "...");
      if (last) {
        sb_str(&p->out, ", ");
      } else {
        sb_str(&p->out, ",");
        sb_rep(&p->out, '\n', t->ndim - dim - 1);
        sb_rep(&p->out, ' ', indent + 1);
      }
    }
    if (last) {
      if (measure) {
        measure_elem(p, base + i);
      } else {
        char b[64];
        format_elem(p, base + i, b, sizeof b);
        sb_rep(&p->out, ' ', p->width - (int)strlen(b));
        sb_str(&p->out, b);
      }
    } else {
      visit(p, dim + 1, base + i * rs, indent + 1, measure);
    }
  }
  if (!measure) sb_str(&p->out, "]");
}

/* Decides the float format as PyTorch's _Formatter does, then measures widths. */
static void choose_format(printer *p) {
  clt_dtype dt = p->t->dtype;
  p->all_int = true;
  visit(p, 0, 0, 0, true);
  if (!clt_dtype_is_float(dt)) {
    p->mode = dt == CLT_BOOL ? FMT_BOOL : FMT_INT;
    return;
  }
  if (!p->any_finite_nonzero) p->mode = p->all_int ? FMT_FLOAT_INT : FMT_FIXED;
  else if (p->all_int) p->mode = p->max_abs > 1e8 ? FMT_SCI : FMT_FLOAT_INT;
  else if (p->max_abs / p->min_abs > 1000.0 || p->max_abs > 1e8 || p->min_abs < 1e-4) p->mode = FMT_SCI;
  else p->mode = FMT_FIXED;
  p->width = 1;
  /* second measuring pass for widths, now that the mode is known */
  const clt_tensor *t = p->t;
  if (t->ndim == 0) {
    measure_width(p, 0);
    return;
  }
  int64_t n = t->numel;
  if (!p->summarize) {
    for (int64_t i = 0; i < n; i++) measure_width(p, i);
    return;
  }
  /* summarised: only the shown elements; walk their multi-indices */
  int64_t idx[CLT_MAX_DIMS][2 * EDGE + 1];
  int cnt[CLT_MAX_DIMS], pos[CLT_MAX_DIMS] = {0};
  bool ell;
  for (int d = 0; d < t->ndim; d++) shown(p, d, idx[d], &cnt[d], &ell);
  for (;;) {
    int64_t lin = 0;
    for (int d = 0; d < t->ndim; d++) lin = lin * t->shape[d] + idx[d][pos[d]];
    measure_width(p, lin);
    int d = t->ndim - 1;
    while (d >= 0 && ++pos[d] == cnt[d]) pos[d--] = 0;
    if (d < 0) break;
  }
}

static bool dtype_shown(clt_dtype dt) {
  return dt != CLT_FLOAT32 && dt != CLT_INT64 && dt != CLT_BOOL;
}

static clt_status render(const clt_tensor *t, sbuf *out) {
  printer p = {.t = t};
  size_t nbytes;
  if (clt__nbytes(t->numel, t->dtype, &nbytes) != CLT_OK) return clt_last_status();
  uint8_t *data = clt__malloc(nbytes);
  if (!data) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes to print", nbytes);
  clt_status st = clt__to_host(t, data);
  if (st != CLT_OK) {
    clt__free_mem(data);
    return st;
  }
  p.data = data;
  p.summarize = t->numel > SUMMARIZE;
  sb_str(&p.out, "tensor(");
  if (t->numel == 0) {
    sb_str(&p.out, "[]");
  } else {
    choose_format(&p);
    if (t->ndim == 0) {
      char b[64];
      format_elem(&p, 0, b, sizeof b);
      sb_str(&p.out, b);
    } else {
      visit(&p, 0, 0, 7, false);
    }
  }
  char extra[160];
  if (t->numel == 0 && t->ndim != 1) {
    sb_str(&p.out, ", size=(");
    for (int d = 0; d < t->ndim; d++) {
      snprintf(extra, sizeof extra, d ? ", %lld" : "%lld", (long long)t->shape[d]);
      sb_str(&p.out, extra);
    }
    sb_str(&p.out, t->ndim == 1 ? ",)" : ")");
  }
  if (dtype_shown(t->dtype)) {
    snprintf(extra, sizeof extra, ", dtype=%s", clt_dtype_name(t->dtype));
    sb_str(&p.out, extra);
  }
  if (!clt__is_host(t->st->dev)) {
    snprintf(extra, sizeof extra, ", device='%s'", t->st->dev->info.spec);
    sb_str(&p.out, extra);
  }
  sb_str(&p.out, ")");
  clt__free_mem(data);
  if (p.out.oom) {
    clt__free_mem(p.out.buf);
    return clt__err(CLT_ERR_OOM, "cannot allocate the printed text");
  }
  *out = p.out;
  return CLT_OK;
}

clt_status clt_print(const clt_tensor *t, FILE *f) {
  clt__api("clt_print");
  if (!t) return clt__null_arg("t");
  if (!f) return clt__err(CLT_ERR_INVALID_ARG, "argument f is NULL");
  sbuf s;
  clt_status st = render(t, &s);
  if (st != CLT_OK) return st;
  bool ok = fputs(s.buf, f) >= 0 && fputc('\n', f) != EOF;
  clt__free_mem(s.buf);
  return ok ? CLT_OK : clt__err(CLT_ERR_IO, "writing to the stream failed");
}

clt_status clt_format(const clt_tensor *t, char *buf, size_t buf_len, size_t *needed) {
  clt__api("clt_format");
  if (!t) return clt__null_arg("t");
  if (!buf && buf_len > 0) return clt__err(CLT_ERR_INVALID_ARG, "argument buf is NULL");
  sbuf s;
  clt_status st = render(t, &s);
  if (st != CLT_OK) return st;
  if (needed) *needed = s.len;
  if (buf_len > 0) {
    size_t n = s.len < buf_len - 1 ? s.len : buf_len - 1;
    memcpy(buf, s.buf, n);
    buf[n] = '\0';
  }
  clt__free_mem(s.buf);
  return CLT_OK;
}
