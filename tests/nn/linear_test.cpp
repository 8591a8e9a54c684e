// nn::Linear and F.linear: values, gradients, PyTorch's default initialisation, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/autograd/gradcheck.h"
#include "graft/graft.h"
#include "graft/ops/backend.h"

using namespace graft;
namespace F = graft::nn::functional;

namespace {

TEST(Linear, ComputesXWTransposedPlusB) {
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2});
  Tensor w = tensor({1.0, 0.0, 1.0, 1.0, 0.0, 2.0}, {3, 2});
  Tensor b = tensor({0.5, -1.0, 0.0}, {3});
  EXPECT_EQ(F::linear(x, w, b).to_vector<double>(), (std::vector<double>{1.5, 2.0, 4.0, 3.5, 6.0, 8.0}));
  EXPECT_EQ(F::linear(x, w).to_vector<double>(), (std::vector<double>{1.0, 3.0, 4.0, 3.0, 7.0, 8.0}));
}

TEST(Linear, GradcheckAndGradgradcheckOverBatchDims) {
  Tensor x = randn({2, 3, 4}, dtype(kFloat64).requires_grad());
  Tensor w = randn({5, 4}, dtype(kFloat64).requires_grad());
  Tensor b = randn({5}, dtype(kFloat64).requires_grad());
  auto f = [](const TensorList& in) { return F::linear(in[0], in[1], in[2]); };
  EXPECT_TRUE(autograd::gradcheck(f, {x, w, b}));
  EXPECT_TRUE(autograd::gradgradcheck(f, {x, w, b}));
}

TEST(Linear, OneDnnAndReferencePathsAgree) {
  Tensor x = randn({64, 96}), w = randn({80, 96}), b = randn({80});
  Tensor fast = F::linear(x, w, b);
  ReferenceKernelsGuard ref;
  EXPECT_TRUE(allclose(fast, F::linear(x, w, b), 1e-4, 1e-4));
}

TEST(Linear, DefaultInitMatchesPyTorchBounds) {
  manual_seed(1);
  nn::Linear layer(400, 300);
  const double bound = 1.0 / std::sqrt(400.0);
  auto w = layer.weight.to_vector<double>();
  double lo = *std::min_element(w.begin(), w.end()), hi = *std::max_element(w.begin(), w.end());
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_GT(hi, 0.99 * bound);  // uniform over the whole range
  EXPECT_LT(lo, -0.99 * bound);
  // uniform(-b, b) has variance b^2 / 3
  double var = 0;
  for (double v : w) var += v * v;
  var /= static_cast<double>(w.size());
  EXPECT_NEAR(var, bound * bound / 3, 0.02 * bound * bound);
  auto bias = layer.bias.to_vector<double>();
  EXPECT_LE(*std::max_element(bias.begin(), bias.end()), bound);
}

TEST(Linear, RejectsMismatchedShapes) {
  try {
    F::linear(ones({2, 3}), ones({4, 5}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "linear: input of shape [2, 3] has 3 features in its last dim, but weight [4, 5] expects 5");
  }
  EXPECT_THROW(F::linear(ones({2, 3}), ones({4, 3}), ones({3})), Error);
  EXPECT_THROW(F::linear(ones({2, 3}), ones({3})), Error);
}

TEST(Init, KaimingAndXavierUseFanAndGain) {
  Tensor w = empty({256, 128});
  nn::init::kaiming_normal_(w, 0.0, "fan_in", "relu");
  double var = 0;
  for (double v : w.to_vector<double>()) var += v * v;
  var /= static_cast<double>(w.numel());
  EXPECT_NEAR(var, 2.0 / 128, 0.1 * 2.0 / 128);
  nn::init::xavier_uniform_(w);
  double a = std::sqrt(6.0 / (128 + 256));
  for (double v : w.to_vector<double>()) ASSERT_LE(std::abs(v), a);
  EXPECT_NEAR(nn::init::calculate_gain("tanh"), 5.0 / 3.0, 1e-12);
  EXPECT_NEAR(nn::init::calculate_gain("leaky_relu", 0.2), std::sqrt(2.0 / 1.04), 1e-12);
  Tensor v = empty({3});
  EXPECT_THROW(nn::init::xavier_uniform_(v), Error);
  EXPECT_THROW(nn::init::calculate_gain("swishy"), Error);
  nn::init::trunc_normal_(w, 0.0, 1.0, -0.5, 0.5);
  for (double x : w.to_vector<double>()) ASSERT_LE(std::abs(x), 0.5);
}

}  // namespace
