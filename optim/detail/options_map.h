#pragma once
// Reading hyperparameters back from OptimizerOptions::to_map() output (optimizer implementations only).
#include <map>
#include <string>

#include "graft/graph/error.h"

namespace graft::optim::detail {

inline double map_value(const std::map<std::string, double>& values, const char* optimizer, const char* key) {
  auto it = values.find(key);
  GRAFT_CHECK(it != values.end(), "{}Options: the saved hyperparameters lack '{}'", optimizer, key);
  return it->second;
}

}  // namespace graft::optim::detail
