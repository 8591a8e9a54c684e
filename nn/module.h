#pragma once
// nn::Module: the torch.nn.Module of graft. A module owns named parameters, buffers and child modules,
// and everything that walks a model (parameters(), state_dict(), train()/eval(), to(), apply()) follows
// the registration order, with dotted names ("blocks.0.attn.q_proj.weight") as in PyTorch.
//
// Modules are held by std::shared_ptr, as in the PyTorch C++ frontend, so one module can sit in several
// containers. A module's forward usually takes one tensor; those override `forward(const Tensor&)` so
// that containers such as Sequential can call them. Modules with other signatures (attention) define
// their own forward overloads. Forward hooks run around every graft module's forward (ForwardCall).
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graft/graph/tensor.h"

namespace graft::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;
template <class T>
using Named = std::vector<std::pair<std::string, T>>;
// An ordered state dict: name -> tensor, in the order the model defines them.
using StateDict = Named<Tensor>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name = "Module");
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The class name shown when printing (e.g. "Linear").
  const std::string& type_name() const { return type_name_; }

  // ---- registration ----
  // Registers `t` as a parameter (a leaf that requires grad unless requires_grad is false) and returns it.
  // An undefined tensor registers an absent parameter (like `bias=None`), skipped everywhere.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // Registers a buffer (state that is not trained, e.g. running statistics). Non-persistent buffers are
  // left out of the state dict.
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // Replaces the child at a dotted path ("blocks.0.attn") in place; returns the module it replaced.
  ModulePtr replace_module(const std::string& path, ModulePtr replacement);

  // ---- access ----
  Tensor& parameter(const std::string& name);  // own parameter by name
  Tensor& buffer(const std::string& name);
  ModulePtr child(const std::string& name) const;
  // A descendant by dotted path ("" is this module).
  ModulePtr submodule(const std::string& path);

  TensorList parameters(bool recurse = true) const;
  Named<Tensor> named_parameters(bool recurse = true) const;
  TensorList buffers(bool recurse = true) const;
  Named<Tensor> named_buffers(bool recurse = true) const;
  std::vector<ModulePtr> children() const;
  Named<ModulePtr> named_children() const;
  std::vector<ModulePtr> modules();  // this module first, then all descendants, depth first
  Named<ModulePtr> named_modules(const std::string& prefix = "");

  // ---- state ----
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Casts floating parameters and buffers to `dtype` in place (every handle to them sees the change).
  void to(DType dtype);
  // PyTorch 1.13's default: gradients are zeroed in place; set_to_none drops them instead.
  void zero_grad(bool set_to_none = false);
  // Calls fn on every descendant (children first, depth first) and then on this module.
  void apply(const std::function<void(Module&)>& fn);

  // Parameters and persistent buffers, detached, module by module in registration order.
  StateDict state_dict() const;
  // Copies a state dict into the model. Missing keys, unexpected keys (with strict) and shape mismatches
  // are all listed in one graft::Error, and the model is left unchanged when loading fails.
  void load_state_dict(const StateDict& state, bool strict = true);

  // ---- forward ----
  // The forward of a single-tensor module; others raise.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  using ForwardPreHook = std::function<void(Module&)>;
  using ForwardHook = std::function<void(Module&)>;
  // Hooks run when a graft module's forward starts / ends (e.g. ZeRO stage 3 gathers and releases
  // parameters there). Return handles for remove_hook.
  size_t register_forward_pre_hook(ForwardPreHook hook);
  size_t register_forward_hook(ForwardHook hook);
  void remove_hook(size_t handle);

  // Every graft module's forward starts with `ForwardCall call(*this);`: it runs the pre-hooks now and
  // the forward hooks when the forward returns.
  class ForwardCall {
   public:
    explicit ForwardCall(Module& m);
    ~ForwardCall() noexcept(false);
    ForwardCall(const ForwardCall&) = delete;
    ForwardCall& operator=(const ForwardCall&) = delete;

   private:
    Module& module_;
    int exceptions_;
  };

  // ---- printing ----
  // The part inside the parentheses, e.g. "in_features=4, out_features=3, bias=True".
  virtual std::string extra_repr() const { return ""; }
  std::string repr() const;

 protected:
  void add_child(const std::string& name, ModulePtr module);

 private:
  void check_name(const std::string& kind, const std::string& name) const;
  void collect_state(const std::string& prefix, StateDict& out) const;

  std::string type_name_;
  bool training_ = true;
  Named<Tensor> parameters_;
  Named<Tensor> buffers_;
  std::vector<std::string> non_persistent_;
  Named<ModulePtr> children_;
  std::vector<std::pair<size_t, ForwardPreHook>> pre_hooks_;
  std::vector<std::pair<size_t, ForwardHook>> hooks_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace graft::nn
