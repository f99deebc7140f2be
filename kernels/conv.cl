/* Sliding windows over images (lib/backend.h: clt__win_args), stamped for a float dtype T:
 * im2col, col2im, max_pool2d and its gradient, each one launch of a work-item per output
 * element. The sums (col2im, the pooling gradient) are gathers: each image pixel walks the
 * windows that can hold it and adds what they give it, so no two work-items write one element
 * and no atomics are needed (the scatter_add they replace made float adds compare-and-swap
 * loops, and the chains of strided adds one launch per kernel element). lib/host/conv.c is the
 * reference: the same loops in the same order.
 *
 * Launched as rows (lib/cl/cl_internal.h: clt__cl_launch_rows): dimension 0 walks a row of the
 * output (its last dim), dimensions 1 and 2 number the rows. What depends on the row only is
 * uniform across a work-group's rows, so PoCL's work-item loop hoists it, and the row's number
 * is split by 32-bit division by invariants (magic numbers from the host, lib/cl/program.c:
 * clt__cl_divisor; the host launches fewer than 2^31 work-items at a time). (A flat range with
 * 64-bit `/` and `%`, which CPUs do not vectorize, made im2col 4x slower than the strided
 * copies it replaced.) The loops over the kernel's taps come in forms with the kernel size a
 * constant (_2x2, _3x3), which the compiler unrolls: PoCL does not vectorize a work-item loop
 * that holds a loop. */

#if CLT_IS_FLOAT
/* The divisors, in this order (lib/cl/conv.c). */
enum { D_WO, D_W, D_K, D_KW, D_SH, D_SW, D_DH, D_DW, D_C, D_HO, D_COUNT };
typedef struct {
  uint m[D_COUNT], s[D_COUNT];
} win_div;
/* Where im2col and col2im find image n's channel c's columns: sn n + sc c, a tap's row ts
 * further on, images numbered n C + c (lib/backend.h: cols_cn). */
typedef struct {
  long sn, sc, ts;
  int C;
} win_cols;
#define DIV(n, i) ((uint)((((ulong)(n) * dv.m[i]) >> 32) + (uint)(n)) >> dv.s[i])

/* The arguments every kernel ends with: nrows rows of len work-items, over images from x's
 * element xo, the output's yo and (win_max_bwd) idx's io; the geometry. */
#define WIN_PARAMS                                                                                          \
  long xo, long yo, long io, uint len, uint nrows, int H, int W, int Ho, int Wo, int kh, int kw, int sh, int sw, \
      int ph, int pw, int dh, int dw, win_cols cl, win_div dv
#define WIN_ROW                                                         \
  uint j = get_global_id(0), r = get_global_id(1) + get_global_size(1) * get_global_id(2); \
  if (j >= len || r >= nrows) return;

/* cols: x's pixels, 0 in the padding. Row r: (nc, k), j: (oh, ow). */
__kernel void win_im2col(__global T *cols, __global const T *x, WIN_PARAMS) {
  WIN_ROW
  uint nc = DIV(r, D_K), k = r - nc * (uint)(kh * kw), ki = DIV(k, D_KW), kj = k - ki * (uint)kw;
  uint n = DIV(nc, D_C), c = nc - n * (uint)cl.C;
  uint oh = DIV(j, D_WO), ow = j - oh * (uint)Wo;
  int ih = (int)(oh * (uint)sh) - ph + (int)ki * dh, iw = (int)(ow * (uint)sw) - pw + (int)kj * dw;
  int ihc = clamp(ih, 0, H - 1), iwc = clamp(iw, 0, W - 1);
  T v = x[xo + ((long)nc * H + ihc) * W + iwc];
  cols[yo + n * cl.sn + c * cl.sc + k * cl.ts + j] = ih == ihc && iw == iwc ? v : (T)0;
}

/* The taps (ki, kj) of a kernel in row-major order, TAP(ki, kj) for each: as loops over kh x kw,
 * or written out for 2 x 2 and 3 x 3, where the work-item loop then holds no loop and PoCL
 * vectorizes it (it does not where a loop is left, even one of constant trip count). */
#define WIN_TAPS_ANY(TAP) \
  for (int ki_ = 0; ki_ < kh; ki_++) \
    for (int kj_ = 0; kj_ < kw; kj_++) TAP(ki_, kj_)
#define WIN_TAPS_2x2(TAP) TAP(0, 0) TAP(0, 1) TAP(1, 0) TAP(1, 1)
#define WIN_TAPS_3x3(TAP) TAP(0, 0) TAP(0, 1) TAP(0, 2) TAP(1, 0) TAP(1, 1) TAP(1, 2) TAP(2, 0) TAP(2, 1) TAP(2, 2)

/* Where windows do not overlap (stride above the kernel's extent, pooling's default), a pixel
 * lies in at most one window, at tap ((ih + ph) % sh / dh, likewise): one tap (clamped to the
 * kernel: a pixel between windows then fails WIN_PIXEL_TAP's test). Pixel kernels only. */
