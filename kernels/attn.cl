/* Fused scaled dot-product attention for short rows (lib/backend.h: clt__attn_args), stamped
 * for a float dtype T. Every tensor comes as a pointer and a long8 layout (offset, then the
 * strides of b0, b1, row, column), so heads split from one projection are read where they lie.
 * dims: (B1, L, S, E, Ev, causal, batches).
 *
 * One work-item per batch (a head), 8 rows at a time in the lanes of a vector: the forward and
 * the backward's dq take 8 query rows (their q and g transposed into private arrays) and walk
 * the keys, whose elements they read one at a time for all 8 rows; the backward's dk and dv take
 * 8 keys and walk the query rows the same way. Every step is then a lane-wise multiply-add or
 * exp, with no sum across lanes. A work-item per query row with loops over strided elements ran
 * scalar on PoCL (it vectorized across work-items, with a gather per element: 140 us for the
 * digits transformer's [64, 4, 8, 8] forward, the composite path's 6 commands 130); 8-lane
 * vectors across keys, with a sum across lanes per row, 115.
 * Private arrays hold ATTN_MAX (lib/backend.h: CLT__ATTN_MAX) elements per lane; lanes past L
 * (or S) compute on zeros and are not stored. The digits transformer's [64, 4, 8, 8] heads on
 * PoCL: forward 31-33 us, forward and backward with the slices' gradients 176-214 (composite
 * 112-115 and 303-324). Correct on GPUs, not tuned for them (a work-item per head). */

#if CLT_IS_FLOAT
#define ATTN_MAX 16
#if CLT_DT == 0
typedef float8 T8;
typedef int8 I8;
#else
typedef double8 T8;
typedef long8 I8;
#endif

#define ATTN_AT(y, b0, b1, r, c) ((y).s0 + (b0) * (y).s1 + (b1) * (y).s2 + (r) * (y).s3 + (c) * (y).s4)
#define ATTN_LANES ((I8)(0, 1, 2, 3, 4, 5, 6, 7))

/* Up to 8 rows of n elements (rows rs, elements cs apart) transposed into dst: dst[e 8 + r] is
 * row r's element e, zeros past the rows given. */
void attn_block(T *dst, __global const T *src, long rs, long cs, long rows, long n) {
  for (long r = 0; r < 8; r++)
    for (long e = 0; e < n; e++) dst[e * 8 + r] = r < rows ? src[r * rs + e * cs] : 0;
}

/* Lane r of 8 vectors v[0 .. n-1] (scaled by f) as row r: rows rs, elements cs apart. */
void attn_store(__global T *dst, long rs, long cs, long rows, const T8 *v, long n, T8 f) {
  T t[8];
  for (long e = 0; e < n; e++) {
    vstore8(v[e] * f, 0, t);
    for (long r = 0; r < rows; r++) dst[r * rs + e * cs] = t[r];
  }
}

/* The 8 rows' (xt: transposed) dot products with row y (n elements cs apart): y 8 elements a
 * load where contiguous (a load and a broadcast per element took half the instructions). */
T8 attn_dot8(const T *xt, __global const T *y, long cs, long n) {
  T8 acc = 0;
  long e = 0;
  if (cs == 1)
    for (; e + 8 <= n; e += 8) {
      T8 w = vload8(0, y + e);
      const T *x = xt + 8 * e;
      acc += vload8(0, x) * w.s0 + vload8(1, x) * w.s1 + vload8(2, x) * w.s2 + vload8(3, x) * w.s3 +
             vload8(4, x) * w.s4 + vload8(5, x) * w.s5 + vload8(6, x) * w.s6 + vload8(7, x) * w.s7;
    }
  for (; e < n; e++) acc += vload8(e, xt) * y[e * cs];
  return acc;
}

