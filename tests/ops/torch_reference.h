#pragma once
// Reads the reference values that the scripts in tests/reference/ computed with PyTorch: tensors are
// stored as {"shape": [...], "data": [...]}, with "nan", "inf" and "-inf" spelled as strings.
#include <nlohmann/json.hpp>

#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "graft/graft.h"
#include "support/reference_json.h"

namespace graft::testing::torch_reference {

using graft::testing::reference_json;  // the parsed file tests/reference/<name>, read once

inline Tensor to_tensor(const nlohmann::json& j, DType dtype = kFloat64) {
  std::vector<double> values;
  for (const auto& v : j.at("data")) {
    if (v.is_string()) {
      const std::string s = v.get<std::string>();
      values.push_back(s == "nan" ? std::numeric_limits<double>::quiet_NaN()
                       : s == "inf" ? std::numeric_limits<double>::infinity()
                                    : -std::numeric_limits<double>::infinity());
    } else {
      values.push_back(v.get<double>());
    }
  }
  std::vector<int64_t> shape = j.at("shape").get<std::vector<int64_t>>();
  return tensor(values, shape, dtype);
}

}  // namespace graft::testing::torch_reference
