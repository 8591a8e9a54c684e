#pragma once
// MultiHeadLatentAttention: the attention of DeepSeek-V2 (DeepSeek-AI 2024, "DeepSeek-V2: A Strong,
// Economical, and Efficient Mixture-of-Experts Language Model", section 2.1), with the parameter names of
// its transformers implementation (DeepseekV2Attention).
//
// Dimensions (paper's symbols in brackets): H = num_heads, d_c = kv_lora_rank, d'_c = q_lora_rank,
// d_h = qk_nope_head_dim, d_h^R = qk_rope_head_dim, d_v = v_head_dim. For a token x (d_model):
//   keys/values: [c_kv ; k_rope] = kv_a_proj_with_mqa(x)        [W^DKV ; W^KR]: d_model -> d_c + d_h^R
//                c_kv = kv_a_layernorm(c_kv)                    the latent, d_c values
//                k_rope = RoPE(k_rope)                          ONE rope key of d_h^R values, shared by all heads
//                [k_nope_h ; v_h] = kv_b_proj(c_kv) per head    [W^UK ; W^UV]: d_c -> H (d_h + d_v)
//   queries:     q = q_proj(x)                                  (q_lora_rank = 0), or compressed:
//                q = q_b_proj(q_a_layernorm(q_a_proj(x)))       [W^DQ: d_model -> d'_c, W^UQ ; W^QR]
//                [q_nope_h ; q_rope_h] = q per head, q_rope_h = RoPE(q_rope_h)   (d_h + d_h^R per head)
//   attention:   head h scores q_nope_h . k_nope_h + q_rope_h . k_rope, scaled by 1/sqrt(d_h + d_h^R);
//                outputs (H d_v) -> o_proj -> d_model.
// The cache (LatentKVCache) holds only c_kv and k_rope: d_c + d_h^R values per token and layer.
//
// Two equal ways to compute it (and the tests check they agree):
// - without a cache (training, full sequences): k_nope and v are up-projected for every token, and
//   attention runs per head over (d_h + d_h^R)-dim queries and keys;
// - with a cache (decoding): the up-projections are absorbed (paper, section 2.1.3): the query becomes
//   [q_nope_h W^UK_h ; q_rope_h] (d_c + d_h^R) and attends to the cached [c_kv ; k_rope] as ONE key/value
//   head (multi-query attention in latent space), and the latent output is mapped by W^UV_h to d_v. The
//   cache is never up-projected, so a step costs O(S (d_c + d_h^R)) per head instead of O(S d_c H (d_h+d_v)).
//
// Differences from DeepSeek-V2: RoPE uses the rotate-half convention on q_rope/k_rope as produced (the
// released weights are interleaved and transformers de-interleaves them first); no YaRN scaling of the
// softmax scale or the RoPE frequencies; kv_a_layernorm / q_a_layernorm use norm_eps.
#include <optional>

#include "graft/nn/modules/causal_self_attention.h"
#include "graft/nn/modules/latent_kv_cache.h"
#include "graft/nn/modules/linear.h"
#include "graft/nn/modules/rotary_embedding.h"

namespace graft::nn {

struct MultiHeadLatentAttentionOptions {
  int64_t d_model = 0;
  int64_t num_heads = 0;
  int64_t kv_lora_rank = 0;      // d_c
  int64_t qk_nope_head_dim = 0;  // d_h
  int64_t qk_rope_head_dim = 0;  // d_h^R (even)
  int64_t v_head_dim = 0;        // d_v
  int64_t q_lora_rank = 0;       // d'_c; 0 projects queries directly with q_proj
  bool bias = false;             // biases of q_a_proj, kv_a_proj_with_mqa and o_proj (config.attention_bias)
  int64_t max_positions = 2048;
  double rope_base = 10000.0;
  std::optional<double> norm_eps = 1e-6;
  DType dtype = kFloat32;
};

class MultiHeadLatentAttention : public CausalSelfAttention {
 public:
  explicit MultiHeadLatentAttention(const MultiHeadLatentAttentionOptions& options);

  using CausalSelfAttention::forward;
  /// x (B, T, d_model) -> (B, T, d_model). `cache` must be a LatentKVCache (or null).
  Tensor forward(const Tensor& x, LayerCache* cache) override;
  std::unique_ptr<LayerCache> new_cache() const override { return std::make_unique<LatentKVCache>(); }
  int64_t d_model() const override { return options.d_model; }
  std::string extra_repr() const override;

  /// Per-head views of kv_b_proj.weight: W^UK (H, d_h, d_c) and W^UV (H, d_v, d_c).
  Tensor w_uk() const;
  Tensor w_uv() const;

  const MultiHeadLatentAttentionOptions options;
  /// Children (registered in this order): q_proj, or q_a_proj, q_a_layernorm (RMSNorm) and q_b_proj;
  /// kv_a_proj_with_mqa, kv_a_layernorm (RMSNorm), kv_b_proj, o_proj (Linear) and rotary. The forward reaches
  /// them through the registry (see Module::replace_module); the cached path needs kv_b_proj to be a Linear.
  std::shared_ptr<Linear> kv_b_proj() const;
  std::shared_ptr<RotaryEmbedding> rotary() const;

 private:
  Tensor queries(const Tensor& x);
};

}  // namespace graft::nn
