/* Strided walks shared by every backend: order dims by the first operand's strides, drop size-1
 * dims, merge dims that are contiguous for every operand, so most walks reach the backend as one
 * contiguous run. */
#include <string.h>

#include "backend.h"

void clt__order_by_stride(int ndim, const int64_t *strides, int *order) {
  for (int d = 0; d < ndim; d++) order[d] = d;
  for (int i = 1; i < ndim; i++)
    for (int j = i; j > 0 && strides[order[j]] > strides[order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
}

void clt__iter_build(clt__iter *it, int ndim, const int64_t *shape, int nops,
                     const int64_t *const *strides, const int64_t *offsets) {
  memset(it, 0, sizeof *it);
  it->nops = nops;
  int64_t numel;
  if (!clt__shape_fits(ndim, shape, &numel)) numel = 0; /* every tensor's shape fits: walk nothing */
  it->numel = numel;
  for (int k = 0; k < nops; k++) it->offset[k] = offsets[k];
  int n = 0;
  if (numel > 1) {
    /* Dims in the order of operand 0's strides, largest first (stable, so row-major stays as it
     * is): elements are independent, and a permuted output (ew.c gives a.T + b.T the inputs'
     * layout) then merges into one contiguous run with its inputs. */
    int order[CLT_MAX_DIMS];
    clt__order_by_stride(ndim, strides[0], order);
    for (int o = 0; o < ndim; o++) {
      int d = order[o];
      if (shape[d] == 1) continue;
      bool merge = n > 0;
      for (int k = 0; k < nops && merge; k++) { /* a stride times a size can pass int64 (wrapped memory) */
        int64_t span;
        merge = !clt__mul_ovf(strides[k][d], shape[d], &span) && it->strides[k][n - 1] == span;
      }
      if (merge) {
        it->shape[n - 1] *= shape[d]; /* at most numel */
        for (int k = 0; k < nops; k++) it->strides[k][n - 1] = strides[k][d];
      } else {
        it->shape[n] = shape[d];
        for (int k = 0; k < nops; k++) it->strides[k][n] = strides[k][d];
        n++;
      }
    }
  }
  if (n == 0) { /* one element or none: any unit walk will do */
    n = 1;
    it->shape[0] = numel;
    for (int k = 0; k < nops; k++) it->strides[k][0] = 1;
  }
  it->ndim = n;
  it->contiguous = n == 1;
  for (int k = 0; k < nops && it->contiguous; k++) it->contiguous = it->strides[k][0] == 1;
}

void clt__iter_tensors(clt__iter *it, int nops, const clt_tensor *const *ts) {
  const int64_t *strides[CLT__MAX_OPS];
  int64_t offsets[CLT__MAX_OPS];
  for (int k = 0; k < nops; k++) {
    strides[k] = ts[k]->strides;
    offsets[k] = ts[k]->offset;
  }
  clt__iter_build(it, ts[0]->ndim, ts[0]->shape, nops, strides, offsets);
}

void clt__iter_offsets(const clt__iter *it, int64_t i, int64_t *off) {
  for (int k = 0; k < it->nops; k++) off[k] = it->offset[k];
  for (int d = it->ndim - 1; d >= 0; d--) {
    int64_t c = i % it->shape[d];
    i /= it->shape[d];
    for (int k = 0; k < it->nops; k++) off[k] += c * it->strides[k][d];
  }
}
