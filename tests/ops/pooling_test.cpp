// Pooling (ops/pooling.h): registry entries, PyTorch's values and indices (tests/reference/pooling.py), ties,
// NaN, empty batches and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "graft/ops/kernels/backend.h"
#include "support/errors.h"
#include "support/op_registry.h"
#include "torch_reference.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;
namespace ref = graft::testing::torch_reference;

namespace {

// A permutation of distinct values, so no window holds a tie (the max pools' derivatives are then defined
// everywhere finite differences look).
Tensor distinct(IntList shape, DType dt, uint64_t seed) {
  const int64_t n = numel_of(shape);
  Generator gen(seed);
  Tensor perm = randperm(n, kInt64, &gen);
  return (perm.to(dt) * (2.0 / static_cast<double>(n)) - 1.0).reshape(shape);
}

GRAFT_REGISTER_OP({.name = "max_pool2d", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("2x2", {distinct({2, 2, 4, 6}, dt, 1)}, [](const TensorList& in) { return F::max_pool2d(in[0], 2); }),
      sample("3x3 stride 2 padding 1 ceil, overlapping", {distinct({1, 2, 5, 6}, dt, 2)},
             [](const TensorList& in) { return F::max_pool2d(in[0], 3, 2, 1, 1, true); }),
      sample("dilation 2, unbatched, transposed", {distinct({6, 5, 2}, dt, 3)},
             [](const TensorList& in) { return F::max_pool2d(in[0].permute({2, 0, 1}), {2, 2}, {1, 2}, 0, 2); })};
}});

GRAFT_REGISTER_OP({.name = "max_pool2d_with_indices", .samples = [](DType dt) {
  return std::vector<Sample>{sample("3x2 stride 1", {distinct({1, 3, 4, 5}, dt, 4)}, [](const TensorList& in) {
    return std::get<0>(F::max_pool2d_with_indices(in[0], {3, 2}, 1));
  })};
}});

GRAFT_REGISTER_OP({.name = "max_pool1d", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("3 stride 2 padding 1", {distinct({2, 3, 7}, dt, 5)}, [](const TensorList& in) { return F::max_pool1d(in[0], 3, 2, 1); }),
      sample("unbatched, ceil, dilation 2", {distinct({2, 9}, dt, 6)},
             [](const TensorList& in) { return F::max_pool1d(in[0], 2, 3, 0, 2, true); })};
}});

GRAFT_REGISTER_OP({.name = "max_pool1d_with_indices", .samples = [](DType dt) {
  return std::vector<Sample>{sample("2", {distinct({1, 2, 6}, dt, 7)}, [](const TensorList& in) {
    return std::get<0>(F::max_pool1d_with_indices(in[0], 2));
  })};
}});

GRAFT_REGISTER_OP({.name = "avg_pool2d", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("2x2", {uniform({2, 2, 4, 4}, dt, -1, 1, 1)}, [](const TensorList& in) { return F::avg_pool2d(in[0], 2); }),
      sample("3x3 padding 1 ceil, without pad in the count", {uniform({1, 2, 5, 6}, dt, -1, 1, 2)},
             [](const TensorList& in) { return F::avg_pool2d(in[0], 3, 2, 1, true, false); }),
      sample("divisor_override, unbatched", {uniform({2, 4, 6}, dt, -1, 1, 3)},
             [](const TensorList& in) { return F::avg_pool2d(in[0], {2, 3}, {}, 0, false, true, 4); })};
}});

GRAFT_REGISTER_OP({.name = "avg_pool1d", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("3 stride 2 padding 1", {uniform({2, 3, 7}, dt, -1, 1, 4)}, [](const TensorList& in) { return F::avg_pool1d(in[0], 3, 2, 1); }),
      sample("ceil, unbatched", {uniform({2, 5}, dt, -1, 1, 5)},
             [](const TensorList& in) { return F::avg_pool1d(in[0], 2, {}, 0, true); })};
}});

