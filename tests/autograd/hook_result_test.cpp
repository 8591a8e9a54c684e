// A hook that replaces a gradient must keep its shape and dtype, as in PyTorch ("hook has changed the type of
// value"): an int64 or float64 gradient for a float32 tensor is an error, on leaves and non-leaves alike.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::expect_error;

namespace {

TEST(HookResult, AnInt64GradientFromALeafHookIsAnError) {
  Tensor x = ones({3}, requires_grad());
  x.register_hook([](const Tensor& g) { return g.to(kInt64); });
  expect_error([&] { (x * 2.5).sum().backward(); }, {"hook", "changed the type", "float32", "int64"});
  EXPECT_FALSE(x.grad().defined());
}

TEST(HookResult, AnotherDtypeFromANonLeafHookIsAnError) {
  Tensor x = ones({3}, requires_grad());
  Tensor h = x * 2.0;
  h.register_hook([](const Tensor& g) { return g.to(kInt64); });
  expect_error([&] { (h * h).sum().backward(); }, {"hook", "changed the type", "int64"});
  Tensor y = x * 2.0;
  y.register_hook([](const Tensor& g) { return g.to(kFloat64); });
  expect_error([&] { (y * y).sum().backward(); }, {"hook", "float64"});
}

TEST(HookResult, AnotherShapeFromANonLeafHookIsAnError) {
  Tensor x = ones({3}, requires_grad());
  Tensor h = x * 2.0;
  h.register_hook([](const Tensor& g) { return g.sum().reshape({1}); });  // would broadcast silently
  expect_error([&] { (h * h).sum().backward(); }, {"hook", "shape [1]", "expected [3]"});
}

}  // namespace
