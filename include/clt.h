/* clt: tensors and reverse-mode autograd over OpenCL, in C11.
 * Umbrella header; includes no OpenCL header (see clt/clt_cl.h for interoperability). */
#ifndef CLT_H
#define CLT_H

#include "clt/amp.h"
#include "clt/autograd.h"
#include "clt/common.h"
#include "clt/device.h"
#include "clt/io.h"
#include "clt/nn.h"
#include "clt/ops.h"
#include "clt/tensor.h"

#endif
