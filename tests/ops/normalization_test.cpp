// layer_norm, rms_norm and batch_norm (ops/normalization.h): registry entries (gradcheck, gradgradcheck,
// f32 vs f64, oneDNN vs loops) and behaviour against PyTorch's values (tests/reference/normalization.py).
#include <gtest/gtest.h>

#include <limits>

#include "graft/autograd/engine.h"
#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/normalization.h"
#include "graft/graph/node.h"
#include "support/op_registry.h"
#include "support/errors.h"
#include "torch_reference.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;
namespace ref = graft::testing::torch_reference;

namespace {

// Columns that make a 16-row layer_norm sample take oneDNN's forward in float32.
constexpr int64_t kLayerNormCols = kernels::kOneDnnLayerNormMinElements / 16 + 2;

GRAFT_REGISTER_OP({.name = "layer_norm", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("last dim, weight and bias", {uniform({3, 4}, dt, -2, 2, 1), uniform({4}, dt, 0.5, 1.5, 2), uniform({4}, dt, -1, 1, 3)},
             [](const TensorList& in) { return F::layer_norm(in[0], {4}, in[1], in[2]); }),
      sample("two dims", {uniform({2, 3, 4}, dt, -2, 2, 4), uniform({3, 4}, dt, 0.5, 1.5, 5), uniform({3, 4}, dt, -1, 1, 6)},
             [](const TensorList& in) { return F::layer_norm(in[0], {3, 4}, in[1], in[2]); }),
      sample("no affine, eps 1e-3", {uniform({4, 5}, dt, -2, 2, 7)},
             [](const TensorList& in) { return F::layer_norm(in[0], {5}, {}, {}, 1e-3); }),
      sample("weight only, transposed input", {uniform({5, 3}, dt, -2, 2, 8), uniform({5}, dt, 0.5, 1.5, 9)},
             [](const TensorList& in) { return F::layer_norm(in[0].t(), {5}, in[1]); }),
      sample("large enough for oneDNN",
             {uniform({16, kLayerNormCols}, dt, -2, 2, 10), uniform({kLayerNormCols}, dt, 0.5, 1.5, 11),
              uniform({kLayerNormCols}, dt, -1, 1, 12)},
             [](const TensorList& in) { return F::layer_norm(in[0], {kLayerNormCols}, in[1], in[2]); })};
}});

GRAFT_REGISTER_OP({.name = "rms_norm", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("last dim, weight", {uniform({3, 4}, dt, -2, 2, 1), uniform({4}, dt, 0.5, 1.5, 2)},
             [](const TensorList& in) { return F::rms_norm(in[0], {4}, in[1], 1e-6); }),
      sample("two dims, no weight, default eps", {uniform({2, 3, 4}, dt, -2, 2, 3)},
             [](const TensorList& in) { return F::rms_norm(in[0], {3, 4}); }),
      sample("shape from weight", {uniform({2, 5}, dt, -2, 2, 4), uniform({5}, dt, 0.5, 1.5, 5)},
             [](const TensorList& in) { return F::rms_norm(in[0], in[1]); })};
}});

// Running statistics are made inside each call: a training call updates them in place.
Tensor batch_norm_with_stats(const TensorList& in, bool training, bool affine) {
  const int64_t c = in[0].shape()[1];
  Tensor rm = full({c}, 0.2, in[0].dtype()), rv = full({c}, 1.5, in[0].dtype());
  return F::batch_norm(in[0], rm, rv, affine ? in[1] : Tensor(), affine ? in[2] : Tensor(), training, 0.1, 1e-5);
}

