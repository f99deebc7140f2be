/* Lazy elementwise chains: recipes, their composition into one program, and settling them
 * (fusion.h says when). One process-wide lock guards every recipe and the list of them: a
 * recipe's inputs may be any storages, on any thread, and recording costs one uncontended lock.
 * The lock is held while a recipe runs, so a thread that finds a storage settled finds its
 * kernel enqueued; the thread holding it passes through the door's and the memory layer's hooks
 * without taking it again (depth). */
#include "fusion.h"

#include <string.h>

#include "dispatch.h"
#include "ew.h"

typedef struct clt__pending {
  struct clt__pending *prev, *next;
  clt__storage *out; /* the storage that owns this recipe (not retained) */
  clt__ew_prog p;
  int ndim;
  int64_t shape[CLT_MAX_DIMS];                 /* out's shape, row-major over the whole storage */
  clt__storage *in[CLT__MAX_OPS - 1];          /* retained */
  int64_t off[CLT__MAX_OPS - 1];
  int64_t strides[CLT__MAX_OPS - 1][CLT_MAX_DIMS]; /* broadcast to shape */
} pending;

/* Recipes waiting at once: past this an op runs at once (bounds the storages recipes hold). */
#define MAX_PENDING 1024

static clt__mutex lock = CLT__MUTEX_INIT;
static CLT__TLS int depth;
static pending *head;
static atomic_long npending;
static atomic_int enabled = -1; /* -1: not read from the environment yet */

/* A chain runs as one generated kernel from its HOT-th run on a device; before, as its ops one
 * by one (the same bytes, no compile). A generated program costs a build (0.1-0.3 s on PoCL,
 * warm or not, against the prebuilt families' one build each), which a chain run once, or a
 * device opened for one run, would not repay: a loop fuses from its second step. The counts
 * are per device and signature (the program without its parameters), forgotten when the
 * device closes. */
#define HOT 2
static atomic_int hot_after = HOT;
#define NCOUNTS 512
static struct {
  const clt_device *dev;
  uint64_t sig;
  int runs;
} counts[NCOUNTS];

static void enter(void) {
  if (depth++ == 0) clt__mutex_lock(&lock);
}
static void leave(void) {
  if (--depth == 0) clt__mutex_unlock(&lock);
}

void clt__fusion_set(int on) {
  atomic_store(&enabled, on < 0 ? -1 : on ? 1 : 0);
  atomic_store(&hot_after, on == 1 ? 1 : on == 2 ? INT32_MAX : HOT);
}

