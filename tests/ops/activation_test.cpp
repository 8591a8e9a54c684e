// Activations (ops/activation.h): registry entries (gradcheck, gradgradcheck, f32 vs f64, oneDNN vs
// loops) and behaviour against PyTorch's values (tests/reference/activations.py).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "graft/autograd/engine.h"
#include "graft/ops/kernels/activation.h"
#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/softmax.h"
#include "graft/graph/node.h"
#include "support/op_registry.h"
#include "support/errors.h"
#include "torch_reference.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Column counts that make a 16-row sample large enough for the float32 oneDNN paths, so that the
// registry's ReferenceKernelsAgree compares them with the loops.
constexpr int64_t kEltwiseCols = kernels::kOneDnnEltwiseMinElements / 16 + 1;
constexpr int64_t kSoftmaxCols = kernels::kOneDnnSoftmaxMinElements / 16 + 1;

using Unary = std::function<Tensor(const Tensor&)>;

// Samples away from 0, where relu, leaky_relu and elu have kinks.
std::vector<Sample> unary_samples(DType dt, Unary f) {
  auto call = [f](const TensorList& in) { return f(in[0]); };
  return {sample("matrix", {away_from_zero({3, 4}, dt, 0.1, 3.0, 1)}, call),
          sample("0-dim", {away_from_zero({}, dt, 0.1, 3.0, 2)}, call),
          sample("transposed view", {away_from_zero({4, 3}, dt, 0.1, 3.0, 3)}, [f](const TensorList& in) { return f(in[0].t()); }),
          sample("large enough for oneDNN", {away_from_zero({16, kEltwiseCols}, dt, 0.1, 3.0, 4)}, call)};
}

using SoftmaxFn = Tensor (*)(const Tensor&, int64_t, std::optional<DType>);

std::vector<Sample> softmax_samples(DType dt, SoftmaxFn f) {
  auto along = [f](int64_t dim) { return [f, dim](const TensorList& in) { return f(in[0], dim, std::nullopt); }; };
  return {sample("rows", {uniform({3, 5}, dt, -3, 3, 1)}, along(1)),
          sample("columns", {uniform({3, 5}, dt, -3, 3, 2)}, along(0)),
          sample("middle dim of 3-D", {uniform({2, 3, 4}, dt, -3, 3, 3)}, along(1)),
          sample("last dim as -1", {uniform({2, 3, 4}, dt, -3, 3, 4)}, along(-1)),
          sample("0-dim", {uniform({}, dt, -3, 3, 5)}, along(0)),
          sample("transposed view", {uniform({5, 3}, dt, -3, 3, 6)},
                 [f](const TensorList& in) { return f(in[0].t(), 1, std::nullopt); }),
          sample("large enough for oneDNN", {uniform({16, kSoftmaxCols}, dt, -4, 4, 7)}, along(1))};
}

GRAFT_REGISTER_OP({.name = "relu", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return F::relu(x); }); }});
GRAFT_REGISTER_OP({.name = "leaky_relu", .samples = [](DType dt) {
  auto s = unary_samples(dt, [](const Tensor& x) { return F::leaky_relu(x); });
  auto more = unary_samples(dt, [](const Tensor& x) { return F::leaky_relu(x, 0.2); });
  s.push_back(more[0]);
  return s;
}});
GRAFT_REGISTER_OP({.name = "elu", .samples = [](DType dt) {
  auto s = unary_samples(dt, [](const Tensor& x) { return F::elu(x); });
  auto more = unary_samples(dt, [](const Tensor& x) { return F::elu(x, 1.5); });
  s.push_back(more[0]);
  s.push_back(more[3]);
  return s;
}});
GRAFT_REGISTER_OP({.name = "gelu", .samples = [](DType dt) {
  auto s = unary_samples(dt, [](const Tensor& x) { return F::gelu(x); });
  for (Sample& t : unary_samples(dt, [](const Tensor& x) { return F::gelu(x, "tanh"); })) s.push_back(t);
  return s;
}});
GRAFT_REGISTER_OP({.name = "silu", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return F::silu(x); }); }});
GRAFT_REGISTER_OP({.name = "softplus", .samples = [](DType dt) {
  auto s = unary_samples(dt, [](const Tensor& x) { return F::softplus(x); });
  // beta x on both sides of the threshold, away from it (the two branches differ by log1p(e^-t) / beta there).
  s.push_back(sample("beta 2, threshold 1", {tensor({-3.0, -0.7, 0.1, 0.3, 0.7, 2.5}, {2, 3}, dt)},
                     [](const TensorList& in) { return F::softplus(in[0], 2.0, 1.0); }));
  return s;
}});
GRAFT_REGISTER_OP({.name = "softmax", .samples = [](DType dt) { return softmax_samples(dt, F::softmax); }});
GRAFT_REGISTER_OP({.name = "log_softmax", .samples = [](DType dt) { return softmax_samples(dt, F::log_softmax); }});

