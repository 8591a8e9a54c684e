#pragma once
// TransformerBlock: a pre-norm decoder block (GPT-2 / LLaMA layout):
//   h = x + attn(norm1(x))        attention: any CausalSelfAttention (MHA, MQA, GQA, MLA)
//   y = h + ffn(norm2(h))         ffn: SwiGLU FeedForward without biases, w2(silu(w1 h) * w3 h) (LLaMA's names)
// with RMSNorm for both norms. forward(x, cache) passes the layer's cache to the attention (see
// CausalSelfAttention). Children, in this order: norm1, attn, norm2, ffn; the forward reaches them through
// the registry, so replace_module("attn", other_attention) swaps the attention (it must be a
// CausalSelfAttention) and any single-tensor module can replace a norm or the FFN.
#include <optional>

#include "graft/nn/modules/causal_self_attention.h"
#include "graft/nn/modules/multi_head_latent_attention.h"

namespace graft::nn {

enum class AttentionKind { MHA, MQA, GQA, MLA };
const char* attention_kind_name(AttentionKind kind);

/// Which attention a block uses and its sizes. MHA, MQA and GQA are GroupedQueryAttention with num_kv_heads =
/// num_heads, 1 and num_kv_heads; MLA is MultiHeadLatentAttention with the mla_* sizes.
struct AttentionConfig {
  AttentionKind kind = AttentionKind::MHA;
  int64_t d_model = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // GQA only
  bool rope = true;          // MHA/MQA/GQA; MLA always has its decoupled RoPE
  bool bias = false;
  int64_t max_positions = 2048;
  double rope_base = 10000.0;
  /// MLA only (see MultiHeadLatentAttentionOptions)
  int64_t kv_lora_rank = 0, q_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;
  std::optional<double> norm_eps = 1e-6;  // MLA's latent norms
  DType dtype = kFloat32;
};

std::shared_ptr<CausalSelfAttention> make_causal_attention(const AttentionConfig& config);

class TransformerBlock : public Module {
 public:
  static constexpr int64_t kDefaultFFNMultipleOf = 8;

  /// ffn_hidden = 0 picks the SwiGLU default, FeedForward::default_hidden(d_model, "swiglu", ffn_multiple_of):
  /// 2/3 of 4 * d_model rounded up to a multiple of ffn_multiple_of. The blocks default to multiple_of 8
  /// (d_model 64 gives 176), not FeedForward's 256 (LLaMA's, which would more than double small models' FFNs).
  TransformerBlock(std::shared_ptr<CausalSelfAttention> attention, int64_t ffn_hidden = 0,
                   std::optional<double> norm_eps = 1e-6, DType dtype = kFloat32,
                   int64_t ffn_multiple_of = kDefaultFFNMultipleOf);
  TransformerBlock(const AttentionConfig& attention, int64_t ffn_hidden = 0, std::optional<double> norm_eps = 1e-6,
                   int64_t ffn_multiple_of = kDefaultFFNMultipleOf);

  Tensor forward(const Tensor& x, LayerCache* cache);
  Tensor forward(const Tensor& x) override { return forward(x, nullptr); }
  std::unique_ptr<LayerCache> new_cache() const { return attn()->new_cache(); }

  std::shared_ptr<CausalSelfAttention> attn() const;
  ModulePtr norm1() const { return child("norm1"); }
  ModulePtr norm2() const { return child("norm2"); }
  ModulePtr ffn() const { return child("ffn"); }
};

}  // namespace graft::nn
