// The public headers as a C++ program sees them: every header compiles as standard C++17
// (built with -pedantic-errors, which refuses the compound literals C++ lacks), the list
// helpers CLT_SHAPE, CLT_DIMS and CLT_TENSORS give the right (count, array) pairs and evaluate
// each argument once, and const tensors pass where the API only reads. Exit 0 when all holds,
// 1 with a message per failure.
#include "clt.h"
#include "clt/dist.h"
#ifdef CLT_HAVE_OPENCL
#include "clt/clt_cl.h"
#endif

#include <cmath>
#include <cstdio>

static int failures = 0;

#define EXPECT(cond)                                                                           \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "%s:%d: %s failed (%s)\n", __FILE__, __LINE__, #cond, clt_last_error()); \
      failures++;                                                                              \
    }                                                                                          \
  } while (0)

static int calls = 0;
static clt_tensor *counted(clt_tensor *t) {
  calls++;
  return t;
}

// The elements of t as doubles (t holds at most 16).
static bool values(clt_tensor *t, int64_t n, const double *want) {
  double got[16];
  clt_tensor *d = clt_cast(t, CLT_FLOAT64);
  bool ok = d && clt_numel(d) == n && n <= 16 && clt_to_host(d, got, sizeof got) == CLT_OK;
  for (int64_t i = 0; ok && i < n; i++) ok = got[i] == want[i];
  clt_release(d);
  return ok;
}

int main() {
  clt_device *dev = nullptr;
  if (clt_device_open("host", &dev) != CLT_OK) {
    std::fprintf(stderr, "cannot open the host device: %s\n", clt_last_error());
    return 1;
  }
  clt_scope_begin();

  const float a_data[] = {1, 2, 3, 4, 5, 6};
  clt_tensor *a = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), a_data);
  EXPECT(a && clt_ndim(a) == 2 && clt_shape(a)[0] == 2 && clt_shape(a)[1] == 3);
  EXPECT(clt_dtype_of(a) == CLT_FLOAT32 && clt_device_of(a) == dev);
  EXPECT(clt_device_type_of(dev) == CLT_DEVICE_HOST);

  // a shape from variables of the shape's own type
  int64_t rows = 3, cols = 2;
  clt_tensor *r = clt_reshape(a, CLT_SHAPE(rows, cols));
  EXPECT(r && clt_size(r, 0) == 3 && clt_size(r, 1) == 2);

  clt_tensor *p = clt_permute(a, CLT_DIMS(1, 0));
  EXPECT(p && clt_size(p, 0) == 3 && clt_size(p, 1) == 2 && !clt_is_contiguous(p));

  const double col_sums[] = {5, 7, 9};
  EXPECT(values(clt_sum(a, CLT_DIMS(0), false), 3, col_sums));
  const double total[] = {21};
  EXPECT(values(clt_sum(a, CLT_ALL_DIMS, false), 1, total));
  const double last[] = {5};
  EXPECT(values(clt_argmax(a, CLT_ALL_DIMS, false), 1, last));
  const double row_max[] = {2, 2};
  EXPECT(values(clt_argmax(a, CLT_DIMS(-1), false), 2, row_max));

  // CLT_TENSORS: the pair clt_cat and clt_stack take, each argument evaluated once
  calls = 0;
  clt_tensor *c = clt_cat(CLT_TENSORS(counted(a), counted(a)), 0);
  EXPECT(calls == 2);
  EXPECT(c && clt_size(c, 0) == 4 && clt_size(c, 1) == 3);
  clt_tensor *s = clt_stack(CLT_TENSORS(a, a, a), 1);
  EXPECT(s && clt_ndim(s) == 3 && clt_size(s, 1) == 3);

  // const where the API only reads
  clt_tensor *w = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(3));
  EXPECT(clt_set_requires_grad(w, true) == CLT_OK);
  EXPECT(clt_backward(clt_sum(clt_mul(w, w), CLT_ALL_DIMS, false), nullptr) == CLT_OK);
  const clt_tensor *cw = w;
  const double twos[] = {2, 2, 2};
  EXPECT(values(clt_grad(cw), 3, twos));
  EXPECT(clt_is_leaf(cw) && clt_requires_grad(cw) && !clt_is_zero_copy(cw));

  clt_scope_end();
  EXPECT(clt_leak_report(stderr) == 0);
  clt_device_release(dev);
  if (failures) std::fprintf(stderr, "%d failures\n", failures);
  return failures ? 1 : 0;
}
