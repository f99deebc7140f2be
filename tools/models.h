/* The models clt-train trains and clt-bench times (tools/models.c), defined once so that the two
 * tools and tools/bench_torch.py (which mirrors them in PyTorch) train the same networks. Inputs
 * are rows of 64 features (the digits' 8x8 images, row-major); the result is [batch, classes]
 * logits. Parameter names are those of the PyTorch modules in bench_torch.py's state_dict(), so
 * weights saved by one load into the other. */
#ifndef CLT_TOOLS_MODELS_H
#define CLT_TOOLS_MODELS_H

#include "clt.h"

typedef enum { MODEL_MLP, MODEL_CNN, MODEL_TRANSFORMER } model_kind;

typedef struct {
  model_kind kind;
  int nlin;       /* mlp: linear layers */
  clt_params *p;  /* every parameter, in state_dict order */
  clt_dtype type; /* the parameters' dtype: float32, or float64 after model_cast */
} model;

/* "mlp", "cnn", "transformer" -> kind; false for another name. */
bool model_parse(const char *name, model_kind *kind);
const char *model_name(model_kind kind);

/* Parameters as PyTorch's modules initialise them (nn.Linear, nn.Conv2d: kaiming-uniform
 * weights with a = sqrt(5) and uniform(+-1/sqrt(fan_in)) biases; nn.LayerNorm: ones and zeros;
 * the transformer's position embedding normal(0, 0.02)), from this thread's generator, float32
 * on dev, requiring grad. mlp: sizes[0 .. nsizes) are the layer widths (inputs first, classes
 * last); cnn and transformer need 64 features (8x8 images) and take classes = sizes[nsizes - 1].
 * Returns CLT_OK or the failing call's status (the model is then released). */
clt_status model_init(model *m, model_kind kind, clt_device *dev, const int64_t *sizes, int nsizes);
void model_free(model *m);
/* The parameters replaced by copies in dtype (CLT_FLOAT64: clt-train --precision fp64), leaves
 * requiring grad under the same names; model_forward then casts its input to dtype. */
clt_status model_cast(model *m, clt_dtype dtype);

/* Logits [batch, classes] for x [batch, features]. */
clt_tensor *model_forward(const model *m, clt_tensor *x);
/* The same in dtype (CLT_FLOAT16, CLT_BFLOAT16; the parameters' own dtype is model_forward) for
 * mixed precision: x and every weight cast to dtype (recorded, so the float32 masters get float32
 * gradients), matmuls and activations in dtype; the logits are in dtype. */
clt_tensor *model_forward_as(const model *m, clt_tensor *x, clt_dtype dtype);

/* The number of parameters, their tensors and names (valid while m lives). */
int model_size(const model *m);
clt_tensor *const *model_tensors(const model *m);
const char *const *model_names(const model *m);

/* A line such as "64-128-10 MLP" or "CNN (2 conv3x3, 2 maxpool, linear 128-10)" into buf. */
void model_describe(const model *m, char *buf, size_t n);

#endif
