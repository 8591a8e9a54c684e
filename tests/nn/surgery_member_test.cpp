// The founding use case of the MHA replacement, written the way a user writes it: attention kept as a typed
// member (nn::Child), inside a Sequential, and shared by two parents. After replace_mha_with_eager every
// one of them reaches the eager module: same outputs, and after a training step every eager parameter's
// gradient equals the original module's. A plain shared_ptr member kept from before the surgery raises.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::nn;
namespace F = graft::nn::functional;

namespace {

constexpr int64_t E = 8;

// A block with its attention as a typed member.
struct Block : Module {
  Child<MultiheadAttention> attn;
  Child<Linear> ff = register_module("ff", Linear(E, E));
  explicit Block(std::shared_ptr<MultiheadAttention> shared = nullptr) : Module("Block") {
    attn = shared ? register_module("attn", shared)
                  : register_module("attn", MultiheadAttention({.embed_dim = E, .num_heads = 2, .batch_first = true}));
  }
  Tensor forward(const Tensor& x) override {
    auto [y, weights] = attn(x, x, x);
    return ff(F::relu(x + y));
  }
};

// Two blocks in a Sequential, a third block sharing the second one's attention.
struct Model : Module {
  Child<Sequential> blocks = register_module("blocks", Sequential(Block(), Block()));
  Child<Block> tail;
  Model() : Module("Model") {
    auto second = std::dynamic_pointer_cast<Block>((*blocks)[1]);
    tail = register_module("tail", Block(second->attn.ptr()));
  }
  Tensor forward(const Tensor& x) override { return tail(blocks(x)); }
};

// The original attention's gradient for an eager parameter: in_proj_weight's row blocks for q/k/v_proj.
Tensor original_grad(const MultiheadAttention& mha, const std::string& eager_name) {
  auto rows = [](const Tensor& t, int64_t block) { return t.narrow(0, block * E, E); };
  if (eager_name == "in_proj.weight") return mha.in_proj_weight.grad();
  if (eager_name == "in_proj.bias") return mha.in_proj_bias.grad();
  const char* projections[] = {"q_proj", "k_proj", "v_proj"};
  for (int64_t i = 0; i < 3; ++i) {
    if (eager_name == std::string(projections[i]) + ".weight") return rows(mha.in_proj_weight.grad(), i);
    if (eager_name == std::string(projections[i]) + ".bias") return rows(mha.in_proj_bias.grad(), i);
  }
  if (eager_name == "out_proj.weight") return mha.out_proj->weight.grad();
  if (eager_name == "out_proj.bias") return mha.out_proj->bias.grad();
  ADD_FAILURE() << "no counterpart for " << eager_name;
  return {};
}

class MemberHeldMha : public ::testing::TestWithParam<bool> {};

TEST_P(MemberHeldMha, EveryHolderReachesTheEagerModuleAndGradientsAgree) {
  const bool use_in_proj = GetParam();
  manual_seed(7);
  Model original, operated;
  operated.load_state_dict(original.state_dict());
  const std::vector<std::string> replaced = replace_mha_with_eager(operated, use_in_proj);
  EXPECT_EQ(replaced, (std::vector<std::string>{"blocks.0.attn", "blocks.1.attn"}));  // tail.attn is blocks.1's

  // Every holder reaches an eager module; the shared one is still shared.
  auto block0 = std::dynamic_pointer_cast<Block>((*operated.blocks)[0]);
  auto block1 = std::dynamic_pointer_cast<Block>((*operated.blocks)[1]);
  ASSERT_NE(dynamic_cast<EagerMultiheadAttention*>(block0->attn.get()), nullptr);
  ASSERT_NE(dynamic_cast<EagerMultiheadAttention*>(block1->attn.get()), nullptr);
  EXPECT_EQ(block1->attn.get(), operated.tail->attn.get());

  Tensor x = randn({2, 5, E}), target = randn({2, 5, E});
  Tensor y0 = original(x), y1 = operated(x);
  EXPECT_TRUE(allclose(y0, y1, 1e-5, 1e-6));

  // One training step on both.
  optim::SGD opt0(original.parameters(), optim::SGDOptions(0.1)), opt1(operated.parameters(), optim::SGDOptions(0.1));
  Tensor l0 = F::mse_loss(y0, target), l1 = F::mse_loss(y1, target);
  l0.backward();
  l1.backward();
  for (size_t b = 0; b < 2; ++b) {
    auto orig_block = std::dynamic_pointer_cast<Block>((*original.blocks)[b]);
    auto eager_block = std::dynamic_pointer_cast<Block>((*operated.blocks)[b]);
    const auto& eager = dynamic_cast<EagerMultiheadAttention&>(*eager_block->attn);
    const auto named = eager.named_parameters();
    EXPECT_EQ(named.size(), use_in_proj ? 4u : 8u);
    for (const auto& [name, p] : named) {
      SCOPED_TRACE("block " + std::to_string(b) + ": " + name);
      ASSERT_TRUE(p.grad().defined());
      EXPECT_TRUE(allclose(p.grad(), original_grad(*orig_block->attn, name), 1e-4, 1e-6));
      EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0);
    }
  }
  opt0.step();
  opt1.step();
  EXPECT_TRUE(allclose(original(x), operated(x), 1e-4, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(FusedAndSeparate, MemberHeldMha, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("FusedInProj") : std::string("SeparateProjections"); });

// The same model with the attention kept as a plain std::shared_ptr (the trap): calling it after the
// surgery raises, naming the path, instead of training the old module silently.
struct StaleBlock : Module {
  std::shared_ptr<MultiheadAttention> attn;
  StaleBlock() : Module("StaleBlock") {
    attn = register_module("attn", MultiheadAttention({.embed_dim = E, .num_heads = 2, .batch_first = true}));
  }
  Tensor forward(const Tensor& x) override { return std::get<0>((*attn)(x, x, x)); }
};

TEST(MemberHeldMhaTrap, ASharedPtrMemberRaisesInsteadOfTrainingNothing) {
  StaleBlock m;
  replace_mha_with_eager(m, false);
  const std::string error = graft::testing::error_of([&] { m(randn({1, 3, E})); });
  EXPECT_NE(error.find("MultiheadAttention: this module was replaced at 'attn' by EagerMultiheadAttention"),
            std::string::npos)
      << error;
}

}  // namespace