// Keep masks with rows where nothing is kept (zeros, and no gradient), broadcast from fewer dims.
GRAFT_REGISTER_OP({.name = "masked_softmax", .samples = [](DType dt) {
  auto with_keep = [](const Tensor& keep) { return [keep](const TensorList& in) { return F::masked_softmax(in[0], keep); }; };
  Tensor keep = uniform({4, 5}, kFloat32, 0, 1, 21) > 0.4;
  keep.select(0, 2).fill_(false);
  Tensor wide_keep = uniform({16, kSoftmaxCols}, kFloat32, 0, 1, 22) > 0.2;
  wide_keep.select(0, 3).fill_(false);
  return std::vector<Sample>{
      sample("no mask", {uniform({3, 5}, dt, -3, 3, 1)}, [](const TensorList& in) { return F::masked_softmax(in[0]); }),
      sample("a row with nothing kept", {uniform({4, 5}, dt, -3, 3, 2)}, with_keep(keep)),
      sample("mask broadcast over heads", {uniform({2, 3, 4, 5}, dt, -3, 3, 3)}, with_keep(keep)),
      sample("column mask", {uniform({4, 5}, dt, -3, 3, 4)}, with_keep(tensor({true, false, true, true, false}, {5}))),
      sample("0-dim", {uniform({}, dt, -3, 3, 5)}, [](const TensorList& in) { return F::masked_softmax(in[0]); }),
      sample("transposed view", {uniform({5, 4}, dt, -3, 3, 6)},
             [keep](const TensorList& in) { return F::masked_softmax(in[0].t(), keep); }),
      sample("large enough for oneDNN", {uniform({16, kSoftmaxCols}, dt, -4, 4, 7)}, with_keep(wide_keep))};
}});

// Both arguments are free variables here: the output comes from a softmax of the sample's own input.
std::vector<Sample> backward_data_samples(DType dt, Tensor (*backward)(const Tensor&, const Tensor&, int64_t), SoftmaxFn forward) {
  auto along = [backward](int64_t dim) {
    return [backward, dim](const TensorList& in) { return backward(in[0], in[1], dim); };
  };
  auto out = [&](IntList shape, int64_t dim, uint64_t seed) { return forward(uniform(shape, dt, -3, 3, seed), dim, std::nullopt); };
  return {sample("rows", {uniform({3, 5}, dt, -1, 1, 11), out({3, 5}, 1, 1)}, along(1)),
          sample("columns", {uniform({3, 5}, dt, -1, 1, 12), out({3, 5}, 0, 2)}, along(0)),
          sample("middle dim as -2", {uniform({2, 3, 4}, dt, -1, 1, 13), out({2, 3, 4}, 1, 3)}, along(-2)),
          sample("large enough for oneDNN", {uniform({16, kSoftmaxCols}, dt, -1, 1, 14), out({16, kSoftmaxCols}, 1, 4)},
                 along(1))};
}
GRAFT_REGISTER_OP({.name = "softmax_backward_data", .samples = [](DType dt) {
  return backward_data_samples(dt, F::softmax_backward_data, F::softmax);
}});
GRAFT_REGISTER_OP({.name = "log_softmax_backward_data", .samples = [](DType dt) {
  return backward_data_samples(dt, F::log_softmax_backward_data, F::log_softmax);
}});

