// nn::Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d: PyTorch's parameters, initialisation, printing,
// padding modes and values (tests/reference/layer_modules.py), ConvTranspose's output_size, and bad arguments.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/graft.h"
#include "module_reference.h"
#include "named_keys.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::check_against_pytorch;
using graft::testing::expect_error;
using graft::testing::keys;

namespace {

const std::string kFile = "layer_modules.json";

TEST(Conv2d, MatchesPyTorch) {
  check_against_pytorch("Conv2d", [] { return std::make_shared<Conv2d>(3, 4, 3, 1, 1); }, false, kFile);
  check_against_pytorch("Conv2d_strided_grouped",
                        [] { return std::make_shared<Conv2d>(4, 6, IntList{3, 2}, 2, std::vector<int64_t>{1, 0}, IntList{1, 2}, 2, false); },
                        false, kFile);
}

TEST(Conv2d, PaddingModesMatchPyTorch) {
  check_against_pytorch("Conv2d_same_reflect", [] { return std::make_shared<Conv2d>(3, 2, IntList{3, 4}, 1, "same", 1, 1, true, "reflect"); },
                        false, kFile);
  check_against_pytorch("Conv2d_circular",
                        [] { return std::make_shared<Conv2d>(3, 2, 3, 1, std::vector<int64_t>{1, 2}, 1, 1, true, "circular"); }, false, kFile);
  check_against_pytorch("Conv2d_replicate_unbatched", [] { return std::make_shared<Conv2d>(3, 2, 2, 1, 1, 1, 1, true, "replicate"); },
                        false, kFile);
}

TEST(Conv1d, MatchesPyTorch) {
  check_against_pytorch("Conv1d", [] { return std::make_shared<Conv1d>(3, 4, 3, 2, 1); }, false, kFile);
  check_against_pytorch("Conv1d_depthwise_same_replicate",
                        [] { return std::make_shared<Conv1d>(4, 4, 4, 1, "same", 1, 4, true, "replicate"); }, false, kFile);
}

TEST(ConvTranspose, MatchesPyTorch) {
  check_against_pytorch("ConvTranspose2d", [] { return std::make_shared<ConvTranspose2d>(3, 2, 3, 2, 1, 1); }, false, kFile);
  check_against_pytorch("ConvTranspose1d_grouped", [] { return std::make_shared<ConvTranspose1d>(2, 4, 3, 1, 0, 0, 2, false, 2); },
                        false, kFile);
}

TEST(ConvTranspose, OutputSizePicksTheOutputPadding) {
  ConvTranspose2d up(3, 2, 3, 2, 1);
  Tensor x = randn({1, 3, 4, 5});
  EXPECT_EQ(up.forward(x).shape(), Shape({1, 2, 7, 9}));
  EXPECT_EQ(up.forward(x, {8, 10}).shape(), Shape({1, 2, 8, 10}));
  EXPECT_EQ(up.forward(x, {1, 2, 8, 9}).shape(), Shape({1, 2, 8, 9}));
  expect_error([&] { up.forward(x, {9, 9}); }, {"ConvTranspose2d", "output size of 9", "range from 7 to 8"});
  ConvTranspose1d up1(2, 2, 2, 3);
  EXPECT_EQ(up1.forward(randn({2, 2, 4}), {13}).shape(), Shape({2, 2, 13}));
}

TEST(Conv2d, HasPyTorchsParametersAndInitialisation) {
  manual_seed(3);
  Conv2d conv(6, 8, {3, 5}, 1, 0, 1, 2);
  EXPECT_EQ(keys(conv.state_dict()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(conv.weight.shape(), Shape({8, 3, 3, 5}));
  EXPECT_EQ(conv.bias.shape(), Shape({8}));
  // kaiming_uniform_(a = sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3 * 3 * 5; the bias the same.
  const double bound = 1.0 / std::sqrt(45.0);
  for (const Tensor& t : {conv.weight, conv.bias}) {
    EXPECT_LE(t.abs().max().item<double>(), bound);
    EXPECT_GT(t.abs().max().item<double>(), 0.8 * bound);
  }
  ConvTranspose2d up(4, 6, 3, 1, 0, 0, 2);
  EXPECT_EQ(up.weight.shape(), Shape({4, 3, 3, 3}));  // (in, out / groups, kH, kW)
  EXPECT_LE(up.bias.abs().max().item<double>(), 1.0 / std::sqrt(27.0));
  EXPECT_FALSE(Conv1d(2, 2, 3, 1, 0, 1, 1, false).bias.defined());
  EXPECT_EQ(Conv2d(2, 2, 3, 1, 0, 1, 1, true, "zeros", kFloat64).weight.dtype(), kFloat64);
}

TEST(Conv2d, PrintsAsPyTorch) {
  EXPECT_EQ(Conv2d(1, 32, 3, 1, 1).repr(), "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
  EXPECT_EQ(Conv2d(2, 4, 3, 1, "same", 1, 1, false, "reflect").repr(),
            "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=same, bias=False, padding_mode=reflect)");
  EXPECT_EQ(Conv1d(2, 4, 3, 2, 0, 2, 2).repr(), "Conv1d(2, 4, kernel_size=(3,), stride=(2,), dilation=(2,), groups=2)");
  EXPECT_EQ(ConvTranspose2d(4, 2, 3, 2, 0, 1).repr(),
            "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1))");
}

TEST(Conv2d, RejectsBadArguments) {
  expect_error([] { Conv2d(3, 4, 3, 1, 0, 1, 2); }, {"Conv2d", "in_channels (3) must be divisible by groups (2)"});
  expect_error([] { Conv2d(4, 3, 3, 1, 0, 1, 2); }, {"Conv2d", "out_channels (3) must be divisible by groups (2)"});
  expect_error([] { Conv2d(4, 4, 3, 1, 0, 1, 0); }, {"Conv2d", "groups must be a positive integer"});
  expect_error([] { Conv2d(4, 4, 3, 2, "same"); }, {"Conv2d", "padding='same' is not supported for strided convolutions"});
  expect_error([] { Conv2d(4, 4, 3, 1, "full"); }, {"Conv2d", "padding must be \"valid\", \"same\" or sizes"});
  expect_error([] { Conv2d(4, 4, 3, 1, 0, 1, 1, true, "mirror"); }, {"Conv2d", "padding_mode must be one of", "'mirror'"});
  expect_error([] { Conv2d(4, 4, 0); }, {"Conv2d", "kernel_size must be positive"});
  expect_error([] { Conv2d(4, 4, {1, 2, 3}); }, {"Conv2d", "kernel_size must have 1 or 2 values, got 3"});
  expect_error([] { Conv2d(0, 4, 3); }, {"Conv2d", "in_channels and out_channels must be positive"});
  expect_error([] { ConvTranspose2d(4, 4, 3, 1, 0, 0, 1, true, 1, "reflect"); }, {"ConvTranspose2d", "only \"zeros\" padding mode"});
  Conv2d conv(3, 4, 3);
  expect_error([&] { conv.forward(randn({1, 2, 5, 5})); }, {"conv2d", "3 channels", "[1, 2, 5, 5]"});
  expect_error([&] { conv.forward(randn({1, 3, 2, 2})); }, {"conv2d", "larger than the padded input"});
}

TEST(ConvOptions, NameTheArgumentsAndBuildTheSameLayer) {
  manual_seed(4);
  Conv2d positional(2, 6, {3, 3}, {2, 2}, 1, {1, 1}, 2, false, "reflect");
  manual_seed(4);
  Conv2d named({.in_channels = 2, .out_channels = 6, .kernel_size = {3}, .stride = {2}, .padding = 1, .groups = 2,
                .bias = false, .padding_mode = "reflect"});
  EXPECT_EQ(named.repr(), positional.repr());
  EXPECT_TRUE(equal(named.weight, positional.weight));
  EXPECT_EQ(Conv1d({.in_channels = 1, .out_channels = 2, .kernel_size = {5}, .padding = "same"}).repr(),
            Conv1d(1, 2, 5, 1, "same").repr());
  EXPECT_THROW(Conv2d(Conv2dOptions{.in_channels = 2, .out_channels = 6}), Error) << "kernel_size has no default";
}

}  // namespace
