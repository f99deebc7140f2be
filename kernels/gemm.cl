/* A plain GEMM for OpenCL devices in builds without CLBlast (and a reference for it): one
 * work-item per element of C, row-major, transposes as lib/backend.h's clt__gemm_args. */

#if CLT_IS_FLOAT
__kernel void gemm(long m, long n, long k, int ta, int tb, __global const T *a, long ao, long lda, long as,
                   __global const T *b, long bo, long ldb, long bs, __global T *c, long co, long ldc, long cs,
                   long batch) {
  long g = get_global_id(0);
  if (g >= batch * m * n) return;
  long j = g % n, t = g / n, i = t % m, p = t / m;
  __global const T *A = a + ao + p * as;
  __global const T *B = b + bo + p * bs;
  T acc = 0;
  for (long q = 0; q < k; q++) acc += (ta ? A[q * lda + i] : A[i * lda + q]) * (tb ? B[j * ldb + q] : B[q * ldb + j]);
  c[co + p * cs + i * ldc + j] = acc;
}
#endif
