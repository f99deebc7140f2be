/* clt-train's models (see models.h). */
#include "models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[] = {"mlp", "cnn", "transformer"};

bool model_parse(const char *name, model_kind *kind) {
  for (int k = 0; k < 3; k++)
    if (strcmp(name, kind_names[k]) == 0) {
      *kind = (model_kind)k;
      return true;
    }
  return false;
}

const char *model_name(model_kind kind) { return kind_names[kind]; }

/* The transformer's sizes: 8 tokens (image rows) of 8 pixels, width D, H heads, 2 blocks. */
enum { TOKENS = 8, PIXELS = 8, D = 32, HEADS = 4, BLOCKS = 2, MLP_RATIO = 4 };

/* One parameter: shape, name and how PyTorch initialises it. */
typedef enum { INIT_KAIMING, INIT_BIAS, INIT_ONES, INIT_ZEROS, INIT_POS } init_kind;

static clt_status add(model *m, clt_device *dev, const char *name, init_kind init, double fan_in, int ndim,
                      const int64_t *shape) {
  clt_tensor *t = clt_keep(clt_empty(dev, CLT_FLOAT32, ndim, shape)); /* the list holds it, not a scope */
  double bound = 1.0 / sqrt(fan_in);
  clt_status st = !t                    ? clt_last_status()
                  : init == INIT_KAIMING ? clt_init_kaiming_uniform_(t, sqrt(5.0))
                  : init == INIT_BIAS    ? clt_init_uniform_(t, -bound, bound)
                  : init == INIT_POS     ? clt_init_normal_(t, 0.0, 0.02)
                                         : clt_fill_(t, init == INIT_ONES ? 1.0 : 0.0);
  if (st == CLT_OK) st = clt_set_requires_grad(t, true);
  if (st == CLT_OK) st = clt_params_add(m->p, name, t);
  clt_release(t);
  return st;
}

/* nn.Linear(in, out) named prefix.weight and prefix.bias, initialised weight first. */
static clt_status linear(model *m, clt_device *dev, const char *prefix, int64_t in, int64_t out) {
  char w[64], b[64];
  snprintf(w, sizeof w, "%s.weight", prefix);
  snprintf(b, sizeof b, "%s.bias", prefix);
  clt_status st = add(m, dev, w, INIT_KAIMING, (double)in, CLT_SHAPE(out, in));
  return st == CLT_OK ? add(m, dev, b, INIT_BIAS, (double)in, CLT_SHAPE(out)) : st;
}

static clt_status conv3x3(model *m, clt_device *dev, const char *prefix, int64_t cin, int64_t cout) {
  char w[64], b[64];
  snprintf(w, sizeof w, "%s.weight", prefix);
  snprintf(b, sizeof b, "%s.bias", prefix);
  clt_status st = add(m, dev, w, INIT_KAIMING, (double)(cin * 9), CLT_SHAPE(cout, cin, 3, 3));
  return st == CLT_OK ? add(m, dev, b, INIT_BIAS, (double)(cin * 9), CLT_SHAPE(cout)) : st;
}

static clt_status layer_norm(model *m, clt_device *dev, const char *prefix) {
  char w[64], b[64];
  snprintf(w, sizeof w, "%s.weight", prefix);
  snprintf(b, sizeof b, "%s.bias", prefix);
  clt_status st = add(m, dev, w, INIT_ONES, 1, CLT_SHAPE(D));
  return st == CLT_OK ? add(m, dev, b, INIT_ZEROS, 1, CLT_SHAPE(D)) : st;
}

static clt_status init_mlp(model *m, clt_device *dev, const int64_t *sizes, int nsizes) {
  clt_status st = CLT_OK;
  m->nlin = nsizes - 1;
  /* nn.Sequential(Linear, ReLU, Linear ...): the linear layers are items 0, 2, 4 ... */
  for (int i = 0; i < m->nlin && st == CLT_OK; i++) {
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%d", 2 * i);
    st = linear(m, dev, prefix, sizes[i], sizes[i + 1]);
  }
  return st;
}

/* nn.Sequential(Conv2d(1, 16, 3, padding=1), ReLU, MaxPool2d(2), Conv2d(16, 32, 3, padding=1),
 * ReLU, MaxPool2d(2), Flatten, Linear(128, classes)): items 0, 3 and 7. */
static clt_status init_cnn(model *m, clt_device *dev, int64_t classes) {
  clt_status st = conv3x3(m, dev, "0", 1, 16);
  if (st == CLT_OK) st = conv3x3(m, dev, "3", 16, 32);
  return st == CLT_OK ? linear(m, dev, "7", 32 * 2 * 2, classes) : st;
}

