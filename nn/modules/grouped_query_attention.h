#pragma once
// GroupedQueryAttention (Ainslie et al. 2023) and MultiQueryAttention (Shazeer 2019): causal self-attention
// whose num_heads query heads share num_kv_heads key/value heads (query heads [g * H/Hkv, (g+1) * H/Hkv)
// read key/value head g). num_kv_heads = num_heads is ordinary multi-head attention, num_kv_heads = 1 is
// multi-query attention. Optionally with rotary position embeddings on queries and keys, and a KVCache
// for incremental decoding (see CausalSelfAttention for the cache semantics).
//
// Parameters, with head_dim = d_model / num_heads (LLaMA / transformers' LlamaAttention names):
//   q_proj  (num_heads * head_dim, d_model)      k_proj, v_proj (num_kv_heads * head_dim, d_model)
//   o_proj  (d_model, num_heads * head_dim)      plus biases when bias = true
// The K/V heads are never repeated: scaled_dot_product_attention(enable_gqa) groups the query heads, and
// the cache stores only num_kv_heads heads, num_kv_heads / num_heads of multi-head attention's cache.
// The forward reaches its children through the registry: a projection swapped by replace_module (e.g. for a
// wrapped Linear) is the one that runs.
// No attention dropout (decoder LMs of this size train without it).
#include "graft/nn/modules/causal_self_attention.h"
#include "graft/nn/modules/kv_cache.h"
#include "graft/nn/modules/linear.h"
#include "graft/nn/modules/rotary_embedding.h"

namespace graft::nn {

class GroupedQueryAttention : public CausalSelfAttention {
 public:
  GroupedQueryAttention(int64_t d_model, int64_t num_heads, int64_t num_kv_heads, bool rope = true, bool bias = false,
                        int64_t max_positions = 2048, double rope_base = 10000.0, DType dtype = kFloat32);

  using CausalSelfAttention::forward;
  /// x (B, T, d_model) -> (B, T, d_model). `cache` must be a KVCache (or null).
  Tensor forward(const Tensor& x, LayerCache* cache) override;
  std::unique_ptr<LayerCache> new_cache() const override { return std::make_unique<KVCache>(); }
  int64_t d_model() const override { return d_model_; }
  std::string extra_repr() const override;

  /// The registered projections (errors if one was replaced by something that is not a Linear).
  std::shared_ptr<Linear> q_proj() const;
  std::shared_ptr<Linear> k_proj() const;
  std::shared_ptr<Linear> v_proj() const;
  std::shared_ptr<Linear> o_proj() const;
  std::shared_ptr<RotaryEmbedding> rotary() const;  // null without rope
  bool has_rope() const { return rope_; }

  int64_t num_heads, num_kv_heads, head_dim;

 protected:
  GroupedQueryAttention(std::string type_name, int64_t d_model, int64_t num_heads, int64_t num_kv_heads, bool rope,
                        bool bias, int64_t max_positions, double rope_base, DType dtype);

 private:
  int64_t d_model_;
  bool rope_;
};

/// Grouped-query attention with a single key/value head shared by all query heads.
class MultiQueryAttention : public GroupedQueryAttention {
 public:
  MultiQueryAttention(int64_t d_model, int64_t num_heads, bool rope = true, bool bias = false,
                      int64_t max_positions = 2048, double rope_base = 10000.0, DType dtype = kFloat32);
};

}  // namespace graft::nn
