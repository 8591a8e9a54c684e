// Saved tensors: released after backward unless retain_graph, and checked against in-place modification
// through the storage's version counter.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

// ---------------------------------------------------------------- release after backward

TEST(SavedTensors, ReleasedAfterBackward) {
  Tensor x = ones({3}).requires_grad_();
  Tensor y = x * x;  // MulBackward0 saves both operands
  Tensor loss = y.sum();
  auto node = y.grad_fn();
  EXPECT_EQ(node->num_saved(), 2u);
  EXPECT_FALSE(node->released());
  loss.backward();
  EXPECT_TRUE(node->released());
  EXPECT_EQ(node->num_saved(), 0u);  // the tensors themselves are dropped, not just marked
}

TEST(SavedTensors, SecondBackwardRaisesNamingTheNode) {
  Tensor x = ones({3}).requires_grad_();
  Tensor loss = (x * x).sum();
  loss.backward();
  std::string message = error_of([&] { loss.backward(); });
  EXPECT_TRUE(contains(message, "MulBackward0: trying to backward through the graph a second time")) << message;
  EXPECT_TRUE(contains(message, "retain_graph=true")) << message;
  // The failed call changed nothing.
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>(3, 2.0f));
}

TEST(SavedTensors, RetainGraphAllowsAnotherBackward) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  Tensor loss = x.tanh().sum();
  loss.backward({}, /*retain_graph=*/true);
  std::vector<double> once = x.grad().to_vector<double>();
  loss.backward({}, true);
  loss.backward();  // the last one may release
  std::vector<double> thrice = x.grad().to_vector<double>();
  for (size_t i = 0; i < 2; ++i) EXPECT_DOUBLE_EQ(thrice[i], 3 * once[i]);
  EXPECT_THROW(loss.backward(), Error);
  // autograd::grad releases too unless retain_graph (which defaults to create_graph).
  Tensor l2 = (x * x).sum();
  autograd::grad({l2}, {x});
  EXPECT_THROW(autograd::grad({l2}, {x}), Error);
}

TEST(SavedTensors, NodesThatSaveNothingCanRunAgain) {
  // As in PyTorch, only a node whose saved tensors are gone raises: x + y saves nothing.
  Tensor x = ones({2}).requires_grad_();
  Tensor loss = (x + 1.0).sum();
  loss.backward();
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>(2, 2.0f));
}

TEST(SavedTensors, AHookThatThrowsAbortsBackwardBeforeTheNodeRuns) {
  // The error propagates to the caller; the node behind the hook has not run (nor released its saved
  // tensors), so a retry gets through.
  Tensor x = ones({2}, kFloat64).requires_grad_();
  Tensor h = x * x;
  bool fail = true;
  h.register_hook([&](const Tensor& g) -> Tensor {
    if (fail) throw Error("hook failed");
    return g;
  });
  Tensor loss = h.sum();
  EXPECT_EQ(error_of([&] { loss.backward(); }), "hook failed");
  fail = false;
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2}));
}

// ---------------------------------------------------------------- version counters

TEST(VersionCounter, InPlaceWritesBumpTheVersionOfEveryViewOfAStorage) {
  Tensor a = zeros({4});
  Tensor v = a.narrow(0, 1, 2);
  Tensor d = a.detach();
  EXPECT_EQ(a.version(), 0u);
  a.add_(1.0);
  v.mul_(2.0);
  d.fill_(3.0);
  EXPECT_EQ(a.version(), 3u);
  EXPECT_EQ(v.version(), 3u);
  EXPECT_EQ(d.version(), 3u);
  // Out-of-place ops do not.
  (void)(a * 2.0);
  EXPECT_EQ(a.version(), 3u);
  // A copy has its own counter.
  Tensor c = a.clone();
  a.zero_();
  EXPECT_EQ(c.version(), 0u);
}

TEST(VersionCounter, ModifyingASavedInputMakesBackwardRaiseNamingTheOp) {
  Tensor x = ones({3}).requires_grad_();
  Tensor k = full({3}, 2.0);  // does not require grad, saved by mul for x's gradient
  Tensor loss = (x * k).sum();
  k.add_(1.0);
  std::string message = error_of([&] { loss.backward(); });
  EXPECT_TRUE(contains(message, "MulBackward0: one of the tensors saved for its backward has been modified by an "
                                "in-place operation")) << message;
  EXPECT_TRUE(contains(message, "a float32 tensor of shape [3] is at version 1, expected version 0")) << message;
  EXPECT_FALSE(x.grad().defined());
}

TEST(VersionCounter, ModifyingALeafUnderNoGradAfterItWasSaved) {
  Tensor w = ones({2}, kFloat64).requires_grad_();
  Tensor loss = (w * w).sum();
  {
    NoGradGuard no_grad;  // how an optimizer steps
    w.sub_(ones({2}, kFloat64), 0.1);
  }
  EXPECT_TRUE(contains(error_of([&] { loss.backward(); }), "MulBackward0: one of the tensors saved"));
  // A graph built after the step is fine.
  (w * w).sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1.8, 1.8}));
}

TEST(VersionCounter, ModifyingASavedOutputMakesBackwardRaiseNamingTheOp) {
  Tensor x = tensor({0.5, -0.5}, {2}, kFloat64).requires_grad_();
  Tensor y = x.tanh();  // TanhBackward0 saves its output
  Tensor loss = y.sum();
  {
    NoGradGuard no_grad;
    y.mul_(2.0);
  }
  std::string message = error_of([&] { loss.backward(); });
  EXPECT_TRUE(contains(message, "TanhBackward0: one of the tensors saved")) << message;
  EXPECT_TRUE(contains(message, "at version 1, expected version 0")) << message;
  // Through a view of the saved tensor too.
  Tensor x2 = ones({4}).requires_grad_();
  Tensor y2 = x2.exp();
  Tensor l2 = y2.sum();
  {
    NoGradGuard no_grad;
    y2.narrow(0, 0, 1).zero_();
  }
  EXPECT_TRUE(contains(error_of([&] { l2.backward(); }), "ExpBackward0"));
}

TEST(VersionCounter, UnrelatedWritesDoNotTrip) {
  Tensor x = ones({2}).requires_grad_();
  Tensor k = full({2}, 3.0);
  Tensor k_copy = k.clone();
  Tensor loss = (x * k_copy).sum();
  k.add_(1.0);  // the original, not the saved copy
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{3, 3}));
}

TEST(VersionCounter, InPlaceOnTensorsThatRequireGradIsOnlyAllowedWithoutRecording) {
  Tensor w = ones({2}).requires_grad_();
  EXPECT_THROW(w.add_(1.0), Error);
  Tensor h = w * 2.0;
  EXPECT_THROW(h.mul_(2.0), Error);
  {
    NoGradGuard no_grad;
    EXPECT_NO_THROW(w.add_(1.0));
  }
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{2, 2}));
}