// ---------------------------------------------------------------- helpers

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  EXPECT_TRUE(allclose(actual.to(kFloat64), expected.to(kFloat64), rtol, atol, /*equal_nan=*/true))
      << what << "\nactual:   " << actual << "\nexpected: " << expected;
}

Tensor first_grad(const Tensor& y, const Tensor& x, const Tensor& v, bool create_graph = false) {
  return autograd::grad({y}, {x}, {v}, std::nullopt, create_graph)[0];
}

// ---------------------------------------------------------------- golden values (the issue's)

TEST(Activations, GoldenValues) {
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor x = tensor({-2.0, -1.0, 0.0, 1.0, 2.0}, {1, 5}, dt);
    auto expect4 = [&](const Tensor& y, std::vector<double> want, const char* what) {
      expect_close(y, tensor(want, {1, 5}, kFloat64), 0, 5e-5, what);
    };
    expect4(F::sigmoid(x), {0.1192, 0.2689, 0.5000, 0.7311, 0.8808}, "sigmoid");
    expect4(F::tanh(x), {-0.9640, -0.7616, 0, 0.7616, 0.9640}, "tanh");
    expect4(F::elu(x), {-0.8647, -0.6321, 0, 1, 2}, "elu");
    expect4(F::silu(x), {-0.2384, -0.2689, 0, 0.7311, 1.7616}, "swish");
    expect4(F::softmax(x, 1), {0.0117, 0.0317, 0.0861, 0.2341, 0.6364}, "softmax");
    expect4(F::leaky_relu(x, 0.2), {-0.4, -0.2, 0, 1, 2}, "leaky_relu(0.2)");
    expect4(F::relu(x), {0, 0, 0, 1, 2}, "relu");
  }
}

// ---------------------------------------------------------------- PyTorch's values

struct Case {
  const char* name;
  Unary f;
};

const std::vector<Case>& reference_cases() {
  static const std::vector<Case> cases = {
      {"relu", [](const Tensor& x) { return F::relu(x); }},
      {"leaky_relu_0.2", [](const Tensor& x) { return F::leaky_relu(x, 0.2); }},
      {"elu_1.5", [](const Tensor& x) { return F::elu(x, 1.5); }},
      {"gelu_none", [](const Tensor& x) { return F::gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return F::gelu(x, "tanh"); }},
      {"silu", [](const Tensor& x) { return F::silu(x); }},
      {"softplus", [](const Tensor& x) { return F::softplus(x); }},
      {"softplus_beta2_threshold5", [](const Tensor& x) { return F::softplus(x, 2.0, 5.0); }},
      {"sigmoid", [](const Tensor& x) { return F::sigmoid(x); }},
      {"tanh", [](const Tensor& x) { return F::tanh(x); }},
      {"softmax_dim1", [](const Tensor& x) { return F::softmax(x, 1); }},
      {"softmax_dim0", [](const Tensor& x) { return F::softmax(x, 0); }},
      {"log_softmax_dim1", [](const Tensor& x) { return F::log_softmax(x, 1); }},
      {"log_softmax_dim0", [](const Tensor& x) { return F::log_softmax(x, 0); }},
      {"softmax_masked", [](const Tensor& x) { return F::softmax(x, 1); }},
      {"log_softmax_masked", [](const Tensor& x) { return F::log_softmax(x, 1); }},
      {"golden_sigmoid", [](const Tensor& x) { return F::sigmoid(x); }},
      {"golden_tanh", [](const Tensor& x) { return F::tanh(x); }},
      {"golden_elu", [](const Tensor& x) { return F::elu(x); }},
      {"golden_silu", [](const Tensor& x) { return F::silu(x); }},
      {"golden_softmax", [](const Tensor& x) { return F::softmax(x, 1); }},
      {"golden_leaky_relu_0.2", [](const Tensor& x) { return F::leaky_relu(x, 0.2); }},
  };
  return cases;
}

