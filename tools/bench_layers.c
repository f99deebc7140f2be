/* clt-bench's layer sections (bench_layers.h). Each workload runs forward and backward as a
 * training step would (the inputs and weights require grad, the output's gradient is given),
 * the gradients dropped after each call (an optimizer's zero_grad) so none accumulates. */
#include "bench_layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "models.h"
#ifdef CLT_BENCH_CLBLAST
#include <clblast_c.h>

#include "clt/clt_cl.h"
#endif

static void die(const char *what) {
  fprintf(stderr, "clt-bench: %s: %s\n", what, clt_last_error());
  exit(1);
}

/* ---- one layer, forward and backward ---------------------------------------------------- */

typedef struct layer_ctx layer_ctx;
struct layer_ctx {
  clt_tensor *(*forward)(layer_ctx *c);
  clt_tensor *t[6]; /* inputs and weights (requiring grad where grad is set), then state */
  int ngrad;        /* t[0 .. ngrad) require grad */
  clt_tensor *g;    /* the output's gradient; NULL: forward only */
  clt_optim *o;     /* drops t[0 .. ngrad)'s gradients */
  clt_conv2d_opts conv;
  int64_t k, groups; /* conv kernel size; group_norm's groups */
  bool causal;
};

static void run_layer(void *v) {
  layer_ctx *c = v;
  clt_scope_begin();
  clt_tensor *y = c->forward(c);
  if (!y || (c->g && (clt_backward(y, c->g) != CLT_OK || clt_optim_zero_grad(c->o) != CLT_OK))) die("a layer");
  clt_scope_end();
}

/* c->t[0 .. ngrad) made to require grad, the optimizer that drops their gradients, and g shaped as
 * forward's result (NULL: forward only). */
static void layer_setup(layer_ctx *c, clt_device *dev, int ngrad, bool backward) {
  c->ngrad = ngrad;
  for (int i = 0; i < ngrad; i++)
    if (!c->t[i] || clt_set_requires_grad(c->t[i], true) != CLT_OK) die("layer inputs");
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_SGD);
  if (clt_optim_create(&cfg, ngrad, c->t, &c->o) != CLT_OK) die("layer inputs");
  if (!backward) return;
  clt_no_grad_begin();
  clt_tensor *y = c->forward(c);
  clt_no_grad_end();
  c->g = y ? clt_rand(dev, CLT_FLOAT32, clt_ndim(y), clt_shape(y)) : NULL;
  clt_release(y);
  if (!c->g) die("a layer's output gradient");
}

static void layer_free(layer_ctx *c) {
  clt_optim_release(c->o);
  c->o = NULL;
}

/* ---- convolution ------------------------------------------------------------------------ */

static clt_tensor *fwd_conv(layer_ctx *c) { return clt_conv2d(c->t[0], c->t[1], c->t[2], &c->conv); }

typedef struct {
  const char *name;
  int64_t n, cin, hw, cout, k, stride, pad;
} conv_shape;

/* ResNet-18's convolutions at a small batch: the stem, a 3x3 of stages 2 and 3, a strided 3x3
 * and a 1x1 downsample. */
static const conv_shape conv_shapes[] = {
    {"conv2d 3x3 64-64 28x28 N8", 8, 64, 28, 64, 3, 1, 1},
    {"conv2d 3x3 128-128 14x14 N8", 8, 128, 14, 128, 3, 1, 1},
    {"conv2d 3x3/2 64-128 28x28 N8", 8, 64, 28, 128, 3, 2, 1},
    {"conv2d 1x1/2 64-128 28x28 N8", 8, 64, 28, 128, 1, 2, 0},
    {"conv2d 7x7/2 3-64 112x112 N2 (stem)", 2, 3, 112, 64, 7, 2, 3},
};

