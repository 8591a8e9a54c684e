// Reductions: registry entries (gradcheck, gradgradcheck, f32 vs f64, kernels) and behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "graft/autograd/gradcheck.h"
#include "graft/graph/node.h"
#include "support/op_registry.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// Values at least 0.4 apart in a random order: max/min/amax have no ties, so they are differentiable.
Tensor distinct(IntList shape, DType dt, uint64_t seed = 0) {
  Generator gen(seed * 131 + 7);
  const int64_t n = numel_of(shape);
  Tensor ranks = randperm(n, {}, &gen).to(kFloat64);
  return ((ranks - n / 2.0) * 0.5 + uniform({n}, kFloat64, 0, 0.1, seed)).reshape(shape).to(dt);
}

using Fn1 = std::function<Tensor(const Tensor&)>;
Sample unary(std::string description, Tensor x, Fn1 f) {
  return sample(std::move(description), {std::move(x)}, [f](const TensorList& in) { return f(in[0]); });
}
// (values, indices) of the overloads with a dim, as a list: gradcheck skips the int64 indices.
Sample unary2(std::string description, Tensor x, std::function<std::tuple<Tensor, Tensor>(const Tensor&)> f) {
  return Sample{std::move(description), {std::move(x)}, [f](const TensorList& in) {
                  auto [v, i] = f(in[0]);
                  return TensorList{v, i};
                }};
}

// ---------------------------------------------------------------- registry entries

GRAFT_REGISTER_OP({.name = "sum", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("all", uniform({3, 4}, dt, -2, 2, 1), [](const Tensor& x) { return sum(x); }),
      unary("dim 1", uniform({3, 4}, dt, -2, 2, 2), [](const Tensor& x) { return sum(x, {1}); }),
      unary("dims (0, 2), keepdim", uniform({2, 3, 4}, dt, -2, 2, 3), [](const Tensor& x) { return sum(x, {0, 2}, true); }),
      unary("negative dim", uniform({2, 3, 4}, dt, -2, 2, 4), [](const Tensor& x) { return sum(x, {-2}); }),
      unary("empty dim list: all dims", uniform({2, 3}, dt, -2, 2, 5), [](const Tensor& x) { return sum(x, {}, true); }),
      unary("0-dim", uniform({}, dt, -2, 2, 6), [](const Tensor& x) { return sum(x); }),
      unary("0-dim, dim -1", uniform({}, dt, -2, 2, 7), [](const Tensor& x) { return sum(x, {-1}, true); }),
      unary("transposed view", uniform({4, 3}, dt, -2, 2, 8), [](const Tensor& x) { return sum(x.t(), {1}); }),
      unary("bias gradient (column order)", uniform({16, 8}, dt, -2, 2, 9), [](const Tensor& x) { return sum(x, {0}); }),
      unary("expanded view", uniform({1, 3}, dt, -2, 2, 10), [](const Tensor& x) { return sum(x.expand({4, 3}), {0}); })};
}});

GRAFT_REGISTER_OP({.name = "mean", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("all", uniform({3, 4}, dt, -2, 2, 1), [](const Tensor& x) { return mean(x); }),
      unary("dim 0", uniform({3, 4}, dt, -2, 2, 2), [](const Tensor& x) { return mean(x, {0}); }),
      unary("dims (0, 2), keepdim", uniform({2, 3, 4}, dt, -2, 2, 3), [](const Tensor& x) { return mean(x, {0, 2}, true); }),
      unary("negative dim", uniform({2, 3, 4}, dt, -2, 2, 4), [](const Tensor& x) { return mean(x, {-1}); }),
      unary("0-dim", uniform({}, dt, -2, 2, 5), [](const Tensor& x) { return mean(x); }),
      unary("transposed view", uniform({4, 3}, dt, -2, 2, 6), [](const Tensor& x) { return mean(x.t(), {0}, true); })};
}});

GRAFT_REGISTER_OP({.name = "sum_to", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("[2, 3, 4] to [3, 1]", uniform({2, 3, 4}, dt, -2, 2, 1), [](const Tensor& x) { return sum_to(x, {3, 1}); }),
      unary("[2, 3] to [1, 3]", uniform({2, 3}, dt, -2, 2, 2), [](const Tensor& x) { return sum_to(x, {1, 3}); }),
      unary("to a 0-dim tensor", uniform({2, 3}, dt, -2, 2, 3), [](const Tensor& x) { return sum_to(x, {}); }),
      unary("leading dims only", uniform({2, 2, 3}, dt, -2, 2, 4), [](const Tensor& x) { return sum_to(x, {2, 3}); }),
      unary("transposed view", uniform({3, 4}, dt, -2, 2, 5), [](const Tensor& x) { return sum_to(x.t(), {4, 1}); })};
}});

