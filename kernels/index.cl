/* gather and scatter_add over the index's shape (lib/backend.h): operand strides in clt_iter,
 * the gathered / scattered dim replaced by the index's value. Gather moves elements of 1, 4 or
 * 8 bytes; scatter_add adds with atomics (compare-and-swap loops for floats). */

#ifdef cl_khr_int64_base_atomics
#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable
#endif

/* Offsets of element g: operand a with dim replaced (xo, without the dim's term), operands b
 * and c as they are. */
#define CLT_INDEX_OFFSETS(it, g, dim, A, B, C, oa, ob, oc)  \
  long oa = (it).offset[A], ob = (it).offset[B], oc = (it).offset[C]; \
  {                                                          \
    long r_ = (g);                                           \
    for (int d_ = (int)(it).ndim - 1; d_ >= 0; d_--) {       \
      long c_ = r_ % (it).shape[d_];                         \
      r_ /= (it).shape[d_];                                  \
      if (d_ != (dim)) oa += c_ * (it).stride[A][d_];        \
      ob += c_ * (it).stride[B][d_];                         \
      oc += c_ * (it).stride[C][d_];                         \
    }                                                        \
  }

#define CLT_GATHER(ES, ET, IS, IT)                                                                        \
  __kernel void gather_##ES##_##IS(__global ET *out, __global const ET *x, __global const IT *index,       \
                                   clt_iter it, int dim) {                                                \
    long g = get_global_id(0);                                                                            \
    if (g >= it.numel) return;                                                                            \
    CLT_INDEX_OFFSETS(it, g, dim, 1, 2, 0, xo, io, unused)                                                \
    out[it.offset[0] + g] = x[xo + (long)index[io] * it.stride[1][dim]];                                  \
  }

CLT_GATHER(1, uchar, i32, int)
CLT_GATHER(2, ushort, i32, int)
CLT_GATHER(4, uint, i32, int)
CLT_GATHER(8, ulong, i32, int)
CLT_GATHER(1, uchar, i64, long)
CLT_GATHER(2, ushort, i64, long)
CLT_GATHER(4, uint, i64, long)
CLT_GATHER(8, ulong, i64, long)

/* Float adds as compare-and-swap loops. Every access is atomic: the first read is a swap of 0
 * for 0 (a no-op store), and each retry takes the value the failed swap saw, because a plain
 * read racing another work-item's swap is a data race in OpenCL's memory model (Oclgrind's
 * --data-races reported it in scatter_add). */
void clt_atomic_add_f32(volatile __global float *p, float v) {
  volatile __global uint *q = (volatile __global uint *)p;
  union { uint u; float f; } old, upd;
  old.u = atomic_cmpxchg(q, 0u, 0u);
  for (;;) {
    upd.f = old.f + v;
    uint seen = atomic_cmpxchg(q, old.u, upd.u);
    if (seen == old.u) break;
    old.u = seen;
  }
}
void clt_atomic_add_i32(volatile __global int *p, int v) { atomic_add(p, v); }

#if CLT_FP64 && defined(cl_khr_int64_base_atomics)
void clt_atomic_add_f64(volatile __global double *p, double v) {
  volatile __global ulong *q = (volatile __global ulong *)p;
  union { ulong u; double f; } old, upd;
  old.u = atom_cmpxchg(q, 0ul, 0ul);
  for (;;) {
    upd.f = old.f + v;
    ulong seen = atom_cmpxchg(q, old.u, upd.u);
    if (seen == old.u) break;
    old.u = seen;
  }
}
#endif
#ifdef cl_khr_int64_base_atomics
void clt_atomic_add_i64(volatile __global long *p, long v) { atom_add(p, v); }
#endif

#define CLT_SCATTER_ADD(DS, DT, IS, IT)                                                                   \
  __kernel void scatter_add_##DS##_##IS(__global DT *out, __global const IT *index, __global const DT *src, \
                                        clt_iter it, int dim) {                                           \
    long g = get_global_id(0);                                                                            \
    if (g >= it.numel) return;                                                                            \
    CLT_INDEX_OFFSETS(it, g, dim, 0, 1, 2, oo, io, so)                                                    \
    clt_atomic_add_##DS(out + oo + (long)index[io] * it.stride[0][dim], src[so]);                         \
  }

CLT_SCATTER_ADD(f32, float, i32, int)
CLT_SCATTER_ADD(f32, float, i64, long)
CLT_SCATTER_ADD(i32, int, i32, int)
CLT_SCATTER_ADD(i32, int, i64, long)
#if CLT_FP64 && defined(cl_khr_int64_base_atomics)
CLT_SCATTER_ADD(f64, double, i32, int)
CLT_SCATTER_ADD(f64, double, i64, long)
#endif
#ifdef cl_khr_int64_base_atomics
CLT_SCATTER_ADD(i64, long, i32, int)
CLT_SCATTER_ADD(i64, long, i64, long)
#endif
