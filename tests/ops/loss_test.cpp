// Losses: registry entries (gradcheck, gradgradcheck, f32 vs f64), PyTorch reference values and gradients
// (tests/reference/losses.py), the golden values, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "graft/graph/warning.h"
#include "support/op_registry.h"
#include "support/errors.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// Regression samples keep |input - target| away from the kinks (0 for l1, beta for smooth_l1).
std::vector<Sample> regression_samples(DType dt, std::function<Tensor(const Tensor&, const Tensor&, std::string_view)> f) {
  Tensor x = away_from_zero({3, 4}, dt, 0.3, 2.0, 1), y = uniform({3, 4}, dt, -0.1, 0.1, 2);
  std::vector<Sample> s;
  for (const char* r : {"none", "mean", "sum"})
    s.push_back(sample(std::string("reduction ") + r, {x, y}, [f, r](const TensorList& in) { return f(in[0], in[1], r); }));
  s.push_back(sample("3-d, constant target", {away_from_zero({2, 3, 2}, dt, 0.3, 2.0, 3), uniform({2, 3, 2}, dt, -0.1, 0.1, 4)},
                     [f](const TensorList& in) { return f(in[0], in[1], "mean"); }, {1}));
  return s;
}

GRAFT_REGISTER_OP({.name = "mse_loss", .samples = [](DType dt) {
  auto s = regression_samples(dt, [](const Tensor& a, const Tensor& b, std::string_view r) { return F::mse_loss(a, b, r); });
  s.push_back(sample("0-dim", {uniform({}, dt, -1, 1, 5), uniform({}, dt, -1, 1, 6)},
                     [](const TensorList& in) { return F::mse_loss(in[0], in[1]); }));
  return s;
}});
GRAFT_REGISTER_OP({.name = "l1_loss", .samples = [](DType dt) {
  return regression_samples(dt, [](const Tensor& a, const Tensor& b, std::string_view r) { return F::l1_loss(a, b, r); });
}});
GRAFT_REGISTER_OP({.name = "smooth_l1_loss", .samples = [](DType dt) {
  // |d| in {0.2, 0.6, 1.4, 2.5}: both pieces, away from beta = 1 and beta = 0.4.
  Tensor x = tensor({0.2, -0.6, 1.4, -2.5, -0.2, 0.6, -1.4, 2.5}, {2, 4}, dt), y = zeros({2, 4}, dt);
  std::vector<Sample> s;
  for (const char* r : {"none", "mean", "sum"})
    s.push_back(sample(std::string("beta 1, ") + r, {x, y}, [r](const TensorList& in) { return F::smooth_l1_loss(in[0], in[1], r); }));
  s.push_back(sample("beta 0.4", {x, y}, [](const TensorList& in) { return F::smooth_l1_loss(in[0], in[1], "sum", 0.4); }));
  s.push_back(sample("beta 0 is l1", {x, y}, [](const TensorList& in) { return F::smooth_l1_loss(in[0], in[1], "sum", 0.0); }));
  return s;
}});

