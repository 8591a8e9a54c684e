// ZeRO stages 0-3 on 1-4 ranks against single-process training: bit for bit against gradient accumulation over
// the same micro-batches (so every stage and world size agrees with every other), and within rtol 1e-5 /
// atol 1e-6 against one forward over the global batch.
#include "zero/harness.h"

namespace zero_test {
namespace {

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* opt : {"sgd", "momentum", "adam", "adamw", "amsgrad"}) {
    TrainSetup s;
    s.optimizer = opt;
    out.push_back({opt, s});
  }
  TrainSetup groups;
  groups.two_groups = true;
  out.push_back({"adam_two_groups", groups});
  groups.optimizer = "momentum";
  out.push_back({"momentum_two_groups", groups});
  TrainSetup frozen;
  frozen.frozen = true;
  frozen.optimizer = "adamw";
  out.push_back({"adamw_frozen_layer", frozen});
  TrainSetup clipped;
  clipped.clip = 0.05;
  out.push_back({"adam_clipped", clipped});
  TrainSetup clipped_groups = clipped;
  clipped_groups.two_groups = true;
  clipped_groups.optimizer = "momentum";
  out.push_back({"momentum_two_groups_clipped", clipped_groups});
  TrainSetup f64;
  f64.dtype = kFloat64;
  f64.clip = 0.05;
  out.push_back({"adam_float64_clipped", f64});
  // Gradients reduced in several buckets, each started as soon as backward has finished its gradients (one
  // parameter per bucket; about one layer per bucket), or one after another once backward has finished.
  TrainSetup per_parameter = clipped_groups;
  per_parameter.reduce_bucket_size = 1;
  out.push_back({"momentum_two_groups_clipped_bucket_per_parameter", per_parameter});
  TrainSetup per_layer;
  per_layer.frozen = true;
  per_layer.reduce_bucket_size = 20;
  out.push_back({"adam_frozen_layer_bucket_per_layer", per_layer});
  per_layer.overlap_comm = false;
  out.push_back({"adam_frozen_layer_bucket_per_layer_no_overlap", per_layer});
  // Stage 3 prefetches the next modules' parameters by default; here one module's at a time, and none.
  TrainSetup prefetch_one;
  prefetch_one.frozen = true;
  prefetch_one.prefetch_bucket_size = 42;  // fc1's 35 + 7 elements
  out.push_back({"adam_frozen_layer_prefetch_one_module", prefetch_one});
  prefetch_one.prefetch_bucket_size = 0;
  out.push_back({"adam_frozen_layer_no_prefetch", prefetch_one});
  return out;
}

class ZeroEquivalence : public ::testing::TestWithParam<Case> {};

TEST_P(ZeroEquivalence, EveryStageAndWorldSizeMatchesSingleProcessAccumulationBitForBit) {
  const TrainSetup& s = GetParam().setup;
  const Trace plain = run_plain(s);
  for (double norm : plain.norms) EXPECT_GT(norm, s.clip) << "the clipping case must clip";
  expect_every_stage_and_world_size_identical(GetParam(), plain);
}

TEST_P(ZeroEquivalence, MatchesGlobalBatchTrainingWithinTolerance) {
  const TrainSetup& s = GetParam().setup;
  const Trace global = run_global_batch(s);
  const Trace zero = run_zero(s, 3, 3);
  ASSERT_EQ(global.states.size(), zero.states.size());
  for (size_t step = 0; step < global.states.size(); ++step) {
    EXPECT_NEAR(zero.losses[step], global.losses[step], 1e-6 + 1e-5 * std::abs(global.losses[step])) << "step " << step;
    const nn::StateDict a = zero.states[step].at("model").tensors, b = global.states[step].at("model").tensors;
    std::map<std::string, Tensor> by_name(b.begin(), b.end());
    for (const auto& [name, t] : a)
      EXPECT_TRUE(allclose(t, by_name.at(name), 1e-5, 1e-6)) << GetParam().name << ", step " << step << ": " << name << "\n"
                                                          << t << "\n" << by_name.at(name);
  }
}

TEST(ZeroEquivalence, RanksWhoseSliceHoldsOnlyPaddingStillTakePart) {
  TrainSetup s;
  s.in = 1;
  s.hidden = 1;
  s.out = 2;  // four slots of 16 elements: with 5 or 6 ranks, the last ones own nothing but padding
  s.micro_batches = 30;
  s.steps = 2;
  s.clip = 1e-3;
  const Trace plain = run_plain(s);
  for (int world : {5, 6})
    for (int stage = 0; stage <= 3; ++stage)
      expect_identical(run_zero(s, world, stage), plain, "W=" + std::to_string(world) + ", stage " + std::to_string(stage));
}

TEST(ZeroEquivalence, LearningRateSchedulersDriveEveryRanksOptimizer) {
  TrainSetup s;
  s.steps = 4;
  s.micro_batches = 3;
  const Data data = make_data(s);
  // Single process, kernels on one thread.
  optim::Checkpoint plain;
  std::thread([&] {
    zero::SingleThreadedKernels one_thread;
    auto model = make_model(s);
    for (Tensor& p : model->parameters()) p.mutable_grad() = zeros_like(p);
    auto opt = make_plain_optimizer(s, make_groups(s, *model));
    optim::StepLR schedule(*opt, 2, 0.5);
    for (int step = 0; step < s.steps; ++step) {
      opt->zero_grad();
      for (int j = 0; j < s.micro_batches; ++j)
        micro_batch_loss(s, *model, data.input(s, step, j), data.target(s, step, j)).backward();
      opt->step();
      schedule.step();
    }
    plain = plain_state(*model, *opt);
  }).join();
  std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s), make_model(s)};
  std::vector<optim::Checkpoint> shards(3);
  zero::run_in_process(3, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_groups(s, model), make_factory(s), comm, 2);
    optim::StepLR schedule(opt.optimizer(), 2, 0.5);
    for (int step = 0; step < s.steps; ++step) {
      opt.backward(micro_batch_loss(s, model, data.input(s, step, comm.rank()), data.target(s, step, comm.rank())));
      opt.step();
      schedule.step();
    }
    shards[static_cast<size_t>(comm.rank())] = opt.shard_checkpoint();
  });
  expect_identical(zero::consolidate_shards(shards), plain, "StepLR");
}

INSTANTIATE_TEST_SUITE_P(Optimizers, ZeroEquivalence, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace zero_test
