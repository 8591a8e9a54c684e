// Saving and loading optimizer (and scheduler) state: save -> load -> continue gives bit-identical
// parameters to an uninterrupted run, in memory and through a file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "graft/graft.h"

using namespace graft;
using namespace graft::optim;
namespace fs = std::filesystem;

namespace {

fs::path temp_path(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("graft_optim_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

// A small regression problem whose steps alternate between using b and not (so b's Adam step count
// lags W's), with random data drawn from a generator whose state is part of the checkpoint.
struct TrainingRun {
  Tensor W, b;
  Generator gen{123};
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LRScheduler> sched;
  int64_t step = 0;

  TrainingRun(DType dtype, const std::string& kind) {
    Generator init(7);
    W = randn({4, 6}, dtype, &init).requires_grad_();
    b = randn({4}, dtype, &init).requires_grad_();
    if (kind == "adam") {
      opt = std::make_unique<Adam>(std::vector<OptimizerParamGroup>{OptimizerParamGroup({W}),
                                                                   OptimizerParamGroup({b}, AdamOptions(0.05).amsgrad(true))},
                                   AdamOptions(0.01).weight_decay(0.01));
      sched = std::make_unique<LinearWarmupCosineLR>(*opt, 3, 12, 0.1, 1e-4);
    } else if (kind == "adamw") {
      opt = std::make_unique<AdamW>(std::vector<Tensor>{W, b}, AdamWOptions(0.02));
      sched = std::make_unique<StepLR>(*opt, 2, 0.7);
    } else {
      opt = std::make_unique<SGD>(std::vector<Tensor>{W, b}, SGDOptions(0.02).momentum(0.9).nesterov(true));
      sched = std::make_unique<MultiStepLR>(*opt, std::vector<int64_t>{2, 4}, 0.5);
    }
  }

  void train(int n) {
    for (int i = 0; i < n; ++i, ++step) {
      Tensor x = randn({8, 6}, W.dtype(), &gen), y = randn({8, 4}, W.dtype(), &gen);
      opt->zero_grad(/*set_to_none=*/true);
      Tensor out = matmul(x, W.t());
      if (step % 2 == 0) out = out + b;
      (out - y).pow(2).mean().backward();
      opt->step();
      sched->step();
    }
  }

  Checkpoint checkpoint() const {
    Checkpoint sd;
    Checkpoint params;
    params.tensors = {{"W", W.detach().clone()}, {"b", b.detach().clone()}};
    sd.insert("params", params);
    sd.insert("optimizer", opt->state_dict());
    sd.insert("scheduler", sched->state_dict());
    Checkpoint rng;
    rng.metadata = nlohmann::json{{"state", gen.get_state()}, {"step", step}}.dump();
    sd.insert("rng", rng);
    return sd;
  }

  void restore(const Checkpoint& sd) {
    NoGradGuard no_grad;
    W.copy_(sd.at("params").tensor("W"));
    b.copy_(sd.at("params").tensor("b"));
    opt->load_state_dict(sd.at("optimizer"));
    sched->load_state_dict(sd.at("scheduler"));
    auto rng = nlohmann::json::parse(sd.at("rng").metadata);
    gen.set_state(rng["state"].get<std::string>());
    step = rng["step"].get<int64_t>();
  }
};

class Resume : public ::testing::TestWithParam<std::tuple<std::string, DType>> {};

TEST_P(Resume, SaveLoadContinueIsBitIdenticalToAnUninterruptedRun) {
  auto [kind, dtype] = GetParam();
  TrainingRun uninterrupted(dtype, kind);
  uninterrupted.train(9);

  TrainingRun first(dtype, kind);
  first.train(4);
  const fs::path path = temp_path(kind + "_" + dtype_name(dtype) + ".safetensors");
  save_checkpoint(first.checkpoint(), path.string());
  first.train(2);  // diverges from the checkpoint: the resumed run must not see this

  TrainingRun resumed(dtype, kind);  // fresh parameters, optimizer and scheduler, as a new process would have
  resumed.restore(load_checkpoint(path.string()));
  resumed.train(5);

  EXPECT_EQ(resumed.W.to_vector<double>(), uninterrupted.W.to_vector<double>());
  EXPECT_EQ(resumed.b.to_vector<double>(), uninterrupted.b.to_vector<double>());
  EXPECT_EQ(resumed.sched->get_last_lr(), uninterrupted.sched->get_last_lr());
  EXPECT_EQ(resumed.opt->state_dict().metadata, uninterrupted.opt->state_dict().metadata);
  fs::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Optim, Resume,
                         ::testing::Combine(::testing::Values("adam", "adamw", "sgd"),
                                            ::testing::Values(kFloat32, kFloat64)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + dtype_name(std::get<1>(info.param));
                         });

TEST(OptimizerStateDict, HasPyTorchsLayout) {
  Tensor w = ones({2, 2}, kFloat64).requires_grad_();
  Tensor b = ones({3}, kFloat64).requires_grad_();
  Adam opt({w, b}, AdamOptions(0.1).amsgrad(true));
  w.sum().backward();
  opt.step();
  Checkpoint sd = opt.state_dict();
  auto meta = nlohmann::json::parse(sd.metadata);
  EXPECT_EQ(meta["optimizer"], "Adam");
  ASSERT_EQ(meta["param_groups"].size(), 1u);
  EXPECT_EQ(meta["param_groups"][0]["lr"], 0.1);
  EXPECT_EQ(meta["param_groups"][0]["amsgrad"], 1.0);
  EXPECT_EQ(meta["param_groups"][0]["params"], nlohmann::json({0, 1}));
  EXPECT_EQ(meta["state"]["0"]["step"], 1);
  EXPECT_FALSE(meta["state"].contains("1"));  // b had no gradient
  ASSERT_NO_THROW(sd.tensor("state.0.exp_avg"));
  EXPECT_EQ(sd.tensor("state.0.exp_avg").shape(), w.shape());
  EXPECT_EQ(sd.tensor("state.0.exp_avg").to_vector<double>(), std::vector<double>(4, 1 - 0.9));  // (1 - beta1) * grad
  EXPECT_NO_THROW(sd.tensor("state.0.max_exp_avg_sq"));
  // The saved tensors are copies: stepping on does not change them.
  w.sum().backward();
  opt.step();
  EXPECT_EQ(sd.tensor("state.0.exp_avg").to_vector<double>(), std::vector<double>(4, 1 - 0.9));
}

TEST(OptimizerStateDict, LoadRestoresGroupOptionsAndConvertsDtypes) {
  Tensor w32 = ones({3}, kFloat32).requires_grad_();
  Adam a({w32}, AdamOptions(0.1));
  w32.sum().backward();
  a.step();
  Checkpoint sd = a.state_dict();
  Tensor w64 = ones({3}, kFloat64).requires_grad_();
  Adam b({w64}, AdamOptions(0.5).eps(1e-3));
  b.load_state_dict(sd);
  EXPECT_EQ(b.param_groups()[0].options().get_lr(), 0.1);
  EXPECT_EQ(static_cast<const AdamOptions&>(b.param_groups()[0].options()).eps(), 1e-8);
  EXPECT_EQ(b.flat_parameters(0).buckets()[0].steps()[0], 1);
  EXPECT_NEAR(b.flat_parameters(0).buckets()[0].states().at("exp_avg").at<double>({0}), 0.1, 1e-7);
}

TEST(OptimizerStateDict, MismatchedStateDictsAreErrors) {
  Tensor w = ones({3}, kFloat64).requires_grad_();
  Tensor v = ones({2}, kFloat64).requires_grad_();
  Adam adam({w}, AdamOptions(0.1));
  w.sum().backward();
  adam.step();
  Checkpoint sd = adam.state_dict();
  SGD sgd({w}, SGDOptions(0.1));
  EXPECT_THROW(sgd.load_state_dict(sd), Error);  // another optimizer's state
  Adam two_params({ones({3}, kFloat64).requires_grad_(), v}, AdamOptions(0.1));
  EXPECT_THROW(two_params.load_state_dict(sd), Error);  // group size differs
  Adam two_groups(std::vector<OptimizerParamGroup>{OptimizerParamGroup({ones({3}, kFloat64).requires_grad_()}),
                                                   OptimizerParamGroup({ones({1}, kFloat64).requires_grad_()})});
  EXPECT_THROW(two_groups.load_state_dict(sd), Error);  // group count differs
  Adam other_shape({ones({4}, kFloat64).requires_grad_()}, AdamOptions(0.1));
  EXPECT_THROW(other_shape.load_state_dict(sd), Error);
  Checkpoint broken = sd;
  broken.metadata = "{not json";
  EXPECT_THROW(adam.load_state_dict(broken), Error);
  // A failed load changes nothing.
  EXPECT_EQ(adam.state_dict().metadata, sd.metadata);
}

TEST(CheckpointFile, RoundTripsTensorsAndMetadataThroughSafetensors) {
  Checkpoint sd;
  sd.tensors = {{"a", tensor({1.5, -2.0, 3.25}, {3}, kFloat32)},
                {"b.c", arange(6, kInt64).reshape({2, 3}).t()},  // not contiguous
                {"flag", tensor({true, false}, {2}, kBool)},
                {"empty", zeros({0, 4}, kFloat64)}};
  sd.metadata = R"({"epoch": 3, "name": "x"})";
  const fs::path path = temp_path("roundtrip.safetensors");
  save_checkpoint(sd, path.string());
  Checkpoint back = load_checkpoint(path.string());
  ASSERT_EQ(back.tensors.size(), 4u);
  EXPECT_EQ(back.tensor("a").to_vector<float>(), (std::vector<float>{1.5f, -2.0f, 3.25f}));
  EXPECT_EQ(back.tensor("b.c").shape(), (Shape{3, 2}));
  EXPECT_EQ(back.tensor("b.c").to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(back.tensor("flag").to_vector<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(back.tensor("empty").shape(), (Shape{0, 4}));
  EXPECT_EQ(nlohmann::json::parse(back.metadata)["epoch"], 3);
  // It is a plain safetensors file: nn's reader sees the tensors and the metadata entry.
  std::map<std::string, std::string> meta;
  EXPECT_EQ(nn::load_safetensors(path.string(), &meta).size(), 4u);
  EXPECT_TRUE(meta.count("graft.checkpoint"));
  fs::remove(path);
}

TEST(CheckpointFile, NestedPartsKeepTheirNames) {
  Checkpoint inner;
  inner.tensors = {{"x", ones({1})}};
  inner.metadata = R"({"k": 1})";
  Checkpoint outer;
  outer.insert("part", inner);
  outer.insert("model", nn::StateDict{{"weight", ones({2})}});
  EXPECT_TRUE(outer.contains("part"));
  EXPECT_TRUE(outer.contains("model"));
  EXPECT_FALSE(outer.contains("other"));
  EXPECT_NO_THROW(outer.tensor("part.x"));
  EXPECT_EQ(outer.at("model").tensor("weight").numel(), 2);
  Checkpoint back = outer.at("part");
  EXPECT_EQ(back.tensors.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(back.metadata)["k"], 1);
  EXPECT_THROW(outer.insert("part", inner), Error);
  EXPECT_THROW(outer.at("missing"), Error);
  EXPECT_THROW(outer.tensor("missing"), Error);
  EXPECT_THROW(outer.insert("a.b", inner), Error);
  Checkpoint bad;
  bad.metadata = "[1, 2]";
  EXPECT_THROW(outer.insert("bad", bad), Error);
}

TEST(CheckpointFile, AFailedSaveLeavesTheEarlierFileIntact) {
  const fs::path path = temp_path("keep.safetensors");
  Checkpoint good;
  good.tensors = {{"w", full({2}, 4.0)}};
  save_checkpoint(good, path.string());
  Checkpoint undefined;
  undefined.tensors = {{"u", Tensor()}};
  EXPECT_THROW(save_checkpoint(undefined, path.string()), Error);
  Checkpoint bad_meta = good;
  bad_meta.metadata = "{oops";
  EXPECT_THROW(save_checkpoint(bad_meta, path.string()), Error);
  EXPECT_EQ(load_checkpoint(path.string()).tensor("w").to_vector<float>(), (std::vector<float>{4, 4}));
  EXPECT_THROW(save_checkpoint(good, (path.parent_path() / "no_such_dir" / "x.safetensors").string()), Error);
  fs::remove(path);
}

TEST(CheckpointFile, MissingAndTruncatedFilesAreErrors) {
  EXPECT_THROW(load_checkpoint(temp_path("does_not_exist.safetensors").string()), Error);
  Checkpoint sd;
  sd.tensors = {{"w", ones({100}, kFloat64)}};
  const fs::path path = temp_path("truncate.safetensors");
  save_checkpoint(sd, path.string());
  fs::resize_file(path, fs::file_size(path) - 10);
  EXPECT_THROW(load_checkpoint(path.string()), Error);
  fs::resize_file(path, 4);
  EXPECT_THROW(load_checkpoint(path.string()), Error);
  fs::remove(path);
}

}  // namespace
