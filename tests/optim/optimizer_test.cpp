// The optimizers follow PyTorch 1.13's trajectories step for step (tests/reference/optim.py), and behave
// like torch.optim around them: parameter groups, zero_grad, skipped and frozen parameters, bad options.
#include <gtest/gtest.h>

#include <memory>

#include "optim/reference.h"

using namespace graft;
using namespace graft::optim;
using graft::testing::expect_close;
using graft::testing::optim_reference;
using graft::testing::problem_tensor;
using nlohmann::json;

namespace {

SGDOptions sgd_options(const json& base, const json& overrides) {
  json kw = base;
  kw.update(overrides);
  SGDOptions o(kw["lr"].get<double>());
  if (kw.contains("momentum")) o.momentum(kw["momentum"]);
  if (kw.contains("dampening")) o.dampening(kw["dampening"]);
  if (kw.contains("weight_decay")) o.weight_decay(kw["weight_decay"]);
  if (kw.contains("nesterov")) o.nesterov(kw["nesterov"]);
  if (kw.contains("maximize")) o.maximize(kw["maximize"]);
  return o;
}

template <class Options>
Options adam_options(const json& base, const json& overrides) {
  json kw = base;
  kw.update(overrides);
  Options o;
  if (kw.contains("lr")) o.lr(kw["lr"]);
  if (kw.contains("betas")) o.betas({kw["betas"][0].get<double>(), kw["betas"][1].get<double>()});
  if (kw.contains("eps")) o.eps(kw["eps"]);
  if (kw.contains("weight_decay")) o.weight_decay(kw["weight_decay"]);
  if (kw.contains("amsgrad")) o.amsgrad(kw["amsgrad"]);
  if (kw.contains("maximize")) o.maximize(kw["maximize"]);
  return o;
}

struct Problem {
  std::map<std::string, Tensor> params;
  Tensor X, Y;
  explicit Problem(DType dtype) {
    for (const char* n : {"W", "b", "c"}) params[n] = problem_tensor(n, dtype).requires_grad_();
    X = problem_tensor("X", dtype);
    Y = problem_tensor("Y", dtype);
  }
  // sum((X @ W.T + b - Y)^2), without b on odd steps of the alternating configuration.
  Tensor loss(bool with_b) const {
    Tensor out = matmul(X, params.at("W").t());
    if (with_b) out = out + params.at("b");
    return (out - Y).pow(2).sum();
  }
};

std::unique_ptr<Optimizer> make_optimizer(const json& cfg, Problem& problem) {
  const std::string kind = cfg["optimizer"];
  std::vector<OptimizerParamGroup> groups;
  for (const json& g : cfg["groups"]) {
    std::vector<Tensor> params;
    for (const json& n : g["params"]) params.push_back(problem.params.at(n.get<std::string>()));
    if (g["options"].empty()) {
      groups.emplace_back(params);
    } else if (kind == "SGD") {
      groups.emplace_back(params, sgd_options(cfg["defaults"], g["options"]));
    } else if (kind == "Adam") {
      groups.emplace_back(params, adam_options<AdamOptions>(cfg["defaults"], g["options"]));
    } else {
      groups.emplace_back(params, adam_options<AdamWOptions>(cfg["defaults"], g["options"]));
    }
  }
  if (kind == "SGD") return std::make_unique<SGD>(groups, sgd_options(cfg["defaults"], json::object()));
  if (kind == "Adam") return std::make_unique<Adam>(groups, adam_options<AdamOptions>(cfg["defaults"], json::object()));
  return std::make_unique<AdamW>(groups, adam_options<AdamWOptions>(cfg["defaults"], json::object()));
}

std::unique_ptr<LRScheduler> make_scheduler(const json& cfg, Optimizer& opt) {
  if (cfg["scheduler"].is_null()) return nullptr;
  const std::string name = cfg["scheduler"]["name"];
  const json& args = cfg["scheduler"]["args"];
  if (name == "StepLR") return std::make_unique<StepLR>(opt, args["step_size"], args["gamma"]);
  if (name == "CosineAnnealingLR") return std::make_unique<CosineAnnealingLR>(opt, args["T_max"], args["eta_min"]);
  ADD_FAILURE() << "unknown scheduler " << name;
  return nullptr;
}

void check_trajectory(const std::string& name, DType dtype, bool set_to_none) {
  const json& cfg = optim_reference()["optimizers"][name];
  const json& expected = cfg[dtype_name(dtype)];
  Problem problem(dtype);
  auto opt = make_optimizer(cfg, problem);
  auto sched = make_scheduler(cfg, *opt);
  const double rtol = dtype == kFloat64 ? 1e-10 : 2e-4, atol = dtype == kFloat64 ? 1e-12 : 2e-5;
  for (size_t k = 0; k < expected.size(); ++k) {
    opt->zero_grad(set_to_none);
    problem.loss(!(cfg["alternating"].get<bool>() && k % 2 == 1)).backward();
    opt->step();
    if (sched) sched->step();
    for (const char* n : {"W", "b", "c"})
      expect_close(problem.params[n].to_vector<double>(), expected[k][n].get<std::vector<double>>(), rtol, atol,
                   fmt::format("{} {} step {} param {}", name, dtype_name(dtype), k + 1, n));
  }
}

class Trajectory : public ::testing::TestWithParam<std::string> {};

TEST_P(Trajectory, MatchesPyTorchInFloat64) { check_trajectory(GetParam(), kFloat64, /*set_to_none=*/true); }
TEST_P(Trajectory, MatchesPyTorchInFloat32) { check_trajectory(GetParam(), kFloat32, /*set_to_none=*/true); }
// Zeroed gradients in place (the default) give the same steps when every used parameter gets a gradient.
TEST_P(Trajectory, MatchesPyTorchWithZeroedGradients) {
  if (optim_reference()["optimizers"][GetParam()]["alternating"].get<bool>()) GTEST_SKIP() << "b's gradient is None there";
  check_trajectory(GetParam(), kFloat64, /*set_to_none=*/false);
}

std::vector<std::string> configurations() {
  std::vector<std::string> names;
  for (const auto& [name, cfg] : optim_reference()["optimizers"].items()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Optim, Trajectory, ::testing::ValuesIn(configurations()),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------- behaviour around the update

TEST(Optimizer, OptionsHaveFluentSettersAndPyTorchDefaults) {
  AdamOptions a = AdamOptions(1e-3).betas({0.9, 0.98}).weight_decay(0.01);
  EXPECT_EQ(a.lr(), 1e-3);
  EXPECT_EQ(std::get<1>(a.betas()), 0.98);
  EXPECT_EQ(a.weight_decay(), 0.01);
  EXPECT_EQ(a.eps(), 1e-8);
  EXPECT_FALSE(a.amsgrad());
  EXPECT_EQ(AdamWOptions().weight_decay(), 1e-2);
  EXPECT_EQ(std::get<0>(AdamWOptions().betas()), 0.9);
  SGDOptions s(0.1);
  EXPECT_EQ(s.momentum(), 0);
  EXPECT_EQ(s.dampening(), 0);
  EXPECT_FALSE(s.nesterov());
  EXPECT_FALSE(s.maximize());
}

TEST(Optimizer, ZeroGradZeroesInPlaceByDefaultAndDropsWithSetToNone) {
  Tensor w = ones({3}, kFloat64).requires_grad_();
  Tensor unused = ones({2}, kFloat64).requires_grad_();
  SGD opt({w, unused}, SGDOptions(0.1));
  (w * w).sum().backward();
  Tensor before = w.grad();
  opt.zero_grad();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(w.grad().is_same(before)) << "zeroed in place, as PyTorch's default set_to_none=False";
  EXPECT_FALSE(unused.grad().defined()) << "a gradient that was None stays None";
  opt.zero_grad(/*set_to_none=*/true);
  EXPECT_FALSE(w.grad().defined());
}

TEST(Optimizer, ParametersWithoutGradientAreSkippedAndGetNoState) {
  Tensor w = ones({3}, kFloat64).requires_grad_();
  Tensor frozen = ones({2}, kFloat64);  // requires_grad false: accepted, as in PyTorch, never updated
  Adam opt({w, frozen}, AdamOptions(0.1).weight_decay(0.5));
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    (w * w).sum().backward();
    opt.step();
  }
  EXPECT_EQ(frozen.to_vector<double>(), (std::vector<double>{1, 1}));
  EXPECT_NE(w.to_vector<double>()[0], 1.0);
  const FlatBucket& bucket = opt.flat_parameters(0).buckets()[0];
  EXPECT_EQ(bucket.steps(), (std::vector<int64_t>{3, 0}));
  Checkpoint sd = opt.state_dict();
  EXPECT_NO_THROW(sd.tensor("state.0.exp_avg"));
  EXPECT_THROW(sd.tensor("state.1.exp_avg"), Error);
}

TEST(Optimizer, StepRunsTheClosureWithGradModeOnAndReturnsItsLoss) {
  Tensor w = full({2}, 3.0, kFloat64).requires_grad_();
  SGD opt({w}, SGDOptions(0.25));
  NoGradGuard no_grad;  // the closure still records
  Tensor loss = opt.step([&] {
    opt.zero_grad();
    Tensor l = (w * w).sum();
    l.backward();
    return l;
  });
  EXPECT_DOUBLE_EQ(loss.item<double>(), 18.0);
  EXPECT_EQ(w.to_vector<double>(), (std::vector<double>{1.5, 1.5}));  // 3 - 0.25 * 6
}

TEST(Optimizer, AddParamGroupUsesDefaultsForMissingOptions) {
  Tensor a = ones({2}, kFloat64).requires_grad_();
  Tensor b = ones({2}, kFloat64).requires_grad_();
  SGD opt({a}, SGDOptions(0.1).momentum(0.9));
  opt.add_param_group(OptimizerParamGroup({b}));
  opt.add_param_group(OptimizerParamGroup({ones({1}, kFloat64).requires_grad_()}, SGDOptions(0.5)));
  ASSERT_EQ(opt.param_groups().size(), 3u);
  EXPECT_EQ(static_cast<const SGDOptions&>(opt.param_groups()[1].options()).momentum(), 0.9);
  EXPECT_EQ(opt.param_groups()[2].options().get_lr(), 0.5);
  EXPECT_EQ(opt.size(), 3u);
  EXPECT_EQ(opt.parameters().size(), 3u);
  (a.sum() + b.sum()).backward();
  opt.step();
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{0.9, 0.9}));
}

