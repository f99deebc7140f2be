/* Elementwise ops and casts on OpenCL: one kernel launch per op, the contiguous kernel when
 * every operand is contiguous after merging dims, the strided one (clt_iter) otherwise. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ew.h"
#include "cl_internal.h"

static bool is_16bit(clt_dtype dt) { return dt == CLT_FLOAT16 || dt == CLT_BFLOAT16; }
/* Elements per work-item of the <kernel>_w forms (kernels/common.clh: CLT_WIDE) */
#define CLT__CL_WIDE 32

/* Sets arguments: each operand's buffer (and element offset when contiguous), then n, or leaves
 * the walk's slot (its index in *walk_arg) for clt__cl_launch_iter. */
static void operand_args(clt__cl_args *a, const clt__iter *it, clt__storage *const *st, int nops, cl_uint *walk_arg) {
  for (int k = 0; k < nops; k++) {
    cl_mem m = clt__cl_mem(st[k]);
    CLT__ARG(a, m);
    if (it->contiguous) {
      cl_long off = it->offset[k];
      CLT__ARG(a, off);
    }
  }
  if (it->contiguous) {
    cl_long n = it->numel;
    CLT__ARG(a, n);
  } else {
    *walk_arg = clt__cl_arg_slot(a, sizeof(clt__cl_walk));
  }
}

/* ---- fused chains: one generated kernel per program signature -------------------------- */

/* What a generated kernel depends on: the program without its parameters (which are kernel
 * arguments, so new values compile nothing); sizes and strides are the walk's (nothing either). */
typedef struct {
  int16_t n, nin;
  uint8_t in_dt[CLT__MAX_OPS - 1];
  struct {
    int16_t op;
    int8_t scalar;
    uint8_t dt, in[3];
  } ins[CLT__EW_MAX_INSTR];
} fused_sig;

typedef struct clt__cl_fused_entry {
  struct clt__cl_fused_entry *next;
  fused_sig sig;
  cl_program prog;
  clt__cl_kernel_entry *k, *kw; /* clt_fused; clt_fused_w or NULL (wide_form) */
} fused_entry;

static void make_sig(fused_sig *s, const clt__ew_prog *p) {
  memset(s, 0, sizeof *s); /* padding too: signatures are compared with memcmp */
  s->n = (int16_t)p->n;
  s->nin = (int16_t)p->nin;
  for (int k = 0; k < p->nin; k++) s->in_dt[k] = p->in_dt[k];
  for (int i = 0; i < p->n; i++) {
    s->ins[i].op = p->ins[i].op;
    s->ins[i].scalar = p->ins[i].scalar;
    s->ins[i].dt = p->ins[i].dt;
    for (int k = 0; k < 3; k++) s->ins[i].in[k] = p->ins[i].in[k];
  }
}

void clt__cl_fused_release(clt__cl_dev *d) {
  for (fused_entry *e = d->fused, *next; e; e = next) {
    next = e->next;
    clt__cl_entry_free(e->k);
    if (e->kw) clt__cl_entry_free(e->kw);
    clReleaseProgram(e->prog);
    CLT__LIVE_DEC(CLT__LIVE_PROGRAMS);
    clt__free_mem(e);
  }
  d->fused = NULL;
}

/* The OpenCL C type of a dtype's elements in memory; NULL for dtypes the generator does not stamp. */
static const char *c_type(clt_dtype dt) {
  switch (dt) {
    case CLT_FLOAT16: case CLT_BFLOAT16: return "ushort";
    case CLT_FLOAT32: return "float";
    case CLT_FLOAT64: return "double";
    case CLT_INT32: return "int";
    case CLT_INT64: return "long";
    case CLT_UINT8: return "uchar";
    case CLT_BOOL: return "clt_bool";
    default: return NULL;
  }
}

/* A register's type: a 16-bit one computes in float, the program's T (common.clh). */
static const char *reg_type(clt_dtype dt) { return is_16bit(dt) ? "T" : c_type(dt); }

/* Whether every instruction computes in one dtype (the T the program is built for) and every
 * register has a type the generator knows, a 16-bit one only the program's own: what a generated
 * kernel can run. */
bool clt__cl_fusable(const clt__ew_prog *p) {
  for (int i = 0; i < p->n; i++)
    if (p->ins[i].dt != p->ins[0].dt) return false;
  for (int r = 0; r < p->nin + p->n; r++) {
    clt_dtype dt = clt__ew_prog_reg_dtype(p, r);
    if (!c_type(dt) || (is_16bit(dt) && dt != p->ins[0].dt)) return false;
  }
  return true;
}

