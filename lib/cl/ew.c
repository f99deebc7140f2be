/* Elementwise ops and casts on OpenCL: one kernel launch per op, the contiguous kernel when
 * every operand is contiguous after merging dims, the strided one (clt_iter) otherwise. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../ew.h"
#include "cl_internal.h"

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
  clt__cl_kernel_entry *k;
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
    clReleaseProgram(e->prog);
    CLT__LIVE_DEC(CLT__LIVE_PROGRAMS);
    clt__free_mem(e);
  }
  d->fused = NULL;
}

/* The OpenCL C type of a dtype's elements; NULL for dtypes the generator does not stamp. */
static const char *c_type(clt_dtype dt) {
  switch (dt) {
    case CLT_FLOAT32: return "float";
    case CLT_FLOAT64: return "double";
    case CLT_INT32: return "int";
    case CLT_INT64: return "long";
    case CLT_UINT8: return "uchar";
    case CLT_BOOL: return "clt_bool";
    default: return NULL;
  }
}

/* Whether every instruction computes in one dtype (the T the program is built for) and every
 * register has a type the generator knows: what a generated kernel can run. */
bool clt__cl_fusable(const clt__ew_prog *p) {
  for (int i = 0; i < p->n; i++)
    if (p->ins[i].dt != p->ins[0].dt) return false;
  for (int r = 0; r < p->nin + p->n; r++)
    if (!c_type(clt__ew_prog_reg_dtype(p, r))) return false;
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
 * than the argument record holds; then as one struct. */
static bool scalar_params(const clt__ew_prog *p) {
  int n = 2 + p->nin; /* out, the inputs, the walk */
  for (int i = 0; i < p->n; i++) n += nparams(&p->ins[i]);
  return n <= CLT__MAX_KARGS;
}

static void param(char *buf, size_t cap, bool scalars, int i, int j) {
  if (scalars) snprintf(buf, cap, "p%d_%d", i, j);
  else snprintf(buf, cap, "P.v[%d]", 2 * i + j);
}

/* The kernel: registers r<i> (the inputs, then one per instruction, in the dtype its op gives),
 * each instruction one statement of the same K_<op> (G_<kernel>) expression the one-op kernels
 * use, with the same casts, so a chain's result is the one-op kernels' bit for bit; parameters
 * in T as the one-op kernels take them. */
static void gen_kernel(text *t, const clt__ew_prog *p) {
  int nreg = p->nin + p->n;
  bool scalars = scalar_params(p);
  const char *out_t = c_type(clt__ew_prog_out_dtype(p));
  if (!scalars) put(t, "typedef struct { T v[%d]; } clt_fused_params;\n", 2 * p->n);
  put(t, "__kernel void clt_fused(__global %s *out", out_t);
  for (int k = 0; k < p->nin; k++) put(t, ", __global const %s *in%d", c_type((clt_dtype)p->in_dt[k]), k);
  put(t, ", clt_walk it");
  if (!scalars) put(t, ", clt_fused_params P");
  for (int i = 0; scalars && i < p->n; i++)
    for (int j = 0; j < nparams(&p->ins[i]); j++) put(t, ", T p%d_%d", i, j);
  put(t, ") {\n");
  put(t, "  CLT_WALK_BEGIN(it);\n");
  for (int k = 0; k < p->nin; k++) put(t, "  %s r%d = in%d[off%d];\n", c_type((clt_dtype)p->in_dt[k]), k, k, k + 1);
  for (int i = 0; i < p->n; i++) {
    const clt__ew_instr *x = &p->ins[i];
    const clt__op_info *o = &clt__op_table[x->op];
    int r = p->nin + i, a = x->in[0], b = x->in[1], c = x->in[2];
    const char *ot = c_type(clt__ew_prog_reg_dtype(p, r));
    char p0[16], p1[16];
    param(p0, sizeof p0, scalars, i, 0);
    param(p1, sizeof p1, scalars, i, 1);
    put(t, "  %s r%d = ", ot, r);
    if (o->rule == CLT__R_KERNEL && o->arity == 2)
      put(t, "G_%s(r%d, r%d, %s, %s);\n", o->name, a, b, p0, p1);
    else if (o->rule == CLT__R_KERNEL)
      put(t, "G_%s(r%d, r%d, r%d);\n", o->name, a, b, c);
    else if (o->rule == CLT__R_WHERE)
      put(t, "r%d ? r%d : r%d;\n", a, b, c);
    else if (o->arity == 1)
      put(t, "K_%s(r%d, %s, %s);\n", o->name, a, p0, p1);
    else if (x->scalar == 1)
      put(t, "(%s)K_%s(r%d, %s, 1);\n", ot, o->name, a, p0);
    else if (x->scalar == 2)
      put(t, "(%s)K_%s(%s, r%d, 0);\n", ot, o->name, p0, a);
    else
      put(t, "(%s)K_%s(r%d, r%d, 0);\n", ot, o->name, a, b);
  }
  put(t, "  out[off0] = r%d;\n}\n", nreg - 1);
}

/* The families whose expressions a generated kernel uses, built without their own kernels. */
static const int expr_families[] = {CLT__KFAM_ew_unary, CLT__KFAM_ew_binary, CLT__KFAM_ew_grad};
#define NEXPR ((int)(sizeof expr_families / sizeof expr_families[0]))

static clt_status fused_build(clt__cl_dev *d, const fused_sig *sig, const clt__ew_prog *p, fused_entry **out) {
  text t = {clt__malloc(4096), 0, 4096, false};
  t.oom = !t.buf;
  gen_kernel(&t, p);
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
  if (s == CLT_OK && (s = clt__cl_entry_new(d, e->prog, "clt_fused", p->ins[0].dt, &e->k)) != CLT_OK) {
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

/* The kernel of p's signature, built on first use. */
static clt_status fused_kernel(clt__cl_dev *d, const clt__ew_prog *p, clt__cl_kernel_entry **out) {
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
  if (s == CLT_OK) *out = e->k;
  return s;
}

static clt_status run_fused(clt__cl_dev *d, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
  if (!clt__cl_fusable(p))
    return clt__err(CLT_ERR_UNSUPPORTED, "elementwise programs whose instructions compute in different dtypes do not "
                    "run on OpenCL devices (instruction 0 computes in %s)", clt_dtype_name((clt_dtype)p->ins[0].dt));
  /* Always the strided walk's kernel, contiguous operands too: on PoCL the chain tanh(x * w + b)
   * over contiguous [1000, 1000] operands took 1.5 ms so, 10.5 ms as a 1-D kernel of the one-op
   * kernels' shape (the three one-op kernels together 1-2.8 ms). */
  clt__iter wit = *it;
  wit.contiguous = false;
  it = &wit;
  clt__cl_kernel_entry *k;
  clt_status s = fused_kernel(d, p, &k);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  cl_uint walk = 0;
  operand_args(&a, it, st, it->nops, &walk);
  clt_dtype dt = (clt_dtype)p->ins[0].dt;
  size_t es = clt_dtype_size(dt);
  unsigned char pv[2 * CLT__EW_MAX_INSTR * 8];
  bool scalars = scalar_params(p);
  for (int i = 0; i < p->n; i++) {
    clt__store_f64(dt, pv + (2 * i) * es, p->ins[i].p[0]);
    clt__store_f64(dt, pv + (2 * i + 1) * es, p->ins[i].p[1]);
    for (int j = 0; scalars && j < nparams(&p->ins[i]); j++) clt__cl_arg(&a, es, pv + (2 * i + j) * es);
  }
  if (!scalars) clt__cl_arg(&a, 2 * (size_t)p->n * es, pv);
  return clt__cl_launch_iter(d, &a, walk, it);
}

clt_status clt__cl_ew(clt_device *dev, const clt__ew_prog *p, const clt__iter *it, clt__storage *const *st) {
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
  /* float32 exp of a contiguous run on a CPU device: 16 elements per work-item (ew_unary.cl) */
  bool wide = op == CLT_OP_exp && dt == CLT_FLOAT32 && it->contiguous && d->is_cpu;
  if (wide) snprintf(name, sizeof name, "exp_fwd16");
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
  return clt__cl_launch_iter(d, &a, walk, it);
}

clt_status clt__cl_cast(clt_device *dev, const clt__iter *it, clt__storage *dst, clt_dtype ddt,
                          const clt__storage *src, clt_dtype sdt) {
  clt__cl_dev *d = clt__cl(dev);
  char name[32];
  snprintf(name, sizeof name, "to_%s%s", clt_dtype_name(ddt), it->contiguous ? "" : "_s");
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_cast, (int)sdt, name, &k);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  cl_uint walk = 0;
  clt__storage *st[2] = {dst, (clt__storage *)src};
  operand_args(&a, it, st, 2, &walk);
  return clt__cl_launch_iter(d, &a, walk, it);
}
