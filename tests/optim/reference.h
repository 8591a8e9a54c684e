#pragma once
// Reading tests/reference/optim.json (written by tests/reference/optim.py with PyTorch 1.13).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "graft/graft.h"
#include "support/reference_json.h"

namespace graft::testing {

inline const nlohmann::json& optim_reference() { return reference_json("optim.json"); }

// A number that optim.py may have written as "inf"/"-inf".
inline double json_number(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>() == "inf" ? INFINITY : -INFINITY;
  return v.get<double>();
}

// A problem tensor ("W", "b", "c", "X", "Y") in `dtype`.
inline Tensor problem_tensor(const std::string& name, DType dtype) {
  const nlohmann::json& e = optim_reference()["problem"][name];
  return tensor(e["values"].get<std::vector<double>>(), e["shape"].get<std::vector<int64_t>>(), dtype);
}

inline void expect_close(const std::vector<double>& actual, const std::vector<double>& expected, double rtol,
                         double atol, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_LE(std::abs(actual[i] - expected[i]), atol + rtol * std::abs(expected[i]))
        << what << " element " << i << fmt::format(": graft {}, torch {}", actual[i], expected[i]);
}

}  // namespace graft::testing
