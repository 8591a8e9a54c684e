// ZeRO over bfloat16 and float16 models (the paper's mixed precision): 16-bit parameters and gradients, float32
// master weights and optimizer state. Every stage and world size computes, bit for bit, what mixed-precision
// training in one process computes, with clipping and with float16's dynamic loss scaling (skipped steps
// included); checkpoints carry the master weights through saving, resharding and resuming.
#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "zero/harness.h"

namespace zero_test {
namespace {

std::vector<Case> cases() {
  std::vector<Case> out;
  TrainSetup adam;
  adam.dtype = kBFloat16;
  out.push_back({"adam_bfloat16", adam});
  TrainSetup momentum = adam;
  momentum.optimizer = "momentum";
  momentum.two_groups = true;
  momentum.clip = 0.05;
  out.push_back({"momentum_bfloat16_two_groups_clipped", momentum});
  TrainSetup frozen = adam;
  frozen.optimizer = "adamw";
  frozen.frozen = true;
  out.push_back({"adamw_bfloat16_frozen_layer", frozen});
  // A scale of 2^16 overflows float16 gradients at first: steps are skipped and the scale halves until they fit.
  TrainSetup scaled;
  scaled.dtype = kFloat16;
  scaled.loss_scale = 1 << 16;
  scaled.steps = 4;
  out.push_back({"adam_float16_scaled", scaled});
  TrainSetup scaled_clipped = scaled;
  scaled_clipped.clip = 0.05;
  scaled_clipped.optimizer = "amsgrad";
  out.push_back({"amsgrad_float16_scaled_clipped", scaled_clipped});
  return out;
}

class ZeroMixedPrecision : public ::testing::TestWithParam<Case> {};

TEST_P(ZeroMixedPrecision, EveryStageAndWorldSizeMatchesSingleProcessMixedPrecisionBitForBit) {
  const TrainSetup& s = GetParam().setup;
  const Trace plain = run_plain(s);
  for (double norm : plain.norms) {
    if (std::isfinite(norm)) {  // inf: a skipped step
      EXPECT_GT(norm, s.clip) << "the clipping case must clip";
    }
  }
  if (s.loss_scale > 0) {
    EXPECT_GE(plain.skipped, 1) << "the scaled case must skip a step";
    EXPECT_LT(plain.skipped, s.steps) << "the scaled case must also step";
  }
  expect_every_stage_and_world_size_identical(GetParam(), plain);
}

TEST_P(ZeroMixedPrecision, TheModelKeepsItsDtypeAndTheMasterWeightsAreFloat32) {
  const TrainSetup& s = GetParam().setup;
  const Trace zero = run_zero(s, 3, 2);
  const optim::Checkpoint& last = zero.states.back();
  for (const auto& [name, t] : last.at("model").tensors) EXPECT_EQ(t.dtype(), s.dtype) << name;
  int masters = 0;
  for (const auto& [name, t] : last.at("optimizer").tensors) {
    EXPECT_EQ(t.dtype(), kFloat32) << name;
    if (name.ends_with(".master")) ++masters;
  }
  EXPECT_GT(masters, 0);
  // The model holds its master weights rounded to 16 bits.
  const nlohmann::json meta = nlohmann::json::parse(last.at("optimizer").metadata);
  const nn::StateDict model = last.at("model").tensors;
  size_t i = 0;
  for (const auto& [name, t] : model) {
    if (name.starts_with("proj.")) {  // frozen: no optimizer state
      ++i;
      continue;
    }
    if (meta["state"].contains(std::to_string(i))) {
      EXPECT_TRUE(equal(last.at("optimizer").tensor("state." + std::to_string(i) + ".master").to(s.dtype), t)) << name;
    }
    ++i;
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, ZeroMixedPrecision, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(ZeroMixedPrecision, FallsWithinTheFloat32RunsReachOnTheSameData) {
  // Mixed precision is not float32, but it must train the same model: the bfloat16 run's weights stay
  // within bfloat16's resolution of the float32 run's after a few steps.
  TrainSetup f32;
  TrainSetup bf16;
  bf16.dtype = kBFloat16;
  const Trace a = run_zero(f32, 2, 3), b = run_zero(bf16, 2, 3);
  for (size_t step = 0; step < a.losses.size(); ++step)
    EXPECT_NEAR(b.losses[step], a.losses[step], 0.02 * std::abs(a.losses[step])) << "step " << step;
  const nn::StateDict fa = a.states.back().at("model").tensors, fb = b.states.back().at("model").tensors;
  for (size_t k = 0; k < fa.size(); ++k)
    EXPECT_TRUE(allclose(fb[k].second.to(kFloat32), fa[k].second, 2e-2, 2e-2)) << fa[k].first;
}

TEST(ZeroMixedPrecision, AGroupCannotMixFloat32And16BitParameters) {
  TrainSetup s;
  auto model = make_model(s);
  {
    NoGradGuard no_grad;
    Tensor& w = model->fc2->weight;
    w.impl()->set_data(*w.to(kBFloat16).impl());
  }
  zero::run_in_process(1, [&](zero::Communicator& comm) {
    try {
      zero::ShardedOptimizer opt(*model, make_factory(s), comm, 1);
      ADD_FAILURE() << "a group of float32 and bfloat16 parameters was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("group 0 mixes float32 and bfloat16 parameters"), std::string::npos)
          << e.what();
    }
  });
}

TEST(ZeroMixedPrecision, Float16OverflowWithoutAScalerRaisesOnEveryRankAndChangesNothing) {
  TrainSetup s;
  s.dtype = kFloat16;
  const Data data = make_data(s);
  for (int stage : {0, 2, 3}) {
    std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s)};
    std::vector<std::string> errors(2);
    std::vector<optim::Checkpoint> before(2), after(2);
    zero::run_in_process(2, [&](zero::Communicator& comm) {
      const size_t r = static_cast<size_t>(comm.rank());
      Mlp& model = *models[r];
      zero::ShardedOptimizer opt(model, make_factory(s), comm, stage);
      before[r] = opt.shard_checkpoint();
      // Only rank 1's gradients overflow: both ranks must refuse the step.
      Tensor loss = micro_batch_loss(s, model, data.input(s, 0, comm.rank()), data.target(s, 0, comm.rank()));
      opt.backward(comm.rank() == 1 ? loss * 1e8 : loss);
      try {
        opt.step();
      } catch (const Error& e) {
        errors[r] = e.what();
      }
      after[r] = opt.shard_checkpoint();
    });
    for (size_t r = 0; r < 2; ++r) {
      const std::string at = "stage " + std::to_string(stage) + ", rank " + std::to_string(r);
      EXPECT_NE(errors[r].find("a gradient is inf or NaN after a float16 backward: float16 overflowed"),
                std::string::npos)
          << at << ": " << errors[r];
      // The same parameters, optimizer state and step counts (only has_grad may differ).
      const nlohmann::json a = nlohmann::json::parse(after[r].metadata), b = nlohmann::json::parse(before[r].metadata);
      for (size_t i = 0; i < a["zero"]["params"].size(); ++i)
        EXPECT_EQ(a["zero"]["params"][i]["step"], b["zero"]["params"][i]["step"]) << at;
      after[r].metadata = before[r].metadata;
      expect_identical(after[r], before[r], at);
    }
  }
}

// A float32 model under float16 autocast, no GradScaler: the overflow of one rank is found by all of them
// together, as with a float16 model (each rank's own optimizer used to find it on its slice only, so the
// other ranks went on to the step's collectives alone).
TEST(ZeroMixedPrecision, Float16AutocastOverflowWithoutAScalerRaisesOnEveryRank) {
  TrainSetup s;
  const Data data = make_data(s);
  for (int stage : {1, 2, 3}) {
    std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s)};
    std::vector<std::string> errors(2);
    zero::run_in_process(2, [&](zero::Communicator& comm) {
      comm.set_timeout(std::chrono::seconds(20));  // a rank left alone in a collective fails instead of hanging
      Mlp& model = *models[static_cast<size_t>(comm.rank())];
      zero::ShardedOptimizer opt(model, make_factory(s), comm, stage);
      Tensor loss;
      {
        AutocastGuard autocast(kFloat16);
        // Only rank 1's activations overflow float16's 65504.
        const Tensor x = data.input(s, 0, comm.rank()) * (comm.rank() == 1 ? 1e6 : 1.0);
        loss = micro_batch_loss(s, model, x, data.target(s, 0, comm.rank()));
      }
      opt.backward(loss);
      try {
        opt.step();
      } catch (const Error& e) {
        errors[static_cast<size_t>(comm.rank())] = e.what();
      }
    });
    for (size_t r = 0; r < 2; ++r)
      EXPECT_NE(errors[r].find("ShardedOptimizer.step: a gradient is inf or NaN after float16 autocast"),
                std::string::npos)
          << "stage " << stage << ", rank " << r << ": " << errors[r];
  }
}