GRAFT_REGISTER_OP({.name = "binary_cross_entropy", .samples = [](DType dt) {
  Tensor p = uniform({3, 4}, dt, 0.1, 0.9, 1), t = uniform({3, 4}, dt, 0, 1, 2), w = uniform({4}, dt, 0.5, 1.5, 3);
  std::vector<Sample> s;
  for (const char* r : {"none", "mean", "sum"})
    s.push_back(sample(std::string("reduction ") + r, {p, t}, [r](const TensorList& in) { return F::binary_cross_entropy(in[0], in[1], {}, r); }));
  s.push_back(sample("broadcast weight", {p, t, w}, [](const TensorList& in) { return F::binary_cross_entropy(in[0], in[1], in[2]); }, {2}));
  return s;
}});
GRAFT_REGISTER_OP({.name = "binary_cross_entropy_with_logits", .samples = [](DType dt) {
  Tensor x = uniform({3, 4}, dt, -4, 4, 1), t = uniform({3, 4}, dt, 0, 1, 2);
  Tensor w = uniform({3, 1}, dt, 0.5, 1.5, 3), pw = uniform({4}, dt, 0.5, 3, 4);
  std::vector<Sample> s;
  for (const char* r : {"none", "mean", "sum"})
    s.push_back(sample(std::string("reduction ") + r, {x, t},
                       [r](const TensorList& in) { return F::binary_cross_entropy_with_logits(in[0], in[1], {}, r); }));
  s.push_back(sample("weight and pos_weight", {x, t, w, pw},
                     [](const TensorList& in) { return F::binary_cross_entropy_with_logits(in[0], in[1], in[2], "none", in[3]); },
                     {2, 3}));
  s.push_back(sample("logit 0", {zeros({2}, dt), tensor({1.0, 0.3}, {}, dt)},
                     [](const TensorList& in) { return F::binary_cross_entropy_with_logits(in[0], in[1], {}, "sum", ones({2}, in[0].dtype()) * 2.0); }));
  return s;
}});

GRAFT_REGISTER_OP({.name = "nll_loss", .samples = [](DType dt) {
  Tensor lp = uniform({5, 4}, dt, -3, 0, 1), t = tensor({0, 3, -100, 1, 3}, {});
  Tensor w = tensor({1.0, 2.0, 0.5, 1.5}, {}, dt);
  std::vector<Sample> s;
  for (const char* r : {"none", "mean", "sum"})
    s.push_back(sample(std::string("weight, ignore_index, ") + r, {lp, t, w},
                       [r](const TensorList& in) { return F::nll_loss(in[0], in[1], in[2], -100, r); }, {2}));
  s.push_back(sample("(N, C, d)", {uniform({2, 4, 3}, dt, -3, 0, 2), indices({2, 3}, 4, 3)},
                     [](const TensorList& in) { return F::nll_loss(in[0], in[1]); }));
  s.push_back(sample("unbatched", {uniform({4}, dt, -3, 0, 4), tensor({2}, {})},
                     [](const TensorList& in) { return F::nll_loss(in[0], in[1].reshape({})); }));
  return s;
}});

GRAFT_REGISTER_OP({.name = "cross_entropy", .samples = [](DType dt) {
  Tensor x = uniform({5, 4}, dt, -2, 2, 1), t = tensor({0, 3, -100, 1, 3}, {}), w = tensor({1.0, 2.0, 0.5, 1.5}, {}, dt);
  std::vector<Sample> s;
  for (const char* r : {"none", "mean", "sum"}) {
    s.push_back(sample(std::string("indices, ") + r, {x, indices({5}, 4, 2)},
                       [r](const TensorList& in) { return F::cross_entropy(in[0], in[1], {}, -100, r); }));
    s.push_back(sample(std::string("weight, ignore_index, label smoothing, ") + r, {x, t, w},
                       [r](const TensorList& in) { return F::cross_entropy(in[0], in[1], in[2], -100, r, 0.2); }, {2}));
    s.push_back(sample(std::string("probabilities, weight, smoothing, ") + r, {x, uniform({5, 4}, dt, 0, 0.5, 3), w},
                       [r](const TensorList& in) { return F::cross_entropy(in[0], in[1], in[2], -100, r, 0.1); }, {2}));
  }
  s.push_back(sample("(N, C, d) smoothing", {uniform({2, 4, 3}, dt, -2, 2, 4), indices({2, 3}, 4, 5)},
                     [](const TensorList& in) { return F::cross_entropy(in[0], in[1], {}, -100, "mean", 0.1); }));
  return s;
}});

