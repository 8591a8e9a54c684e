#pragma once
// nn::Module: the torch.nn.Module of graft. A module owns named parameters, buffers and child modules,
// and everything that walks a model (parameters(), state_dict(), train()/eval(), to(), apply()) follows
// the registration order, with dotted names ("blocks.0.attn.q_proj.weight") as in PyTorch.
//
// Writing a module: derive from Module, register parameters, buffers and children in the constructor, and
// override `Tensor forward(const Tensor&)` (or define forward overloads of any other signature):
//
//   struct Block : nn::Module {
//     nn::Child<nn::Linear> fc = register_module("fc", nn::Linear(4, 4));
//     Block() : Module("Block") {}
//     Tensor forward(const Tensor& x) override { return F::relu(fc(x)); }
//   };
//
// Calling a module -- `(*m)(x)`, a Child handle `fc(x)`, `nn::call(*m, q, k, v)`, or a container calling
// its children -- runs its forward pre-hooks, its forward and its forward hooks, as PyTorch's `module(x)`.
// `m->forward(x)` runs the forward alone, as PyTorch's `module.forward(x)`.
//
// Ownership: modules are held by std::shared_ptr, as in the PyTorch C++ frontend, so a module can sit in
// several containers; a module on the stack works too (it is then the root of its model). A parent keeps
// each child in a slot; `register_module` returns a Child<T> handle that reaches the child through that
// slot, so after model surgery (nn/surgery.h) it reaches the replacement. A module replaced by surgery is
// retired: calling it raises, naming where it was and what replaced it, so a reference kept from before the
// surgery cannot keep using it silently.
#include <concepts>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "graft/graph/scope.h"
#include "graft/graph/tensor.h"
#include "graft/graph/type_name.h"

namespace graft::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;
template <class T>
using Named = std::vector<std::pair<std::string, T>>;
/// An ordered state dict: name -> tensor, in the order the model defines them.
using StateDict = Named<Tensor>;

/// Where a parent keeps one child. A Child<T> handle holds the slot, not the module, so it follows
/// replacements.
struct ModuleSlot {
  std::string name;
  ModulePtr module;
};