static clt_status init_transformer(model *m, clt_device *dev, int64_t classes) {
  clt_status st = linear(m, dev, "embed", PIXELS, D);
  if (st == CLT_OK) st = add(m, dev, "pos", INIT_POS, 1, CLT_SHAPE(TOKENS, D));
  for (int b = 0; b < BLOCKS && st == CLT_OK; b++) {
    static const char *const parts[] = {"ln1", "qkv", "proj", "ln2", "fc1", "fc2"};
    static const int64_t in[] = {0, D, D, 0, D, MLP_RATIO * D}, out[] = {0, 3 * D, D, 0, MLP_RATIO * D, D};
    for (int i = 0; i < 6 && st == CLT_OK; i++) {
      char prefix[32];
      snprintf(prefix, sizeof prefix, "blocks.%d.%s", b, parts[i]);
      st = in[i] ? linear(m, dev, prefix, in[i], out[i]) : layer_norm(m, dev, prefix);
    }
  }
  if (st == CLT_OK) st = layer_norm(m, dev, "norm");
  return st == CLT_OK ? linear(m, dev, "head", D, classes) : st;
}

clt_status model_init(model *m, model_kind kind, clt_device *dev, const int64_t *sizes, int nsizes) {
  *m = (model){.kind = kind, .type = CLT_FLOAT32};
  clt_status st = clt_params_create(&m->p);
  if (st == CLT_OK && kind != MODEL_MLP && sizes[0] != TOKENS * PIXELS) {
    fprintf(stderr, "the %s model takes 8x8 images (64 features), not %lld features\n", kind_names[kind],
            (long long)sizes[0]);
    st = CLT_ERR_SHAPE;
  }
  if (st == CLT_OK)
    st = kind == MODEL_MLP   ? init_mlp(m, dev, sizes, nsizes)
         : kind == MODEL_CNN ? init_cnn(m, dev, sizes[nsizes - 1])
                             : init_transformer(m, dev, sizes[nsizes - 1]);
  if (st != CLT_OK) model_free(m);
  return st;
}

clt_status model_cast(model *m, clt_dtype dtype) {
  clt_params *q = NULL;
  clt_status st = clt_params_create(&q);
  for (int i = 0; i < clt_params_size(m->p) && st == CLT_OK; i++) {
    clt_no_grad_begin(); /* new leaves, not casts recorded from the old ones */
    clt_tensor *t = clt_keep(clt_cast(clt_params_tensors(m->p)[i], dtype)); /* the list holds it, not a scope */
    clt_no_grad_end();
    st = !t ? clt_last_status() : clt_set_requires_grad(t, true);
    if (st == CLT_OK) st = clt_params_add(q, clt_params_name(m->p, i), t);
    clt_release(t);
  }
  if (st != CLT_OK) {
    clt_params_release(q);
    return st;
  }
  clt_params_release(m->p);
  m->p = q;
  m->type = dtype;
  return CLT_OK;
}

void model_free(model *m) {
  clt_params_release(m->p);
  m->p = NULL;
}

int model_size(const model *m) { return clt_params_size(m->p); }
clt_tensor *const *model_tensors(const model *m) { return clt_params_tensors(m->p); }
const char *const *model_names(const model *m) { return clt_params_names(m->p); }

static clt_tensor *forward_mlp(clt_tensor *const *p, int nlin, clt_tensor *x) {
  clt_tensor *h = x;
  for (int i = 0; i < nlin; i++) {
    h = clt_linear(h, p[2 * i], p[2 * i + 1]);
    if (i + 1 < nlin) h = clt_relu(h);
  }
  return h;
}

static clt_tensor *forward_cnn(clt_tensor *const *p, clt_tensor *x) {
  clt_conv2d_opts pad1 = {.padding = {1, 1}};
  clt_tensor *h = clt_reshape(x, CLT_SHAPE(-1, 1, 8, 8));
  h = clt_max_pool2d(clt_relu(clt_conv2d(h, p[0], p[1], &pad1)), 2, 2, NULL);
  h = clt_max_pool2d(clt_relu(clt_conv2d(h, p[2], p[3], &pad1)), 2, 2, NULL);
  return clt_linear(clt_flatten(h, 1, -1), p[4], p[5]);
}

