// cumsum: registry entry, PyTorch reference values up to second derivatives (tests/reference/scan.py), behaviour.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/op_registry.h"
#include "support/errors.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;

namespace {

GRAFT_REGISTER_OP({.name = "cumsum", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("dim 0", {uniform({3, 4}, dt, -2, 2, 1)}, [](const TensorList& in) { return cumsum(in[0], 0); }),
      sample("last dim", {uniform({2, 3, 4}, dt, -2, 2, 2)}, [](const TensorList& in) { return cumsum(in[0], -1); }),
      sample("middle dim of a transposed view", {uniform({4, 3, 2}, dt, -2, 2, 3)},
             [](const TensorList& in) { return cumsum(in[0].transpose(0, 2), 1); }),
      sample("0-dim", {uniform({}, dt, -2, 2, 4)}, [](const TensorList& in) { return cumsum(in[0], 0); })};
}});

Tensor from_json(const nlohmann::json& j, DType floating) {
  std::vector<int64_t> shape = j["shape"].get<std::vector<int64_t>>();
  if (j["dtype"] == "int64") return tensor(j["data"].get<std::vector<int64_t>>(), shape, kInt64).reshape(shape);
  return tensor(j["data"].get<std::vector<double>>(), shape, floating).reshape(shape);
}

TEST(CumsumReference, MatchesPyTorchUpToSecondDerivatives) {
  nlohmann::json ref = reference_json("scan.json");
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-12 : 1e-5;
    for (const auto& c : ref["cases"]) {
      SCOPED_TRACE(c["name"].get<std::string>());
      Tensor x = from_json(c["input"], dt);
      if (!c.contains("grad_input")) {
        Tensor out = cumsum(x, c["dim"]);
        EXPECT_EQ(out.dtype(), kInt64);
        EXPECT_TRUE(equal(out, from_json(c["output"], dt)));
        continue;
      }
      x.requires_grad_();
      Tensor out = cumsum(x, c["dim"]);
      EXPECT_TRUE(allclose(out.to(kFloat64), from_json(c["output"], kFloat64), tol, tol)) << out;
      Tensor go = from_json(c["grad_output"], dt).requires_grad_();
      Tensor g = autograd::grad({out}, {x}, {go}, true, true)[0];
      EXPECT_TRUE(allclose(g.to(kFloat64), from_json(c["grad_input"], kFloat64), tol, tol)) << g;
      Tensor ggo = autograd::grad({g}, {go}, {from_json(c["grad_grad"], dt)})[0];
      EXPECT_TRUE(allclose(ggo.to(kFloat64), from_json(c["grad_grad_output"], kFloat64), tol, tol)) << ggo;
    }
  }
}

TEST(Cumsum, PromotesIntegersAndBoolsToInt64AndHonoursDtype) {
  EXPECT_EQ(cumsum(tensor({true, false, true}, {}), 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 2}));
  Tensor c = cumsum(tensor({1, 2, 3}, {}), 0, kFloat64);
  EXPECT_EQ(c.dtype(), kFloat64);
  EXPECT_EQ(c.to_vector<double>(), (std::vector<double>{1, 3, 6}));
  EXPECT_EQ(cumsum(zeros({0, 3}), 0).shape(), Shape({0, 3}));
}

TEST(Cumsum, Float32AccumulatesInDouble) {
  // 2^24 + 1 is not a float: a float accumulator would stay at 2^24 after each + 1.
  const double big = 16777216.0;
  EXPECT_EQ(cumsum(tensor({big, 1.0, 1.0}, {}, kFloat32), 0).to_vector<double>(), (std::vector<double>{big, big, big + 2}));
}

TEST(Cumsum, RejectsBadInput) {
  EXPECT_EQ(error_of([] { cumsum(zeros({2, 3}), 2); }).substr(0, 7), "cumsum:");
  EXPECT_EQ(error_of([] { cumsum(Tensor(), 0); }), "cumsum: argument 'input' is an undefined tensor");
  EXPECT_EQ(error_of([] { cumsum(zeros({2}), 0, kBool); }), "cumsum: the result dtype cannot be bool");
}

}  // namespace
