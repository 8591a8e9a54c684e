// ZeRO checkpoints: one shard per rank, consolidation into the full state dict (bit for bit an unsharded
// run's), resharding to another world size, and save -> load -> continue equal to an uninterrupted run.
#include <unistd.h>

#include <filesystem>

#include "zero/harness.h"

namespace zero_test {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  explicit TempDir(const std::string& tag)
      : path_(fs::temp_directory_path() / fmt::format("graft_zero_{}_{}", tag, getpid())) {
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string str(const std::string& sub = "") const { return (path_ / sub).string(); }

 private:
  fs::path path_;
};

// Steps [first, last) of the schedule on `world` ranks; loads `load_dir` before and saves to `save_dir` after
// when given. Returns the consolidated state after each step.
Trace run_segment(const TrainSetup& s, int world, int stage, int first, int last, const std::string& load_dir,
                  const std::string& save_dir) {
  const Data data = make_data(s);
  TrainSetup other = s;
  other.seed = s.seed + 99;  // a resumed run starts from other weights: the checkpoint must replace them
  std::vector<std::shared_ptr<Mlp>> models;
  for (int r = 0; r < world; ++r) models.push_back(make_model(load_dir.empty() ? s : other));
  std::vector<RankTrace> ranks(static_cast<size_t>(world));
  zero::run_in_process(world, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_groups(s, model), make_factory(s), comm, stage);
    if (!load_dir.empty()) opt.load(load_dir);
    RankTrace& trace = ranks[static_cast<size_t>(comm.rank())];
    for (int step = first; step < last; ++step) {
      trace.losses.emplace_back();
      for (int j = comm.rank(); j < s.micro_batches; j += world) {
        Tensor loss = micro_batch_loss(s, model, data.input(s, step, j), data.target(s, step, j));
        trace.losses.back().emplace_back(j, loss.item<double>());
        opt.backward(loss);
      }
      if (s.clip > 0) trace.norms.push_back(opt.clip_grad_norm_(s.clip));
      opt.step();
      trace.shards.push_back(opt.shard_checkpoint());
    }
    if (!save_dir.empty()) opt.save(save_dir);
  });
  return merge_rank_traces(ranks, last - first, s.clip > 0);
}

// The part of a trace from step `from` on.
Trace tail(const Trace& t, size_t from) {
  Trace out;
  out.losses.assign(t.losses.begin() + static_cast<std::ptrdiff_t>(from), t.losses.end());
  out.states.assign(t.states.begin() + static_cast<std::ptrdiff_t>(from), t.states.end());
  if (!t.norms.empty()) out.norms.assign(t.norms.begin() + static_cast<std::ptrdiff_t>(from), t.norms.end());
  return out;
}

TrainSetup checkpoint_setup() {
  TrainSetup s;
  s.steps = 4;
  s.two_groups = true;
  s.frozen = true;
  s.optimizer = "amsgrad";
  s.clip = 0.05;
  return s;
}

TEST(ZeroCheckpoint, OneShardPerRankConsolidatesToTheUnshardedState) {
  TrainSetup s = checkpoint_setup();
  s.steps = 2;
  const Trace plain = run_plain(s);
  for (int stage = 0; stage <= 3; ++stage) {
    TempDir dir("consolidate");
    run_segment(s, 4, stage, 0, 2, "", dir.str());
    for (int r = 0; r < 4; ++r) EXPECT_TRUE(fs::exists(zero::shard_path(dir.str(), r, 4)));
    EXPECT_FALSE(fs::exists(zero::shard_path(dir.str(), 4, 4)));
    const optim::Checkpoint full = zero::consolidate_shards(zero::read_shards(dir.str()));
    expect_identical(full, plain.states[1], "stage " + std::to_string(stage));
    // The consolidated state loads into plain single-process training.
    auto model = make_model(s);
    model->load_state_dict(full.at("model").tensors);
    auto opt = make_plain_optimizer(s, make_groups(s, *model));
    opt->load_state_dict(full.at("optimizer"));
    expect_identical(plain_state(*model, *opt), plain.states[1], "reloaded, stage " + std::to_string(stage));
  }
}

TEST(ZeroCheckpoint, SaveLoadContinueEqualsAnUninterruptedRun) {
  const TrainSetup s = checkpoint_setup();
  const Trace plain = run_plain(s);
  for (int stage = 0; stage <= 3; ++stage) {
    TempDir dir("resume");
    const Trace before = run_segment(s, 3, stage, 0, 2, "", dir.str());
    const Trace after = run_segment(s, 3, stage, 2, 4, dir.str(), "");
    expect_identical(after, tail(plain, 2), "resumed at stage " + std::to_string(stage));
  }
}

TEST(ZeroCheckpoint, ReshardingFourRanksToTwoContinuesBitForBit) {
  const TrainSetup s = checkpoint_setup();
  const Trace plain = run_plain(s);
  TempDir dir("reshard");
  run_segment(s, 4, 3, 0, 2, "", dir.str("w4"));
  // Loading four shards into two ranks without resharding is refused.
  try {
    run_segment(s, 2, 2, 2, 4, dir.str("w4"), "");
    ADD_FAILURE() << "a checkpoint of 4 ranks loaded into 2";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("saved by 4 ranks but this run has 2; reshard it first"), std::string::npos)
        << e.what();
  }
  zero::write_shards(zero::reshard(zero::read_shards(dir.str("w4")), 2), dir.str("w2"));
  EXPECT_TRUE(fs::exists(zero::shard_path(dir.str("w2"), 1, 2)));
  expect_identical(zero::consolidate_shards(zero::read_shards(dir.str("w2"))),
                   zero::consolidate_shards(zero::read_shards(dir.str("w4"))), "resharded state");
  const Trace after = run_segment(s, 2, 2, 2, 4, dir.str("w2"), "");  // another stage, too
  expect_identical(after, tail(plain, 2), "resharded 4 -> 2");
}

TEST(ZeroCheckpoint, MismatchesAreClearErrors) {
  const TrainSetup s = checkpoint_setup();
  TempDir dir("mismatch");
  run_segment(s, 2, 1, 0, 1, "", dir.str("ok"));
  auto expect_load_error = [&](TrainSetup other, const std::string& fragment) {
    try {
      run_segment(other, 2, 1, 1, 2, dir.str("ok"), "");
      ADD_FAILURE() << "loaded; expected an error mentioning '" << fragment << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  TrainSetup sgd = s;
  sgd.optimizer = "momentum";
  expect_load_error(sgd, "the checkpoint was saved by Adam, not SGD");
  TrainSetup wider = s;
  wider.hidden = 8;
  expect_load_error(wider, "in the checkpoint but");
  TrainSetup one_group = s;
  one_group.two_groups = false;
  expect_load_error(one_group, "parameter 0 is 'proj.bias' float32 [5] in the checkpoint but 'proj.weight'");
  try {
    zero::read_shards(dir.str("missing"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a directory"), std::string::npos) << e.what();
  }
  fs::remove(zero::shard_path(dir.str("ok"), 1, 2));
  try {
    zero::read_shards(dir.str("ok"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lacks the shard of rank 1 (of 2)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(zero::reshard({}, 2), Error);
}

}  // namespace
}  // namespace zero_test
