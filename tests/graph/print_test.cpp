// Printing matches PyTorch 1.13's repr exactly (tests/reference/printing.py generates the expected strings;
// graft writes "dtype=float64" where PyTorch writes "dtype=torch.float64").
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "graft/graft.h"
#include "support/reference_json.h"

using namespace graft;
using json = nlohmann::json;

namespace {

const json& reference() { return graft::testing::reference_json("printing.json"); }

double parse_value(const json& v) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    throw std::runtime_error("unknown value " + s);
  }
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  return v.get<double>();
}

// The tensor a reference case describes, built the way the script built it.
Tensor build(const json& c) {
  DType dt = graft::testing::dtype_from_name(c["dtype"]);
  Shape shape;
  for (int64_t s : c["shape"]) shape.push_back(s);
  Tensor t;
  if (c.contains("arange_div")) {
    int64_t n = c["arange_div"][0], div = c["arange_div"][1];
    t = arange(n, dt);
    if (div != 1) t = t / div;
  } else {
    std::vector<double> values;
    for (const json& v : c["values"]) values.push_back(parse_value(v));
    t = tensor(values, {static_cast<int64_t>(values.size())}, dt);
  }
  t = t.reshape(shape);
  if (c.contains("view")) {
    std::string view = c["view"];
    if (view == "t") t = t.t();
    else if (view == "expand") t = t.expand({3, t.size(0)});
    else if (view == "select") t = t.select(1, 1);
    else throw std::runtime_error("unknown view " + view);
    EXPECT_TRUE(view == "select" || !t.is_contiguous());
  }
  if (c.contains("grad")) {
    std::string grad = c["grad"];
    Tensor leaf = t.clone().requires_grad_();
    if (grad == "leaf") t = leaf;
    else if (grad == "mul") t = leaf * ones_like(leaf);
    else if (grad == "sum") t = leaf.sum();
    else throw std::runtime_error("unknown grad " + grad);
  }
  return t;
}

}  // namespace

TEST(Printing, MatchesPyTorchOnEveryReferenceCase) {
  const json& cases = reference()["cases"];
  ASSERT_GE(cases.size(), 70u);
  for (const json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    Tensor t = build(c);
    const std::string expected = c["expected"];
    EXPECT_EQ(t.to_string(), expected);
  }
}

TEST(Printing, StreamAndFmtGiveTheSameString) {
  Tensor t = arange(6, kFloat64).reshape({2, 3}) / 4;
  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), t.to_string());
  EXPECT_EQ(fmt::format("{}", t), t.to_string());
  EXPECT_EQ(fmt::format("{}", t),
            "tensor([[0.0000, 0.2500, 0.5000],\n"
            "        [0.7500, 1.0000, 1.2500]], dtype=float64)");
}

TEST(Printing, UndefinedTensor) { EXPECT_EQ(Tensor().to_string(), "[ undefined tensor ]"); }

TEST(Printing, Int64BeyondDoublePrecisionPrintsExactly) {
  // 2^53 + 1 has no double: the printer must read integers as integers.
  int64_t big = (int64_t{1} << 53) + 1;
  EXPECT_EQ(tensor(std::vector<int64_t>{big, -1}).to_string(), "tensor([9007199254740993,               -1])");
}

TEST(Printing, PrintingDoesNotTouchTheGraph) {
  Tensor x = ones({2}).requires_grad_();
  Tensor y = x * x;
  uint32_t v = y.version();
  (void)y.to_string();
  EXPECT_EQ(y.version(), v);
  EXPECT_EQ(std::string(y.grad_fn()->name()), "MulBackward0");
  EXPECT_EQ(y.grad_fn()->num_inputs(), 2u);
}
