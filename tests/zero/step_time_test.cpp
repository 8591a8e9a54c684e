// The step-time model: its collective formulas, the collectives it simulates against those ShardedOptimizer
// really issues, where waiting shows, its timeline, memory, model descriptions and errors.
#include <nlohmann/json.hpp>

#include "graft/optim/zero/step_time.h"
#include "zero/harness.h"

namespace zero_test {
namespace {

using zero::Collective;

// `statement` raises a graft::Error whose message contains `fragment`.
#define EXPECT_THROW_MSG(statement, fragment)                                                   \
  do {                                                                                         \
    try {                                                                                      \
      (void)(statement);                                                                       \
      ADD_FAILURE() << "no error; expected one mentioning '" << (fragment) << "'";             \
    } catch (const Error& e) {                                                                 \
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();          \
    }                                                                                          \
  } while (false)

zero::Machine test_machine() {
  zero::Machine m;
  m.name = "test";
  m.flops_per_second = 1e9;
  m.optimizer_seconds_per_element = 1e-8;
  m.reduction_bytes_per_second = 4e9;
  m.ranks_per_node = 4;
  m.intra_node = {1e-5, 1e9};
  m.inter_node = {1e-4, 1e8};
  return m;
}

zero::ModelDescription three_layers() {
  zero::ModelDescription d;
  d.name = "three layers";
  d.layers = {{"a", 1000, 2e6}, {"b", 3000, 6e6}, {"c", 2000, 4e6}};
  d.micro_batch = 8;
  return d;
}

double sum_of(const zero::StepTimePrediction& p, const std::string& track) {
  double s = 0;
  for (const zero::PredictedEvent& e : p.timeline)
    if (e.track == track && e.name != "wait") s += e.duration_seconds;
  return s;
}

TEST(StepTimeCollectives, RingTimesFollowAlphaBetaAndTheAdditions) {
  const zero::Machine m = test_machine();
  const double n = 4e6;
  // Within a node (W <= 4): 3 steps of n/4 bytes over the intra-node link.
  EXPECT_DOUBLE_EQ(zero::collective_seconds("all_gather", n, 4, m), 3 * (1e-5 + 1e6 / 1e9));
  EXPECT_DOUBLE_EQ(zero::collective_seconds("reduce_scatter", n, 4, m), 3 * (1e-5 + 1e6 / 1e9) + 3e6 / 4e9);
  EXPECT_DOUBLE_EQ(zero::collective_seconds("all_reduce", n, 4, m),
                   zero::collective_seconds("reduce_scatter", n, 4, m) + zero::collective_seconds("all_gather", n, 4, m));
  // Across nodes the ring runs at the slower link's pace.
  EXPECT_DOUBLE_EQ(zero::collective_seconds("all_gather", n, 8, m), 7 * (1e-4 + 0.5e6 / 1e8));
  EXPECT_EQ(zero::collective_seconds("all_reduce", n, 1, m), 0.0);
  zero::Machine tree = m;
  tree.algorithm = zero::CollectiveAlgorithm::Tree;
  tree.reduction_bytes_per_second = 0;
  EXPECT_DOUBLE_EQ(zero::collective_seconds("all_reduce", n, 4, tree), 2 * 2 * (1e-5 + n / 1e9));
  EXPECT_THROW_MSG(zero::collective_seconds("broadcast", n, 4, m), "collective must be all_gather");
  zero::Machine no_link = m;
  no_link.intra_node.bytes_per_second = 0;
  EXPECT_THROW_MSG(zero::collective_seconds("all_gather", n, 2, no_link), "intra_node.bytes_per_second must be positive");
}

TEST(StepTimeModel, OneRankIsComputeAlone) {
  const zero::ModelDescription d = three_layers();
  zero::ZeroSettings z;
  const zero::StepTimePrediction p = zero::predict_step_time(d, z, test_machine());
  EXPECT_DOUBLE_EQ(p.forward_seconds, 12e6 * 8 / 1e9);
  EXPECT_DOUBLE_EQ(p.backward_seconds, 2 * p.forward_seconds);
  EXPECT_DOUBLE_EQ(p.optimizer_seconds, 6000 * 1e-8);
  EXPECT_NEAR(p.step_seconds, p.forward_seconds + p.backward_seconds + p.optimizer_seconds, 1e-15);
  EXPECT_EQ(p.communication_seconds, 0.0);
  EXPECT_EQ(p.exposed_seconds, 0.0);
  EXPECT_DOUBLE_EQ(p.samples_per_second, 8 / p.step_seconds);
  EXPECT_DOUBLE_EQ(p.model_flops_per_second, 3 * 12e6 * 8 / p.step_seconds);
}

// The collectives the model simulates are those ShardedOptimizer issues: the same number per step, and the same
// bytes sent per rank (the harness's 32-32-32 MLP, 2112 parameters, 4 bytes each).
TEST(StepTimeModel, SimulatesTheCollectivesShardedOptimizerIssues) {
  TrainSetup s;
  s.in = s.hidden = s.out = 32;
  s.steps = 1;
  for (int world : {2, 3, 4}) {
    s.micro_batches = world;
    const Data data = make_data(s);
    for (int stage = 0; stage <= 3; ++stage) {
      std::vector<std::shared_ptr<Mlp>> models;
      for (int r = 0; r < world; ++r) models.push_back(make_model(s));
      std::vector<zero::TrafficByCollective> traffic(static_cast<size_t>(world));
      zero::run_in_process(world, [&](zero::Communicator& comm) {
        Mlp& model = *models[static_cast<size_t>(comm.rank())];
        zero::ShardedOptimizer opt(model, make_factory(s), comm, stage);
        opt.set_reduce_bucket_size(1);  // one bucket per parameter
        const zero::TrafficByCollective before = comm.traffic();
        opt.backward(micro_batch_loss(s, model, data.input(s, 0, comm.rank()), data.target(s, 0, comm.rank())));
        opt.step();
        traffic[static_cast<size_t>(comm.rank())] = comm.traffic() - before;
      });
      // The model's units are modules; a bucket of one element closes at every unit, as at every parameter
      // here only at the module's granularity, so compare bytes, and calls where they agree (one bucket each).
      zero::ModelDescription d = zero::ModelDescription::from_module(*models[0], s.micro_batch);
      zero::ZeroSettings z;
      z.stage = stage, z.world_size = world, z.reduce_bucket_size = 1;
      const zero::StepTimePrediction p = zero::predict_step_time(d, z, test_machine());
      // Uneven chunks make ranks send different counts; the model's share is their mean.
      int64_t sent_by_all = 0;
      for (const auto& t : traffic) sent_by_all += zero::total(t).bytes_sent;
      const std::string at = fmt::format("W={} stage {}", world, stage);
      EXPECT_NEAR(p.communication_bytes * world, static_cast<double>(sent_by_all), 1e-6) << at;
      int64_t modelled_calls = 0;
      for (const zero::PredictedEvent& e : p.timeline) modelled_calls += e.track == "communication";
      if (stage == 3) {  // gathers per module: 2 modules, forward and backward
        EXPECT_EQ(traffic[0][static_cast<size_t>(Collective::AllGather)].calls, 4) << at;
        EXPECT_EQ(std::count_if(p.timeline.begin(), p.timeline.end(),
                                [](const zero::PredictedEvent& e) { return e.name == "all_gather"; }),
                  4)
            << at;
      }
      EXPECT_GT(modelled_calls, 0) << at;
    }
  }
}

TEST(StepTimeModel, StagesMoveTwoPsiOrThreePsiPerRank) {
  const zero::ModelDescription d = three_layers();
  for (int W : {2, 4, 8}) {
    std::array<double, 4> bytes{};
    for (int stage = 0; stage <= 3; ++stage) {
      zero::ZeroSettings z;
      z.stage = stage, z.world_size = W;
      bytes[static_cast<size_t>(stage)] = zero::predict_step_time(d, z, test_machine()).communication_bytes;
    }
    const double two_psi = 2.0 * (W - 1) / W * 6000 * 4;
    EXPECT_DOUBLE_EQ(bytes[0], two_psi);
    EXPECT_DOUBLE_EQ(bytes[1], two_psi);
    EXPECT_DOUBLE_EQ(bytes[2], two_psi);
    EXPECT_DOUBLE_EQ(bytes[3], 1.5 * two_psi);
  }
}

TEST(StepTimeModel, WithoutOverlapEveryCollectiveIsWaitedForAndOverlapHidesSome) {
  const zero::ModelDescription d = three_layers();
  for (int stage = 0; stage <= 3; ++stage) {
    zero::ZeroSettings z;
    z.stage = stage, z.world_size = 4, z.reduce_bucket_size = 1, z.overlap_comm = false, z.prefetch_bucket_size = 0;
    const zero::StepTimePrediction off = zero::predict_step_time(d, z, test_machine());
    EXPECT_NEAR(off.exposed_seconds, off.communication_seconds, 1e-12) << "stage " << stage;
    EXPECT_NEAR(off.step_seconds, off.forward_seconds + off.backward_seconds + off.optimizer_seconds + off.communication_seconds,
                1e-12)
        << "stage " << stage;
    z.overlap_comm = true, z.prefetch_bucket_size = 50'000'000;
    const zero::StepTimePrediction on = zero::predict_step_time(d, z, test_machine());
    EXPECT_LT(on.exposed_seconds, off.exposed_seconds) << "stage " << stage;
    EXPECT_LT(on.step_seconds, off.step_seconds) << "stage " << stage;
    EXPECT_DOUBLE_EQ(on.communication_seconds, off.communication_seconds) << "stage " << stage;
  }
}

TEST(StepTimeModel, ACollectiveSharingTheCoresWithComputeMovesSlower) {
  const zero::ModelDescription d = three_layers();
  zero::ZeroSettings z;
  z.stage = 2, z.world_size = 4, z.reduce_bucket_size = 1;
  zero::Machine engine = test_machine();
  engine.flops_per_second = 1e12;  // a backward layer about as long as a bucket's reduce-scatter
  zero::Machine shared = engine;
  shared.overlap_efficiency = 0.25;
  const zero::StepTimePrediction fast = zero::predict_step_time(d, z, engine);
  const zero::StepTimePrediction slow = zero::predict_step_time(d, z, shared);
  EXPECT_GT(slow.exposed_seconds, fast.exposed_seconds);
  EXPECT_GT(slow.step_seconds, fast.step_seconds);
}

TEST(StepTimeModel, StageThreePrefetchHidesForwardGathers) {
  const zero::ModelDescription d = three_layers();
  zero::ZeroSettings z;
  z.stage = 3, z.world_size = 4, z.prefetch_bucket_size = 0;
  const zero::StepTimePrediction plain = zero::predict_step_time(d, z, test_machine());
  z.prefetch_bucket_size = 3000;  // one layer ahead at most
  const zero::StepTimePrediction ahead = zero::predict_step_time(d, z, test_machine());
  EXPECT_LT(ahead.exposed_seconds, plain.exposed_seconds);
  EXPECT_DOUBLE_EQ(ahead.communication_bytes, plain.communication_bytes);
}

TEST(StepTimeModel, TheTimelineHoldsEveryComputeAndCollectiveOnceWithoutOverlapsPerStream) {
  const zero::ModelDescription d = three_layers();
  zero::ZeroSettings z;
  z.stage = 3, z.world_size = 4, z.reduce_bucket_size = 1;
  const zero::StepTimePrediction p = zero::predict_step_time(d, z, test_machine());
  EXPECT_NEAR(sum_of(p, "compute"), p.forward_seconds + p.backward_seconds + p.optimizer_seconds, 1e-12);
  EXPECT_NEAR(sum_of(p, "communication") * 1.0, p.communication_seconds, 1e-9);  // efficiency 1: full speed
  for (const std::string& track : {std::string("compute"), std::string("communication")}) {
    std::vector<std::pair<double, double>> spans;
    for (const zero::PredictedEvent& e : p.timeline)
      if (e.track == track) spans.push_back({e.start_seconds, e.start_seconds + e.duration_seconds});
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i) EXPECT_LE(spans[i - 1].second, spans[i].first + 1e-12) << track;
    ASSERT_FALSE(spans.empty());
    EXPECT_GE(spans.front().first, 0.0);
    EXPECT_LE(spans.back().second, p.step_seconds + 1e-12);
  }
  const nlohmann::json trace = nlohmann::json::parse(zero::predicted_chrome_trace(p, 3, "predicted"));
  size_t complete = 0;
  for (const auto& e : trace.at("traceEvents")) {
    EXPECT_EQ(e.at("pid"), 3);
    if (e.at("ph") == "X") ++complete;
    if (e.at("ph") == "X" && e.at("cat") == "collective") {
      EXPECT_GT(e.at("args").at("bytes").get<double>(), 0.0);
    }
  }
  EXPECT_EQ(complete, p.timeline.size());
}

TEST(StepTimeModel, MemoryIsThePapersModelStatesPlusActivationsAndATooSmallRankIsAnError) {
  zero::ModelDescription d = three_layers();
  d.activation_bytes_per_sample = 1000;
  for (int stage = 0; stage <= 3; ++stage) {
    zero::ZeroSettings z;
    z.stage = stage, z.world_size = 4, z.prefetch_bucket_size = 0;
    const zero::StepTimePrediction p = zero::predict_memory(d, z);
    const zero::ModelStateBytes paper = zero::zero_model_state_bytes(stage, 6000, 4, 8, 4, 4);
    EXPECT_DOUBLE_EQ(p.model_state.total(), paper.total()) << "stage " << stage;
    EXPECT_DOUBLE_EQ(p.activation_bytes, 8000 + (stage == 3 ? 3000 * 4 : 0)) << "stage " << stage;
  }
  zero::Machine small = test_machine();
  small.memory_bytes = 1000;
  zero::ZeroSettings z;
  z.world_size = 4;
  EXPECT_THROW_MSG(zero::predict_step_time(d, z, small), "does not fit a rank's memory at stage 0 on 4 ranks");
  EXPECT_THROW_MSG(zero::predict_step_time(d, z, small), "memory_bytes");
}

TEST(StepTimeModel, BadSettingsAndMachinesNameTheSetting) {
  const zero::ModelDescription d = three_layers();
  const zero::Machine m = test_machine();
  auto with = [](auto change) {
    zero::ZeroSettings z;
    z.world_size = 2;
    change(z);
    return z;
  };
  EXPECT_THROW_MSG(zero::predict_step_time(d, with([](auto& z) { z.stage = 4; }), m), "stage must be 0, 1, 2 or 3, got 4");
  EXPECT_THROW_MSG(zero::predict_step_time(d, with([](auto& z) { z.world_size = 0; }), m), "world_size must be at least 1");
  EXPECT_THROW_MSG(zero::predict_step_time(d, with([](auto& z) { z.reduce_bucket_size = 0; }), m),
                   "reduce_bucket_size must be at least 1 element");
  EXPECT_THROW_MSG(zero::predict_step_time(d, with([](auto& z) { z.prefetch_bucket_size = -1; }), m),
                   "prefetch_bucket_size must not be negative");
  zero::Machine bad = m;
  bad.overlap_efficiency = 0;
  EXPECT_THROW_MSG(zero::predict_step_time(d, with([](auto&) {}), bad), "overlap_efficiency must be in (0, 1]");
  bad = m;
  bad.flops_per_second = 0;
  EXPECT_THROW_MSG(zero::predict_step_time(d, with([](auto&) {}), bad), "flops_per_second must be positive");
  zero::ModelDescription empty;
  EXPECT_THROW_MSG(zero::predict_step_time(empty, with([](auto&) {}), m), "has no layers");
}

TEST(StepTimeModel, ATransformerDescriptionCountsWhatGraftsTransformerLMHolds) {
  for (const bool gqa : {false, true}) {
    nn::TransformerLMConfig config;
    config.vocab_size = 96;
    config.num_layers = 3;
    config.attention.kind = gqa ? nn::AttentionKind::GQA : nn::AttentionKind::MHA;
    config.attention.d_model = 64;
    config.attention.num_heads = 4;
    config.attention.num_kv_heads = gqa ? 2 : 0;
    config.attention.max_positions = 32;
    nn::TransformerLM model(config);
    zero::TransformerShape shape;
    shape.layers = 3, shape.d_model = 64, shape.heads = 4, shape.kv_heads = gqa ? 2 : 0;
    shape.ffn_hidden = 176, shape.swiglu = true, shape.vocab = 96, shape.sequence = 32;
    const zero::ModelDescription d = zero::ModelDescription::transformer(shape, 2);
    int64_t real = 0;
    for (const Tensor& p : model.parameters()) real += p.numel();
    EXPECT_EQ(d.parameters(), real) << (gqa ? "GQA" : "MHA");
    // The same units as the modules stage 3 gathers.
    const zero::ModelDescription from_module = zero::ModelDescription::from_module(model, 2, 32);
    EXPECT_EQ(d.layers.size(), from_module.layers.size()) << (gqa ? "GQA" : "MHA");
    // Matrices' FLOPs agree; the transformer adds attention's scores (4 T^2 d per block).
    EXPECT_DOUBLE_EQ(d.forward_flops_per_sample(), from_module.forward_flops_per_sample() + 3 * 4.0 * 32 * 32 * 64);
  }
  zero::TransformerShape bad;
  bad.layers = 2, bad.d_model = 65, bad.heads = 4, bad.vocab = 10, bad.sequence = 8;
  EXPECT_THROW_MSG(zero::ModelDescription::transformer(bad, 1), "heads (4) must divide d_model (65)");
  bad.d_model = 64, bad.sequence = 0;
  EXPECT_THROW_MSG(zero::ModelDescription::transformer(bad, 1), "sequence must be at least 1, got 0");
}

TEST(StepTimeModel, ActivationCheckpointingKeepsBlockInputsAndRecomputes) {
  zero::TransformerShape shape;
  shape.layers = 4, shape.d_model = 64, shape.heads = 4, shape.vocab = 50, shape.sequence = 16;
  const zero::ModelDescription full = zero::ModelDescription::transformer(shape, 1);
  shape.activation_checkpointing = true;
  const zero::ModelDescription checkpointed = zero::ModelDescription::transformer(shape, 1);
  const double block = 16 * (34.0 * 64 + 5.0 * 4 * 16);
  EXPECT_DOUBLE_EQ(full.activation_bytes_per_sample, 4 * block);
  EXPECT_DOUBLE_EQ(checkpointed.activation_bytes_per_sample, 4 * 2.0 * 16 * 64 + block);
  zero::ZeroSettings z;
  const zero::StepTimePrediction a = zero::predict_step_time(full, z, test_machine());
  const zero::StepTimePrediction b = zero::predict_step_time(checkpointed, z, test_machine());
  EXPECT_NEAR(b.backward_seconds, 1.5 * a.backward_seconds, 1e-12);
}

TEST(StepTimeModel, AModuleDescriptionHasAUnitPerModuleWithParameters) {
  TrainSetup s;
  auto model = make_model(s);  // fc1 (5 -> 7), fc2 (7 -> 3)
  const zero::ModelDescription d = zero::ModelDescription::from_module(*model, 4);
  ASSERT_EQ(d.layers.size(), 2u);
  EXPECT_EQ(d.layers[0].name, "fc1");
  EXPECT_EQ(d.layers[0].parameters, 5 * 7 + 7);
  EXPECT_DOUBLE_EQ(d.layers[0].forward_flops_per_sample, 2.0 * 5 * 7);
  EXPECT_EQ(d.layers[1].parameters, 7 * 3 + 3);
  EXPECT_EQ(d.micro_batch, 4);
  EXPECT_THROW_MSG(zero::ModelDescription::from_module(*model, 0), "micro_batch must be at least 1");
}

TEST(StepTimeModel, MachinesRoundTripThroughJsonAndBadFilesNameTheField) {
  zero::Machine m = test_machine();
  m.algorithm = zero::CollectiveAlgorithm::Tree;
  m.overlap_efficiency = 0.5;
  const zero::Machine back = zero::machine_from_json(zero::machine_to_json(m));
  EXPECT_EQ(back.name, m.name);
  EXPECT_EQ(back.flops_per_second, m.flops_per_second);
  EXPECT_EQ(back.inter_node.alpha_seconds, m.inter_node.alpha_seconds);
  EXPECT_EQ(back.ranks_per_node, m.ranks_per_node);
  EXPECT_EQ(back.algorithm, zero::CollectiveAlgorithm::Tree);
  EXPECT_EQ(back.overlap_efficiency, 0.5);
  EXPECT_THROW_MSG(zero::machine_from_json("not json"), "not a JSON object");
  nlohmann::json j = nlohmann::json::parse(zero::machine_to_json(m));
  j["intra_node"].erase("bytes_per_second");
  EXPECT_THROW_MSG(zero::machine_from_json(j.dump()), "'intra_node.bytes_per_second' is missing or not a number");
  j = nlohmann::json::parse(zero::machine_to_json(m));
  j["ranks_per_node"] = 2.5;
  EXPECT_THROW_MSG(zero::machine_from_json(j.dump()), "'ranks_per_node' must be a positive integer");
}

}  // namespace
}  // namespace zero_test
