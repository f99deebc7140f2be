/* The autograd engine: recording nodes, backward in topological order, leaves' gradients,
 * grad mode, detach, in-place ops and gradcheck. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd_impl.h"
#include "dispatch.h"
#include "ew.h"
#include "reduce.h"

static CLT__TLS int no_grad_depth;

bool clt_is_grad_enabled(void) { return no_grad_depth == 0; }

int clt_no_grad_depth(void) { return no_grad_depth; }

clt_status clt_no_grad_unwind(int depth) {
  clt__api("clt_no_grad_unwind");
  if (depth < 0 || depth > no_grad_depth)
    return clt__err(CLT_ERR_STATE, "depth %d: %d no-grad regions are open", depth, no_grad_depth);
  no_grad_depth = depth;
  return CLT_OK;
}

clt_status clt_no_grad_begin(void) {
  clt__api("clt_no_grad_begin");
  no_grad_depth++;
  return CLT_OK;
}

clt_status clt_no_grad_end(void) {
  clt__api("clt_no_grad_end");
  if (no_grad_depth == 0) return clt__err(CLT_ERR_STATE, "no clt_no_grad_begin() is open");
  no_grad_depth--;
  return CLT_OK;
}

/* ---- nodes ------------------------------------------------------------------------------ */

static void free_saved(clt__node *n) {
  for (int i = 0; i < n->nsaved; i++) {
    clt__tensor_release(n->saved[i]);
    n->saved[i] = NULL;
  }
}

/* Iterative, so that releasing a long chain of nodes cannot overflow the stack. */
void clt__node_release(clt__node *n) {
  clt__node *dying = NULL; /* nodes whose count reached zero, linked through release_next */
  if (n && atomic_fetch_sub(&n->refs, 1) == 1) {
    n->release_next = NULL;
    dying = n;
  }
  while (dying) {
    n = dying;
    dying = n->release_next;
    for (int i = 0; i < n->nin; i++) {
      clt__tensor_release(n->next[i].leaf);
      clt__node *f = n->next[i].fn;
      if (f && atomic_fetch_sub(&f->refs, 1) == 1) {
        f->release_next = dying;
        dying = f;
      }
    }
    free_saved(n);
    clt__free_mem(n->next);
    clt__free_mem(n);
  }
}

bool clt__grad_needed(int n, clt_tensor *const *in) {
  if (no_grad_depth > 0) return false;
  for (int i = 0; i < n; i++)
    if (in[i] && in[i]->requires_grad) return true;
  return false;
}

static clt_tensor *alias(clt_tensor *t) {
  return clt__view_of(t, t->ndim, t->shape, t->strides, t->offset);
}

clt__node *clt__record(clt_tensor **out, const char *name, clt__backward_fn bw, int nin, clt_tensor *const *in,
                       int nsaved, clt_tensor *const *saved) {
  clt_tensor *o = *out;
  clt__node *n = clt__calloc(1, sizeof *n);
  clt__edge *next = n ? clt__calloc((size_t)nin, sizeof *next) : NULL;
  bool ok = n && next;
  if (ok) {
    atomic_init(&n->refs, 1);
    n->name = name;
    n->backward = bw;
    n->nin = nin;
    n->next = next;
    for (int i = 0; i < nin; i++) {
      clt__edge *e = &next[i];
      e->ndim = in[i]->ndim;
      memcpy(e->shape, in[i]->shape, sizeof e->shape);
      e->dtype = in[i]->dtype;
      if (!in[i]->requires_grad || !clt_dtype_is_float(in[i]->dtype)) continue;
      if (in[i]->grad_fn) {
        e->fn = in[i]->grad_fn;
        atomic_fetch_add(&e->fn->refs, 1);
      } else {
        e->leaf = clt__retain(in[i]);
      }
    }
    for (int i = 0; i < nsaved && ok; i++) {
      n->saved_version[i] = -1; /* nothing saved in this slot */
      if (!saved[i]) continue;
      ok = (n->saved[i] = alias(saved[i])) != NULL;
      n->saved_version[i] = atomic_load(&saved[i]->st->version);
    }
    n->nsaved = nsaved;
    n->ndim_out = o->ndim;
    memcpy(n->shape_out, o->shape, sizeof n->shape_out);
  }
  if (!ok) {
    if (n && next) clt__node_release(n);
    else {
      clt__free_mem(next);
      clt__free_mem(n);
      clt__err(CLT_ERR_OOM, "cannot allocate the autograd node of %s", name);
    }
    clt__tensor_release(o);
    *out = NULL;
    return NULL;
  }
  o->grad_fn = n;
  o->requires_grad = true;
  return n;
}

