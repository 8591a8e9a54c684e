#pragma once
// Your own differentiable op: the C++ counterpart of torch.autograd.Function and LibTorch's
// torch::autograd::Function<T>. A function is a class with a static forward and a static backward:
//
//   struct Softplus : autograd::Function<Softplus> {
//     // log(1 + exp(x)), as one kernel; `beta` is a non-tensor argument.
//     static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x, double beta) {
//       ctx->save_for_backward({x});
//       ctx->saved_data["beta"] = beta;
//       return log(1 + exp(x * beta)) / beta;        // any ops or kernels: nothing is recorded here
//     }
//     // One gradient per forward argument: undefined (Tensor()) for beta and where none is needed.
//     static TensorList backward(autograd::AutogradContext* ctx, TensorList grad_outputs) {
//       Tensor x = ctx->get_saved_variables()[0];
//       double beta = ctx->saved_data["beta"].toDouble();
//       return {grad_outputs[0] * sigmoid(x * beta), Tensor()};
//     }
//   };
//   Tensor y = Softplus::apply(x, 2.0);                // y.grad_fn()->name() == "SoftplusBackward"
//
// forward runs with grad mode off; its outputs get a node whose backward calls T::backward. Arguments may
// be Tensors, TensorLists (each element is an argument of its own) and anything else (passed through,
// getting no gradient). forward returns a Tensor, a TensorList or a std::tuple of Tensors; backward
// receives one gradient per output (zeros where an output got none, unless set_materialize_grads(false)
// leaves them undefined) and returns one gradient per argument, in order, TensorList elements flattened.
//
// A backward written with graft's ops is itself differentiable: the function then has second derivatives
// (gradgradcheck works). A backward that calls raw kernels is not; mark such a function
//   static constexpr bool once_differentiable = true;
// (PyTorch's @once_differentiable): its backward then runs with grad mode off, and differentiating it a
// second time raises a graft::Error naming the function instead of silently giving wrong second derivatives.
//
// The node is named T::name() when T defines `static const char* name()`, else "<T>Backward" (PyTorch's
// naming of custom function nodes).
//
// Where graft differs from PyTorch/LibTorch: needs_input_grad(i) indexes forward arguments as backward's
// result does (LibTorch counts tensors only); mark_dirty (in-place outputs) is not supported -- graft records
// no in-place history -- and forward must not modify its inputs in place.
#include <any>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include "graft/autograd/function.h"
#include "graft/graph/type_name.h"

namespace graft::autograd {

/// A value kept in AutogradContext::saved_data: LibTorch's IValue, reduced to what backward formulas use.
/// Tensors kept here are not version-checked (use save_for_backward for those).
class SavedValue {
 public:
  SavedValue() = default;
  SavedValue(double v) : value_(v) {}                          // NOLINT: implicit, like IValue
  SavedValue(float v) : value_(static_cast<double>(v)) {}      // NOLINT
  SavedValue(int64_t v) : value_(v) {}                         // NOLINT
  SavedValue(int v) : value_(static_cast<int64_t>(v)) {}       // NOLINT
  SavedValue(bool v) : value_(v) {}                            // NOLINT
  SavedValue(std::string v) : value_(std::move(v)) {}          // NOLINT
  SavedValue(const char* v) : value_(std::string(v)) {}        // NOLINT
  SavedValue(Tensor v) : value_(std::move(v)) {}               // NOLINT
  SavedValue(std::vector<int64_t> v) : value_(std::move(v)) {}  // NOLINT
  SavedValue(std::vector<double> v) : value_(std::move(v)) {}  // NOLINT
  SavedValue(TensorList v) : value_(std::move(v)) {}           // NOLINT
  /// Any other type, read back with get<T>().
  template <class T>
  static SavedValue of(T value) {
    SavedValue s;
    s.value_ = std::any(std::move(value));
    return s;
  }

