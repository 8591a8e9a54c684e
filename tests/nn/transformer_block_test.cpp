// nn::TransformerBlock: the pre-norm residual structure, every attention kind, gradients, names.
#include <gtest/gtest.h>

#include "llm_test_util.h"

using namespace graft;
using namespace graft::llm_test;
namespace F = graft::nn::functional;

namespace {

nn::AttentionConfig attention(nn::AttentionKind kind, DType dt = kFloat32) {
  nn::AttentionConfig c;
  c.kind = kind;
  c.d_model = 16;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.kv_lora_rank = 8;
  c.qk_nope_head_dim = 4;
  c.qk_rope_head_dim = 2;
  c.v_head_dim = 4;
  c.dtype = dt;
  return c;
}

TEST(TransformerBlock, IsPreNormWithResiduals) {
  manual_seed(30);
  nn::TransformerBlock block(attention(nn::AttentionKind::GQA, kFloat64), 24);
  Tensor x = randn({2, 5, 16}, dtype(kFloat64));
  auto rms = [](const Tensor& t, const Tensor& w) { return t * ((t * t).mean({-1}, true) + 1e-6).rsqrt() * w; };
  auto ffn_w = [&](const char* name) { return block.ffn()->child(name)->parameter("weight"); };
  Tensor h = x + block.attn()->forward(rms(x, block.norm1()->parameter("weight")));
  Tensor n2 = rms(h, block.norm2()->parameter("weight"));
  Tensor ffn = F::linear(F::silu(F::linear(n2, ffn_w("w1"))) * F::linear(n2, ffn_w("w3")), ffn_w("w2"));
  EXPECT_LT(max_abs_diff(block.forward(x), h + ffn), 1e-12);
}

TEST(TransformerBlock, BuildsEveryAttentionKind) {
  using K = nn::AttentionKind;
  nn::TransformerBlock mha(attention(K::MHA)), mqa(attention(K::MQA)), gqa(attention(K::GQA)), mla(attention(K::MLA));
  EXPECT_EQ(mha.attn()->type_name(), "GroupedQueryAttention");
  EXPECT_EQ(std::dynamic_pointer_cast<nn::GroupedQueryAttention>(mha.attn())->num_kv_heads, 4);
  EXPECT_EQ(mqa.attn()->type_name(), "MultiQueryAttention");
  EXPECT_EQ(std::dynamic_pointer_cast<nn::GroupedQueryAttention>(gqa.attn())->num_kv_heads, 2);
  EXPECT_EQ(mla.attn()->type_name(), "MultiHeadLatentAttention");
  EXPECT_STREQ(mla.new_cache()->kind(), "LatentKVCache");
  EXPECT_STREQ(gqa.new_cache()->kind(), "KVCache");
  Tensor x = randn({1, 3, 16});
  for (nn::TransformerBlock* b : {&mha, &mqa, &gqa, &mla}) EXPECT_EQ(b->forward(x).shape(), x.shape());
}

TEST(TransformerBlock, DefaultSwiGLUHiddenSize) {
  // The blocks round 2/3 of 4 * d_model up to a multiple of 8; LLaMA (and FeedForward's default) to 256.
  EXPECT_EQ(nn::TransformerBlock::kDefaultFFNMultipleOf, 8);
  EXPECT_EQ(nn::FeedForward::default_hidden(64, "swiglu", 8), 176);       // int(8 * 64 / 3) = 170 -> 176
  EXPECT_EQ(nn::FeedForward::default_hidden(4096, "swiglu", 256), 11008);  // LLaMA-7B: 10922 -> 11008
  nn::TransformerBlock block(attention(nn::AttentionKind::MHA));
  auto ffn = std::dynamic_pointer_cast<nn::FeedForward>(block.ffn());
  ASSERT_NE(ffn, nullptr);
  EXPECT_EQ(ffn->kind, "swiglu");
  EXPECT_EQ(ffn->hidden, 48);  // int(128 / 3) = 42 -> 48
  EXPECT_EQ(ffn->child("w1")->parameter("weight").shape(), (Shape{48, 16}));
  EXPECT_EQ(ffn->child("w2")->parameter("weight").shape(), (Shape{16, 48}));
  EXPECT_EQ(ffn->child("w3")->parameter("weight").shape(), (Shape{48, 16}));
  // An explicit multiple_of (LLaMA's 256) and an explicit hidden size, which wins over it.
  nn::TransformerBlock llama(attention(nn::AttentionKind::MHA), 0, 1e-6, 256);
  EXPECT_EQ(std::dynamic_pointer_cast<nn::FeedForward>(llama.ffn())->hidden, 256);
  nn::TransformerBlock explicit_hidden(attention(nn::AttentionKind::MHA), 40, 1e-6, 256);
  EXPECT_EQ(std::dynamic_pointer_cast<nn::FeedForward>(explicit_hidden.ffn())->hidden, 40);
}

TEST(TransformerBlock, GradcheckWithEachAttention) {
  manual_seed(31);
  for (auto kind : {nn::AttentionKind::GQA, nn::AttentionKind::MLA}) {
    auto c = attention(kind, kFloat64);
    c.d_model = 8, c.num_heads = 2, c.num_kv_heads = 1, c.kv_lora_rank = 4, c.qk_nope_head_dim = 2, c.v_head_dim = 2;
    nn::TransformerBlock block(c, 6);
    Tensor x = randn({1, 3, 8}, dtype(kFloat64).requires_grad());
    TensorList inputs{x, block.norm1()->parameter("weight"), block.norm2()->parameter("weight"),
                      block.ffn()->child("w1")->parameter("weight"),
                      block.ffn()->child("w2")->parameter("weight"),
                      block.attn()->named_parameters().front().second};
    EXPECT_TRUE(autograd::gradcheck([&](const TensorList&) { return block.forward(x); }, inputs))
        << nn::attention_kind_name(kind);
  }
}

TEST(TransformerBlock, StateDictNames) {
  nn::TransformerBlock block(attention(nn::AttentionKind::MQA));
  EXPECT_EQ(names(block.state_dict()),
            (std::vector<std::string>{"norm1.weight", "attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight",
                                      "attn.o_proj.weight", "norm2.weight", "ffn.w1.weight", "ffn.w2.weight",
                                      "ffn.w3.weight"}));
}

TEST(TransformerBlock, RejectsMisuse) {
  expect_error([] { nn::TransformerBlock b(std::shared_ptr<nn::CausalSelfAttention>(), 8); }, "the attention module is null");
  expect_error([] { nn::TransformerBlock b(attention(nn::AttentionKind::MHA), -1); }, "ffn_hidden must be non-negative");
  expect_error([] { nn::TransformerBlock b(attention(nn::AttentionKind::MHA), 0, 1e-6, 0); },
               "ffn_multiple_of must be positive");
  auto c = attention(nn::AttentionKind::MLA);
  c.kv_lora_rank = 0;
  expect_error([&] { nn::TransformerBlock b(c); }, "kv_lora_rank, qk_nope_head_dim and v_head_dim must be positive");
}

}  // namespace
