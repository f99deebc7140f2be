/* clt for C++17: a header-only layer over the C API (clt.h) with owning handles, operators and
 * exceptions. Link to libclt as a C program does (pkg-config clt); nothing here needs a compiled
 * part of its own.
 *
 *   clt::device dev = clt::device::open();               // $CLT_DEVICE, else a GPU, else PoCL
 *   clt::tensor x = clt::from_vector(dev, std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
 *   clt::tensor w = clt::ones(dev, {3, 2}).requires_grad(true);
 *   clt::tensor loss = clt::relu(clt::matmul(x, w) - 1.0).sum();
 *   loss.backward();
 *   std::vector<float> g = w.grad().to_vector<float>();
 *   clt::optimizer opt = clt::optimizer::adam({w});   // then opt.step(), opt.zero_grad()
 *
 * Ownership follows clt's: devices and tensors are reference counted, so clt::device and
 * clt::tensor are shared handles, as std::shared_ptr (a copy retains, the destructor releases,
 * a move steals), and a copy is the same tensor, not a copy of its elements (clone() is that).
 * Every tensor the wrapper gets from clt is taken out of any scope the C code opened
 * (clt_keep), so a scope never releases what a handle owns. adopt() takes over a reference a
 * C call returned (and takes it out of its scope too); borrow() adds a reference of its own; get() lends the C handle for C calls; release() hands
 * the reference back to C.
 *
 * Errors: a call clt refuses throws clt::error, a std::runtime_error whose what() is clt's
 * message ("clt_add: shapes [2,3] and [4] cannot broadcast") and whose status() is the
 * clt_status. Using an empty handle (default-constructed or moved from) throws clt::error with
 * CLT_ERR_INVALID_ARG. Destructors never throw.
 *
 * Threads: as the C API (clt/device.h); a handle is as thread-safe as a std::shared_ptr (copies
 * in several threads are fine, one handle object written by two threads is not).
 */
#ifndef CLT_HPP
#define CLT_HPP

