// nn::RotaryEmbedding: cached tables, position offsets for cached decoding, dtype handling, errors.
#include <gtest/gtest.h>

#include "llm_test_util.h"

using namespace graft;
using namespace graft::llm_test;
namespace F = graft::nn::functional;

namespace {

TEST(RotaryEmbedding, RotatesAtTheGivenOffset) {
  nn::RotaryEmbedding rope(8, 64);
  Tensor x = randn({2, 3, 5, 8});
  for (int64_t offset : {0, 1, 17, 59}) {
    auto [cos, sin] = F::rope_cos_sin(8, offset, 5);
    EXPECT_LT(max_abs_diff(rope.forward(x, offset), F::apply_rotary_emb(x, cos, sin)), 1e-7) << "offset " << offset;
  }
}

TEST(RotaryEmbedding, AChunkAtItsOffsetEqualsTheSameTokensOfTheWholeSequence) {
  nn::RotaryEmbedding rope(6, 32);
  Tensor x = randn({1, 2, 12, 6});
  Tensor whole = rope.forward(x);
  for (auto [start, len] : std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 1}, {4, 5}, {9, 3}})
    EXPECT_EQ(max_abs_diff(rope.forward(x.narrow(2, start, len), start), whole.narrow(2, start, len)), 0.0);
}

TEST(RotaryEmbedding, ScoresDependOnlyOnRelativePosition) {
  nn::RotaryEmbedding rope(8, 128, 10000.0, kFloat64);
  Tensor q = randn({1, 8}, dtype(kFloat64)), k = randn({1, 8}, dtype(kFloat64));
  auto score = [&](int64_t m, int64_t n) { return (rope.forward(q, m) * rope.forward(k, n)).sum().item<double>(); };
  EXPECT_NEAR(score(7, 3), score(57, 53), 1e-12);
  EXPECT_NEAR(score(3, 7), score(100, 104), 1e-12);
  EXPECT_GT(std::abs(score(7, 3) - score(3, 7)), 1e-6);
}

TEST(RotaryEmbedding, TablesAreNonPersistentBuffersExactInEachDtype) {
  auto module = std::make_shared<nn::RotaryEmbedding>(4, 16);  // to() walks modules through shared_from_this
  nn::RotaryEmbedding& rope = *module;
  EXPECT_TRUE(rope.state_dict().empty());
  auto buffers = rope.named_buffers();
  ASSERT_EQ(buffers.size(), 2u);
  EXPECT_EQ(buffers[0].first, "cos_cached");
  EXPECT_EQ(buffers[0].second.shape(), (Shape{16, 4}));
  rope.to(kFloat64);
  Tensor x = randn({3, 4}, dtype(kFloat64));
  auto [cos, sin] = F::rope_cos_sin(4, 5, 3, 10000.0, kFloat64);
  // Rounding float32 tables up to float64 would be off by ~1e-8; recomputed tables are exact.
  EXPECT_LT(max_abs_diff(rope.forward(x, 5), F::apply_rotary_emb(x, cos, sin)), 1e-15);
  EXPECT_EQ(rope.buffer("cos_cached").dtype(), kFloat64);
}

TEST(RotaryEmbedding, IsDifferentiable) {
  nn::RotaryEmbedding rope(4, 16, 10000.0, kFloat64);
  Tensor x = randn({2, 3, 4}, dtype(kFloat64).requires_grad());
  EXPECT_TRUE(autograd::gradcheck([&](const TensorList& in) { return rope.forward(in[0], 6); }, {x}));
}

TEST(RotaryEmbedding, RejectsMisuse) {
  nn::RotaryEmbedding rope(4, 10);
  expect_error([&] { rope.forward(randn({2, 3, 4}), 8); }, "positions 8 .. 10 exceed max_positions=10");
  expect_error([&] { rope.forward(randn({2, 3, 6}), 0); }, "expected an input of shape (..., T, 4)");
  expect_error([&] { rope.forward(randn({2, 3, 4}), -1); }, "offset and length must be non-negative");
  expect_error([] { nn::RotaryEmbedding bad(5); }, "head_dim must be positive and even, got 5");
  expect_error([] { nn::RotaryEmbedding bad(4, 0); }, "max_positions must be positive");
  expect_error([] { nn::RotaryEmbedding bad(4, 8, -1.0); }, "base must be positive and finite");
}

}  // namespace
