// Replays the cases of tests/reference/core_ops.json (made by tests/reference/core_ops.py with PyTorch
// 1.13) through graft: outputs and input gradients, for the recorded upstream gradients, must match
// PyTorch's to rtol 1e-6 in float64 (NaN matching NaN, infinities matching in sign).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "support/op_registry.h"

using namespace graft;
using json = nlohmann::json;

namespace {

json load_cases() {
  std::ifstream in(GRAFT_SOURCE_DIR "/tests/reference/core_ops.json");
  if (!in) throw std::runtime_error("cannot open tests/reference/core_ops.json");
  return json::parse(in);
}

double decode_value(const json& v) {
  if (v.is_number()) return v.get<double>();
  const std::string s = v.get<std::string>();
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf") return -std::numeric_limits<double>::infinity();
  throw std::runtime_error("bad value " + s);
}

Shape shape_of(const json& j) {
  const std::vector<int64_t> v = j.get<std::vector<int64_t>>();
  return Shape(v.begin(), v.end());
}

Tensor decode(const json& j) {
  if (j.is_null()) return {};
  const Shape shape = shape_of(j["shape"]);
  const std::string dt = j["dtype"];
  if (dt == "int64") return tensor(j["values"].get<std::vector<int64_t>>(), {}, kInt64).reshape(shape);
  std::vector<double> v;
  for (const json& x : j["values"]) v.push_back(decode_value(x));
  return tensor(v, {static_cast<int64_t>(v.size())}, kFloat64).reshape(shape);
}

Shape dims_arg(const json& args, const char* key = "dims") { return args[key].is_null() ? Shape{} : shape_of(args[key]); }
std::optional<Scalar> optional_scalar(const json& v) {
  if (v.is_null()) return std::nullopt;
  return Scalar(v.get<double>());
}

using OpFn = std::function<TensorList(const TensorList&, const json&)>;

// graft's counterpart of each case's "op".
const std::map<std::string, OpFn>& ops() {
  static const std::map<std::string, OpFn> table = {
      {"matmul", [](const TensorList& in, const json&) { return TensorList{matmul(in[0], in[1])}; }},
      {"matmul_tt", [](const TensorList& in, const json&) { return TensorList{matmul(in[0].t(), in[1].t())}; }},
      {"mm", [](const TensorList& in, const json&) { return TensorList{mm(in[0], in[1])}; }},
      {"bmm", [](const TensorList& in, const json&) { return TensorList{bmm(in[0], in[1])}; }},
      {"dot", [](const TensorList& in, const json&) { return TensorList{dot(in[0], in[1])}; }},
      {"var",
       [](const TensorList& in, const json& a) {
         return TensorList{a["dims"].is_null() ? var(in[0], a["unbiased"].get<bool>())
                                               : var(in[0], dims_arg(a), a["unbiased"].get<bool>(), a["keepdim"].get<bool>())};
       }},
      {"std",
       [](const TensorList& in, const json& a) {
         return TensorList{a["dims"].is_null() ? graft::std(in[0], a["unbiased"].get<bool>())
                                               : graft::std(in[0], dims_arg(a), a["unbiased"].get<bool>(), a["keepdim"].get<bool>())};
       }},
      {"logsumexp",
       [](const TensorList& in, const json& a) { return TensorList{logsumexp(in[0], dims_arg(a), a["keepdim"].get<bool>())}; }},
      {"max_dim",
       [](const TensorList& in, const json& a) {
         auto [v, i] = max(in[0], a["dim"].get<int64_t>(), a["keepdim"].get<bool>());
         return TensorList{v, i};
       }},
      {"min_dim",
       [](const TensorList& in, const json& a) {
         auto [v, i] = min(in[0], a["dim"].get<int64_t>(), a["keepdim"].get<bool>());
         return TensorList{v, i};
       }},
      {"max", [](const TensorList& in, const json&) { return TensorList{max(in[0])}; }},
      {"min", [](const TensorList& in, const json&) { return TensorList{min(in[0])}; }},
      {"amax", [](const TensorList& in, const json& a) { return TensorList{amax(in[0], dims_arg(a), a["keepdim"].get<bool>())}; }},
      {"amin", [](const TensorList& in, const json& a) { return TensorList{amin(in[0], dims_arg(a), a["keepdim"].get<bool>())}; }},
      {"argmax",
       [](const TensorList& in, const json& a) {
         std::optional<int64_t> dim;
         if (!a["dim"].is_null()) dim = a["dim"].get<int64_t>();
         return TensorList{argmax(in[0], dim, a["keepdim"].get<bool>())};
       }},
      {"argmin",
       [](const TensorList& in, const json& a) {
         std::optional<int64_t> dim;
         if (!a["dim"].is_null()) dim = a["dim"].get<int64_t>();
         return TensorList{argmin(in[0], dim, a["keepdim"].get<bool>())};
       }},
      {"sum", [](const TensorList& in, const json& a) { return TensorList{sum(in[0], dims_arg(a), a["keepdim"].get<bool>())}; }},
      {"mean", [](const TensorList& in, const json& a) { return TensorList{mean(in[0], dims_arg(a), a["keepdim"].get<bool>())}; }},
      {"sum_to", [](const TensorList& in, const json& a) { return TensorList{sum_to(in[0], shape_of(a["shape"]))}; }},
      {"expand", [](const TensorList& in, const json& a) { return TensorList{expand(in[0], shape_of(a["shape"]))}; }},
      {"pow_scalar", [](const TensorList& in, const json& a) { return TensorList{pow(in[0], a["exponent"].get<double>())}; }},
      {"pow_tensor", [](const TensorList& in, const json&) { return TensorList{pow(in[0], in[1])}; }},
      {"pow_scalar_base", [](const TensorList& in, const json& a) { return TensorList{pow(a["base"].get<double>(), in[0])}; }},
      {"clamp",
       [](const TensorList& in, const json& a) { return TensorList{clamp(in[0], optional_scalar(a["min"]), optional_scalar(a["max"]))}; }},
      {"maximum", [](const TensorList& in, const json&) { return TensorList{maximum(in[0], in[1])}; }},
      {"minimum", [](const TensorList& in, const json&) { return TensorList{minimum(in[0], in[1])}; }},
      {"gather", [](const TensorList& in, const json& a) { return TensorList{gather(in[0], a["dim"].get<int64_t>(), in[1])}; }},
      {"scatter_add",
       [](const TensorList& in, const json& a) { return TensorList{scatter_add(in[0], a["dim"].get<int64_t>(), in[1], in[2])}; }},
      {"index_select",
       [](const TensorList& in, const json& a) { return TensorList{index_select(in[0], a["dim"].get<int64_t>(), in[1])}; }},
      {"index_add",
       [](const TensorList& in, const json& a) { return TensorList{index_add(in[0], a["dim"].get<int64_t>(), in[1], in[2])}; }},
      {"tril", [](const TensorList& in, const json& a) { return TensorList{tril(in[0], a["diagonal"].get<int64_t>())}; }},
      {"triu", [](const TensorList& in, const json& a) { return TensorList{triu(in[0], a["diagonal"].get<int64_t>())}; }},
      {"split_use",
       [](const TensorList& in, const json& a) {
         std::vector<Tensor> ps = split(in[0], a["split_size"].get<int64_t>(), a["dim"].get<int64_t>());
         TensorList out;
         for (size_t k = 0; k < ps.size(); ++k)
           if (k != 1) out.push_back(ps[k] * static_cast<double>(k + 1));
         return out;
       }},
      {"cat_t", [](const TensorList& in, const json&) { return TensorList{cat({in[0].t(), in[1]}, 1)}; }},
      {"stack", [](const TensorList& in, const json& a) { return TensorList{stack({in[0], in[1]}, a["dim"].get<int64_t>())}; }},
      {"reuse",
       [](const TensorList& in, const json&) {
         const Tensor& a = in[0];
         return TensorList{sum(a * a, {1}) + mean(matmul(a, a.t()), {0}) + amax(a.t(), {0}) + logsumexp(a, {1})};
       }},
      {"permute_reshape", [](const TensorList& in, const json&) { return TensorList{in[0].permute({2, 0, 1}).reshape({4, 6}) * 2.0}; }},
  };
  return table;
}

// |got - want| <= 1e-12 + 1e-6 |want|, with NaN == NaN and infinities equal in sign.
void expect_matches(const Tensor& got, const json& want_json, const std::string& what) {
  Tensor want = decode(want_json);
  ASSERT_TRUE(got.defined()) << what << " is undefined";
  ASSERT_EQ(got.shape(), want.shape()) << what;
  if (want.dtype() == kInt64) {
    EXPECT_EQ(got.dtype(), kInt64) << what;
    EXPECT_EQ(got.to_vector<int64_t>(), want.to_vector<int64_t>()) << what;
    return;
  }
  EXPECT_EQ(got.dtype(), kFloat64) << what;
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::isnan(w[i])) {
      EXPECT_TRUE(std::isnan(g[i])) << what << " element " << i << ": got " << g[i] << ", PyTorch has NaN";
    } else if (std::isinf(w[i])) {
      EXPECT_EQ(g[i], w[i]) << what << " element " << i;
    } else {
      EXPECT_NEAR(g[i], w[i], 1e-12 + 1e-6 * std::abs(w[i])) << what << " element " << i;
    }
  }
}