GRAFT_REGISTER_OP({.name = "focal_loss", .samples = [](DType dt) {
  Tensor x = uniform({5, 4}, dt, -2, 2, 1), t = indices({5}, 4, 2);
  std::vector<Sample> s;
  for (const char* r : {"none", "mean", "sum"})
    s.push_back(sample(std::string("gamma 2, ") + r, {x, t}, [r](const TensorList& in) { return F::focal_loss(in[0], in[1], 1.0, 2.0, r); }));
  s.push_back(sample("alpha 0.25, gamma 0.5", {x, t}, [](const TensorList& in) { return F::focal_loss(in[0], in[1], 0.25, 0.5); }));
  s.push_back(sample("per-class alpha (differentiable)", {x, t, uniform({4}, dt, 0.2, 1, 3)},
                     [](const TensorList& in) { return F::focal_loss(in[0], in[1], in[2], 3.0, "sum"); }));
  s.push_back(sample("(N, C, d)", {uniform({2, 4, 3}, dt, -2, 2, 4), indices({2, 3}, 4, 5)},
                     [](const TensorList& in) { return F::focal_loss(in[0], in[1]); }));
  return s;
}});

GRAFT_REGISTER_OP({.name = "compute_class_weight", .samples = [](DType dt) {
  Tensor t = tensor({0, 1, 1, 2, 2, 2, 0, 1}, {2, 4});
  return std::vector<Sample>{
      sample("balanced", {t}, [dt](const TensorList& in) { return F::compute_class_weight(in[0], -1, "balanced", dt); }),
      sample("inverse", {t}, [dt](const TensorList& in) { return F::compute_class_weight(in[0], 3, "inverse", dt); })};
}, .differentiable = false});

// ---------------------------------------------------------------- the golden values

Tensor golden_logits(DType dt = kFloat64) {
  return tensor({0.3367, 0.1288, 0.2345, 0.2303, -1.1229, -0.1863, 2.2082, -0.6380, 0.4617, 0.2674, 0.5349, 0.8094},
                {4, 3}, dt);
}
Tensor golden_targets() { return tensor({0, 1, 2, 0}, {}); }

TEST(LossGoldenValues, CrossEntropy) {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = golden_logits(dt), t = golden_targets(), w = tensor({1.0, 2.0, 1.5}, {}, dt);
    EXPECT_NEAR(F::cross_entropy(x, t).item<double>(), 1.5879, 5e-5);
    // PyTorch's weighted mean divides by the sum of the targets' weights (1 + 2 + 1.5 + 1 = 5.5)...
    EXPECT_NEAR(F::cross_entropy(x, t, w).item<double>(), 1.6970, 5e-5);
    // ...which is not the plain mean of the weighted per-sample losses.
    EXPECT_NEAR(mean(F::cross_entropy(x, t, {}, -100, "none") * index_select(w, 0, t)).item<double>(), 2.3334, 5e-5);
    EXPECT_NEAR(F::cross_entropy(x, t, {}, -100, "mean", 0.1).item<double>(), 1.5592, 5e-5);
    EXPECT_NEAR(F::focal_loss(x, t, 1.0, 2.0).item<double>(), 1.0318, 5e-5);
  }
}

TEST(LossGoldenValues, BalancedClassWeights) {
  Tensor w = F::compute_class_weight(golden_targets(), 3, "balanced");
  EXPECT_EQ(w.dtype(), kFloat32);
  ASSERT_EQ(w.shape(), Shape({3}));
  EXPECT_NEAR(w.at<double>({0}), 0.6667, 5e-5);
  EXPECT_NEAR(w.at<double>({1}), 1.3333, 5e-5);
  EXPECT_NEAR(w.at<double>({2}), 1.3333, 5e-5);
  // scikit-learn's normalisation: sum_c count_c * weight_c = n.
  EXPECT_NEAR(2 * w.at<double>({0}) + w.at<double>({1}) + w.at<double>({2}), 4.0, 1e-6);
  EXPECT_EQ(values(F::compute_class_weight(golden_targets(), -1, "inverse", kFloat64)), (std::vector<double>{0.5, 1, 1}));
}