#define WIN_TAPS_ONE(TAP)                                                                  \
  {                                                                                        \
    uint uh_ = (uint)(ih + ph) - DIV((uint)(ih + ph), D_SH) * (uint)sh;                    \
    uint uw_ = (uint)(iw + pw) - DIV((uint)(iw + pw), D_SW) * (uint)sw;                    \
    int ki_ = min((int)DIV(uh_, D_DH), kh - 1), kj_ = min((int)DIV(uw_, D_DW), kw - 1);    \
    TAP(ki_, kj_)                                                                          \
  }

/* Pixel (ih, iw) of an image (variables in scope), tap (ki, kj): the window (oh, ow) that reads
 * the pixel there, and whether there is one (on): ih + ph - ki dh = oh sh with 0 <= oh < Ho,
 * likewise along the width. No branches: where there is none, oh and ow are clamped into range
 * (every load stays inside the buffers) and the caller masks what it adds. The row's part (oh)
 * is uniform across the row. */
#define WIN_PIXEL_TAP(ki, kj)                                                    \
  int th = ih + ph - (ki) * dh, ohq = (int)DIV((uint)max(th, 0), D_SH);          \
  int tw = iw + pw - (kj) * dw;                                                  \
  uint owq = DIV((uint)max(tw, 0), D_SW);                                        \
  bool on = th >= 0 && ohq * sh == th && ohq < Ho && tw >= 0 && owq * (uint)sw == (uint)tw && owq < (uint)Wo; \
  int oh = clamp(ohq, 0, Ho - 1), ow = (int)min(owq, (uint)Wo - 1);

/* col2im's tap: the column entry that read the pixel. */
#define WIN_COL2IM_TAP(ki, kj)                                 \
  {                                                            \
    WIN_PIXEL_TAP(ki, kj)                                      \
    T v = c[((ki) * kw + (kj)) * cl.ts + oh * Wo + ow];      \
    s += on ? v : (T)0;                                        \
  }
/* The pooling gradient's tap: the window's gradient where the pixel was its largest. */
#define WIN_MAX_BWD_TAP(ki, kj)                                \
  {                                                            \
    WIN_PIXEL_TAP(ki, kj)                                      \
    long o = o0 + oh * Wo + ow;                                \
    T v = gy[xo + o];                                          \
    s += on && idx[io + o] == p ? v : (T)0;                    \
  }
/* Max pooling's tap: the first element inside the image (a window of -inf), then PyTorch's
 * rule; a tap outside the image reads a clamped place and is skipped. */
#define WIN_MAX_TAP(ki, kj)                                                      \
  {                                                                              \
    int ih = h0 + (ki) * dh, ihc = clamp(ih, 0, H - 1);                          \
    int iw = w0 + (kj) * dw, iwc = clamp(iw, 0, W - 1), q = ihc * W + iwc;       \
    T v = im[q];                                                                 \
    bool in = ih == ihc && iw == iwc, big = v > m || v != v;                   \
    best = in && (best < 0 || big) ? q : best;                                   \
    m = in && big ? v : m;                                                       \
  }

/* The kernels over an image's pixels, with the taps of TAPS. */
#define WIN_PIXEL_KERNELS(SFX, TAPS)                                                                                  \
  /* img [.., H, W]: each pixel the sum of the column entries that read it. Row r: nc, j: (ih, iw). */             \
  __kernel void win_col2im##SFX(__global T *img, __global const T *cols, WIN_PARAMS) {                               \
    WIN_ROW                                                                                                           \
    int ih = (int)DIV(j, D_W), iw = (int)j - ih * W;                                                                  \
    uint n = DIV(r, D_C);                                                                                             \
    __global const T *c = cols + xo + n * cl.sn + (r - n * (uint)cl.C) * cl.sc;                                                    \
    T s = 0;                                                                                                          \
    TAPS(WIN_COL2IM_TAP)                                                                                              \
    img[yo + (long)r * len + j] = s;                                                                                  \
  }                                                                                                                   \
  /* gx [.., H, W]: each pixel the sum of the gradients of the windows whose largest it was. Row r:                \
   * nc, j: (ih, iw). */                                                                                              \
  __kernel void win_max_bwd##SFX(__global T *gx, __global const T *gy, __global const long *idx, WIN_PARAMS) {       \
    WIN_ROW                                                                                                           \
    int ih = (int)DIV(j, D_W), iw = (int)j - ih * W;                                                                  \
    long p = (long)j, o0 = (long)r * Ho * Wo;                                                                         \
    T s = 0;                                                                                                          \
    TAPS(WIN_MAX_BWD_TAP)                                                                                             \
    gx[yo + (long)r * len + j] = s;                                                                                   \
  }

