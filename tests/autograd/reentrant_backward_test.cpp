// The engine refuses to run two backward passes through the same nodes at once -- one started from a hook of
// another, or one on another thread -- instead of mixing their gradients.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;

namespace {

TEST(ReentrantBackward, ABackwardFromAHookThroughTheSameGraphIsAnError) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  Tensor y = x * x;
  Tensor loss = y.sum();
  std::string inner;
  y.register_hook([&](const Tensor&) {
    inner = error_of([&] { loss.backward({}, /*retain_graph=*/true); });
  });
  loss.backward({}, /*retain_graph=*/true);
  EXPECT_NE(inner.find("in use by another backward that is still running on this thread"), std::string::npos) << inner;
  // The outer backward finished with the right gradient, and the graph is usable again.
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4}));
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 8}));
}

TEST(ReentrantBackward, ABackwardOfAnotherGraphFromAHookIsFine) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  Tensor other = tensor({3.0}, {1}, kFloat64).requires_grad_();
  Tensor y = x * 2.0;
  y.register_hook([&](const Tensor&) {
    EnableGradGuard grad_mode;  // hooks run with grad mode off (create_graph is false), as in PyTorch
    (other * other).sum().backward();
  });
  y.sum().backward();
  EXPECT_EQ(other.grad().to_vector<double>(), std::vector<double>{6});
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2}));
}

TEST(ReentrantBackward, ABackwardOnAnotherThreadThroughTheSameGraphIsAnError) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  Tensor y = x * x;
  Tensor loss = y.sum();
  std::mutex mutex;
  std::condition_variable cv;
  bool other_done = false;
  std::string other_error;
  // The first backward pauses in a hook while a second thread tries to backward through the same graph.
  y.register_hook([&](const Tensor&) {
    std::thread other([&] {
      other_error = error_of([&] { loss.backward({}, /*retain_graph=*/true); });
      std::lock_guard lock(mutex);
      other_done = true;
      cv.notify_all();
    });
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return other_done; });
    lock.unlock();
    other.join();
  });
  loss.backward({}, /*retain_graph=*/true);
  EXPECT_NE(other_error.find("in use by another backward that is still running on another thread"), std::string::npos)
      << other_error;
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4}));
}

}  // namespace
