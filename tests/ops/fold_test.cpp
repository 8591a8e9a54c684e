// F::unfold and F::fold (ops/fold.h): registry entries, PyTorch's values (tests/reference/fold.py), the
// adjoint relation between them, and bad input.
#include <gtest/gtest.h>

#include "support/errors.h"
#include "support/op_registry.h"
#include "torch_reference.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;
namespace ref = graft::testing::torch_reference;

namespace {

GRAFT_REGISTER_OP({.name = "unfold", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("2x2", {uniform({2, 2, 3, 3}, dt, -1, 1, 1)}, [](const TensorList& in) { return F::unfold(in[0], 2); }),
      sample("3x2 dilation (1, 2) padding 1 stride 2, unbatched", {uniform({2, 4, 5}, dt, -1, 1, 2)},
             [](const TensorList& in) { return F::unfold(in[0], {3, 2}, {1, 2}, 1, 2); })};
}});

GRAFT_REGISTER_OP({.name = "fold", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("2x2 overlapping", {uniform({2, 8, 4}, dt, -1, 1, 3)}, [](const TensorList& in) { return F::fold(in[0], {3, 3}, 2); }),
      sample("stride 2 padding 1, unbatched", {uniform({6, 6}, dt, -1, 1, 4)},
             [](const TensorList& in) { return F::fold(in[0], {3, 4}, {3, 2}, 1, 1, 2); })};
}});

std::vector<int64_t> ints(const nlohmann::json& args, const char* key, std::vector<int64_t> fallback) {
  if (!args.contains(key)) return fallback;
  const auto& v = args.at(key);
  return v.is_array() ? v.get<std::vector<int64_t>>() : std::vector<int64_t>{v.get<int64_t>()};
}

void check_against_pytorch(DType dt) {
  const double tol = dt == kFloat64 ? 1e-10 : 1e-5;
  for (const auto& c : ref::reference_json("fold.json").at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const auto& a = c.at("args");
    Tensor x = ref::to_tensor(c.at("x"), dt).requires_grad_();
    Tensor y = c.at("op") == "unfold"
                   ? F::unfold(x, ints(a, "kernel_size", {}), ints(a, "dilation", {1}), ints(a, "padding", {0}), ints(a, "stride", {1}))
                   : F::fold(x, ints(a, "output_size", {}), ints(a, "kernel_size", {}), ints(a, "dilation", {1}),
                             ints(a, "padding", {0}), ints(a, "stride", {1}));
    EXPECT_TRUE(allclose(y.to(kFloat64), ref::to_tensor(c.at("y")), tol, tol)) << y;
    Tensor gx = autograd::grad({y}, {x}, {ref::to_tensor(c.at("v"), dt)})[0];
    EXPECT_TRUE(allclose(gx.to(kFloat64), ref::to_tensor(c.at("gx")), tol, tol)) << gx;
  }
}

TEST(Fold, MatchesPyTorchInFloat64) { check_against_pytorch(kFloat64); }
TEST(Fold, MatchesPyTorchInFloat32) { check_against_pytorch(kFloat32); }

// <unfold(x), c> = <x, fold(c)>, and a convolution is unfold followed by a matrix product.
TEST(Fold, FoldIsTheAdjointOfUnfoldAndUnfoldMakesConvolutionAProduct) {
  Tensor x = uniform({2, 3, 5, 6}, kFloat64, -1, 1, 1);
  Tensor cols = F::unfold(x, 3, 1, 1, 2);
  Tensor c = uniform(cols.shape(), kFloat64, -1, 1, 2);
  EXPECT_NEAR((cols * c).sum().item<double>(), (x * F::fold(c, {5, 6}, 3, 1, 1, 2)).sum().item<double>(), 1e-12);
  Tensor w = uniform({4, 3, 3, 3}, kFloat64, -1, 1, 3);
  Tensor via_columns = matmul(w.reshape({4, 27}), cols).reshape({2, 4, 3, 3});
  EXPECT_TRUE(allclose(via_columns, F::conv2d(x, w, {}, 2, 1), 1e-12, 1e-12));
}

TEST(Fold, RejectsBadInput) {
  expect_error([] { F::unfold(zeros({1, 2, 2, 2}), 3); }, {"unfold", "no block fits", "(2, 2)", "kernel_size (3, 3)"});
  expect_error([] { F::unfold(zeros({2, 2}), 1); }, {"unfold", "3-D (unbatched) or 4-D (batched)", "[2, 2]"});
  expect_error([] { F::unfold(zeros({1, 0, 3, 3}), 2); }, {"unfold", "only the batch dim may be empty"});
  expect_error([] { F::unfold(zeros({1, 2, 3, 3}), 2, 1, -1); }, {"unfold", "padding must be non-negative"});
  expect_error([] { F::fold(zeros({1, 5, 9}), {4, 4}, 2); }, {"fold", "dim 1", "(5,", "divisible", "2 x 2 = 4"});
  expect_error([] { F::fold(zeros({1, 8, 8}), {4, 4}, 2); }, {"fold", "output_size (4, 4) holds 3 x 3 = 9 block positions", "8 columns"});
  expect_error([] { F::fold(zeros({1, 4, 9, 1}), {4, 4}, 2); }, {"fold", "2-D (unbatched) or 3-D (batched)"});
  EXPECT_EQ(F::unfold(zeros({0, 2, 3, 3}), 2).shape(), Shape({0, 8, 4}));
  EXPECT_EQ(F::fold(zeros({0, 8, 4}), {3, 3}, 2).shape(), Shape({0, 2, 3, 3}));
}

}  // namespace
