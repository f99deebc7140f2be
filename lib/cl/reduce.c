/* Reductions on OpenCL: passes of the reduce.cl kernels until one chunk is left. */
#include <stdio.h>
#include <string.h>

#include "../reduce.h"
#include "cl_internal.h"

/* The CPU-shaped kernels' geometry: a work-item reduces one chunk of R for one output (8
 * output; _b16: 16 adjacent outputs), in vector registers, in order. A PoCL work-item costs little but a pass
 * costs a launch and a round through memory, so a first pass makes only enough chunks to give
 * every core several work-items (CPU_ITEMS_PER_CU), each at least CPU_MIN_ELEMS elements long,
 * and the partials, a few hundred at most, take one more pass. (Before: 16 x 256 work-items of
 * 64+ elements, three passes for a sum of everything; x.sum() at n = 1e6 51 GB/s on PoCL.) */
#define CPU_ITEMS_MIN 256
#define CPU_ITEMS_PER_CU 32
#define CPU_MIN_ELEMS 4096
/* Work-groups of this many work-items: the kernels' loops are their own vectors (PoCL does
 * not vectorize across work-items whose bodies hold a loop), so a group only schedules, and
 * small groups keep both threads busy when the work-items are few (64 chunks in groups of 256
 * ran on one thread). */
#define CPU_LOCAL 8

/* Rows per chunk of _b16 at least: 16K elements (64 KB of float32), a few microseconds of one
 * thread, where a second pass costs a launch (tens of microseconds with PoCL's thread handoffs).
 * A bias gradient of the digits transformer (512 x 32 .. 128) took two passes with chunks of 64
 * rows: about half of its 20 column sums a step were these second passes. */
#define CPU_MIN_ROWS_B16 1024

/* cols: outputs a work-item takes at once (16 for _b16). */
static int64_t chunks_for(const clt__rlayout *L, int64_t cols, uint32_t compute_units) {
  int64_t outs = L->A * ((L->B + cols - 1) / cols), target = (int64_t)compute_units * CPU_ITEMS_PER_CU;
  if (target < CPU_ITEMS_MIN) target = CPU_ITEMS_MIN;
  if (outs >= target) return 1;
  int64_t n = (target + outs - 1) / outs, most = L->R * cols / CPU_MIN_ELEMS;
  if (cols > 1) most = L->R / CPU_MIN_ROWS_B16;
  if (n > most) n = most;
  return n < 1 ? 1 : n;
}

/* The GPU-shaped kernels' launch (kernels/reduce.cl: CLT_WG_INDEX): lanes over b (2^lbb of them)
 * where b rather than r steps through memory, lanes over r (2^lrb) for the rest of the group,
 * and enough chunks of R that the first pass has about 8 work-groups per compute unit, each
 * lane of a chunk reading at least 8 elements. */
typedef struct {
  int lbb, lrb;
  int64_t nchunks, chunk, groups;
} wg_geometry;

static int ceil_log2(int64_t n) {
  int b = 0;
  while (b < 62 && ((int64_t)1 << b) < n) b++;
  return b;
}

static wg_geometry wg_geometry_for(const clt__rlayout *L, size_t wg, uint32_t compute_units) {
  wg_geometry g;
  int wgb = ceil_log2((int64_t)wg), most_b = wgb < 5 ? wgb : 5;
  g.lbb = L->B > 1 && L->sR != 1 ? ceil_log2(L->B) : 0;
  if (g.lbb > most_b) g.lbb = most_b;
  int lrb = ceil_log2(L->R);
  if (lrb > wgb - g.lbb) lrb = wgb - g.lbb;
  int64_t nbg = (L->B + ((int64_t)1 << g.lbb) - 1) >> g.lbb, per_group = (int64_t)1 << (wgb - g.lbb - lrb);
  int64_t groups = (L->A * nbg + per_group - 1) / per_group, target = (int64_t)(compute_units ? compute_units : 1) * 8;
  int64_t n = 1;
  if (groups < target) {
    int64_t most = L->R / ((int64_t)8 << lrb);
    n = (target + groups - 1) / groups;
    if (n > most) n = most;
    if (n < 1) n = 1;
  }
  g.chunk = (L->R + n - 1) / n;
  g.nchunks = (L->R + g.chunk - 1) / g.chunk;
  g.lrb = ceil_log2(g.chunk);
  if (g.lrb > wgb - g.lbb) g.lrb = wgb - g.lbb;
  per_group = (int64_t)1 << (wgb - g.lbb - g.lrb);
  g.groups = (L->A * g.nchunks * nbg + per_group - 1) / per_group;
  return g;
}

