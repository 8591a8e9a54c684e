// nn::Flatten, nn::Unflatten and nn::ZeroPad2d: values against PyTorch (tests/reference/layer_modules.py),
// printing and bad input.
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

TEST(Flatten, MatchesPyTorch) {
  check_against_pytorch("Flatten", [] { return std::make_shared<Flatten>(); }, false, kFile);
  check_against_pytorch("Flatten_dims", [] { return std::make_shared<Flatten>(0, 2); }, false, kFile);
  EXPECT_EQ(Flatten().repr(), "Flatten(start_dim=1, end_dim=-1)");
}

TEST(Unflatten, MatchesPyTorch) {
  check_against_pytorch("Unflatten", [] { return std::make_shared<Unflatten>(1, IntList{2, 3}); }, false, kFile);
  EXPECT_EQ(Unflatten(1, {2, 3}).repr(), "Unflatten(dim=1, unflattened_size=(2, 3))");
  EXPECT_EQ(Unflatten(-1, {-1, 4}).forward(zeros({2, 12})).shape(), Shape({2, 3, 4}));
  expect_error([] { Unflatten(1, {4, 4}).forward(zeros({2, 12})); }, {"Unflatten", "(4, 4)", "dim 1 of size 12", "[2, 12]"});
  expect_error([] { Unflatten(3, {4}).forward(zeros({2, 12})); }, {"Unflatten", "dim 3 is out of range"});
}

TEST(ZeroPad2d, MatchesPyTorch) {
  check_against_pytorch("ZeroPad2d", [] { return std::make_shared<ZeroPad2d>(1); }, false, kFile);
  check_against_pytorch("ZeroPad2d_crop", [] { return std::make_shared<ZeroPad2d>(IntList{1, 0, 2, -1}); }, false, kFile);
  EXPECT_EQ(ZeroPad2d({1, 2, 3, 4}).repr(), "ZeroPad2d((1, 2, 3, 4))");
  expect_error([] { ZeroPad2d({1, 2}); }, {"ZeroPad2d", "1 or 4 values"});
  expect_error([] { ZeroPad2d(1).forward(zeros({3})); }, {"ZeroPad2d", "at least 2 dims", "[3]"});
}

}  // namespace
