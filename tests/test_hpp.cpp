// include/clt.hpp on every device: handles release what they own (the leak counter comes back
// to where it was), copies share and moves steal, results survive a C scope, refused calls
// throw clt::error with clt's status and message, operators and conversions give the values
// the C calls give, and gradients flow. Built by meson with its C++ compiler (so it runs plain,
// under valgrind and with ASan) and by tests/test_hpp.sh with g++ and clang++. Exit 0 when all
// holds, 1 with a message per failure.
#include "clt.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static int failures = 0;

#define EXPECT(cond)                                                            \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond);    \
      failures++;                                                               \
    }                                                                           \
  } while (0)

// The clt::error a call throws (status CLT_OK when it throws none).
template <class F> static clt::error thrown(F f) {
  try {
    f();
  } catch (const clt::error &e) {
    return e;
  }
  return clt::error(CLT_OK, "");
}

template <class T> static bool same(const std::vector<T> &a, const std::vector<T> &b) { return a == b; }

static std::int64_t live() { return clt_leak_report(nullptr); }

static void handles(const clt::device &dev) {
  std::int64_t base = live();
  {
    clt::tensor a = clt::ones(dev, {2, 3});
    EXPECT(live() == base + 1);
    clt::tensor b = a;  // a copy shares the tensor
    EXPECT(b.is(a) && live() == base + 1);
    clt::tensor c = std::move(b);  // a move steals the reference
    EXPECT(!b && c.is(a));
    b = c;
    EXPECT(b.is(a));
    c = clt::tensor();
    EXPECT(!c && live() == base + 1);
    a.fill_(7);  // the same tensor: b sees it
    EXPECT(same(b.to_vector<float>(), std::vector<float>(6, 7.f)));
    clt::tensor v = a.reshape({3, 2});  // a view keeps a's storage
    a = clt::tensor();
    b = clt::tensor();
    EXPECT(same(v.to_vector<float>(), std::vector<float>(6, 7.f)));
  }
  EXPECT(live() == base);

  // adopt takes over a C reference; borrow adds one; release hands it back
  {
    clt::tensor a = clt::tensor::adopt(clt_zeros(dev.get(), CLT_FLOAT32, CLT_SHAPE(4)));
    clt::tensor b = clt::tensor::borrow(a.get());
    EXPECT(b.is(a));
    clt_tensor *raw = b.release();
    EXPECT(!b && raw == a.get());
    clt_release(raw);
  }
  EXPECT(live() == base);

  // a result made inside a C scope is the handle's: the scope's end leaves it alone
  clt::tensor kept;
  EXPECT(clt_scope_begin() == CLT_OK);
  kept = clt::full(dev, {2}, 3.0) + 1.0;
  clt_tensor *c_owned = clt_ones(dev.get(), CLT_FLOAT32, CLT_SHAPE(2));
  clt::tensor shared = clt::tensor::borrow(c_owned);  // the scope keeps its own reference
  EXPECT(clt_scope_end() == CLT_OK);
  EXPECT(same(kept.to_vector<float>(), std::vector<float>{4, 4}));
  EXPECT(same(shared.to_vector<float>(), std::vector<float>{1, 1}));
  kept = clt::tensor();
  shared = clt::tensor();
  EXPECT(live() == base);

  // devices are shared handles too
  clt::device d2 = dev;
  EXPECT(d2 == dev && d2.spec() == dev.spec());
  clt::tensor on = clt::zeros(d2, {1});
  EXPECT(on.device() == dev);
}

static void errors(const clt::device &dev) {
  clt::tensor a = clt::ones(dev, {2, 3});
  clt::error e = thrown([&] { clt::matmul(a, a); });
  EXPECT(e.status() == CLT_ERR_SHAPE);
  EXPECT(std::strstr(e.what(), "clt_matmul") && std::strstr(e.what(), "[2,3]"));
  EXPECT(std::string(e.status_name()) == "CLT_ERR_SHAPE");
  e = thrown([&] { a + clt::ones(dev, {4}); });
  EXPECT(e.status() == CLT_ERR_SHAPE && std::strstr(e.what(), "clt_add"));
  e = thrown([&] { a.size(5); });
  EXPECT(e.status() != CLT_OK);
  e = thrown([&] { clt::tensor empty; empty.numel(); });
  EXPECT(e.status() == CLT_ERR_INVALID_ARG && std::strstr(e.what(), "empty"));
  e = thrown([&] { clt::tensor empty; clt::relu(empty); });
  EXPECT(e.status() == CLT_ERR_INVALID_ARG);
  e = thrown([&] { clt::from_vector(dev, std::vector<float>{1, 2, 3}, {2, 2}); });
  EXPECT(e.status() == CLT_ERR_SHAPE);
  e = thrown([&] { clt::ones(dev, {2}, CLT_INT32).requires_grad(true); });
  EXPECT(e.status() == CLT_ERR_DTYPE);
  e = thrown([] { clt::device::open("no-such-backend"); });
  EXPECT(e.status() == CLT_ERR_NO_DEVICE);
  e = thrown([&] { clt::load_npy("/nonexistent/x.npy", dev); });
  EXPECT(e.status() == CLT_ERR_IO);
  // the temporaries of a chain that throws are released as the exception unwinds
  std::int64_t base = live();
  e = thrown([&] { clt::matmul(clt::relu(a * 2.0), a); });
  EXPECT(e.status() == CLT_ERR_SHAPE && live() == base);
}

