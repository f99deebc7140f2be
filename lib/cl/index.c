/* gather and scatter_add on OpenCL (kernels/index.cl). */
#include <stdio.h>

#include "cl_internal.h"

static const char *short_dtype(clt_dtype dt) {
  switch (dt) {
    case CLT_FLOAT32: return "f32";
    case CLT_FLOAT64: return "f64";
    case CLT_INT32: return "i32";
    default: return "i64";
  }
}

static clt_status launch(clt__cl_dev *d, const char *name, const clt__iter *it, int dim, cl_mem m0, cl_mem m1, cl_mem m2) {
  clt__cl_kernel_entry *k;
  clt_status s = clt__cl_kernel(d, CLT__KFAM_index, CLT__VARIANT_NONE, name, &k);
  if (s != CLT_OK) return s;
  clt__cl_iter ci;
  clt__cl_iter_from(&ci, it);
  cl_int cd = dim;
  clt__cl_args a;
  clt__cl_args_init(&a, k);
  CLT__ARG(&a, m0);
  CLT__ARG(&a, m1);
  CLT__ARG(&a, m2);
  CLT__ARG(&a, ci);
  CLT__ARG(&a, cd);
  return clt__cl_launch(d, &a, (size_t)it->numel);
}

clt_status clt__cl_gather(clt_device *dev, const clt__iter *it, int dim, clt__storage *out, const clt__storage *x,
                          const clt__storage *index, clt_dtype dt, clt_dtype idt) {
  char name[32];
  snprintf(name, sizeof name, "gather_%zu_%s", clt_dtype_size(dt), short_dtype(idt));
  return launch(clt__cl(dev), name, it, dim, clt__cl_mem(out), clt__cl_mem(x), clt__cl_mem(index));
}

clt_status clt__cl_scatter_add(clt_device *dev, const clt__iter *it, int dim, clt__storage *out,
                               const clt__storage *index, const clt__storage *src, clt_dtype dt, clt_dtype idt) {
  if (clt_dtype_size(dt) == 8 && !clt__cl(dev)->int64_atomics)
    return clt__err(CLT_ERR_UNSUPPORTED, "scatter_add on %s needs cl_khr_int64_base_atomics, which %s (%s) lacks",
                    clt_dtype_name(dt), dev->info.spec, dev->info.name);
  char name[32];
  snprintf(name, sizeof name, "scatter_add_%s_%s", short_dtype(dt), short_dtype(idt));
  return launch(clt__cl(dev), name, it, dim, clt__cl_mem(out), clt__cl_mem(index), clt__cl_mem(src));
}
