// utils::checkpoint: torch.utils.checkpoint.checkpoint (reentrant). The checkpointed model computes what the
// plain one computes, forward and backward, keeps none of the function's intermediate tensors, and runs the
// function again in backward with the random numbers it drew in forward.
#include <gtest/gtest.h>

#include <thread>

#include "graft/graft.h"
#include "graft/utils/checkpoint.h"
#include "support/op_registry.h"  // uniform(shape, dtype, low, high, seed)

using namespace graft;
using graft::testing::uniform;
namespace F = graft::nn::functional;

namespace {

// Two residual MLP blocks with dropout, as a list of modules.
struct Blocks {
  std::vector<std::shared_ptr<nn::Linear>> up, down;
  explicit Blocks(int n) {
    manual_seed(5);
    for (int i = 0; i < n; ++i) {
      up.push_back(std::make_shared<nn::Linear>(8, 16));
      down.push_back(std::make_shared<nn::Linear>(16, 8));
    }
  }
  Tensor block(size_t i, const Tensor& x, double p) const {
    return x + down[i]->forward(F::dropout(F::gelu(up[i]->forward(x)), p, /*training=*/p > 0));
  }
  TensorList parameters() const {
    TensorList out;
    for (size_t i = 0; i < up.size(); ++i)
      for (const auto& m : {up[i]->parameters(), down[i]->parameters()}) out.insert(out.end(), m.begin(), m.end());
    return out;
  }
  void zero_grad() const {
    for (Tensor p : parameters()) p.mutable_grad() = Tensor();
  }
};

// loss, d loss / d x and d loss / d every parameter, with every block checkpointed or none.
struct Result {
  Tensor loss, x_grad;
  TensorList param_grads;
};

Result run(const Blocks& net, bool checkpointed, double p, uint64_t seed) {
  net.zero_grad();
  Tensor x = uniform({4, 8}, kFloat32, -1, 1, 11).requires_grad_(true);
  manual_seed(seed);
  Tensor h = x;
  for (size_t i = 0; i < net.up.size(); ++i) {
    if (checkpointed)
      h = utils::checkpoint([&net, i, p](const TensorList& in) { return TensorList{net.block(i, in[0], p)}; }, {h})[0];
    else
      h = net.block(i, h, p);
  }
  Tensor loss = sum(h * h);
  loss.backward();
  Result r{loss.detach(), x.grad(), {}};
  for (const Tensor& q : net.parameters()) r.param_grads.push_back(q.grad());
  return r;
}

TEST(Checkpoint, GivesTheSameLossAndGradientsAsThePlainModel) {
  Blocks net(3);
  const Result plain = run(net, false, 0.0, 1), ckpt = run(net, true, 0.0, 1);
  EXPECT_TRUE(equal(plain.loss, ckpt.loss));
  EXPECT_TRUE(equal(plain.x_grad, ckpt.x_grad));
  ASSERT_EQ(plain.param_grads.size(), ckpt.param_grads.size());
  for (size_t i = 0; i < plain.param_grads.size(); ++i) {
    ASSERT_TRUE(ckpt.param_grads[i].defined()) << "parameter " << i << " got no gradient";
    EXPECT_TRUE(equal(plain.param_grads[i], ckpt.param_grads[i])) << "parameter " << i;
  }
}

TEST(Checkpoint, DropoutDrawsTheSameMaskWhenRecomputedAndLeavesTheGeneratorAsBackwardFoundIt) {
  Blocks net(2);
  const Result plain = run(net, false, 0.5, 7), ckpt = run(net, true, 0.5, 7);
  EXPECT_TRUE(equal(plain.loss, ckpt.loss));
  EXPECT_TRUE(equal(plain.x_grad, ckpt.x_grad));
  for (size_t i = 0; i < plain.param_grads.size(); ++i) EXPECT_TRUE(equal(plain.param_grads[i], ckpt.param_grads[i]));

  // The generator after backward is where forward left it (the recomputation's draws are undone).
  Tensor x = uniform({4, 8}, kFloat32, -1, 1, 11).requires_grad_(true);
  manual_seed(3);
  Tensor y = utils::checkpoint([&net](const TensorList& in) { return TensorList{net.block(0, in[0], 0.5)}; }, {x})[0];
  const std::string after_forward = default_generator().get_state();
  sum(y).backward();
  EXPECT_EQ(default_generator().get_state(), after_forward);
}

// ZeRO's in-process ranks are threads that share the global generator. A recomputation replays forward's draws
// from a generator of its own, so another thread drawing from the global one in the middle of it changes
// neither the replayed mask nor, beyond its own draws, the global generator. (Restoring the global generator's
// state instead, as before, handed the other thread the replayed numbers and shifted the mask.)
TEST(Checkpoint, AnotherThreadDrawingDuringTheRecomputationChangesNeitherTheMaskNorTheReplay) {
  Blocks net(1);
  Tensor x = uniform({4, 8}, kFloat32, -1, 1, 11).requires_grad_(true);
  manual_seed(13);
  Tensor plain = net.block(0, x, 0.5);
  const TensorList plain_grads = autograd::grad({sum(plain * plain)}, {x});

  manual_seed(13);
  std::string global_before_the_draw;
  uint64_t drawn_by_the_other_thread = 0;
  auto body = [&](const TensorList& in) {
    if (GradMode::is_enabled()) {  // the recomputation in backward (forward runs without grad)
      global_before_the_draw = [] {
        std::string s;
        std::thread([&s] { s = default_generator().get_state(); }).join();
        return s;
      }();
      std::thread([&] {
        Generator& g = default_generator();
        std::lock_guard lock(g.mutex());
        drawn_by_the_other_thread = g.next_u64();
      }).join();
    }
    return TensorList{net.block(0, in[0], 0.5)};
  };
  Tensor y = utils::checkpoint(body, {x})[0];
  EXPECT_TRUE(equal(plain, y));
  const TensorList grads = autograd::grad({sum(y * y)}, {x});
  EXPECT_TRUE(equal(plain_grads[0], grads[0])) << "the replayed mask differs from forward's";

  // The other thread drew the global generator's next number, as it would have without the checkpoint.
  Generator expected;
  expected.set_state(global_before_the_draw);
  EXPECT_EQ(drawn_by_the_other_thread, expected.next_u64());
  EXPECT_EQ(default_generator().get_state(), expected.get_state());
}

TEST(Checkpoint, AThreadGeneratorGuardRedirectsOnlyItsOwnThreadAndNests) {
  Generator& global = default_generator();
  Generator a(1), b(2);
  {
    ThreadGeneratorGuard use_a(a);
    EXPECT_EQ(&default_generator(), &a);
    Generator* seen_by_another_thread = nullptr;
    std::thread([&] { seen_by_another_thread = &default_generator(); }).join();
    EXPECT_EQ(seen_by_another_thread, &global);
    {
      ThreadGeneratorGuard use_b(b);
      EXPECT_EQ(&default_generator(), &b);
    }
    EXPECT_EQ(&default_generator(), &a);
  }
  EXPECT_EQ(&default_generator(), &global);
}

TEST(Checkpoint, AScopedThreadGeneratorDrawsFromItsStateAndLeavesTheGlobalOneAlone) {
  manual_seed(5);
  const std::string global_state = default_generator().get_state();
  Generator reference(77);
  const std::string state = reference.get_state();
  {
    ScopedThreadGenerator scoped(state);
    EXPECT_EQ(&default_generator(), &scoped.generator());
    EXPECT_EQ(default_generator().next_u64(), reference.next_u64());
    EXPECT_EQ(default_generator().next_u64(), reference.next_u64());
  }
  EXPECT_EQ(default_generator().get_state(), global_state);
  // A state that is not one raises, and the thread keeps its generator.
  Generator& before = default_generator();
  EXPECT_THROW(ScopedThreadGenerator("not a state"), Error);
  EXPECT_EQ(&default_generator(), &before);
}

TEST(Checkpoint, WithoutPreservingTheGeneratorTheRecomputedMaskDiffers) {
  Blocks net(1);
  Tensor x = uniform({4, 8}, kFloat32, -1, 1, 11).requires_grad_(true);
  manual_seed(9);
  Tensor plain = net.block(0, x, 0.5);
  TensorList plain_grads = autograd::grad({sum(plain * plain)}, {x});
  manual_seed(9);
  Tensor y = utils::checkpoint([&net](const TensorList& in) { return TensorList{net.block(0, in[0], 0.5)}; }, {x},
                               {.preserve_rng_state = false})[0];
  EXPECT_TRUE(equal(plain, y));  // forward draws the same mask
  net.zero_grad();
  sum(y * y).backward();
  EXPECT_FALSE(equal(plain_grads[0], x.grad()));  // backward recomputed with the next numbers
}

TEST(Checkpoint, KeepsOnlyTheInputsAndRunsTheFunctionOncePerPass) {
  int calls = 0;
  Tensor x = uniform({3, 5}, kFloat64, -1, 1, 1).requires_grad_(true);
  auto body = [&calls](const TensorList& in) {
    ++calls;
    return TensorList{tanh(exp(in[0]) * 2.0)};
  };
  TensorList out = utils::checkpoint(body, {x});
  EXPECT_EQ(calls, 1);
  ASSERT_NE(out[0].grad_fn(), nullptr);
  EXPECT_STREQ(out[0].grad_fn()->name(), "CheckpointFunctionBackward");
  // The node's only edge is to x: exp and tanh were not recorded.
  std::vector<std::string> edges;
  for (size_t i = 0; i < out[0].grad_fn()->num_inputs(); ++i)
    if (out[0].grad_fn()->next_edge(i).valid()) edges.push_back(out[0].grad_fn()->next_edge(i).node->name());
  EXPECT_EQ(edges, std::vector<std::string>{"AccumulateGrad"});
  sum(out[0]).backward();
  EXPECT_EQ(calls, 2);
  const Tensor e = exp(x.detach()), t = tanh(e * 2.0);
  EXPECT_TRUE(allclose(x.grad(), (1 - t * t) * 2.0 * e, 1e-12, 1e-12));
}

TEST(Checkpoint, PassesGradcheckInItsInputs) {
  Tensor x = uniform({2, 3}, kFloat64, -1, 1, 2).requires_grad_(true);
  Tensor w = uniform({3, 4}, kFloat64, -1, 1, 3).requires_grad_(true);
  auto fn = [](const TensorList& in) {
    return utils::checkpoint([](const TensorList& a) { return TensorList{sigmoid(matmul(a[0], a[1]))}; }, in)[0];
  };
  EXPECT_TRUE(autograd::gradcheck(fn, {x, w}));
}

TEST(Checkpoint, WithoutAnInputThatRequiresGradWarnsAndRecordsNothing) {
  std::vector<std::string> warnings;
  WarningHandler previous = set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
  nn::Linear layer(3, 2);
  Tensor y = utils::checkpoint([&layer](const TensorList& in) { return TensorList{layer.forward(in[0])}; },
                               {ones({1, 3})})[0];
  set_warning_handler(previous);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("none of the inputs have requires_grad=True"), std::string::npos);
  EXPECT_FALSE(y.requires_grad());
}

