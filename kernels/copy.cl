/* Copies and fills by element size (1, 4, 8 bytes): dtype-agnostic data movement. */

#define CLT_COPY_KERNELS(T, SFX)                                                         \
  __kernel void copy_strided_##SFX(__global T *dst, __global const T *src, clt_walk it) { \
    CLT_WALK_BEGIN(it);                                                                   \
      dst[off0] = src[off1];                                                          \
  }                                                                                      \
  __kernel void fill_##SFX(__global T *dst, long offset, long n, T value) {              \
    long i = get_global_id(0);                                                           \
    if (i < n) dst[offset + i] = value;                                                  \
  }                                                                                      \
  __kernel void fill_strided_##SFX(__global T *dst, clt_walk it, T value) {              \
    CLT_WALK_BEGIN(it);                                                                  \
      dst[off0] = value;                                                               \
  }

CLT_COPY_KERNELS(uchar, 1)
CLT_COPY_KERNELS(uint, 4)
CLT_COPY_KERNELS(ulong, 8)