/* Max pooling over the windows, with the taps of TAPS. */
#define WIN_WINDOW_KERNELS(SFX, TAPS)                                                                                 \
  /* y, yi [.., Ho, Wo]: each window's largest element and its place (lib/backend.h, CLT__WIN_MAX).                  \
   * Row r: nc, j: (oh, ow). */                                                                                       \
  __kernel void win_max##SFX(__global T *y, __global long *yi, __global const T *x, WIN_PARAMS) {                    \
    WIN_ROW                                                                                                           \
    uint oh = DIV(j, D_WO), ow = j - oh * (uint)Wo;                                                                   \
    int h0 = (int)(oh * (uint)sh) - ph, w0 = (int)(ow * (uint)sw) - pw, best = -1;                                    \
    __global const T *im = x + xo + (long)r * H * W;                                                                  \
    T m = -INFINITY;                                                                                                  \
    TAPS(WIN_MAX_TAP)                                                                                                 \
    y[yo + (long)r * len + j] = m;                                                                                    \
    yi[yo + (long)r * len + j] = best;                                                                                \
  }

/* im2col's tap: the pixel or 0 in the padding, into the tap's row of the columns. */
#define WIN_IM2COL_TAP(ki, kj)                                                   \
  {                                                                              \
    int ih = h0 + (ki) * dh, ihc = clamp(ih, 0, H - 1);                          \
    int iw = w0 + (kj) * dw, iwc = clamp(iw, 0, W - 1);                          \
    T v = im[ihc * W + iwc];                                                     \
    out[((ki) * kw + (kj)) * cl.ts] = ih == ihc && iw == iwc ? v : (T)0;         \
  }
/* im2col with the taps written out: a work-item per output position writes all its taps (row
 * r: nc, j: (oh, ow)), where the form with a row per tap finds (oh, ow) once per tap. */
#define WIN_IM2COL_KERNEL(SFX, TAPS)                                                         \
  __kernel void win_im2col##SFX(__global T *cols, __global const T *x, WIN_PARAMS) {         \
    WIN_ROW                                                                                  \
    uint oh = DIV(j, D_WO), ow = j - oh * (uint)Wo, n = DIV(r, D_C), c = r - n * (uint)cl.C; \
    int h0 = (int)(oh * (uint)sh) - ph, w0 = (int)(ow * (uint)sw) - pw;                      \
    __global const T *im = x + xo + (long)r * H * W;                                         \
    __global T *out = cols + yo + n * cl.sn + c * cl.sc + j;                                 \
    TAPS(WIN_IM2COL_TAP)                                                                     \
  }

/* Max pooling's commonest form, 2 x 2 windows side by side (stride 2, no padding, no dilation)
 * inside the image: a row per output row (nc, oh), so that the loads are x's two rows at 2 ow
 * and 2 ow + 1, no clamps and no division in the work-item's part. PyTorch's rule as
 * WIN_MAX_TAP's: the first largest, unless a NaN comes later. */
#define WIN_MAX_PAIR(v, dq) \
  {                         \
    bool big = v > m || v != v; \
    m = big ? v : m;        \
    q = big ? (dq) : q;     \
  }
__kernel void win_max_2x2s2(__global T *y, __global long *yi, __global const T *x, WIN_PARAMS) {
  WIN_ROW
  uint nc = DIV(r, D_HO), oh = r - nc * (uint)Ho;
  long row = (long)(2 * oh) * W;
  __global const T *p = x + xo + (long)nc * H * W + row + 2 * j;
  T m = p[0], b = p[1], c = p[W], d = p[W + 1];
  int q = 0;
  WIN_MAX_PAIR(b, 1)
  WIN_MAX_PAIR(c, W)
  WIN_MAX_PAIR(d, W + 1)
  y[yo + (long)r * len + j] = m;
  yi[yo + (long)r * len + j] = row + 2 * j + q;
}

/* Its gradient where those windows tile the image exactly (H = 2 Ho, W = 2 Wo): a work-item per
 * window writes its four pixels, the gradient at the one it chose and 0 at the others. */
__kernel void win_max_bwd_2x2s2(__global T *gx, __global const T *gy, __global const long *idx, WIN_PARAMS) {
  WIN_ROW
  uint nc = DIV(r, D_HO), oh = r - nc * (uint)Ho;
  long o = (long)r * len + j, q = idx[io + o] - ((long)(2 * oh) * W + 2 * j);
  T g = gy[xo + o];
  __global T *p = gx + yo + (long)(2 * r) * W + 2 * j;
  p[0] = q == 0 ? g : (T)0;
  p[1] = q == 1 ? g : (T)0;
  p[W] = q == W ? g : (T)0;
  p[W + 1] = q == W + 1 ? g : (T)0;
}

WIN_PIXEL_KERNELS(, WIN_TAPS_ANY)
WIN_PIXEL_KERNELS(_2x2, WIN_TAPS_2x2)
WIN_PIXEL_KERNELS(_3x3, WIN_TAPS_3x3)
WIN_PIXEL_KERNELS(_1, WIN_TAPS_ONE)
WIN_WINDOW_KERNELS(, WIN_TAPS_ANY)
WIN_WINDOW_KERNELS(_2x2, WIN_TAPS_2x2)
WIN_WINDOW_KERNELS(_3x3, WIN_TAPS_3x3)
WIN_IM2COL_KERNEL(_2x2, WIN_TAPS_2x2)
WIN_IM2COL_KERNEL(_3x3, WIN_TAPS_3x3)
#endif
