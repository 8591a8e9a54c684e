#pragma once
// Containers: Sequential (children "0", "1", ... applied in order) and ModuleList (an indexable list).
#include <concepts>
#include <initializer_list>
#include <memory>
#include <type_traits>

#include "graft/nn/module.h"

namespace graft::nn {

namespace detail {
/// What a container accepts as a child: a shared_ptr to a module, a Child handle, or a module by value
/// (moved into a shared_ptr of its own).
template <class M>
constexpr bool is_module_argument =
    std::derived_from<std::remove_cvref_t<M>, Module> && !std::is_lvalue_reference_v<M>;
template <class M>
constexpr bool is_module_pointer = requires(M m) { ModulePtr(m); } || requires(M m) { ModulePtr(m.ptr()); };
template <class M>
ModulePtr to_module_ptr(M&& m) {
  if constexpr (is_module_argument<M>) return std::make_shared<std::remove_cvref_t<M>>(std::move(m));
  else if constexpr (requires { ModulePtr(m); }) return ModulePtr(std::forward<M>(m));
  else return ModulePtr(m.ptr());
}
}  // namespace detail

/// torch.nn.Sequential: children "0", "1", ... applied in order. Built from any mix of modules by value,
/// shared_ptrs and Child handles: `Sequential(Linear(2, 64), ReLU(), Linear(64, 1))`.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<ModulePtr> modules);
  template <class... Ms>
    requires(sizeof...(Ms) > 0 && ((detail::is_module_argument<Ms> || detail::is_module_pointer<Ms>) && ...))
  explicit Sequential(Ms&&... modules) : Module("Sequential") {
    (push_back(detail::to_module_ptr(std::forward<Ms>(modules))), ...);
  }
  /// Appends a child, named by its position.
  void push_back(ModulePtr module);
  template <class M>
    requires detail::is_module_argument<M>
  void push_back(M&& module) {
    push_back(detail::to_module_ptr(std::forward<M>(module)));
  }
  size_t size() const { return child_slots().size(); }
  /// The child at `index`. @throws graft::Error when out of range.
  ModulePtr operator[](size_t index) const;
  Tensor forward(const Tensor& input) override;

 protected:
  /// For subclasses that are Sequentials under another name (MLP).
  explicit Sequential(std::string type_name) : Module(std::move(type_name)) {}
};

/// torch.nn.ModuleList: an indexable list of children "0", "1", ... with no forward of its own.
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<ModulePtr> modules);
  template <class... Ms>
    requires(sizeof...(Ms) > 0 && ((detail::is_module_argument<Ms> || detail::is_module_pointer<Ms>) && ...))
  explicit ModuleList(Ms&&... modules) : Module("ModuleList") {
    (push_back(detail::to_module_ptr(std::forward<Ms>(modules))), ...);
  }
  void push_back(ModulePtr module);
  template <class M>
    requires detail::is_module_argument<M>
  void push_back(M&& module) {
    push_back(detail::to_module_ptr(std::forward<M>(module)));
  }
  size_t size() const { return child_slots().size(); }
  ModulePtr operator[](size_t index) const;
  /// The child at `index` as an M. @throws graft::Error when it is not one.
  template <class M>
  std::shared_ptr<M> at(size_t index) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[index]);
    GRAFT_CHECK(m != nullptr, "ModuleList::at: module {} is a {}, not the requested type", index, (*this)[index]->type_name());
    return m;
  }
};

}  // namespace graft::nn