GRAFT_REGISTER_OP({.name = "batch_norm", .samples = [](DType dt) {
  auto params = [&](int64_t c, uint64_t seed) {
    return std::pair{uniform({c}, dt, 0.5, 1.5, seed), uniform({c}, dt, -1, 1, seed + 1)};
  };
  auto [w1, b1] = params(3, 2);
  auto [w2, b2] = params(2, 5);
  return std::vector<Sample>{
      sample("training (N, C)", {uniform({6, 3}, dt, -2, 2, 1), w1, b1},
             [](const TensorList& in) { return batch_norm_with_stats(in, true, true); }),
      sample("training (N, C, L), no affine, no running stats", {uniform({4, 3, 5}, dt, -2, 2, 4)},
             [](const TensorList& in) { return F::batch_norm(in[0], {}, {}, {}, {}, true); }),
      sample("eval (N, C)", {uniform({6, 3}, dt, -2, 2, 7), w1, b1},
             [](const TensorList& in) { return batch_norm_with_stats(in, false, true); }),
      sample("eval (N, C, L)", {uniform({3, 2, 4}, dt, -2, 2, 8), w2, b2},
             [](const TensorList& in) { return batch_norm_with_stats(in, false, true); }),
      sample("training (N, C, L), transposed input", {uniform({5, 2, 3}, dt, -2, 2, 9), w2, b2},
             [](const TensorList& in) { return batch_norm_with_stats({in[0].transpose(0, 2), in[1], in[2]}, true, true); }),
      sample("training (N, C, H, W)", {uniform({3, 2, 3, 2}, dt, -2, 2, 10), w2, b2},
             [](const TensorList& in) { return batch_norm_with_stats(in, true, true); }),
      sample("eval (N, C, H, W)", {uniform({2, 3, 2, 2}, dt, -2, 2, 11), w1, b1},
             [](const TensorList& in) { return batch_norm_with_stats(in, false, true); })};
}});

// ---------------------------------------------------------------- helpers

void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  EXPECT_TRUE(allclose(actual.to(kFloat64), expected.to(kFloat64), rtol, atol))
      << what << "\nactual:   " << actual << "\nexpected: " << expected;
}

std::vector<int64_t> int_list(const nlohmann::json& j) { return j.get<std::vector<int64_t>>(); }

double rtol_of(DType dt) { return dt == kFloat64 ? 1e-9 : 1e-4; }
double atol_of(DType dt) { return dt == kFloat64 ? 1e-10 : 1e-5; }

// ---------------------------------------------------------------- layer_norm

TEST(LayerNorm, MatchesPyTorch) {
  const auto& cases = ref::reference_json("normalization.json").at("cases");
  for (const char* name : {"layer_norm_last_dim", "layer_norm_two_dims", "layer_norm_no_affine"}) {
    const auto& c = cases.at(name);
    for (DType dt : {kFloat64, kFloat32}) {
      SCOPED_TRACE(std::string(name) + " " + dtype_name(dt));
      const bool affine = c.contains("w");
      Tensor x = ref::to_tensor(c.at("x"), dt).requires_grad_();
      Tensor w = affine ? ref::to_tensor(c.at("w"), dt).requires_grad_() : Tensor();
      Tensor b = affine ? ref::to_tensor(c.at("b"), dt).requires_grad_() : Tensor();
      Tensor y = F::layer_norm(x, int_list(c.at("normalized_shape")), w, b, c.at("eps").get<double>());
      expect_close(y, ref::to_tensor(c.at("y")), rtol_of(dt), atol_of(dt), "output");
      TensorList wrt = affine ? TensorList{x, w, b} : TensorList{x};
      TensorList g = autograd::grad({y}, wrt, {ref::to_tensor(c.at("v"), dt)});
      expect_close(g[0], ref::to_tensor(c.at("gx")), rtol_of(dt), atol_of(dt), "input gradient");
      if (affine) {
        expect_close(g[1], ref::to_tensor(c.at("gw")), rtol_of(dt), atol_of(dt), "weight gradient");
        expect_close(g[2], ref::to_tensor(c.at("gb")), rtol_of(dt), atol_of(dt), "bias gradient");
      }
    }
  }
}

