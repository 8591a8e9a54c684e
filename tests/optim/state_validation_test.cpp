// Optimizer::load_state_dict and LRScheduler::load_state_dict check everything a state dict says before they
// change anything: a corrupt or foreign state dict is a graft::Error naming the entry, and the optimizer or
// scheduler stays as it was.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::optim;
using graft::testing::error_of;
using graft::testing::expect_error;
using nlohmann::json;

namespace {

struct TwoParamAdam {
  Tensor w = full({3, 2}, 0.5, requires_grad()), b = full({2}, -0.25, requires_grad());
  Adam opt{std::vector<Tensor>{w, b}, AdamOptions(0.1)};
  void step() {
    w.set_grad(full({3, 2}, 0.3));
    b.set_grad(full({2}, -0.2));
    opt.step();
  }
};

Checkpoint trained_state() {
  TwoParamAdam r;
  r.step();
  r.step();
  return r.opt.state_dict();
}

Checkpoint with_metadata(const std::function<void(json&)>& edit) {
  Checkpoint c = trained_state();
  json meta = json::parse(c.metadata);
  edit(meta);
  c.metadata = meta.dump();
  return c;
}

// Loading `bad` fails with all fragments in the message and leaves a fresh optimizer's next step unchanged.
void expect_rejected(const Checkpoint& bad, const std::vector<std::string>& fragments) {
  TwoParamAdam reference, victim;
  reference.step();
  victim.step();
  expect_error([&] { victim.opt.load_state_dict(bad); }, fragments);
  reference.step();
  victim.step();
  EXPECT_TRUE(equal(victim.w, reference.w));
  EXPECT_TRUE(equal(victim.b, reference.b));
}

TEST(OptimizerStateValidation, ANegativeOrNonIntegerStepIsRejected) {
  expect_rejected(with_metadata([](json& m) { m["state"]["0"]["step"] = -3; }), {"state['0']", "non-negative integer", "-3"});
  expect_rejected(with_metadata([](json& m) { m["state"]["1"]["step"] = 2.5; }), {"state['1']", "2.5"});
  expect_rejected(with_metadata([](json& m) { m["state"]["1"].erase("step"); }), {"state['1']", "'step'"});
}

TEST(OptimizerStateValidation, StateForUnknownParametersIsRejected) {
  expect_rejected(with_metadata([](json& m) { m["state"]["7"] = {{"step", 1}}; }),
                  {"state['7'] belongs to no parameter (the optimizer has 2)"});
  expect_rejected(with_metadata([](json& m) { m["state"]["01"] = m["state"]["1"]; }), {"state['01']"});
  Checkpoint extra = trained_state();
  extra.tensors.emplace_back("state.9.exp_avg", zeros({2}));
  expect_rejected(extra, {"tensor 'state.9.exp_avg' belongs to no parameter"});
}

TEST(OptimizerStateValidation, UnknownAndMissingStateTensorsAreRejected) {
  Checkpoint unknown = trained_state();
  unknown.tensors.emplace_back("state.0.garbage", zeros({3, 2}));
  expect_rejected(unknown, {"state.0.garbage", "'garbage' is not a state Adam keeps", "exp_avg, exp_avg_sq"});
  Checkpoint missing = trained_state();
  std::erase_if(missing.tensors, [](const auto& e) { return e.first == "state.1.exp_avg_sq"; });
  expect_rejected(missing, {"parameter 1 has taken steps but its state 'exp_avg_sq' is missing"});
  // amsgrad's maximum is not kept without amsgrad.
  Checkpoint amsgrad = trained_state();
  amsgrad.tensors.emplace_back("state.0.max_exp_avg_sq", zeros({3, 2}));
  expect_rejected(amsgrad, {"'max_exp_avg_sq' is not a state Adam keeps"});
  Checkpoint integer = trained_state();
  integer.tensors[0].second = zeros(integer.tensors[0].second.shape(), kInt64);
  expect_rejected(integer, {"int64, not a floating-point tensor"});
}

TEST(OptimizerStateValidation, MalformedMetadataNamesTheProblem) {
  expect_rejected(with_metadata([](json& m) { m["state"] = json::array(); }), {"'state' is not a JSON object"});
  expect_rejected(with_metadata([](json& m) { m["param_groups"][0]["initial_lr"] = "x"; }), {"initial_lr"});
  expect_rejected(with_metadata([](json& m) { m["param_groups"][0]["lr"] = -1.0; }), {"Invalid learning rate: -1"});
  Checkpoint not_json = trained_state();
  not_json.metadata = "{";
  expect_rejected(not_json, {"not valid JSON"});
}

TEST(OptimizerStateValidation, AValidStateStillLoads) {
  TwoParamAdam r;
  r.opt.load_state_dict(trained_state());
  EXPECT_EQ(json::parse(r.opt.state_dict().metadata)["state"]["0"]["step"], 2);
}

TEST(SchedulerStateValidation, MalformedStateIsRejectedAndTheSchedulerKeepsItsState) {
  TwoParamAdam r;
  StepLR sched(r.opt, 2, 0.5);
  sched.step();
  const Checkpoint good = sched.state_dict();
  auto edited = [&](const std::function<void(json&)>& edit) {
    json meta = json::parse(good.metadata);
    edit(meta);
    Checkpoint c;
    c.metadata = meta.dump();
    return c;
  };
  const std::string before = sched.state_dict().metadata;
  expect_error([&] { sched.load_state_dict(edited([](json& m) { m["last_epoch"] = "x"; })); }, {"StepLR", "last_epoch"});
  expect_error([&] { sched.load_state_dict(edited([](json& m) { m["last_epoch"] = -7; })); }, {"last_epoch", "-7"});
  expect_error([&] { sched.load_state_dict(edited([](json& m) { m["_step_count"] = -1; })); }, {"_step_count"});
  expect_error([&] { sched.load_state_dict(edited([](json& m) { m["_last_lr"] = {0.1, 0.2}; })); }, {"parameter groups"});
  expect_error([&] { sched.load_state_dict(edited([](json& m) { m["hyperparameters"]["step_size"] = {1.5}; })); },
               {"step_size", "1.5"});
  expect_error([&] { sched.load_state_dict(edited([](json& m) { m["scheduler"] = "CosineAnnealingLR"; })); },
               {"saved by CosineAnnealingLR"});
  EXPECT_EQ(sched.state_dict().metadata, before);
}

TEST(SchedulerStateValidation, SequentialLRChecksEveryPartBeforeLoadingAny) {
  TwoParamAdam r;
  LinearWarmupCosineLR sched(r.opt, 2, 6);
  sched.step();
  json meta = json::parse(sched.state_dict().metadata);
  meta["_schedulers"][1]["last_epoch"] = "broken";
  Checkpoint bad;
  bad.metadata = meta.dump();
  const std::string before = sched.state_dict().metadata;
  expect_error([&] { sched.load_state_dict(bad); }, {"last_epoch"});
  EXPECT_EQ(sched.state_dict().metadata, before);
}

}  // namespace