clt_tensor *clt__saved(clt__node *n, int i) {
  if (n->freed) {
    clt__err(CLT_ERR_AUTOGRAD,
             "backward through %s a second time: its saved tensors were freed by the first backward "
             "(use clt_backward_ex with retain_graph)",
             n->name);
    return NULL;
  }
  clt_tensor *t = n->saved[i];
  long now = atomic_load(&t->st->version);
  if (now != n->saved_version[i]) {
    clt__err(CLT_ERR_AUTOGRAD,
             "a tensor %s saved for its gradient was modified by an in-place op (version %ld when saved, %ld "
             "now); clone it before modifying it",
             n->name, n->saved_version[i], now);
    return NULL;
  }
  return t;
}

/* ---- gradients into shape --------------------------------------------------------------- */

clt_tensor *clt__sum_to(clt_tensor *g, int ndim, const int64_t *shape) {
  if (g->ndim == ndim) {
    bool same = true;
    for (int d = 0; d < ndim && same; d++) same = g->shape[d] == shape[d];
    if (same) return clt__retain(g);
  }
  int lead = g->ndim - ndim, dims[CLT_MAX_DIMS], nd = 0;
  for (int d = 0; d < g->ndim; d++)
    if (d < lead || (shape[d - lead] == 1 && g->shape[d] != 1)) dims[nd++] = d;
  clt_tensor *s = nd ? clt__sum(g, nd, dims, false) : clt__retain(g);
  if (!s) return NULL;
  int64_t st[CLT_MAX_DIMS];
  clt_tensor *c = clt__contiguous(s);
  clt__tensor_release(s);
  if (!c) return NULL;
  clt__contig_strides(ndim, shape, st);
  clt_tensor *v = clt__view_of(c, ndim, shape, st, c->offset);
  clt__tensor_release(c);
  return v;
}

/* A node's input gradient in the input's shape and dtype. */
static clt_tensor *fit(clt_tensor *g, const clt__edge *e) {
  clt_tensor *s = clt__sum_to(g, e->ndim, e->shape);
  if (!s || s->dtype == e->dtype) return s;
  clt_tensor *c = clt__cast(s, e->dtype);
  clt__tensor_release(s);
  return c;
}

/* acc = acc + g (acc is a fresh tensor or NULL). */
static clt_status accumulate(clt_tensor **acc, clt_tensor *g) {
  if (!*acc) {
    *acc = clt__retain(g);
    return CLT_OK;
  }
  clt_tensor *sum = clt__binary(CLT_OP_add, *acc, g);
  if (!sum) return clt_last_status();
  clt__tensor_release(*acc);
  *acc = sum;
  return CLT_OK;
}

/* leaf->grad += g, in place once it exists. owners: how many references to g the engine holds
 * (0: g is the caller's). A first gradient that only the engine holds, contiguous over memory
 * of its own, becomes the leaf's without a copy (after clt_optim_zero_grad, every step's). */
static clt_status accumulate_leaf(clt_tensor *leaf, clt_tensor *g, long owners) {
  if (!leaf->grad) {
    bool own = owners > 0 && atomic_load(&g->refs) == owners && atomic_load(&g->st->refs) == 1 && !g->st->wrapped &&
               g->offset == 0 && clt__is_contig(g) && !g->grad_fn && !g->requires_grad;
    leaf->grad = own ? clt__retain(g) : clt__clone(g);
    return leaf->grad ? CLT_OK : clt_last_status();
  }
  clt_tensor *in[2] = {leaf->grad, g};
  return clt__ew_run(CLT_OP_add, leaf->grad, in, 2, leaf->grad->dtype, NULL, 0);
}

/* ---- the engine ------------------------------------------------------------------------- */

typedef struct {
  clt__node **items;
  size_t len, cap;
} node_list;

static clt_status push(node_list *l, clt__node *n) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    clt__node **items = clt__realloc(l->items, cap * sizeof *items);
    if (!items) return clt__err(CLT_ERR_OOM, "cannot grow the backward queue to %zu nodes", cap);
    l->items = items;
    l->cap = cap;
  }
  l->items[l->len++] = n;
  return CLT_OK;
}

/* Every node reachable from root, each once, with deps = edges into it from that set. */
static clt_status collect(clt__node *root, node_list *all) {
  node_list stack = {0};
  clt_status s = push(&stack, root);
  root->queued = true;
  root->deps = 0;
  while (s == CLT_OK && stack.len > 0) {
    clt__node *n = stack.items[--stack.len];
    if ((s = push(all, n)) != CLT_OK) break;
    for (int i = 0; i < n->nin && s == CLT_OK; i++) {
      clt__node *f = n->next[i].fn;
      if (!f) continue;
      if (!f->queued) {
        f->queued = true;
        f->deps = 0;
        s = push(&stack, f);
      }
      f->deps++;
    }
  }
  clt__free_mem(stack.items);
  return s;
}