TEST(Optimizer, ChangingAGroupsLrTakesEffectOnTheNextStep) {
  Tensor w = ones({1}, kFloat64).requires_grad_();
  SGD opt({w}, SGDOptions(0.1));
  static_cast<SGDOptions&>(opt.param_groups()[0].options()).lr(0.5);
  w.sum().backward();
  opt.step();
  EXPECT_DOUBLE_EQ(w.item<double>(), 0.5);
}

TEST(Optimizer, BadParametersAndOptionsAreErrors) {
  Tensor w = ones({2}, kFloat64).requires_grad_();
  Tensor nonleaf = w * 2;
  EXPECT_THROW(SGD({nonleaf}, SGDOptions(0.1)), Error);
  EXPECT_THROW(SGD({w, w}, SGDOptions(0.1)), Error);
  EXPECT_THROW(SGD({ones({2}, kInt64)}, SGDOptions(0.1)), Error);
  EXPECT_THROW(SGD({Tensor()}, SGDOptions(0.1)), Error);
  EXPECT_THROW(SGD(std::vector<OptimizerParamGroup>{}, SGDOptions(0.1)), Error);
  EXPECT_THROW(SGD({w}, SGDOptions(-0.1)), Error);
  EXPECT_THROW(SGD({w}, SGDOptions(0.1).momentum(-1)), Error);
  EXPECT_THROW(SGD({w}, SGDOptions(0.1).weight_decay(-1)), Error);
  EXPECT_THROW(SGD({w}, SGDOptions(0.1).nesterov(true)), Error);
  EXPECT_THROW(SGD({w}, SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)), Error);
  EXPECT_THROW(Adam({w}, AdamOptions(-1)), Error);
  EXPECT_THROW(Adam({w}, AdamOptions().eps(-1)), Error);
  EXPECT_THROW(Adam({w}, AdamOptions().betas({1.0, 0.999})), Error);
  EXPECT_THROW(Adam({w}, AdamOptions().betas({0.9, -0.1})), Error);
  EXPECT_THROW(AdamW({w}, AdamWOptions().weight_decay(-1)), Error);
  SGD opt({w}, SGDOptions(0.1));
  EXPECT_THROW(opt.add_param_group(OptimizerParamGroup({w})), Error);  // already in a group
  try {
    SGD({nonleaf}, SGDOptions(0.1));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-leaf"), std::string::npos) << e.what();
  }
}

}  // namespace
