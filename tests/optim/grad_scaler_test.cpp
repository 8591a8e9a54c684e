// GradScaler (optim/grad_scaler.h): dynamic loss scaling for float16 autocast, after PyTorch's GradScaler —
// scale the loss, unscale the gradients before clipping or stepping, skip the step and back off on inf/NaN,
// grow after growth_interval clean steps, and keep that state in checkpoints. Also the optimizers' guard:
// a float16-autocast step on overflowed gradients without a scaler raises instead of writing NaN weights.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "graft/graft.h"
#include "support/errors.h"

#include <nlohmann/json.hpp>

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;

namespace {

// One parameter whose gradient is set by hand.
struct OneParameter {
  Tensor w = ones({3}).requires_grad_();
  optim::SGD opt{{w}, optim::SGDOptions(0.5)};
  void set_grad(std::vector<float> g) { w.set_grad(tensor(g)); }
};

constexpr float kInf = std::numeric_limits<float>::infinity();

}  // namespace

TEST(GradScaler, HasPyTorchsDefaults) {
  optim::GradScaler scaler;
  EXPECT_EQ(scaler.get_scale(), 65536.0);
  EXPECT_EQ(scaler.get_growth_factor(), 2.0);
  EXPECT_EQ(scaler.get_backoff_factor(), 0.5);
  EXPECT_EQ(scaler.get_growth_interval(), 2000);
  EXPECT_TRUE(scaler.is_enabled());
}

TEST(GradScaler, ScalesTheLossAndUnscalesTheGradientsBeforeTheStep) {
  OneParameter m;
  optim::GradScaler scaler({.init_scale = 8.0});
  Tensor loss = (m.w * tensor({1.f, 2.f, 3.f})).sum();
  Tensor scaled = scaler.scale(loss);
  EXPECT_FLOAT_EQ(scaled.item<float>(), 8.0f * loss.item<float>());
  scaled.backward();
  EXPECT_EQ(m.w.grad().to_vector<float>(), (std::vector<float>{8, 16, 24}));
  EXPECT_TRUE(scaler.step(m.opt));
  // The optimizer saw the true gradient: w - 0.5 * (1, 2, 3).
  EXPECT_EQ(m.w.to_vector<float>(), (std::vector<float>{0.5f, 0.0f, -0.5f}));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 8.0);
}

TEST(GradScaler, UnscaleBeforeClippingClipsTheTrueGradients) {
  OneParameter m;
  optim::GradScaler scaler({.init_scale = 1024.0});
  scaler.scale((m.w * tensor({3.f, 4.f, 0.f})).sum()).backward();
  scaler.unscale_(m.opt);
  EXPECT_EQ(m.w.grad().to_vector<float>(), (std::vector<float>{3, 4, 0}));
  const double norm = nn::utils::clip_grad_norm_(std::vector<Tensor>{m.w}, 1.0);
  EXPECT_NEAR(norm, 5.0, 1e-6);
  EXPECT_TRUE(scaler.step(m.opt));  // does not unscale a second time
  EXPECT_NEAR(m.w.to_vector<float>()[0], 1.0f - 0.5f * 0.6f, 1e-6);
  scaler.update();
}

TEST(GradScaler, SkipsTheStepAndBacksOffOnInfOrNaN) {
  for (float bad : {kInf, std::nanf("")}) {
    SCOPED_TRACE(bad);
    OneParameter m;
    optim::GradScaler scaler({.init_scale = 16.0});
    m.set_grad({1.f, bad, 1.f});
    EXPECT_FALSE(scaler.step(m.opt));
    EXPECT_EQ(m.w.to_vector<float>(), (std::vector<float>{1, 1, 1})) << "a skipped step leaves the weights alone";
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), 8.0);
    EXPECT_EQ(scaler.growth_tracker(), 0);
  }
}