TEST(TorchReference, EveryCaseMatchesPyTorch) {
  const json data = load_cases();
  ASSERT_GT(data["cases"].size(), 50u);
  for (const json& c : data["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    auto op = ops().find(c["op"].get<std::string>());
    ASSERT_NE(op, ops().end()) << "no graft counterpart for op " << c["op"];

    TensorList inputs, wrt;
    std::vector<size_t> wrt_index;
    for (size_t i = 0; i < c["inputs"].size(); ++i) {
      Tensor x = decode(c["inputs"][i]);
      if (is_floating(x.dtype())) {
        x.requires_grad_(true);
        wrt.push_back(x);
        wrt_index.push_back(i);
      }
      inputs.push_back(x);
    }
    TensorList outputs = op->second(inputs, c["args"]);
    ASSERT_EQ(outputs.size(), c["outputs"].size());
    for (size_t i = 0; i < outputs.size(); ++i) expect_matches(outputs[i], c["outputs"][i], "output " + std::to_string(i));

    TensorList roots, seeds;
    for (size_t i = 0; i < outputs.size(); ++i)
      if (!c["grad_outputs"][i].is_null()) {
        ASSERT_TRUE(outputs[i].requires_grad()) << "output " << i;
        roots.push_back(outputs[i]);
        seeds.push_back(decode(c["grad_outputs"][i]));
      }
    if (roots.empty() || wrt.empty()) continue;
    TensorList grads = autograd::grad(roots, wrt, seeds, false, false, /*allow_unused=*/true);
    for (size_t k = 0; k < wrt.size(); ++k) {
      const json& want = c["grads"][wrt_index[k]];
      const std::string what = "gradient of input " + std::to_string(wrt_index[k]);
      if (want.is_null()) {
        if (grads[k].defined()) {
          EXPECT_EQ(sum(abs(grads[k])).item<double>(), 0.0) << what;
        }
        continue;
      }
      Tensor g = grads[k].defined() ? grads[k] : zeros(wrt[k].shape(), kFloat64);
      expect_matches(g, want, what);
    }
  }
}

}  // namespace