GRAFT_REGISTER_OP({.name = "adaptive_avg_pool2d", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("7x5 -> 3x2", {uniform({2, 2, 7, 5}, dt, -1, 1, 6)}, [](const TensorList& in) { return F::adaptive_avg_pool2d(in[0], {3, 2}); }),
      sample("2x3 -> 4x5 (overlapping)", {uniform({1, 2, 2, 3}, dt, -1, 1, 7)},
             [](const TensorList& in) { return F::adaptive_avg_pool2d(in[0], {4, 5}); })};
}});

GRAFT_REGISTER_OP({.name = "adaptive_max_pool2d", .samples = [](DType dt) {
  return std::vector<Sample>{sample("7x6 -> 3", {distinct({2, 2, 7, 6}, dt, 8)},
                                    [](const TensorList& in) { return F::adaptive_max_pool2d(in[0], 3); })};
}});

GRAFT_REGISTER_OP({.name = "adaptive_max_pool2d_with_indices", .samples = [](DType dt) {
  return std::vector<Sample>{sample("5x4 -> 2x3, unbatched", {distinct({2, 5, 4}, dt, 9)}, [](const TensorList& in) {
    return std::get<0>(F::adaptive_max_pool2d_with_indices(in[0], {2, 3}));
  })};
}});

// ---------------------------------------------------------------- PyTorch's values

std::vector<int64_t> ints(const nlohmann::json& args, const char* key, std::vector<int64_t> fallback) {
  if (!args.contains(key)) return fallback;
  const auto& v = args.at(key);
  return v.is_array() ? v.get<std::vector<int64_t>>() : std::vector<int64_t>{v.get<int64_t>()};
}

// (output, indices or undefined)
std::pair<Tensor, Tensor> run_case(const nlohmann::json& c, const Tensor& x) {
  const auto& a = c.at("args");
  const std::string op = c.at("op");
  const bool ceil = a.value("ceil_mode", false);
  if (op == "max_pool1d" || op == "max_pool2d") {
    auto fn = op == "max_pool1d" ? F::max_pool1d_with_indices : F::max_pool2d_with_indices;
    auto [y, i] = fn(x, ints(a, "kernel_size", {}), ints(a, "stride", {}), ints(a, "padding", {0}), ints(a, "dilation", {1}), ceil);
    return {y, i};
  }
  if (op == "avg_pool1d")
    return {F::avg_pool1d(x, ints(a, "kernel_size", {}), ints(a, "stride", {}), ints(a, "padding", {0}), ceil,
                          a.value("count_include_pad", true)),
            {}};
  if (op == "avg_pool2d") {
    std::optional<int64_t> divisor;
    if (a.contains("divisor_override")) divisor = a.at("divisor_override").get<int64_t>();
    return {F::avg_pool2d(x, ints(a, "kernel_size", {}), ints(a, "stride", {}), ints(a, "padding", {0}), ceil,
                          a.value("count_include_pad", true), divisor),
            {}};
  }
  if (op == "adaptive_avg_pool2d") return {F::adaptive_avg_pool2d(x, ints(a, "output_size", {})), {}};
  auto [y, i] = F::adaptive_max_pool2d_with_indices(x, ints(a, "output_size", {}));
  return {y, i};
}

void check_against_pytorch(DType dt, bool reference_kernels) {
  ReferenceKernelsGuard guard(reference_kernels);
  const double tol = dt == kFloat64 ? 1e-10 : 1e-5;
  for (const auto& c : ref::reference_json("pooling.json").at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    Tensor x = ref::to_tensor(c.at("x"), dt).requires_grad_();
    auto [y, indices] = run_case(c, x);
    EXPECT_TRUE(allclose(y.to(kFloat64), ref::to_tensor(c.at("y")), tol, tol)) << y;
    if (c.contains("indices")) {
      ASSERT_TRUE(indices.defined());
      EXPECT_EQ(indices.dtype(), kInt64);
      EXPECT_TRUE(equal(indices, ref::to_tensor(c.at("indices"), kInt64))) << indices;
    }
    Tensor gx = autograd::grad({y}, {x}, {ref::to_tensor(c.at("v"), dt)})[0];
    EXPECT_TRUE(allclose(gx.to(kFloat64), ref::to_tensor(c.at("gx")), tol, tol)) << gx;
  }
}