  bool is_none() const { return std::holds_alternative<std::monostate>(value_); }
  /// @throws graft::Error when the value holds another type (doubles also read ints and bools).
  double toDouble() const;
  int64_t toInt() const;
  bool toBool() const;
  const std::string& toStringRef() const;
  Tensor toTensor() const;
  std::vector<int64_t> toIntVector() const;
  std::vector<double> toDoubleVector() const;
  TensorList toTensorVector() const;
  /// A value stored with of<T>(). @throws graft::Error when it holds something else.
  template <class T>
  const T& get() const {
    const std::any* a = std::get_if<std::any>(&value_);
    const T* v = a ? std::any_cast<T>(a) : nullptr;
    if (!v) throw_wrong_type("the type given to get<T>()");
    return *v;
  }

 private:
  [[noreturn]] void throw_wrong_type(const char* wanted) const;
  std::variant<std::monostate, double, int64_t, bool, std::string, Tensor, std::vector<int64_t>, std::vector<double>,
               TensorList, std::any>
      value_;
};

class CustomFunctionNodeBase;

/// What forward leaves for backward (LibTorch's AutogradContext).
class AutogradContext {
 public:
  /// Keeps tensors for backward. They are version-checked: modifying one in place before backward makes
  /// backward raise, naming the function. Outputs may be saved too (without a reference cycle).
  void save_for_backward(TensorList to_save);
  /// The tensors given to save_for_backward, in order. @throws graft::Error after they were released by a
  /// backward without retain_graph, or when one was modified in place since.
  TensorList get_saved_variables() const;
  /// Any other state backward needs (scalars, shapes, options), by name.
  std::map<std::string, SavedValue> saved_data;
  /// Outputs that have no gradient (indices, masks): they do not require grad and backward gets no gradient
  /// for them (zeros, or undefined without materialized gradients).
  void mark_non_differentiable(const TensorList& outputs);
  /// true (the default): gradients of outputs that received none are zeros; false: they are undefined.
  void set_materialize_grads(bool value) { materialize_grads_ = value; }
  /// Whether argument `index` of forward (TensorList elements counted one by one) needs a gradient.
  /// @throws graft::Error for an index past the arguments.
  bool needs_input_grad(size_t index) const;

 private:
  friend class CustomFunctionNodeBase;
  template <class T>
  friend struct Function;
  TensorList to_save_;                  // during forward
  std::vector<const TensorImpl*> non_differentiable_;
  std::vector<bool> needs_input_grad_;
  bool materialize_grads_ = true;
  CustomFunctionNodeBase* node_ = nullptr;  // null when forward recorded nothing
};

/// The node of a custom function: it owns the context and calls the function's backward.
class CustomFunctionNodeBase : public Node {
 public:
  CustomFunctionNodeBase(std::string name, bool once_differentiable)
      : name_(std::move(name)), once_differentiable_(once_differentiable) {
    ctx_.node_ = this;
  }
  const char* name() const override { return name_.c_str(); }
  bool wants_defined_grads() const override { return ctx_.materialize_grads_; }
  GradList apply(GradList&& grads) override;
  AutogradContext& context() { return ctx_; }
  /// Records one argument of forward (an undefined tensor for a non-tensor argument).
  void add_argument(const Tensor& t);
  /// Gives forward's outputs this node as grad_fn (an output that is an input, or already has a history, gets
  /// an alias of its own first); non-differentiable ones only take an output slot. Returns the outputs.
  TensorList record_outputs(TensorList outputs, const TensorList& inputs);
  /// Links the context's saved tensors to this node once forward's outputs are known.
  void save_for_backward_after_forward(const TensorList& outputs);
  TensorList unpack_saved() const;

 protected:
  virtual TensorList call_backward(AutogradContext& ctx, TensorList grads) = 0;

 private:
  std::string name_;
  bool once_differentiable_;
  AutogradContext ctx_;
  std::vector<bool> is_tensor_input_;
};

template <class T>
class CustomFunctionNode final : public CustomFunctionNodeBase {
 public:
  using CustomFunctionNodeBase::CustomFunctionNodeBase;