// ---------------------------------------------------------------- PyTorch reference values

Tensor from_json(const nlohmann::json& j, DType floating) {
  std::vector<int64_t> shape = j["shape"].get<std::vector<int64_t>>();
  // tensor() reads an empty shape as "1-D": 0-dim tensors are reshaped.
  if (j["dtype"] == "int64") return tensor(j["data"].get<std::vector<int64_t>>(), shape, kInt64).reshape(shape);
  return tensor(j["data"].get<std::vector<double>>(), shape, floating).reshape(shape);
}

Tensor call_loss(const std::string& op, std::map<std::string, Tensor>& t, const nlohmann::json& args) {
  const std::string r = args.value("reduction", "mean");
  Tensor in = t["input"], tg = t["target"], w = t.count("weight") ? t["weight"] : Tensor();
  const int64_t ignore = args.value("ignore_index", int64_t{-100});
  if (op == "mse_loss") return F::mse_loss(in, tg, r);
  if (op == "l1_loss") return F::l1_loss(in, tg, r);
  if (op == "smooth_l1_loss") return F::smooth_l1_loss(in, tg, r, args.value("beta", 1.0));
  if (op == "binary_cross_entropy") return F::binary_cross_entropy(in, tg, w, r);
  if (op == "binary_cross_entropy_with_logits")
    return F::binary_cross_entropy_with_logits(in, tg, w, r, t.count("pos_weight") ? t["pos_weight"] : Tensor());
  if (op == "nll_loss") return F::nll_loss(in, tg, w, ignore, r);
  if (op == "cross_entropy") return F::cross_entropy(in, tg, w, ignore, r, args.value("label_smoothing", 0.0));
  if (op == "focal_loss") {
    if (t.count("alpha")) return F::focal_loss(in, tg, t["alpha"], args.value("gamma", 2.0), r);
    return F::focal_loss(in, tg, args.value("alpha", 1.0), args.value("gamma", 2.0), r);
  }
  ADD_FAILURE() << "unknown op " << op;
  return {};
}

void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what << ": undefined";
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  EXPECT_TRUE(allclose(actual.to(kFloat64), expected, rtol, atol, true)) << what << "\ngraft:   " << actual << "\nPyTorch: " << expected;
}

// Every case in float64 (tight) and float32 (to single precision), values and input/target gradients.
TEST(LossReference, MatchesPyTorch) {
  nlohmann::json ref = reference_json("losses.json");
  ASSERT_GE(ref["cases"].size(), 100u);
  WarningHandler quiet = set_warning_handler([](const std::string&) {});
  for (DType dt : {kFloat64, kFloat32}) {
    const double rtol = dt == kFloat64 ? 1e-9 : 2e-4, atol = dt == kFloat64 ? 1e-12 : 2e-5;
    for (const auto& c : ref["cases"]) {
      const std::string name = c["name"].get<std::string>() + (dt == kFloat64 ? " (f64)" : " (f32)");
      SCOPED_TRACE(name);
      std::map<std::string, Tensor> t;
      for (const auto& [k, v] : c["tensors"].items()) t[k] = from_json(v, dt);
      TensorList wrt;
      for (const auto& [k, v] : c["grads"].items()) {
        t[k].requires_grad_();
        wrt.push_back(t[k]);
      }
      Tensor out = call_loss(c["op"], t, c["args"]);
      expect_close(out, from_json(c["output"], kFloat64), rtol, atol, name + ": output");
      TensorList grads = autograd::grad({out}, wrt, {from_json(c["grad_output"], dt)});
      size_t i = 0;
      for (const auto& [k, v] : c["grads"].items()) expect_close(grads[i++], from_json(v, kFloat64), rtol, atol, name + ": grad " + k);
    }
  }
  set_warning_handler(quiet);
}

// ---------------------------------------------------------------- behaviour