// Above oneDNN's thresholds (forward and backward) it must agree with the loops, with and without affine
// parameters.
TEST(LayerNorm, OneDnnAgreesWithTheLoopsOnLargeInputs) {
  const int64_t rows = 64, cols = 300;
  ASSERT_GE(rows * cols, kernels::kOneDnnLayerNormBackwardMinElements);
  Tensor x0 = uniform({rows, cols}, kFloat32, -3, 5, 1), w0 = uniform({cols}, kFloat32, 0.5, 1.5, 2),
         b0 = uniform({cols}, kFloat32, -1, 1, 3), v = uniform({rows, cols}, kFloat32, -1, 1, 4);
  for (int variant = 0; variant < 3; ++variant) {  // weight and bias, weight only, neither
    SCOPED_TRACE(variant);
    auto run = [&](bool reference) {
      ReferenceKernelsGuard guard(reference);
      Tensor x = x0.clone().requires_grad_(), w = variant < 2 ? w0.clone().requires_grad_() : Tensor(),
             b = variant == 0 ? b0.clone().requires_grad_() : Tensor();
      Tensor y = F::layer_norm(x, {cols}, w, b);
      TensorList wrt{x};
      if (w.defined()) wrt.push_back(w);
      if (b.defined()) wrt.push_back(b);
      TensorList out = autograd::grad({y}, wrt, {v});
      out.insert(out.begin(), y);
      return out;
    };
    TensorList fast = run(false), slow = run(true);
    ASSERT_EQ(fast.size(), slow.size());
    for (size_t i = 0; i < fast.size(); ++i) expect_close(fast[i], slow[i], 1e-4, 1e-4, "result " + std::to_string(i));
  }
}