/* Whether p's generated program has the wide form clt_fused_w for contiguous operands: 16-bit
 * programs whose inputs and result are all of the 16-bit type, with the CPU-shaped kernels, as
 * the one-op kernels' <kernel>_w forms (common.clh: CLT_WIDE). */
static bool wide_form(const clt__cl_dev *d, const clt__ew_prog *p) {
  clt_dtype dt = (clt_dtype)p->ins[0].dt;
  if (d->gpu_kernels || !is_16bit(dt) || clt__ew_prog_out_dtype(p) != dt) return false;
  for (int k = 0; k < p->nin; k++)
    if (p->in_dt[k] != dt) return false;
  return true;
}

typedef struct {
  char *buf;
  size_t len, cap;
  bool oom;
} text;

static void put(text *t, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    if (t->oom) return;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->oom = true;
      return;
    }
    if ((size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = 2 * t->cap + (size_t)n;
    char *b = clt__malloc(cap);
    if (!b) {
      t->oom = true;
      return;
    }
    if (t->len) memcpy(b, t->buf, t->len);
    clt__free_mem(t->buf);
    t->buf = b;
    t->cap = cap;
  }
}

/* How many of an instruction's parameters its expression reads: a unary op's and a two-input
 * gradient kernel's p0 and p1, a scalar form's p0. */
static int nparams(const clt__ew_instr *x) {
  const clt__op_info *o = &clt__op_table[x->op];
  if (o->rule == CLT__R_KERNEL) return o->arity == 2 ? 2 : 0;
  if (o->arity == 1) return 2;
  return x->scalar ? 1 : 0;
}

/* Parameters travel as scalar arguments, as the one-op kernels take them, unless there are more
 * than the argument record holds; then as one struct. A program with the wide form shares its
 * parameter list between clt_fused and clt_fused_w, whose operands take more arguments. */
static bool scalar_params(const clt__ew_prog *p, bool wide) {
  int n = wide ? 3 + 2 * p->nin /* out, o0, each input and its offset, n */ : 2 + p->nin; /* out, the inputs, the walk */
  for (int i = 0; i < p->n; i++) n += nparams(&p->ins[i]);
  return n <= CLT__MAX_KARGS;
}

static void param(char *buf, size_t cap, bool scalars, int i, int j) {
  if (scalars) snprintf(buf, cap, "p%d_%d", i, j);
  else snprintf(buf, cap, "P.v[%d]", 2 * i + j);
}

/* Instruction i's expression: the same K_<op> (G_<kernel>) expression the one-op kernels use,
 * with the same casts; register r written as the format reg gives it (with r as its argument),
 * parameters in T as the one-op kernels take them. */
static void gen_expr(text *t, const clt__ew_prog *p, int i, bool scalars, const char *reg) {
  const clt__ew_instr *x = &p->ins[i];
  const clt__op_info *o = &clt__op_table[x->op];
  const char *ot = reg_type(clt__ew_prog_reg_dtype(p, p->nin + i));
  char p0[16], p1[16], a[24], b[24], c[24];
  param(p0, sizeof p0, scalars, i, 0);
  param(p1, sizeof p1, scalars, i, 1);
  snprintf(a, sizeof a, reg, x->in[0]);
  snprintf(b, sizeof b, reg, x->in[1]);
  snprintf(c, sizeof c, reg, x->in[2]);
  if (o->rule == CLT__R_KERNEL && o->arity == 2) put(t, "G_%s(%s, %s, %s, %s)", o->name, a, b, p0, p1);
  else if (o->rule == CLT__R_KERNEL) put(t, "G_%s(%s, %s, %s)", o->name, a, b, c);
  else if (o->rule == CLT__R_WHERE) put(t, "%s ? %s : %s", a, b, c);
  else if (o->arity == 1) put(t, "K_%s(%s, %s, %s)", o->name, a, p0, p1);
  else if (x->scalar == 1) put(t, "(%s)K_%s(%s, %s, 1)", ot, o->name, a, p0);
  else if (x->scalar == 2) put(t, "(%s)K_%s(%s, %s, 0)", ot, o->name, p0, a);
  else put(t, "(%s)K_%s(%s, %s, 0)", ot, o->name, a, b);
}

/* Whether instruction i's result is rounded to its 16-bit type in its register, as the one-op
 * kernels' store and the next one's load do: each 16-bit result but the last (which the store
 * rounds), so a chain's result is the one-op kernels' bit for bit. */
static bool rerounds(const clt__ew_prog *p, int i) {
  return is_16bit(clt__ew_prog_reg_dtype(p, p->nin + i)) && i < p->n - 1;
}