// Outputs, gradients and (where PyTorch has them) second derivatives match PyTorch in float64, and in
// float32 to float32 precision.
TEST(Activations, MatchPyTorch) {
  const auto& file = torch_reference::reference_json("activations.json");
  ASSERT_EQ(file.at("cases").size(), reference_cases().size()) << "a case of activations.py has no test";
  for (const Case& c : reference_cases()) {
    const auto& ref = file.at("cases").at(c.name);
    for (DType dt : {kFloat64, kFloat32}) {
      SCOPED_TRACE(std::string(c.name) + " " + dtype_name(dt));
      const double rtol = dt == kFloat64 ? 1e-10 : 1e-5, atol = dt == kFloat64 ? 1e-12 : 1e-6;
      Tensor x = torch_reference::to_tensor(ref.at("x"), dt).requires_grad_();
      Tensor v = torch_reference::to_tensor(ref.at("v"), dt);
      const bool second = ref.contains("gg");
      Tensor y = c.f(x);
      EXPECT_EQ(y.dtype(), dt);
      expect_close(y, torch_reference::to_tensor(ref.at("y")), rtol, atol, "output");
      Tensor g = first_grad(y, x, v, second);
      expect_close(g, torch_reference::to_tensor(ref.at("g")), rtol, atol, "gradient");
      if (second) {
        Tensor w = torch_reference::to_tensor(ref.at("w"), dt);
        expect_close(first_grad(g, x, w), torch_reference::to_tensor(ref.at("gg")), rtol * 10, atol * 10,
                     "second derivative");
      }
    }
  }
}

// ---------------------------------------------------------------- behaviour

TEST(Activations, SubgradientsAtZeroFollowPyTorch) {
  auto grad_at_zero = [](const Unary& f) {
    Tensor x = zeros({1}, dtype(kFloat64).requires_grad());
    f(x).sum().backward();
    return x.grad().item<double>();
  };
  EXPECT_EQ(grad_at_zero([](const Tensor& x) { return F::relu(x); }), 0.0);
  EXPECT_EQ(grad_at_zero([](const Tensor& x) { return F::leaky_relu(x, 0.2); }), 0.2);
  EXPECT_EQ(grad_at_zero([](const Tensor& x) { return F::elu(x, 1.5); }), 1.5);
  EXPECT_EQ(grad_at_zero([](const Tensor& x) { return F::gelu(x); }), 0.5);
  EXPECT_EQ(grad_at_zero([](const Tensor& x) { return F::softplus(x, 1.0, 0.0); }), 0.5);  // 0 is not above 0
}

TEST(Activations, ReluKeepsIntegersAndNaN) {
  Tensor xi = tensor({-3, 0, 4});
  EXPECT_EQ(F::relu(xi).dtype(), kInt64);
  EXPECT_EQ(F::relu(xi).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 4}));
  EXPECT_TRUE(std::isnan(F::relu(tensor({kNaN})).item<double>()));
}

TEST(Activations, SigmoidAndTanhAreTheCoreOps) {
  Tensor x = uniform({3, 4}, kFloat64);
  EXPECT_TRUE(equal(F::sigmoid(x), graft::sigmoid(x)));
  EXPECT_TRUE(equal(F::tanh(x), graft::tanh(x)));
  EXPECT_STREQ(F::sigmoid(x.clone().requires_grad_()).grad_fn()->name(), "SigmoidBackward0");
}

TEST(Activations, NodesAreNamedAsInPyTorch) {
  Tensor x = uniform({2, 3}, kFloat64).requires_grad_();
  EXPECT_STREQ(F::relu(x).grad_fn()->name(), "ReluBackward0");
  EXPECT_STREQ(F::gelu(x, "tanh").grad_fn()->name(), "GeluBackward0");
  EXPECT_STREQ(F::softmax(x, 1).grad_fn()->name(), "SoftmaxBackward0");
  EXPECT_STREQ(F::log_softmax(x, 1).grad_fn()->name(), "LogSoftmaxBackward0");
  EXPECT_STREQ(F::masked_softmax(x).grad_fn()->name(), "MaskedSoftmaxBackward0");
}