static uint64_t prog_sig(const clt__ew_prog *p) {
  uint64_t h = 0xcbf29ce484222325ULL;
  int v[2 + CLT__MAX_OPS - 1 + 6 * CLT__EW_MAX_INSTR] = {p->n, p->nin}, n = 2;
  for (int k = 0; k < p->nin; k++) v[n++] = p->in_dt[k];
  for (int i = 0; i < p->n; i++) {
    const clt__ew_instr *x = &p->ins[i];
    int vals[6] = {x->op, x->scalar, x->dt, x->in[0], x->in[1], x->in[2]};
    for (int j = 0; j < 6; j++) v[n++] = vals[j];
  }
  for (int i = 0; i < n; i++) {
    h ^= (uint64_t)(unsigned)v[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* Counts a run of p on dev (lock held); whether p is hot there. A full table counts as hot. */
static bool hot(const clt_device *dev, const clt__ew_prog *p) {
  int after = atomic_load(&hot_after);
  if (after <= 1) return true;
  uint64_t sig = prog_sig(p);
  size_t j = (size_t)(sig ^ (uint64_t)(uintptr_t)dev) % NCOUNTS;
  for (size_t probe = 0; probe < NCOUNTS; probe++, j = (j + 1) % NCOUNTS) {
    if (counts[j].dev == dev && counts[j].sig == sig) {
      if (counts[j].runs < after) counts[j].runs++; /* no further: a long loop would overflow it */
      return counts[j].runs >= after;
    }
    if (!counts[j].dev) {
      counts[j].dev = dev;
      counts[j].sig = sig;
      counts[j].runs = 1;
      return after <= 1;
    }
  }
  return true;
}

void clt__fusion_forget_device(const clt_device *dev) {
  enter();
  for (size_t j = 0; j < NCOUNTS; j++) /* rebuilt without dev's entries: probes stay unbroken */
    if (counts[j].dev == dev) counts[j].dev = NULL;
  int keep = 0;
  static struct {
    const clt_device *dev;
    uint64_t sig;
    int runs;
  } tmp[NCOUNTS];
  for (size_t j = 0; j < NCOUNTS; j++)
    if (counts[j].dev) {
      tmp[keep].dev = counts[j].dev;
      tmp[keep].sig = counts[j].sig;
      tmp[keep++].runs = counts[j].runs;
    }
  memset(counts, 0, sizeof counts);
  for (int i = 0; i < keep; i++) {
    size_t j = (size_t)(tmp[i].sig ^ (uint64_t)(uintptr_t)tmp[i].dev) % NCOUNTS;
    while (counts[j].dev) j = (j + 1) % NCOUNTS;
    counts[j].dev = tmp[i].dev;
    counts[j].sig = tmp[i].sig;
    counts[j].runs = tmp[i].runs;
  }
  leave();
}

bool clt__fusion_enabled(void) {
  int e = atomic_load(&enabled);
  if (e < 0) {
    const char *v = clt__getenv("CLT_FUSION");
    e = !(v && strcmp(v, "0") == 0);
    atomic_store(&enabled, e);
  }
  return e == 1;
}

bool clt__fusion_any_pending(void) { return atomic_load(&npending) > 0; }

static void unlink_recipe(pending *r) {
  if (r->prev) r->prev->next = r->next;
  else head = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  r->out->pending = NULL;
  atomic_fetch_sub(&npending, 1);
}

static void link_recipe(pending *r) {
  r->prev = NULL;
  r->next = head;
  if (head) head->prev = r;
  head = r;
  r->out->pending = r;
  atomic_fetch_add(&npending, 1);
}

static void free_recipe(pending *r) {
  for (int k = 0; k < r->p.nin; k++) clt__storage_release(r->in[k]);
  clt__free_mem(r);
}

/* p's instructions one by one, each one launch of its op's prebuilt kernel into a temporary of
 * the result's shape (the last into out): the chain unfused. */
static clt_status run_unfused(const pending *r) {
  const clt__ew_prog *p = &r->p;
  clt_tensor *tmp[CLT__EW_MAX_INSTR] = {NULL};
  int64_t contig[CLT_MAX_DIMS];
  clt__contig_strides(r->ndim, r->shape, contig);
  clt_status s = CLT_OK;
  for (int i = 0; i < p->n && s == CLT_OK; i++) {
    const clt__ew_instr *x = &p->ins[i];
    int nops = clt__op_table[x->op].arity - (x->scalar ? 1 : 0);
    clt_dtype odt = clt__ew_prog_reg_dtype(p, p->nin + i);
    clt__storage *st[CLT__MAX_OPS] = {r->out};
    if (i < p->n - 1) {
      if (!(tmp[i] = clt__empty(r->out->dev, odt, r->ndim, r->shape))) {
        s = clt_last_status();
        break;
      }
      st[0] = tmp[i]->st;
    }
    const int64_t *strides[CLT__MAX_OPS] = {contig};
    int64_t offs[CLT__MAX_OPS] = {0};
    for (int k = 0; k < nops; k++) {
      int reg = x->in[k];
      bool input = reg < p->nin;
      st[k + 1] = input ? r->in[reg] : tmp[reg - p->nin]->st;
      strides[k + 1] = input ? r->strides[reg] : contig;
      offs[k + 1] = input ? r->off[reg] : 0;
    }
    clt__ew_prog one;
    const double params[2] = {x->p[0], x->p[1]};
    clt__ew_prog_single(&one, x->op, nops, (clt_dtype)x->dt, params, x->scalar);
    clt__iter it;
    clt__iter_build(&it, r->ndim, r->shape, nops + 1, strides, offs);
    s = clt__run_ew(r->out->dev, &one, &it, st);
  }
  for (int i = 0; i < p->n; i++) clt__tensor_release(tmp[i]);
  return s;
}

/* Runs r (lock held): out's bytes become the program's result. On failure r stays waiting, so
 * a later read can try again; the error names the chain's ops (dispatch.c: the door). */
static clt_status run_recipe(pending *r) {
  clt__storage *out = r->out;
  unlink_recipe(r);
  if (r->p.n > 1 && !hot(out->dev, &r->p)) {
    clt_status s = run_unfused(r);
    if (s != CLT_OK) {
      link_recipe(r);
      return s;
    }
    free_recipe(r);
    return CLT_OK;
  }
  int64_t ostrides[CLT_MAX_DIMS];
  clt__contig_strides(r->ndim, r->shape, ostrides);
  const int64_t *strides[CLT__MAX_OPS] = {ostrides};
  int64_t offs[CLT__MAX_OPS] = {0};
  clt__storage *st[CLT__MAX_OPS] = {out};
  for (int k = 0; k < r->p.nin; k++) {
    strides[k + 1] = r->strides[k];
    offs[k + 1] = r->off[k];
    st[k + 1] = r->in[k];
  }
  clt__iter it;
  clt__iter_build(&it, r->ndim, r->shape, r->p.nin + 1, strides, offs);
  clt_status s = clt__run_ew(out->dev, &r->p, &it, st);
  if (s != CLT_OK) {
    link_recipe(r);
    return s;
  }
  free_recipe(r);
  return CLT_OK;
}

static bool reads(const pending *r, const clt__storage *st) {
  for (int k = 0; k < r->p.nin; k++)
    if (r->in[k] == st) return true;
  return false;
}

/* settle with the lock held */
static clt_status settle_locked(clt__storage *st, bool write) {
  clt_status s = CLT_OK;
  if (st->pending) s = run_recipe(st->pending);
  if (!write || atomic_load(&st->refs) == 1) return s; /* a recipe reading st holds a reference to it */
  for (pending *r = head, *next; r && s == CLT_OK; r = next) {
    next = r->next;
    if (reads(r, st)) {
      s = run_recipe(r);
      next = head; /* the list changed under us: start over (each pass runs one recipe) */
    }
  }
  return s;
}

clt_status clt__fusion_settle(clt__storage *st, bool write) {
  if (!st || atomic_load(&npending) == 0 || depth > 0) return CLT_OK;
  enter();
  clt_status s = settle_locked(st, write);
  leave();
  return s;
}

clt_status clt__fusion_settle_device(clt_device *dev) {
  if (atomic_load(&npending) == 0 || depth > 0) return CLT_OK;
  clt_status s = CLT_OK;
  enter();
  for (pending *r = head; r && s == CLT_OK;) {
    if (r->out->dev == dev) {
      s = run_recipe(r);
      r = head;
    } else
      r = r->next;
  }
  leave();
  return s;
}

void clt__fusion_drop(clt__storage *st) {
  if (atomic_load(&npending) == 0) return;
  enter();
  pending *r = st->pending;
  if (r) unlink_recipe(r);
  leave();
  if (r) free_recipe(r);
}

/* ---- recording -------------------------------------------------------------------------- */

/* A program under construction: its inputs as storages and walks over the output's shape. */
typedef struct {
  clt__ew_prog p;
  int ndim;
  const int64_t *shape;
  clt__storage *in[CLT__MAX_OPS - 1];
  int64_t off[CLT__MAX_OPS - 1];
  int64_t strides[CLT__MAX_OPS - 1][CLT_MAX_DIMS];
} draft;

/* The register of an input (the same storage, offset and walk give the same one); -1 when the
 * program has no room for another. The draft holds a reference to each input: settling one of
 * the op's other inputs may free a recipe whose inputs the draft took in. */
static int add_input(draft *d, clt__storage *st, int64_t off, const int64_t *strides, clt_dtype dt) {
  for (int k = 0; k < d->p.nin; k++)
    if (d->in[k] == st && d->off[k] == off && d->p.in_dt[k] == dt &&
        memcmp(d->strides[k], strides, (size_t)d->ndim * sizeof *strides) == 0)
      return k;
  if (d->p.nin == CLT__MAX_OPS - 1) return -1;
  int k = d->p.nin++;
  atomic_fetch_add(&st->refs, 1);
  d->in[k] = st;
  d->off[k] = off;
  d->p.in_dt[k] = (uint8_t)dt;
  memcpy(d->strides[k], strides, (size_t)d->ndim * sizeof *strides);
  return k;
}

static void draft_release(draft *d) {
  for (int k = 0; k < d->p.nin; k++) clt__storage_release(d->in[k]);
  d->p.nin = 0;
}

/* An instruction's register number is nin + its index, which moves each time an input is
 * added: while a draft grows, registers are kept as (input k) or (instruction i). */
typedef struct {
  bool is_input;
  int k;
} reg;

typedef struct {
  clt__ew_instr ins[CLT__EW_MAX_INSTR];
  reg regs[CLT__EW_MAX_INSTR][3];
  int n;
} body;

/* Copies recipe r's instructions into b, its inputs into d; returns the register of its
 * result, or is_input -1 when there is no room. */
static reg inline_recipe(draft *d, body *b, const pending *r) {
  reg fail = {true, -1};
  int map[CLT__MAX_OPS - 1];
  for (int k = 0; k < r->p.nin; k++)
    if ((map[k] = add_input(d, r->in[k], r->off[k], r->strides[k], (clt_dtype)r->p.in_dt[k])) < 0) return fail;
  if (b->n + r->p.n > CLT__EW_MAX_INSTR) return fail;
  int base = b->n;
  for (int i = 0; i < r->p.n; i++) {
    const clt__ew_instr *x = &r->p.ins[i];
    b->ins[base + i] = *x;
    int nops = clt__op_table[x->op].arity - (x->scalar ? 1 : 0);
    for (int j = 0; j < 3; j++) {
      int src = j < nops ? x->in[j] : 0;
      b->regs[base + i][j] = src < r->p.nin ? (reg){true, map[src]} : (reg){false, base + src - r->p.nin};
    }
  }
  b->n += r->p.n;
  return (reg){false, b->n - 1};
}

/* Whether t is the whole of its storage's recipe's result, in the recipe's shape: an op over t
 * can take the recipe in. */
static bool takes_whole(const clt_tensor *t, const clt_tensor *out) {
  const pending *r = t->st->pending;
  if (!r || t->offset != 0 || !clt__is_contig(t) || t->ndim != out->ndim || r->ndim != out->ndim) return false;
  for (int i = 0; i < out->ndim; i++)
    if (t->shape[i] != out->shape[i] || r->shape[i] != out->shape[i]) return false;
  return true;
}

static bool eligible_output(const clt_tensor *out) {
  return out->numel > 0 && out->offset == 0 && clt__is_contig(out) && !out->st->wrapped && !out->st->pending &&
         (size_t)out->numel * clt_dtype_size(out->dtype) == out->st->nbytes && atomic_load(&out->st->refs) == 1;
}

/* Builds the program of op over in: recorded inputs taken in whole when allow_inline, else
 * settled first. False when it does not fit (only possible with allow_inline). */
static bool build_draft(draft *d, const clt__ew_prog *op, clt_tensor *out, clt_tensor *const *in, bool allow_inline,
                        clt_status *s) {
  body b = {.n = 0};
  reg operand[3] = {{true, 0}, {true, 0}, {true, 0}};
  memset(&d->p, 0, sizeof d->p);
  d->ndim = out->ndim;
  d->shape = out->shape;
  for (int k = 0; k < op->nin; k++) {
    clt_tensor *t = in[k];
    int same = -1;
    for (int j = 0; j < k; j++)
      if (in[j] == t) same = j;
    if (same >= 0) {
      operand[k] = operand[same];
      continue;
    }
    if (t->st->pending && allow_inline && takes_whole(t, out)) {
      operand[k] = inline_recipe(d, &b, t->st->pending);
      if (operand[k].is_input && operand[k].k < 0) return false;
      continue;
    }
    if (t->st->pending && (*s = settle_locked(t->st, false)) != CLT_OK) return true;
    int64_t bs[CLT_MAX_DIMS];
    clt__broadcast_strides(t, out->ndim, out->shape, bs);
    int r = add_input(d, t->st, t->offset, bs, t->dtype);
    if (r < 0) return false;
    operand[k] = (reg){true, r};
  }
  if (b.n + 1 > CLT__EW_MAX_INSTR) return false;
  b.ins[b.n] = op->ins[0];
  int nops = clt__op_table[op->ins[0].op].arity - (op->ins[0].scalar ? 1 : 0);
  for (int j = 0; j < 3; j++) b.regs[b.n][j] = j < nops ? operand[op->ins[0].in[j]] : (reg){true, 0};
  b.n++;
  for (int i = 0; i < b.n; i++) { /* one dtype for the whole chain: one kernel stamped for it */
    if (b.ins[i].dt != op->ins[0].dt) return false;
    d->p.ins[i] = b.ins[i];
    for (int j = 0; j < 3; j++)
      d->p.ins[i].in[j] = (uint8_t)(b.regs[i][j].is_input ? b.regs[i][j].k : d->p.nin + b.regs[i][j].k);
  }
  d->p.n = b.n;
  return true;
}

bool clt__fusion_record(const clt__ew_prog *op, clt_tensor *out, clt_tensor *const *in, clt_status *s) {
  *s = CLT_OK;
  clt_device *dev = out->st->dev;
  /* under $CLT_CHECK=1 every op runs at once, so a mismatch names the op that made it */
  if (dev->be->reference || !clt__fusion_enabled() || clt__check_enabled() || !eligible_output(out) || op->n != 1)
    return false;
  for (int k = 0; k < op->nin; k++)
    if (in[k]->st->wrapped || !clt__same_device(in[k]->st->dev, dev)) return false; /* the caller's memory may change */
  if (atomic_load(&npending) >= MAX_PENDING) return false;
  enter();
  draft d;
  if (!build_draft(&d, op, out, in, true, s) && *s == CLT_OK) {
    draft_release(&d);
    build_draft(&d, op, out, in, false, s); /* fits: one op over its inputs */
  }
  pending *r = NULL;
  if (*s == CLT_OK && !(r = clt__calloc(1, sizeof *r)))
    *s = clt__err(CLT_ERR_OOM, "cannot allocate the record of an elementwise op");
  if (!r) draft_release(&d);
  if (r) {
    r->out = out->st;
    r->p = d.p;
    r->ndim = d.ndim;
    memcpy(r->shape, out->shape, (size_t)out->ndim * sizeof *out->shape);
    for (int k = 0; k < d.p.nin; k++) {
      r->in[k] = d.in[k]; /* the draft's reference */
      r->off[k] = d.off[k];
      memcpy(r->strides[k], d.strides[k], sizeof r->strides[k]);
    }
    link_recipe(r);
  }
  leave();
  return true;
}

clt_status clt_eval(const clt_tensor *t) {
  clt__api("clt_eval");
  if (!t) return clt__null_arg("t");
  return clt__fusion_settle(t->st, false);
}