/* The statements of one element: registers r<i> (the inputs, then one per instruction, in the
 * dtype its op gives), one statement per instruction. LOAD16 (LOAD for other dtypes) reads input
 * k given the arguments k and k + 1, STORE16 (STORE) writes the result given its register. */
static void gen_body(text *t, const clt__ew_prog *p, bool scalars, const char *load16, const char *load,
                     const char *store16, const char *store) {
  int nreg = p->nin + p->n;
  for (int k = 0; k < p->nin; k++) {
    clt_dtype dt = (clt_dtype)p->in_dt[k];
    put(t, "  %s r%d = ", reg_type(dt), k);
    put(t, is_16bit(dt) ? load16 : load, k, k + 1);
    put(t, ";\n");
  }
  for (int i = 0; i < p->n; i++) {
    put(t, "  %s r%d = %s(", reg_type(clt__ew_prog_reg_dtype(p, p->nin + i)), p->nin + i,
        rerounds(p, i) ? "CLT_REROUND" : "");
    gen_expr(t, p, i, scalars, "r%d");
    put(t, ");\n");
  }
  put(t, "  ");
  put(t, is_16bit(clt__ew_prog_out_dtype(p)) ? store16 : store, nreg - 1);
  put(t, ";\n");
}

/* The wide kernel's computation of 16 lanes (half h of a work-item's CLT_WIDE elements): each
 * instruction as 16 lane statements (CLT_FUSED_I<i>, defined by gen_kernel) into a vector
 * register, then rounded as a vector (common.clh: clt_wreround, equal to CLT_REROUND up to
 * NaN's payload), as the one-op wide kernels compute (CLT_LANES) and store: with every
 * instruction of a lane written together, LLVM's SLP vectoriser left relu's compare of a
 * rounded sum lane by lane (an add and a relu of float16 at 4 GB/s against 40 op by op). The
 * kernel's zero is common.clh's (clt_f16_loadpz). */
static void gen_half(text *t, const clt__ew_prog *p, int h) {
  int nreg = p->nin + p->n;
  put(t, "    {\n");
  for (int k = 0; k < p->nin; k++) put(t, "      float16 r%d = x%d_%d;\n", k, k, h);
  for (int i = 0; i < p->n; i++) {
    int r = p->nin + i;
    put(t, "      %s r%d;\n      CLT_LANES16(CLT_FUSED_I%d)\n", is_16bit(clt__ew_prog_reg_dtype(p, r)) ? "float16" : "uchar16",
        r, i);
    if (rerounds(p, i)) put(t, "      r%d = clt_wreround(r%d, zero);\n", r, r);
  }
  put(t, "      w%d = r%d;\n    }\n", h, nreg - 1);
}

/* The kernel clt_fused over the strided walk, and where wide, clt_fused_w over contiguous
 * operands (the one-op kernels' _w arguments: out, its element offset, each input and its
 * element offset, n, then the parameters), CLT_WIDE elements per work-item through
 * CLT_WLOADP/CLT_WSTOREP as common.clh's CLT_WIDE_KERNEL2 (gen_half), the run's end element by
 * element. */
static void gen_kernel(text *t, const clt__ew_prog *p, bool wide) {
  bool scalars = scalar_params(p, wide);
  const char *out_t = c_type(clt__ew_prog_out_dtype(p));
  if (!scalars) put(t, "typedef struct { T v[%d]; } clt_fused_params;\n", 2 * p->n);
  text params = {clt__malloc(256), 0, 256, false};
  params.oom = !params.buf;
  if (!scalars) put(&params, ", clt_fused_params P");
  for (int i = 0; scalars && i < p->n; i++)
    for (int j = 0; j < nparams(&p->ins[i]); j++) put(&params, ", T p%d_%d", i, j);
  if (params.oom) {
    t->oom = true;
    clt__free_mem(params.buf);
    return;
  }
  put(t, "__kernel void clt_fused(__global %s *out", out_t);
  for (int k = 0; k < p->nin; k++) put(t, ", __global const %s *in%d", c_type((clt_dtype)p->in_dt[k]), k);
  put(t, ", clt_walk it%.*s) {\n  CLT_WALK_BEGIN(it);\n", (int)params.len, params.buf);
  gen_body(t, p, scalars, "CLT_LOAD(in%d, off%d)", "in%d[off%d]", "CLT_STORE(out, off0, r%d)", "out[off0] = r%d");
  put(t, "}\n");
  if (wide) {
    for (int i = 0; i < p->n; i++) {
      put(t, "#define CLT_FUSED_I%d(l) r%d.s##l = ", i, p->nin + i);
      gen_expr(t, p, i, scalars, "r%d.s##l");
      put(t, ";\n");
    }
    put(t, "__kernel void clt_fused_w(__global CLT_ST *out, long o0");
    for (int k = 0; k < p->nin; k++) put(t, ", __global const CLT_ST *in%d, long o%d", k, k + 1);
    put(t, ", long n%.*s) {\n  long i = get_global_id(0) * CLT_WIDE;\n  if (i + CLT_WIDE <= n) {\n"
           "    uint zero = (uint)(o0 >> 63);\n", (int)params.len, params.buf);
    for (int k = 0; k < p->nin; k++)
      put(t, "    float16 x%d_0, x%d_1;\n    CLT_WLOADPZ(in%d + o%d + i, &x%d_0, &x%d_1, zero);\n", k, k, k, k + 1, k, k);
    put(t, "    float16 w0, w1;\n");
    gen_half(t, p, 0);
    gen_half(t, p, 1);
    put(t, "    CLT_WSTOREP(out + o0 + i, w0, w1);\n  } else\n    for (long j = i; j < n; j++) {\n");
    gen_body(t, p, scalars, "CLT_LOAD(in%d, o%d + j)", "", "CLT_STORE(out, o0 + j, r%d)", "");
    put(t, "    }\n}\n");
  }
  clt__free_mem(params.buf);
}

