/* Philox 4x32-10 uniforms, word for word the host's (lib/random.c): one work-item per block of
 * four words; float32 takes one word per element, float64 two. */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

uint4 philox4x32(ulong counter, uint k0, uint k1) {
  uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c2 = 0, c3 = 0;
  for (int r = 0; r < 10; r++) {
    uint h0 = mul_hi(PHILOX_M0, c0), l0 = PHILOX_M0 * c0;
    uint h1 = mul_hi(PHILOX_M1, c2), l1 = PHILOX_M1 * c2;
    c0 = h1 ^ c1 ^ k0;
    c1 = l1;
    c2 = h0 ^ c3 ^ k1;
    c3 = l0;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  return (uint4)(c0, c1, c2, c3);
}

__kernel void rand_f32(__global float *dst, long offset, long n, uint k0, uint k1, ulong counter) {
  long b = get_global_id(0), i = 4 * b;
  if (i >= n) return;
  uint4 w = philox4x32(counter + (ulong)b, k0, k1);
  uint v[4] = {w.s0, w.s1, w.s2, w.s3};
  for (int l = 0; l < 4 && i + l < n; l++) dst[offset + i + l] = (float)(v[l] >> 8) * 0x1p-24f;
}

#if CLT_FP64
__kernel void rand_f64(__global double *dst, long offset, long n, uint k0, uint k1, ulong counter) {
  long b = get_global_id(0), i = 2 * b;
  if (i >= n) return;
  uint4 w = philox4x32(counter + (ulong)b, k0, k1);
  dst[offset + i] = (double)(((ulong)(w.s0 >> 5) << 26) | (w.s1 >> 6)) * 0x1p-53;
  if (i + 1 < n) dst[offset + i + 1] = (double)(((ulong)(w.s2 >> 5) << 26) | (w.s3 >> 6)) * 0x1p-53;
}
#endif