TEST(Softmax, MaskedRowsGiveWhatPyTorchGives) {
  // A fully masked row is NaN throughout; -inf entries beside finite ones get probability 0.
  Tensor x = tensor({-kInf, -kInf, -kInf, 0.0, -kInf, 1.0}, {2, 3});
  std::vector<double> p = values(F::softmax(x, 1));
  for (int j = 0; j < 3; ++j) EXPECT_TRUE(std::isnan(p[j])) << j;
  EXPECT_NEAR(p[3], 0.268941, 1e-6);
  EXPECT_EQ(p[4], 0.0);
  std::vector<double> lp = values(F::log_softmax(x, 1));
  EXPECT_TRUE(std::isnan(lp[0]));
  EXPECT_EQ(lp[4], -kInf);
}

TEST(MaskedSoftmax, IsSoftmaxOverTheKeptEntriesAndZeroWhereNothingIsKept) {
  for (bool reference : {false, true}) {
    ReferenceKernelsGuard guard(reference);
    SCOPED_TRACE(reference ? "reference loops" : "fast path");
    Tensor x = uniform({8, 2, 16, kSoftmaxCols}, kFloat32, -4, 4, 31);
    Tensor keep = uniform({16, kSoftmaxCols}, kFloat32, 0, 1, 32) > 0.5;
    keep.select(0, 7).fill_(false);
    Tensor p = F::masked_softmax(x, keep);
    Tensor expected = F::softmax(masked_fill(x, logical_not(keep), -kInf), -1);
    EXPECT_TRUE(allclose(p.narrow(2, 0, 7), expected.narrow(2, 0, 7), 1e-6, 1e-7));
    EXPECT_EQ(p.select(2, 7).abs().sum().item<double>(), 0.0);
    EXPECT_TRUE(allclose(p.narrow(2, 8, 8), expected.narrow(2, 8, 8), 1e-6, 1e-7));
    // -inf entries take no part either: a row of -inf is zeros, not NaN as in softmax.
    Tensor all_inf = full({2, 3}, -kInf);
    EXPECT_EQ(F::masked_softmax(all_inf).abs().sum().item<double>(), 0.0);
  }
}

TEST(MaskedSoftmax, RowsWithNothingKeptGetNoGradient) {
  Tensor x = uniform({3, 4}, kFloat64, -2, 2, 41).requires_grad_();
  Tensor keep = tensor({true, true, false, true, false, false, false, false, true, false, true, true}, {3, 4});
  (F::masked_softmax(x, keep) * uniform({3, 4}, kFloat64, -1, 1, 42)).sum().backward();
  EXPECT_EQ(x.grad().select(0, 1).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(x.grad().at<double>({0, 2}), 0.0);
  EXPECT_NE(x.grad().at<double>({0, 0}), 0.0);
  EXPECT_STREQ(F::masked_softmax(x, keep).grad_fn()->name(), "MaskedSoftmaxBackward0");
}

TEST(SoftmaxBackwardData, IsTheGradientOfSoftmaxAndLogSoftmax) {
  Tensor x = uniform({4, 6}, kFloat64, -2, 2, 51).requires_grad_();
  Tensor g = uniform({4, 6}, kFloat64, -1, 1, 52);
  Tensor y = F::softmax(x, 0), ly = F::log_softmax(x, 0);
  EXPECT_TRUE(allclose(F::softmax_backward_data(g, y.detach(), 0), autograd::grad({y}, {x}, {g})[0], 1e-12, 1e-14));
  EXPECT_TRUE(allclose(F::log_softmax_backward_data(g, ly.detach(), 0), autograd::grad({ly}, {x}, {g})[0], 1e-12, 1e-14));
}

TEST(Softmax, SubtractsTheMaximumSoLargeInputsDoNotOverflow) {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = tensor({1000.0, 1001.0, 1002.0}, {3}, dt);
    // float32 spaces values near 1000 by 6e-5, which bounds log_softmax's accuracy there.
    const double atol = dt == kFloat32 ? 2e-4 : 1e-8;
    expect_close(F::softmax(x, 0), tensor({0.09003057, 0.24472847, 0.66524096}, {3}, kFloat64), 1e-6, 1e-8, "softmax");
    expect_close(F::log_softmax(x, 0), tensor({-2.40760596, -1.40760596, -0.40760596}, {3}, kFloat64), 0, atol, "log_softmax");
  }
}