/* The families whose expressions a generated kernel uses, built without their own kernels. */
static const int expr_families[] = {CLT__KFAM_ew_unary, CLT__KFAM_ew_binary, CLT__KFAM_ew_grad};
#define NEXPR ((int)(sizeof expr_families / sizeof expr_families[0]))

static clt_status fused_build(clt__cl_dev *d, const fused_sig *sig, const clt__ew_prog *p, fused_entry **out) {
  text t = {clt__malloc(4096), 0, 4096, false};
  t.oom = !t.buf;
  bool wide = wide_form(d, p);
  gen_kernel(&t, p, wide);
  if (t.oom) {
    clt__free_mem(t.buf);
    return clt__err(CLT_ERR_OOM, "cannot generate the kernel of a fused chain");
  }
  const char *srcs[CLT__KPRELUDE_COUNT + NEXPR + 2];
  size_t lens[CLT__KPRELUDE_COUNT + NEXPR + 2];
  cl_uint n = 0;
  for (int i = 0; i < CLT__KPRELUDE_COUNT; i++, n++) {
    srcs[n] = clt__kernel_prelude[i].source;
    lens[n] = clt__kernel_prelude[i].length;
  }
  static const char only[] = "\n#define CLT_EW_EXPR_ONLY 1\n";
  srcs[n] = only;
  lens[n++] = sizeof only - 1;
  for (int i = 0; i < NEXPR; i++, n++) {
    srcs[n] = clt__kernel_families[expr_families[i]].source;
    lens[n] = clt__kernel_families[expr_families[i]].length;
  }
  srcs[n] = t.buf;
  lens[n++] = t.len;
  fused_entry *e = clt__calloc(1, sizeof *e);
  clt_status s = e ? CLT_OK : clt__err(CLT_ERR_OOM, "cannot allocate a fused kernel entry");
  if (s == CLT_OK) s = clt__cl_build_generated(d, n, srcs, lens, p->ins[0].dt, "the kernel of a fused chain", &e->prog);
  if (s == CLT_OK && (s = clt__cl_entry_new(d, e->prog, "clt_fused", p->ins[0].dt, &e->k)) == CLT_OK && wide &&
      (s = clt__cl_entry_new(d, e->prog, "clt_fused_w", p->ins[0].dt, &e->kw)) != CLT_OK)
    clt__cl_entry_free(e->k);
  if (s != CLT_OK && e && e->prog) {
    clReleaseProgram(e->prog);
    CLT__LIVE_DEC(CLT__LIVE_PROGRAMS);
  }
  clt__free_mem(t.buf);
  if (s != CLT_OK) {
    clt__free_mem(e);
    return s;
  }
  e->sig = *sig;
  *out = e;
  return CLT_OK;
}

/* The entry of p's signature, its program built on first use. */
static clt_status fused_kernel(clt__cl_dev *d, const clt__ew_prog *p, fused_entry **out) {
  fused_sig sig;
  make_sig(&sig, p);
  clt__mutex_lock(&d->kernel_lock);
  fused_entry *e = d->fused;
  while (e && memcmp(&e->sig, &sig, sizeof sig) != 0) e = e->next;
  clt_status s = CLT_OK;
  if (!e && (s = fused_build(d, &sig, p, &e)) == CLT_OK) {
    e->next = d->fused;
    d->fused = e;
  }
  clt__mutex_unlock(&d->kernel_lock);
  if (s == CLT_OK) *out = e;
  return s;
}

