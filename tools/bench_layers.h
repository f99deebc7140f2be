/* clt-bench's sections for the layers (tools/bench_layers.c): convolution, the norms, attention,
 * and the training steps of clt-train's cnn and transformer. clt-bench hands them its device,
 * its timing and its table. */
#ifndef CLT_TOOLS_BENCH_LAYERS_H
#define CLT_TOOLS_BENCH_LAYERS_H

#include "clt.h"

typedef struct {
  clt_device *dev;
  bool quick;
  /* median seconds per call of fn(ctx), sync(ctx) after each batch of calls (clt-bench's measure) */
  double (*measure)(void (*fn)(void *), void *ctx, void (*sync)(void *));
  void (*sync)(void *ctx); /* waits for dev */
  void (*add_row)(const char *section, const char *name, double n, double value, const char *unit, double ref,
                  const char *ref_name);
} bench_env;

/* "conv": conv2d forward+backward at ResNet-like shapes (GFLOP/s, beside the same on the host:
 * im2col and BLAS) and forward alone beside raw CLBlast's convgemm where clt-bench links CLBlast
 * (not with --quick: CLBlast builds its kernels for tens of seconds cold). */
void bench_conv(const bench_env *e);
/* "norm": batch_norm, group_norm and rms_norm forward+backward (GB/s). */
void bench_norms(const bench_env *e);
/* "attention": scaled_dot_product_attention forward+backward (GFLOP/s), plain and causal. */
void bench_attention(const bench_env *e);
/* "training": steps of clt-train's cnn and transformer on the digits' shapes (steps/s). */
void bench_models(const bench_env *e);

#endif
