// Rotary position embedding: registry entries, Hugging Face-style reference values (tests/reference/rope.py),
// cached-decoding offsets, the relative-position property and bad input.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "graft/ops/rope.h"
#include "support/op_registry.h"
#include "support/errors.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;
using graft::nn::functional::apply_rotary_emb;
using graft::nn::functional::rope_cos_sin;
using graft::nn::functional::rotate_half;

namespace {

GRAFT_REGISTER_OP({.name = "rope_cos_sin", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("positions tensor", {}, [dt](const TensorList&) { return std::get<0>(rope_cos_sin(8, tensor({0, 3, 17}), 10000.0, dt)); }),
      sample("start + length (sin)", {}, [dt](const TensorList&) { return std::get<1>(rope_cos_sin(6, 5, 4, 100.0, dt)); })};
}, .differentiable = false});

GRAFT_REGISTER_OP({.name = "rotate_half", .samples = [](DType dt) {
  return std::vector<Sample>{sample("(2, 3, 4)", {uniform({2, 3, 4}, dt)}, [](const TensorList& in) { return rotate_half(in[0]); }),
                             sample("transposed view", {uniform({6, 2}, dt)}, [](const TensorList& in) { return rotate_half(in[0].t()); })};
}});

GRAFT_REGISTER_OP({.name = "apply_rotary_emb", .samples = [](DType dt) {
  auto [cos, sin] = rope_cos_sin(4, 2, 3, 10000.0, dt);
  return std::vector<Sample>{
      sample("x (B, H, T, D), constant cos/sin (T, D)", {uniform({2, 2, 3, 4}, dt), cos, sin},
             [](const TensorList& in) { return apply_rotary_emb(in[0], in[1], in[2]); }, {1, 2}),
      // Gradients of arbitrary (not rope-shaped) cos and sin, broadcast over the batch.
      sample("x, cos and sin all differentiable", {uniform({2, 3, 6}, dt, -1, 1, 1), uniform({3, 6}, dt, -1, 1, 2), uniform({3, 6}, dt, -1, 1, 3)},
             [](const TensorList& in) { return apply_rotary_emb(in[0], in[1], in[2]); }),
      sample("per-sequence cos/sin (B, 1, T, D)", {uniform({2, 2, 3, 4}, dt, -1, 1, 4), uniform({2, 1, 3, 4}, dt, -1, 1, 5), uniform({2, 1, 3, 4}, dt, -1, 1, 6)},
             [](const TensorList& in) { return apply_rotary_emb(in[0], in[1], in[2]); }),
  };
}});

Tensor from_json(const nlohmann::json& j, DType dt) {
  Shape shape;
  for (const auto& d : j["shape"]) shape.push_back(d.get<int64_t>());
  return tensor(j["values"].get<std::vector<double>>(), shape, dt);
}