static clt_status run_fused(clt__cl_dev *d, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  if (!clt__cl_fusable(p))
    return clt__err(CLT_ERR_UNSUPPORTED, "elementwise programs whose instructions compute in different dtypes do not "
                    "run on OpenCL devices (instruction 0 computes in %s)", clt_dtype_name((clt_dtype)p->ins[0].dt));
  fused_entry *e;
  clt_status s = fused_kernel(d, p, &e);
  if (s != CLT_OK) return s;
  /* Contiguous operands take the strided walk's kernel too unless the program has the wide
   * form: on PoCL the chain tanh(x * w + b) over contiguous [1000, 1000] float32 operands took
   * 1.5 ms so, 10.5 ms as a 1-D kernel of the one-op kernels' one-element shape (the three one-op
   * kernels together 1-2.8 ms). */
  bool wide = e->kw && it->contiguous;
  clt__iter wit = *it;
  wit.contiguous = wide;
  it = &wit;
  clt__cl_args a;
  clt__cl_args_init(&a, wide ? e->kw : e->k);
  cl_uint walk = 0;
  operand_args(&a, it, st, it->nops, &walk);
  clt_dtype dt = is_16bit((clt_dtype)p->ins[0].dt) ? CLT_FLOAT32 : (clt_dtype)p->ins[0].dt; /* T */
  size_t es = clt_dtype_size(dt);
  unsigned char pv[2 * CLT__EW_MAX_INSTR * 8];
  bool scalars = scalar_params(p, e->kw != NULL); /* as the program was generated */
  for (int i = 0; i < p->n; i++) {
    clt__store_f64(dt, pv + (2 * i) * es, p->ins[i].p[0]);
    clt__store_f64(dt, pv + (2 * i + 1) * es, p->ins[i].p[1]);
    for (int j = 0; scalars && j < nparams(&p->ins[i]); j++) clt__cl_arg(&a, es, pv + (2 * i + j) * es);
  }
  if (!scalars) clt__cl_arg(&a, 2 * (size_t)p->n * es, pv);
  if (wide) return clt__cl_launch(d, &a, (size_t)((it->numel + CLT__CL_WIDE - 1) / CLT__CL_WIDE));
  return clt__cl_launch_iter(d, &a, walk, it);
}

/* ---- the host route: small programs on the calling thread ------------------------------- */

/* On PoCL's CPU device an enqueue costs about 3.6 us of the caller's time and, on an idle queue,
 * a wake-up of the driver's threads (an add enqueued and waited for: 44 us), where the host's
 * own loop adds 1e3 floats in 0.26 us. So a small program runs on the calling thread, through
 * the reference backend's loops, over the memory of the buffers themselves, when nothing clt
 * queued is pending (d->queued == d->settled): nothing can then still read or write them. On
 * PoCL the address a map returns is the buffer's own memory, the same at every map and read and
 * written by kernels without maps (tests/test_host_route.c relies on it), so it is learnt once per
 * buffer, when the pool first hands it out (backend.c), by a map and unmap that wait for nothing,
 * and kept until the pool releases the buffer. Learnt there rather than by the first small op
 * on it, so that whether an op takes the route depends on the calls made, not on which pooled
 * buffer a tensor got (fault sweeps count on that). Only programs the host computes bit for bit as the kernels do take this route (the
 * exact ops below, float32 and float64, parameters rounded to the dtype as the kernels take
 * them), so a result never depends on the route. $CLT_HOST_OPS sets the most elements (0: off). */
#define HOST_MAX_DEFAULT 65536

atomic_ulong clt__cl_host_runs;

struct clt__cl_hostptr {
  cl_mem m;
  void *p;
};

static size_t slot_of(cl_mem m, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)m * 0x9E3779B97F4A7C15ULL;
  return (size_t)(h >> 32) & (cap - 1);
}

/* ptr_lock held */
static void *ptr_find(const clt__cl_dev *d, cl_mem m) {
  if (!d->ptrs) return NULL;
  for (size_t i = slot_of(m, d->ptr_cap);; i = (i + 1) & (d->ptr_cap - 1)) {
    if (d->ptrs[i].m == m) return d->ptrs[i].p;
    if (!d->ptrs[i].m) return NULL;
  }
}

static void ptr_put(struct clt__cl_hostptr *t, size_t cap, cl_mem m, void *p) {
  size_t i = slot_of(m, cap);
  while (t[i].m && t[i].m != m) i = (i + 1) & (cap - 1);
  t[i] = (struct clt__cl_hostptr){m, p};
}

