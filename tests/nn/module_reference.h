#pragma once
// Runs a graft module against a case of tests/reference/modules.json (written by modules.py with
// PyTorch 1.13): the same state dict, inputs and train/eval mode must give PyTorch's repr, outputs,
// gradients of sum(v * y) for the input and every parameter, and state dict afterwards (running stats).
// The float64 run must agree to 1e-10; a float32 run of a fresh module to float32 rounding.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "graft/graft.h"

namespace graft::testing {

// The case `name` of tests/reference/<file> (modules.json, or another file in its format).
inline const nlohmann::json& module_reference(const std::string& name, const std::string& file = "modules.json") {
  static std::map<std::string, nlohmann::json> files;
  auto it = files.find(file);
  if (it == files.end()) {
    std::ifstream in(std::string(GRAFT_SOURCE_DIR) + "/tests/reference/" + file);
    it = files.emplace(file, nlohmann::json::parse(in)).first;
  }
  const nlohmann::json& all = it->second;
  for (const auto& c : all["cases"])
    if (c["name"] == name) return c;
  if (all["reprs"].contains(name)) return all["reprs"][name];
  throw std::runtime_error("no case '" + name + "' in " + file);
}

inline Tensor reference_tensor(const nlohmann::json& e, std::optional<DType> floating = std::nullopt) {
  Shape shape;
  for (int64_t d : e["shape"]) shape.push_back(d);
  const DType dtype = e["dtype"] == "int64" ? kInt64 : floating.value_or(kFloat64);
  if (shape.empty()) return scalar_tensor(e["data"][0].get<double>(), dtype);  // a 0-dim tensor
  if (dtype == kInt64) return tensor(e["data"].get<std::vector<int64_t>>(), shape, kInt64);
  return tensor(e["data"].get<std::vector<double>>(), shape, floating.value_or(kFloat64));
}

inline nn::StateDict reference_state(const nlohmann::json& state) {
  nn::StateDict out;
  for (const auto& [k, v] : state.items()) out.emplace_back(k, reference_tensor(v));
  return out;
}

// The largest |a - b| - tol * |b| over the elements: <= atol means close.
inline ::testing::AssertionResult close_to(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (!(actual.shape() == expected.shape()))
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.shape()) << " vs " << shape_str(expected.shape());
  auto a = actual.to_vector<double>(), b = expected.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::abs(a[i] - b[i]) <= atol + rtol * std::abs(b[i])))
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

inline void run_reference_case(const std::string& name, const std::function<nn::ModulePtr()>& make, bool train,
                               DType dtype, double rtol, double atol, const std::string& file = "modules.json") {
  SCOPED_TRACE(name + " in " + std::string(dtype_name(dtype)));
  const nlohmann::json& c = module_reference(name, file);
  nn::ModulePtr m = make();
  EXPECT_EQ(m->repr(), c["repr"].get<std::string>());
  m->to(dtype);
  m->load_state_dict(reference_state(c["state"]));
  m->train(train);
  Tensor x, y;
  for (size_t i = 0; i < c["inputs"].size(); ++i) {
    x = reference_tensor(c["inputs"][i], dtype);
    if (x.is_floating_point()) x.requires_grad_(true);
    y = m->forward(x);
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_TRUE(close_to(y, reference_tensor(c["outputs"][i]), rtol, atol)) << "output " << i;
  }
  (y * reference_tensor(c["v"], dtype)).sum().backward();
  if (c.contains("input_grad")) {
    EXPECT_TRUE(close_to(x.grad(), reference_tensor(c["input_grad"]), rtol, atol)) << "input grad";
  }
  const auto params = m->named_parameters();
  ASSERT_EQ(params.size(), c["param_grads"].size());
  for (const auto& [k, p] : params) {
    ASSERT_TRUE(c["param_grads"].contains(k)) << k;
    EXPECT_TRUE(close_to(p.grad(), reference_tensor(c["param_grads"][k]), rtol, atol)) << "grad of " << k;
  }
  const nn::StateDict after = m->state_dict();
  ASSERT_EQ(after.size(), c["state_after"].size());
  for (const auto& [k, t] : after) {
    ASSERT_TRUE(c["state_after"].contains(k)) << k;
    Tensor expected = reference_tensor(c["state_after"][k]);
    EXPECT_EQ(t.dtype() == kInt64, expected.dtype() == kInt64) << k;
    EXPECT_TRUE(close_to(t, expected, rtol, atol)) << "state " << k;
  }
}

// The case in float64 (to 1e-10) and in float32 (to float32 rounding).
inline void check_against_pytorch(const std::string& name, const std::function<nn::ModulePtr()>& make,
                                  bool train = false, const std::string& file = "modules.json") {
  run_reference_case(name, make, train, kFloat64, 1e-10, 1e-10, file);
  run_reference_case(name, make, train, kFloat32, 2e-4, 2e-5, file);
}

}  // namespace graft::testing