TEST(CrossEntropy, NamedOptionsEqualThePositionalArguments) {
  manual_seed(11);
  Tensor logits = randn({6, 4}), target = tensor({0, 3, 1, 1, 2, 0}, {6}, kInt64);
  Tensor weight = tensor({1.0, 2.0, 0.5, 1.5}, {4}, kFloat32);
  EXPECT_TRUE(equal(F::cross_entropy(logits, target, {.weight = weight, .ignore_index = 1, .label_smoothing = 0.2}),
                    F::cross_entropy(logits, target, weight, 1, "mean", 0.2)));
  EXPECT_TRUE(equal(F::cross_entropy(logits, target, {.reduction = "none"}),
                    F::cross_entropy(logits, target, Tensor(), -100, "none")));
  Tensor log_probs = F::log_softmax(logits, 1);
  EXPECT_TRUE(equal(F::nll_loss(log_probs, target, {.ignore_index = 0, .reduction = "sum"}),
                    F::nll_loss(log_probs, target, Tensor(), 0, "sum")));
  EXPECT_THROW(F::cross_entropy(logits, target, {.reduction = "average"}), Error);
}

TEST(CrossEntropy, NeverTakesLogOfZero) {
  // Huge logit gaps: softmax underflows to exactly 0 for the target, yet the loss is finite and exact.
  Tensor x = tensor({1000.0, 0.0, -1000.0}, {1, 3}, dtype(kFloat32).requires_grad());
  Tensor loss = F::cross_entropy(x, tensor({2}, {}));
  EXPECT_FLOAT_EQ(loss.item<float>(), 2000.0f);
  loss.backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{1, 0, -1}));
}

TEST(CrossEntropy, ProbabilityTargetsOfOneHotEqualIndexTargets) {
  Tensor x = uniform({4, 3}, kFloat64, -2, 2, 7), t = golden_targets();
  Tensor one_hot = zeros({4, 3}, kFloat64);
  for (int64_t i = 0; i < 4; ++i) one_hot.select(0, i).select(0, t.at<int64_t>({i})).fill_(1.0);
  Tensor w = tensor({1.0, 2.0, 1.5}, {}, kFloat64);
  EXPECT_NEAR(F::cross_entropy(x, one_hot).item<double>(), F::cross_entropy(x, t).item<double>(), 1e-12);
  // With weights the means differ: probabilities divide by N, indices by the sum of the targets' weights.
  EXPECT_NEAR(F::cross_entropy(x, one_hot, w, -100, "sum").item<double>(), F::cross_entropy(x, t, w, -100, "sum").item<double>(), 1e-12);
}

TEST(CrossEntropy, AllTargetsIgnoredGiveNaNMeanAndZeroGradient) {
  Tensor x = uniform({3, 4}, kFloat64, -1, 1, 1).requires_grad_();
  Tensor t = tensor({-100, -100, -100}, {});
  Tensor loss = F::cross_entropy(x, t);
  EXPECT_TRUE(std::isnan(loss.item<double>()));
  loss.backward();
  EXPECT_EQ(values(x.grad()), std::vector<double>(12, 0.0));  // as PyTorch
  EXPECT_EQ(F::cross_entropy(x.detach(), t, {}, -100, "sum").item<double>(), 0.0);
  EXPECT_TRUE(std::isnan(F::cross_entropy(zeros({0, 3}), tensor(std::vector<int64_t>{}, {0})).item<double>()));
}

TEST(CrossEntropy, IgnoredTargetsGetNoGradient) {
  Tensor x = uniform({3, 4}, kFloat64, -1, 1, 2).requires_grad_();
  F::cross_entropy(x, tensor({1, -100, 3}, {}), {}, -100, "mean", 0.2).backward();
  for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(x.grad().at<double>({1, c}), 0.0);
}