TEST(LayerNorm, RejectsBadInput) {
  Tensor x = ones({2, 3});
  EXPECT_EQ(error_of([&] { F::layer_norm(x, {4}); }),
            "layer_norm: normalized_shape [4] expects an input of shape [*, 4], got [2, 3]");
  EXPECT_EQ(error_of([&] { F::layer_norm(x, {2, 4}); }),
            "layer_norm: normalized_shape [2, 4] expects an input of shape [*, 2, 4], got [2, 3]");
  EXPECT_EQ(error_of([&] { F::layer_norm(x, {}); }), "layer_norm: normalized_shape must have at least one dim, got []");
  EXPECT_EQ(error_of([&] { F::layer_norm(x, {3}, ones({2})); }), "layer_norm: expected weight of shape [3], got [2]");
  EXPECT_EQ(error_of([&] { F::layer_norm(x, {3}, ones({3}), ones({3}, kFloat64)); }),
            "layer_norm: expected bias of dtype float32 (the input's), got float64");
  EXPECT_EQ(error_of([&] { F::layer_norm(tensor({1, 2}), {2}); }),
            "layer_norm: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([&] { F::layer_norm(Tensor(), {2}); }), "layer_norm: argument 'input' is an undefined tensor");
}

// ---------------------------------------------------------------- rms_norm

TEST(RmsNorm, MatchesTorch2Formula) {
  const auto& cases = ref::reference_json("normalization.json").at("cases");
  for (const char* name : {"rms_norm_last_dim", "rms_norm_two_dims_no_weight"}) {
    const auto& c = cases.at(name);
    for (DType dt : {kFloat64, kFloat32}) {
      SCOPED_TRACE(std::string(name) + " " + dtype_name(dt));
      const bool affine = c.contains("w");
      Tensor x = ref::to_tensor(c.at("x"), dt).requires_grad_();
      Tensor w = affine ? ref::to_tensor(c.at("w"), dt).requires_grad_() : Tensor();
      Tensor y = F::rms_norm(x, int_list(c.at("normalized_shape")), w, c.at("eps").get<double>());
      expect_close(y, ref::to_tensor(c.at("y")), rtol_of(dt), atol_of(dt), "output");
      TensorList wrt = affine ? TensorList{x, w} : TensorList{x};
      TensorList g = autograd::grad({y}, wrt, {ref::to_tensor(c.at("v"), dt)});
      expect_close(g[0], ref::to_tensor(c.at("gx")), rtol_of(dt), atol_of(dt), "input gradient");
      if (affine) expect_close(g[1], ref::to_tensor(c.at("gw")), rtol_of(dt), atol_of(dt), "weight gradient");
    }
  }
}

// eps defaults to the machine epsilon of the input's dtype, as torch 2.x's F.rms_norm: on inputs whose
// mean square (~1e-8) is below float32's epsilon the two dtypes give visibly different results.
TEST(RmsNorm, EpsDefaultsToTheDtypesMachineEpsilon) {
  const auto& cases = ref::reference_json("normalization.json").at("cases");
  const auto& c32 = cases.at("rms_norm_small_default_eps_float32");
  const auto& c64 = cases.at("rms_norm_small_default_eps_float64");
  EXPECT_DOUBLE_EQ(c32.at("eps").get<double>(), std::numeric_limits<float>::epsilon());
  EXPECT_DOUBLE_EQ(c64.at("eps").get<double>(), std::numeric_limits<double>::epsilon());
  Tensor y32 = F::rms_norm(ref::to_tensor(c32.at("x"), kFloat32), {4});
  Tensor y64 = F::rms_norm(ref::to_tensor(c64.at("x"), kFloat64), {4});
  expect_close(y32, ref::to_tensor(c32.at("y")), 1e-4, 1e-6, "float32");
  expect_close(y64, ref::to_tensor(c64.at("y")), 1e-9, 1e-12, "float64");
  EXPECT_FALSE(allclose(y32.to(kFloat64), y64, 1e-2, 0)) << "the small inputs must make eps matter";
}

TEST(RmsNorm, ShapeFromWeightIsTheSameAsNormalizedShape) {
  Tensor x = uniform({2, 3, 4}, kFloat64), w = uniform({3, 4}, kFloat64, 0.5, 1.5, 1);
  EXPECT_TRUE(equal(F::rms_norm(x, w, 1e-5), F::rms_norm(x, {3, 4}, w, 1e-5)));
}

TEST(RmsNorm, RejectsBadInput) {
  Tensor x = ones({2, 3});
  EXPECT_EQ(error_of([&] { F::rms_norm(x, {2}); }), "rms_norm: normalized_shape [2] expects an input of shape [*, 2], got [2, 3]");
  EXPECT_EQ(error_of([&] { F::rms_norm(x, {3}, ones({3}, kFloat64)); }),
            "rms_norm: expected weight of dtype float32 (the input's), got float64");
  EXPECT_EQ(error_of([&] { F::rms_norm(x, ones({4})); }), "rms_norm: normalized_shape [4] expects an input of shape [*, 4], got [2, 3]");
  EXPECT_EQ(error_of([&] { F::rms_norm(x, ones({})); }),
            "rms_norm: weight must have at least one dim (it gives normalized_shape), got a 0-dim tensor");
  EXPECT_EQ(error_of([&] { F::rms_norm(x, Tensor()); }), "rms_norm: argument 'weight' is an undefined tensor");
}

// ---------------------------------------------------------------- batch_norm

// Several training steps (outputs, gradients and running statistics after each), then eval with the
// statistics they left, as PyTorch computes them.
TEST(BatchNorm, TrainingStepsAndEvalMatchPyTorch) {
  const auto& cases = ref::reference_json("normalization.json").at("cases");
  for (const char* name : {"batch_norm_2d", "batch_norm_3d", "batch_norm_4d"}) {
    const auto& c = cases.at(name);
    for (DType dt : {kFloat64, kFloat32}) {
      SCOPED_TRACE(std::string(name) + " " + dtype_name(dt));
      const double momentum = c.at("momentum").get<double>(), eps = c.at("eps").get<double>();
      Tensor rm = ref::to_tensor(c.at("running_mean0"), dt), rv = ref::to_tensor(c.at("running_var0"), dt);
      Tensor w = ref::to_tensor(c.at("w"), dt).requires_grad_(), b = ref::to_tensor(c.at("b"), dt).requires_grad_();
      auto check_step = [&](const nlohmann::json& s, bool training) {
        Tensor x = ref::to_tensor(s.at("x"), dt).requires_grad_();
        const uint32_t version = rm.version();
        Tensor y = F::batch_norm(x, rm, rv, w, b, training, momentum, eps);
        EXPECT_EQ(rm.version(), training ? version + 1 : version) << "running stats are written only in training";
        expect_close(y, ref::to_tensor(s.at("y")), rtol_of(dt), atol_of(dt), "output");
        TensorList g = autograd::grad({y}, {x, w, b}, {ref::to_tensor(s.at("v"), dt)});
        expect_close(g[0], ref::to_tensor(s.at("gx")), rtol_of(dt), atol_of(dt), "input gradient");
        expect_close(g[1], ref::to_tensor(s.at("gw")), rtol_of(dt), atol_of(dt), "weight gradient");
        expect_close(g[2], ref::to_tensor(s.at("gb")), rtol_of(dt), atol_of(dt), "bias gradient");
      };
      for (size_t step = 0; step < c.at("train").size(); ++step) {
        SCOPED_TRACE("training step " + std::to_string(step));
        const auto& s = c.at("train")[step];
        check_step(s, true);
        expect_close(rm, ref::to_tensor(s.at("running_mean")), rtol_of(dt), atol_of(dt), "running_mean");
        expect_close(rv, ref::to_tensor(s.at("running_var")), rtol_of(dt), atol_of(dt), "running_var (unbiased)");
      }
      SCOPED_TRACE("eval");
      check_step(c.at("eval"), false);
    }
  }
}

TEST(BatchNorm, RunningStatisticsAreUpdatedOutsideAutograd) {
  Tensor x = uniform({4, 3}, kFloat64).requires_grad_();
  Tensor rm = zeros({3}, kFloat64), rv = ones({3}, kFloat64);
  Tensor y = F::batch_norm(x, rm, rv, {}, {}, true);
  EXPECT_FALSE(rm.requires_grad());
  EXPECT_FALSE(rv.requires_grad());
  y.sum().backward();  // the saved tensors are not the running statistics, so their update breaks nothing
  EXPECT_TRUE(x.grad().defined());
}

TEST(BatchNorm, StridedRunningStatisticsAreWrittenInPlace) {
  Tensor stats = zeros({3, 2}, kFloat64);
  Tensor rm = stats.select(1, 0), rv = stats.select(1, 1);
  rv.fill_(1.0);
  Tensor x = tensor({1.0, 2.0, 3.0, 3.0, 6.0, 9.0}, {2, 3}, kFloat64);
  F::batch_norm(x, rm, rv, {}, {}, true, 0.5);
  // batch mean (2, 4, 6), unbiased batch variance (2, 8, 18)
  EXPECT_EQ(stats.to_vector<double>(), (std::vector<double>{1.0, 1.5, 2.0, 4.5, 3.0, 9.5}));
}

// PyTorch's mixed type: a bfloat16 input (a convolution's output under autocast) with float32 parameters and
// running statistics normalises in float32, returns bfloat16 and updates the float32 statistics.
TEST(BatchNorm, SixteenBitInputWithFloat32ParametersComputesInFloat32) {
  for (DType dt : {kBFloat16, kFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor x = uniform({4, 3, 5}, kFloat32, -2, 2, 7).to(dt);
    Tensor rm16 = zeros({3}), rv16 = ones({3}), rm32 = zeros({3}), rv32 = ones({3});
    Tensor w = full({3}, 1.5f), b = full({3}, 0.25f);
    Tensor y = F::batch_norm(x, rm16, rv16, w, b, true);
    Tensor y32 = F::batch_norm(x.to(kFloat32), rm32, rv32, w, b, true);
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_TRUE(equal(y, y32.to(dt)));
    EXPECT_EQ(rm16.dtype(), kFloat32);
    EXPECT_TRUE(equal(rm16, rm32));
    EXPECT_TRUE(equal(rv16, rv32));
  }
}

TEST(BatchNorm, RejectsBadInput) {
  Tensor x = ones({4, 3});
  Tensor rm = zeros({3}), rv = ones({3});
  EXPECT_EQ(error_of([&] { F::batch_norm(x, {}, {}); }),
            "batch_norm: running_mean and running_var must be given when not training");
  EXPECT_EQ(error_of([&] { F::batch_norm(x, zeros({4}), rv, {}, {}, true); }),
            "batch_norm: running_mean should have 3 elements (the input's channels, dim 1 of [4, 3]), not 4");
  EXPECT_EQ(error_of([&] { F::batch_norm(x, rm, rv, ones({2})); }),
            "batch_norm: weight should have 3 elements (the input's channels, dim 1 of [4, 3]), not 2");
  EXPECT_EQ(error_of([&] { F::batch_norm(x, zeros({3}, kFloat64), ones({3}, kFloat64), {}, {}, true); }),
            "batch_norm: expected running_mean of dtype float32 (the input's), got float64");
  EXPECT_EQ(error_of([&] { F::batch_norm(x, zeros({3}).requires_grad_(), rv, {}, {}, true); }),
            "batch_norm: running_mean is a buffer (updated in place, never differentiated) and cannot require grad");
  EXPECT_EQ(error_of([&] { F::batch_norm(ones({1, 3}), rm, rv, {}, {}, true); }),
            "batch_norm: expected more than 1 value per channel when training, got input of shape [1, 3]");
  EXPECT_EQ(error_of([&] { F::batch_norm(ones({3}), rm, rv, {}, {}, true); }),
            "batch_norm: expected an input of shape (N, C, *) (e.g. (N, C), (N, C, L) or (N, C, H, W)), got [3]");
  EXPECT_EQ(error_of([&] { F::batch_norm(x, rm, {}, {}, {}, true); }),
            "batch_norm: give both running_mean and running_var, or neither");
  EXPECT_EQ(error_of([&] { F::batch_norm(tensor({1, 2, 3, 4}, {2, 2}), {}, {}, {}, {}, true); }),
            "batch_norm: expected a floating-point input, got int64");
}

// ---------------------------------------------------------------- all three

// The fused backward (nothing recorded) and the composite one (create_graph) are the same gradients.
TEST(Normalization, CompositeBackwardMatchesFusedBackward) {
  for (const char* name : {"layer_norm", "rms_norm", "batch_norm"}) {
    for (const Sample& s : find_op(name)->samples(kFloat64)) {
      SCOPED_TRACE(std::string(name) + ": " + s.description);
      TensorList in;
      for (const Tensor& t : s.inputs) in.push_back(t.detach().clone().requires_grad_());
      auto grads = [&](bool create_graph) {
        Tensor y = s.fn(in)[0];
        return autograd::grad({y}, in, {uniform(y.shape(), kFloat64, -1, 1, 5)}, std::nullopt, create_graph);
      };
      TensorList fused = grads(false), composite = grads(true);
      for (size_t i = 0; i < in.size(); ++i) expect_close(composite[i], fused[i], 1e-9, 1e-10, "input " + std::to_string(i));
    }
  }
}

TEST(Normalization, NodesAreNamedAsInPyTorch) {
  Tensor x = uniform({4, 3}, kFloat64).requires_grad_();
  EXPECT_STREQ(F::layer_norm(x, {3}).grad_fn()->name(), "NativeLayerNormBackward0");
  EXPECT_STREQ(F::batch_norm(x, {}, {}, {}, {}, true).grad_fn()->name(), "NativeBatchNormBackward0");
  EXPECT_STREQ(F::rms_norm(x, {3}).grad_fn()->name(), "RmsNormBackward0");
}

}  // namespace
