// nn::MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d: values against PyTorch
// (tests/reference/layer_modules.py), printing, indices and bad arguments.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "module_reference.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::check_against_pytorch;
using graft::testing::expect_error;

namespace {

const std::string kFile = "layer_modules.json";

TEST(PoolingModules, MatchPyTorch) {
  check_against_pytorch("MaxPool2d", [] { return std::make_shared<MaxPool2d>(2); }, false, kFile);
  check_against_pytorch("MaxPool2d_ceil", [] { return std::make_shared<MaxPool2d>(IntList{3, 2}, IntList{2, 1}, 1, 1, true); },
                        false, kFile);
  check_against_pytorch("MaxPool1d", [] { return std::make_shared<MaxPool1d>(3, 2, 0, 2); }, false, kFile);
  check_against_pytorch("AvgPool2d", [] { return std::make_shared<AvgPool2d>(2); }, false, kFile);
  check_against_pytorch("AvgPool2d_padding", [] { return std::make_shared<AvgPool2d>(3, 2, 1, true, false); }, false, kFile);
  check_against_pytorch("AvgPool1d", [] { return std::make_shared<AvgPool1d>(3, IntList{}, 1); }, false, kFile);
  check_against_pytorch("AdaptiveAvgPool2d", [] { return std::make_shared<AdaptiveAvgPool2d>(IntList{2, 3}); }, false, kFile);
  check_against_pytorch("AdaptiveMaxPool2d", [] { return std::make_shared<AdaptiveMaxPool2d>(2); }, false, kFile);
}

TEST(PoolingModules, PrintAsPyTorch) {
  EXPECT_EQ(MaxPool2d(2).repr(), "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
  EXPECT_EQ(MaxPool2d({2, 3}, 1).repr(), "MaxPool2d(kernel_size=(2, 3), stride=1, padding=0, dilation=1, ceil_mode=False)");
  EXPECT_EQ(MaxPool1d(3).repr(), "MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)");
  EXPECT_EQ(AvgPool2d(3, 2, 1, true, false, 2).repr(), "AvgPool2d(kernel_size=3, stride=2, padding=1)");
  EXPECT_EQ(AvgPool1d(3).repr(), "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))");
  EXPECT_EQ(AdaptiveAvgPool2d(5).repr(), "AdaptiveAvgPool2d(output_size=5)");
  EXPECT_EQ(AdaptiveMaxPool2d({2, 3}).repr(), "AdaptiveMaxPool2d(output_size=(2, 3))");
}

TEST(PoolingModules, ForwardWithIndicesReturnsTheFunctionalIndices) {
  Tensor x = randn({2, 3, 6, 6});
  MaxPool2d pool(2);
  auto [y, i] = pool.forward_with_indices(x);
  auto [fy, fi] = nn::functional::max_pool2d_with_indices(x, 2);
  EXPECT_TRUE(equal(y, fy));
  EXPECT_TRUE(equal(i, fi));
  EXPECT_TRUE(equal(pool(x), fy));
  auto [ay, ai] = AdaptiveMaxPool2d(3).forward_with_indices(x);
  EXPECT_EQ(ai.shape(), Shape({2, 3, 3, 3}));
}

TEST(PoolingModules, RejectBadArguments) {
  expect_error([] { MaxPool2d(IntList{2, 2, 2}); }, {"MaxPool2d", "kernel_size must have 1 or 2 values, got 3"});
  expect_error([] { AvgPool1d(2, {1, 1}); }, {"AvgPool1d", "stride must have 1 value"});
  MaxPool2d pool(2, {}, 2);
  expect_error([&] { pool.forward(randn({1, 1, 4, 4})); }, {"max_pool2d", "padding (2) must be at most half of kernel_size (2)"});
}

}  // namespace