std::vector<Sample> extreme_samples(DType dt, bool largest) {
  auto all = [largest](const Tensor& x) { return largest ? max(x) : min(x); };
  auto along = [largest](int64_t dim, bool keepdim) {
    return [=](const Tensor& x) { return largest ? max(x, dim, keepdim) : min(x, dim, keepdim); };
  };
  return {unary("all elements", distinct({3, 4}, dt, 1), all),
          unary("all elements, 0-dim", distinct({}, dt, 2), all),
          unary("all elements, transposed view", distinct({4, 3}, dt, 3), [all](const Tensor& x) { return all(x.t()); }),
          unary2("dim 1", distinct({3, 4}, dt, 4), along(1, false)),
          unary2("dim 0, keepdim", distinct({3, 4}, dt, 5), along(0, true)),
          unary2("negative dim", distinct({2, 3, 4}, dt, 6), along(-2, false)),
          unary2("0-dim, dim 0", distinct({}, dt, 7), along(0, false)),
          unary2("transposed view, dim 1 (strided)", distinct({4, 3}, dt, 8),
                 [along](const Tensor& x) { return along(1, false)(x.t()); })};
}
GRAFT_REGISTER_OP({.name = "max", .samples = [](DType dt) { return extreme_samples(dt, true); }});
GRAFT_REGISTER_OP({.name = "min", .samples = [](DType dt) { return extreme_samples(dt, false); }});

std::vector<Sample> amax_samples(DType dt, bool largest) {
  auto f = [largest](IntList dims, bool keepdim) {
    Shape d(dims.begin(), dims.end());
    return [=](const Tensor& x) { return largest ? amax(x, d, keepdim) : amin(x, d, keepdim); };
  };
  return {unary("all dims", distinct({3, 4}, dt, 1), f({}, false)),
          unary("dim 1", distinct({3, 4}, dt, 2), f({1}, false)),
          unary("dims (0, 2), keepdim", distinct({2, 3, 4}, dt, 3), f({0, 2}, true)),
          unary("negative dims", distinct({2, 3, 4}, dt, 4), f({-1, -3}, false)),
          unary("0-dim", distinct({}, dt, 5), f({}, false)),
          unary("bias-like (column order)", distinct({16, 8}, dt, 6), f({0}, false)),
          unary("transposed view", distinct({4, 3}, dt, 7), [g = f({1}, true)](const Tensor& x) { return g(x.t()); })};
}
GRAFT_REGISTER_OP({.name = "amax", .samples = [](DType dt) { return amax_samples(dt, true); }});
GRAFT_REGISTER_OP({.name = "amin", .samples = [](DType dt) { return amax_samples(dt, false); }});

std::vector<Sample> arg_samples(DType dt, bool largest) {
  auto f = [largest](std::optional<int64_t> dim, bool keepdim) {
    return [=](const Tensor& x) { return largest ? argmax(x, dim, keepdim) : argmin(x, dim, keepdim); };
  };
  return {unary("flattened", distinct({3, 4}, dt, 1), f(std::nullopt, false)),
          unary("dim 1", distinct({3, 4}, dt, 2), f(1, false)),
          unary("dim 0, keepdim", distinct({3, 4}, dt, 3), f(0, true)),
          unary("negative dim", distinct({2, 3, 4}, dt, 4), f(-1, false)),
          unary("0-dim", distinct({}, dt, 5), f(std::nullopt, false)),
          unary("transposed view", distinct({4, 3}, dt, 6), [g = f(0, false)](const Tensor& x) { return g(x.t()); })};
}
GRAFT_REGISTER_OP({.name = "argmax", .samples = [](DType dt) { return arg_samples(dt, true); }, .differentiable = false});
GRAFT_REGISTER_OP({.name = "argmin", .samples = [](DType dt) { return arg_samples(dt, false); }, .differentiable = false});

