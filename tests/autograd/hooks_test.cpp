// Tensor hooks (observe or replace a gradient, on leaves and non-leaves, removable), post-accumulate-grad hooks
// and retain_grad.
#include <gtest/gtest.h>

#include "graft/graft.h"

using namespace graft;

namespace {
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST(Hooks, ObserveTheGradientOfALeaf) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  std::vector<double> seen;
  x.register_hook([&](const Tensor& g) { seen = values(g); });
  (x * x).sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{2, 4}));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 4}));
}

TEST(Hooks, ReplaceTheGradientOfALeafBeforeItAccumulates) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  x.register_hook([](const Tensor& g) { return g * 10.0; });
  (x * 3.0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{30, 30}));
}

TEST(Hooks, ReplaceTheGradientFlowingThroughANonLeaf) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  Tensor h = x * 2.0;
  std::vector<double> seen;
  h.register_hook([&](const Tensor& g) { seen = values(g); });
  h.register_hook([](const Tensor& g) { return g + 1.0; });  // hooks run in registration order
  std::vector<double> after;
  h.register_hook([&](const Tensor& g) { after = values(g); });
  (h * h).sum().backward();  // dL/dh = 2h = {4, 8}
  EXPECT_EQ(seen, (std::vector<double>{4, 8}));
  EXPECT_EQ(after, (std::vector<double>{5, 9}));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{10, 18}));  // the replaced gradient flows on
  EXPECT_FALSE(h.grad().defined());                            // a non-leaf keeps no .grad by default
}

TEST(Hooks, RemoveHook) {
  Tensor x = ones({2}, kFloat64).requires_grad_();
  int calls = 0;
  size_t handle = x.register_hook([&](const Tensor&) { ++calls; });
  Tensor h = x * 2.0;
  size_t h_handle = h.register_hook([](const Tensor& g) { return g * 0.0; });
  h.sum().backward({}, true);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0}));
  x.remove_hook(handle);
  h.remove_hook(h_handle);
  h.sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 2}));
  EXPECT_NO_THROW(x.remove_hook(12345));  // unknown handles are ignored
}

TEST(Hooks, HooksSeeEachSumOfGradientsOnce) {
  // A tensor used twice: its hook runs once, on the summed gradient.
  Tensor x = ones({1}, kFloat64).requires_grad_();
  Tensor h = x * 1.0;
  std::vector<double> seen;
  h.register_hook([&](const Tensor& g) { seen.push_back(g.item<double>()); });
  (h * 2.0 + h * 3.0).sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{5}));
}

TEST(Hooks, HookReturningTheWrongShapeIsAnError) {
  Tensor x = ones({2}).requires_grad_();
  x.register_hook([](const Tensor&) { return ones({3}); });
  try {
    (x * 2.0).sum().backward();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "hook: returned a gradient of shape [3], expected [2]");
  }
}

TEST(Hooks, NeedATensorThatRequiresGrad) {
  Tensor c = ones({2});
  EXPECT_THROW(c.register_hook([](const Tensor&) {}), Error);
}

TEST(Hooks, RunForAutogradGradToo) {
  Tensor x = ones({2}, kFloat64).requires_grad_();
  x.register_hook([](const Tensor& g) { return g * 2.0; });
  TensorList g = autograd::grad({(x * 3.0).sum()}, {x});
  EXPECT_EQ(values(g[0]), (std::vector<double>{6, 6}));
  EXPECT_FALSE(x.grad().defined());
}

// ---------------------------------------------------------------- post-accumulate-grad hooks

TEST(PostAccumulateGradHooks, RunAfterTheGradientIsInGradAndReceiveTheLeaf) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  std::vector<std::vector<double>> seen;
  x.register_post_accumulate_grad_hook([&](const Tensor& leaf) {
    EXPECT_TRUE(leaf.is_same(x));
    seen.push_back(values(leaf.grad()));
  });
  (x * x).sum().backward();
  (x * 3.0).sum().backward();  // accumulates onto the first gradient
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (std::vector<double>{2, 4}));
  EXPECT_EQ(seen[1], (std::vector<double>{5, 7}));
}