/* acc[e] += f y[e] over n elements of y (cs apart), contiguous ones 8 a load. */
void attn_axpy8(T8 *acc, T8 f, __global const T *y, long cs, long n) {
  long e = 0;
  if (cs == 1)
    for (; e + 8 <= n; e += 8) {
      T8 w = vload8(0, y + e);
      acc[e] += f * w.s0;
      acc[e + 1] += f * w.s1;
      acc[e + 2] += f * w.s2;
      acc[e + 3] += f * w.s3;
      acc[e + 4] += f * w.s4;
      acc[e + 5] += f * w.s5;
      acc[e + 6] += f * w.s6;
      acc[e + 7] += f * w.s7;
    }
  for (; e < n; e++) acc[e] += f * y[e * cs];
}

/* out[b, i] = softmax(q_i k^T scale) v; lse[2 (b L + i)] = (m, l): the max score and the sum
 * of exp(score - m), from which the backward rebuilds the probabilities. */
__kernel void attn_fwd(__global const T *q, long8 ql, __global const T *k, long8 kl, __global const T *v, long8 vl,
                       __global T *out, long8 ol, __global T *lse, long8 dims, T scale) {
  long B1 = dims.s0, L = dims.s1, S = dims.s2, E = dims.s3, Ev = dims.s4, b = get_global_id(0);
  if (b >= dims.s6) return;
  long b0 = b / B1, b1 = b % B1;
  __global const T *qb = q + ATTN_AT(ql, b0, b1, 0, 0), *kb = k + ATTN_AT(kl, b0, b1, 0, 0),
                   *vb = v + ATTN_AT(vl, b0, b1, 0, 0);
  __global T *ob = out + ATTN_AT(ol, b0, b1, 0, 0);
  T qt[ATTN_MAX * 8], t[8];
  T8 o[ATTN_MAX];
  for (long i0 = 0; i0 < L; i0 += 8) {
    long rows = min(8L, L - i0);
    I8 last = dims.s5 ? ATTN_LANES + (I8)i0 : (I8)(S - 1); /* each lane's last key */
    attn_block(qt, qb + i0 * ql.s3, ql.s3, ql.s4, rows, E);
    T8 m = -INFINITY, l = 0;
    for (long j = 0; j < S; j++) {
      T8 s = select((T8)(-INFINITY), attn_dot8(qt, kb + j * kl.s3, kl.s4, E) * scale, (I8)j <= last);
      m = fmax(m, s);
    }
    for (long e = 0; e < Ev; e++) o[e] = 0;
    for (long j = 0; j < S; j++) {
      T8 s = select((T8)(-INFINITY), attn_dot8(qt, kb + j * kl.s3, kl.s4, E) * scale, (I8)j <= last);
      T8 p = exp(s - m);
      __global const T *vj = vb + j * vl.s3;
      l += p;
      attn_axpy8(o, p, vj, vl.s4, Ev);
    }
    attn_store(ob + i0 * ol.s3, ol.s3, ol.s4, rows, o, Ev, (T8)1 / l);
    __global T *lb = lse + 2 * (b * L + i0);
    vstore8(m, 0, t);
    for (long r = 0; r < rows; r++) lb[2 * r] = t[r];
    vstore8(l, 0, t);
    for (long r = 0; r < rows; r++) lb[2 * r + 1] = t[r];
  }
}

/* Batch b's gradients (lib/host/attn.c: clt__host_attn_bwd): with p = exp(score - m) / l,
 * dp_j = g_i . v_j and D_i = g_i . out_i, ds = p (dp - D) scale; dq_i = sum_j ds k_j (8 rows at
 * a time), then dk_j = sum_i ds q_i and dv_j = sum_i p g_i (8 keys at a time). dq, dk, dv
 * contiguous. */