std::vector<Sample> var_samples(DType dt, bool take_sqrt) {
  auto f = [take_sqrt](IntList dims, bool unbiased, bool keepdim) {
    Shape d(dims.begin(), dims.end());
    return [=](const Tensor& x) { return take_sqrt ? graft::std(x, d, unbiased, keepdim) : var(x, d, unbiased, keepdim); };
  };
  auto all = [take_sqrt](bool unbiased) {
    return [=](const Tensor& x) { return take_sqrt ? graft::std(x, unbiased) : var(x, unbiased); };
  };
  return {unary("all, unbiased", uniform({3, 4}, dt, -2, 2, 1), all(true)),
          unary("all, biased", uniform({3, 4}, dt, -2, 2, 2), all(false)),
          unary("dim 1", uniform({3, 4}, dt, -2, 2, 3), f({1}, true, false)),
          unary("dims (0, 2), biased, keepdim", uniform({2, 3, 4}, dt, -2, 2, 4), f({0, 2}, false, true)),
          unary("negative dim, keepdim", uniform({2, 3, 4}, dt, -2, 2, 5), f({-1}, true, true)),
          unary("bias-like (column order)", uniform({16, 8}, dt, -2, 2, 6), f({0}, true, false)),
          unary("transposed view", uniform({4, 3}, dt, -2, 2, 7), [g = f({1}, false, false)](const Tensor& x) { return g(x.t()); })};
}
GRAFT_REGISTER_OP({.name = "var", .samples = [](DType dt) { return var_samples(dt, false); }});
GRAFT_REGISTER_OP({.name = "std", .samples = [](DType dt) { return var_samples(dt, true); }});

GRAFT_REGISTER_OP({.name = "logsumexp", .samples = [](DType dt) {
  auto f = [](IntList dims, bool keepdim) {
    Shape d(dims.begin(), dims.end());
    return [=](const Tensor& x) { return logsumexp(x, d, keepdim); };
  };
  return std::vector<Sample>{
      unary("dim 1", uniform({3, 4}, dt, -2, 2, 1), f({1}, false)),
      unary("dims (0, 2), keepdim", uniform({2, 3, 4}, dt, -2, 2, 2), f({0, 2}, true)),
      unary("negative dim", uniform({2, 3, 4}, dt, -2, 2, 3), f({-1}, false)),
      beyond_half_precision(unary("large values (stability)", uniform({3, 4}, dt, 500, 504, 4), f({1}, false))),
      unary("0-dim", uniform({}, dt, -2, 2, 5), f({0}, false)),
      unary("column order", uniform({16, 8}, dt, -2, 2, 6), f({0}, true)),
      unary("transposed view", uniform({4, 3}, dt, -2, 2, 7), [g = f({1}, false)](const Tensor& x) { return g(x.t()); })};
}});

// ---------------------------------------------------------------- behaviour

// Adaptive threads vary how many threads run a reduction; the bits must not follow. A parallel region is
// the one place the count is 1 for sure (threads_for_next_region()), with get_num_threads() unchanged.
TEST(Sum, GivesTheSameBitsHoweverManyThreadsRunIt) {
  const int saved = get_num_threads();
  set_num_threads(2);
  manual_seed(7);
  // float64, whose sums accumulate in float64 too: a different split changes the last bits.
  const Tensor x = randn({1 << 20}, kFloat64);
  const Tensor rows = randn({3, 1 << 17}, kFloat64);
  const Tensor outside = x.sum(), outside_rows = rows.sum(1);
  Tensor inside, inside_rows;
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    {
      inside = x.sum();
      inside_rows = rows.sum(1);
    }
  }
  set_num_threads(saved);
  EXPECT_EQ(inside.item<double>(), outside.item<double>());
  EXPECT_EQ(inside_rows.to_vector<double>(), outside_rows.to_vector<double>());
}

