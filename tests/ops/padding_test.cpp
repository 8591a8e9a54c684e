// F::pad (ops/padding.h): registry entry, PyTorch's values for every mode (tests/reference/padding.py),
// integer inputs, empty batches and bad input.
#include <gtest/gtest.h>

#include "support/errors.h"
#include "support/op_registry.h"
#include "torch_reference.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;
namespace ref = graft::testing::torch_reference;

namespace {

GRAFT_REGISTER_OP({.name = "pad", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("constant, value 2, with a crop", {uniform({2, 3, 4}, dt, -1, 1, 1)},
             [](const TensorList& in) { return F::pad(in[0], {1, -1, 0, 2}, "constant", 2.0); }),
      sample("reflect 2-D", {uniform({1, 2, 3, 4}, dt, -1, 1, 2)}, [](const TensorList& in) { return F::pad(in[0], {2, 1, 1, 2}, "reflect"); }),
      sample("replicate 1-D, transposed", {uniform({4, 2, 3}, dt, -1, 1, 3)},
             [](const TensorList& in) { return F::pad(in[0].transpose(0, 2), {2, 3}, "replicate"); }),
      sample("circular 2-D unbatched", {uniform({2, 3, 3}, dt, -1, 1, 4)}, [](const TensorList& in) { return F::pad(in[0], {3, 1, 2, 0}, "circular"); })};
}});

void check_against_pytorch(DType dt) {
  const double tol = dt == kFloat64 ? 1e-10 : 1e-6;
  for (const auto& c : ref::reference_json("padding.json").at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    Tensor x = ref::to_tensor(c.at("x"), dt).requires_grad_();
    Tensor y = F::pad(x, c.at("pad").get<std::vector<int64_t>>(), c.at("mode").get<std::string>(), c.at("value").get<double>());
    EXPECT_TRUE(allclose(y.to(kFloat64), ref::to_tensor(c.at("y")), tol, tol)) << y;
    Tensor gx = autograd::grad({y}, {x}, {ref::to_tensor(c.at("v"), dt)})[0];
    EXPECT_TRUE(allclose(gx.to(kFloat64), ref::to_tensor(c.at("gx")), tol, tol)) << gx;
  }
}

TEST(Pad, MatchesPyTorchInFloat64) { check_against_pytorch(kFloat64); }
TEST(Pad, MatchesPyTorchInFloat32) { check_against_pytorch(kFloat32); }

TEST(Pad, ConstantModePadsIntegersAndEmptyBatches) {
  Tensor y = F::pad(tensor({1, 2, 3}, {1, 3}), {1, 1}, "constant", 7);
  EXPECT_EQ(y.dtype(), kInt64);
  EXPECT_EQ(y.to_vector<int64_t>(), (std::vector<int64_t>{7, 1, 2, 3, 7}));
  EXPECT_EQ(F::pad(zeros({0, 2, 4}), {1, 1}, "reflect").shape(), Shape({0, 2, 6}));
  Tensor x = ones({2, 3});
  Tensor same = F::pad(x, {});
  EXPECT_TRUE(equal(same, x));
  EXPECT_FALSE(same.is_same(x)) << "pad returns a new tensor";
}

TEST(Pad, RejectsBadInput) {
  Tensor x = zeros({1, 2, 4});
  expect_error([&] { F::pad(x, {1}); }, {"pad", "even number of values", "(1)"});
  expect_error([&] { F::pad(x, {1, 1, 1, 1, 1, 1, 1, 1}); }, {"pad", "pads 4 dims", "[1, 2, 4]"});
  expect_error([&] { F::pad(x, {-3, -2}); }, {"pad", "negative size -1", "[1, 2, 4]"});
  expect_error([&] { F::pad(x, {1, 1}, "wrap"); }, {"pad", "mode must be", "\"wrap\""});
  expect_error([&] { F::pad(x, {1, 1}, "reflect", 1.0); }, {"pad", "mode \"reflect\" takes no value"});
  expect_error([&] { F::pad(x, {4, 1}, "reflect"); }, {"pad", "reflect padding (4, 1)", "smaller than its size 4", "[1, 2, 4]"});
  expect_error([&] { F::pad(zeros({1, 2, 0}), {1, 1}, "replicate"); }, {"pad", "replicate", "empty", "[1, 2, 0]"});
  expect_error([&] { F::pad(x, {5, 2}, "circular"); }, {"pad", "wrap around more than once"});
  expect_error([&] { F::pad(zeros({1, 2, 3, 4}), {1, 1}, "replicate"); }, {"pad", "pads 1, 2 or 3 dims", "[1, 2, 3, 4]"});
  expect_error([&] { F::pad(zeros({4}), {1, 1}, "reflect"); }, {"pad", "pads 1, 2 or 3 dims", "[4]"});
}

}  // namespace