/* ptr_lock held; the table at most half full */
static clt_status ptr_add(clt__cl_dev *d, cl_mem m, void *p) {
  if (2 * (d->nptrs + 1) > d->ptr_cap) {
    size_t cap = d->ptr_cap ? 2 * d->ptr_cap : 64;
    struct clt__cl_hostptr *t = clt__calloc(cap, sizeof *t);
    if (!t) return clt__err(CLT_ERR_OOM, "cannot grow the table of buffers' host addresses to %zu entries", cap);
    for (size_t i = 0; i < d->ptr_cap; i++)
      if (d->ptrs[i].m) ptr_put(t, cap, d->ptrs[i].m, d->ptrs[i].p);
    clt__free_mem(d->ptrs);
    d->ptrs = t;
    d->ptr_cap = cap;
  }
  ptr_put(d->ptrs, d->ptr_cap, m, p);
  d->nptrs++;
  return CLT_OK;
}

bool clt__cl_hostptr_forget(clt__cl_dev *d, cl_mem m) {
  if (d->host_max == 0) return false;
  bool known = false;
  clt__mutex_lock(&d->ptr_lock);
  size_t i = d->ptrs ? slot_of(m, d->ptr_cap) : 0, mask = d->ptr_cap - 1;
  while (d->ptrs && d->ptrs[i].m && d->ptrs[i].m != m) i = (i + 1) & mask;
  if (d->ptrs && d->ptrs[i].m) { /* removed, then the entries after it in its run moved up (linear probing) */
    known = true;
    d->ptrs[i].m = NULL;
    d->nptrs--;
    for (size_t j = (i + 1) & mask; d->ptrs[j].m; j = (j + 1) & mask) {
      struct clt__cl_hostptr e = d->ptrs[j];
      d->ptrs[j].m = NULL;
      ptr_put(d->ptrs, d->ptr_cap, e.m, e.p);
    }
  }
  clt__mutex_unlock(&d->ptr_lock);
  return known;
}

clt_status clt__cl_host_route_open(clt__cl_dev *d, const clt_device_info *in) {
  const char *env = clt__getenv("CLT_HOST_OPS");
  long long max = HOST_MAX_DEFAULT;
  if (env) {
    char *end;
    max = strtoll(env, &end, 10);
    if (*end || max < 0)
      return clt__err(CLT_ERR_INVALID_ARG, "$CLT_HOST_OPS is '%s': the most elements an elementwise op runs on the "
                      "calling thread, a number (0: none)", env);
  }
  if (!d->is_pocl || !d->is_cpu || !in->host_unified_memory) max = 0;
  if (max > 0) {
    clt_status s = clt__reference_open(&d->ref);
    if (s != CLT_OK) return s;
  }
  d->host_max = max;
  return CLT_OK;
}

void clt__cl_host_route_close(clt__cl_dev *d) {
  clt__free_mem(d->ptrs);
  d->ptrs = NULL;
  d->nptrs = d->ptr_cap = 0;
  if (d->ref) clt__device_drop(d->ref);
  d->ref = NULL;
}

/* The ops whose float32 and float64 results the host's loops (computing in double, rounding
 * once) give exactly as the kernels (computing in the dtype): one rounding of an exact result,
 * or none. */
static bool host_exact_op(int op) {
  switch (op) {
    case CLT_OP_neg: case CLT_OP_abs: case CLT_OP_sign: case CLT_OP_square: case CLT_OP_relu:
    case CLT_OP_clamp: case CLT_OP_add: case CLT_OP_sub: case CLT_OP_mul: case CLT_OP_maximum:
    case CLT_OP_minimum: case CLT_OP_eq: case CLT_OP_ne: case CLT_OP_lt: case CLT_OP_le: case CLT_OP_gt:
    case CLT_OP_ge: case CLT_OP_where:
      return true;
    default:
      return false;
  }
}

static bool host_exact(const clt__ew_prog *p) {
  clt_dtype dt = (clt_dtype)p->ins[0].dt;
  if (dt != CLT_FLOAT32 && dt != CLT_FLOAT64) return false;
  for (int i = 0; i < p->n; i++)
    if (p->ins[i].dt != dt || !host_exact_op(p->ins[i].op)) return false;
  for (int k = 0; k < p->nin; k++)
    if (p->in_dt[k] != dt && p->in_dt[k] != CLT_BOOL) return false;
  return true;
}

/* Learns the host address of st's buffer (the enqueue lock: see cl_map in backend.c). A failed
 * unmap is retried outside the fault hook, so that no mapping outlives the call. */
