/* Copies between layouts whose unit-stride dims differ, through tiles in local memory
 * (kernels/copy.cl: copy_tiled), for the GPU-shaped kernels: a strided walk there reads or
 * writes one element per memory transaction on one side of a transpose. */
#include <stdio.h>
#include <string.h>

#include "cl_internal.h"

#define TILE 32

/* The dim along which operand q steps by one element (size > 1), other than skip; -1 if none. */
static int unit_dim(const clt__iter *it, int q, int skip) {
  for (int j = it->ndim - 1; j >= 0; j--)
    if (j != skip && it->shape[j] > 1 && it->strides[q][j] == 1) return j;
  return -1;
}

clt_status clt__cl_copy_tiled(clt__cl_dev *d, const clt__iter *it, cl_mem dst, cl_mem src, size_t esize, bool *done) {
  *done = false;
  int x = unit_dim(it, 0, -1), y = x < 0 ? -1 : unit_dim(it, 1, x);
  /* two dims hold the tile; at most two more number its planes (clt_walk's four) */
  if (!d->gpu_kernels || y < 0 || it->ndim > CLT__WALK_DIMS || it->numel == 0) return CLT_OK;
  clt__cl_walk w;
  memset(&w, 0, sizeof w);
  w.shape[0] = w.shape[1] = 1;
  for (int j = 0, p = 1; j < it->ndim; j++) { /* the plane dims, innermost into walk dim 1 */
    int src_j = it->ndim - 1 - j;
    if (src_j == x || src_j == y) continue;
    w.shape[p] = it->shape[src_j];
    for (int q = 0; q < 2; q++) w.stride[q][p] = it->strides[q][src_j];
    p--;
  }
  w.shape[2] = it->shape[y];
  w.shape[3] = it->shape[x];
  for (int q = 0; q < 2; q++) {
    w.stride[q][2] = it->strides[q][y];
    w.stride[q][3] = it->strides[q][x];
    w.offset[q] = it->offset[q];
  }
  w.rows = w.shape[0] * w.shape[1];
  char name[32];
  snprintf(name, sizeof name, "copy_tiled_%zu", esize);
  clt__cl_kernel_entry *k;
  clt_status st = clt__cl_kernel(d, CLT__KFAM_copy, CLT__VARIANT_NONE, name, &k);
  if (st != CLT_OK) return st;
  if (k->local < TILE) return CLT_OK; /* a tile's row needs one work-group row of 32 */
  int64_t tiles = ((w.shape[3] + TILE - 1) / TILE) * ((w.shape[2] + TILE - 1) / TILE) * w.rows;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  CLT__ARG(&a, dst);
  CLT__ARG(&a, src);
  CLT__ARG(&a, w);
  *done = true;
  return clt__cl_launch(d, &a, (size_t)tiles * k->local);
}