template <class M>
class Child;

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name = "Module");
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  /// Moves a module that nothing refers to yet (a temporary handed to Sequential(...) or register_module).
  Module(Module&& other) noexcept;
  Module& operator=(Module&&) = delete;

  /// The class name shown when printing (e.g. "Linear").
  const std::string& type_name() const { return type_name_; }

  // ---- registration ----
  /// Registers `t` as a parameter (a leaf that requires grad unless requires_grad is false) and returns it.
  /// An undefined tensor registers an absent parameter (like `bias=None`), skipped everywhere.
  /// @throws graft::Error for an empty, dotted or taken name, or a tensor that is not a leaf.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  /// Registers a buffer (state that is not trained, e.g. running statistics). Non-persistent buffers are
  /// left out of the state dict.
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true);
  /// Registers a child module held by `module` and returns a handle to its slot.
  template <class M>
    requires std::derived_from<M, Module>
  Child<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    return Child<M>(add_child(name, std::move(module)));
  }
  /// Registers a child given by value (e.g. `register_module("fc", nn::Linear(4, 4))`): it is moved into a
  /// shared_ptr of its own.
  template <class M>
    requires std::derived_from<std::remove_cvref_t<M>, Module> && (!std::is_lvalue_reference_v<M>)
  Child<std::remove_cvref_t<M>> register_module(const std::string& name, M&& module) {
    return register_module(name, std::make_shared<std::remove_cvref_t<M>>(std::move(module)));
  }
  /// Replaces the child at a dotted path ("blocks.0.attn") in place; returns the module it replaced, which
  /// is retired (see retire()) unless it is also the replacement or still sits in another slot of this model.
  /// @throws graft::Error when there is no such child or the replacement is null.
  ModulePtr replace_module(const std::string& path, ModulePtr replacement);

  // ---- access ----
  Tensor& parameter(const std::string& name);  ///< own parameter by name
  Tensor& buffer(const std::string& name);     ///< own buffer by name
  ModulePtr child(const std::string& name) const;
  /// A typed handle to the child `name`. @throws graft::Error when there is none or it is not an M.
  template <class M>
  Child<M> child_as(const std::string& name) const {
    std::shared_ptr<ModuleSlot> slot = find_slot(name);
    GRAFT_CHECK(dynamic_cast<M*>(slot->module.get()) != nullptr, "{}: child '{}' must be a {}, got a {}", type_name_,
                name, short_type_name(typeid(M)), slot->module->type_name());
    return Child<M>(std::move(slot));
  }
  /// A descendant by dotted path ("" is this module).
  ModulePtr submodule(const std::string& path);

  TensorList parameters(bool recurse = true) const;
  Named<Tensor> named_parameters(bool recurse = true) const;
  TensorList buffers(bool recurse = true) const;
  Named<Tensor> named_buffers(bool recurse = true) const;
  std::vector<ModulePtr> children() const;
  Named<ModulePtr> named_children() const;
  /// This module first, then all descendants, depth first, each once.
  std::vector<ModulePtr> modules();
  Named<ModulePtr> named_modules(const std::string& prefix = "");
  /// The slots of this module's children, in registration order (what surgery rewrites).
  const std::vector<std::shared_ptr<ModuleSlot>>& child_slots() const { return children_; }

  // ---- state ----
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Casts floating parameters and buffers to `dtype` in place (every handle to them sees the change).
  void to(DType dtype);
  /// PyTorch 1.13's default: gradients are zeroed in place; set_to_none drops them instead.
  void zero_grad(bool set_to_none = false);
  /// Calls fn on every descendant (children first, depth first) and then on this module.
  void apply(const std::function<void(Module&)>& fn);

  /// Parameters and persistent buffers, detached, module by module in registration order.
  StateDict state_dict() const;
  /// Copies a state dict into the model. Missing keys, unexpected keys (with strict) and shape mismatches
  /// are all listed in one graft::Error, and the model is left unchanged when loading fails.
  void load_state_dict(const StateDict& state, bool strict = true);

  // ---- forward and calls ----
  /// The forward of a single-tensor module. @throws graft::Error when the module has no such forward.
  virtual Tensor forward(const Tensor& input);
  /// Calls the module: pre-hooks, forward, hooks (PyTorch's `module(x)`).
  Tensor operator()(const Tensor& input);

  /// A pre-hook sees the module and the tensor arguments of the call, and may return replacements for them
  /// (the same number, in order) or nothing. PyTorch's register_forward_pre_hook.
  using ForwardPreHook = std::function<std::optional<TensorList>(Module&, const TensorList& inputs)>;
  /// A forward hook sees the module, the tensor arguments and the tensor outputs of the call (one for a
  /// Tensor result, each element of a tuple or list), and may return replacements for the outputs or nothing.
  using ForwardHook =
      std::function<std::optional<TensorList>(Module&, const TensorList& inputs, const TensorList& outputs)>;
  /// Registers a pre-hook; `hook` may also take only the module, or return void. Returns a handle.
  template <class F>
  size_t register_forward_pre_hook(F&& hook) {
    return add_pre_hook(adapt_pre_hook(std::forward<F>(hook)));
  }
  /// Registers a forward hook; `hook` may also take only the module, or return void. Returns a handle.
  template <class F>
  size_t register_forward_hook(F&& hook) {
    return add_hook(adapt_hook(std::forward<F>(hook)));
  }
  void remove_hook(size_t handle);
  bool has_forward_hooks() const { return !pre_hooks_.empty() || !hooks_.empty(); }

  /// One call of a module, as nn::call, operator() and Child run it: it checks that the module is not
  /// retired, names the call's graph nodes after the module's path (graph/scope.h), runs the pre-hooks on
  /// construction and the forward hooks in finish().
  class CallScope {
   public:
    explicit CallScope(Module& m);
    ~CallScope();
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;
    /// Runs the pre-hooks on `inputs`, which they may replace.
    void pre(TensorList& inputs);
    /// Runs the forward hooks; returns replaced outputs, or nothing when none replaced them.
    std::optional<TensorList> post(const TensorList& inputs, const TensorList& outputs);

   private:
    Module& module_;
    NodeScope scope_;
  };

  // ---- surgery ----
  /// Marks this module as replaced at `path` by a module of type `by`: calling it raises from now on.
  void retire(const std::string& path, const std::string& by);
  /// Lets a retired module run again (e.g. to compare it with its replacement on purpose).
  void reactivate() { retired_.reset(); }
  bool is_retired() const { return retired_.has_value(); }
  /// @throws graft::Error naming where the module was and what replaced it, when it is retired.
  void check_not_retired() const;

  // ---- printing ----
  /// The part inside the parentheses, e.g. "in_features=4, out_features=3, bias=True".
  virtual std::string extra_repr() const { return ""; }
  std::string repr() const;

 protected:
  std::shared_ptr<ModuleSlot> add_child(const std::string& name, ModulePtr module);

 private:
  void check_name(const std::string& kind, const std::string& name) const;
  void collect_state(const std::string& prefix, StateDict& out) const;
  std::shared_ptr<ModuleSlot> find_slot(const std::string& name) const;
  ModulePtr self();
  size_t add_pre_hook(ForwardPreHook hook);
  size_t add_hook(ForwardHook hook);

  template <class F>
  static ForwardPreHook adapt_pre_hook(F&& hook) {
    if constexpr (std::is_invocable_v<F&, Module&, const TensorList&>) {
      if constexpr (std::is_void_v<std::invoke_result_t<F&, Module&, const TensorList&>>)
        return [h = std::forward<F>(hook)](Module& m, const TensorList& in) -> std::optional<TensorList> {
          h(m, in);
          return std::nullopt;
        };
      else
        return ForwardPreHook(std::forward<F>(hook));
    } else {
      static_assert(std::is_invocable_v<F&, Module&>, "a forward pre-hook takes (Module&) or (Module&, const TensorList&)");
      return [h = std::forward<F>(hook)](Module& m, const TensorList&) -> std::optional<TensorList> {
        h(m);
        return std::nullopt;
      };
    }
  }
  template <class F>
  static ForwardHook adapt_hook(F&& hook) {
    if constexpr (std::is_invocable_v<F&, Module&, const TensorList&, const TensorList&>) {
      if constexpr (std::is_void_v<std::invoke_result_t<F&, Module&, const TensorList&, const TensorList&>>)
        return [h = std::forward<F>(hook)](Module& m, const TensorList& in,
                                           const TensorList& out) -> std::optional<TensorList> {
          h(m, in, out);
          return std::nullopt;
        };
      else
        return ForwardHook(std::forward<F>(hook));
    } else {
      static_assert(std::is_invocable_v<F&, Module&>,
                    "a forward hook takes (Module&) or (Module&, const TensorList& inputs, const TensorList& outputs)");
      return [h = std::forward<F>(hook)](Module& m, const TensorList&, const TensorList&) -> std::optional<TensorList> {
        h(m);
        return std::nullopt;
      };
    }
  }

  std::string type_name_;
  bool training_ = true;
  Named<Tensor> parameters_;
  Named<Tensor> buffers_;
  std::vector<std::string> non_persistent_;
  std::vector<std::shared_ptr<ModuleSlot>> children_;
  std::vector<std::pair<size_t, ForwardPreHook>> pre_hooks_;
  std::vector<std::pair<size_t, ForwardHook>> hooks_;
  struct Retired {
    std::string path, by;
  };
  std::optional<Retired> retired_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