static void conv_make(layer_ctx *c, clt_device *dev, const conv_shape *s, bool backward) {
  *c = (layer_ctx){.forward = fwd_conv, .conv = {.stride = {s->stride, s->stride}, .padding = {s->pad, s->pad}}};
  clt_manual_seed(4);
  c->t[0] = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(s->n, s->cin, s->hw, s->hw));
  c->t[1] = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(s->cout, s->cin, s->k, s->k));
  c->t[2] = clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(s->cout));
  layer_setup(c, dev, 3, backward);
}

#ifdef CLT_BENCH_CLBLAST
typedef struct {
  const conv_shape *s;
  cl_command_queue q;
  cl_mem x, w, y;
} convgemm_ctx;

static void run_convgemm(void *v) {
  convgemm_ctx *c = v;
  const conv_shape *s = c->s;
  cl_event e = NULL;
  CLBlastStatusCode st = CLBlastSconvgemm(CLBlastKernelModeCrossCorrelation, (size_t)s->cin, (size_t)s->hw, (size_t)s->hw,
                                          (size_t)s->k, (size_t)s->k, (size_t)s->pad, (size_t)s->pad,
                                          (size_t)s->stride, (size_t)s->stride, 1, 1, (size_t)s->cout, (size_t)s->n,
                                          c->x, 0, c->w, 0, c->y, 0, &c->q, &e);
  if (e) clReleaseEvent(e);
  if (st != CLBlastSuccess) fprintf(stderr, "clt-bench: CLBlastSconvgemm status %d\n", (int)st);
}

static void sync_convgemm(void *v) { clFinish(((convgemm_ctx *)v)->q); }

/* Raw CLBlast's forward on the buffers behind clt's tensors (GFLOP/s), 0 where it fails. */
static double convgemm_rate(const bench_env *e, layer_ctx *c, const conv_shape *s, double flop) {
  convgemm_ctx g = {.s = s};
  clt_tensor *y = fwd_conv(c);
  if (!y || clt_cl_device_get(e->dev, NULL, NULL, &g.q) != CLT_OK || clt_cl_tensor_get_buffer(c->t[0], &g.x, NULL) ||
      clt_cl_tensor_get_buffer(c->t[1], &g.w, NULL) || clt_cl_tensor_get_buffer(y, &g.y, NULL)) {
    clt_release(y);
    return 0;
  }
  double t = e->measure(run_convgemm, &g, sync_convgemm);
  clt_release(y);
  return flop / t / 1e9;
}
#endif

void bench_conv(const bench_env *e) {
  bool host = clt_device_type_of(e->dev) == CLT_DEVICE_HOST;
  clt_device *hdev = NULL;
  if (!host && clt_device_open("host", &hdev) != CLT_OK) die("opening the host");
  for (size_t i = 0; i < (e->quick ? 1 : sizeof conv_shapes / sizeof *conv_shapes); i++) {
    const conv_shape *s = &conv_shapes[i];
    int64_t ho = (s->hw + 2 * s->pad - s->k) / s->stride + 1;
    double flop = 2.0 * (double)(s->n * s->cout * ho * ho) * (double)(s->cin * s->k * s->k);
    char name[64];
    for (int bwd = 1; bwd >= 0; bwd--) { /* fwd+bwd: forward, dx and dw, 3 products */
      clt_scope_begin();
      layer_ctx c, h;
      conv_make(&c, e->dev, s, bwd);
      double t = e->measure(run_layer, &c, e->sync), ref = 0;
      const char *ref_name = "";
      if (bwd && hdev) {
        conv_make(&h, hdev, s, true);
        ref = 3 * flop / e->measure(run_layer, &h, NULL) / 1e9;
        ref_name = "host im2col+BLAS";
        layer_free(&h);
      }
#ifdef CLT_BENCH_CLBLAST
      if (!bwd && !host && !e->quick) { /* CLBlast builds its kernels for tens of seconds cold */
        ref = convgemm_rate(e, &c, s, flop);
        ref_name = "raw CLBlast convgemm";
      }
#endif
      snprintf(name, sizeof name, "%s %s", s->name, bwd ? "fwd+bwd" : "fwd");
      if (bwd || ref > 0) e->add_row("conv", name, (double)(s->n * s->cin * s->hw * s->hw), (bwd ? 3 : 1) * flop / t / 1e9,
                                     "GFLOP/s", ref, ref_name);
      layer_free(&c);
      clt_scope_end();
    }
  }
  clt_device_release(hdev);
}

