// F::dropout2d (ops/dropout.h): registry entry, whole channels dropped together and scaled, PyTorch 1.13's
// reading of 3-D inputs as (N, C, L), eval mode, and bad input.
#include <gtest/gtest.h>

#include "support/errors.h"
#include "support/op_registry.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;

namespace {

// Each call draws the same channel mask from its own seeded generator, so gradcheck sees one function.
Sample seeded_dropout2d(std::string description, Tensor x, double p) {
  return sample(std::move(description), {x}, [p](const TensorList& in) {
    Generator gen(3);
    return F::dropout2d(in[0], p, true, &gen);
  });
}

GRAFT_REGISTER_OP({.name = "dropout2d", .samples = [](DType dt) {
  return std::vector<Sample>{seeded_dropout2d("(N, C, H, W), p = 0.5", uniform({3, 4, 2, 3}, dt, -2, 2, 1), 0.5),
                             seeded_dropout2d("(N, C, L), p = 0.3", uniform({2, 5, 3}, dt, -2, 2, 2), 0.3)};
}});

TEST(Dropout2d, DropsWholeChannelsAndScalesTheRest) {
  Generator gen(11);
  const double p = 0.4;
  Tensor x = full({50, 20, 3, 4}, 2.0, kFloat64);
  Tensor y = F::dropout2d(x, p, true, &gen);
  Tensor per_channel = y.reshape({50, 20, 12});
  int64_t kept = 0;
  for (int64_t n = 0; n < 50; ++n)
    for (int64_t c = 0; c < 20; ++c) {
      std::vector<double> v = per_channel.select(0, n).select(0, c).to_vector<double>();
      const bool dropped = v[0] == 0.0;
      for (double e : v) EXPECT_DOUBLE_EQ(e, dropped ? 0.0 : 2.0 / (1 - p));
      kept += !dropped;
    }
  EXPECT_NEAR(static_cast<double>(kept), 1000 * (1 - p), 5 * std::sqrt(1000 * p * (1 - p)));
}

TEST(Dropout2d, ReadsA3DInputAsNCL) {
  Generator gen(5);
  Tensor y = F::dropout2d(ones({4, 6, 8}, kFloat64), 0.5, true, &gen);
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t c = 0; c < 6; ++c) {
      std::vector<double> v = y.select(0, n).select(0, c).to_vector<double>();
      for (double e : v) EXPECT_EQ(e, v[0]) << "one mask value per (n, c)";
    }
}

TEST(Dropout2d, GradientIsMaskedTheSameWay) {
  Generator gen(8), same(8);
  Tensor x = uniform({2, 3, 2, 2}, kFloat64).requires_grad_();
  Tensor y = F::dropout2d(x, 0.5, true, &gen);
  Tensor g = autograd::grad({y.sum()}, {x})[0];
  EXPECT_TRUE(equal(g, F::dropout2d(ones({2, 3, 2, 2}, kFloat64), 0.5, true, &same)));
}

TEST(Dropout2d, IsTheIdentityInEval) {
  Tensor x = ones({2, 3, 4, 4});
  EXPECT_TRUE(F::dropout2d(x, 0.5, false).is_same(x));
  EXPECT_TRUE(F::dropout2d(x, 0.0).is_same(x));
}

TEST(Dropout2d, RejectsBadInput) {
  expect_error([] { F::dropout2d(ones({2, 3}), 0.5); }, {"dropout2d", "4-D input (N, C, H, W) or a 3-D one (N, C, L)", "[2, 3]"});
  expect_error([] { F::dropout2d(ones({2, 3, 4, 4}), 1.5); }, {"dropout2d", "between 0 and 1", "1.5"});
  expect_error([] { F::dropout2d(ones({2, 3, 4, 4}, kInt64), 0.5); }, {"dropout2d", "floating-point", "int64"});
}

}  // namespace
