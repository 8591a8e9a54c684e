#include "graft/nn/modules/transformer_block.h"

#include "graft/nn/modules/feed_forward.h"
#include "graft/nn/modules/grouped_query_attention.h"
#include "graft/nn/modules/normalization.h"
#include "graft/ops/operators.h"

namespace graft::nn {

const char* attention_kind_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::MHA: return "MHA";
    case AttentionKind::MQA: return "MQA";
    case AttentionKind::GQA: return "GQA";
    case AttentionKind::MLA: return "MLA";
  }
  return "?";
}

std::shared_ptr<CausalSelfAttention> make_causal_attention(const AttentionConfig& c) {
  switch (c.kind) {
    case AttentionKind::MHA:
      return std::make_shared<GroupedQueryAttention>(c.d_model, c.num_heads, c.num_heads, c.rope, c.bias,
                                                     c.max_positions, c.rope_base, c.dtype);
    case AttentionKind::MQA:
      return std::make_shared<MultiQueryAttention>(c.d_model, c.num_heads, c.rope, c.bias, c.max_positions,
                                                   c.rope_base, c.dtype);
    case AttentionKind::GQA:
      return std::make_shared<GroupedQueryAttention>(c.d_model, c.num_heads, c.num_kv_heads, c.rope, c.bias,
                                                     c.max_positions, c.rope_base, c.dtype);
    case AttentionKind::MLA:
      return std::make_shared<MultiHeadLatentAttention>(MultiHeadLatentAttentionOptions{
          .d_model = c.d_model,
          .num_heads = c.num_heads,
          .kv_lora_rank = c.kv_lora_rank,
          .qk_nope_head_dim = c.qk_nope_head_dim,
          .qk_rope_head_dim = c.qk_rope_head_dim,
          .v_head_dim = c.v_head_dim,
          .q_lora_rank = c.q_lora_rank,
          .bias = c.bias,
          .max_positions = c.max_positions,
          .rope_base = c.rope_base,
          .norm_eps = c.norm_eps,
          .dtype = c.dtype,
      });
  }
  GRAFT_FAIL("make_causal_attention: unknown attention kind {}", static_cast<int>(c.kind));
}

TransformerBlock::TransformerBlock(std::shared_ptr<CausalSelfAttention> attention, int64_t ffn_hidden,
                                   std::optional<double> norm_eps, DType dtype, int64_t ffn_multiple_of)
    : Module("TransformerBlock") {
  GRAFT_CHECK(attention != nullptr, "TransformerBlock: the attention module is null");
  GRAFT_CHECK(ffn_hidden >= 0, "TransformerBlock: ffn_hidden must be non-negative (0 = default), got {}", ffn_hidden);
  GRAFT_CHECK(ffn_multiple_of > 0, "TransformerBlock: ffn_multiple_of must be positive, got {}", ffn_multiple_of);
  const int64_t d = attention->d_model();
  const int64_t hidden = ffn_hidden > 0 ? ffn_hidden : FeedForward::default_hidden(d, "swiglu", ffn_multiple_of);
  register_module("norm1", std::make_shared<RMSNorm>(IntList{d}, norm_eps, true, dtype));
  register_module("attn", attention);
  register_module("norm2", std::make_shared<RMSNorm>(IntList{d}, norm_eps, true, dtype));
  register_module("ffn", std::make_shared<FeedForward>(d, hidden, "swiglu", /*bias=*/false, /*dropout=*/0.0,
                                                       ffn_multiple_of, dtype));
}

TransformerBlock::TransformerBlock(const AttentionConfig& attention, int64_t ffn_hidden, std::optional<double> norm_eps,
                                   int64_t ffn_multiple_of)
    : TransformerBlock(make_causal_attention(attention), ffn_hidden, norm_eps, attention.dtype, ffn_multiple_of) {}

std::shared_ptr<CausalSelfAttention> TransformerBlock::attn() const {
  return child_as<CausalSelfAttention>("attn").ptr();
}

Tensor TransformerBlock::forward(const Tensor& x, LayerCache* cache) {
  Tensor h = x + call(*attn(), (*norm1())(x), cache);
  return h + (*ffn())((*norm2())(h));
}

}  // namespace graft::nn
