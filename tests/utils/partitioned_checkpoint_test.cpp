// ZeRO-R's partitioned activation checkpoints (P_a) in the setting they are for: a tensor-parallel MLP (Megatron's
// column- and row-parallel split), whose block inputs are the same on every rank. Each rank keeps 1/W of every
// checkpointed input; gradients are bit for bit those of plain checkpointing and of no checkpointing.
#include "graft/utils/partitioned_checkpoint.h"

#include <gtest/gtest.h>

#include <cstring>

#include "graft/graft.h"
#include "graft/optim/zero/zero.h"

namespace graft {
namespace {

namespace zero = graft::optim::zero;
namespace F = graft::nn::functional;

// Megatron's f: identity in forward, the gradients of the replicated input summed over the ranks in backward.
struct CopyToParallel : autograd::Function<CopyToParallel> {
  static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x, zero::Communicator* comm) {
    ctx->saved_data["comm"] = autograd::SavedValue::of(comm);
    return x.clone();
  }
  static TensorList backward(autograd::AutogradContext* ctx, TensorList grads) {
    Tensor g = grads[0].clone();
    ctx->saved_data["comm"].get<zero::Communicator*>()->all_reduce(g);
    return {g, Tensor()};
  }
};

// Megatron's g: the partial outputs summed over the ranks in forward, identity in backward.
struct ReduceFromParallel : autograd::Function<ReduceFromParallel> {
  static Tensor forward(autograd::AutogradContext*, const Tensor& x, zero::Communicator* comm) {
    Tensor sum = x.clone();
    comm->all_reduce(sum);
    return sum;
  }
  static TensorList backward(autograd::AutogradContext*, TensorList grads) { return {grads[0], Tensor()}; }
};

constexpr int64_t kWidth = 16, kHidden = 64, kRows = 32, kBlocks = 3;

// Full weights and the input, the same for every rank (drawn before the ranks start: the global generator is
// shared by their threads); rank r uses columns [r h/W, (r+1) h/W) of w1 and those rows of w2.
struct Weights {
  std::vector<Tensor> w1, w2;
  Tensor x;
  Weights() {
    manual_seed(3);
    for (int64_t b = 0; b < kBlocks; ++b) {
      w1.push_back(randn({kWidth, kHidden}) * 0.3);
      w2.push_back(randn({kHidden, kWidth}) * 0.3);
    }
    x = randn({kRows, kWidth});
  }
};

enum class Mode { Plain, Checkpoint, Partitioned };

struct RankResult {
  Tensor output, input_grad;
  std::vector<Tensor> w1_grads, w2_grads;
  int64_t kept_bytes = 0;  // allocated by the rank's forward and still held when backward starts
};

RankResult run_rank(zero::Communicator& comm, const Weights& weights, Mode mode) {
  const int W = comm.world_size(), r = comm.rank();
  const int64_t part = kHidden / W;
  std::vector<Tensor> w1, w2;
  for (int64_t b = 0; b < kBlocks; ++b) {
    w1.push_back(weights.w1[b].narrow(1, r * part, part).contiguous().requires_grad_(true));
    w2.push_back(weights.w2[b].narrow(0, r * part, part).contiguous().requires_grad_(true));
  }
  Tensor x = weights.x.clone().requires_grad_(true);
  const int64_t before = thread_memory_allocated();
  Tensor h = x;
  for (int64_t b = 0; b < kBlocks; ++b) {
    auto block = [&, b](const TensorList& in) {
      const Tensor y = matmul(F::relu(matmul(CopyToParallel::apply(in[0], &comm), w1[b])), w2[b]);
      return TensorList{ReduceFromParallel::apply(y, &comm) + in[0]};
    };
    if (mode == Mode::Plain) h = block({h})[0];
    if (mode == Mode::Checkpoint) h = utils::checkpoint(block, {h})[0];
    if (mode == Mode::Partitioned) h = utils::partitioned_checkpoint(comm, block, {h})[0];
  }
  RankResult result;
  result.kept_bytes = thread_memory_allocated() - before;
  result.output = h.detach().clone();
  (h * h).sum().backward();
  result.input_grad = x.grad().clone();
  for (int64_t b = 0; b < kBlocks; ++b) {
    result.w1_grads.push_back(w1[b].grad().clone());
    result.w2_grads.push_back(w2[b].grad().clone());
  }
  return result;
}

std::vector<RankResult> run(int W, Mode mode) {
  const Weights weights;
  std::vector<RankResult> results(static_cast<size_t>(W));
  zero::run_in_process(W, [&](zero::Communicator& comm) {
    results[static_cast<size_t>(comm.rank())] = run_rank(comm, weights, mode);
  });
  return results;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), static_cast<size_t>(a.numel()) * element_size(a.dtype())) == 0;
}