TEST(Pooling, MatchesPyTorchInFloat64) { check_against_pytorch(kFloat64, false); }
TEST(Pooling, MatchesPyTorchInFloat32) { check_against_pytorch(kFloat32, false); }
TEST(Pooling, MatchesPyTorchInFloat32OnTheLoops) { check_against_pytorch(kFloat32, true); }

TEST(Pooling, MaxPoolTiesGoToTheFirstMaximumAndNaNWins) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = tensor({1.0, 3.0, 3.0, 2.0, nan, 5.0}, {1, 1, 6}, kFloat64).requires_grad_();
  auto [y, i] = F::max_pool1d_with_indices(x, 3);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(y.to_vector<double>()[0], 3.0);
  EXPECT_TRUE(std::isnan(y.to_vector<double>()[1]));
  Tensor gx = autograd::grad({y}, {x}, {tensor({1.0, 1.0}, {1, 1, 2}, kFloat64)})[0];
  EXPECT_EQ(gx.to_vector<double>(), (std::vector<double>{0, 1, 0, 0, 1, 0}));
}

// Whole 2x2 and 3x3 windows have a fast path; it picks the same values and indices as the loops, ties (values
// rounded to a coarse grid) and NaNs included, in both dtypes.
TEST(Pooling, WholeWindowFastPathAgreesWithTheLoops) {
  for (DType dt : {kFloat32, kFloat64})
    for (int64_t k : {2, 3}) {
      SCOPED_TRACE(fmt::format("{} kernel {}", dtype_name(dt), k));
      // Rows shorter than a vector of outputs, and (MaxPool2d(2)'s vectorised path) longer ones.
      for (const Shape& shape : {Shape{2, 3, 13, 11}, Shape{2, 2, 7, 45}}) {
        Tensor x = graft::testing::indices(shape, 5, 7).to(dt);  // small integers: many ties
        for (int64_t at : {17, 100, 101, 130, 131, 176, 222})  // NaNs at every tap position of some window
          x.view({-1}).narrow(0, at, 1).fill_(std::numeric_limits<double>::quiet_NaN());
        for (int64_t stride : {k, int64_t{1}, int64_t{2}}) {
          auto [y, i] = F::max_pool2d_with_indices(x, k, stride);
          ReferenceKernelsGuard loops;
          auto [y_ref, i_ref] = F::max_pool2d_with_indices(x, k, stride);
          EXPECT_TRUE(equal(i, i_ref)) << "shape " << shape << " stride " << stride;
          EXPECT_TRUE(allclose(y, y_ref, 0, 0, /*equal_nan=*/true)) << "shape " << shape << " stride " << stride;
        }
      }
    }
}

TEST(Pooling, AverageWholeWindowFastPathEqualsTheLoops) {
  for (DType dt : {kFloat32, kFloat64})
    for (int64_t k : {2, 3}) {
      SCOPED_TRACE(fmt::format("{} kernel {}", dtype_name(dt), k));
      Tensor x = graft::testing::uniform({2, 3, 13, 11}, dt, -2, 2, 11);
      for (int64_t stride : {k, int64_t{1}, int64_t{2}})
        for (std::optional<int64_t> divisor : {std::optional<int64_t>{}, std::optional<int64_t>{7}}) {
          Tensor y = F::avg_pool2d(x, k, stride, 0, false, true, divisor);
          ReferenceKernelsGuard loops;
          Tensor y_ref = F::avg_pool2d(x, k, stride, 0, false, true, divisor);
          EXPECT_TRUE(equal(y, y_ref)) << "stride " << stride << (divisor ? " with a divisor" : "");
        }
    }
}

