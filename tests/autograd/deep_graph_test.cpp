// No recursion anywhere: graphs a million ops deep build, run backward and are destroyed on the default
// 8 MB stack (the engine's traversal and release_node are iterative).
#include <gtest/gtest.h>

#include <cmath>

#include "graft/graft.h"

using namespace graft;

TEST(DeepGraph, AMillionOpsBuildRunBackwardAndAreDestroyed) {
  const int depth = 1000000;
  Tensor x = ones({1}, kFloat64).requires_grad_();
  std::weak_ptr<Node> first_node;
  {
    Tensor y = x;
    for (int i = 0; i < depth; ++i) {
      y = y * 1.0000001;
      if (i == 0) first_node = y.grad_fn();
    }
    y.backward();
    EXPECT_NEAR(x.grad().item<double>(), std::pow(1.0000001, depth), 1e-9);
    EXPECT_FALSE(first_node.expired());  // y still holds the whole chain
  }
  EXPECT_TRUE(first_node.expired());  // dropping y freed it, iteratively
}

TEST(DeepGraph, AMillionOpsDestroyedWithoutBackward) {
  Tensor x = ones({2}).requires_grad_();
  std::weak_ptr<Node> first_node;
  {
    Tensor y = x;
    for (int i = 0; i < 1000000; ++i) {
      y = y + 0.0;
      if (i == 0) first_node = y.grad_fn();
    }
  }
  EXPECT_TRUE(first_node.expired());
}

TEST(DeepGraph, ChainsOfNodesThatSaveTheirInputsAndOutputs) {
  // Each node saves the previous tensor (which holds the previous node): destruction goes through
  // saved tensors as well as edges.
  const int depth = 200000;
  Tensor x = full({1}, 0.5, kFloat64).requires_grad_();
  std::weak_ptr<Node> first_node;
  {
    Tensor y = x;
    for (int i = 0; i < depth; ++i) {
      y = (i % 2 == 0) ? y * x : y.tanh();
      if (i == 0) first_node = y.grad_fn();
    }
    Tensor loss = y.sum();
    loss.backward({}, /*retain_graph=*/true);
    EXPECT_TRUE(std::isfinite(x.grad().item<double>()));
  }
  EXPECT_TRUE(first_node.expired());
}

TEST(DeepGraph, DoubleBackwardThroughADeepChain) {
  // create_graph records a backward graph as deep as the forward one; both go away iteratively.
  const int depth = 20000;
  Tensor x = full({1}, 0.3, kFloat64).requires_grad_();
  std::weak_ptr<Node> grad_node;
  {
    Tensor y = x;
    for (int i = 0; i < depth; ++i) y = (y * 1.00001).tanh();
    Tensor g = autograd::grad({y.sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
    ASSERT_TRUE(g.requires_grad());
    grad_node = g.grad_fn();
    Tensor gg = autograd::grad({g.sum()}, {x})[0];
    EXPECT_TRUE(std::isfinite(g.item<double>()) && g.item<double>() > 0);
    EXPECT_TRUE(std::isfinite(gg.item<double>()));
    // Against central differences of the first derivative.
    auto first_derivative = [&](double at) {
      Tensor xa = full({1}, at, kFloat64).requires_grad_();
      Tensor ya = xa;
      for (int i = 0; i < depth; ++i) ya = (ya * 1.00001).tanh();
      return autograd::grad({ya.sum()}, {xa})[0].item<double>();
    };
    const double h = 1e-5;
    EXPECT_NEAR(gg.item<double>(), (first_derivative(0.3 + h) - first_derivative(0.3 - h)) / (2 * h),
                1e-6 + 1e-4 * std::abs(gg.item<double>()));
  }
  EXPECT_TRUE(grad_node.expired());
}

TEST(DeepGraph, WideGraphsToo) {
  // Many branches meeting at one node: the dependency counts and gradient sums handle 100k inputs.
  Tensor x = ones({1}, kFloat64).requires_grad_();
  Tensor acc = zeros({1}, kFloat64);
  for (int i = 0; i < 100000; ++i) acc = acc + x * 1.0;
  acc.backward();
  EXPECT_EQ(x.grad().item<double>(), 100000.0);
}