TEST(Sum, OfNothingIsZeroAndIntegersSumToInt64) {
  EXPECT_EQ(sum(zeros({0})).item<double>(), 0.0);
  EXPECT_EQ(values(sum(zeros({0, 3}), {0})), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(sum(zeros({3, 0}), {1}).shape(), Shape({3}));
  Tensor ints = arange(5);
  EXPECT_EQ(sum(ints).dtype(), kInt64);
  EXPECT_EQ(sum(ints).item<int64_t>(), 10);
  Tensor flags = tensor({true, false, true}, {});
  EXPECT_EQ(sum(flags).dtype(), kInt64);
  EXPECT_EQ(sum(flags).item<int64_t>(), 2);
  EXPECT_EQ(sum(tensor({1.0, 2.0}, {}, kFloat64)).dtype(), kFloat64);
}

TEST(Sum, KeepdimAndNegativeDims) {
  Tensor x = arange(24.0).reshape({2, 3, 4});
  EXPECT_EQ(sum(x, {1}).shape(), Shape({2, 4}));
  EXPECT_EQ(sum(x, {1}, true).shape(), Shape({2, 1, 4}));
  EXPECT_EQ(sum(x, {-1, 0}).shape(), Shape({3}));
  EXPECT_EQ(values(sum(x, {-1, 0})), (std::vector<double>{60, 92, 124}));
  EXPECT_EQ(sum(x, {}, true).shape(), Shape({1, 1, 1}));
  EXPECT_EQ(sum(x).shape(), Shape({}));
}

TEST(Sum, BadDimsAreNamed) {
  Tensor x = ones({2, 3});
  EXPECT_EQ(error_of([&] { sum(x, {2}); }), "sum: dim 2 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([&] { sum(x, {-3}); }), "sum: dim -3 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([&] { sum(x, {1, -1}); }), "sum: dim 1 appears more than once in the list of dims");
  EXPECT_EQ(error_of([&] { mean(x, {5}); }), "mean: dim 5 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_THROW(sum(Tensor()), Error);
  EXPECT_THROW(sum(ones({}), {1}), Error);
}

TEST(Sum, GradientBroadcastsBack) {
  Tensor x = ones({2, 3}, dtype(kFloat64).requires_grad());
  sum(x, {1}).backward(tensor({2.0, 3.0}, {}, kFloat64));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 2, 2, 3, 3, 3}));
  EXPECT_STREQ(sum(x).grad_fn()->name(), "SumBackward0");
  EXPECT_STREQ(sum(x, {0}).grad_fn()->name(), "SumBackward1");
}

TEST(Mean, OfNothingIsNaNAndIntegersAreRejected) {
  EXPECT_TRUE(std::isnan(mean(zeros({0})).item<double>()));
  Tensor m = mean(zeros({0, 2}), {0});
  EXPECT_EQ(m.shape(), Shape({2}));
  EXPECT_TRUE(std::isnan(values(m)[0]) && std::isnan(values(m)[1]));
  EXPECT_EQ(error_of([] { mean(arange(3)); }),
            "mean: expected a floating-point input, got int64 (convert it with .to(kFloat32))");
  EXPECT_NEAR(mean(tensor({1.0, 2.0, 4.0}, {})).item<double>(), 7.0 / 3, 1e-6);
}

TEST(Mean, GradientIsSpreadEvenly) {
  Tensor x = ones({2, 4}, dtype(kFloat64).requires_grad());
  mean(x, {1}, true).sum().backward();
  EXPECT_EQ(values(x.grad()), std::vector<double>(8, 0.25));
}

TEST(SumTo, ReducesBroadcastDimsAndChecksShapes) {
  Tensor x = arange(6.0).reshape({2, 3});
  EXPECT_EQ(values(sum_to(x, {1, 3})), (std::vector<double>{3, 5, 7}));
  EXPECT_EQ(values(sum_to(x, {3})), (std::vector<double>{3, 5, 7}));
  EXPECT_EQ(values(sum_to(x, {2, 1})), (std::vector<double>{3, 12}));
  EXPECT_EQ(sum_to(x, {}).item<double>(), 15.0);
  EXPECT_TRUE(sum_to(x, {2, 3}).is_same(x));
  EXPECT_EQ(error_of([&] { sum_to(x, {4}); }), "sum_to: a tensor of shape [2, 3] cannot be summed to shape [4]");
  EXPECT_EQ(error_of([&] { sum_to(x, {1, 2, 3}); }), "sum_to: a tensor of shape [2, 3] cannot be summed to shape [1, 2, 3]");
}

TEST(Max, AllElementFormsSplitTheGradientEvenlyAmongTies) {
  Tensor x = tensor({1.0, 3.0, 3.0, 2.0, 3.0, 0.0}, {2, 3}, dtype(kFloat64).requires_grad());
  Tensor m = max(x);
  EXPECT_EQ(m.item<double>(), 3.0);
  m.backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3, 0}));

  Tensor y = tensor({1.0, 0.0, 0.0, 2.0}, {}, dtype(kFloat64).requires_grad());
  (min(y) * 4.0).backward();
  EXPECT_EQ(values(y.grad()), (std::vector<double>{0, 2, 2, 0}));
}

