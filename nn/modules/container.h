#pragma once
// Containers: Sequential (children "0", "1", ... applied in order) and ModuleList (an indexable list).
#include <initializer_list>

#include "graft/nn/module.h"

namespace graft::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<ModulePtr> modules);
  void push_back(ModulePtr module);
  size_t size() const { return children().size(); }
  ModulePtr operator[](size_t index) const;
  Tensor forward(const Tensor& input) override;

 protected:
  // For subclasses that are Sequentials under another name (MLP).
  explicit Sequential(std::string type_name) : Module(std::move(type_name)) {}
};

class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<ModulePtr> modules);
  void push_back(ModulePtr module);
  size_t size() const { return children().size(); }
  ModulePtr operator[](size_t index) const;
  template <class M>
  std::shared_ptr<M> at(size_t index) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[index]);
    GRAFT_CHECK(m != nullptr, "ModuleList::at: module {} is a {}, not the requested type", index, (*this)[index]->type_name());
    return m;
  }
};

}  // namespace graft::nn