/* q, k and v from qkv [B, T, 3 D], each [B, HEADS, T, D / HEADS]: cut from one view [B, T, 3,
 * HEADS, D / HEADS], so that each one's gradient goes back through views alone and the three
 * are added into one buffer (slices of [B, T, 3 D] by columns, reshaped after, took a copy, a
 * zero fill and an add of the whole projection each). */
static void split_heads(clt_tensor *qkv, clt_tensor **heads) {
  clt_tensor *parts = clt_reshape(qkv, CLT_SHAPE(-1, TOKENS, 3, HEADS, D / HEADS));
  for (int i = 0; i < 3; i++) heads[i] = clt_transpose(clt_squeeze(clt_slice(parts, 2, i, i + 1, 1), 2), 1, 2);
}

/* Pre-norm blocks: h + attention(ln1(h)), then h + fc2(gelu(fc1(ln2(h)))). */
static clt_tensor *forward_transformer(clt_tensor *const *p, clt_tensor *x) {
  const int64_t dshape[1] = {D};
  clt_tensor *h = clt_add(clt_linear(clt_reshape(x, CLT_SHAPE(-1, TOKENS, PIXELS)), p[0], p[1]), p[2]);
  for (int b = 0; b < BLOCKS; b++) {
    clt_tensor *const *q = p + 3 + 12 * b; /* ln1 w b, qkv w b, proj w b, ln2 w b, fc1 w b, fc2 w b */
    clt_tensor *qkv = clt_linear(clt_layer_norm(h, 1, dshape, q[0], q[1], -1), q[2], q[3]);
    clt_tensor *heads[3];
    split_heads(qkv, heads);
    clt_tensor *a = clt_scaled_dot_product_attention(heads[0], heads[1], heads[2], NULL, 0, false, 0);
    a = clt_reshape(clt_transpose(a, 1, 2), CLT_SHAPE(-1, TOKENS, D));
    h = clt_add(h, clt_linear(a, q[4], q[5]));
    clt_tensor *f = clt_gelu(clt_linear(clt_layer_norm(h, 1, dshape, q[6], q[7], -1), q[8], q[9]));
    h = clt_add(h, clt_linear(f, q[10], q[11]));
  }
  clt_tensor *const *t = p + 3 + 12 * BLOCKS; /* norm w b, head w b */
  h = clt_mean(clt_layer_norm(h, 1, dshape, t[0], t[1], -1), CLT_DIMS(1), false);
  return clt_linear(h, t[2], t[3]);
}

static clt_tensor *forward(const model *m, clt_tensor *const *p, clt_tensor *x) {
  switch (m->kind) {
  case MODEL_MLP: return forward_mlp(p, m->nlin, x);
  case MODEL_CNN: return forward_cnn(p, x);
  default: return forward_transformer(p, x);
  }
}

clt_tensor *model_forward(const model *m, clt_tensor *x) {
  if (x && m->type != CLT_FLOAT32 && clt_dtype_of(x) != m->type) x = clt_cast(x, m->type);
  return forward(m, clt_params_tensors(m->p), x);
}

clt_tensor *model_forward_as(const model *m, clt_tensor *x, clt_dtype dtype) {
  if (dtype == m->type) return model_forward(m, x);
  /* the largest model: the transformer's 31 parameters, an mlp's 2 per layer */
  clt_tensor *p[64];
  int n = clt_params_size(m->p);
  if (n > 64) return NULL;
  /* recorded casts: the masters' gradients come back through them in float32 */
  for (int i = 0; i < n; i++) p[i] = clt_cast(clt_params_tensors(m->p)[i], dtype);
  return forward(m, p, clt_cast(x, dtype));
}

void model_describe(const model *m, char *buf, size_t n) {
  clt_tensor *const *p = clt_params_tensors(m->p);
  if (m->kind == MODEL_MLP) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i <= m->nlin && len < n; i++) {
      long long w = i < m->nlin ? clt_size(p[2 * i], 1) : clt_size(p[2 * i - 2], 0);
      len += (size_t)snprintf(buf + len, n - len, i ? "-%lld" : "%lld", w);
    }
    if (len < n) snprintf(buf + len, n - len, " MLP");
  } else if (m->kind == MODEL_CNN)
    snprintf(buf, n, "CNN (conv3x3 1-16, pool, conv3x3 16-32, pool, linear 128-%lld)", (long long)clt_size(p[4], 0));
  else
    snprintf(buf, n, "transformer (8 tokens, d %d, %d blocks of %d heads, linear %d-%lld)", D, BLOCKS, HEADS, D,
             (long long)clt_size(p[3 + 12 * BLOCKS + 2], 0));
}