/* ---- norms ------------------------------------------------------------------------------ */

static clt_tensor *fwd_batch_norm(layer_ctx *c) {
  return clt_batch_norm(c->t[0], c->t[3], c->t[4], c->t[1], c->t[2], true, 0.1, -1);
}
static clt_tensor *fwd_group_norm(layer_ctx *c) { return clt_group_norm(c->t[0], c->groups, c->t[1], c->t[2], -1); }
static clt_tensor *fwd_rms_norm(layer_ctx *c) {
  return clt_rms_norm(c->t[0], 1, (const int64_t[]){clt_size(c->t[0], 1)}, c->t[1], -1);
}

/* Forward and backward over float32 x: 20 bytes per element at the least (x in, y out; g and x
 * in, dx out), as clt-bench's layer_norm row. */
void bench_norms(const bench_env *e) {
  static const struct {
    const char *name;
    clt_tensor *(*forward)(layer_ctx *);
    int64_t shape[4];
    int nd;
  } norms[] = {{"batch_norm fwd+bwd [32,64,28,28]", fwd_batch_norm, {32, 64, 28, 28}, 4},
               {"group_norm 8 groups fwd+bwd [32,64,28,28]", fwd_group_norm, {32, 64, 28, 28}, 4},
               {"rms_norm fwd+bwd [4096,1024]", fwd_rms_norm, {4096, 1024}, 2}};
  for (size_t i = 0; i < sizeof norms / sizeof *norms; i++) {
    clt_scope_begin();
    clt_manual_seed(5);
    int64_t ch = norms[i].shape[1]; /* the channels; rms_norm's last dim */
    layer_ctx c = {.forward = norms[i].forward, .groups = 8};
    c.t[0] = clt_rand(e->dev, CLT_FLOAT32, norms[i].nd, norms[i].shape);
    c.t[1] = clt_rand(e->dev, CLT_FLOAT32, CLT_SHAPE(ch));
    c.t[2] = clt_rand(e->dev, CLT_FLOAT32, CLT_SHAPE(ch));
    c.t[3] = clt_zeros(e->dev, CLT_FLOAT32, CLT_SHAPE(ch)); /* batch norm's running statistics */
    c.t[4] = clt_ones(e->dev, CLT_FLOAT32, CLT_SHAPE(ch));
    layer_setup(&c, e->dev, norms[i].forward == fwd_rms_norm ? 2 : 3, true);
    double n = (double)clt_numel(c.t[0]), t = e->measure(run_layer, &c, e->sync);
    e->add_row("norm", norms[i].name, n, 20.0 * n / t / 1e9, "GB/s", 0, "");
    layer_free(&c);
    clt_scope_end();
  }
}

/* ---- attention -------------------------------------------------------------------------- */

static clt_tensor *fwd_sdpa(layer_ctx *c) {
  return clt_scaled_dot_product_attention(c->t[0], c->t[1], c->t[2], NULL, 0, c->causal, 0);
}

/* The digits transformer's attention (tools/models.c: split_heads): q, k, v [64, 4, 8, 8] split
 * from one projection [64, 8, 96] as strided views, the result transposed back to [64, 8, 32]. */
static clt_tensor *fwd_sdpa_heads(layer_ctx *c) {
  clt_tensor *parts = clt_reshape(c->t[0], CLT_SHAPE(64, 8, 3, 4, 8)), *h[3];
  for (int i = 0; i < 3; i++) h[i] = clt_transpose(clt_squeeze(clt_slice(parts, 2, i, i + 1, 1), 2), 1, 2);
  clt_tensor *a = clt_scaled_dot_product_attention(h[0], h[1], h[2], NULL, 0, false, 0);
  return clt_reshape(clt_transpose(a, 1, 2), CLT_SHAPE(64, 8, 32));
}