TEST(FocalLoss, GammaZeroAlphaOneIsCrossEntropy) {
  Tensor x = uniform({2, 5, 3}, kFloat64, -2, 2, 3), t = indices({2, 3}, 5, 4);
  EXPECT_NEAR(F::focal_loss(x, t, 1.0, 0.0).item<double>(), F::cross_entropy(x, t).item<double>(), 1e-12);
  // A per-class alpha weighs each sample by its target's alpha; the mean is still over samples.
  Tensor alpha = tensor({0.5, 1.0, 2.0, 1.0, 0.25}, {}, kFloat64);
  Tensor per_sample = F::focal_loss(x, t, alpha, 2.0, "none");
  Tensor unweighted = F::focal_loss(x, t, 1.0, 2.0, "none");
  EXPECT_TRUE(allclose(per_sample, unweighted * index_select(alpha, 0, t.reshape({-1})).reshape({2, 3})));
  EXPECT_NEAR(F::focal_loss(x, t, alpha, 2.0).item<double>(), mean(per_sample).item<double>(), 1e-12);
}

TEST(FocalLoss, DownweightsEasyExamples) {
  Tensor x = tensor({4.0, 0.0, 0.0, 0.0, 0.1, 0.0}, {2, 3}, kFloat64);
  Tensor t = tensor({0, 0}, {});
  Tensor ce = F::cross_entropy(x, t, {}, -100, "none"), focal = F::focal_loss(x, t, 1.0, 2.0, "none");
  EXPECT_LT(focal.at<double>({0}) / ce.at<double>({0}), 0.002);  // p_t = 0.965: (1 - p_t)^2 ~ 0.00125
  EXPECT_GT(focal.at<double>({1}) / ce.at<double>({1}), 0.4);    // p_t ~ 0.36
}

TEST(BinaryCrossEntropy, ClampsTheLogsAtMinus100) {
  Tensor p = tensor({0.0, 1.0}, {}, kFloat64), t = tensor({1.0, 0.0}, {}, kFloat64);
  EXPECT_EQ(values(F::binary_cross_entropy(p, t, {}, "none")), (std::vector<double>{100, 100}));
}

TEST(BinaryCrossEntropyWithLogits, IsStableForHugeLogitsInFloat32) {
  Tensor x = tensor({-200.0, 200.0, -20.0}, {}, dtype(kFloat32).requires_grad());
  Tensor t = tensor({1.0, 0.0, 0.0}, {});
  Tensor loss = F::binary_cross_entropy_with_logits(x, t, {}, "none");
  EXPECT_EQ(values(loss)[0], 200.0);
  EXPECT_EQ(values(loss)[1], 200.0);
  loss.sum().backward();
  // sigmoid(-20) - 0: no cancellation against 1 even in float32.
  EXPECT_NEAR(x.grad().at<double>({2}), 2.0611536e-9, 1e-15);
  // The probability form saturates: sigmoid(-200) is 0 in float32, and its log is clamped at -100.
  EXPECT_EQ(F::binary_cross_entropy(sigmoid(x.detach()), t, {}, "none").at<double>({0}), 100.0);
}

TEST(MseLoss, WarnsWhenTheTargetBroadcasts) {
  std::vector<std::string> warnings;
  WarningHandler prev = set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
  Tensor loss = F::mse_loss(ones({4, 3}), zeros({3}));
  set_warning_handler(prev);
  EXPECT_EQ(loss.item<double>(), 1.0);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("mse_loss: using a target size ([3]) that is different to the input size ([4, 3])"), std::string::npos)
      << warnings[0];
}

TEST(Losses, ReductionsAreNoneMeanSum) {
  Tensor x = tensor({1.0, 2.0, 4.0}, {}, kFloat64), y = zeros({3}, kFloat64);
  EXPECT_EQ(values(F::mse_loss(x, y, "none")), (std::vector<double>{1, 4, 16}));
  EXPECT_EQ(F::mse_loss(x, y, "sum").item<double>(), 21.0);
  EXPECT_EQ(F::mse_loss(x, y).item<double>(), 7.0);
  EXPECT_DOUBLE_EQ(F::l1_loss(x, y).item<double>(), 7.0 / 3);
  EXPECT_EQ(values(F::smooth_l1_loss(tensor({0.5, 3.0}, {}, kFloat64), zeros({2}, kFloat64), "none")), (std::vector<double>{0.125, 2.5}));
}

