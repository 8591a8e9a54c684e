#include <gtest/gtest.h>

#include "graft/graft.h"

using namespace graft;

TEST(Smoke, ForwardBackward) {
  Tensor x = tensor({1.0, 2.0, 3.0}, {3}, kFloat64).requires_grad_();
  Tensor y = (x * x + 1.0).sum();
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4, 6}));
}