/* q, k, v [8, 8, L, 64] (batch 8, 8 heads, a GPT-2-small head size): the two products forward and
 * four backward, 12 B H L^2 E flops in all (causal counted as full, as PyTorch's math path
 * computes it). */
void bench_attention(const bench_env *e) {
  int64_t L = e->quick ? 128 : 256, B = 8, H = 8, E = 64;
  for (int causal = 0; causal < 2; causal++) {
    clt_scope_begin();
    clt_manual_seed(6);
    layer_ctx c = {.forward = fwd_sdpa, .causal = causal};
    for (int i = 0; i < 3; i++) c.t[i] = clt_rand(e->dev, CLT_FLOAT32, CLT_SHAPE(B, H, L, E));
    layer_setup(&c, e->dev, 3, true);
    double t = e->measure(run_layer, &c, e->sync), flop = 12.0 * (double)(B * H * L * L * E);
    char name[64];
    snprintf(name, sizeof name, "sdpa%s fwd+bwd [8,8,%lld,64]", causal ? " causal" : "", (long long)L);
    e->add_row("attention", name, (double)L, flop / t / 1e9, "GFLOP/s", 0, "");
    layer_free(&c);
    clt_scope_end();
  }
  clt_scope_begin();
  clt_manual_seed(6);
  layer_ctx c = {.forward = fwd_sdpa_heads};
  c.t[0] = clt_rand(e->dev, CLT_FLOAT32, CLT_SHAPE(64, 8, 96));
  layer_setup(&c, e->dev, 1, true);
  double t = e->measure(run_layer, &c, e->sync);
  e->add_row("attention", "sdpa fwd+bwd heads of [64,8,96] (digits transformer)", 64, 1e-3 / t, "k calls/s", 0, "");
  layer_free(&c);
  clt_scope_end();
}

/* ---- training steps of clt-train's models ------------------------------------------------ */

typedef struct {
  model m;
  clt_tensor *x, *y;
  clt_optim *opt;
} model_ctx;

static void run_model_step(void *v) {
  model_ctx *c = v;
  clt_scope_begin();
  clt_tensor *loss = clt_cross_entropy(model_forward(&c->m, c->x), c->y, CLT_REDUCTION_MEAN);
  if (!loss || clt_optim_zero_grad(c->opt) || clt_backward(loss, NULL) || clt_optim_step(c->opt)) die("a training step");
  clt_scope_end();
}

/* Adam steps on a batch of 64 random 8x8 images (the digits' shapes), as clt-train's. */
void bench_models(const bench_env *e) {
  static const struct {
    const char *name;
    model_kind kind;
  } nets[] = {{"digits CNN, batch 64", MODEL_CNN}, {"digits transformer, batch 64", MODEL_TRANSFORMER}};
  for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
    clt_scope_begin();
    model_ctx c;
    clt_manual_seed(3);
    if (model_init(&c.m, nets[k].kind, e->dev, (const int64_t[]){64, 10}, 2) != CLT_OK) die("a model");
    c.x = clt_rand(e->dev, CLT_FLOAT32, CLT_SHAPE(64, 64));
    c.y = clt_cast(clt_mul_scalar(clt_rand(e->dev, CLT_FLOAT32, CLT_SHAPE(64)), 9.99), CLT_INT64);
    clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
    if (!c.x || !c.y || clt_optim_create(&cfg, model_size(&c.m), model_tensors(&c.m), &c.opt) != CLT_OK)
      die("the optimizer");
    double t = e->measure(run_model_step, &c, e->sync);
    e->add_row("training", nets[k].name, 64, 1.0 / t, "steps/s", 0, "");
    clt_optim_release(c.opt);
    model_free(&c.m);
    clt_scope_end();
  }
}