TEST(Max, AllElementFormWithNaNSendsTheGradientToTheNaNs) {
  Tensor x = tensor({1.0, kNaN, 3.0, kNaN}, {}, dtype(kFloat64).requires_grad());
  Tensor m = max(x);
  EXPECT_TRUE(std::isnan(m.item<double>()));
  m.backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0.5, 0, 0.5}));  // as PyTorch's evenly_distribute_backward
}

TEST(Amax, SplitsTheGradientEvenlyAmongTiesPerSlice) {
  Tensor x = tensor({2.0, 2.0, 1.0, 5.0, 4.0, 5.0, 0.0, 0.0, 0.0}, {3, 3}, dtype(kFloat64).requires_grad());
  Tensor a = amax(x, {1});
  EXPECT_EQ(values(a), (std::vector<double>{2, 5, 0}));
  a.backward(tensor({6.0, 6.0, 6.0}, {}, kFloat64));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{3, 3, 0, 3, 0, 3, 2, 2, 2}));

  Tensor y = tensor({2.0, 2.0, 1.0, 2.0}, {2, 2}, dtype(kFloat64).requires_grad());
  amin(y, {0, 1}, true).sum().backward();
  EXPECT_EQ(values(y.grad()), (std::vector<double>{0, 0, 1, 0}));
}

TEST(Max, WithDimSendsTheGradientToTheReturnedIndexTheFirstOnTies) {
  Tensor x = tensor({1.0, 3.0, 3.0, 2.0, 2.0, 0.0}, {2, 3}, dtype(kFloat64).requires_grad());
  auto [v, i] = max(x, 1);
  EXPECT_EQ(values(v), (std::vector<double>{3, 2}));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_FALSE(i.requires_grad());
  v.sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 1, 0, 1, 0, 0}));

  Tensor y = tensor({4.0, 1.0, 4.0, 1.0}, {2, 2}, dtype(kFloat64).requires_grad());
  auto [mv, mi] = min(y, 0, true);
  EXPECT_EQ(mv.shape(), Shape({1, 2}));
  EXPECT_EQ(mi.to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  mv.sum().backward();
  EXPECT_EQ(values(y.grad()), (std::vector<double>{1, 1, 0, 0}));
}

TEST(Max, WithDimPropagatesNaNAndAcceptsBools) {
  auto [v, i] = max(tensor({1.0, kNaN, 5.0, kNaN}, {1, 4}), 1);
  EXPECT_TRUE(std::isnan(values(v)[0]));
  EXPECT_EQ(i.item<int64_t>(), 1);
  auto [bv, bi] = max(tensor({false, true, true}, {}), 0);
  EXPECT_EQ(bv.dtype(), kBool);
  EXPECT_TRUE(bv.item<bool>());
  EXPECT_EQ(bi.item<int64_t>(), 1);
  EXPECT_TRUE(max(tensor({false, true}, {})).item<bool>());
  EXPECT_TRUE(std::isnan(amax(tensor({1.0, kNaN, 2.0}, {}), {0}).item<double>()));
  EXPECT_TRUE(std::isnan(amin(tensor({1.0, kNaN, 2.0}, {}), {0}).item<double>()));
}

TEST(Max, OnNothingRaises) {
  EXPECT_EQ(error_of([] { max(zeros({0})); }),
            "max: cannot reduce over dim 0 of size 0 (input shape [0]): the result would have no value");
  EXPECT_EQ(error_of([] { min(zeros({2, 0}), 1); }),
            "min: cannot reduce over dim 1 of size 0 (input shape [2, 0]): the result would have no value");
  EXPECT_EQ(error_of([] { amax(zeros({2, 0}), {1}); }),
            "amax: cannot reduce over dim 1 of size 0 (input shape [2, 0]): the result would have no value");
  EXPECT_EQ(error_of([] { argmax(zeros({0})); }),
            "argmax: cannot take the argmax of an empty tensor (shape [0]) without a dim");
  EXPECT_EQ(error_of([] { argmin(zeros({3, 0}), -1); }),
            "argmin: cannot reduce over dim 1 of size 0 (input shape [3, 0]): the result would have no value");
  // Reducing a non-empty dim of an empty tensor is fine: the result is empty.
  EXPECT_EQ(amax(zeros({2, 0}), {0}).shape(), Shape({0}));
  EXPECT_EQ(std::get<0>(max(zeros({0, 3}), 1)).shape(), Shape({0}));
}