TEST(GradScaler, GrowsAfterGrowthIntervalCleanStepsAndAnOverflowResetsTheCount) {
  OneParameter m;
  optim::GradScaler scaler({.init_scale = 4.0, .growth_interval = 3});
  auto iteration = [&](float g) {
    m.set_grad({g, g, g});
    scaler.step(m.opt);
    scaler.update();
  };
  iteration(1);
  iteration(1);
  EXPECT_EQ(scaler.get_scale(), 4.0);
  EXPECT_EQ(scaler.growth_tracker(), 2);
  iteration(kInf);  // resets the count
  EXPECT_EQ(scaler.get_scale(), 2.0);
  iteration(1);
  iteration(1);
  iteration(1);
  EXPECT_EQ(scaler.get_scale(), 4.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(GradScaler, TheScaleIsAFloat32AndNeverGrowsToInfinity) {
  optim::GradScaler third({.init_scale = 1.0 / 3.0});
  EXPECT_EQ(third.get_scale(), static_cast<double>(1.0f / 3.0f));
  OneParameter m;
  optim::GradScaler scaler({.init_scale = 3e38, .growth_interval = 1});
  m.set_grad({1, 1, 1});
  scaler.step(m.opt);
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), static_cast<double>(3e38f)) << "6e38 is not a finite float32";
}

TEST(GradScaler, UpdateWithANewScaleSetsIt) {
  OneParameter m;
  optim::GradScaler scaler;
  m.set_grad({1, 1, 1});
  scaler.step(m.opt);
  scaler.update(128.0);
  EXPECT_EQ(scaler.get_scale(), 128.0);
}

TEST(GradScaler, RaisesOnCallsOutOfOrderAsPyTorchDoes) {
  OneParameter m;
  optim::GradScaler scaler;
  m.set_grad({1, 1, 1});
  EXPECT_EQ(error_of([&] { scaler.update(); }), "GradScaler.update: no inf checks were recorded prior to update()");
  scaler.unscale_(m.opt);
  EXPECT_EQ(error_of([&] { scaler.unscale_(m.opt); }),
            "GradScaler.unscale_: unscale_() has already been called on this optimizer since the last update()");
  scaler.step(m.opt);
  EXPECT_EQ(error_of([&] { scaler.step(m.opt); }),
            "GradScaler.step: step() has already been called since the last update()");
  EXPECT_EQ(error_of([&] { scaler.unscale_(m.opt); }), "GradScaler.unscale_: unscale_() is being called after step()");
  scaler.update();
  EXPECT_EQ(error_of([&] { scaler.step(m.opt); }), "(no error)") << "update() starts a new iteration";
}

TEST(GradScaler, RejectsInvalidOptions) {
  EXPECT_EQ(error_of([] { optim::GradScaler s({.init_scale = 0.0}); }),
            "GradScaler: init_scale must be positive and finite, got 0");
  EXPECT_EQ(error_of([] { optim::GradScaler s({.growth_factor = 1.0}); }),
            "GradScaler: growth_factor should be > 1, got 1");
  EXPECT_EQ(error_of([] { optim::GradScaler s({.backoff_factor = 1.0}); }),
            "GradScaler: backoff_factor should be < 1 (and > 0), got 1");
  EXPECT_EQ(error_of([] { optim::GradScaler s({.growth_interval = 0}); }),
            "GradScaler: growth_interval should be a positive integer, got 0");
}

TEST(GradScaler, WhenDisabledEverythingPassesThrough) {
  OneParameter m;
  optim::GradScaler scaler({.enabled = false});
  Tensor loss = m.w.sum();
  EXPECT_TRUE(scaler.scale(loss).is_same(loss));
  EXPECT_EQ(scaler.get_scale(), 1.0);
  m.set_grad({1, 1, 1});
  EXPECT_TRUE(scaler.step(m.opt));
  EXPECT_EQ(m.w.to_vector<float>(), (std::vector<float>{0.5f, 0.5f, 0.5f}));
  scaler.update();
  EXPECT_EQ(scaler.state_dict().metadata, "{}") << "PyTorch's disabled scaler has an empty state_dict";
}

TEST(GradScaler, StateDictRoundTripsWithPyTorchsKeys) {
  OneParameter m;
  optim::GradScaler scaler({.init_scale = 32.0, .growth_interval = 5});
  m.set_grad({1, 1, 1});
  scaler.step(m.opt);
  scaler.update();
  const optim::Checkpoint state = scaler.state_dict();
  const auto meta = nlohmann::json::parse(state.metadata);
  EXPECT_EQ(meta.at("scale"), 32.0);
  EXPECT_EQ(meta.at("growth_factor"), 2.0);
  EXPECT_EQ(meta.at("backoff_factor"), 0.5);
  EXPECT_EQ(meta.at("growth_interval"), 5);
  EXPECT_EQ(meta.at("_growth_tracker"), 1);

  optim::GradScaler restored;
  restored.load_state_dict(state);
  EXPECT_EQ(restored.get_scale(), 32.0);
  EXPECT_EQ(restored.get_growth_interval(), 5);
  EXPECT_EQ(restored.growth_tracker(), 1);
}

