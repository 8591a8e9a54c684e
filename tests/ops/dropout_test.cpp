// Dropout (ops/dropout.h): registry entry and behaviour. Masks come from graft's generator, not PyTorch's,
// so the tests check the distribution, the scaling and reproducibility rather than PyTorch's numbers.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/graph/node.h"
#include "support/op_registry.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;

namespace {

// Each call draws the same mask from its own seeded generator, so gradcheck sees one function.
Sample seeded_dropout(std::string description, Tensor x, double p, bool training = true) {
  return sample(std::move(description), {x}, [p, training](const TensorList& in) {
    Generator gen(7);
    return F::dropout(in[0], p, training, &gen);
  });
}

GRAFT_REGISTER_OP({.name = "dropout", .samples = [](DType dt) {
  return std::vector<Sample>{seeded_dropout("p = 0.3", uniform({4, 5}, dt, -2, 2, 1), 0.3),
                             seeded_dropout("p = 0.5, transposed view", uniform({5, 4}, dt, -2, 2, 2).t(), 0.5),
                             seeded_dropout("p = 1", uniform({3, 3}, dt, -2, 2, 3), 1.0),
                             seeded_dropout("eval", uniform({3, 3}, dt, -2, 2, 4), 0.5, false),
                             seeded_dropout("0-dim", uniform({}, dt, -2, 2, 5), 0.2)};
}});

TEST(Dropout, KeepsOneMinusPOfTheElementsScaledByItsInverse) {
  const int64_t n = 200000;
  const double p = 0.3;
  Generator gen(123);
  Tensor x = full({n}, 2.0, kFloat64);
  std::vector<double> y = F::dropout(x, p, true, &gen).to_vector<double>();
  int64_t kept = 0;
  for (double v : y) {
    if (v != 0.0) {
      ++kept;
      EXPECT_DOUBLE_EQ(v, 2.0 / (1.0 - p));
    }
  }
  const double sigma = std::sqrt(n * p * (1 - p));
  EXPECT_NEAR(static_cast<double>(kept), n * (1 - p), 5 * sigma);
}

TEST(Dropout, IsReproducibleFromTheGlobalSeed) {
  Tensor x = ones({1000});
  manual_seed(42);
  Tensor a = F::dropout(x, 0.5);
  manual_seed(42);
  Tensor b = F::dropout(x, 0.5);
  Tensor c = F::dropout(x, 0.5);  // the generator has moved on
  EXPECT_TRUE(equal(a, b));
  EXPECT_FALSE(equal(b, c));
}

TEST(Dropout, AGivenGeneratorLeavesTheGlobalOneAlone) {
  manual_seed(5);
  const std::string state = default_generator().get_state();
  Generator gen(9), same(9);
  Tensor a = F::dropout(ones({100}), 0.5, true, &gen);
  EXPECT_EQ(default_generator().get_state(), state);
  EXPECT_TRUE(equal(a, F::dropout(ones({100}), 0.5, true, &same)));
}

TEST(Dropout, IsTheIdentityInEvalAndAtPZero) {
  Tensor x = uniform({3, 4}, kFloat32).requires_grad_();
  EXPECT_TRUE(F::dropout(x, 0.5, false).is_same(x));
  EXPECT_TRUE(F::dropout(x, 0.0).is_same(x));
}

TEST(Dropout, PEqualOneGivesZerosAndZeroGradients) {
  Tensor x = uniform({3, 4}, kFloat64).requires_grad_();
  Tensor y = F::dropout(x, 1.0);
  EXPECT_TRUE(equal(y, zeros({3, 4}, kFloat64)));
  y.sum().backward();
  EXPECT_TRUE(equal(x.grad(), zeros({3, 4}, kFloat64)));
}

TEST(Dropout, GradientIsTheSameScaledMask) {
  Generator gen(3);
  Tensor x = ones({50}, dtype(kFloat64).requires_grad());
  Tensor y = F::dropout(x, 0.4, true, &gen);
  y.backward(full({50}, 2.0, kFloat64));
  EXPECT_TRUE(allclose(x.grad(), y * 2.0));  // x is ones: y is the scaled mask
  EXPECT_STREQ(y.grad_fn()->name(), "NativeDropoutBackward0");
}

TEST(Dropout, RejectsBadInput) {
  EXPECT_EQ(error_of([] { F::dropout(ones({2}), 1.5); }), "dropout: probability has to be between 0 and 1, but got 1.5");
  EXPECT_EQ(error_of([] { F::dropout(ones({2}), -0.1); }), "dropout: probability has to be between 0 and 1, but got -0.1");
  EXPECT_EQ(error_of([] { F::dropout(tensor({1, 2}), 0.5); }),
            "dropout: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([] { F::dropout(Tensor(), 0.5); }), "dropout: argument 'input' is an undefined tensor");
}

}  // namespace