TEST(Max, BadDimsAreNamed) {
  EXPECT_EQ(error_of([] { max(ones({2, 3}), 2); }), "max: dim 2 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([] { argmin(ones({2, 3}), -3); }),
            "argmin: dim -3 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([] { amin(ones({2}), {0, 0}); }), "amin: dim 0 appears more than once in the list of dims");
  EXPECT_EQ(error_of([] { argmax(tensor({true, false}, {})); }), "argmax: not supported for bool tensors");
}

TEST(Argmax, FirstIndexOnTiesFlattenedAndAlongDims) {
  Tensor x = tensor({1.0, 5.0, 5.0, 0.0, 5.0, 0.0}, {2, 3});
  EXPECT_EQ(argmax(x).item<int64_t>(), 1);
  EXPECT_EQ(argmax(x).shape(), Shape({}));
  EXPECT_EQ(argmin(x).item<int64_t>(), 3);
  EXPECT_EQ(argmax(x, 0).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(argmax(x, 1, true).shape(), Shape({2, 1}));
  EXPECT_EQ(argmax(x, -1).to_vector<int64_t>(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(argmin(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(argmax(scalar_tensor(3.0), 0).item<int64_t>(), 0);
  EXPECT_EQ(argmax(tensor({1.0, kNaN, 2.0, kNaN}, {})).item<int64_t>(), 1);  // NaN wins, as in PyTorch
  EXPECT_EQ(argmax(arange(5)).item<int64_t>(), 4);
  EXPECT_FALSE(argmax(ones({2}, requires_grad())).requires_grad());
}

// The kernels' loop orders (per output, few outputs split across threads, column sweep, lanes in
// contiguous runs) agree with a plain loop over the elements, on sizes that reach every path.
TEST(ReductionKernels, EveryLoopOrderAgreesWithAPlainLoop) {
  struct Case {
    Shape shape;
    Shape dims;
    bool transpose;
  };
  const std::vector<Case> cases = {{{3, 70000}, {1}, false},  {{70000, 3}, {0}, false}, {{2, 40000}, {0, 1}, false},
                                   {{300, 257}, {1}, false},  {{300, 257}, {0}, false}, {{300, 257}, {0}, true},
                                   {{300, 257}, {1}, true},   {{7, 9, 11}, {0, 2}, false}, {{7, 9, 11}, {1}, true},
                                   {{5, 1, 4}, {1}, false},   {{300, 1, 257}, {1}, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.shape) + " dims " + shape_str(c.dims) + (c.transpose ? " transposed" : ""));
    Tensor x64 = uniform(c.shape, kFloat64, -3, 3, 42);
    if (c.transpose) x64 = x64.transpose(0, -1);
    Tensor x32 = x64.to(kFloat32);
    // The plain loop: reduce a contiguous float64 copy with the reduced dims moved last.
    Shape perm;
    int64_t n = 1, k = 1;
    for (int64_t d = 0; d < x64.dim(); ++d)
      if (std::find(c.dims.begin(), c.dims.end(), d) == c.dims.end()) {
        perm.push_back(d);
        k *= x64.shape()[d];
      }
    for (int64_t d : c.dims) {
      perm.push_back(d);
      n *= x64.shape()[d];
    }
    auto near = [](const Tensor& t, const std::vector<double>& want, double tol) {
      std::vector<double> got = t.to_vector<double>();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        if (!(std::isnan(got[i]) && std::isnan(want[i]))) {  // var of one element
          ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << "element " << i;
        }
    };
    for (const Tensor& x : {x64, x32}) {
      SCOPED_TRACE(dtype_name(x.dtype()));
      std::vector<double> flat = values(x.permute(perm).contiguous()), s(k, 0), mx(k, -kInf), var_want(k, 0), lse_want(k, 0);
      std::vector<int64_t> am(k, 0);
      for (int64_t i = 0; i < k; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          const double v = flat[i * n + j];
          s[i] += v;
          if (v > mx[i]) {
            mx[i] = v;
            am[i] = j;
          }
        }
        for (int64_t j = 0; j < n; ++j) {
          var_want[i] += std::pow(flat[i * n + j] - s[i] / n, 2) / (n - 1);
          lse_want[i] += std::exp(flat[i * n + j] - mx[i]);
        }
        lse_want[i] = std::log(lse_want[i]) + mx[i];
      }
      const double tol = x.dtype() == kFloat64 ? 1e-12 : 2e-6;
      near(sum(x, c.dims), s, tol);
      near(amax(x, c.dims), mx, 0);
      near(var(x, c.dims), var_want, tol * 10);
      near(logsumexp(x, c.dims), lse_want, tol * 10);
      if (c.dims.size() == 1) {
        EXPECT_EQ(argmax(x, c.dims[0]).to_vector<int64_t>(), am);
        EXPECT_EQ(std::get<1>(max(x, c.dims[0])).to_vector<int64_t>(), am);
      }
    }
  }
}

TEST(ReductionKernels, TiesAndNaNsGiveTheFirstIndexInEveryLoopOrder) {
  // Long rows (the vectorised contiguous path) and a column sweep (reduction dim strided).
  Tensor row = zeros({2, 1000}, kFloat64);
  row.select(0, 0).narrow(0, 300, 1).fill_(7.0);
  row.select(0, 0).narrow(0, 600, 1).fill_(7.0);
  row.select(0, 1).narrow(0, 555, 1).fill_(kNaN);
  row.select(0, 1).narrow(0, 900, 1).fill_(kNaN);
  EXPECT_EQ(argmax(row, 1).to_vector<int64_t>(), (std::vector<int64_t>{300, 555}));
  EXPECT_EQ(argmin(row, 1).to_vector<int64_t>(), (std::vector<int64_t>{0, 555}));
  Tensor col = row.t().contiguous();  // [1000, 2], reduced along dim 0 (stride 2)
  EXPECT_EQ(argmax(col, 0).to_vector<int64_t>(), (std::vector<int64_t>{300, 555}));
  EXPECT_EQ(std::get<1>(min(col, 0)).to_vector<int64_t>(), (std::vector<int64_t>{0, 555}));
  EXPECT_TRUE(std::isnan(values(amax(col, {0}))[1]));
  EXPECT_EQ(values(amax(col, {0}))[0], 7.0);
}

TEST(ReductionKernels, InfinitiesAndNaNsInLongContiguousRows) {
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor x = uniform({4, 500}, dt, -1, 1, 3);
    x.select(0, 0).narrow(0, 123, 1).fill_(kNaN);
    x.select(0, 1).narrow(0, 77, 1).fill_(kInf);
    x.select(0, 2).narrow(0, 400, 1).fill_(-kInf);
    x.select(0, 3).fill_(-kInf);
    std::vector<double> mx = values(amax(x, {1})), mn = values(amin(x, {1})), lse = values(logsumexp(x, {1}));
    EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mn[0]) && std::isnan(lse[0]));
    EXPECT_EQ(mx[1], kInf);
    EXPECT_EQ(lse[1], kInf);
    EXPECT_EQ(mn[2], -kInf);
    EXPECT_LT(mx[2], 1.0);
    EXPECT_TRUE(std::isfinite(lse[2]));
    EXPECT_EQ(mx[3], -kInf);
    EXPECT_EQ(lse[3], -kInf);
    EXPECT_EQ(argmax(x, 1).to_vector<int64_t>()[0], 123);
    EXPECT_EQ(argmin(x, 1).to_vector<int64_t>()[2], 400);
    EXPECT_TRUE(std::isnan(max(x).item<double>()));
    // logsumexp of float32 rows agrees with float64 (the float32 path uses its own vectorised exp)
    Tensor y = uniform({3, 1000}, kFloat64, -30, 30, 4);
    EXPECT_TRUE(allclose(logsumexp(y.to(kFloat32), {1}).to(kFloat64), logsumexp(y, {1}), 1e-6, 1e-6));
  }
}

TEST(Var, BesselsCorrectionDimsAndDegenerateCases) {
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0, 6.0, 8.0}, {2, 3}, kFloat64);
  EXPECT_DOUBLE_EQ(var(x).item<double>(), values(var(x, {0, 1}))[0]);
  EXPECT_NEAR(var(x).item<double>(), 6.8, 1e-12);
  EXPECT_NEAR(var(x, false).item<double>(), 34.0 / 6, 1e-12);
  EXPECT_EQ(values(var(x, {1})), (std::vector<double>{1, 4}));
  EXPECT_EQ(values(var(x, {1}, false, true)), (std::vector<double>{2.0 / 3, 8.0 / 3}));
  EXPECT_EQ(var(x, {1}, false, true).shape(), Shape({2, 1}));
  EXPECT_EQ(values(graft::std(x, {-1})), (std::vector<double>{1, 2}));
  EXPECT_TRUE(std::isnan(var(scalar_tensor(2.0)).item<double>()));     // one element, unbiased: NaN
  EXPECT_EQ(var(scalar_tensor(2.0), false).item<double>(), 0.0);
  EXPECT_TRUE(std::isnan(var(zeros({0})).item<double>()));
  EXPECT_EQ(error_of([] { var(arange(3)); }), "var: expected a floating-point input, got int64");
  EXPECT_EQ(error_of([] { graft::std(ones({2}), {1}); }), "std: dim 1 is out of range for a tensor of 1 dims (expected in [-1, 0])");
}

