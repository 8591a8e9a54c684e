// Learning-rate schedulers give PyTorch 1.13's values (tests/reference/optim.py) step for step.
#include <gtest/gtest.h>

#include <memory>

#include "optim/reference.h"

using namespace graft;
using namespace graft::optim;
using graft::testing::expect_close;
using graft::testing::optim_reference;
using nlohmann::json;

namespace {

struct TwoGroups {
  Tensor a = zeros({1}).requires_grad_();
  Tensor b = zeros({1}).requires_grad_();
  SGD opt;
  explicit TwoGroups(const std::vector<double>& lrs)
      : opt(std::vector<OptimizerParamGroup>{OptimizerParamGroup({a}, SGDOptions(lrs[0])),
                                             OptimizerParamGroup({b}, SGDOptions(lrs[1]))},
            SGDOptions(lrs[0])) {}
};

std::unique_ptr<LRScheduler> make(const std::string& name, const json& args, Optimizer& opt) {
  if (name == "StepLR") return std::make_unique<StepLR>(opt, args["step_size"], args["gamma"]);
  if (name == "MultiStepLR")
    return std::make_unique<MultiStepLR>(opt, args["milestones"].get<std::vector<int64_t>>(), args["gamma"]);
  if (name == "ExponentialLR") return std::make_unique<ExponentialLR>(opt, args["gamma"]);
  if (name == "CosineAnnealingLR") return std::make_unique<CosineAnnealingLR>(opt, args["T_max"], args["eta_min"]);
  if (name == "LinearLR")
    return std::make_unique<LinearLR>(opt, args["start_factor"], args["end_factor"], args["total_iters"]);
  if (name == "LinearWarmupCosineLR")
    return std::make_unique<LinearWarmupCosineLR>(opt, args["warmup_iters"], args["total_iters"], args["start_factor"],
                                                  args["eta_min"]);
  ADD_FAILURE() << "unknown scheduler " << name;
  return nullptr;
}

class Schedule : public ::testing::TestWithParam<std::string> {};

TEST_P(Schedule, MatchesPyTorch) {
  const json& ref = optim_reference()["schedulers"][GetParam()];
  TwoGroups g(ref["base_lrs"].get<std::vector<double>>());
  auto sched = make(GetParam(), ref["args"], g.opt);
  const json& lrs = ref["lrs"];
  for (size_t k = 0; k < lrs.size(); ++k) {
    if (k > 0) {
      g.opt.step();
      sched->step();
    }
    expect_close(sched->get_last_lr(), lrs[k].get<std::vector<double>>(), 1e-13, 0, fmt::format("step {}", k));
    EXPECT_EQ(g.opt.param_groups()[1].options().get_lr(), sched->get_last_lr()[1]);
  }
}

TEST_P(Schedule, StateDictResumesTheSameSchedule) {
  const json& ref = optim_reference()["schedulers"][GetParam()];
  const auto base = ref["base_lrs"].get<std::vector<double>>();
  TwoGroups g(base);
  auto sched = make(GetParam(), ref["args"], g.opt);
  for (int k = 0; k < 6; ++k) sched->step();
  Checkpoint opt_state = g.opt.state_dict(), sched_state = sched->state_dict();
  TwoGroups h(base);
  auto resumed = make(GetParam(), ref["args"], h.opt);
  h.opt.load_state_dict(opt_state);
  resumed->load_state_dict(sched_state);
  EXPECT_EQ(resumed->get_last_lr(), sched->get_last_lr());
  for (int k = 0; k < 8; ++k) {
    sched->step();
    resumed->step();
    EXPECT_EQ(resumed->get_last_lr(), sched->get_last_lr()) << "step " << k;
  }
}

std::vector<std::string> schedule_names() {
  std::vector<std::string> names;
  for (const auto& [name, v] : optim_reference()["schedulers"].items()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Optim, Schedule, ::testing::ValuesIn(schedule_names()),
                         [](const auto& info) { return info.param; });

TEST(LRScheduler, InitialLrIsRecordedOnceAndBaseLrsComeFromIt) {
  TwoGroups g({0.1, 0.2});
  StepLR first(g.opt, 1, 0.5);
  first.step();
  EXPECT_DOUBLE_EQ(g.opt.param_groups()[0].options().get_lr(), 0.05);
  ExponentialLR second(g.opt, 0.9);  // attached later: base_lrs are still the initial lrs
  EXPECT_EQ(second.base_lrs(), (std::vector<double>{0.1, 0.2}));
  EXPECT_EQ(*g.opt.param_groups()[1].initial_lr(), 0.2);
}

TEST(LRScheduler, ClosedFormJumpsToAnEpoch) {
  TwoGroups g({0.1, 0.2});
  CosineAnnealingLR cos(g.opt, 10, 0.0);
  cos.step(5);
  EXPECT_NEAR(cos.get_last_lr()[0], 0.05, 1e-15);
  EXPECT_EQ(cos.last_epoch(), 5);
  StepLR step(g.opt, 3, 0.5);
  step.step(7);
  EXPECT_NEAR(step.get_last_lr()[1], 0.2 * 0.25, 1e-15);
}

TEST(LRScheduler, BadArgumentsAreErrors) {
  TwoGroups g({0.1, 0.2});
  EXPECT_THROW(StepLR(g.opt, 0), Error);
  EXPECT_THROW(CosineAnnealingLR(g.opt, 0), Error);
  EXPECT_THROW(LinearLR(g.opt, 1.5), Error);
  EXPECT_THROW(LinearLR(g.opt, 0.5, 2.0), Error);
  EXPECT_THROW(LinearWarmupCosineLR(g.opt, 5, 5), Error);
  TwoGroups fresh({0.1, 0.2});
  EXPECT_THROW(StepLR(fresh.opt, 2, 0.1, /*last_epoch=*/3), Error);  // resuming needs initial_lr
  auto a = std::make_shared<StepLR>(g.opt, 2);
  EXPECT_THROW(SequentialLR(g.opt, {a}, {3}), Error);  // milestones must be one fewer than schedulers
  auto other = std::make_shared<StepLR>(fresh.opt, 2);
  EXPECT_THROW(SequentialLR(g.opt, {a, other}, {3}), Error);  // another optimizer
  StepLR s(g.opt, 2);
  Checkpoint wrong = ExponentialLR(g.opt, 0.5).state_dict();
  EXPECT_THROW(s.load_state_dict(wrong), Error);
}

}  // namespace