namespace detail {
template <class A>
constexpr bool is_tensor_arg = std::is_same_v<std::remove_cvref_t<A>, Tensor>;

/// The tensor outputs of a forward's result, for the forward hooks.
template <class R>
TensorList tensors_of(const R& result) {
  if constexpr (std::is_same_v<R, Tensor>) {
    return {result};
  } else if constexpr (std::is_same_v<R, TensorList>) {
    return result;
  } else if constexpr (requires { std::tuple_size<R>::value; }) {
    TensorList out;
    std::apply(
        [&](const auto&... e) {
          (
              [&] {
                if constexpr (is_tensor_arg<decltype(e)>) out.push_back(e);
              }(),
              ...);
        },
        result);
    return out;
  } else {
    return {};
  }
}

/// Writes the forward hooks' replacement outputs back into the result.
template <class R>
void replace_tensors(R& result, const TensorList& with, const std::string& module) {
  const TensorList before = tensors_of(result);
  GRAFT_CHECK(with.size() == before.size(), "{}: a forward hook returned {} outputs for a call with {}", module,
              with.size(), before.size());
  if constexpr (std::is_same_v<R, Tensor>) {
    result = with[0];
  } else if constexpr (std::is_same_v<R, TensorList>) {
    result = with;
  } else if constexpr (requires { std::tuple_size<R>::value; }) {
    size_t i = 0;
    std::apply(
        [&](auto&... e) {
          (
              [&] {
                if constexpr (is_tensor_arg<decltype(e)>) e = with[i++];
              }(),
              ...);
        },
        result);
  }
}
}  // namespace detail