TEST(GradScaler, LoadStateDictRejectsBadStateAndChangesNothing) {
  optim::GradScaler scaler({.init_scale = 32.0});
  optim::Checkpoint empty;
  empty.metadata = "{}";
  expect_error([&] { scaler.load_state_dict(empty); }, {"the source state dict is empty"});
  optim::Checkpoint bad;
  bad.metadata = R"({"scale": -1, "growth_factor": 2, "backoff_factor": 0.5, "growth_interval": 10,
                     "_growth_tracker": 0})";
  expect_error([&] { scaler.load_state_dict(bad); }, {"scale must be positive and finite, got -1"});
  bad.metadata = R"({"scale": 8, "growth_factor": 2, "backoff_factor": 0.5, "growth_interval": 10,
                     "_growth_tracker": 10})";
  expect_error([&] { scaler.load_state_dict(bad); }, {"_growth_tracker 10 is outside [0, growth_interval 10)"});
  bad.metadata = R"({"scale": 8})";
  expect_error([&] { scaler.load_state_dict(bad); }, {"a key is missing or malformed"});
  EXPECT_EQ(scaler.get_scale(), 32.0);
  optim::GradScaler disabled({.enabled = false});
  expect_error([&] { disabled.load_state_dict(scaler.state_dict()); }, {"should only be called if enabled is true"});
}

// End to end under float16 autocast: a loss scale so large that the float16 gradients overflow is backed off
// until the steps go through, and the model then trains.
TEST(GradScaler, Float16AutocastTrainingBacksOffFromOverflowAndLearns) {
  manual_seed(0);
  Tensor x = randn({64, 8}), w_true = randn({8, 1});
  Tensor y = matmul(x, w_true);
  nn::Linear model(8, 1);
  optim::SGD opt(model.parameters(), optim::SGDOptions(0.05));
  optim::GradScaler scaler({.init_scale = 1e10});
  int skipped = 0;
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 200; ++step) {
    Tensor loss;
    {
      AutocastGuard autocast(kFloat16);
      loss = F::mse_loss(model.forward(x), y);
    }
    if (step == 0) first_loss = loss.item<double>();
    last_loss = loss.item<double>();
    opt.zero_grad();
    scaler.scale(loss).backward();
    if (!scaler.step(opt)) ++skipped;
    scaler.update();
  }
  EXPECT_GT(skipped, 0) << "1e10 overflows float16 (max 65504)";
  EXPECT_LT(scaler.get_scale(), 65504.0);
  EXPECT_LT(last_loss, 0.05 * first_loss);
  for (const Tensor& p : model.parameters())
    EXPECT_EQ(logical_or(isnan(p), isinf(p)).sum().item<int64_t>(), 0) << p;
}

TEST(Float16Autocast, AStepOnOverflowedGradientsWithoutAScalerRaises) {
  Tensor w = ones({4, 4}).requires_grad_();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  {
    AutocastGuard autocast(kFloat16);
    Tensor h = matmul(full({2, 4}, 300.0f), w);  // 1200 per element, in float16
    (h * h * h).to(kFloat32).sum().backward();   // 1.7e9 overflows float16 in forward and backward
  }
  expect_error([&] { opt.step(); }, {"SGD.step: a gradient (parameter of shape [4, 4]) is inf or NaN after float16 "
                                "autocast: float16 overflowed. Scale the loss with optim::GradScaler"});
  EXPECT_EQ(w.to_vector<float>(), std::vector<float>(16, 1.0f)) << "nothing was written";
}

TEST(Float16Autocast, FiniteStepsAndBfloat16AreNotAffected) {
  Tensor w = ones({4, 4}).requires_grad_();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  {
    AutocastGuard autocast(kFloat16);
    matmul(ones({2, 4}), w).to(kFloat32).sum().backward();
  }
  opt.step();
  EXPECT_TRUE(allclose(w, full({4, 4}, 0.8f)));
  // bfloat16 has float32's range: a non-finite gradient there is the model's own business, as in PyTorch.
  w.set_grad(full({4, 4}, std::nanf("")));
  {
    AutocastGuard autocast(kBFloat16);
    matmul(ones({2, 4}), w);
  }
  EXPECT_EQ(error_of([&] { opt.step(); }), "(no error)");
}
