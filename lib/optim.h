/* What of an optimizer its checkpoint and schedule helpers (lib/train_utils.c) read. */
#ifndef CLT_OPTIM_IMPL_H
#define CLT_OPTIM_IMPL_H

#include "clt/nn.h"

const clt_optim_config *clt__optim_config(const clt_optim *o);
int clt__optim_count(const clt_optim *o);
const clt_tensor *clt__optim_param(const clt_optim *o, int i);

#endif