TEST(Softmax, OfAZeroDimTensorIsOne) {
  EXPECT_EQ(F::softmax(tensor({3.0}, {}), 0).item<double>(), 1.0);
  EXPECT_EQ(F::log_softmax(tensor({3.0}, {}), -1).item<double>(), 0.0);
  EXPECT_EQ(F::softmax(zeros({0, 3}), 1).shape(), Shape({0, 3}));
}

TEST(Softmax, DtypeArgumentConvertsFirst) {
  Tensor p = F::softmax(tensor({1, 2, 3}), 0, kFloat64);  // int64 input, as torch's dtype= allows
  EXPECT_EQ(p.dtype(), kFloat64);
  expect_close(p, tensor({0.09003057, 0.24472847, 0.66524096}, {3}), 1e-6, 0, "softmax");
  Tensor x = tensor({1.0, 2.0, 3.0}, {3}, kFloat32).requires_grad_();
  F::log_softmax(x, 0, kFloat64).select(0, 0).backward();
  EXPECT_EQ(x.grad().dtype(), kFloat32);
  expect_close(x.grad(), tensor({1 - 0.09003057, -0.24472847, -0.66524096}, {3}), 1e-6, 0, "gradient");
}

// Large float32 inputs take oneDNN; the loops must give the same outputs and gradients, including on
// the values where oneDNN needs fixing up (NaN and masked softmax rows, softplus's far tail).
TEST(Activations, OneDnnAgreesWithTheLoopsOnLargeInputs) {
  const int64_t n = 8192;
  Tensor x = uniform({64, n / 64}, kFloat32, -8, 8, 11);
  std::vector<std::pair<const char*, Unary>> fns = {
      {"relu", [](const Tensor& t) { return F::relu(t); }},
      {"leaky_relu", [](const Tensor& t) { return F::leaky_relu(t, 0.1); }},
      {"elu", [](const Tensor& t) { return F::elu(t, 0.7); }},
      {"gelu", [](const Tensor& t) { return F::gelu(t); }},
      {"gelu tanh", [](const Tensor& t) { return F::gelu(t, "tanh"); }},
      {"silu", [](const Tensor& t) { return F::silu(t); }},
      {"softplus", [](const Tensor& t) { return F::softplus(t * 5.0); }},  // reaches -40 and +40
      {"softplus beta 2", [](const Tensor& t) { return F::softplus(t, 2.0, 10.0); }},
      {"sigmoid", [](const Tensor& t) { return F::sigmoid(t); }},
      {"tanh", [](const Tensor& t) { return F::tanh(t); }},
      {"softmax", [](const Tensor& t) { return F::softmax(t, 1); }},
      {"softmax dim 0", [](const Tensor& t) { return F::softmax(t, 0); }},
      {"log_softmax", [](const Tensor& t) { return F::log_softmax(t, 1); }},
      {"log_softmax dim 0", [](const Tensor& t) { return F::log_softmax(t, 0); }},
  };
  // Row 0 fully masked, row 1 partly masked, row 2 holding a NaN, row 3 a +inf.
  Tensor special = x.clone();
  {
    NoGradGuard no_grad;
    special.select(0, 0).fill_(-kInf);
    special.select(0, 1).narrow(0, 0, 50).fill_(-kInf);
    special.select(0, 2).narrow(0, 7, 1).fill_(kNaN);
    special.select(0, 3).narrow(0, 3, 1).fill_(kInf);
  }
  Tensor v = uniform(x.shape(), kFloat32, -1, 1, 12);
  for (const auto& entry : fns) {  // not a structured binding: clang 14 can't capture those
    const auto& name = entry.first;
    const auto& f = entry.second;
    for (const Tensor& input : {x, special}) {
      const bool is_softmax = std::string(name).find("softmax") != std::string::npos && !std::string(name).starts_with("softplus");
      if (input.is_same(special) && !is_softmax) continue;
      SCOPED_TRACE(std::string(name) + (input.is_same(special) ? " (masked, NaN and inf rows)" : ""));
      auto run = [&](bool reference) {
        ReferenceKernelsGuard guard(reference);
        Tensor xi = input.detach().clone().requires_grad_();
        Tensor y = f(xi);
        return std::pair{y, first_grad(y, xi, v)};
      };
      auto [y_fast, g_fast] = run(false);
      auto [y_ref, g_ref] = run(true);
      expect_close(y_fast, y_ref, 1e-5, 1e-6, "output");
      expect_close(g_fast, g_ref, 1e-4, 1e-5, "gradient");
    }
  }
}