TEST(Std, GradientIsZeroWhereAllValuesAreEqual) {
  Tensor x = tensor({1.0, 1.0, 1.0, 1.0, 2.0, 3.0}, {2, 3}, dtype(kFloat64).requires_grad());
  graft::std(x, {1}).sum().backward();
  std::vector<double> g = values(x.grad());
  EXPECT_EQ(g[0], 0.0);
  EXPECT_EQ(g[1], 0.0);
  EXPECT_EQ(g[2], 0.0);
  EXPECT_NEAR(g[3], -0.5, 1e-12);  // (x - mean) / ((n - 1) * std) = -1 / 2
  EXPECT_NEAR(g[4], 0.0, 1e-12);
  EXPECT_NEAR(g[5], 0.5, 1e-12);
  EXPECT_STREQ(graft::std(x, {1}).grad_fn()->name(), "StdBackward1");
  EXPECT_STREQ(var(x).grad_fn()->name(), "VarBackward0");
}

TEST(Std, DoubleBackwardIsFiniteAtAConstantRow) {
  Tensor x = tensor({1.0, 1.0, 1.0, 1.0, 2.0, 4.0}, {2, 3}, dtype(kFloat64).requires_grad());
  Tensor g = autograd::grad({graft::std(x, {1}).sum()}, {x}, {}, std::nullopt, true)[0];
  Tensor gg = autograd::grad({(g * g).sum()}, {x})[0];
  for (double v : values(gg)) EXPECT_TRUE(std::isfinite(v));
}

