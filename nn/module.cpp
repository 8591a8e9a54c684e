#include "graft/nn/module.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <ostream>
#include <set>
#include <sstream>

#include "graft/graph/grad_mode.h"
#include "graft/graph/copy.h"

namespace graft::nn {

namespace {

std::atomic<size_t> next_hook_handle{1};

template <class T>
T* find_named(Named<T>& list, const std::string& name) {
  for (auto& [n, v] : list)
    if (n == name) return &v;
  return nullptr;
}
template <class T>
const T* find_named(const Named<T>& list, const std::string& name) {
  for (const auto& [n, v] : list)
    if (n == name) return &v;
  return nullptr;
}

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(path);
  while (std::getline(in, part, '.')) parts.push_back(part);
  return parts;
}

}  // namespace

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

void Module::check_name(const std::string& kind, const std::string& name) const {
  GRAFT_CHECK(!name.empty(), "{}: the name must not be empty", kind);
  GRAFT_CHECK(name.find('.') == std::string::npos, "{}: the name '{}' must not contain '.'", kind, name);
  GRAFT_CHECK(!find_named(parameters_, name) && !find_named(buffers_, name) && !find_named(children_, name),
              "{}: '{}' already exists in {}", kind, name, type_name_);
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_name("register_parameter", name);
  if (t.defined()) {
    GRAFT_CHECK(t.is_leaf(), "register_parameter: '{}' must be a leaf tensor (detach it first)", name);
    if (requires_grad) t.requires_grad_(true);
  }
  parameters_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  check_name("register_buffer", name);
  buffers_.emplace_back(name, t);
  if (!persistent) non_persistent_.push_back(name);
  return t;
}

void Module::add_child(const std::string& name, ModulePtr module) {
  check_name("register_module", name);
  GRAFT_CHECK(module != nullptr, "register_module: module '{}' is null", name);
  children_.emplace_back(name, std::move(module));
}

ModulePtr Module::replace_module(const std::string& path, ModulePtr replacement) {
  GRAFT_CHECK(replacement != nullptr, "replace_module: the replacement for '{}' is null", path);
  std::vector<std::string> parts = split_path(path);
  GRAFT_CHECK(!parts.empty(), "replace_module: empty path");
  Module* parent = this;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    ModulePtr* next = find_named(parent->children_, parts[i]);
    GRAFT_CHECK(next, "replace_module: no submodule '{}' in {}", path, type_name_);
    parent = next->get();
  }
  ModulePtr* slot = find_named(parent->children_, parts.back());
  GRAFT_CHECK(slot, "replace_module: no submodule '{}' in {}", path, type_name_);
  ModulePtr old = *slot;
  *slot = std::move(replacement);
  return old;
}

Tensor& Module::parameter(const std::string& name) {
  Tensor* t = find_named(parameters_, name);
  GRAFT_CHECK(t, "parameter: {} has no parameter '{}'", type_name_, name);
  return *t;
}

Tensor& Module::buffer(const std::string& name) {
  Tensor* t = find_named(buffers_, name);
  GRAFT_CHECK(t, "buffer: {} has no buffer '{}'", type_name_, name);
  return *t;
}

ModulePtr Module::child(const std::string& name) const {
  const ModulePtr* m = find_named(children_, name);
  GRAFT_CHECK(m, "child: {} has no child module '{}'", type_name_, name);
  return *m;
}

ModulePtr Module::submodule(const std::string& path) {
  ModulePtr m = shared_from_this();
  if (path.empty()) return m;
  for (const std::string& part : split_path(path)) {
    const ModulePtr* next = find_named(m->children_, part);
    GRAFT_CHECK(next, "submodule: no submodule '{}' in {}", path, type_name_);
    m = *next;
  }
  return m;
}

Named<ModulePtr> Module::named_modules(const std::string& prefix) {
  // Depth first, each module once (a module shared by two parents is listed under its first name).
  Named<ModulePtr> out;
  std::set<const Module*> seen;
  std::vector<std::pair<std::string, ModulePtr>> stack{{prefix, shared_from_this()}};
  while (!stack.empty()) {
    auto [name, m] = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(m.get()).second) continue;
    out.emplace_back(name, m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(join_name(name, it->first), it->second);
  }
  return out;
}

std::vector<ModulePtr> Module::modules() {
  std::vector<ModulePtr> out;
  for (auto& [name, m] : named_modules()) out.push_back(m);
  return out;
}

Named<ModulePtr> Module::named_children() const { return children_; }

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> out;
  for (const auto& [name, m] : children_) out.push_back(m);
  return out;
}

namespace {

// The defined tensors of `own` (parameters_ or buffers_) of `root` and, with recurse, of its descendants,
// each one once, named by their dotted path.
Named<Tensor> collect_named(const Module& root, Named<Tensor> Module::*own, bool recurse) {
  Named<Tensor> out;
  std::set<const TensorImpl*> seen;
  auto add_own = [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : m.*own)
      if (t.defined() && seen.insert(t.impl()).second) out.emplace_back(join_name(prefix, name), t);
  };
  if (!recurse) {
    add_own("", root);
    return out;
  }
  for (auto& [prefix, m] : const_cast<Module&>(root).named_modules()) add_own(prefix, *m);
  return out;
}

TensorList values_of(const Named<Tensor>& named) {
  TensorList out;
  for (auto& [name, t] : named) out.push_back(t);
  return out;
}

}  // namespace

Named<Tensor> Module::named_parameters(bool recurse) const { return collect_named(*this, &Module::parameters_, recurse); }

TensorList Module::parameters(bool recurse) const { return values_of(named_parameters(recurse)); }

