/* A small convolutional network learns to tell horizontal bars from vertical ones in noisy 8x8
 * images, as a torch.nn.Sequential(Conv2d(1, 8, 3, padding=1), BatchNorm2d(8), ReLU(),
 * MaxPool2d(2), Flatten(), Linear(128, 2)) with Adam would. Exits 1 if it did not learn.
 *
 * usage: cnn [DEVICE]     (DEVICE as for clt_device_open: "host", "cl:0", "cl:pocl"...) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "clt.h"

#define CHECK(x)                                       \
  do {                                                 \
    if (!(x)) {                                        \
      fprintf(stderr, "cnn: %s\n", clt_last_error());  \
      exit(1);                                         \
    }                                                  \
  } while (0)

enum { N = 64, C = 8, STEPS = 30 };

/* Image i: a bar across row or column i % 8 (label 0: horizontal, 1: vertical), plus noise. */
static void make_data(float *x, int64_t *y) {
  srand(1);
  for (int i = 0; i < N; i++) {
    y[i] = i % 2;
    for (int p = 0; p < 64; p++) {
      int along = y[i] ? p % 8 : p / 8;
      x[i * 64 + p] = (along == (i / 2) % 8) + 0.3f * ((float)rand() / (float)RAND_MAX - 0.5f);
    }
  }
}

int main(int argc, char **argv) {
  clt_device *dev;
  CHECK(clt_device_open(argc > 1 ? argv[1] : NULL, &dev) == CLT_OK);
  clt_manual_seed(0);
  clt_scope_begin();

  float xs[N * 64];
  int64_t ys[N];
  make_data(xs, ys);
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(N, 1, 8, 8), xs);
  clt_tensor *y = clt_from_host(dev, CLT_INT64, CLT_SHAPE(N), ys);

  /* parameters, initialised as PyTorch's layers are; batch norm's running statistics need no grad */
  clt_tensor *p[6] = {clt_empty(dev, CLT_FLOAT32, CLT_SHAPE(C, 1, 3, 3)), clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(C)),
                      clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(C)), clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(C)),
                      clt_empty(dev, CLT_FLOAT32, CLT_SHAPE(2, C * 16)), clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2))};
  CHECK(p[0] && clt_init_kaiming_uniform_(p[0], sqrt(5.0)) == CLT_OK);
  CHECK(p[4] && clt_init_kaiming_uniform_(p[4], sqrt(5.0)) == CLT_OK);
  for (int i = 0; i < 6; i++) CHECK(clt_set_requires_grad(p[i], true) == CLT_OK);
  clt_tensor *run_mean = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(C)), *run_var = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(C));
  clt_optim *opt;
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  cfg.lr = 1e-2;
  CHECK(clt_optim_create(&cfg, 6, p, &opt) == CLT_OK);

  clt_conv2d_opts pad1 = {.padding = {1, 1}};
  double first = 0, last = 0;
  for (int step = 0; step < STEPS; step++) {
    clt_scope_begin(); /* the step's temporaries go at its end */
    clt_tensor *h = clt_batch_norm(clt_conv2d(x, p[0], p[1], &pad1), run_mean, run_var, p[2], p[3], true, 0.1, -1);
    h = clt_max_pool2d(clt_relu(h), 2, 2, NULL);                          /* [N, C, 4, 4] */
    clt_tensor *logits = clt_linear(clt_flatten(h, 1, -1), p[4], p[5]); /* [N, 2] */
    clt_tensor *loss = clt_cross_entropy(logits, y, CLT_REDUCTION_MEAN);
    CHECK(loss && clt_optim_zero_grad(opt) == CLT_OK && clt_backward(loss, NULL) == CLT_OK);
    CHECK(clt_optim_step(opt) == CLT_OK && clt_item(loss, &last) == CLT_OK);
    if (step == 0) first = last;
    if (step % 10 == 0 || step == STEPS - 1) printf("step %2d  loss %.4f\n", step, last);
    clt_scope_end();
  }
  printf("device %s: loss %.4f -> %.4f\n", clt_device_spec(dev), first, last);

  clt_optim_release(opt);
  clt_scope_end();
  clt_device_release(dev);
  return last < 0.5 * first ? 0 : 1;
}