TEST(Logsumexp, InfinitiesEmptyRowsAndStability) {
  Tensor x = tensor({-kInf, -kInf, 1.0, 2.0, kInf, 0.0}, {3, 2}, dtype(kFloat64).requires_grad());
  Tensor y = logsumexp(x, {1});
  std::vector<double> v = values(y);
  EXPECT_EQ(v[0], -kInf);
  EXPECT_NEAR(v[1], std::log(std::exp(1.0) + std::exp(2.0)), 1e-12);
  EXPECT_EQ(v[2], kInf);
  y.backward(ones({3}, kFloat64));
  std::vector<double> g = values(x.grad());
  EXPECT_TRUE(std::isnan(g[0]) && std::isnan(g[1]));  // exp(-inf - -inf), as in PyTorch
  EXPECT_NEAR(g[2] + g[3], 1.0, 1e-12);

  EXPECT_EQ(values(logsumexp(zeros({0, 3}), {0})), std::vector<double>(3, -kInf));  // log(0), as in PyTorch
  EXPECT_NEAR(logsumexp(tensor({1000.0, 1000.0}, {}), {0}).item<double>(), 1000 + std::log(2.0), 1e-3);
  EXPECT_NEAR(logsumexp(tensor({-1000.0, -1000.0}, {}, kFloat64), {0}).item<double>(), -1000 + std::log(2.0), 1e-9);
  EXPECT_EQ(logsumexp(arange(3), {0}).dtype(), kFloat32);  // integers give float32
  EXPECT_EQ(logsumexp(ones({2, 3}), {1}, true).shape(), Shape({2, 1}));
  EXPECT_EQ(error_of([] { logsumexp(ones({2, 3}), {2}); }),
            "logsumexp: dim 2 is out of range for a tensor of 2 dims (expected in [-2, 1])");
}

}  // namespace