static const char *kernel_name(clt__rop op) {
  switch (op) {
    case CLT__R_SUM: return "reduce_sum";
    case CLT__R_PROD: return "reduce_prod";
    case CLT__R_SQDEV: return "reduce_sqdev";
    case CLT__R_SUMEXP: return "reduce_sumexp";
    case CLT__R_MAXABS: return "reduce_maxabs";
    case CLT__R_SUMSC: return "reduce_sumsc";
    case CLT__R_DEVSUM: return "reduce_devsum";
    case CLT__R_MAX: case CLT__R_ARGMAX: return "reduce_max";
    default: return "reduce_min";
  }
}

/* The input and its walk: in, off, A, R, B, sA, sR, sB. */
static void layout_args(clt__cl_args *a, const clt__storage *in, const clt__rlayout *L) {
  cl_mem m = clt__cl_mem(in);
  cl_long v[7] = {L->off, L->A, L->R, L->B, L->sA, L->sR, L->sB};
  CLT__ARG(a, m);
  for (int i = 0; i < 7; i++) CLT__ARG(a, v[i]);
}

/* CLT__R_PRODX: one pass, one work-item per slice (reduce.cl: reduce_prodx). */
static clt_status prod_others(clt__cl_dev *d, const clt__reduce_args *r) {
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_reduce, (int)r->dt, "reduce_prodx", &k);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  layout_args(&a, r->in, &r->L);
  cl_mem om = clt__cl_mem(r->out);
  cl_long oo = r->out_off;
  CLT__ARG(&a, om);
  CLT__ARG(&a, oo);
  return clt__cl_launch(d, &a, (size_t)(r->L.A * r->L.B));
}