TEST(PostAccumulateGradHooks, RunOncePerBackwardAfterTheOrdinaryHooksOnTheSummedGradient) {
  Tensor x = ones({1}, kFloat64).requires_grad_();
  std::vector<std::string> order;
  x.register_post_accumulate_grad_hook([&](const Tensor& leaf) {
    order.push_back("post " + std::to_string(leaf.grad().item<double>()).substr(0, 4));
  });
  x.register_hook([&](const Tensor& g) {
    order.push_back("pre " + std::to_string(g.item<double>()).substr(0, 3));
    return g * 10.0;
  });
  (x * 2.0 + x * 3.0).sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"pre 5.0", "post 50.0"}));
}

TEST(PostAccumulateGradHooks, RunInRegistrationOrderAndAreRemovable) {
  Tensor x = ones({2}, kFloat64).requires_grad_();
  std::vector<int> calls;
  size_t first = x.register_post_accumulate_grad_hook([&](const Tensor&) { calls.push_back(1); });
  x.register_post_accumulate_grad_hook([&](const Tensor&) { calls.push_back(2); });
  x.sum().backward();
  x.remove_hook(first);
  x.sum().backward();
  EXPECT_EQ(calls, (std::vector<int>{1, 2, 2}));
}

TEST(PostAccumulateGradHooks, DoNotRunWhenNoGradientReachesTheLeafOrForAutogradGrad) {
  Tensor x = ones({2}, kFloat64).requires_grad_();
  Tensor y = ones({2}, kFloat64).requires_grad_();
  int calls = 0;
  x.register_post_accumulate_grad_hook([&](const Tensor&) { ++calls; });
  (y * 2.0).sum().backward();                       // x is not in this graph
  TensorList g = autograd::grad({(x * 3.0).sum()}, {x});  // grad() accumulates nothing
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(x.grad().defined());
  EXPECT_EQ(values(g[0]), (std::vector<double>{3, 3}));
}

TEST(PostAccumulateGradHooks, NeedALeafThatRequiresGrad) {
  Tensor c = ones({2});
  EXPECT_THROW(c.register_post_accumulate_grad_hook([](const Tensor&) {}), Error);
  Tensor x = ones({2}).requires_grad_();
  Tensor h = x * 2.0;
  try {
    h.register_post_accumulate_grad_hook([](const Tensor&) {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "register_post_accumulate_grad_hook: only leaf tensors accumulate gradients (this tensor has grad_fn "
                 "MulBackward1)");
  }
}

// ---------------------------------------------------------------- retain_grad

TEST(RetainGrad, KeepsTheGradientOfANonLeaf) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  Tensor h = x * 3.0;
  EXPECT_FALSE(h.retains_grad());
  h.retain_grad();
  EXPECT_TRUE(h.retains_grad());
  Tensor y = (h * h).sum();
  y.backward({}, true);
  EXPECT_EQ(values(h.grad()), (std::vector<double>{6, 12}));
  EXPECT_FALSE(h.grad().requires_grad());
  // It accumulates like a leaf's.
  y.backward();
  EXPECT_EQ(values(h.grad()), (std::vector<double>{12, 24}));
}

TEST(RetainGrad, SeesTheGradientAfterTheHooks) {
  Tensor x = ones({2}, kFloat64).requires_grad_();
  Tensor h = x * 1.0;
  h.retain_grad();  // registered first, still runs last (as in PyTorch)
  h.register_hook([](const Tensor& g) { return g * 4.0; });
  h.sum().backward();
  EXPECT_EQ(values(h.grad()), (std::vector<double>{4, 4}));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{4, 4}));
}

TEST(RetainGrad, OnLeavesAndConstants) {
  Tensor x = ones({2}).requires_grad_();
  x.retain_grad();  // a no-op on a leaf
  (x * 2.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_THROW(ones({2}).retain_grad(), Error);
}

TEST(RetainGrad, DoesNotKeepTheTensorAlive) {
  Tensor x = ones({2}).requires_grad_();
  Tensor y;
  std::weak_ptr<TensorImpl> weak;
  {
    Tensor h = x * 2.0;
    h.retain_grad();
    weak = h.impl_ptr();
    y = (h * 3.0).sum();  // (h * h would save h itself for backward, as PyTorch does)
  }
  EXPECT_TRUE(weak.expired());  // the graph holds h's node, not h
  y.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{6, 6}));
}
