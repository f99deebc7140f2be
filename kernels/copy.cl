/* Copies and fills by element size (1, 2, 4, 8 bytes): dtype-agnostic data movement. */

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
CLT_COPY_KERNELS(ushort, 2)
CLT_COPY_KERNELS(uint, 4)
CLT_COPY_KERNELS(ulong, 8)

#if CLT_GPU
/* A copy between layouts whose unit-stride dims differ (a transpose, a permute), through a
 * 32 x 33 tile in local memory (lib/cl/transpose.c): the walk's dim 3 is the one along which
 * dst steps by one element, dim 2 the one along which src does, dims 0-1 number the tiles'
 * planes (it.rows of them). A work-group of 32 x (wg / 32) work-items reads a tile with
 * neighbouring work-items on neighbouring source elements, then writes it the same way along
 * dst, where the strided walk would read or write across rows. The 33rd column keeps a column's
 * elements in distinct local memory banks. */
#define CLT_TILE 32
#define CLT_COPY_TILED(T, SFX)                                                                    \
  __kernel void copy_tiled_##SFX(__global T *dst, __global const T *src, clt_walk it) {          \
    __local T tile[CLT_TILE][CLT_TILE + 1];                                                        \
    uint lid = get_local_id(0), lx = lid % CLT_TILE, ly = lid / CLT_TILE;                          \
    uint step = (uint)get_local_size(0) / CLT_TILE;                                                \
    long nx = it.shape[3], ny = it.shape[2];                                                       \
    long ntx = (nx + CLT_TILE - 1) / CLT_TILE, nty = (ny + CLT_TILE - 1) / CLT_TILE;              \
    long g = get_group_id(0), tx = g % ntx, t = g / ntx, ty = t % nty, plane = t / nty;           \
    long i1 = plane % it.shape[1], i0 = plane / it.shape[1];                                       \
    bool live = plane < it.rows;                                                                   \
    long od = it.offset[0] + i0 * it.stride[0][0] + i1 * it.stride[0][1];                         \
    long os = it.offset[1] + i0 * it.stride[1][0] + i1 * it.stride[1][1];                         \
    long x0 = tx * CLT_TILE, y0 = ty * CLT_TILE;                                                   \
    for (uint k = ly; k < CLT_TILE; k += step) {                                                   \
      long x = x0 + k, y = y0 + lx;                                                                \
      if (live && x < nx && y < ny) tile[k][lx] = src[os + x * it.stride[1][3] + y * it.stride[1][2]]; \
    }                                                                                              \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                  \
    for (uint k = ly; k < CLT_TILE; k += step) {                                                   \
      long x = x0 + lx, y = y0 + k;                                                                \
      if (live && x < nx && y < ny) dst[od + x * it.stride[0][3] + y * it.stride[0][2]] = tile[lx][k]; \
    }                                                                                              \
  }

CLT_COPY_TILED(uchar, 1)
CLT_COPY_TILED(ushort, 2)
CLT_COPY_TILED(uint, 4)
CLT_COPY_TILED(ulong, 8)
#endif