// The fused backward (nothing recorded) and the composite one (create_graph) are the same gradients.
TEST(Activations, CompositeBackwardMatchesFusedBackward) {
  for (const char* name : {"relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "softmax", "log_softmax"}) {
    for (const Sample& s : find_op(name)->samples(kFloat64)) {
      SCOPED_TRACE(std::string(name) + ": " + s.description);
      Tensor x = s.inputs[0].detach().clone().requires_grad_();
      auto grad = [&](bool create_graph) {
        Tensor y = s.fn({x})[0];
        return first_grad(y, x, uniform(y.shape(), kFloat64, -1, 1, 5), create_graph);
      };
      expect_close(grad(true), grad(false), 1e-9, 1e-10, "gradient");
    }
  }
}

TEST(Activations, SoftplusKeepsItsFarNegativeTail) {
  // log(1 + e^x) ~ e^x: 9.36e-14 at -30, not 0, on both paths.
  for (bool reference : {false, true}) {
    ReferenceKernelsGuard guard(reference);
    Tensor x = full({2048}, -30.0);
    EXPECT_NEAR(F::softplus(x).at<double>({5}) / std::exp(-30.0), 1.0, 1e-5) << "reference: " << reference;
  }
}

TEST(Activations, RejectBadInput) {
  Tensor ints = tensor({1, 2, 3});
  EXPECT_EQ(error_of([&] { F::gelu(ints); }), "gelu: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::leaky_relu(ints); }), "leaky_relu: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::elu(ints); }), "elu: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::silu(ints); }), "silu: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::softplus(ints); }), "softplus: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::softmax(ints, 0); }), "softmax: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::log_softmax(ints, 0); }),
            "log_softmax: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::relu(tensor({true, false})); }), "relu: bool inputs are not supported");
  EXPECT_EQ(error_of([&] { F::gelu(ones({2}), "fast"); }), "gelu: approximate must be \"none\" or \"tanh\", got \"fast\"");
  EXPECT_EQ(error_of([&] { F::relu(Tensor()); }), "relu: argument 'input' is an undefined tensor");
  EXPECT_EQ(error_of([&] { F::softmax(Tensor(), 0); }), "softmax: argument 'input' is an undefined tensor");
  EXPECT_NE(error_of([&] { F::softmax(ones({2, 3}), 2); }).find("softmax"), std::string::npos);
  EXPECT_NE(error_of([&] { F::log_softmax(ones({2, 3}), -3); }).find("log_softmax"), std::string::npos);
  EXPECT_EQ(error_of([&] { F::masked_softmax(ints); }),
            "masked_softmax: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::masked_softmax(ones({2, 3}), ones({3})); }), "masked_softmax: keep must be a bool tensor, got float32");
  EXPECT_EQ(error_of([&] { F::masked_softmax(ones({2, 3}), tensor({true, false})); }),
            "masked_softmax: keep of shape [2] cannot be broadcast to the input's shape [2, 3]");
  EXPECT_EQ(error_of([&] { F::softmax_backward_data(ones({2, 3}), ones({3, 2}), 0); }),
            "softmax_backward_data: grad_output has shape [2, 3] but output has shape [3, 2]");
  EXPECT_NE(error_of([&] { F::log_softmax_backward_data(ones({2, 3}), ones({2, 3}), 2); }).find("log_softmax_backward_data"),
            std::string::npos);
}

}  // namespace