#include "clt.h"

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace clt {

/* A call clt refused: clt's message and status. */
class error : public std::runtime_error {
 public:
  error(clt_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
  clt_status status() const noexcept { return status_; }
  /* "CLT_ERR_SHAPE", ... */
  const char *status_name() const noexcept { return clt_status_name(status_); }

 private:
  clt_status status_;
};

namespace detail {

/* The error clt recorded for the call that just failed. */
[[noreturn]] inline void throw_last() {
  clt_status s = clt_last_status();
  throw error(s == CLT_OK ? CLT_ERR_STATE : s, clt_last_error());
}

inline void check(clt_status s) {
  if (s != CLT_OK) throw_last();
}

/* The dtype of a C++ element type, for conversions from and to std::vector. */
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr clt_dtype value = CLT_FLOAT32; };
template <> struct dtype_of<double> { static constexpr clt_dtype value = CLT_FLOAT64; };
template <> struct dtype_of<std::int32_t> { static constexpr clt_dtype value = CLT_INT32; };
template <> struct dtype_of<std::int64_t> { static constexpr clt_dtype value = CLT_INT64; };
template <> struct dtype_of<std::uint8_t> { static constexpr clt_dtype value = CLT_UINT8; };
template <> struct dtype_of<bool> { static constexpr clt_dtype value = CLT_BOOL; };

}  // namespace detail

/* A list of sizes or dims passed in, from a braced list ({2, 3}) or a std::vector (copied, so
 * that nothing depends on how long the caller's array lives). */
template <class T> class list_ref {
 public:
  list_ref(std::initializer_list<T> l) : v_(l) {}
  list_ref(std::vector<T> v) noexcept : v_(std::move(v)) {}
  const T *data() const noexcept { return v_.empty() ? nullptr : v_.data(); }
  int size() const noexcept { return static_cast<int>(v_.size()); }

 private:
  std::vector<T> v_;
};
using shape = list_ref<std::int64_t>;
using dims = list_ref<int>;

/* An open device, shared (clt_device_retain / clt_device_release). */
class device {
 public:
  device() noexcept = default;
  /* Opens the device spec names (clt/device.h: nullptr, "host", "cl", "cl:N", "cl:TEXT"). */
  static device open(const char *spec = nullptr) {
    clt_device *d = nullptr;
    detail::check(clt_device_open(spec, &d));
    return adopt(d);
  }
  /* Takes over one reference the caller holds. */
  static device adopt(clt_device *d) noexcept {
    device r;
    r.d_ = d;
    return r;
  }
  /* Adds a reference of its own. */
  static device borrow(clt_device *d) noexcept { return adopt(d ? clt_device_retain(d) : nullptr); }

  device(const device &o) noexcept : d_(o.d_ ? clt_device_retain(o.d_) : nullptr) {}
  device(device &&o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  device &operator=(device o) noexcept {
    std::swap(d_, o.d_);
    return *this;
  }
  ~device() { clt_device_release(d_); }

  clt_device *get() const noexcept { return d_; }
  clt_device *release() noexcept { return std::exchange(d_, nullptr); }
  explicit operator bool() const noexcept { return d_ != nullptr; }

  std::string spec() const { return clt_device_spec(checked()); }
  clt_device_type type() const { return clt_device_type_of(checked()); }
  clt_device_info info() const {
    clt_device_info i;
    detail::check(clt_device_get_info(checked(), &i));
    return i;
  }
  void synchronize() const { detail::check(clt_device_synchronize(checked())); }

  friend bool operator==(const device &a, const device &b) noexcept { return a.d_ == b.d_; }
  friend bool operator!=(const device &a, const device &b) noexcept { return a.d_ != b.d_; }

 private:
  clt_device *checked() const {
    if (!d_) throw error(CLT_ERR_INVALID_ARG, "clt::device: empty handle");
    return d_;
  }
  clt_device *d_ = nullptr;
};

/* A tensor, shared (clt_retain / clt_release). Methods are const because they change the
 * handle, not the tensor: the in-place ones (+=, fill_, zero_grad) write through it. */
class tensor {
 public:
  tensor() noexcept = default;
  /* Takes over one reference a C call returned; nullptr throws the error clt recorded. */
  static tensor adopt(clt_tensor *t) {
    if (!t) detail::throw_last();
    tensor r;
    r.t_ = clt_keep(t);
    return r;
  }
  /* Adds a reference of its own (nullptr gives an empty handle). */
  static tensor borrow(clt_tensor *t) noexcept {
    tensor r;
    r.t_ = t ? clt_retain(t) : nullptr;
    return r;
  }

  tensor(const tensor &o) noexcept : t_(o.t_ ? clt_retain(o.t_) : nullptr) {}
  tensor(tensor &&o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  tensor &operator=(tensor o) noexcept {
    std::swap(t_, o.t_);
    return *this;
  }
  ~tensor() { clt_release(t_); }

  /* The C handle, borrowed (throws on an empty handle). */
  clt_tensor *get() const {
    if (!t_) throw error(CLT_ERR_INVALID_ARG, "clt::tensor: empty handle");
    return t_;
  }
  clt_tensor *release() noexcept { return std::exchange(t_, nullptr); }
  explicit operator bool() const noexcept { return t_ != nullptr; }
  /* The same tensor (not equal elements: use == for those). */
  bool is(const tensor &o) const noexcept { return t_ == o.t_; }

  /* ---- properties ---- */
  clt_dtype dtype() const { return clt_dtype_of(get()); }
  int ndim() const { return clt_ndim(get()); }
  std::vector<std::int64_t> sizes() const {
    const std::int64_t *s = clt_shape(get());
    return std::vector<std::int64_t>(s, s + ndim());
  }
  std::vector<std::int64_t> strides() const {
    const std::int64_t *s = clt_strides(get());
    return std::vector<std::int64_t>(s, s + ndim());
  }
  std::int64_t size(int dim) const {
    std::int64_t n = clt_size(get(), dim);
    if (n < 0) detail::throw_last();
    return n;
  }
  std::int64_t numel() const { return clt_numel(get()); }
  bool is_contiguous() const { return clt_is_contiguous(get()); }
  clt::device device() const { return clt::device::borrow(clt_device_of(get())); }

  /* ---- conversions ---- */
  /* The elements, row-major, as T (converted with clt_cast when the dtype differs). */
  template <class T> std::vector<T> to_vector() const {
    constexpr clt_dtype dt = detail::dtype_of<T>::value;
    tensor src = dtype() == dt ? *this : cast(dt);
    std::size_t n = static_cast<std::size_t>(numel());
    if constexpr (std::is_same_v<T, bool>) {  // std::vector<bool> has no data()
      std::vector<unsigned char> bytes(n);
      detail::check(clt_to_host(src.get(), bytes.data(), n));
      return std::vector<bool>(bytes.begin(), bytes.end());
    } else {
      std::vector<T> out(n);
      detail::check(clt_to_host(src.get(), out.data(), n * sizeof(T)));
      return out;
    }
  }
  /* The one element, as a double. */
  double item() const {
    double v;
    detail::check(clt_item(get(), &v));
    return v;
  }
  tensor to(const clt::device &dev) const { return adopt(clt_to(get(), dev.get())); }
  tensor cast(clt_dtype dt) const { return adopt(clt_cast(get(), dt)); }
  /* As clt_print prints it. */
  std::string str() const {
    std::size_t needed = 0;
    detail::check(clt_format(get(), nullptr, 0, &needed));
    std::string s(needed + 1, '\0');
    detail::check(clt_format(get(), &s[0], s.size(), nullptr));
    s.resize(needed);
    return s;
  }

  /* ---- views and copies ---- */
  tensor reshape(shape s) const { return adopt(clt_reshape(get(), s.size(), s.data())); }
  tensor view(shape s) const { return adopt(clt_view(get(), s.size(), s.data())); }
  tensor expand(shape s) const { return adopt(clt_expand(get(), s.size(), s.data())); }
  tensor permute(dims d) const { return adopt(clt_permute(get(), d.size(), d.data())); }
  tensor transpose(int d0, int d1) const { return adopt(clt_transpose(get(), d0, d1)); }
  /* t.T in PyTorch for a matrix: the last two dims swapped. */
  tensor t() const { return transpose(-2, -1); }
  tensor flatten(int start = 0, int end = -1) const { return adopt(clt_flatten(get(), start, end)); }
  tensor slice(int dim, std::int64_t start, std::int64_t end = INT64_MAX, std::int64_t step = 1) const {
    return adopt(clt_slice(get(), dim, start, end, step));
  }
  tensor squeeze(int dim) const { return adopt(clt_squeeze(get(), dim)); }
  tensor squeeze() const { return adopt(clt_squeeze_all(get())); }
  tensor unsqueeze(int dim) const { return adopt(clt_unsqueeze(get(), dim)); }
  tensor contiguous() const { return adopt(clt_contiguous(get())); }
  tensor clone() const { return adopt(clt_clone(get())); }
  tensor detach() const { return adopt(clt_detach(get())); }

  /* ---- reductions: every dim when dims are left out ---- */
#define CLT_HPP_REDUCTIONS_(X) X(sum) X(prod) X(mean) X(max) X(min) X(argmax) X(argmin) X(logsumexp)
#define CLT_HPP_REDUCTION_(name)                                                        \
  tensor name() const { return adopt(clt_##name(get(), 0, nullptr, false)); }           \
  tensor name(dims d, bool keepdim = false) const {                                     \
    return adopt(clt_##name(get(), d.size(), d.data(), keepdim));                       \
  }
  CLT_HPP_REDUCTIONS_(CLT_HPP_REDUCTION_)
#undef CLT_HPP_REDUCTION_
  tensor var(dims d = {}, double correction = 1, bool keepdim = false) const {
    return adopt(clt_var(get(), d.size(), d.data(), correction, keepdim));
  }
  tensor std(dims d = {}, double correction = 1, bool keepdim = false) const {
    return adopt(clt_std(get(), d.size(), d.data(), correction, keepdim));
  }

  /* ---- autograd ---- */
  /* Marks a float leaf as collecting gradients; returns *this, so a creation can end with it. */
  const tensor &requires_grad(bool on) const {
    detail::check(clt_set_requires_grad(get(), on));
    return *this;
  }
  bool requires_grad() const { return clt_requires_grad(get()); }
  bool is_leaf() const { return clt_is_leaf(get()); }
  /* The op that made it ("mul"), "" for a leaf. */
  std::string grad_fn() const {
    const char *n = clt_grad_fn_name(get());
    return n ? n : "";
  }
  /* d this / d leaf into every leaf's grad(); grad may be left out for one element. */
  void backward(bool retain_graph = false) const {
    detail::check(clt_backward_ex(get(), nullptr, retain_graph));
  }
  void backward(const tensor &grad, bool retain_graph = false) const {
    detail::check(clt_backward_ex(get(), grad.get(), retain_graph));
  }
  /* The accumulated gradient; an empty handle (false) while there is none. */
  tensor grad() const {
    clt_tensor *g = clt_grad(get());
    return g ? adopt(g) : tensor();
  }
  void zero_grad() const { detail::check(clt_zero_grad(get())); }

  /* ---- in place (clt/autograd.h's rules: other broadcasts and converts to this dtype) ---- */
#define CLT_HPP_INPLACE_(op, fn)                                                           \
  const tensor &operator op(const tensor &o) const {                                     \
    detail::check(clt_##fn##_(get(), o.get()));                                           \
    return *this;                                                                         \
  }                                                                                       \
  const tensor &operator op(double s) const {                                            \
    detail::check(clt_##fn##_scalar_(get(), s));                                          \
    return *this;                                                                         \
  }
  CLT_HPP_INPLACE_(+=, add)
  CLT_HPP_INPLACE_(-=, sub)
  CLT_HPP_INPLACE_(*=, mul)
  CLT_HPP_INPLACE_(/=, div)
#undef CLT_HPP_INPLACE_
  const tensor &fill_(double v) const {
    detail::check(clt_fill_(get(), v));
    return *this;
  }
  const tensor &copy_(const tensor &src) const {
    detail::check(clt_copy_(get(), src.get()));
    return *this;
  }

 private:
  clt_tensor *t_ = nullptr;
};

inline std::ostream &operator<<(std::ostream &os, const tensor &t) { return os << t.str(); }

/* ---- creation ---- */
inline tensor empty(const device &dev, shape s, clt_dtype dt = CLT_FLOAT32) {
  return tensor::adopt(clt_empty(dev.get(), dt, s.size(), s.data()));
}
inline tensor zeros(const device &dev, shape s, clt_dtype dt = CLT_FLOAT32) {
  return tensor::adopt(clt_zeros(dev.get(), dt, s.size(), s.data()));
}
inline tensor ones(const device &dev, shape s, clt_dtype dt = CLT_FLOAT32) {
  return tensor::adopt(clt_ones(dev.get(), dt, s.size(), s.data()));
}
inline tensor full(const device &dev, shape s, double value, clt_dtype dt = CLT_FLOAT32) {
  return tensor::adopt(clt_full(dev.get(), dt, s.size(), s.data(), value));
}
inline tensor arange(const device &dev, double start, double end, double step = 1, clt_dtype dt = CLT_FLOAT32) {
  return tensor::adopt(clt_arange(dev.get(), dt, start, end, step));
}
inline tensor rand(const device &dev, shape s, clt_dtype dt = CLT_FLOAT32) {
  return tensor::adopt(clt_rand(dev.get(), dt, s.size(), s.data()));
}
inline tensor randn(const device &dev, shape s, clt_dtype dt = CLT_FLOAT32) {
  return tensor::adopt(clt_randn(dev.get(), dt, s.size(), s.data()));
}
inline void manual_seed(std::uint64_t seed) { clt_manual_seed(seed); }

/* A copy of v on dev, of T's dtype, in shape s (the elements in row-major order; their count
 * must match the shape's, else CLT_ERR_SHAPE). */
template <class T> tensor from_vector(const device &dev, const std::vector<T> &v, shape s) {
  std::int64_t n = 1;
  for (int i = 0; i < s.size(); i++) n *= s.data()[i];
  if (n != static_cast<std::int64_t>(v.size()))
    throw error(CLT_ERR_SHAPE, "clt::from_vector: " + std::to_string(v.size()) + " elements for a shape of " +
                                   std::to_string(n));
  constexpr clt_dtype dt = detail::dtype_of<T>::value;
  if constexpr (std::is_same_v<T, bool>) {  // std::vector<bool> has no data()
    std::vector<unsigned char> bytes(v.begin(), v.end());
    return tensor::adopt(clt_from_host(dev.get(), dt, s.size(), s.data(), bytes.data()));
  } else {
    return tensor::adopt(clt_from_host(dev.get(), dt, s.size(), s.data(), v.data()));
  }
}
/* A 1-d copy of v. */
template <class T> tensor from_vector(const device &dev, const std::vector<T> &v) {
  return from_vector(dev, v, {static_cast<std::int64_t>(v.size())});
}

/* ---- files ---- */
inline void save_npy(const std::string &path, const tensor &t) { detail::check(clt_save_npy(path.c_str(), t.get())); }
inline tensor load_npy(const std::string &path, const device &dev = device()) {
  clt_tensor *t = nullptr;
  detail::check(clt_load_npy(path.c_str(), dev.get(), &t));
  return tensor::adopt(t);
}

/* ---- ops: the elementwise ones by their C names without the prefix ---- */
#define CLT_HPP_UNARY_(X)                                                                              \
  X(neg) X(abs) X(sign) X(square) X(relu) X(exp) X(expm1) X(log) X(log1p) X(sqrt) X(rsqrt) X(reciprocal) \
  X(sin) X(cos) X(tanh) X(sigmoid) X(gelu) X(gelu_tanh) X(silu) X(softplus) X(logical_not)
#define CLT_HPP_UNARY_FN_(name) \
  inline tensor name(const tensor &x) { return tensor::adopt(clt_##name(x.get())); }
CLT_HPP_UNARY_(CLT_HPP_UNARY_FN_)
#undef CLT_HPP_UNARY_FN_

inline tensor clamp(const tensor &x, double lo, double hi) { return tensor::adopt(clt_clamp(x.get(), lo, hi)); }
inline tensor leaky_relu(const tensor &x, double slope = 0.01) { return tensor::adopt(clt_leaky_relu(x.get(), slope)); }
inline tensor elu(const tensor &x, double alpha = 1) { return tensor::adopt(clt_elu(x.get(), alpha)); }

/* Binary ops with a tensor or a number on either side (a number counts as a Python scalar in
 * dtype promotion, as in the C scalar forms). */
#define CLT_HPP_BINARY_FN_(name, scalar, rscalar)                                                      \
  inline tensor name(const tensor &a, const tensor &b) { return tensor::adopt(clt_##name(a.get(), b.get())); } \
  inline tensor name(const tensor &a, double s) { return tensor::adopt(clt_##scalar(a.get(), s)); }      \
  inline tensor name(double s, const tensor &b) { return tensor::adopt(clt_##rscalar(b.get(), s)); }
CLT_HPP_BINARY_FN_(add, add_scalar, add_scalar)
CLT_HPP_BINARY_FN_(sub, sub_scalar, rsub_scalar)
CLT_HPP_BINARY_FN_(mul, mul_scalar, mul_scalar)
CLT_HPP_BINARY_FN_(div, div_scalar, rdiv_scalar)
CLT_HPP_BINARY_FN_(pow, pow_scalar, rpow_scalar)
CLT_HPP_BINARY_FN_(maximum, maximum_scalar, maximum_scalar)
CLT_HPP_BINARY_FN_(minimum, minimum_scalar, minimum_scalar)
/* Comparisons (bool results); a number on the left compares the other way round. */
CLT_HPP_BINARY_FN_(eq, eq_scalar, eq_scalar)
CLT_HPP_BINARY_FN_(ne, ne_scalar, ne_scalar)
CLT_HPP_BINARY_FN_(lt, lt_scalar, gt_scalar)
CLT_HPP_BINARY_FN_(le, le_scalar, ge_scalar)
CLT_HPP_BINARY_FN_(gt, gt_scalar, lt_scalar)
CLT_HPP_BINARY_FN_(ge, ge_scalar, le_scalar)
#undef CLT_HPP_BINARY_FN_

/* Operators: arithmetic, and comparisons that give bool tensors as PyTorch's (a tensor, not a
 * bool: compare handles with tensor::is). */
#define CLT_HPP_OPERATOR_(op, fn)                                                  \
  inline tensor operator op(const tensor &a, const tensor &b) { return fn(a, b); } \
  inline tensor operator op(const tensor &a, double s) { return fn(a, s); }        \
  inline tensor operator op(double s, const tensor &b) { return fn(s, b); }
CLT_HPP_OPERATOR_(+, add)
CLT_HPP_OPERATOR_(-, sub)
CLT_HPP_OPERATOR_(*, mul)
CLT_HPP_OPERATOR_(/, div)
CLT_HPP_OPERATOR_(==, eq)
CLT_HPP_OPERATOR_(!=, ne)
CLT_HPP_OPERATOR_(<, lt)
CLT_HPP_OPERATOR_(<=, le)
CLT_HPP_OPERATOR_(>, gt)
CLT_HPP_OPERATOR_(>=, ge)
#undef CLT_HPP_OPERATOR_
inline tensor operator-(const tensor &x) { return neg(x); }
/* No operator!: !t tests whether a handle is empty, as for a pointer (clt::logical_not negates). */
/* & | ^ are logical and, or, xor (bool results; PyTorch's on bool tensors). */
inline tensor operator&(const tensor &a, const tensor &b) { return tensor::adopt(clt_logical_and(a.get(), b.get())); }
inline tensor operator|(const tensor &a, const tensor &b) { return tensor::adopt(clt_logical_or(a.get(), b.get())); }
inline tensor operator^(const tensor &a, const tensor &b) { return tensor::adopt(clt_logical_xor(a.get(), b.get())); }

inline tensor where(const tensor &cond, const tensor &a, const tensor &b) {
  return tensor::adopt(clt_where(cond.get(), a.get(), b.get()));
}
inline tensor matmul(const tensor &a, const tensor &b) { return tensor::adopt(clt_matmul(a.get(), b.get())); }
inline tensor softmax(const tensor &x, int dim) { return tensor::adopt(clt_softmax(x.get(), dim)); }
inline tensor log_softmax(const tensor &x, int dim) { return tensor::adopt(clt_log_softmax(x.get(), dim)); }
/* Joins tensors along dim: clt::cat({a, b}, 0). */
inline tensor cat(std::initializer_list<tensor> ts, int dim) {
  std::vector<clt_tensor *> h;
  for (const tensor &t : ts) h.push_back(t.get());
  return tensor::adopt(clt_cat(static_cast<int>(h.size()), h.data(), dim));
}
inline tensor stack(std::initializer_list<tensor> ts, int dim) {
  std::vector<clt_tensor *> h;
  for (const tensor &t : ts) h.push_back(t.get());
  return tensor::adopt(clt_stack(static_cast<int>(h.size()), h.data(), dim));
}

/* ---- layers and losses ---- */
inline tensor linear(const tensor &x, const tensor &w, const tensor &b = tensor()) {
  return tensor::adopt(clt_linear(x.get(), w.get(), b ? b.get() : nullptr));
}
inline tensor mse_loss(const tensor &input, const tensor &target, clt_reduction r = CLT_REDUCTION_MEAN) {
  return tensor::adopt(clt_mse_loss(input.get(), target.get(), r));
}
inline tensor cross_entropy(const tensor &logits, const tensor &labels, clt_reduction r = CLT_REDUCTION_MEAN) {
  return tensor::adopt(clt_cross_entropy(logits.get(), labels.get(), r));
}

/* An optimizer over parameters (clt/nn.h: SGD, Adam, AdamW with PyTorch's hyperparameters). The C
 * optimizer has one owner, so this handle moves and is not copied; it retains the parameters. */
class optimizer {
 public:
  optimizer(const clt_optim_config &config, const std::vector<tensor> &params) {
    std::vector<clt_tensor *> h;
    for (const tensor &p : params) h.push_back(p.get());
    detail::check(clt_optim_create(&config, static_cast<int>(h.size()), h.data(), &o_));
  }
  /* torch.optim.SGD(params, lr, momentum), Adam(params, lr), AdamW(params, lr, weight_decay);
   * the other hyperparameters through a clt_optim_config from clt_optim_defaults. */
  static optimizer sgd(const std::vector<tensor> &params, double lr, double momentum = 0) {
    clt_optim_config c = clt_optim_defaults(CLT_OPTIM_SGD);
    c.lr = lr;
    c.momentum = momentum;
    return optimizer(c, params);
  }
  static optimizer adam(const std::vector<tensor> &params, double lr = 1e-3) {
    clt_optim_config c = clt_optim_defaults(CLT_OPTIM_ADAM);
    c.lr = lr;
    return optimizer(c, params);
  }
  static optimizer adamw(const std::vector<tensor> &params, double lr = 1e-3, double weight_decay = 0.01) {
    clt_optim_config c = clt_optim_defaults(CLT_OPTIM_ADAMW);
    c.lr = lr;
    c.weight_decay = weight_decay;
    return optimizer(c, params);
  }
  optimizer(optimizer &&o) noexcept : o_(std::exchange(o.o_, nullptr)) {}
  optimizer &operator=(optimizer &&o) noexcept {
    std::swap(o_, o.o_);
    return *this;
  }
  optimizer(const optimizer &) = delete;
  optimizer &operator=(const optimizer &) = delete;
  ~optimizer() { clt_optim_release(o_); }

  clt_optim *get() const {
    if (!o_) throw error(CLT_ERR_INVALID_ARG, "clt::optimizer: empty handle");
    return o_;
  }
  void step() const { detail::check(clt_optim_step(get())); }
  /* Drops the parameters' gradients (PyTorch's set_to_none). */
  void zero_grad() const { detail::check(clt_optim_zero_grad(get())); }
  double lr() const {
    double v;
    detail::check(clt_optim_get_lr(get(), &v));
    return v;
  }
  void set_lr(double v) const { detail::check(clt_optim_set_lr(get(), v)); }
  std::int64_t steps() const { return clt_optim_steps(get()); }

 private:
  clt_optim *o_ = nullptr;
};

/* ---- autograd ---- */
/* Ops record no graph while one lives on this thread (clt_no_grad_begin .. end). */
class no_grad {
 public:
  no_grad() { detail::check(clt_no_grad_begin()); }
  ~no_grad() { clt_no_grad_end(); }
  no_grad(const no_grad &) = delete;
  no_grad &operator=(const no_grad &) = delete;
};

}  // namespace clt

#undef CLT_HPP_REDUCTIONS_
#undef CLT_HPP_UNARY_

#endif