/// Calls `module.forward(args...)` with the module's hooks around it (PyTorch's `module(*args)`): the
/// pre-hooks see the tensor arguments (and may replace them), the forward hooks the tensor outputs (and may
/// replace them). Non-tensor arguments (masks given as bools, caches, ...) are passed through as they are.
/// @throws graft::Error when the module is retired (replaced by surgery).
template <class M, class... Args>
  requires std::derived_from<M, Module>
auto call(M& module, Args&&... args) -> decltype(module.forward(std::forward<Args>(args)...)) {
  using Result = decltype(module.forward(std::forward<Args>(args)...));
  Module::CallScope scope(module);
  if (!module.has_forward_hooks()) return module.forward(std::forward<Args>(args)...);
  TensorList inputs;
  (
      [&] {
        if constexpr (detail::is_tensor_arg<Args>) inputs.push_back(args);
      }(),
      ...);
  scope.pre(inputs);
  size_t next = 0;
  auto pick = [&]<class A>(A&& a) -> decltype(auto) {
    if constexpr (detail::is_tensor_arg<A>) return static_cast<const Tensor&>(inputs[next++]);
    else return std::forward<A>(a);
  };
  /// A braced list evaluates left to right, so the tensor arguments are picked in order.
  std::tuple<std::conditional_t<detail::is_tensor_arg<Args>, const Tensor&, Args&&>...> picked{
      pick(std::forward<Args>(args))...};
  Result result = std::apply(
      [&](auto&&... a) -> Result { return module.forward(std::forward<decltype(a)>(a)...); }, std::move(picked));
  if (auto replaced = scope.post(inputs, detail::tensors_of(result)))
    detail::replace_tensors(result, *replaced, module.type_name());
  return result;
}

/// A typed handle to a registered child: it reaches the module in its parent's slot at each use, so after
/// surgery it reaches the replacement (as long as that is an M too; else using it raises). Calling it,
/// `child(x)`, runs nn::call (hooks included); `child->member` and `*child` reach the module itself.
template <class M>
class Child {
 public:
  Child() = default;
  explicit Child(std::shared_ptr<ModuleSlot> slot) : slot_(std::move(slot)) {}

  /// The module in the slot. @throws graft::Error when the handle is empty or the slot holds another type.
  M* get() const {
    GRAFT_CHECK(slot_ != nullptr, "Child: the handle is empty (the child was never registered)");
    Module* m = slot_->module.get();
    M* typed = dynamic_cast<M*>(m);
    if (!typed) [[unlikely]] wrong_type(*m);
    return typed;
  }
  M* operator->() const { return get(); }
  M& operator*() const { return *get(); }
  /// The module in the slot, sharing its ownership.
  std::shared_ptr<M> ptr() const { return std::shared_ptr<M>(slot_->module, get()); }
  operator std::shared_ptr<M>() const { return ptr(); }  // NOLINT: implicit, so existing shared_ptr code reads it
  /// The same slot as a handle to a base class.
  template <class Base>
    requires std::derived_from<M, Base>
  operator Child<Base>() const {  // NOLINT: implicit, as shared_ptr<Derived> converts to shared_ptr<Base>
    return Child<Base>(slot_);
  }
  explicit operator bool() const { return slot_ && slot_->module; }
  /// The child's name in its parent.
  const std::string& name() const { return slot_->name; }
  const std::shared_ptr<ModuleSlot>& slot() const { return slot_; }

  template <class... Args>
  decltype(auto) operator()(Args&&... args) const {
    return call(*get(), std::forward<Args>(args)...);
  }

 private:
  [[noreturn]] void wrong_type(const Module& m) const {
    GRAFT_FAIL("child '{}' must be a {}, got a {} (a replacement of another type? hold it as Child<Module> or as a "
               "base class both share)",
               slot_->name, short_type_name(typeid(M)), m.type_name());
  }
  std::shared_ptr<ModuleSlot> slot_;
};

}  // namespace graft::nn
