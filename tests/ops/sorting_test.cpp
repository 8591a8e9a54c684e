// sort, argsort, topk: registry entries, PyTorch reference values (tests/reference/sorting.py) and behaviour.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "support/op_registry.h"
#include "support/errors.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TensorList pair(const std::tuple<Tensor, Tensor>& t) { return {std::get<0>(t), std::get<1>(t)}; }

// Distinct values (ties would make the gradient depend on the tie order, and finite differences jump there).
GRAFT_REGISTER_OP({.name = "sort", .samples = [](DType dt) {
  std::vector<Sample> s;
  for (bool desc : {false, true}) {
    s.push_back({std::string("2-D, last dim, descending=") + (desc ? "true" : "false"), {uniform({3, 5}, dt, -2, 2, 1)},
                 [desc](const TensorList& in) { return pair(sort(in[0], -1, desc)); }});
    s.push_back({std::string("3-D, dim 1, descending=") + (desc ? "true" : "false"), {uniform({2, 4, 3}, dt, -2, 2, 2)},
                 [desc](const TensorList& in) { return pair(sort(in[0], 1, desc)); }});
  }
  s.push_back({"transposed view", {uniform({4, 3}, dt, -2, 2, 3)}, [](const TensorList& in) { return pair(sort(in[0].t(), 0)); }});
  s.push_back({"0-dim", {uniform({}, dt, -2, 2, 4)}, [](const TensorList& in) { return pair(sort(in[0])); }});
  return s;
}});

GRAFT_REGISTER_OP({.name = "argsort", .samples = [](DType dt) {
  return std::vector<Sample>{sample("dim 0, descending", {uniform({4, 3}, dt, -2, 2, 1)}, [](const TensorList& in) { return argsort(in[0], 0, true); }),
                             sample("last dim", {uniform({2, 5}, dt, -2, 2, 2)}, [](const TensorList& in) { return argsort(in[0]); })};
}, .differentiable = false});

GRAFT_REGISTER_OP({.name = "topk", .samples = [](DType dt) {
  std::vector<Sample> s;
  for (bool largest : {true, false}) {
    s.push_back({std::string("k=2 last dim, largest=") + (largest ? "true" : "false"), {uniform({3, 6}, dt, -2, 2, 1)},
                 [largest](const TensorList& in) { return pair(topk(in[0], 2, -1, largest)); }});
    s.push_back({std::string("k=3 dim 1 unsorted, largest=") + (largest ? "true" : "false"), {uniform({2, 5, 3}, dt, -2, 2, 2)},
                 [largest](const TensorList& in) { return pair(topk(in[0], 3, 1, largest, false)); }});
  }
  s.push_back({"k = size", {uniform({4}, dt, -2, 2, 3)}, [](const TensorList& in) { return pair(topk(in[0], 4)); }});
  return s;
}});

// Non-finite numbers are written as the strings "nan", "inf", "-inf".
Tensor from_json(const nlohmann::json& j, DType floating) {
  std::vector<int64_t> shape = j["shape"].get<std::vector<int64_t>>();
  if (j["dtype"] == "int64") return tensor(j["data"].get<std::vector<int64_t>>(), shape, kInt64).reshape(shape);
  std::vector<double> v;
  for (const auto& x : j["data"]) {
    if (!x.is_string()) v.push_back(x.get<double>());
    else v.push_back(x == "nan" ? kNaN : x == "inf" ? kInf : -kInf);
  }
  return tensor(v, shape, floating).reshape(shape);
}

// Sorting moves values without arithmetic: they match exactly (in the dtype of the run).
void expect_same(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  EXPECT_TRUE(allclose(actual, expected, 0, 0, true)) << what << "\ngraft:   " << actual << "\nPyTorch: " << expected;
}

TEST(SortingReference, MatchesPyTorch) {
  nlohmann::json ref = reference_json("sorting.json");
  ASSERT_GE(ref["cases"].size(), 30u);
  for (DType dt : {kFloat64, kFloat32}) {
    for (const auto& c : ref["cases"]) {
      const std::string name = c["name"].get<std::string>() + (dt == kFloat64 ? " (f64)" : " (f32)");
      SCOPED_TRACE(name);
      Tensor x = from_json(c["input"], dt);
      const bool floating = is_floating(x.dtype());
      if (floating) x.requires_grad_();
      const auto& a = c["args"];
      const std::string op = c["op"];
      Tensor values, indices;
      if (op == "sort") std::tie(values, indices) = sort(x, a["dim"], a["descending"], true);
      else if (op == "argsort") indices = argsort(x, a["dim"], a["descending"], true);
      else std::tie(values, indices) = topk(x, a["k"], a["dim"], a["largest"]);
      expect_same(indices, from_json(c["indices"], dt), name + ": indices");
      if (!c.contains("values")) continue;
      expect_same(values, from_json(c["values"], dt), name + ": values");
      if (!c.contains("grad_input")) continue;
      Tensor g = autograd::grad({values}, {x}, {from_json(c["grad_output"], dt)})[0];
      EXPECT_TRUE(allclose(g.to(kFloat64), from_json(c["grad_input"], kFloat64), 1e-6, 1e-7)) << name << g;
    }
  }
}

