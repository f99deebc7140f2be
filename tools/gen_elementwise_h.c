/* Writes include/clt/elementwise.h, the public enum and one plain declaration per public function
 * of the op table (lib/optable.h), so that grep, ctags and binding generators find them.
 *
 *   gen_elementwise_h            the header on stdout
 *   gen_elementwise_h --check F  exit 1 (saying what to run) unless F holds exactly that
 *   gen_elementwise_h --write F  (re)writes F
 *   gen_elementwise_h --names    the public function names, one a line
 *
 * It also checks the table itself: values unique and non-negative, names unique. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optable.h"

typedef struct {
  const char *name;
  int value, arity;
  const char *rule, *params[2], *forms, *args[3], *doc;
} row;

#define NP_P0 NULL, NULL
#define NP_P1(a) #a, NULL
#define NP_P2(a, b) #a, #b
#define ARGS_ARGS3(a, b, c) #a, #b, #c
#define U(name, v, rule, params, g, dom, doc) {#name, v, 1, #rule, {NP_##params}, "T", {"x", NULL, NULL}, doc},
#define B(name, v, rule, forms, ga, gb, gs, gr, da, db, doc) {#name, v, 2, #rule, {NULL, NULL}, #forms, {"a", "b", NULL}, doc},
#define T3(name, v, rule, args, g0, g1, g2, doc) {#name, v, 3, #rule, {NULL, NULL}, "T", {ARGS_##args}, doc},
static const row rows[] = {CLT_UNARY_OPS(U) CLT_BINARY_OPS(B) CLT_TERNARY_OPS(T3)};
#define NROWS (sizeof rows / sizeof *rows)

typedef struct {
  char *p;
  size_t n, cap;
} buf;

static void put(buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(buf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) exit(2);
    if (b->p && b->n + (size_t)k < b->cap) {
      b->n += (size_t)k;
      return;
    }
    b->cap = 2 * (b->cap + (size_t)k + 64);
    b->p = realloc(b->p, b->cap);
    if (!b->p) exit(2);
  }
}

/* What the dtype rule says a user needs to know. */
static const char *rule_note(const char *rule, int arity) {
  if (!strcmp(rule, "FLOAT")) return arity == 1 ? "; integers compute in float32" : "; integers and bools compute in float32";
  if (!strcmp(rule, "CMP") || !strcmp(rule, "LOGIC")) return "; the result is bool";
  if (!strcmp(rule, "INT_OR")) return "; integers stay integers, bools give logical or";
  if (!strcmp(rule, "INT_AND")) return "; integers stay integers, bools give logical and";
  if (!strcmp(rule, "INT_NOBOOL")) return "; integers stay integers, bool operands are refused";
  if (!strcmp(rule, "WHERE")) return "";
  if (!strcmp(rule, "INT_BOUNDS")) return "; integers stay integers unless a finite bound is fractional";
  return "; integers stay integers";
}

/* A comment of text, wrapped at spaces to lines of at most 100 columns. */
static void comment(buf *b, const char *text) {
  const char *p = text;
  put(b, "\n/* ");
  for (size_t col = 3; *p;) {
    size_t w = strcspn(p, " ");
    if (col > 3 && col + 1 + w + 3 > 100) {
      put(b, "\n * ");
      col = 3;
    } else if (col > 3) {
      put(b, " ");
      col++;
    }
    put(b, "%.*s", (int)w, p);
    col += w;
    p += w;
    while (*p == ' ') p++;
  }
  put(b, " */\n");
}

static int by_value(const void *a, const void *b) {
  return (*(const row *const *)a)->value - (*(const row *const *)b)->value;
}

static void names(buf *b) {
  for (size_t i = 0; i < NROWS; i++) {
    const row *r = &rows[i];
    put(b, "clt_%s\n", r->name);
    if (strchr(r->forms, 'S')) put(b, "clt_%s_scalar\n", r->name);
    if (strchr(r->forms, 'R')) put(b, "clt_r%s_scalar\n", r->name);
  }
}