static void values(const clt::device &dev) {
  clt::tensor a = clt::from_vector(dev, std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  clt::tensor b = clt::from_vector(dev, std::vector<float>{6, 5, 4, 3, 2, 1}, {2, 3});
  EXPECT(a.sizes() == (std::vector<std::int64_t>{2, 3}) && a.ndim() == 2 && a.size(-1) == 3);
  EXPECT(a.dtype() == CLT_FLOAT32 && a.numel() == 6 && a.is_contiguous());
  EXPECT(same((a + b).to_vector<float>(), std::vector<float>(6, 7)));
  EXPECT(same((a - b).to_vector<float>(), std::vector<float>{-5, -3, -1, 1, 3, 5}));
  EXPECT(same((a * 2.0).to_vector<float>(), std::vector<float>{2, 4, 6, 8, 10, 12}));
  EXPECT(same((12.0 / a).to_vector<float>(), std::vector<float>{12, 6, 4, 3, 2.4f, 2}));
  EXPECT(same((10.0 - a).to_vector<float>(), std::vector<float>{9, 8, 7, 6, 5, 4}));
  EXPECT(same((-a).to_vector<float>(), std::vector<float>{-1, -2, -3, -4, -5, -6}));
  EXPECT(same((a / b).to_vector<double>(), (clt::tensor::adopt(clt_div(a.get(), b.get()))).to_vector<double>()));
  EXPECT(same((a > b).to_vector<bool>(), std::vector<bool>{false, false, false, true, true, true}));
  EXPECT(same((a == 3.0).to_vector<bool>(), std::vector<bool>{false, false, true, false, false, false}));
  EXPECT(same((2.0 < a).to_vector<bool>(), std::vector<bool>{false, false, true, true, true, true}));
  EXPECT(same((a <= b).to_vector<std::uint8_t>(), std::vector<std::uint8_t>{1, 1, 1, 0, 0, 0}));
  EXPECT(same(((a > 2.0) & (a < 5.0)).to_vector<bool>(), std::vector<bool>{false, false, true, true, false, false}));
  EXPECT(same(clt::logical_not(a != a).to_vector<bool>(), std::vector<bool>(6, true)));
  EXPECT((a >= b).dtype() == CLT_BOOL);
  // a number keeps an integer tensor's dtype, as a Python scalar does
  clt::tensor i = clt::from_vector(dev, std::vector<std::int32_t>{1, -2, 3});
  EXPECT((i + 1.0).dtype() == CLT_INT32 && same((i * 2.0).to_vector<std::int32_t>(), std::vector<std::int32_t>{2, -4, 6}));
  EXPECT(same(clt::abs(i).to_vector<std::int64_t>(), std::vector<std::int64_t>{1, 2, 3}));
  EXPECT(same(clt::from_vector(dev, std::vector<bool>{true, false}).to_vector<bool>(), std::vector<bool>{true, false}));
  // matmul, views, reductions
  clt::tensor m = clt::matmul(a, b.t());
  EXPECT(same(m.to_vector<float>(), std::vector<float>{28, 10, 73, 28}));
  EXPECT(same(a.sum({0}).to_vector<float>(), std::vector<float>{5, 7, 9}));
  EXPECT(a.sum().item() == 21 && a.max().item() == 6 && a.argmax().item() == 5);
  EXPECT(same(a.mean({1}, true).sizes(), std::vector<std::int64_t>{2, 1}));
  EXPECT(same(a.permute({1, 0}).contiguous().to_vector<float>(), std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT(same(a.slice(1, 1).to_vector<float>(), std::vector<float>{2, 3, 5, 6}));
  EXPECT(same(a.unsqueeze(0).sizes(), std::vector<std::int64_t>{1, 2, 3}));
  EXPECT(same(clt::cat({a, b}, 0).sizes(), std::vector<std::int64_t>{4, 3}));
  EXPECT(std::fabs(clt::softmax(a, 1).sum().item() - 2) < 1e-6);
  EXPECT(clt::arange(dev, 0, 5).numel() == 5);
  EXPECT(a.str().rfind("tensor([[1., 2., 3.],", 0) == 0);
  // in place, through every handle of the tensor
  clt::tensor c = a.clone();
  clt::tensor alias = c;
  c += b;
  c *= 2.0;
  EXPECT(same(alias.to_vector<float>(), std::vector<float>(6, 14)));
  // to another device and back
  clt::device host = clt::device::open("host");
  EXPECT(same(a.to(host).to(dev).to_vector<float>(), a.to_vector<float>()));
}

static void autograd(const clt::device &dev) {
  clt::tensor x = clt::from_vector(dev, std::vector<double>{1, -2, 3, 4}, {2, 2}).requires_grad(true);
  EXPECT(x.requires_grad() && x.is_leaf() && !x.grad());
  clt::tensor loss = (x * x).mean();  // d/dx = x / 2
  EXPECT(loss.grad_fn() == "mean" && !loss.is_leaf());
  loss.backward();
  EXPECT(same(x.grad().to_vector<double>(), std::vector<double>{0.5, -1, 1.5, 2}));
  clt::tensor w = clt::ones(dev, {2, 1}, CLT_FLOAT64).requires_grad(true);
  clt::matmul(x.detach(), w).sum().backward();
  EXPECT(same(w.grad().to_vector<double>(), std::vector<double>{4, 2}));
  x.zero_grad();
  EXPECT(same(x.grad().to_vector<double>(), std::vector<double>(4, 0)));
  {
    clt::no_grad guard;
    EXPECT(!(x * 2.0).requires_grad());
  }
  EXPECT((x * 2.0).requires_grad());
  clt::tensor logits = clt::zeros(dev, {2, 3}).requires_grad(true);
  clt::tensor labels = clt::from_vector(dev, std::vector<std::int64_t>{0, 2});
  clt::tensor ce = clt::cross_entropy(logits, labels);
  EXPECT(std::fabs(ce.item() - std::log(3.0)) < 1e-6);
  ce.backward();
  EXPECT(logits.grad().numel() == 6);
  clt::error e = thrown([&] { ce.backward(); });  // the graph was freed
  EXPECT(e.status() == CLT_ERR_AUTOGRAD);
}

static void training(const clt::device &dev) {
  // one SGD step is w - lr * grad; then Adam fits w to the target
  clt::tensor w = clt::zeros(dev, {3}).requires_grad(true);
  clt::tensor target = clt::from_vector(dev, std::vector<float>{1, -2, 3});
  clt::optimizer sgd = clt::optimizer::sgd({w}, 0.5);
  clt::mse_loss(w, target, CLT_REDUCTION_SUM).backward();  // grad 2 (w - target)
  sgd.step();
  EXPECT(same(w.to_vector<float>(), std::vector<float>{1, -2, 3}) && sgd.steps() == 1);
  sgd.zero_grad();
  EXPECT(!w.grad());
  clt::tensor v = clt::zeros(dev, {3}).requires_grad(true);
  clt::optimizer adam = clt::optimizer::adam({v}, 0.1);
  EXPECT(adam.lr() == 0.1);
  clt::optimizer moved = std::move(adam);  // the handle moves, the optimizer stays
  double first = 0, last = 0;
  for (int i = 0; i < 100; i++) {
    moved.zero_grad();
    clt::tensor loss = clt::mse_loss(v, target);
    loss.backward();
    moved.step();
    (i == 0 ? first : last) = loss.item();
  }
  EXPECT(last < first / 100 && moved.steps() == 100);
  clt::error e = thrown([&] { adam.step(); });
  EXPECT(e.status() == CLT_ERR_INVALID_ARG);
  e = thrown([&] { clt::optimizer::sgd({clt::ones(dev, {2}, CLT_INT32)}, 0.1); });
  EXPECT(e.status() != CLT_OK);
}

int main() {
  std::vector<std::string> specs = {"host"};
#ifdef CLT_HAVE_OPENCL
  const char *req = std::getenv("CLT_REQUIRE_DEVICE");
  bool required = req && std::strcmp(req, "1") == 0;
  // Under valgrind the host only: the layer's handles are the same on every device, and PoCL
  // compiling each kernel under valgrind took 6 minutes.
  bool valgrind = std::getenv("CLT_TEST_VALGRIND") != nullptr;
  clt_device *probe = nullptr;
  if (valgrind) {
    std::printf("cl: left out under valgrind\n");
  } else if (clt_device_open("cl", &probe) == CLT_OK) {
    specs.push_back("cl");
    clt_device_release(probe);
  } else if (required) {
    std::fprintf(stderr, "no OpenCL device (%s), and CLT_REQUIRE_DEVICE=1\n", clt_last_error());
    return 1;
  }
#endif
  std::int64_t base = live();
  for (const std::string &spec : specs) {
    try {
      clt::device dev = clt::device::open(spec.c_str());
      handles(dev);
      errors(dev);
      values(dev);
      autograd(dev);
      training(dev);
    } catch (const clt::error &e) {
      std::fprintf(stderr, "%s: unexpected clt::error %s: %s\n", spec.c_str(), e.status_name(), e.what());
      failures++;
    }
    std::printf("%s: %s\n", spec.c_str(), failures ? "FAILED" : "ok");
  }
  if (live() != base) {
    clt_leak_report(stderr);
    failures++;
  }
  if (failures) std::fprintf(stderr, "%d failures\n", failures);
  return failures ? 1 : 0;
}
