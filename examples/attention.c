/* Multi-head causal self-attention, as torch.nn.MultiheadAttention computes it: project x to
 * queries, keys and values, split the heads, attend, merge the heads, project out; then a loss
 * goes backward to every weight.
 *
 * usage: attention [DEVICE]     (DEVICE as for clt_device_open: "host", "cl:0", "cl:pocl"...) */
#include <stdio.h>
#include <stdlib.h>

#include "clt.h"

#define CHECK(x)                                             \
  do {                                                       \
    if (!(x)) {                                              \
      fprintf(stderr, "attention: %s\n", clt_last_error());  \
      exit(1);                                               \
    }                                                        \
  } while (0)

enum { B = 2, T = 6, D = 16, H = 4, HD = D / H, VOCAB = 10 };

/* [B, T, D] -> [B, H, T, HD]: the heads become a batch dim (a view). */
static clt_tensor *split_heads(clt_tensor *x) { return clt_transpose(clt_reshape(x, CLT_SHAPE(B, T, H, HD)), 1, 2); }

/* [B, H, T, HD] -> [B, T, D] (reshape copies the transposed heads into place). */
static clt_tensor *merge_heads(clt_tensor *x) { return clt_reshape(clt_transpose(x, 1, 2), CLT_SHAPE(B, T, D)); }

int main(int argc, char **argv) {
  clt_device *dev;
  CHECK(clt_device_open(argc > 1 ? argv[1] : NULL, &dev) == CLT_OK);
  clt_manual_seed(0);
  clt_scope_begin();

  /* token embeddings and the four projections (nn.Linear's initialisation) */
  clt_tensor *emb = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(VOCAB, D));
  clt_tensor *w[4]; /* q, k, v, out */
  for (int i = 0; i < 4; i++) {
    w[i] = clt_empty(dev, CLT_FLOAT32, CLT_SHAPE(D, D));
    CHECK(w[i] && clt_init_kaiming_uniform_(w[i], 2.23606797749979) == CLT_OK);
    CHECK(clt_set_requires_grad(w[i], true) == CLT_OK);
  }
  CHECK(emb && clt_set_requires_grad(emb, true) == CLT_OK);

  int32_t tokens[B * T] = {1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 0, 0}; /* 0 pads the second sequence */
  clt_tensor *x = clt_embedding(emb, clt_from_host(dev, CLT_INT32, CLT_SHAPE(B, T), tokens), 0);

  clt_tensor *q = split_heads(clt_linear(x, w[0], NULL));
  clt_tensor *k = split_heads(clt_linear(x, w[1], NULL));
  clt_tensor *v = split_heads(clt_linear(x, w[2], NULL));
  clt_tensor *a = clt_scaled_dot_product_attention(q, k, v, NULL, 0.1, true, 0); /* [B, H, T, HD] */
  clt_tensor *y = clt_linear(merge_heads(a), w[3], NULL);                          /* [B, T, D] */

  clt_tensor *loss = clt_mean(clt_square(y), CLT_ALL_DIMS, false);
  CHECK(loss && clt_backward(loss, NULL) == CLT_OK);
  double l, gn[5];
  CHECK(clt_item(loss, &l) == CLT_OK);
  for (int i = 0; i < 5; i++) CHECK(clt_item(clt_sum(clt_square(clt_grad(i < 4 ? w[i] : emb)), CLT_ALL_DIMS, false), &gn[i]) == CLT_OK);
  printf("device %s: y [%d, %d, %d], loss %.6f\n", clt_device_spec(dev), B, T, D, l);
  printf("squared gradient norms: wq %.3g, wk %.3g, wv %.3g, wo %.3g, embedding %.3g\n", gn[0], gn[1], gn[2], gn[3], gn[4]);

  clt_scope_end();
  clt_device_release(dev);
  return 0;
}
