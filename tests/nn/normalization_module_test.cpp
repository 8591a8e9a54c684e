// nn::LayerNorm and nn::RMSNorm: PyTorch's parameters, values, gradients and reprs; bad arguments.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "module_reference.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::check_against_pytorch;

namespace {

std::vector<std::string> keys(const StateDict& state) {
  std::vector<std::string> out;
  for (const auto& [k, v] : state) out.push_back(k);
  return out;
}

TEST(LayerNormModule, MatchesPyTorch) {
  check_against_pytorch("LayerNorm", [] { return std::make_shared<LayerNorm>(4); });
  check_against_pytorch("LayerNorm_2d_eps", [] { return std::make_shared<LayerNorm>(IntList{3, 4}, 1e-3); });
  check_against_pytorch("LayerNorm_no_affine", [] { return std::make_shared<LayerNorm>(4, 1e-5, false); });
  check_against_pytorch("LayerNorm_no_bias", [] { return std::make_shared<LayerNorm>(4, 1e-5, true, false); });
}

TEST(LayerNormModule, StartsAsOnesAndZeros) {
  LayerNorm ln({2, 3}, 1e-5, true, true, kFloat64);
  EXPECT_EQ(keys(ln.state_dict()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(ln.weight.shape(), (Shape{2, 3}));
  EXPECT_EQ(ln.weight.dtype(), kFloat64);
  EXPECT_EQ(ln.weight.to_vector<double>(), std::vector<double>(6, 1.0));
  EXPECT_EQ(ln.bias.to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_TRUE(ln.weight.requires_grad());
  EXPECT_TRUE(LayerNorm(4, 1e-5, false).state_dict().empty());
  EXPECT_EQ(keys(LayerNorm(4, 1e-5, true, false).state_dict()), (std::vector<std::string>{"weight"}));
}

TEST(LayerNormModule, RejectsBadArguments) {
  try {
    LayerNorm(IntList{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "LayerNorm: normalized_shape must have at least one dim, got ()");
  }
  EXPECT_THROW(LayerNorm(IntList{3, -1}), Error);
  EXPECT_THROW(LayerNorm(4, -1e-5), Error);
  EXPECT_THROW(LayerNorm(4, 1e-5, true, true, kInt64), Error);
  EXPECT_THROW(LayerNorm(4).forward(ones({2, 5})), Error);  // trailing dim 5, not 4
}

TEST(RMSNormModule, MatchesTorch2RMSNorm) {
  check_against_pytorch("RMSNorm", [] { return std::make_shared<RMSNorm>(4); });
  check_against_pytorch("RMSNorm_2d_eps", [] { return std::make_shared<RMSNorm>(IntList{3, 4}, 1e-6); });
  check_against_pytorch("RMSNorm_no_affine", [] { return std::make_shared<RMSNorm>(4, std::nullopt, false); });
}

TEST(RMSNormModule, DefaultEpsIsTheDtypesEpsilon) {
  // With eps=None a row of tiny values is normalised by the dtype's epsilon: x / sqrt(x^2 + eps).
  RMSNorm norm(1, std::nullopt, false);
  const double x = 1e-4;
  EXPECT_NEAR(norm.forward(full({1, 1}, x, kFloat64)).item<double>(), x / std::sqrt(x * x + 2.220446049250313e-16),
              1e-12);
  EXPECT_NEAR(norm.forward(full({1, 1}, x, kFloat32)).item<double>(), x / std::sqrt(x * x + 1.1920928955078125e-07),
              1e-5);
  EXPECT_EQ(RMSNorm(4, 1e-6).repr(), "RMSNorm((4,), eps=1e-06, elementwise_affine=True)");
}

TEST(RMSNormModule, RejectsBadArguments) {
  EXPECT_THROW(RMSNorm(IntList{}), Error);
  EXPECT_THROW(RMSNorm(4, -1.0), Error);
  EXPECT_THROW(RMSNorm(4).forward(ones({3})), Error);
}

}  // namespace
