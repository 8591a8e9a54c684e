// nn::FeedForward: the transformer FFN (ReLU, GELU, SwiGLU) against PyTorch, default hidden sizes, errors.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "module_reference.h"

using namespace graft;
using namespace graft::nn;
namespace F = graft::nn::functional;
using graft::testing::check_against_pytorch;

namespace {

std::vector<std::string> keys(const StateDict& state) {
  std::vector<std::string> out;
  for (const auto& [k, v] : state) out.push_back(k);
  return out;
}

TEST(FeedForward, MatchesPyTorch) {
  check_against_pytorch("FeedForward_relu", [] { return std::make_shared<FeedForward>(8, 32, "relu"); });
  check_against_pytorch("FeedForward_gelu_nobias", [] { return std::make_shared<FeedForward>(8, 12, "gelu", false, 0.1); });
  check_against_pytorch("FeedForward_swiglu", [] { return std::make_shared<FeedForward>(8, 32, "swiglu", false); });
}

TEST(FeedForward, SwiGLUIsW2OfSiluW1TimesW3) {
  FeedForward ffn(4, 6, "swiglu", false, 0.0, 256, kFloat64);
  Tensor x = randn({3, 4}, kFloat64);
  auto lin = [](const Tensor& in, const std::string& name, FeedForward& f) {
    return F::linear(in, f.child(name)->parameter("weight"));
  };
  Tensor expected = lin(F::silu(lin(x, "w1", ffn)) * lin(x, "w3", ffn), "w2", ffn);
  EXPECT_TRUE(allclose(ffn.forward(x), expected, 1e-12, 1e-12));
  EXPECT_EQ(keys(ffn.state_dict()), (std::vector<std::string>{"w1.weight", "w2.weight", "w3.weight"}));
}

TEST(FeedForward, DefaultHiddenSizes) {
  EXPECT_EQ(FeedForward(256, std::nullopt, "swiglu").hidden, 768);  // 2/3 * 4 * 256 = 682.7, up to 3 * 256
  EXPECT_EQ(FeedForward::default_hidden(4096, "swiglu"), 11008);     // LLaMA-7B
  EXPECT_EQ(FeedForward::default_hidden(8, "swiglu", 16), 32);
  EXPECT_EQ(FeedForward::default_hidden(96, "swiglu", 1), 256);
  EXPECT_EQ(FeedForward(64).hidden, 256);
  EXPECT_EQ(FeedForward(64, std::nullopt, "gelu").hidden, 256);
  FeedForward ffn(256, std::nullopt, "swiglu", false);
  EXPECT_EQ(ffn.child("w1")->parameter("weight").shape(), (Shape{768, 256}));
  EXPECT_EQ(ffn.child("w2")->parameter("weight").shape(), (Shape{256, 768}));
}

TEST(FeedForward, RejectsBadArguments) {
  try {
    FeedForward(8, 16, "geglu");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "FeedForward: kind must be 'relu', 'gelu' or 'swiglu', got 'geglu'");
  }
  EXPECT_THROW(FeedForward(0), Error);
  EXPECT_THROW(FeedForward(8, 0), Error);
  EXPECT_THROW(FeedForward(8, 16, "relu", true, 2.0), Error);
  EXPECT_THROW(FeedForward(8, std::nullopt, "swiglu", true, 0.0, 0), Error);
  EXPECT_THROW(FeedForward(8, 16).forward(ones({2, 7})), Error);
}

}  // namespace