__kernel void attn_bwd(__global const T *q, long8 ql, __global const T *k, long8 kl, __global const T *v, long8 vl,
                       __global const T *out, long8 ol, __global const T *g, long8 gl, __global const T *lse,
                       __global T *dq, __global T *dk, __global T *dv, long8 dims, T scale) {
  long B1 = dims.s0, L = dims.s1, S = dims.s2, E = dims.s3, Ev = dims.s4, b = get_global_id(0);
  if (b >= dims.s6) return;
  long b0 = b / B1, b1 = b % B1;
  __global const T *qb = q + ATTN_AT(ql, b0, b1, 0, 0), *kb = k + ATTN_AT(kl, b0, b1, 0, 0),
                   *vb = v + ATTN_AT(vl, b0, b1, 0, 0), *ob = out + ATTN_AT(ol, b0, b1, 0, 0),
                   *gb = g + ATTN_AT(gl, b0, b1, 0, 0), *lb = lse + 2 * b * L;
  T xt[ATTN_MAX * 8], yt[ATTN_MAX * 8], D[ATTN_MAX], t[8];
  T8 acc[ATTN_MAX], acc2[ATTN_MAX];
  /* D_i = g_i . out_i, for both halves */
  for (long i = 0; i < L; i++) {
    T d = 0;
    for (long e = 0; e < Ev; e++) d += gb[i * gl.s3 + e * gl.s4] * ob[i * ol.s3 + e * ol.s4];
    D[i] = d;
  }
  /* dq: 8 rows (xt: q, yt: g transposed) against every key */
  for (long i0 = 0; i0 < L; i0 += 8) {
    long rows = min(8L, L - i0);
    I8 last = dims.s5 ? ATTN_LANES + (I8)i0 : (I8)(S - 1);
    attn_block(xt, qb + i0 * ql.s3, ql.s3, ql.s4, rows, E);
    attn_block(yt, gb + i0 * gl.s3, gl.s3, gl.s4, rows, Ev);
    T8 m = 0, il = 0, Dv = 0; /* lanes past L: m 0, 1 / l 0 */
    for (long r = 0; r < rows; r++) t[r] = lb[2 * (i0 + r)];
    for (long r = rows; r < 8; r++) t[r] = 0;
    m = vload8(0, t);
    for (long r = 0; r < rows; r++) t[r] = 1 / lb[2 * (i0 + r) + 1];
    il = vload8(0, t);
    for (long r = 0; r < rows; r++) t[r] = D[i0 + r];
    Dv = vload8(0, t);
    for (long e = 0; e < E; e++) acc[e] = 0;
    for (long j = 0; j < S; j++) {
      __global const T *kj = kb + j * kl.s3, *vj = vb + j * vl.s3;
      T8 s = attn_dot8(xt, kj, kl.s4, E) * scale;
      T8 p = select((T8)0, exp(s - m) * il, (I8)j <= last);
      T8 ds = p * (attn_dot8(yt, vj, vl.s4, Ev) - Dv) * scale;
      attn_axpy8(acc, ds, kj, kl.s4, E);
    }
    attn_store(dq + (b * L + i0) * E, E, 1, rows, acc, E, (T8)1);
  }
  /* dk, dv: 8 keys (xt: k, yt: v transposed) against every query row */
  for (long j0 = 0; j0 < S; j0 += 8) {
    long keys = min(8L, S - j0);
    I8 key = ATTN_LANES + (I8)j0;
    attn_block(xt, kb + j0 * kl.s3, kl.s3, kl.s4, keys, E);
    attn_block(yt, vb + j0 * vl.s3, vl.s3, vl.s4, keys, Ev);
    for (long e = 0; e < E; e++) acc[e] = 0;
    for (long e = 0; e < Ev; e++) acc2[e] = 0;
    for (long i = 0; i < L; i++) {
      __global const T *qi = qb + i * ql.s3, *gi = gb + i * gl.s3;
      T8 s = attn_dot8(xt, qi, ql.s4, E) * scale;
      T8 p = select((T8)0, exp(s - lb[2 * i]) / lb[2 * i + 1], key <= (I8)(dims.s5 ? i : S - 1));
      T8 ds = p * (attn_dot8(yt, gi, gl.s4, Ev) - D[i]) * scale;
      attn_axpy8(acc, ds, qi, ql.s4, E);
      attn_axpy8(acc2, p, gi, gl.s4, Ev);
    }
    attn_store(dk + (b * S + j0) * E, E, 1, keys, acc, E, (T8)1);
    attn_store(dv + (b * S + j0) * Ev, Ev, 1, keys, acc2, Ev, (T8)1);
  }
}
#endif
