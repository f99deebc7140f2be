/* Scopes: tensors returned while a scope is open are released when it ends. */
#include "core.h"

#define CLT__MAX_SCOPES 64

typedef struct {
  clt_tensor **items;
  size_t len, cap;
} scope;

static CLT__TLS scope scopes[CLT__MAX_SCOPES];
static CLT__TLS int depth;

clt_tensor *clt__ret(clt_tensor *t) {
  if (!t) return t;
  clt__leak_list(t);
  if (depth == 0) return t;
  scope *s = &scopes[depth - 1];
  if (s->len == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    clt_tensor **items = clt__realloc(s->items, cap * sizeof *items);
    if (!items) {
      clt__tensor_release(t);
      clt__err(CLT_ERR_OOM, "cannot grow the open scope to %zu tensors", cap);
      return NULL;
    }
    s->items = items;
    s->cap = cap;
  }
  s->items[s->len++] = t;
  return t;
}

/* Removes one entry for t from the innermost scope holding it; false when none does. */
static bool untrack(clt_tensor *t) {
  for (int d = depth - 1; d >= 0; d--) {
    scope *s = &scopes[d];
    for (size_t i = s->len; i-- > 0;) {
      if (s->items[i] != t) continue;
      s->items[i] = s->items[--s->len];
      return true;
    }
  }
  return false;
}

void clt_release(clt_tensor *t) {
  if (!t) return;
  untrack(t);
  clt__tensor_release(t);
}

clt_status clt_scope_begin(void) {
  clt__api("clt_scope_begin");
  if (depth == CLT__MAX_SCOPES)
    return clt__err(CLT_ERR_STATE, "%d scopes are open already (the most allowed)", depth);
  scopes[depth++] = (scope){0};
  return CLT_OK;
}

/* Releases the tensors of the innermost scope and closes it. */
static void end_one(void) {
  scope *s = &scopes[--depth];
  for (size_t i = 0; i < s->len; i++) clt__tensor_release(s->items[i]);
  clt__free_mem(s->items);
  *s = (scope){0};
}

clt_status clt_scope_end(void) {
  clt__api("clt_scope_end");
  if (depth == 0) return clt__err(CLT_ERR_STATE, "no scope is open");
  end_one();
  return CLT_OK;
}

clt_tensor *clt_keep(clt_tensor *t) {
  if (t) untrack(t);
  return t;
}

int clt_scope_depth(void) { return depth; }

clt_status clt_scope_unwind(int to) {
  clt__api("clt_scope_unwind");
  if (to < 0 || to > depth) return clt__err(CLT_ERR_STATE, "depth %d: %d scopes are open", to, depth);
  while (depth > to) end_one();
  return CLT_OK;
}
