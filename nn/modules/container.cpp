#include "graft/nn/modules/container.h"

namespace graft::nn {

Sequential::Sequential(std::initializer_list<ModulePtr> modules) : Module("Sequential") {
  for (const ModulePtr& m : modules) push_back(m);
}

void Sequential::push_back(ModulePtr module) { add_child(std::to_string(size()), std::move(module)); }

ModulePtr Sequential::operator[](size_t index) const {
  GRAFT_CHECK(index < size(), "Sequential: index {} is out of range for {} modules", index, size());
  return child_slots()[index]->module;
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& slot : child_slots()) x = (*slot->module)(x);
  return x;
}

ModuleList::ModuleList(std::initializer_list<ModulePtr> modules) : Module("ModuleList") {
  for (const ModulePtr& m : modules) push_back(m);
}

void ModuleList::push_back(ModulePtr module) { add_child(std::to_string(size()), std::move(module)); }

ModulePtr ModuleList::operator[](size_t index) const {
  GRAFT_CHECK(index < size(), "ModuleList: index {} is out of range for {} modules", index, size());
  return child_slots()[index]->module;
}

}  // namespace graft::nn