// ---------------------------------------------------------------- bad input

TEST(LossErrors, NameTheOpTheArgumentAndTheShapes) {
  Tensor x = golden_logits(), t = golden_targets();
  EXPECT_EQ(error_of([&] { F::mse_loss(x, x, "avg"); }), "mse_loss: reduction must be 'none', 'mean' or 'sum', got 'avg'");
  EXPECT_EQ(error_of([&] { F::cross_entropy(x, tensor({0, 1, 3, 0}, {})); }),
            "cross_entropy: target 3 is out of bounds (expected a class index in [0, 3) or ignore_index -100)");
  EXPECT_EQ(error_of([&] { F::nll_loss(x, tensor({0, 1, 2}, {})); }),
            "nll_loss: expected input batch_size (4) to match target batch_size (3); target shape [3], input shape [4, 3]");
  EXPECT_EQ(error_of([&] { F::cross_entropy(zeros({2, 3, 4}), tensor({0, 1}, {})); }),
            "cross_entropy: expected a target of shape [2, 4] for input of shape [2, 3, 4], got [2]");
  EXPECT_EQ(error_of([&] { F::nll_loss(x, t.to(kFloat64)); }), "nll_loss: expected an int64 target of class indices, got float64");
  EXPECT_EQ(error_of([&] { F::cross_entropy(x, t, ones({4}, kFloat64)); }),
            "cross_entropy: weight should hold one value for each of the 3 classes, got shape [4]");
  EXPECT_EQ(error_of([&] { F::cross_entropy(x, t, ones({3}, kFloat32)); }),
            "cross_entropy: weight is float32 but input is float64; they must have the same dtype");
  EXPECT_EQ(error_of([&] { F::cross_entropy(x, t, ones({3}, dtype(kFloat64).requires_grad())); }),
            "cross_entropy: 'weight' requires grad, but the loss is not differentiable with respect to it (as in PyTorch); pass weight.detach()");
  EXPECT_EQ(error_of([&] { F::cross_entropy(x, t, {}, -100, "mean", 1.5); }),
            "cross_entropy: label_smoothing must be between 0.0 and 1.0, got 1.5");
  EXPECT_EQ(error_of([&] { F::cross_entropy(x, zeros({4, 3}, kFloat64), {}, 1); }),
            "cross_entropy: ignore_index (1) is not supported for class-probability targets");
  EXPECT_EQ(error_of([&] { F::cross_entropy(x, zeros({4, 3}, kInt64)); }),
            "cross_entropy: a target of the input's shape [4, 3] holds class probabilities and must be floating-point, got int64");
  EXPECT_EQ(error_of([&] { F::cross_entropy(tensor({1.0}, {}).reshape({}), tensor({0}, {}).reshape({})); }),
            "cross_entropy: expected an input of shape (C), (N, C) or (N, C, d1, ...), got shape []");
  EXPECT_EQ(error_of([&] { F::cross_entropy(tensor({1, 2}, {1, 2}), tensor({0}, {})); }),
            "cross_entropy: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::binary_cross_entropy(tensor({1.5}, {}), tensor({1.0}, {})); }),
            "binary_cross_entropy: all elements of input should be between 0 and 1, got 1.5 at flat index 0");
  EXPECT_EQ(error_of([&] { F::binary_cross_entropy(tensor({kNaN}, {}), tensor({1.0}, {})); }),
            "binary_cross_entropy: all elements of input should be between 0 and 1, got nan at flat index 0");
  EXPECT_EQ(error_of([&] { F::binary_cross_entropy(tensor({0.5, 0.5}, {}), tensor({1.0}, {})); }),
            "binary_cross_entropy: using a target size ([1]) that is different to the input size ([2]) is not supported; "
            "they must be the same (as in PyTorch)");
  EXPECT_EQ(error_of([&] { F::binary_cross_entropy(tensor({0.5, 0.5}, {}), tensor({1.0, 0.0}, {}), ones({3})); }),
            "binary_cross_entropy: 'weight' of shape [3] does not broadcast to the input's shape [2]");
  EXPECT_EQ(error_of([&] { F::binary_cross_entropy_with_logits(zeros({2}), zeros({1})); }),
            "binary_cross_entropy_with_logits: target size ([1]) must be the same as input size ([2])");
  EXPECT_EQ(error_of([&] { F::binary_cross_entropy_with_logits(zeros({2, 3}), zeros({2, 3}), {}, "mean", ones({2})); }),
            "binary_cross_entropy_with_logits: 'pos_weight' of shape [2] does not broadcast to the input's shape [2, 3]");
  EXPECT_EQ(error_of([&] { F::smooth_l1_loss(x, x, "mean", -1.0); }),
            "smooth_l1_loss: beta must be >= 0 (negative values are not supported), got -1");
  EXPECT_EQ(error_of([&] { F::mse_loss(zeros({4, 3}), zeros({2})); }),
            "mse_loss: shapes [4, 3] and [2] cannot be broadcast together (dim -1: 3 vs 2)");
  EXPECT_EQ(error_of([&] { F::l1_loss(Tensor(), zeros({2})); }), "l1_loss: argument 'input' is an undefined tensor");
  EXPECT_EQ(error_of([&] { F::focal_loss(x, t, 1.0, -1.0); }), "focal_loss: gamma must be >= 0, got -1");
  EXPECT_EQ(error_of([&] { F::focal_loss(x, t, -0.5); }), "focal_loss: alpha must be >= 0, got -0.5");
  EXPECT_EQ(error_of([&] { F::focal_loss(x, t, ones({2}, kFloat64)); }),
            "focal_loss: a per-class alpha should hold one value for each of the 3 classes, got shape [2]");
  EXPECT_EQ(error_of([&] { F::focal_loss(x, tensor({0, 1, -100, 0}, {})); }),
            "focal_loss: target -100 is out of bounds (expected a class index in [0, 3))");
  EXPECT_EQ(error_of([&] { F::compute_class_weight(t, 3, "uniform"); }),
            "compute_class_weight: mode must be 'balanced' or 'inverse', got 'uniform'");
  EXPECT_EQ(error_of([&] { F::compute_class_weight(t, 4); }),
            "compute_class_weight: class 3 does not occur in the target, so its weight would be infinite");
  EXPECT_EQ(error_of([&] { F::compute_class_weight(t, 2); }), "compute_class_weight: target 2 is out of range for 2 classes");
  EXPECT_EQ(error_of([&] { F::compute_class_weight(tensor(std::vector<int64_t>{}, {0})); }),
            "compute_class_weight: cannot compute class weights from an empty target (shape [0])");
  EXPECT_EQ(error_of([&] { F::compute_class_weight(t.to(kFloat32)); }),
            "compute_class_weight: expected an int64 target of class indices, got float32");
}

TEST(BinaryCrossEntropyWithLogits, NamedOptionsEqualThePositionalArguments) {
  manual_seed(12);
  const Tensor x = randn({4, 3}), y = rand({4, 3}), w = rand({3}), pos = rand({3}) * 3.0;
  EXPECT_TRUE(equal(F::binary_cross_entropy_with_logits(x, y, {.reduction = "sum", .pos_weight = pos}),
                    F::binary_cross_entropy_with_logits(x, y, Tensor(), "sum", pos)));
  EXPECT_TRUE(equal(F::binary_cross_entropy_with_logits(x, y, {.weight = w}),
                    F::binary_cross_entropy_with_logits(x, y, w)));
}

}  // namespace