clt_status clt__cl_reduce(clt_device *dev, const clt__reduce_args *r) {
  clt__cl_dev *d = clt__cl(dev);
  if (r->op == CLT__R_PRODX) return prod_others(d, r);
  bool extreme = r->op == CLT__R_MAX || r->op == CLT__R_MIN || r->op == CLT__R_ARGMAX || r->op == CLT__R_ARGMIN;
  clt__rop op = r->op;
  clt_dtype dt = r->dt;
  clt__rlayout L = r->L;
  /* One output per a (B = 1) with a stepping through memory faster than r: the outputs are
   * the same taken as b (element a * B + b either way), and the GPU-shaped kernels then read
   * along them (a sum over dim 1 of x.T); the CPU-shaped ones, where a steps by one element,
   * read 16 outputs' elements as one vector (reduce_sum_b16; x.T.sum(1) over 1000 x 1000
   * floats 7 -> 46 GB/s on PoCL with 8 outputs per work-item). */
  if (L.B == 1 && L.A > 1 && L.R > 1 && L.sA < L.sR)
    L = (clt__rlayout){.A = 1, .R = L.R, .B = L.A, .sA = 0, .sR = L.sR, .sB = L.sA, .off = L.off};
  const clt__storage *in = r->in;
  clt__storage *pin = NULL, *pidx_in = NULL; /* this pass's partial inputs (owned) */
  clt_status s = CLT_OK;
  for (;;) {
    /* float sums and products down contiguous columns: 16 columns per work-item (reduce.cl) */
    bool b16 = !d->gpu_kernels && (op == CLT__R_SUM || op == CLT__R_PROD) && clt_dtype_is_float(dt) && L.sB == 1 &&
              L.B >= 16;
    clt__cl_kernel_entry *k;
    char name[32];
    snprintf(name, sizeof name, "%s%s", kernel_name(op), d->gpu_kernels ? "_wg" : b16 ? "_b16" : "");
    s = clt__cl_kernel(d, CLT__KFAM_reduce, (int)dt, name, &k);
    if (s != CLT_OK) break;
    wg_geometry g = {0, 0, 1, L.R, 0};
    int64_t n, chunk;
    if (d->gpu_kernels) {
      g = wg_geometry_for(&L, k->local, dev->info.compute_units);
      n = g.nchunks;
      chunk = g.chunk;
    } else {
      n = chunks_for(&L, b16 ? 16 : 1, dev->info.compute_units);
      chunk = (L.R + n - 1) / n;
      if (!b16 && L.sR == 1) chunk = (chunk + 63) / 64 * 64; /* whole vectors per chunk but the last */
      n = (L.R + chunk - 1) / chunk;
    }
    bool final = n == 1;
    clt_dtype pdt = extreme ? dt : clt__reduce_acc_dtype(op, dt);
    clt__storage *vout = NULL, *iout = NULL;
    int64_t vo = 0, io = 0;
    size_t cnt = (size_t)(L.A * n * L.B);
    size_t launch = d->gpu_kernels ? (size_t)g.groups * k->local : (size_t)(L.A * n * (b16 ? (L.B + 15) / 16 : L.B));
    if (final) {
      vout = r->out;
      vo = r->out_off;
      iout = r->idx;
      io = r->idx_off;
    } else {
      s = clt__storage_new(dev, cnt * clt_dtype_size(pdt), &vout);
      if (s == CLT_OK && (op == CLT__R_ARGMAX || op == CLT__R_ARGMIN)) s = clt__storage_new(dev, cnt * 8, &iout);
      if (s != CLT_OK) {
        clt__storage_release(vout);
        break;
      }
    }
    clt__cl_args a;
    clt__cl_args_init(&a, k);
    cl_long ch = chunk, nc = n;
    layout_args(&a, in, &L);
    CLT__ARG(&a, ch);
    CLT__ARG(&a, nc);
    cl_mem vm = vout ? clt__cl_mem(vout) : NULL, im = iout ? clt__cl_mem(iout) : NULL;
    cl_long vol = vo, iol = io;
    if (extreme) {
      cl_mem iin = pidx_in ? clt__cl_mem(pidx_in) : NULL;
      cl_int has = pidx_in != NULL;
      CLT__ARG(&a, vm);
      CLT__ARG(&a, vol);
      CLT__ARG(&a, im);
      CLT__ARG(&a, iol);
      CLT__ARG(&a, iin);
      CLT__ARG(&a, has);
    } else {
      cl_mem mm = r->m ? clt__cl_mem(r->m) : clt__cl_mem(in);
      cl_long mo = r->m_off;
      cl_int post = final ? (cl_int)r->post : 0;
      uint8_t scale[8];
      clt__store_f64(pdt, scale, r->scale);
      CLT__ARG(&a, vm);
      CLT__ARG(&a, vol);
      CLT__ARG(&a, mm);
      CLT__ARG(&a, mo);
      CLT__ARG(&a, post);
      clt__cl_arg(&a, clt_dtype_size(pdt), scale);
    }
    if (d->gpu_kernels) {
      cl_int lbb = g.lbb, lrb = g.lrb;
      CLT__ARG(&a, lbb);
      CLT__ARG(&a, lrb);
    }
    if (d->gpu_kernels) s = clt__cl_launch(d, &a, launch);
    else {
      size_t local = k->local < CPU_LOCAL ? k->local : CPU_LOCAL;
      s = clt__cl_launch_groups(d, &a, (launch + local - 1) / local, local);
    }
    /* the queue is in order: releasing the inputs now cannot let a later write overtake them */
    clt__storage_release(pin);
    clt__storage_release(pidx_in);
    pin = pidx_in = NULL;
    if (final || s != CLT_OK) {
      if (!final) {
        clt__storage_release(vout);
        clt__storage_release(iout);
      }
      break;
    }
    pin = vout;
    pidx_in = iout;
    in = pin;
    dt = pdt;
    L = (clt__rlayout){.A = L.A, .R = n, .B = L.B, .sA = n * L.B, .sR = L.B, .sB = 1, .off = 0};
    if (op == CLT__R_SQDEV || op == CLT__R_SUMEXP || op == CLT__R_SUMSC || op == CLT__R_DEVSUM) op = CLT__R_SUM;
  }
  clt__storage_release(pin);
  clt__storage_release(pidx_in);
  return s;
}