TEST(Pooling, OverlappingWindowsAddTheirGradients) {
  Tensor x = tensor({0.0, 9.0, 1.0, 2.0}, {1, 1, 4}, kFloat64).requires_grad_();
  Tensor y = F::max_pool1d(x, 3, 1);  // both windows pick position 1
  Tensor gx = autograd::grad({y.sum()}, {x})[0];
  EXPECT_EQ(gx.to_vector<double>(), (std::vector<double>{0, 2, 0, 0}));
}

TEST(Pooling, EmptyBatch) {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = zeros({0, 3, 4, 4}, dt).requires_grad_();
    Tensor y = F::max_pool2d(x, 2) + F::avg_pool2d(x, 2) + F::adaptive_avg_pool2d(x, 2) + F::adaptive_max_pool2d(x, 2);
    EXPECT_EQ(y.shape(), Shape({0, 3, 2, 2}));
    EXPECT_EQ(autograd::grad({y.sum()}, {x})[0].shape(), x.shape());
    EXPECT_EQ(F::adaptive_avg_pool2d(ones({1, 2, 4, 4}, dt), 0).shape(), Shape({1, 2, 0, 0}));
  }
}

TEST(Pooling, RejectsBadInput) {
  Tensor x = zeros({1, 2, 4, 4});
  expect_error([&] { F::max_pool2d(x, 2, {}, 2); }, {"max_pool2d", "padding (2) must be at most half of kernel_size (2)"});
  expect_error([&] { F::max_pool2d(zeros({1, 2, 1, 1}), 2); }, {"max_pool2d", "output would be empty", "[1, 2, 1, 1]"});
  expect_error([&] { F::max_pool2d(x, 0); }, {"max_pool2d", "kernel_size must be positive"});
  expect_error([&] { F::max_pool2d(x, 2, 0); }, {"max_pool2d", "stride must be positive"});
  expect_error([&] { F::max_pool2d(x, 2, {}, -1); }, {"max_pool2d", "padding must be non-negative", "-1"});
  expect_error([&] { F::max_pool2d(x, {2, 2, 2}); }, {"max_pool2d", "kernel_size must have 1 or 2 values, got 3"});
  expect_error([&] { F::max_pool2d(zeros({4, 4}), 2); }, {"max_pool2d", "3-D (unbatched) or 4-D (batched)", "[4, 4]"});
  expect_error([&] { F::max_pool2d(zeros({1, 0, 4, 4}), 2); }, {"max_pool2d", "only the batch dim may be empty", "[1, 0, 4, 4]"});
  expect_error([&] { F::max_pool2d(zeros({1, 2, 4, 4}, kInt64), 2); }, {"max_pool2d", "floating-point", "int64"});
  expect_error([&] { F::max_pool1d(zeros({1, 2, 4, 4}), 2); }, {"max_pool1d", "2-D (unbatched) or 3-D (batched)"});
  expect_error([&] { F::avg_pool2d(zeros({1, 2, 1, 1}), 2); }, {"avg_pool2d", "output would be empty"});
  expect_error([&] { F::avg_pool2d(x, 2, {}, 0, false, true, 0); }, {"avg_pool2d", "divisor_override must be non-zero"});
  expect_error([&] { F::avg_pool1d(zeros({1, 2, 5}), 2, {}, 3); }, {"avg_pool1d", "at most half of kernel_size"});
  expect_error([&] { F::adaptive_avg_pool2d(zeros({1, 2, 0, 4}), 2); }, {"adaptive_avg_pool2d", "only the batch and channel dims may be empty", "[1, 2, 0, 4]"});
  // As PyTorch 1.13, adaptive_avg_pool2d checks only the spatial dims: no channels give an empty output.
  EXPECT_EQ(F::adaptive_avg_pool2d(zeros({1, 0, 4, 4}), 2).shape(), Shape({1, 0, 2, 2}));
  expect_error([&] { F::adaptive_max_pool2d(x, {2, -1}); }, {"adaptive_max_pool2d", "output_size must be non-negative"});
}

}  // namespace