TEST(PartitionedCheckpoint, GradientsAreBitForBitThoseOfPlainAndOfNoCheckpointing) {
  for (int W : {1, 2, 4}) {
    const auto plain = run(W, Mode::Plain), checkpointed = run(W, Mode::Checkpoint), partitioned = run(W, Mode::Partitioned);
    for (int r = 0; r < W; ++r) {
      const std::string at = fmt::format("W={} rank {}", W, r);
      for (const auto* other : {&plain, &checkpointed}) {
        const RankResult& a = (*other)[static_cast<size_t>(r)];
        const RankResult& b = partitioned[static_cast<size_t>(r)];
        EXPECT_TRUE(bitwise_equal(a.output, b.output)) << at;
        EXPECT_TRUE(bitwise_equal(a.input_grad, b.input_grad)) << at;
        for (int64_t k = 0; k < kBlocks; ++k) {
          EXPECT_TRUE(bitwise_equal(a.w1_grads[k], b.w1_grads[k])) << at << " block " << k;
          EXPECT_TRUE(bitwise_equal(a.w2_grads[k], b.w2_grads[k])) << at << " block " << k;
        }
      }
    }
  }
}

TEST(PartitionedCheckpoint, TheTensorParallelBlockComputesTheWholeBlock) {
  const Weights weights;
  Tensor h = weights.x;
  for (int64_t b = 0; b < kBlocks; ++b) h = matmul(F::relu(matmul(h, weights.w1[b])), weights.w2[b]) + h;
  for (const RankResult& r : run(4, Mode::Partitioned)) EXPECT_TRUE(allclose(r.output, h, 1e-5, 1e-5));
}

TEST(PartitionedCheckpoint, EachRankKeepsAWthOfEveryCheckpointedInput) {
  const int64_t input_bytes = kRows * kWidth * 4;
  for (int W : {1, 2, 4}) {
    const auto checkpointed = run(W, Mode::Checkpoint), partitioned = run(W, Mode::Partitioned);
    for (int r = 0; r < W; ++r) {
      // Plain checkpoints keep the outputs of blocks 0 .. L-2 as the next blocks' inputs, and the caller holds the
      // last; partitioned ones keep a W-th of each of the L inputs (x included) and the caller's last output. On
      // one rank they keep what plain checkpoints keep (no copies).
      EXPECT_EQ(checkpointed[static_cast<size_t>(r)].kept_bytes, kBlocks * input_bytes) << "W=" << W;
      EXPECT_EQ(partitioned[static_cast<size_t>(r)].kept_bytes,
                W == 1 ? kBlocks * input_bytes : kBlocks * input_bytes / W + input_bytes)
          << "W=" << W;
    }
  }
}

TEST(PartitionedCheckpoint, InputsThatDifferBetweenRanksAreAnErrorOnEveryRank) {
  std::vector<std::string> errors(3);
  zero::run_in_process(3, [&](zero::Communicator& comm) {
    Tensor x = full({4, 4}, comm.rank() == 2 ? 2.0 : 1.0).requires_grad_(true);
    try {
      utils::partitioned_checkpoint(comm, [](const TensorList& in) { return TensorList{in[0] * 2}; }, {x});
    } catch (const Error& e) {
      errors[static_cast<size_t>(comm.rank())] = e.what();
    }
  });
  for (const std::string& e : errors)
    EXPECT_NE(e.find("partitioned_checkpoint: input 0 differs between ranks (rank 2 holds other values"), std::string::npos)
        << e;
}

TEST(PartitionedCheckpoint, ItsOwnHooksAreNotForTheCaller) {
  zero::run_in_process(1, [&](zero::Communicator& comm) {
    utils::CheckpointOptions options;
    options.pack_input = [](const Tensor& t) -> std::any { return t; };
    options.unpack_input = [](const std::any& a) { return std::any_cast<Tensor>(a); };
    Tensor x = ones({2}).requires_grad_(true);
    EXPECT_THROW(utils::partitioned_checkpoint(comm, [](const TensorList& in) { return in; }, {x}, options), Error);
  });
}

// The hooks partitioned checkpoints are made of, on their own.
TEST(CheckpointHooks, PackedInputsAreWhatBackwardRecomputesFrom) {
  Tensor x = randn({3, 4}).requires_grad_(true);
  int packs = 0, unpacks = 0;
  utils::CheckpointOptions options;
  options.pack_input = [&](const Tensor& t) -> std::any {
    ++packs;
    return t.detach().clone();
  };
  options.unpack_input = [&](const std::any& kept) {
    ++unpacks;
    return std::any_cast<Tensor>(kept);
  };
  Tensor y = utils::checkpoint([](const TensorList& in) { return TensorList{in[0].sin() * in[0]}; }, {x}, options)[0];
  y.sum().backward();
  EXPECT_EQ(packs, 1);
  EXPECT_EQ(unpacks, 1);
  Tensor x2 = x.detach().clone().requires_grad_(true);
  (x2.sin() * x2).sum().backward();
  EXPECT_TRUE(bitwise_equal(x.grad(), x2.grad()));
  options.unpack_input = [](const std::any&) { return zeros({4, 3}); };
  Tensor z = utils::checkpoint([](const TensorList& in) { return TensorList{in[0] * 2}; }, {x}, options)[0];
  try {
    z.sum().backward();
    ADD_FAILURE() << "no error for an unpacked input of another shape";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unpack_input returned float32 [4, 3] for input 0, which was float32 [3, 4]"),
              std::string::npos)
        << e.what();
  }
  utils::CheckpointOptions half;
  half.pack_input = options.pack_input;
  try {
    utils::checkpoint([](const TensorList& in) { return in; }, {x}, half);
    ADD_FAILURE() << "no error for pack_input without unpack_input";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pack_input and unpack_input must be set together (only pack_input is)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace graft
