#pragma once
// Tensor: a shared handle to a TensorImpl (shape, strides, offset and dtype over a Storage), plus the
// autograd state of that tensor (requires_grad, grad, grad_fn).
//
// Layering: the members declared here that only read or re-describe memory are defined in graph/; the
// differentiable ones (views, arithmetic, reductions) forward to the functions of ops/ and are defined
// there (ops/tensor_methods.cpp), and backward() is defined by the engine in autograd/.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "graft/graph/array_ref.h"
#include "graft/graph/dtype.h"
#include "graft/graph/error.h"
#include "graft/graph/scalar.h"
#include "graft/graph/shape.h"
#include "graft/graph/storage.h"

namespace graft {

class Node;
class TensorImpl;
class Tensor;

using TensorList = std::vector<Tensor>;
using TensorHook = std::function<Tensor(const Tensor&)>;
/// A hook that runs once a leaf's gradient has been accumulated into its .grad(); it receives the leaf.
using PostAccumulateGradHook = std::function<void(const Tensor&)>;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- identity and layout ----
  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  inline int64_t dim() const;
  inline const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  int64_t size(int64_t dim) const;
  inline const Shape& strides() const;
  int64_t stride(int64_t dim) const;
  inline int64_t storage_offset() const;
  inline int64_t numel() const;
  inline DType dtype() const;
  DType scalar_type() const { return dtype(); }
  size_t element_size() const { return graft::element_size(dtype()); }
  bool is_floating_point() const { return is_floating(dtype()); }
  inline bool is_contiguous() const;
  inline const std::shared_ptr<Storage>& storage() const;
  /// The version of the storage: bumped by every in-place write.
  inline uint32_t version() const;

  // ---- data access ----
  inline void* data_ptr() const;  // address of element 0 (storage + offset)
  template <class T>
  T* data_ptr() const {
    GRAFT_CHECK(dtype_v<T> == dtype(), "data_ptr: tensor is {}, not {}", dtype_name(dtype()), dtype_name(dtype_v<T>));
    return static_cast<T*>(data_ptr());
  }
  /// The value of a one-element tensor, converted to T.
  template <class T>
  T item() const;
  /// All elements in row-major logical order (any layout), converted to T.
  template <class T>
  std::vector<T> to_vector() const;
  /// One element by index (negative indices count from the end), converted to T.
  template <class T>
  T at(IntList index) const;

