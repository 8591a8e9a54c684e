// LatentQueryAttention: the two attention steps through learned latent slots, padding, invariances,
// gradients, names, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "llm_test_util.h"

using namespace graft;
using namespace graft::llm_test;
namespace F = graft::nn::functional;

namespace {

// softmax(q k^T / sqrt(hd)) v per head, written out.
Tensor heads_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H, const Tensor& keep = {}) {
  const int64_t hd = q.size(-1) / H;
  std::vector<Tensor> outs;
  for (int64_t h = 0; h < H; ++h) {
    Tensor qh = q.narrow(-1, h * hd, hd), kh = k.narrow(-1, h * hd, hd), vh = v.narrow(-1, h * hd, hd);
    Tensor s = matmul(qh, kh.transpose(-2, -1)) / std::sqrt(static_cast<double>(hd));
    if (keep.defined()) s = masked_fill(s, logical_not(keep), -kInf);
    outs.push_back(matmul(F::softmax(s, -1), vh));
  }
  return cat(outs, -1);
}

TEST(LatentQueryAttention, QueriesAttendToSlotsThatLatentsReadFromTheContext) {
  manual_seed(20);
  nn::LatentQueryAttention lqa(12, 3, 4, /*bias=*/true, kFloat64);
  Tensor x = randn({2, 5, 12}, dtype(kFloat64)), ctx = randn({2, 9, 12}, dtype(kFloat64));
  Tensor latent_q = lqa.child("latent_q_proj")->forward(lqa.latents);  // (4, 12), shared by the batch
  Tensor slots = heads_attention(latent_q.unsqueeze(0).expand({2, 4, 12}), lqa.child("k_proj")->forward(ctx),
                                 lqa.child("v_proj")->forward(ctx), 3);
  Tensor expected = lqa.child("o_proj")->forward(heads_attention(lqa.child("q_proj")->forward(x), lqa.child("slot_k_proj")->forward(slots),
                                                        lqa.child("slot_v_proj")->forward(slots), 3));
  EXPECT_LT(max_abs_diff(lqa.compress(ctx), slots), 1e-12);
  EXPECT_LT(max_abs_diff(lqa.forward(x, ctx), expected), 1e-12);
  EXPECT_EQ(max_abs_diff(lqa.attend(x, lqa.compress(ctx)), lqa.forward(x, ctx)), 0.0);
  EXPECT_EQ(max_abs_diff(lqa.forward(x), lqa.forward(x, x)), 0.0);
}

TEST(LatentQueryAttention, CompressesAnyContextLengthToLatentLenSlots) {
  nn::LatentQueryAttention lqa(8, 2, 3);
  for (int64_t S : {1, 4, 50}) EXPECT_EQ(lqa.compress(randn({2, S, 8})).shape(), (Shape{2, 3, 8}));
  EXPECT_EQ(lqa.forward(randn({2, 7, 8}), randn({2, 50, 8})).shape(), (Shape{2, 7, 8}));
}

TEST(LatentQueryAttention, IgnoresTheOrderOfContextTokens) {
  // No positions: the slots are a set function of the context.
  nn::LatentQueryAttention lqa(8, 2, 3);
  Tensor x = randn({1, 4, 8}), ctx = randn({1, 6, 8});
  Tensor shuffled = index_select(ctx, 1, tensor(std::vector<int64_t>{3, 0, 5, 1, 4, 2}, {6}, dtype(kInt64)));
  EXPECT_LT(max_abs_diff(lqa.forward(x, ctx), lqa.forward(x, shuffled)), 1e-6);
}

TEST(LatentQueryAttention, PaddingTakesNoPart) {
  nn::LatentQueryAttention lqa(8, 2, 3);
  Tensor x = randn({2, 4, 8}), ctx = randn({2, 6, 8});
  std::vector<bool> pad(12, false);
  pad[4] = pad[5] = true;  // the last two tokens of the first sequence are padding
  Tensor mask = tensor(pad, {2, 6});
  Tensor out = lqa.forward(x, ctx, mask);
  Tensor ctx2 = ctx.clone();
  {
    NoGradGuard no_grad;
    ctx2.narrow(0, 0, 1).narrow(1, 4, 2).copy_(randn({1, 2, 8}) * 100.0);
  }
  EXPECT_EQ(max_abs_diff(out, lqa.forward(x, ctx2, mask)), 0.0);
  EXPECT_LT(max_abs_diff(out.narrow(0, 0, 1), lqa.forward(x.narrow(0, 0, 1), ctx.narrow(0, 0, 1).narrow(1, 0, 4))),
            1e-6);
}

TEST(LatentQueryAttention, Gradcheck) {
  manual_seed(21);
  nn::LatentQueryAttention lqa(4, 2, 2, true, kFloat64);
  Tensor x = randn({2, 3, 4}, dtype(kFloat64).requires_grad()), ctx = randn({2, 5, 4}, dtype(kFloat64).requires_grad());
  TensorList inputs{x, ctx, lqa.latents, lqa.child("k_proj")->parameter("weight"), lqa.child("slot_v_proj")->parameter("bias"), lqa.child("o_proj")->parameter("weight")};
  EXPECT_TRUE(autograd::gradcheck([&](const TensorList&) { return lqa.forward(x, ctx); }, inputs));
}

TEST(LatentQueryAttention, ParameterNames) {
  nn::LatentQueryAttention lqa(8, 2, 3);
  EXPECT_EQ(names(lqa.state_dict()),
            (std::vector<std::string>{"latents", "latent_q_proj.weight", "k_proj.weight", "v_proj.weight",
                                      "q_proj.weight", "slot_k_proj.weight", "slot_v_proj.weight", "o_proj.weight"}));
  EXPECT_EQ(lqa.latents.shape(), (Shape{3, 8}));
  for (double v : lqa.latents.to_vector<double>()) ASSERT_LE(std::abs(v), 0.04);
}

TEST(LatentQueryAttention, RejectsMisuse) {
  expect_error([] { nn::LatentQueryAttention a(8, 3, 2); }, "d_model (8) must be a positive multiple of num_heads (3)");
  expect_error([] { nn::LatentQueryAttention a(8, 2, 0); }, "latent_len must be positive");
  nn::LatentQueryAttention lqa(8, 2, 3);
  expect_error([&] { lqa.forward(randn({2, 4, 8}), randn({3, 4, 8})); }, "query has batch 2 but context has batch 3");
  expect_error([&] { lqa.forward(randn({2, 4, 6})); }, "expected query of shape (B, L, d_model=8)");
  expect_error([&] { lqa.forward(randn({2, 4, 8}), randn({2, 5, 8}), ones({2, 4}, dtype(kBool))); },
               "key_padding_mask must be a bool tensor of shape (B, S) = [2, 5]");
}

}  // namespace
