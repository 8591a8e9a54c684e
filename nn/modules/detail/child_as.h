#pragma once
// Children reached through the module's registry rather than member pointers taken at construction, so
// that a child swapped by Module::replace_module (model surgery) is the one that runs.
#include <memory>
#include <string>

#include "graft/nn/module.h"

namespace graft::nn::detail {

// The child `name` of `parent` as an M (named `expected` in the error when it is not one).
template <class M>
std::shared_ptr<M> child_as(const Module& parent, const std::string& name, const char* expected) {
  ModulePtr c = parent.child(name);
  auto typed = std::dynamic_pointer_cast<M>(c);
  GRAFT_CHECK(typed != nullptr, "{}: child '{}' must be a {}, got a {}", parent.type_name(), name, expected,
              c->type_name());
  return typed;
}

}  // namespace graft::nn::detail
