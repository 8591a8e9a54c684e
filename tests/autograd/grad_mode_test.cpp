// Grad mode (NoGradGuard, thread-local), detach, detach_, and the rules of requires_grad_.
#include <gtest/gtest.h>

#include <thread>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;

TEST(GradMode, NoGradGuardStopsRecordingForItsScope) {
  Tensor x = ones({2}).requires_grad_();
  EXPECT_TRUE(GradMode::is_enabled());
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(GradMode::is_enabled());
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    {
      EnableGradGuard enable;  // turned back on inside
      EXPECT_TRUE((x * 2.0).requires_grad());
    }
    EXPECT_FALSE(GradMode::is_enabled());
    {
      NoGradGuard nested;
    }
    EXPECT_FALSE(GradMode::is_enabled());  // a nested guard restores the mode it found
  }
  EXPECT_TRUE(GradMode::is_enabled());
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(GradMode, IsRestoredWhenAnExceptionLeavesTheScope) {
  try {
    NoGradGuard no_grad;
    throw Error("boom");
  } catch (const Error&) {
  }
  EXPECT_TRUE(GradMode::is_enabled());
}

TEST(GradMode, IsThreadLocal) {
  Tensor x = ones({2}).requires_grad_();
  NoGradGuard no_grad;
  bool other_thread_enabled = false, other_thread_recorded = false;
  std::thread worker([&] {
    other_thread_enabled = GradMode::is_enabled();
    Tensor y = x * 3.0;
    other_thread_recorded = y.requires_grad();
    y.sum().backward();  // backward on another thread works too
  });
  worker.join();
  EXPECT_TRUE(other_thread_enabled);
  EXPECT_TRUE(other_thread_recorded);
  EXPECT_FALSE(GradMode::is_enabled());
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{3, 3}));
  // And a guard on another thread does not reach this one.
  EnableGradGuard enable;
  std::thread off([] {
    NoGradGuard g;
  });
  off.join();
  EXPECT_TRUE(GradMode::is_enabled());
}

TEST(GradMode, BackwardRunsRegardlessOfTheCallersMode) {
  Tensor x = ones({2}).requires_grad_();
  Tensor loss = (x * x).sum();
  NoGradGuard no_grad;
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_FALSE(GradMode::is_enabled());
}

// ---------------------------------------------------------------- detach

TEST(Detach, SharesStorageAndVersionButLeavesTheGraph) {
  Tensor x = ones({3}).requires_grad_();
  Tensor y = x * 2.0;
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.storage(), y.storage());
  EXPECT_EQ(d.data_ptr(), y.data_ptr());
  d.fill_(5.0);  // allowed: d does not require grad; the write is visible in y
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{5, 5, 5}));
  EXPECT_EQ(y.version(), 1u);  // one version counter
  // Gradients do not flow through a detached tensor.
  Tensor z = (d * x).sum();
  z.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{5, 5, 5}));
  // detach of a leaf: same memory, no requires_grad.
  Tensor xd = x.detach();
  EXPECT_FALSE(xd.requires_grad());
  EXPECT_EQ(xd.data_ptr(), x.data_ptr());
  EXPECT_TRUE(x.requires_grad());
}

TEST(Detach, InPlaceDetachMakesALeaf) {
  Tensor x = ones({2}).requires_grad_();
  Tensor y = x * 2.0;
  auto node = y.grad_fn();
  Tensor& same = y.detach_();
  EXPECT_TRUE(&same == &y);
  EXPECT_TRUE(y.is_leaf());
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_THROW(y.sum().backward(), Error);
  // detach_ on a leaf that requires grad turns the flag off.
  x.detach_();
  EXPECT_FALSE(x.requires_grad());
}

// ---------------------------------------------------------------- requires_grad_

TEST(RequiresGrad, OnlyLeavesCanBeSetToFalse) {
  Tensor x = ones({2}).requires_grad_();
  x.requires_grad_(false);
  EXPECT_FALSE(x.requires_grad());
  x.requires_grad_(true);
  Tensor y = x * 2.0;
  EXPECT_NO_THROW(y.requires_grad_(true));  // already true: no-op, as in PyTorch
  EXPECT_EQ(error_of([&] { y.requires_grad_(false); }),
            "requires_grad_: only the requires_grad flag of a leaf can be changed (this tensor has grad_fn "
            "MulBackward1); use detach() to take it out of the graph");
}

TEST(RequiresGrad, OnlyFloatingTensorsCanRequireGrad) {
  EXPECT_EQ(error_of([] { arange(3).requires_grad_(); }),
            "requires_grad_: only floating-point tensors can require gradients, got int64");
  EXPECT_EQ(error_of([] { tensor({true}).requires_grad_(); }),
            "requires_grad_: only floating-point tensors can require gradients, got bool");
  EXPECT_NO_THROW(arange(3).requires_grad_(false));
  EXPECT_NO_THROW(zeros({1}, kFloat64).requires_grad_());
  EXPECT_EQ(error_of([] { Tensor().requires_grad_(); }), "requires_grad_: the tensor is undefined");
}

TEST(RequiresGrad, ResultsRequireGradWhenAnyInputDoes) {
  Tensor a = ones({2}).requires_grad_();
  Tensor b = ones({2});
  EXPECT_TRUE((a + b).requires_grad());
  EXPECT_TRUE((b + a).requires_grad());
  EXPECT_FALSE((b + b).requires_grad());
  // Non-differentiable results (comparisons, argmax) never require grad.
  EXPECT_FALSE((a > b).requires_grad());
  EXPECT_FALSE(a.argmax().requires_grad());
}