  // ---- autograd ----
  inline bool requires_grad() const;
  Tensor& requires_grad_(bool requires_grad = true);
  inline bool is_leaf() const;
  inline const std::shared_ptr<Node>& grad_fn() const;
  inline uint32_t output_nr() const;
  const Tensor& grad() const;
  Tensor& mutable_grad();
  void set_grad(const Tensor& grad);
  /// A tensor sharing this one's storage and version counter, outside the graph.
  Tensor detach() const;
  Tensor& detach_();
  /// Keep the gradient of a non-leaf in .grad() after backward.
  void retain_grad();
  bool retains_grad() const;
  /// `hook(grad)` runs when the gradient of this tensor is computed; a hook returning a Tensor replaces the
  /// gradient with it (when defined), a hook returning void only observes. Returns a handle for remove_hook.
  template <class F>
  size_t register_hook(F&& hook) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, const Tensor&>>)
      return add_hook([h = std::forward<F>(hook)](const Tensor& g) -> Tensor {
        h(g);
        return {};
      });
    else
      return add_hook(TensorHook(std::forward<F>(hook)));
  }
  size_t add_hook(TensorHook hook);
  /// `hook(tensor)` runs each time backward has accumulated a gradient into this leaf's .grad(), after the
  /// accumulation (PyTorch 2.1's register_post_accumulate_grad_hook): the place to act on a finished
  /// gradient, e.g. to start its reduction across ranks or to step an optimizer inside backward. Hooks run in
  /// registration order; a backward that delivers no gradient to the leaf runs none. Returns a handle for
  /// remove_hook.
  /// @throws graft::Error when the tensor is not a leaf that requires grad.
  size_t register_post_accumulate_grad_hook(PostAccumulateGradHook hook);
  /// Removes a hook registered by register_hook or register_post_accumulate_grad_hook (an unknown handle is
  /// ignored).
  void remove_hook(size_t handle);
  /// Defined by the engine (autograd/engine.cpp). retain_graph defaults to create_graph.
  void backward(const Tensor& gradient = {}, std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false, const TensorList& inputs = {}) const;

  // ---- differentiable methods: thin forwards to the functions in ops/ (defined in ops/tensor_methods.cpp) ----
  Tensor view(IntList shape) const;
  Tensor reshape(IntList shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;
  Tensor mT() const;
  Tensor permute(IntList dims) const;
  Tensor expand(IntList shape) const;
  Tensor expand_as(const Tensor& other) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const;
  std::vector<Tensor> split(int64_t split_size, int64_t dim = 0) const;
  std::vector<Tensor> chunk(int64_t chunks, int64_t dim = 0) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;

  Tensor sum() const;
  Tensor sum(IntList dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(IntList dims, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor var(IntList dims, bool unbiased = true, bool keepdim = false) const;
  Tensor std(IntList dims, bool unbiased = true, bool keepdim = false) const;

  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor abs() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor neg() const;
  Tensor pow(const Scalar& exponent) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  Tensor matmul(const Tensor& other) const;
  Tensor masked_fill(const Tensor& mask, const Scalar& value) const;
  Tensor tril(int64_t diagonal = 0) const;
  Tensor triu(int64_t diagonal = 0) const;

  /// In-place writes. They bump the version counter; on a tensor that requires grad they are only allowed
  /// under NoGradGuard (graft records no in-place history, see README "Differences from PyTorch").
  Tensor& zero_();
  Tensor& fill_(const Scalar& value);
  Tensor& copy_(const Tensor& src);
  Tensor& add_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& add_(const Scalar& other);
  Tensor& sub_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(const Scalar& other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(const Scalar& other);
  Tensor& clamp_(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
  Tensor& masked_fill_(const Tensor& mask, const Scalar& value);

  Tensor& operator+=(const Tensor& other) { return add_(other); }
  Tensor& operator+=(const Scalar& other) { return add_(other); }
  Tensor& operator-=(const Tensor& other) { return sub_(other); }
  Tensor& operator-=(const Scalar& other) { return add_(Scalar(-other.to_double())); }
  Tensor& operator*=(const Tensor& other) { return mul_(other); }
  Tensor& operator*=(const Scalar& other) { return mul_(other); }
  Tensor& operator/=(const Tensor& other) { return div_(other); }
  Tensor& operator/=(const Scalar& other) { return div_(other); }

  std::string to_string() const;  // as printed by operator<<

 private:
  const TensorImpl& checked() const {
    if (!impl_) [[unlikely]] throw_undefined();
    return *impl_;
  }
  [[noreturn]] static void throw_undefined();
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

/// The state behind a Tensor handle.
class TensorImpl {
 public:
  TensorImpl(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset, DType dtype);
  ~TensorImpl();
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;

  const std::shared_ptr<Storage>& storage() const { return storage_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  bool is_contiguous() const { return contiguous_; }
  void* data() const {
    // An empty storage has no memory: a view into it (at any offset) has no element to address either.
    char* base = static_cast<char*>(storage_->data());
    return base ? base + offset_ * static_cast<int64_t>(graft::element_size(dtype_)) : nullptr;
  }

  /// Autograd state. A tensor requires grad when it is a leaf marked so, or when it has a grad_fn.
  bool requires_grad() const { return requires_grad_ || grad_fn_ != nullptr; }
  bool leaf_requires_grad() const { return requires_grad_; }
  void set_requires_grad(bool r) { requires_grad_ = r; }
  const std::shared_ptr<Node>& grad_fn() const { return grad_fn_; }
  uint32_t output_nr() const { return output_nr_; }
  void set_grad_fn(std::shared_ptr<Node> fn, uint32_t output_nr);
  Tensor& grad() { return grad_; }
  /// The AccumulateGrad node of a leaf is cached here weakly (the graph owns it; see autograd/function.h).
  std::weak_ptr<Node>& grad_accumulator_slot() { return grad_accumulator_; }
  /// Makes this tensor describe src's memory (storage, layout, dtype) while keeping its identity and autograd
  /// state, like PyTorch's `param.data = ...`: every handle to it sees the new data. A gradient of another
  /// shape or dtype is dropped, and graphs recorded before keep accumulating into the old accumulator.
  void set_data(const TensorImpl& src);

  struct Hooks {
    std::vector<std::pair<size_t, TensorHook>> hooks;
    std::vector<std::pair<size_t, PostAccumulateGradHook>> post_accumulate;  // leaves only
    bool retains_grad = false;
    size_t next_handle = 0;
  };
  Hooks* hooks() const { return hooks_.get(); }
  Hooks& ensure_hooks();

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;
  int64_t offset_;
  int64_t numel_;
  DType dtype_;
  bool contiguous_;
  bool requires_grad_ = false;
  uint32_t output_nr_ = 0;
  std::shared_ptr<Node> grad_fn_;
  Tensor grad_;
  std::weak_ptr<Node> grad_accumulator_;
  std::unique_ptr<Hooks> hooks_;
};

// ---- Tensor's accessors, inline: they are on every op's path ----
inline int64_t Tensor::dim() const { return static_cast<int64_t>(checked().shape().size()); }
inline const Shape& Tensor::shape() const { return checked().shape(); }
inline const Shape& Tensor::strides() const { return checked().strides(); }
inline int64_t Tensor::storage_offset() const { return checked().offset(); }
inline int64_t Tensor::numel() const { return checked().numel(); }
inline DType Tensor::dtype() const { return checked().dtype(); }
inline bool Tensor::is_contiguous() const { return checked().is_contiguous(); }
inline const std::shared_ptr<Storage>& Tensor::storage() const { return checked().storage(); }
inline uint32_t Tensor::version() const { return checked().storage()->version(); }
inline void* Tensor::data_ptr() const { return checked().data(); }
inline bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad(); }
inline bool Tensor::is_leaf() const { return checked().grad_fn() == nullptr; }
inline const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn(); }
inline uint32_t Tensor::output_nr() const { return checked().output_nr(); }

// ---- constructing tensors from memory (the factories live in graph/factory.h) ----
// A new contiguous tensor with uninitialised memory.
Tensor empty_tensor(IntList shape, DType dtype);
/// A tensor viewing `storage` with the given layout (no copy).
Tensor make_view(const Tensor& base, IntList shape, IntList strides, int64_t offset);

// ---- element conversion helpers used by item/to_vector ----
namespace detail {
double read_as_double(const void* p, DType dtype);
int64_t read_as_int(const void* p, DType dtype);
template <class T>
T read_element(const void* p, DType dtype) {
  if constexpr (std::is_same_v<T, bool>) return read_as_double(p, dtype) != 0;
  else if constexpr (std::is_integral_v<T>) return static_cast<T>(read_as_int(p, dtype));
  else return static_cast<T>(read_as_double(p, dtype));
}
/// Calls f(element pointer) for every element in row-major logical order.
void for_each_element(const TensorImpl& t, const std::function<void(const char*)>& f);
}  // namespace detail

template <class T>
T Tensor::item() const {
  const TensorImpl& t = checked();
  GRAFT_CHECK(t.numel() == 1, "item: a tensor with {} elements (shape {}) cannot be converted to a scalar", t.numel(),
              shape_str(t.shape()));
  return detail::read_element<T>(t.data(), t.dtype());
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  const TensorImpl& t = checked();
  std::vector<T> out;
  out.reserve(static_cast<size_t>(t.numel()));
  DType dt = t.dtype();
  detail::for_each_element(t, [&](const char* p) { out.push_back(detail::read_element<T>(p, dt)); });
  return out;
}

template <class T>
T Tensor::at(IntList index) const {
  const TensorImpl& t = checked();
  GRAFT_CHECK(index.size() == t.shape().size(), "at: expected {} indices for shape {}, got {}", t.shape().size(),
              shape_str(t.shape()), index.size());
  int64_t off = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    int64_t i = index[d] < 0 ? index[d] + t.shape()[d] : index[d];
    GRAFT_CHECK(i >= 0 && i < t.shape()[d], "at: index {} is out of range for dim {} of size {}", index[d], d,
                t.shape()[d]);
    off += i * t.strides()[d];
  }
  const char* p = static_cast<const char*>(t.data()) + off * static_cast<int64_t>(graft::element_size(t.dtype()));
  return detail::read_element<T>(p, t.dtype());
}

}  // namespace graft

/// @cond INTERNAL
template <>
struct fmt::formatter<graft::Tensor> : fmt::formatter<std::string> {
  template <class Ctx>
  auto format(const graft::Tensor& t, Ctx& ctx) const {
    return fmt::formatter<std::string>::format(t.to_string(), ctx);
  }
};
/// @endcond