static clt_status learn(clt__cl_dev *d, const clt__storage *st) {
  cl_mem m = clt__cl_mem(st);
  cl_int err = CL_SUCCESS;
  clt__mutex_lock(&d->enqueue_lock);
  void *p = CLT__CL_OBJ(&err, clEnqueueMapBuffer(d->queue, m, CL_FALSE, CL_MAP_READ, 0, 1, 0, NULL, NULL, &err));
  if (p) {
    cl_int unmap = CLT__CL(clEnqueueUnmapMemObject(d->queue, m, p, 0, NULL, NULL));
    if (unmap != CL_SUCCESS) clEnqueueUnmapMemObject(d->queue, m, p, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = unmap;
  }
  clt__mutex_unlock(&d->enqueue_lock);
  clt__cl_queued(d);
  if (err != CL_SUCCESS || !p)
    return clt__cl_fail(p ? "clEnqueueUnmapMemObject" : "clEnqueueMapBuffer", err,
                        "learning the host address of a %zu-byte buffer", st->nbytes);
  clt__mutex_lock(&d->ptr_lock);
  clt_status s = ptr_add(d, m, p);
  clt__mutex_unlock(&d->ptr_lock);
  return s;
}

void *clt__cl_hostptr_of(clt__cl_dev *d, const clt__storage *st) {
  if (d->host_max == 0 || st->wrapped || !st->handle) return NULL;
  clt__mutex_lock(&d->ptr_lock);
  void *p = ptr_find(d, clt__cl_mem(st));
  clt__mutex_unlock(&d->ptr_lock);
  return p;
}

clt_status clt__cl_hostptr_learn(clt__cl_dev *d, const clt__storage *st) {
  if (d->host_max == 0 || st->wrapped || !st->handle) return CLT_OK;
  clt__mutex_lock(&d->ptr_lock);
  bool known = ptr_find(d, clt__cl_mem(st)) != NULL;
  clt__mutex_unlock(&d->ptr_lock);
  return known ? CLT_OK : learn(d, st);
}

/* Runs p on the calling thread when it may (*done), else leaves it to the kernels. */
static clt_status host_route(clt_device *dev, clt__cl_dev *d, const clt__ew_prog *p, const clt__iter *it,
                             clt__storage *const *st, bool *done) {
  *done = false;
  if (it->numel > d->host_max || !host_exact(p)) return CLT_OK;
  for (int k = 0; k < it->nops; k++)
    if (st[k]->wrapped || !st[k]->handle) return CLT_OK; /* the caller's buffers: its own maps, its own life */
  void *ptr[CLT__MAX_OPS];
  bool known = true;
  clt__mutex_lock(&d->ptr_lock);
  for (int k = 0; k < it->nops; k++) known = (ptr[k] = ptr_find(d, clt__cl_mem(st[k]))) && known;
  clt__mutex_unlock(&d->ptr_lock);
  if (!known || atomic_load(&d->settled) != atomic_load(&d->queued)) return CLT_OK;
  /* The wait makes the route correct whatever the counts say (the application's own commands
   * on clt's queue, clt_cl_device_get, are not counted); the counts only keep it from waiting
   * for pending work, which the kernels queue behind instead. Waiting for an empty queue costs
   * PoCL about 10 ns. */
  unsigned long long at = clt__cl_settle_begin(d);
  cl_int err = CLT__CL(clFinish(d->queue));
  if (err != CL_SUCCESS) return clt__cl_fail("clFinish", err, "waiting for %s before running an op on the host", dev->info.spec);
  clt__cl_settle_end(d, at);
  clt__ew_prog q = *p;
  for (int i = 0; i < q.n; i++) /* the kernels take parameters in the dtype */
    for (int j = 0; j < 2; j++) {
      unsigned char b[8];
      clt__store_f64((clt_dtype)q.ins[i].dt, b, q.ins[i].p[j]);
      q.ins[i].p[j] = clt__load_f64((clt_dtype)q.ins[i].dt, b);
    }
  clt__storage view[CLT__MAX_OPS], *vp[CLT__MAX_OPS];
  for (int k = 0; k < it->nops; k++) {
    view[k] = (clt__storage){.dev = d->ref, .nbytes = st[k]->nbytes, .capacity = st[k]->capacity, .ptr = ptr[k]};
    vp[k] = &view[k];
  }
  clt_status s = d->ref->be->ew(d->ref, &q, it, vp);
  if (s == CLT_OK) {
    *done = true;
    atomic_fetch_add(&clt__kernel_launches, 1); /* one pass over the elements, as a launch */
    atomic_fetch_add(&clt__cl_host_runs, 1);
  }
  return s;
}

clt_status clt__cl_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  if (clt__cl(dev)->host_max > 0) {
    bool done;
    clt_status s = host_route(dev, clt__cl(dev), p, it, st, &done);
    if (s != CLT_OK || done) return s;
  }
  const clt__ew_instr *ins = &p->ins[0];
  bool in_order = p->n == 1;
  for (int k = 0; in_order && k < clt__op_table[ins->op].arity - (ins->scalar ? 1 : 0); k++) in_order = ins->in[k] == k;
  if (!in_order) return run_fused(clt__cl(dev), p, it, st);
  clt__cl_dev *d = clt__cl(dev);
  int op = ins->op, scalar = ins->scalar;
  clt_dtype dt = (clt_dtype)ins->dt;
  const clt__op_info *info = &clt__op_table[op];
  bool grad = info->rule == CLT__R_KERNEL;
  bool unary = info->arity == 1;
  bool with_params = unary || grad || scalar != 0; /* (operands, [n|it], p0, p1) */
  const char *sfx = scalar == 1 ? "_c" : scalar == 2 ? "_rc" : "";
  char name[64];
  if (grad)
    snprintf(name, sizeof name, "%s%s", info->name, it->contiguous ? "" : "_s");
  else
    snprintf(name, sizeof name, "%s_fwd%s%s", info->name, sfx, it->contiguous ? "" : (scalar ? "s" : "_s"));
  /* float32 exp, gelu and gelu's gradient of a contiguous run on a CPU device: 16 elements
   * per work-item (ew_unary.cl, ew_grad.cl: <name>16) */
  bool wide = (op == CLT_OP_exp || op == CLT_OP_gelu || op == CLT__G_gelu_bwd) && dt == CLT_FLOAT32 &&
              it->contiguous && d->is_cpu;
  if (wide) strcat(name, "16");
  /* 16-bit results of contiguous operands with the CPU-shaped kernels: the <name>_w kernels,
   * CLT__CL_WIDE elements per work-item, for every row but where and the three-input
   * gradient kernels */
  bool wide16 = is_16bit(dt) && it->contiguous && !d->gpu_kernels && clt__ew_prog_out_dtype(p) == dt &&
                info->rule != CLT__R_WHERE && !(grad && info->arity == 3);
  if (wide16) strcat(name, "_w");
  int fam = grad ? CLT__KFAM_ew_grad : unary ? CLT__KFAM_ew_unary : CLT__KFAM_ew_binary;
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, fam, (int)dt, name, &k);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  cl_uint walk = 0;
  operand_args(&a, it, st, it->nops, &walk);
  if (with_params) {
    uint8_t pv[2][8] = {{0}};
    clt_dtype pdt = dt == CLT_FLOAT16 || dt == CLT_BFLOAT16 ? CLT_FLOAT32 : dt; /* their kernels' T is float */
    clt__store_f64(pdt, pv[0], ins->p[0]);
    clt__store_f64(pdt, pv[1], ins->p[1]);
    clt__cl_arg(&a, clt_dtype_size(pdt), pv[0]);
    clt__cl_arg(&a, clt_dtype_size(pdt), pv[1]);
  }
  if (wide) return clt__cl_launch(d, &a, (size_t)((it->numel + 15) / 16));
  if (wide16) return clt__cl_launch(d, &a, (size_t)((it->numel + CLT__CL_WIDE - 1) / CLT__CL_WIDE));
  return clt__cl_launch_iter(d, &a, walk, it);
}

clt_status clt__cl_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                          const clt__storage *src, clt_dtype sdt) {
  clt__cl_dev *d = clt__cl(dev);
  /* between float32 and a 16-bit type, contiguous, with the CPU-shaped kernels: CLT__CL_WIDE
   * elements per work-item (cast.cl: to_<dtype>_w) */
  bool wide = it->contiguous && !d->gpu_kernels && (is_16bit(sdt) || is_16bit(ddt)) &&
              (is_16bit(sdt) || sdt == CLT_FLOAT32) && (is_16bit(ddt) || ddt == CLT_FLOAT32);
  char name[32];
  snprintf(name, sizeof name, "to_%s%s", clt_dtype_name(ddt), wide ? "_w" : it->contiguous ? "" : "_s");
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_cast, (int)sdt, name, &k);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  cl_uint walk = 0;
  clt__storage *st[2] = {dst, (clt__storage *)src};
  operand_args(&a, it, st, 2, &walk);
  if (wide) return clt__cl_launch(d, &a, (size_t)((it->numel + CLT__CL_WIDE - 1) / CLT__CL_WIDE));
  return clt__cl_launch_iter(d, &a, walk, it);
}