TEST(Checkpoint, RefusesSecondDerivativesAndUndefinedInputs) {
  Tensor x = uniform({3}, kFloat64, -1, 1, 4).requires_grad_(true);
  Tensor y = utils::checkpoint([](const TensorList& in) { return TensorList{in[0] * in[0] * in[0]}; }, {x})[0];
  TensorList g = autograd::grad({sum(y)}, {x}, {}, true, /*create_graph=*/true);
  EXPECT_THROW(autograd::grad({sum(g[0])}, {x}), Error);
  EXPECT_THROW(utils::checkpoint([](const TensorList& in) { return in; }, {Tensor()}), Error);
}

}  // namespace

namespace {

// What checkpointing is for: a stack of checkpointed blocks holds only each block's input between forward
// and backward, not the activations inside the blocks, so the peak memory of a training step drops.
TEST(Checkpoint, LowersThePeakMemoryOfAStepOfADeepStack) {
  manual_seed(1);
  std::vector<std::shared_ptr<nn::Linear>> layers;
  for (int i = 0; i < 8; ++i) layers.push_back(std::make_shared<nn::Linear>(256, 1024));
  std::vector<std::shared_ptr<nn::Linear>> back;
  for (int i = 0; i < 8; ++i) back.push_back(std::make_shared<nn::Linear>(1024, 256));
  auto block = [&](int i, const Tensor& x) { return x + back[i]->forward(F::gelu(layers[i]->forward(x))); };
  auto peak_of_step = [&](bool checkpointed) {
    Tensor x = uniform({128, 256}, kFloat32, -1, 1, 3).requires_grad_(true);
    for (auto& l : layers) l->zero_grad();
    for (auto& l : back) l->zero_grad();
    empty_cache();
    reset_peak_memory_stats();
    const int64_t start = memory_allocated();
    Tensor h = x;
    for (int i = 0; i < 8; ++i)
      h = checkpointed ? utils::checkpoint([&, i](const TensorList& in) { return TensorList{block(i, in[0])}; }, {h})[0]
                       : block(i, h);
    sum(h * h).backward();
    return max_memory_allocated() - start;
  };
  const int64_t plain = peak_of_step(false), ckpt = peak_of_step(true);
  // Each plain block keeps two 128 x 1024 activations (the linear output for gelu, gelu's output for the
  // second linear): 1 MiB each, 16 MiB in all; checkpointed, one block's worth is alive at a time.
  EXPECT_LT(ckpt, plain / 2) << "plain " << plain << " bytes, checkpointed " << ckpt;
}

}  // namespace