namespace fs = std::filesystem;

TEST(ZeroMixedPrecision, CheckpointsCarryTheMasterWeightsThroughReshardingAndResuming) {
  TrainSetup s;
  s.dtype = kBFloat16;
  s.steps = 4;
  s.clip = 0.05;
  s.two_groups = true;
  const Trace plain = run_plain(s);
  const fs::path dir = fs::temp_directory_path() / fmt::format("graft_zero_mixed_{}", getpid());
  fs::remove_all(dir);
  const Data data = make_data(s);
  // Two steps on four ranks at stage 3, saved.
  {
    std::vector<std::shared_ptr<Mlp>> models;
    for (int r = 0; r < 4; ++r) models.push_back(make_model(s));
    zero::run_in_process(4, [&](zero::Communicator& comm) {
      Mlp& model = *models[static_cast<size_t>(comm.rank())];
      zero::ShardedOptimizer opt(model, make_groups(s, model), make_factory(s), comm, 3);
      for (int step = 0; step < 2; ++step) {
        for (int j = comm.rank(); j < s.micro_batches; j += 4)
          opt.backward(micro_batch_loss(s, model, data.input(s, step, j), data.target(s, step, j)));
        opt.clip_grad_norm_(s.clip);
        opt.step();
      }
      opt.save((dir / "w4").string());
    });
  }
  expect_identical(zero::consolidate_shards(zero::read_shards((dir / "w4").string())), plain.states[1], "saved");
  zero::write_shards(zero::reshard(zero::read_shards((dir / "w4").string()), 3), (dir / "w3").string());
  // Two more on three ranks at stage 1, from other initial weights: the checkpoint replaces them all.
  TrainSetup other = s;
  other.seed = s.seed + 99;
  std::vector<std::shared_ptr<Mlp>> models;
  for (int r = 0; r < 3; ++r) models.push_back(make_model(other));
  std::vector<optim::Checkpoint> shards(3);
  zero::run_in_process(3, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_groups(s, model), make_factory(s), comm, 1);
    opt.load((dir / "w3").string());
    for (int step = 2; step < 4; ++step) {
      for (int j = comm.rank(); j < s.micro_batches; j += 3)
        opt.backward(micro_batch_loss(s, model, data.input(s, step, j), data.target(s, step, j)));
      opt.clip_grad_norm_(s.clip);
      opt.step();
    }
    shards[static_cast<size_t>(comm.rank())] = opt.shard_checkpoint();
  });
  fs::remove_all(dir);
  expect_identical(zero::consolidate_shards(shards), plain.states[3], "resharded 4 -> 3 and resumed");
}

TEST(ZeroMixedPrecision, ShardsWithoutTheirMasterWeightsAreRefused) {
  TrainSetup s;
  s.dtype = kBFloat16;
  auto model = make_model(s);
  std::vector<optim::Checkpoint> shards(1);
  zero::run_in_process(1, [&](zero::Communicator& comm) {
    zero::ShardedOptimizer opt(*model, make_factory(s), comm, 2);
    shards[0] = opt.shard_checkpoint();
  });
  optim::Checkpoint& shard = shards[0];
  nlohmann::json meta = nlohmann::json::parse(shard.metadata);
  nlohmann::json& states = meta["zero"]["groups"][0]["buckets"][0]["states"];
  states.erase(std::find(states.begin(), states.end(), "master"));
  shard.metadata = meta.dump();
  std::erase_if(shard.tensors, [](const auto& e) { return e.first.ends_with(".state.master"); });
  try {
    zero::consolidate_shards(shards);
    ADD_FAILURE() << "a bfloat16 shard without master weights was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without their float32 master weights"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace zero_test