Named<Tensor> Module::named_buffers(bool recurse) const { return collect_named(*this, &Module::buffers_, recurse); }

TensorList Module::buffers(bool recurse) const { return values_of(named_buffers(recurse)); }

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, m] : children_) m->train(on);
}

void Module::to(DType dtype) {
  GRAFT_CHECK(is_floating(dtype), "Module::to: can only cast to a floating dtype, got {}", dtype_name(dtype));
  NoGradGuard no_grad;
  auto cast = [dtype](Tensor& t) {
    if (!t.defined() || !is_floating(t.dtype()) || t.dtype() == dtype) return;
    Tensor grad = t.grad();
    t.impl()->set_data(*loops::copy_as(t, dtype).impl());
    if (grad.defined()) t.mutable_grad() = loops::copy_as(grad, dtype);
  };
  for (auto& [name, m] : named_modules()) {
    for (auto& [n, t] : m->parameters_) cast(t);
    for (auto& [n, t] : m->buffers_) cast(t);
  }
}

void Module::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (Tensor p : parameters()) {
    Tensor& g = p.mutable_grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      g = Tensor();
    } else {
      if (g.grad_fn()) g = g.detach();
      g.zero_();
    }
  }
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [name, m] : children_) m->apply(fn);
  fn(*this);
}

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  for (const auto& [name, t] : parameters_)
    if (t.defined()) out.emplace_back(join_name(prefix, name), t.detach());
  for (const auto& [name, t] : buffers_)
    if (t.defined() && std::find(non_persistent_.begin(), non_persistent_.end(), name) == non_persistent_.end())
      out.emplace_back(join_name(prefix, name), t.detach());
  for (const auto& [name, m] : children_) m->collect_state(join_name(prefix, name), out);
}

StateDict Module::state_dict() const {
  StateDict out;
  collect_state("", out);
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  // Validate everything first: a failed load must leave the model as it was.
  StateDict own = state_dict();
  std::vector<std::string> missing, unexpected, mismatched;
  std::vector<std::pair<Tensor, Tensor>> copies;
  for (const auto& [name, target] : own) {
    const Tensor* src = find_named(state, name);
    if (!src) {
      missing.push_back("\"" + name + "\"");
      continue;
    }
    if (!src->defined()) {
      mismatched.push_back(fmt::format("{}: the checkpoint holds an undefined tensor", name));
      continue;
    }
    if (!(src->shape() == target.shape())) {
      mismatched.push_back(fmt::format(
          "size mismatch for {}: copying a param with shape {} from checkpoint, the shape in current model is {}",
          name, shape_str(src->shape()), shape_str(target.shape())));
      continue;
    }
    copies.emplace_back(target, *src);
  }
  for (const auto& [name, t] : state)
    if (!find_named(own, name)) unexpected.push_back("\"" + name + "\"");
  const bool fails = !mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()));
  if (fails) {
    std::string msg = fmt::format("load_state_dict: Error(s) in loading state_dict for {}:", type_name_);
    if (strict && !missing.empty()) msg += fmt::format("\n  Missing key(s): {}.", fmt::join(missing, ", "));
    if (strict && !unexpected.empty()) msg += fmt::format("\n  Unexpected key(s): {}.", fmt::join(unexpected, ", "));
    for (const std::string& m : mismatched) msg += "\n  " + m + ".";
    throw Error(msg);
  }
  NoGradGuard no_grad;
  for (auto& [target, src] : copies) {
    Tensor t = target;  // a detached alias of the parameter's storage
    t.copy_(src);
  }
}

Tensor Module::forward(const Tensor&) {
  GRAFT_FAIL("{}: this module does not implement forward(const Tensor&); call its own forward overload", type_name_);
}

size_t Module::register_forward_pre_hook(ForwardPreHook hook) {
  size_t h = next_hook_handle++;
  pre_hooks_.emplace_back(h, std::move(hook));
  return h;
}

size_t Module::register_forward_hook(ForwardHook hook) {
  size_t h = next_hook_handle++;
  hooks_.emplace_back(h, std::move(hook));
  return h;
}

void Module::remove_hook(size_t handle) {
  std::erase_if(pre_hooks_, [handle](const auto& h) { return h.first == handle; });
  std::erase_if(hooks_, [handle](const auto& h) { return h.first == handle; });
}

Module::ForwardCall::ForwardCall(Module& m) : module_(m), exceptions_(std::uncaught_exceptions()) {
  for (auto& [h, fn] : module_.pre_hooks_) fn(module_);
}

Module::ForwardCall::~ForwardCall() noexcept(false) {
  if (std::uncaught_exceptions() > exceptions_) return;  // the forward failed: no post hooks
  for (auto& [h, fn] : module_.hooks_) fn(module_);
}

std::string Module::repr() const {
  // PyTorch's Module.__repr__: the extra_repr alone inside the parentheses when it is one line and there are
  // no children; otherwise every extra_repr line and then every child, one per line, indented by two.
  auto indent = [](const std::string& text) {
    std::string out;
    for (char c : text) {
      out += c;
      if (c == '\n') out += "  ";
    }
    return out;
  };
  std::vector<std::string> lines;
  const std::string extra = extra_repr();
  if (!extra.empty()) {
    std::istringstream in(extra);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  if (children_.empty() && lines.size() == 1) return type_name_ + "(" + lines[0] + ")";
  for (const auto& [name, m] : children_) lines.push_back("(" + name + "): " + indent(m->repr()));
  if (lines.empty()) return type_name_ + "()";
  std::string s = type_name_ + "(";
  for (const std::string& line : lines) s += "\n  " + line;
  return s + "\n)";
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

}  // namespace graft::nn