/* The leaves a graph reaches, each with the edges into it still to deliver: for the leaf hook,
 * sorted by address. */
typedef struct {
  clt_tensor *leaf;
  long left;
} leaf_count;

typedef struct {
  leaf_count *items;
  size_t len;
  clt__leaf_hook hook;
  void *user;
} leaf_counts;

static int by_address(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const leaf_count *)a)->leaf, y = (uintptr_t)((const leaf_count *)b)->leaf;
  return (x > y) - (x < y);
}

static clt_status count_leaves(const node_list *all, leaf_counts *lc) {
  size_t n = 0;
  for (size_t i = 0; i < all->len; i++)
    for (int k = 0; k < all->items[i]->nin; k++) n += all->items[i]->next[k].leaf != NULL;
  if (!n) return CLT_OK;
  if (!(lc->items = clt__malloc(n * sizeof *lc->items)))
    return clt__err(CLT_ERR_OOM, "cannot allocate the counts of %zu leaf edges", n);
  for (size_t i = 0; i < all->len; i++)
    for (int k = 0; k < all->items[i]->nin; k++)
      if (all->items[i]->next[k].leaf) lc->items[lc->len++] = (leaf_count){all->items[i]->next[k].leaf, 1};
  qsort(lc->items, lc->len, sizeof *lc->items, by_address);
  size_t u = 0; /* one entry per leaf, counting its edges */
  for (size_t i = 0; i < lc->len; i++) {
    if (u > 0 && lc->items[u - 1].leaf == lc->items[i].leaf) lc->items[u - 1].left++;
    else lc->items[u++] = lc->items[i];
  }
  lc->len = u;
  return CLT_OK;
}

/* One edge into leaf has delivered: the hook runs after the last. */
static clt_status leaf_delivered(leaf_counts *lc, clt_tensor *leaf) {
  leaf_count key = {leaf, 0}, *c = bsearch(&key, lc->items, lc->len, sizeof key, by_address);
  return c && --c->left == 0 ? lc->hook(lc->user, leaf) : CLT_OK;
}

static clt_status run_backward(clt_tensor *root, clt_tensor *grad, bool retain, clt__leaf_hook hook, void *user) {
  if (!root->grad_fn) {
    clt_status s = accumulate_leaf(root, grad, 0);
    return s == CLT_OK && hook ? hook(user, root) : s;
  }
  node_list all = {0}, ready = {0};
  leaf_counts leaves = {.hook = hook, .user = user};
  clt_status s = collect(root->grad_fn, &all);
  if (s == CLT_OK && hook) s = count_leaves(&all, &leaves);
  if (s == CLT_OK) {
    root->grad_fn->pending = clt__retain(grad);
    s = push(&ready, root->grad_fn);
  }
  while (s == CLT_OK && ready.len > 0) {
    clt__node *n = ready.items[--ready.len];
    clt_tensor *g = n->pending;
    n->pending = NULL;
    clt_tensor *gin[64] = {NULL}, **gv = n->nin <= 64 ? gin : clt__calloc((size_t)n->nin, sizeof *gv);
    if (!gv) s = clt__err(CLT_ERR_OOM, "cannot allocate %d gradients", n->nin);
    bool saves = false;
    for (int i = 0; i < n->nsaved; i++) saves = saves || n->saved_version[i] >= 0;
    if (s == CLT_OK && n->freed && saves)
      s = clt__err(CLT_ERR_AUTOGRAD,
                   "backward through %s a second time: its saved tensors were freed by the first backward "
                   "(use clt_backward_ex with retain_graph)",
                   n->name);
    if (s == CLT_OK && g) s = n->backward(n, g, gv);
    /* dropped before the gradients go on, so that a view of g (a transpose's gradient, a
     * reshape's) is the only holder of g's storage and can become a leaf's without a copy */
    clt__tensor_release(g);
    for (int i = 0; i < n->nin; i++) {
      clt__edge *e = &n->next[i];
      if (s == CLT_OK && gv[i] && (e->fn || e->leaf)) {
        clt_tensor *f = fit(gv[i], e);
        if (!f) s = clt_last_status();
        else if (e->fn) s = accumulate(&e->fn->pending, f);
        else s = accumulate_leaf(e->leaf, f, f == gv[i] ? 2 : 1);
        clt__tensor_release(f);
      }
      if (e->leaf && hook && s == CLT_OK) s = leaf_delivered(&leaves, e->leaf);
      if (gv) clt__tensor_release(gv[i]);
      if (e->fn && --e->fn->deps == 0 && s == CLT_OK) s = push(&ready, e->fn);
    }
    if (gv != gin) clt__free_mem(gv);
  }
  for (size_t i = 0; i < all.len; i++) { /* tidy up, also after an error */
    clt__node *n = all.items[i];
    clt__tensor_release(n->pending);
    n->pending = NULL;
    n->queued = false;
    if (!retain && s == CLT_OK) {
      free_saved(n);
      n->freed = true;
    }
  }
  clt__free_mem(all.items);
  clt__free_mem(ready.items);
  clt__free_mem(leaves.items);
  return s;
}

