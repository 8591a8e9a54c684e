// nn::Dropout: identity in eval mode (as PyTorch, checked against its output), inverted dropout in training.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "module_reference.h"

using namespace graft;
using namespace graft::nn;

namespace {

TEST(DropoutModule, IsTheIdentityInEvalMode) {
  graft::testing::check_against_pytorch("Dropout_eval", [] { return std::make_shared<Dropout>(0.3); });
  Dropout d(0.9);
  d.eval();
  Tensor x = randn({4, 5});
  EXPECT_TRUE(d.forward(x).is_same(x));
}

TEST(DropoutModule, ZeroesAndRescalesInTraining) {
  manual_seed(3);
  Dropout d(0.25);
  EXPECT_TRUE(d.is_training());
  auto y = d.forward(ones({100000})).to_vector<double>();
  size_t zeros = 0;
  for (double v : y) {
    if (v == 0.0) ++zeros;
    else ASSERT_NEAR(v, 1.0 / 0.75, 1e-6);
  }
  EXPECT_NEAR(static_cast<double>(zeros) / y.size(), 0.25, 0.01);
  EXPECT_EQ(Dropout(1.0).forward(ones({10})).sum().item<double>(), 0.0);
}

TEST(DropoutModule, ReprAndBadProbability) {
  EXPECT_EQ(Dropout().repr(), "Dropout(p=0.5, inplace=False)");
  EXPECT_EQ(Dropout(0.0).repr(), "Dropout(p=0.0, inplace=False)");
  try {
    Dropout(1.5);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Dropout: dropout probability has to be between 0 and 1, but got 1.5");
  }
  EXPECT_THROW(Dropout(-0.1), Error);
}

TEST(Dropout2dModule, DropsChannelsInTrainingAndIsTheIdentityInEval) {
  graft::testing::check_against_pytorch("Dropout2d_eval", [] { return std::make_shared<Dropout2d>(0.3); }, false,
                                        "layer_modules.json");
  EXPECT_EQ(Dropout2d().repr(), "Dropout2d(p=0.5, inplace=False)");
  manual_seed(4);
  Dropout2d d(0.5);
  Tensor y = d.forward(ones({8, 16, 3, 3}));
  Tensor per_channel = amax(y, {2, 3});
  EXPECT_TRUE(equal(per_channel, amin(y, {2, 3}))) << "each channel is kept or dropped whole";
  EXPECT_THROW(Dropout2d(2.0), Error);
}

}  // namespace
