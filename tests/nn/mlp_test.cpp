// nn::MLP: torchvision.ops.MLP's layout and state-dict names, values and gradients against PyTorch.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "module_reference.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::check_against_pytorch;

namespace {

std::vector<std::string> keys(const StateDict& state) {
  std::vector<std::string> out;
  for (const auto& [k, v] : state) out.push_back(k);
  return out;
}

TEST(MLP, MatchesTorchvisionsMLP) {
  check_against_pytorch("MLP", [] { return std::make_shared<MLP>(std::vector<int64_t>{5, 8, 6, 3}); });
  check_against_pytorch("MLP_gelu_nobias", [] {
    return std::make_shared<MLP>(std::vector<int64_t>{5, 7, 2}, MLPOptions{.activation = "gelu", .dropout = 0.25, .bias = false});
  });
  check_against_pytorch("MLP_layernorm_tanh", [] {
    return std::make_shared<MLP>(std::vector<int64_t>{5, 6, 2},
                                 MLPOptions{.activation = "tanh",
                                            .norm_layer = [](int64_t n) { return std::make_shared<LayerNorm>(n); }});
  });
}

TEST(MLP, NamesParametersLikeASequential) {
  MLP mlp({4, 16, 16, 2}, "silu", 0.1);
  EXPECT_EQ(keys(mlp.state_dict()),
            (std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"}));
  EXPECT_EQ(mlp.size(), 8u);
  EXPECT_EQ(mlp[1]->type_name(), "SiLU");
  EXPECT_EQ(mlp[4]->type_name(), "SiLU");
  EXPECT_NE(mlp[1].get(), mlp[4].get());  // each layer has its own activation module
  EXPECT_EQ(mlp[7]->repr(), "Dropout(p=0.1, inplace=False)");
}

TEST(MLP, ActivateOutputAddsAnActivationAfterTheLastLayer) {
  MLP mlp({3, 4, 2}, MLPOptions{.activation = "sigmoid", .activate_output = true});
  EXPECT_EQ(mlp.size(), 6u);
  EXPECT_EQ(mlp[4]->type_name(), "Sigmoid");
  for (double v : mlp.forward(randn({6, 3}) * 10.0).to_vector<double>()) {
    EXPECT_GT(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
}

TEST(MLP, TakesAFactoryAndADtype) {
  MLP mlp({3, 5, 1}, MLPOptions{.activation = [] { return std::make_shared<LeakyReLU>(0.2); },
                                .norm_layer = [](int64_t n) { return std::make_shared<BatchNorm1d>(n); },
                                .dtype = kFloat64});
  EXPECT_EQ(mlp[2]->repr(), "LeakyReLU(negative_slope=0.2)");
  for (const auto& [k, t] : mlp.state_dict())
    if (k != "1.num_batches_tracked") {
      EXPECT_EQ(t.dtype(), kFloat64) << k;
    }
  EXPECT_EQ(mlp.forward(randn({4, 3}, kFloat64)).shape(), (Shape{4, 1}));
}

TEST(MLP, DropoutIsActiveOnlyInTraining) {
  MLP mlp({8, 64, 8}, "relu", 0.5);
  Tensor x = randn({4, 8});
  mlp.eval();
  EXPECT_TRUE(equal(mlp.forward(x), mlp.forward(x)));
  mlp.train();
  EXPECT_FALSE(equal(mlp.forward(x), mlp.forward(x)));
}

TEST(MLP, RejectsBadArguments) {
  try {
    MLP({5});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "MLP: sizes must list the input size and at least one layer size, got [5]");
  }
  EXPECT_THROW(MLP({5, 0, 2}), Error);
  EXPECT_THROW(MLP({5, 2}, "relu", 1.5), Error);
  EXPECT_THROW(MLP({5, 2}, "mish"), Error);
  EXPECT_THROW(MLP({5, 2, 1}, MLPOptions{.norm_layer = [](int64_t) { return ModulePtr(); }}), Error);
  EXPECT_THROW(MLP({5, 2}).forward(ones({3, 4})), Error);
}

}  // namespace