clt_status clt_backward_ex(clt_tensor *t, clt_tensor *grad, bool retain_graph) {
  clt__api("clt_backward");
  if (!t) return clt__null_arg("t");
  return clt__backward(t, grad, retain_graph);
}

clt_status clt__backward(clt_tensor *t, clt_tensor *grad, bool retain_graph) {
  return clt__backward_hooked(t, grad, retain_graph, NULL, NULL);
}

clt_status clt__backward_hooked(clt_tensor *t, clt_tensor *grad, bool retain_graph, clt__leaf_hook hook, void *user) {
  if (!t->requires_grad)
    return clt__err(CLT_ERR_AUTOGRAD, "the tensor does not require grad (no leaf it depends on requires grad, or "
                                      "it was made in no-grad mode)");
  clt_tensor *g = NULL;
  char a[CLT__SHAPE_STR], b[CLT__SHAPE_STR];
  if (!grad) {
    if (t->numel != 1)
      return clt__err(CLT_ERR_SHAPE, "grad can be NULL only for a tensor of one element, not of shape %s",
                      clt__shape_str(a, t->ndim, t->shape));
    g = clt__full(t->st->dev, t->dtype, t->ndim, t->shape, 1.0);
  } else {
    bool same = grad->ndim == t->ndim;
    for (int d = 0; d < t->ndim && same; d++) same = grad->shape[d] == t->shape[d];
    if (!same)
      return clt__err(CLT_ERR_SHAPE, "grad has shape %s, the tensor %s", clt__shape_str(a, grad->ndim, grad->shape),
                      clt__shape_str(b, t->ndim, t->shape));
    if (clt__check_same_device(t, grad) != CLT_OK) return clt_last_status();
    g = grad->dtype == t->dtype ? clt__retain(grad) : clt__cast(grad, t->dtype);
  }
  if (!g) return clt_last_status();
  no_grad_depth++; /* backward records nothing */
  clt_status s = run_backward(t, g, retain_graph, hook, user);
  no_grad_depth--;
  clt__tensor_release(g);
  return s;
}

clt_status clt_backward(clt_tensor *t, clt_tensor *grad) { return clt_backward_ex(t, grad, false); }

/* ---- leaves ----------------------------------------------------------------------------- */

clt_status clt_set_requires_grad(clt_tensor *t, bool requires_grad) {
  clt__api("clt_set_requires_grad");
  if (!t) return clt__null_arg("t");
  if (t->grad_fn)
    return clt__err(CLT_ERR_AUTOGRAD, "the tensor was made by %s and is not a leaf; detach it first", t->grad_fn->name);
  if (requires_grad && !clt_dtype_is_float(t->dtype))
    return clt__err(CLT_ERR_DTYPE, "only float tensors can require grad, not %s", clt_dtype_name(t->dtype));
  t->requires_grad = requires_grad;
  return CLT_OK;
}

bool clt_requires_grad(const clt_tensor *t) { return t && t->requires_grad; }
bool clt_is_leaf(const clt_tensor *t) { return t && !t->grad_fn; }
const char *clt_grad_fn_name(const clt_tensor *t) { return t && t->grad_fn ? t->grad_fn->name : NULL; }

clt_tensor *clt_grad(const clt_tensor *t) {
  clt__api("clt_grad");
  if (!t) return clt__null_arg("t"), NULL;
  return t->grad ? clt__ret(clt__retain(t->grad)) : NULL;
}

clt_status clt_zero_grad(clt_tensor *t) {
  clt__api("clt_zero_grad");
  if (!t) return clt__null_arg("t");
  if (!t->grad || t->grad->numel == 0) return CLT_OK;
  uint8_t zero[8] = {0};
  clt__iter it;
  const clt_tensor *ops[1] = {t->grad};
  clt__iter_tensors(&it, 1, ops);
  clt_device *dev = t->grad->st->dev;
  return clt__run_fill(dev, &it, t->grad->st, clt_dtype_size(t->grad->dtype), zero);
}

clt_tensor *clt_detach(clt_tensor *t) {
  clt__api("clt_detach");
  if (!t) return clt__null_arg("t"), NULL;
  clt_tensor *d = alias(t);
  if (d) d->is_view = true;
  return clt__ret(d);
}