TEST(Sort, IsStableAndPutsNaNLast) {
  Tensor x = tensor({2.0, kNaN, 1.0, 2.0, -kInf, 1.0}, {});
  auto [v, i] = sort(x);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{4, 2, 5, 0, 3, 1}));
  auto [vd, id] = sort(x, 0, true);
  EXPECT_EQ(id.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 3, 2, 5, 4}));
  EXPECT_TRUE(std::isnan(vd.at<double>({0})));
  EXPECT_EQ(argsort(x, -1, true).to_vector<int64_t>(), id.to_vector<int64_t>());
  // bool and empty inputs.
  auto [bv, bi] = sort(tensor({true, false, true}, {}));
  EXPECT_EQ(bv.to_vector<bool>(), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(bi.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(std::get<0>(sort(zeros({2, 0}), 1)).shape(), Shape({2, 0}));
}

TEST(Sort, GradientGoesBackToWhereEachValueCameFrom) {
  Tensor x = tensor({3.0, 1.0, 2.0}, {}, dtype(kFloat64).requires_grad());
  auto [v, i] = sort(x);
  (v * tensor({1.0, 10.0, 100.0}, {}, kFloat64)).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{100, 1, 10}));
  EXPECT_FALSE(i.requires_grad());
}

TEST(Topk, SelectsTheLargestOrSmallestAlongADim) {
  Tensor x = tensor({1.0, 5.0, 3.0, 4.0, 2.0, 0.0}, {2, 3});
  auto [v, i] = topk(x, 2);
  EXPECT_EQ(v.to_vector<double>(), (std::vector<double>{5, 3, 4, 2}));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 0, 1}));
  auto [vs, is] = topk(x, 1, 0, false);
  EXPECT_EQ(vs.shape(), Shape({1, 3}));
  EXPECT_EQ(vs.to_vector<double>(), (std::vector<double>{1, 2, 0}));
  // Unsorted: the k elements in the order they appear.
  auto [vu, iu] = topk(tensor({4.0, 9.0, 1.0, 7.0, 8.0}, {}), 3, -1, true, false);
  EXPECT_EQ(iu.to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(vu.to_vector<double>(), (std::vector<double>{9, 7, 8}));
  // Ties: the lower index first (PyTorch leaves this order unspecified).
  EXPECT_EQ(std::get<1>(topk(tensor({1.0, 2.0, 2.0, 0.0, 2.0}, {}), 2)).to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  // k = 0 and 0-dim inputs.
  EXPECT_EQ(std::get<0>(topk(x, 0)).shape(), Shape({2, 0}));
  EXPECT_EQ(std::get<0>(topk(scalar_tensor(5.0), 1)).item<double>(), 5.0);
}

TEST(Topk, GradientIsScatteredToTheIndices) {
  Tensor x = tensor({1.0, 5.0, 3.0, 4.0, 2.0, 0.0}, {2, 3}, dtype(kFloat64).requires_grad());
  std::get<0>(topk(x, 2)).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 1, 1, 1, 0}));
}

TEST(SortingErrors, NameTheOpAndTheArguments) {
  Tensor x = zeros({2, 3});
  EXPECT_EQ(error_of([&] { topk(x, 4); }), "topk: k (4) is out of range for dim 1 of size 3 (input shape [2, 3])");
  EXPECT_EQ(error_of([&] { topk(x, -1, 0); }), "topk: k (-1) is out of range for dim 0 of size 2 (input shape [2, 3])");
  EXPECT_NE(error_of([&] { sort(x, 2); }).find("sort:"), std::string::npos);
  EXPECT_NE(error_of([&] { argsort(x, -3); }).find("argsort:"), std::string::npos);
  EXPECT_EQ(error_of([&] { sort(Tensor()); }), "sort: argument 'input' is an undefined tensor");
}

}  // namespace
