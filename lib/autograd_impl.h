/* The autograd graph: nodes, edges, saved tensors, and the helpers ops record with. */
#ifndef CLT_AUTOGRAD_IMPL_H
#define CLT_AUTOGRAD_IMPL_H

#include "clt/autograd.h"
#include "core.h"

typedef struct clt__node clt__node;

/* Computes the gradients of a node's inputs from the gradient g of its result: gin[i] gets a
 * new tensor, or stays NULL where no gradient flows (the engine sums it down to the input's
 * shape and casts it to the input's dtype). */
typedef clt_status (*clt__backward_fn)(clt__node *n, clt_tensor *g, clt_tensor **gin);

/* Where an input's gradient goes: the node that made it, or the leaf that collects it. */
typedef struct {
  clt__node *fn;    /* retained */
  clt_tensor *leaf; /* retained */
  int ndim;         /* the input's shape and dtype */
  int64_t shape[CLT_MAX_DIMS];
  clt_dtype dtype;
} clt__edge;

#define CLT__MAX_SAVED 5 /* attention: q, k, v, out, lse */

/* What a node's backward needs besides its saved tensors: one typed struct per kind of op. */
typedef union {
  struct {
    int op;      /* clt_op */
    int form;    /* lib/ew.h: clt__form (the tensor form, a op s, s op b) */
    double p[2]; /* the op's parameters; a op s and s op b: p[0] is s */
  } ew;
  int perm[CLT_MAX_DIMS]; /* permute: result dim d is input dim perm[d] */
  struct {
    int dim;
    int64_t start, step;
  } slice;
  struct {
    uint64_t mask; /* the reduced dims */
    int kind;      /* lib/grad.h: clt__rkind */
    double correction, count; /* var and std's correction; the number of elements reduced */
  } reduce;
  struct {
    int dim;
    bool log;
  } softmax;
  struct {
    int dim;
    bool stack;
  } cat;
  int dim; /* gather, scatter_add */
  int64_t pad[CLT_MAX_DIMS]; /* constant pad (lib/shape_ops.c): elements added before each dim */
  int64_t win[12]; /* sliding windows (lib/conv.c): their geometry */
  struct {
    clt_reduction reduction;
    int64_t N, C;
  } cross_entropy;
  struct {
    int64_t P, S, Q, smod, cdiv; /* lib/backend.h: clt__norm_args */
    bool rms, fixed, has_w, has_b;
  } norm;
  struct {
    double scale;
    bool causal;
  } attn;
} clt__node_args;

struct clt__node {
  atomic_long refs;
  const char *name;
  clt__backward_fn backward;
  int nin;
  clt__edge *next;
  int nsaved;
  clt_tensor *saved[CLT__MAX_SAVED]; /* aliases without graph */
  long saved_version[CLT__MAX_SAVED];
  bool freed;                        /* saved tensors released by a backward */
  clt__node_args args;
  int ndim_out;                      /* the result's shape */
  int64_t shape_out[CLT_MAX_DIMS];
  /* engine state during one backward */
  clt_tensor *pending;
  long deps;
  bool queued;
  struct clt__node *release_next;
};

void clt__node_release(clt__node *n);

/* clt_backward_ex without naming itself (gradcheck calls it). */
clt_status clt__backward(clt_tensor *t, clt_tensor *grad, bool retain_graph);

/* Called during a backward when a leaf's gradient is final: every edge into the leaf from the
 * graph has delivered its part (leaf->grad holds the sum, or is NULL when no gradient flowed).
 * A failure stops the backward with that status. Data-parallel training (lib/dist/ddp.c) starts
 * a bucket's allreduce there, while the rest of the backward runs. */
typedef clt_status (*clt__leaf_hook)(void *user, clt_tensor *leaf);
/* clt__backward with hook (may be NULL) called once per leaf the graph reaches. */
clt_status clt__backward_hooked(clt_tensor *t, clt_tensor *grad, bool retain_graph, clt__leaf_hook hook, void *user);

/* Whether an op over these inputs records (grad mode on and one of them requires grad). */
bool clt__grad_needed(int n, clt_tensor *const *in);
/* Makes out the result of a new node. Returns the node (owned by out), or NULL after
 * releasing out on failure; the caller then returns NULL. */
clt__node *clt__record(clt_tensor **out, const char *name, clt__backward_fn bw, int nin, clt_tensor *const *in,
                       int nsaved, clt_tensor *const *saved);
/* Saved tensor i, or NULL and CLT_ERR_AUTOGRAD when it was modified in place or freed. */
clt_tensor *clt__saved(clt__node *n, int i);
/* Whether input i of n wants a gradient. */
static inline bool clt__wants(const clt__node *n, int i) { return n->next[i].fn || n->next[i].leaf; }

/* Whether t, a gradient pending at a node (e->fn->pending), is held by the engine alone as a
 * contiguous tensor over storage of its own, shaped and typed as edge e: then a backward may add
 * its input's gradient into it in place and leave gin NULL (lib/grad.c: bw_slice; lib/norm.c). */
bool clt__grad_engine_owned(const clt_tensor *t, const clt__edge *e);

/* g summed over broadcast dims down to shape (ndim dims). A new reference. */
clt_tensor *clt__sum_to(clt_tensor *g, int ndim, const int64_t *shape);

/* For public functions: records op's node when needed; out passes through (NULL on failure). */
clt_tensor *clt__grad_ew(clt_tensor *out, int op, clt_tensor *const *in, int nin, double p0, double p1, int scalar);
clt_tensor *clt__grad_view(clt_tensor *out, clt_tensor *x, const char *name);
/* t viewed as shape (copied first when not contiguous), both recorded for autograd (conv.c). */
clt_tensor *clt__reshaped(clt_tensor *t, int ndim, const int64_t *shape);
clt_tensor *clt__grad_cast(clt_tensor *out, clt_tensor *x);

#endif