static void header(buf *b) {
  const row *sorted[NROWS];
  for (size_t i = 0; i < NROWS; i++) sorted[i] = &rows[i];
  qsort(sorted, NROWS, sizeof *sorted, by_value);
  put(b, "/* clt: the elementwise ops, one declaration per function.\n"
         " *\n"
         " * GENERATED from the op table (lib/optable.h) by tools/gen_elementwise_h.c: do not edit. After\n"
         " * changing the table, `meson compile -C build regen` rewrites this file (the lint test\n"
         " * elementwise_h fails while it is out of date). Include clt.h or clt/ops.h, which says what\n"
         " * these ops share: broadcasting, dtype promotion, layouts, IEEE special values. */\n"
         "#ifndef CLT_ELEMENTWISE_H\n#define CLT_ELEMENTWISE_H\n\n#include \"clt/common.h\"\n\n"
         "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
         "/* Every elementwise op, for clt_unary, clt_binary and clt_binary_scalar. The values are part\n"
         " * of the ABI and never change: a new op takes the next free value. */\n"
         "typedef enum clt_op {\n");
  for (size_t i = 0; i < NROWS; i++) put(b, "  CLT_OP_%s = %d,\n", sorted[i]->name, sorted[i]->value);
  put(b, "  CLT_OP_COUNT = %d /* one more than the largest value; grows as ops are added */\n} clt_op;\n",
      sorted[NROWS - 1]->value + 1);
  static const char *const sections[4] = {NULL, "unary", "binary, with broadcasting and promotion", "ternary"};
  for (int arity = 1; arity <= 3; arity++) {
    put(b, "\n/* ---- %s ", sections[arity]);
    for (size_t k = strlen(sections[arity]); k < 84; k++) put(b, "-");
    put(b, " */\n");
    for (size_t i = 0; i < NROWS; i++) {
      const row *r = &rows[i];
      if (r->arity != arity) continue;
      char text[512];
      snprintf(text, sizeof text, "%s%s", r->doc, rule_note(r->rule, arity));
      comment(b, text);
      put(b, "CLT_API clt_tensor *clt_%s(", r->name);
      for (int k = 0; k < arity; k++) put(b, "%sclt_tensor *%s", k ? ", " : "", r->args[k]);
      for (int k = 0; k < 2 && r->params[k]; k++) put(b, ", double %s", r->params[k]);
      put(b, ");\n");
      if (strchr(r->forms, 'S')) {
        put(b, "/* clt_%s with a scalar second operand: a op s */\n", r->name);
        put(b, "CLT_API clt_tensor *clt_%s_scalar(clt_tensor *a, double s);\n", r->name);
      }
      if (strchr(r->forms, 'R')) {
        put(b, "/* clt_%s with a scalar first operand: s op b */\n", r->name);
        put(b, "CLT_API clt_tensor *clt_r%s_scalar(clt_tensor *b, double s);\n", r->name);
      }
    }
  }
  put(b, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

/* The table's own consistency: what the compiler would take silently (a repeated value in a
 * designated initializer only warns). */
static int check_table(void) {
  int bad = 0;
  for (size_t i = 0; i < NROWS; i++) {
    if (rows[i].value < 0) bad = fprintf(stderr, "lib/optable.h: %s has negative value %d\n", rows[i].name, rows[i].value);
    for (size_t j = 0; j < i; j++) {
      if (rows[i].value == rows[j].value)
        bad = fprintf(stderr, "lib/optable.h: %s and %s have the same value %d\n", rows[j].name, rows[i].name,
                      rows[i].value);
      if (!strcmp(rows[i].name, rows[j].name)) bad = fprintf(stderr, "lib/optable.h: two rows named %s\n", rows[i].name);
    }
  }
  return bad ? 1 : 0;
}

/* What main does with the text in *b (freed by main, so that the tool is leak-free under the
 * sanitizers that build it with the library). */
static int run(int argc, char **argv, buf *b) {
  if (argc == 2 && !strcmp(argv[1], "--names")) {
    names(b);
    fwrite(b->p, 1, b->n, stdout);
    return 0;
  }
  header(b);
  if (argc == 1) {
    fwrite(b->p, 1, b->n, stdout);
    return 0;
  }
  if (argc != 3 || (strcmp(argv[1], "--check") && strcmp(argv[1], "--write"))) {
    fprintf(stderr, "usage: %s [--check FILE | --write FILE | --names]\n", argv[0]);
    return 2;
  }
  if (!strcmp(argv[1], "--write")) {
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0) {
      perror(argv[2]);
      return 2;
    }
    return 0;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  char *old = malloc(b->n + 2);
  size_t n = old ? fread(old, 1, b->n + 1, f) : 0;
  fclose(f);
  bool same = old && n == b->n && memcmp(old, b->p, b->n) == 0;
  free(old);
  if (!same) {
    fprintf(stderr, "%s is not what lib/optable.h gives: run `meson compile -C build regen` and commit it\n", argv[2]);
    return 1;
  }
  printf("%s is up to date with lib/optable.h (%zu ops)\n", argv[2], NROWS);
  return 0;
}

int main(int argc, char **argv) {
  if (check_table()) return 1;
  buf b = {NULL, 0, 0};
  int rc = run(argc, argv, &b);
  free(b.p);
  return rc;
}