 protected:
  TensorList call_backward(AutogradContext& ctx, TensorList grads) override { return T::backward(&ctx, std::move(grads)); }
};

namespace detail {

template <class A>
constexpr bool is_tensor = std::is_same_v<std::remove_cvref_t<A>, Tensor>;
template <class A>
constexpr bool is_tensor_list = std::is_same_v<std::remove_cvref_t<A>, TensorList>;

/// The tensors among forward's arguments, one entry per argument position (undefined for non-tensors).
template <class... Args>
TensorList argument_tensors(const Args&... args) {
  TensorList out;
  (
      [&] {
        if constexpr (is_tensor<Args>) out.push_back(args);
        else if constexpr (is_tensor_list<Args>) out.insert(out.end(), args.begin(), args.end());
        else out.push_back(Tensor());
      }(),
      ...);
  return out;
}

/// forward's result as a list, and back.
template <class R>
TensorList outputs_of(R& result) {
  if constexpr (std::is_same_v<R, Tensor>) {
    return {result};
  } else if constexpr (std::is_same_v<R, TensorList>) {
    return result;
  } else {
    static_assert(requires { std::tuple_size<R>::value; },
                  "a custom function's forward returns a Tensor, a TensorList or a std::tuple of Tensors");
    return std::apply([](auto&... e) { return TensorList{e...}; }, result);
  }
}
template <class R>
void assign_outputs(R& result, const TensorList& outputs) {
  if constexpr (std::is_same_v<R, Tensor>) {
    result = outputs[0];
  } else if constexpr (std::is_same_v<R, TensorList>) {
    result = outputs;
  } else {
    size_t i = 0;
    std::apply([&](auto&... e) { ((e = outputs[i++]), ...); }, result);
  }
}

}  // namespace detail

/// The base of a custom function T (CRTP, as LibTorch's Function<T>): T defines
///   static <Tensor | TensorList | std::tuple<Tensor...>> forward(AutogradContext* ctx, Args...);
///   static TensorList backward(AutogradContext* ctx, TensorList grad_outputs);
/// and calls T::apply(args...).
template <class T>
struct Function {
  /// Runs T::forward with grad mode off and, when grad mode is on and a tensor argument requires grad,
  /// records a node whose backward is T::backward. Returns what forward returns.
  template <class... Args>
  static auto apply(Args&&... args) {
    AutogradContext local;
    const TensorList inputs = detail::argument_tensors(args...);
    std::shared_ptr<CustomFunctionNode<T>> node;
    if (needs_recording(inputs)) {
      node = std::make_shared<CustomFunctionNode<T>>(node_name(), is_once_differentiable());
      for (const Tensor& t : inputs) node->add_argument(t);
    }
    AutogradContext& ctx = node ? node->context() : local;
    ctx.needs_input_grad_.clear();
    for (size_t i = 0; i < inputs.size(); ++i) ctx.needs_input_grad_.push_back(node && node->needs_input_grad(i));

    auto result = [&] {
      AutoGradMode no_grad(false);
      return T::forward(&ctx, std::forward<Args>(args)...);
    }();
    if (node) {
      TensorList outputs = node->record_outputs(detail::outputs_of(result), inputs);
      node->save_for_backward_after_forward(detail::outputs_of(result));
      detail::assign_outputs(result, outputs);
    }
    ctx.to_save_.clear();
    return result;
  }

 private:
  static std::string node_name() {
    if constexpr (requires { T::name(); }) return std::string(T::name());
    else return short_type_name(typeid(T)) + "Backward";
  }
  static constexpr bool is_once_differentiable() {
    if constexpr (requires { T::once_differentiable; }) return static_cast<bool>(T::once_differentiable);
    else return false;
  }
};

}  // namespace graft::autograd