void check_reference(DType dt, double tol) {
  nlohmann::json ref = reference_json("rope.json");
  ASSERT_EQ(ref["cases"].size(), 3u);
  for (const auto& c : ref["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    Tensor positions = tensor(c["positions"].get<std::vector<int64_t>>());
    auto [cos, sin] = rope_cos_sin(c["head_dim"].get<int64_t>(), positions, c["base"].get<double>(), dt);
    EXPECT_TRUE(allclose(cos.to(kFloat64), from_json(c["cos"], kFloat64), 0, tol)) << cos;
    EXPECT_TRUE(allclose(sin.to(kFloat64), from_json(c["sin"], kFloat64), 0, tol)) << sin;
    Tensor x = from_json(c["x"], dt).requires_grad_();
    Tensor out = apply_rotary_emb(x, cos, sin);
    EXPECT_TRUE(allclose(out.to(kFloat64), from_json(c["out"], kFloat64), tol, tol));
    Tensor gx = autograd::grad({out}, {x}, {from_json(c["grad_out"], dt)})[0];
    EXPECT_TRUE(allclose(gx.to(kFloat64), from_json(c["grad_x"], kFloat64), tol, tol));
  }
}

TEST(Rope, MatchesHuggingFaceStyleReferenceInFloat64) { check_reference(kFloat64, 1e-12); }
TEST(Rope, MatchesHuggingFaceStyleReferenceInFloat32) { check_reference(kFloat32, 1e-6); }

TEST(Rope, CosSinRepeatTheAnglesOverBothHalves) {
  auto [cos, sin] = rope_cos_sin(4, tensor({0, 2}), 100.0, kFloat64);
  // inv_freq = [1, 100^(-1/2)] = [1, 0.1]; angles at position 2: [2, 0.2].
  EXPECT_TRUE(allclose(cos, tensor({1.0, 1.0, 1.0, 1.0, std::cos(2.0), std::cos(0.2), std::cos(2.0), std::cos(0.2)}, {2, 4}, kFloat64)));
  EXPECT_TRUE(allclose(sin, tensor({0.0, 0.0, 0.0, 0.0, std::sin(2.0), std::sin(0.2), std::sin(2.0), std::sin(0.2)}, {2, 4}, kFloat64)));
  EXPECT_EQ(cos.dtype(), kFloat64);
  EXPECT_EQ(std::get<0>(rope_cos_sin(4, 0, 3)).dtype(), kFloat32);
}

TEST(Rope, RotateHalfNegatesTheSecondHalfAndSwaps) {
  EXPECT_TRUE(equal(rotate_half(tensor({1.0, 2.0, 3.0, 4.0})), tensor({-3.0, -4.0, 1.0, 2.0})));
}

// Cached decoding: tokens [p, p + n) rotated with rope_cos_sin(D, p, n) equal that slice of the rotation of
// the whole sequence.
TEST(Rope, OffsetPositionsEqualTheSliceOfTheFullSequence) {
  const int64_t D = 8, L = 12, p = 7, n = 3;
  auto [cos, sin] = rope_cos_sin(D, 0, L, 10000.0, kFloat64);
  auto [cos_p, sin_p] = rope_cos_sin(D, p, n, 10000.0, kFloat64);
  EXPECT_TRUE(equal(cos_p, cos.narrow(0, p, n)));
  EXPECT_TRUE(equal(sin_p, sin.narrow(0, p, n)));
  Tensor x = uniform({2, 3, L, D}, kFloat64);
  Tensor full = apply_rotary_emb(x, cos, sin);
  Tensor part = apply_rotary_emb(x.narrow(2, p, n), cos_p, sin_p);
  EXPECT_TRUE(allclose(part, full.narrow(2, p, n), 0, 1e-15));
  // A positions tensor gives the same as start + length.
  auto [cos_t, sin_t] = rope_cos_sin(D, arange(p, p + n, 1, kInt64), 10000.0, kFloat64);
  EXPECT_TRUE(equal(cos_t, cos_p));
  EXPECT_TRUE(equal(sin_t, sin_p));
}

// Per-sequence positions (B, T) give (B, T, D) tables; unsqueezed to (B, 1, T, D) they rotate every head of
// each sequence by that sequence's positions (left-padded batches in cached decoding).
TEST(Rope, PositionsOfAnyShapeGiveOneRowPerPosition) {
  const int64_t D = 6;
  auto [cos, sin] = rope_cos_sin(D, tensor({0, 1, 2, 5, 6, 7}, {2, 3}), 10000.0, kFloat64);
  EXPECT_EQ(cos.shape(), Shape({2, 3, D}));
  auto [cos5, sin5] = rope_cos_sin(D, 5, 3, 10000.0, kFloat64);
  EXPECT_TRUE(equal(cos.select(0, 1), cos5));
  EXPECT_TRUE(equal(sin.select(0, 1), sin5));
  Tensor x = uniform({2, 4, 3, D}, kFloat64);
  Tensor out = apply_rotary_emb(x, cos.unsqueeze(1), sin.unsqueeze(1));
  EXPECT_TRUE(allclose(out.select(0, 1), apply_rotary_emb(x.select(0, 1), cos5, sin5), 0, 1e-15));
}

// What RoPE is for: the score <rope(q, m), rope(k, n)> depends only on m - n.
TEST(Rope, ScoresDependOnlyOnRelativePosition) {
  const int64_t D = 16;
  Tensor q = uniform({1, D}, kFloat64, -1, 1, 1), k = uniform({1, D}, kFloat64, -1, 1, 2);
  auto score = [&](int64_t m, int64_t n) {
    auto [cm, sm] = rope_cos_sin(D, m, 1, 10000.0, kFloat64);
    auto [cn, sn] = rope_cos_sin(D, n, 1, 10000.0, kFloat64);
    return (apply_rotary_emb(q, cm, sm) * apply_rotary_emb(k, cn, sn)).sum().item<double>();
  };
  EXPECT_NEAR(score(5, 2), score(103, 100), 1e-12);
  EXPECT_NEAR(score(0, 7), score(40, 47), 1e-12);
  EXPECT_GT(std::abs(score(5, 2) - score(5, 3)), 1e-6);
}

// The gradient of a rotation by theta is the rotation by -theta; rotations keep norms.
TEST(Rope, BackwardRotatesByMinusTheta) {
  auto [cos, sin] = rope_cos_sin(6, 3, 5, 10000.0, kFloat64);
  Tensor x = uniform({2, 5, 6}, kFloat64).requires_grad_();
  Tensor g = uniform({2, 5, 6}, kFloat64, -1, 1, 9);
  Tensor out = apply_rotary_emb(x, cos, sin);
  Tensor gx = autograd::grad({out}, {x}, {g})[0];
  EXPECT_TRUE(allclose(gx, apply_rotary_emb(g, cos, -sin), 0, 1e-14));
  EXPECT_NEAR((out * out).sum().item<double>(), (x * x).sum().item<double>(), 1e-12);
}

TEST(Rope, Float32UsesTheFloat64AnglesRounded) {
  auto [c32, s32] = rope_cos_sin(8, tensor({65535}), 10000.0, kFloat32);
  auto [c64, s64] = rope_cos_sin(8, tensor({65535}), 10000.0, kFloat64);
  EXPECT_TRUE(equal(c32, c64.to(kFloat32)));
  EXPECT_TRUE(equal(s32, s64.to(kFloat32)));
}

// As the composite x * cos + rotate_half(x) * sin under PyTorch's promotion: a bfloat16 x (a product under
// autocast) with float32 tables computes and returns float32, and its gradient comes back in bfloat16.
TEST(Rope, MixedDtypesComputeInThePromotedDtype) {
  auto [cos, sin] = rope_cos_sin(8, 0, 4);
  Tensor x = uniform({2, 4, 8}, kFloat32, -1, 1, 3).to(kBFloat16).requires_grad_();
  Tensor out = apply_rotary_emb(x, cos, sin);
  EXPECT_EQ(out.dtype(), kFloat32);
  EXPECT_TRUE(equal(out, apply_rotary_emb(x.detach().to(kFloat32), cos, sin)));
  out.sum().backward();
  EXPECT_EQ(x.grad().dtype(), kBFloat16);
  auto [c64, s64] = rope_cos_sin(8, 0, 4, 10000.0, kFloat64);
  Tensor x64 = uniform({2, 4, 8}, kFloat64, -1, 1, 4);
  EXPECT_EQ(apply_rotary_emb(x64, cos, sin).dtype(), kFloat64);
  EXPECT_TRUE(equal(apply_rotary_emb(x64, cos, sin), apply_rotary_emb(x64, cos.to(kFloat64), sin.to(kFloat64))));
}

TEST(Rope, RejectsBadInput) {
  expect_error([] { rope_cos_sin(7, 0, 4); }, {"rope_cos_sin", "head_dim", "7"});
  expect_error([] { rope_cos_sin(0, 0, 4); }, {"head_dim", "0"});
  expect_error([] { rope_cos_sin(8, 0, -1); }, {"length", "-1"});
  expect_error([] { rope_cos_sin(8, tensor({0.0, 1.0})); }, {"positions", "int64", "float32"});
  expect_error([] { rope_cos_sin(8, Tensor()); }, {"positions", "undefined"});
  expect_error([] { rope_cos_sin(8, 0, 4, -1.0); }, {"base", "-1"});
  expect_error([] { rope_cos_sin(8, 0, 4, 10000.0, kInt64); }, {"dtype", "int64"});
  const auto tables = rope_cos_sin(8, 0, 4);
  const Tensor &cos = std::get<0>(tables), &sin = std::get<1>(tables);  // clang 14 cannot capture bindings
  expect_error([&] { apply_rotary_emb(ones({2, 4, 6}), cos, sin); }, {"apply_rotary_emb", "[4, 8]", "[2, 4, 6]"});
  expect_error([&] { apply_rotary_emb(ones({2, 5, 8}), cos, sin); }, {"[4, 8]", "[2, 5, 8]"});
  expect_error([&] { apply_rotary_emb(ones({2, 4, 7}), cos, sin); }, {"even", "[2, 4, 7]"});
  expect_error([&] { apply_rotary_emb(ones({2, 4, 8}), cos.to(kInt64), sin); }, {"cos and sin", "floating-point", "int64"});
  expect_error([&] { apply_rotary_emb(ones({2, 4, 8}), cos, sin.narrow(0, 0, 2)); }, {"same shape", "[4, 8]", "[2, 8]"});
  expect_error([&] { apply_rotary_emb(ones({2, 4, 8}, kInt64), cos, sin); }, {"floating-point", "int64"});
  expect_error([&] { rotate_half(ones({3, 5})); }, {"rotate_half", "even", "[3, 5]"});
}

}  // namespace
