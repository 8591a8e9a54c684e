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

Module::Module(Module&& other) noexcept
    : std::enable_shared_from_this<Module>(),
      type_name_(std::move(other.type_name_)),
      training_(other.training_),
      parameters_(std::move(other.parameters_)),
      buffers_(std::move(other.buffers_)),
      non_persistent_(std::move(other.non_persistent_)),
      children_(std::move(other.children_)),
      pre_hooks_(std::move(other.pre_hooks_)),
      hooks_(std::move(other.hooks_)),
      retired_(std::move(other.retired_)) {}

ModulePtr Module::self() {
  // A module on the stack (or a member) is not owned by a shared_ptr: it is handed out without ownership.
  if (ModulePtr owned = weak_from_this().lock()) return owned;
  return ModulePtr(ModulePtr(), this);
}

void Module::check_name(const std::string& kind, const std::string& name) const {
  GRAFT_CHECK(!name.empty(), "{}: the name must not be empty", kind);
  GRAFT_CHECK(name.find('.') == std::string::npos, "{}: the name '{}' must not contain '.'", kind, name);
  const bool child_taken =
      std::any_of(children_.begin(), children_.end(), [&](const auto& slot) { return slot->name == name; });
  GRAFT_CHECK(!find_named(parameters_, name) && !find_named(buffers_, name) && !child_taken,
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

std::shared_ptr<ModuleSlot> Module::add_child(const std::string& name, ModulePtr module) {
  check_name("register_module", name);
  GRAFT_CHECK(module != nullptr, "register_module: module '{}' is null", name);
  module->reactivate();  // a retired module put back into a model runs again
  children_.push_back(std::make_shared<ModuleSlot>(ModuleSlot{name, std::move(module)}));
  return children_.back();
}

std::shared_ptr<ModuleSlot> Module::find_slot(const std::string& name) const {
  for (const auto& slot : children_)
    if (slot->name == name) return slot;
  GRAFT_FAIL("child: {} has no child module '{}'", type_name_, name);
}

ModulePtr Module::replace_module(const std::string& path, ModulePtr replacement) {
  GRAFT_CHECK(replacement != nullptr, "replace_module: the replacement for '{}' is null", path);
  std::vector<std::string> parts = split_path(path);
  GRAFT_CHECK(!parts.empty(), "replace_module: empty path");
  Module* parent = this;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    auto it = std::find_if(parent->children_.begin(), parent->children_.end(),
                           [&](const auto& slot) { return slot->name == parts[i]; });
    GRAFT_CHECK(it != parent->children_.end(), "replace_module: no submodule '{}' in {}", path, type_name_);
    parent = (*it)->module.get();
  }
  auto it = std::find_if(parent->children_.begin(), parent->children_.end(),
                         [&](const auto& slot) { return slot->name == parts.back(); });
  GRAFT_CHECK(it != parent->children_.end(), "replace_module: no submodule '{}' in {}", path, type_name_);
  ModulePtr old = (*it)->module;
  (*it)->module = std::move(replacement);
  ModulePtr now = (*it)->module;
  now->reactivate();
  if (old != now) {
    bool still_used = false;  // another slot of this model may hold the old module too
    for (auto& [name, m] : named_modules())
      for (const auto& slot : m->children_) still_used |= slot->module == old;
    if (!still_used) old->retire(path, now->type_name());
  }
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

ModulePtr Module::child(const std::string& name) const { return find_slot(name)->module; }

ModulePtr Module::submodule(const std::string& path) {
  ModulePtr m = self();
  if (path.empty()) return m;
  for (const std::string& part : split_path(path)) {
    auto it = std::find_if(m->children_.begin(), m->children_.end(), [&](const auto& slot) { return slot->name == part; });
    GRAFT_CHECK(it != m->children_.end(), "submodule: no submodule '{}' in {}", path, type_name_);
    m = (*it)->module;
  }
  return m;
}

Named<ModulePtr> Module::named_modules(const std::string& prefix) {
  // Depth first, each module once (a module shared by two parents is listed under its first name).
  Named<ModulePtr> out;
  std::set<const Module*> seen;
  std::vector<std::pair<std::string, ModulePtr>> stack{{prefix, self()}};
  while (!stack.empty()) {
    auto [name, m] = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(m.get()).second) continue;
    out.emplace_back(name, m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(join_name(name, (*it)->name), (*it)->module);
  }
  return out;
}

std::vector<ModulePtr> Module::modules() {
  std::vector<ModulePtr> out;
  for (auto& [name, m] : named_modules()) out.push_back(m);
  return out;
}

Named<ModulePtr> Module::named_children() const {
  Named<ModulePtr> out;
  for (const auto& slot : children_) out.emplace_back(slot->name, slot->module);
  return out;
}

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> out;
  for (const auto& slot : children_) out.push_back(slot->module);
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
  for (const auto& slot : children_) slot->module->train(on);
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
  for (const auto& slot : children_) slot->module->apply(fn);
  fn(*this);
}

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  for (const auto& [name, t] : parameters_)
    if (t.defined()) out.emplace_back(join_name(prefix, name), t.detach());
  for (const auto& [name, t] : buffers_)
    if (t.defined() && std::find(non_persistent_.begin(), non_persistent_.end(), name) == non_persistent_.end())
      out.emplace_back(join_name(prefix, name), t.detach());
  for (const auto& slot : children_) slot->module->collect_state(join_name(prefix, slot->name), out);
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

Tensor Module::operator()(const Tensor& input) { return call(*this, input); }

size_t Module::add_pre_hook(ForwardPreHook hook) {
  size_t h = next_hook_handle++;
  pre_hooks_.emplace_back(h, std::move(hook));
  return h;
}

size_t Module::add_hook(ForwardHook hook) {
  size_t h = next_hook_handle++;
  hooks_.emplace_back(h, std::move(hook));
  return h;
}

void Module::remove_hook(size_t handle) {
  std::erase_if(pre_hooks_, [handle](const auto& h) { return h.first == handle; });
  std::erase_if(hooks_, [handle](const auto& h) { return h.first == handle; });
}

void Module::retire(const std::string& path, const std::string& by) { retired_ = Retired{path, by}; }

void Module::check_not_retired() const {
  if (!retired_) [[likely]] return;
  GRAFT_FAIL("{}: this module was replaced at '{}' by {} (model surgery), but was called through a reference kept "
             "from before the replacement (e.g. a std::shared_ptr member of its parent), which would silently keep "
             "using and training the old module. Hold children as nn::Child<T> (what register_module returns) or "
             "reach them with child(name); to run the old module on purpose, call its reactivate()",
             type_name_, retired_->path, retired_->by);
}

// ---------------------------------------------------------------- calls

namespace {

// The modules being called on this thread, innermost last: a call is named by its slot in the caller.
thread_local std::vector<const Module*> call_stack;

// The module's dotted path below the module calling it, found breadth first (a block called by a model
// through a ModuleList that is never called itself is "layers.3"); its type name when the caller does not
// hold it.
std::string name_in_caller(const Module& m) {
  if (call_stack.empty()) return "";
  std::vector<std::pair<std::string, const Module*>> level{{"", call_stack.back()}};
  for (int depth = 0; depth < 8 && !level.empty(); ++depth) {
    std::vector<std::pair<std::string, const Module*>> next;
    for (const auto& [prefix, parent] : level)
      for (const auto& slot : parent->child_slots()) {
        const std::string path = prefix.empty() ? slot->name : prefix + "." + slot->name;
        if (slot->module.get() == &m) return path;
        next.emplace_back(path, slot->module.get());
      }
    level = std::move(next);
  }
  return m.type_name();
}

}  // namespace

// The comma expression checks the module before the scope is opened.
Module::CallScope::CallScope(Module& m)
    : module_((m.check_not_retired(), m)), scope_(name_in_caller(m), m.type_name()) {
  call_stack.push_back(&m);
}

Module::CallScope::~CallScope() { call_stack.pop_back(); }

void Module::CallScope::pre(TensorList& inputs) {
  for (auto& [handle, hook] : module_.pre_hooks_) {
    std::optional<TensorList> replaced = hook(module_, inputs);
    if (!replaced) continue;
    GRAFT_CHECK(replaced->size() == inputs.size(),
                "{}: a forward pre-hook returned {} inputs for a call with {} tensor arguments", module_.type_name_,
                replaced->size(), inputs.size());
    inputs = std::move(*replaced);
  }
}

std::optional<TensorList> Module::CallScope::post(const TensorList& inputs, const TensorList& outputs) {
  std::optional<TensorList> current;
  for (auto& [handle, hook] : module_.hooks_) {
    std::optional<TensorList> replaced = hook(module_, inputs, current ? *current : outputs);
    if (!replaced) continue;
    GRAFT_CHECK(replaced->size() == outputs.size(), "{}: a forward hook returned {} outputs for a call with {}",
                module_.type_name_, replaced->size(), outputs.size());
    current = std::move(replaced);
  }
  return current;
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
  for (const auto& slot : children_) lines.push_back("(" + slot->name + "): " + indent(slot->module->repr()));
  if (lines.empty()) return type_name_ + "()";
  std::string s = type_name_ + "(";
  for (const std::string& line : lines) s += "\n  " + line;
  return s + "\n)";
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

}  // namespace graft::nn
