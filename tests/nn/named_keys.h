#pragma once
// The names of a named list (named_parameters(), named_buffers(), a StateDict), in order.
#include <string>
#include <vector>

#include "graft/nn/module.h"

namespace graft::testing {

template <class T>
std::vector<std::string> keys(const nn::Named<T>& named) {
  std::vector<std::string> out;
  for (const auto& [k, v] : named) out.push_back(k);
  return out;
}

}  // namespace graft::testing