static clt_status softmax_apply(clt__cl_dev *d, const clt__softmax_args *x, clt__storage *ls);

/* log(s + (m - m)) per row into a new storage (*ls), for log_softmax's apply kernel. */
static clt_status softmax_lognorm(clt__cl_dev *d, clt_device *dev, const clt__softmax_args *x, clt__storage **ls) {
  clt__cl_kernel_entry *k;
  cl_long n = x->L.A * x->L.B;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_reduce, (int)x->dt, "softmax_lognorm", &k);
  if (s == CLT_OK) s = clt__storage_new(dev, (size_t)n * clt_dtype_size(x->dt), ls);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  cl_mem lm = clt__cl_mem(*ls), mm = clt__cl_mem(x->m), sm = clt__cl_mem(x->s);
  CLT__ARG(&a, lm);
  CLT__ARG(&a, mm);
  CLT__ARG(&a, sm);
  CLT__ARG(&a, n);
  return clt__cl_launch(d, &a, (size_t)n);
}

/* kernels/reduce.cl: softmax_rows, a work-item per row, its statistics found there. */
static clt_status softmax_rows(clt__cl_dev *d, const clt__softmax_args *x) {
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_reduce, (int)x->dt, "softmax_rows", &k);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  layout_args(&a, x->in, &x->L);
  cl_mem om = clt__cl_mem(x->out);
  cl_long o[4] = {x->out_off, x->oA, x->oR, x->oB};
  cl_int lg = x->log;
  CLT__ARG(&a, om);
  for (int i = 0; i < 4; i++) CLT__ARG(&a, o[i]);
  CLT__ARG(&a, lg);
  return clt__cl_launch(d, &a, (size_t)(x->L.A * x->L.B));
}

clt_status clt__cl_softmax(clt_device *dev, const clt__softmax_args *x) {
  clt__cl_dev *d = clt__cl(dev);
  if (!x->m) return softmax_rows(d, x);
  clt__storage *ls = NULL;
  clt_status s = x->log ? softmax_lognorm(d, dev, x, &ls) : CLT_OK;
  if (s == CLT_OK) s = softmax_apply(d, x, ls);
  /* the queue is in order: the apply kernel has read ls before any later write to its memory */
  clt__storage_release(ls);
  return s;
}

static clt_status softmax_apply(clt__cl_dev *d, const clt__softmax_args *x, clt__storage *ls) {
  clt__cl_kernel_entry *k;
  bool unit = x->L.sR == 1 && x->oR == 1, along_b = d->gpu_kernels && x->L.B > 1 && x->L.sB == 1 && !unit;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_reduce, (int)x->dt,
                                along_b ? "softmax_apply_b" : unit ? "softmax_apply_c" : "softmax_apply", &k);
  if (s != CLT_OK) return s;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  layout_args(&a, x->in, &x->L);
  cl_mem om = clt__cl_mem(x->out), mm = clt__cl_mem(x->m), sm = clt__cl_mem(ls ? ls : x->s);
  cl_long o[4] = {x->out_off, x->oA, x->oR, x->oB};
  cl_int lg = x->log;
  CLT__ARG(&a, om);
  for (int i = 0; i < 4; i++) CLT__ARG(&a, o[i]);
  CLT__ARG(&a, mm);
  CLT__ARG(&a, sm);
  CLT__ARG(&a, lg);
  /* groups of the 1-D size: on PoCL, softmax at 7.7 GB/s (n = 1e6) in groups of 256, 2.6 in
   * the 4096 that elementwise walks use */
  if (along_b) return clt__cl_launch_rows(d, &a, (size_t)x->L.B, (size_t)(x->L.A * x->L.R), k->local);
  return clt__cl_launch_rows(d, &a, (size_t)x->L.R, (size_t)(x->L.A * x->L.B), k->local);
}
