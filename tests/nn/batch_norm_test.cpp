// nn::BatchNorm1d and nn::BatchNorm2d: PyTorch's buffers and names, batch statistics in training with running-stat updates
// (momentum and cumulative), running statistics in eval, values and gradients against PyTorch.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "module_reference.h"
#include "named_keys.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::check_against_pytorch;
using graft::testing::keys;

namespace {

TEST(BatchNorm1d, MatchesPyTorchInTraining) {
  check_against_pytorch("BatchNorm1d_train", [] { return std::make_shared<BatchNorm1d>(4); }, true);
  check_against_pytorch("BatchNorm1d_train_3d", [] { return std::make_shared<BatchNorm1d>(4, 1e-5, 0.3); }, true);
  check_against_pytorch("BatchNorm1d_no_affine_untracked",
                        [] { return std::make_shared<BatchNorm1d>(4, 1e-5, 0.1, false, false); }, true);
}

TEST(BatchNorm1d, CumulativeAverageWithoutMomentum) {
  check_against_pytorch("BatchNorm1d_cumulative", [] { return std::make_shared<BatchNorm1d>(4, 1e-5, std::nullopt); },
                        true);
  // momentum=None: after k batches the running mean is the plain average of the k batch means.
  BatchNorm1d bn(2, 1e-5, std::nullopt, true, true, kFloat64);
  std::vector<double> means{0, 0};
  for (int k = 0; k < 4; ++k) {
    Tensor x = randn({5, 2}, kFloat64) + static_cast<double>(k);
    bn.forward(x);
    auto m = x.mean({0}).to_vector<double>();
    for (int c = 0; c < 2; ++c) means[c] += m[c] / 4;
  }
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 4);
  auto running = bn.running_mean.to_vector<double>();
  for (int c = 0; c < 2; ++c) EXPECT_NEAR(running[c], means[c], 1e-12);
}

TEST(BatchNorm1d, MatchesPyTorchInEval) {
  check_against_pytorch("BatchNorm1d_eval", [] { return std::make_shared<BatchNorm1d>(4, 1e-3); });
  // Without running statistics, eval mode normalises with the batch's (as PyTorch does).
  check_against_pytorch("BatchNorm1d_untracked_eval", [] { return std::make_shared<BatchNorm1d>(4, 1e-5, 0.1, true, false); });
}

TEST(BatchNorm1d, EvalModeLeavesTheRunningStatsAlone) {
  BatchNorm1d bn(3);
  bn.forward(randn({4, 3}) * 5.0);
  StateDict before = bn.state_dict();
  bn.eval();
  bn.forward(randn({4, 3}));
  StateDict after = bn.state_dict();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(equal(before[i].second, after[i].second)) << before[i].first;
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
}

TEST(BatchNorm1d, HasPyTorchsStateDict) {
  auto module = std::make_shared<BatchNorm1d>(3);  // to() walks the model through shared pointers
  BatchNorm1d& bn = *module;
  EXPECT_EQ(keys(bn.state_dict()),
            (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn.num_batches_tracked.dtype(), kInt64);
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  EXPECT_EQ(bn.running_var.to_vector<double>(), std::vector<double>(3, 1.0));
  EXPECT_EQ(bn.parameters().size(), 2u);
  bn.to(kFloat64);  // the counter stays int64
  EXPECT_EQ(bn.running_mean.dtype(), kFloat64);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), kInt64);
  EXPECT_TRUE(BatchNorm1d(3, 1e-5, 0.1, false, false).state_dict().empty());
  bn.forward(randn({4, 3}, kFloat64));
  bn.reset_running_stats();
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 0);
  EXPECT_EQ(bn.running_mean.to_vector<double>(), std::vector<double>(3, 0.0));
}

TEST(BatchNorm1d, RejectsBadInputAndArguments) {
  BatchNorm1d bn(3);
  try {
    bn.forward(ones({2, 3, 4, 5}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "BatchNorm1d: expected 2D or 3D input (got 4D input of shape [2, 3, 4, 5])");
  }
  EXPECT_THROW(bn.forward(ones({4, 2})), Error);  // 2 channels, not 3
  EXPECT_THROW(bn.forward(ones({1, 3})), Error);  // one value per channel in training
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 0);  // failed batches are not counted
  EXPECT_THROW(BatchNorm1d(-1), Error);  // 0 features are allowed, as in PyTorch (tests/ops/zero_size_test.cpp)
  EXPECT_THROW(BatchNorm1d(3, 1e-5, 1.5), Error);
  EXPECT_THROW(BatchNorm1d(3, -1.0), Error);
}

}  // namespace

namespace {

TEST(BatchNorm2d, MatchesPyTorch) {
  const std::string file = "layer_modules.json";
  graft::testing::check_against_pytorch("BatchNorm2d_train", [] { return std::make_shared<BatchNorm2d>(3); }, true, file);
  graft::testing::check_against_pytorch("BatchNorm2d_no_affine_cumulative",
                                        [] { return std::make_shared<BatchNorm2d>(3, 1e-5, std::nullopt, false); }, true, file);
  graft::testing::check_against_pytorch("BatchNorm2d_eval", [] { return std::make_shared<BatchNorm2d>(3, 1e-3); }, false, file);
}

TEST(BatchNorm2d, TakesOnlyFourDimensionalInputs) {
  BatchNorm2d bn(3);
  EXPECT_EQ(bn.repr(), "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  EXPECT_EQ(keys(bn.state_dict()),
            (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  graft::testing::expect_error([&] { bn.forward(ones({2, 3, 4})); }, {"BatchNorm2d: expected 4D input (got 3D input of shape [2, 3, 4])"});
  graft::testing::expect_error([&] { bn.forward(ones({2, 4, 2, 2})); }, {"BatchNorm2d", "4 channels", "num_features=3"});
}

}  // namespace
