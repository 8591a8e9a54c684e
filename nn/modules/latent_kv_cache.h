#pragma once
// LatentKVCache: the cache of MultiHeadLatentAttention (DeepSeek-V2). Per token it holds only the
// compressed latent c_kv (kv_lora_rank values, after kv_a_layernorm) and the decoupled RoPE key k_rope
// (qk_rope_head_dim values, already rotated at its position, shared by all heads): kv_lora_rank +
// qk_rope_head_dim elements per token, against 2 * num_heads * head_dim for a multi-head KVCache.
//
// The two are stored side by side as one (B, 1, S, kv_lora_rank + qk_rope_head_dim) tensor: with the
// up-projections absorbed into the query and output (see MultiHeadLatentAttention) this is the key of a
// single-head (multi-query) attention, and its first kv_lora_rank columns are the value, so decoding reads
// the cache without copying it. Growth and autograd as in KVCache (nn/modules/sequence_buffer.h).
#include "graft/nn/modules/sequence_buffer.h"
#include "graft/nn/modules/layer_cache.h"

namespace graft::nn {

class LatentKVCache : public LayerCache {
 public:
  explicit LatentKVCache(int64_t initial_capacity = 16);

  /// Appends latent (B, T, kv_lora_rank) and rope_key (B, T, qk_rope_head_dim); returns entries().
  Tensor update(const Tensor& latent, const Tensor& rope_key);
  /// All S tokens so far: (B, 1, S, kv_lora_rank + qk_rope_head_dim), undefined while empty.
  Tensor entries() const { return entries_.contents(); }
  Tensor latent() const;    // (B, S, kv_lora_rank)
  Tensor rope_key() const;  // (B, S, qk_rope_head_dim)
  int64_t kv_lora_rank() const { return kv_lora_rank_; }
  int64_t capacity() const { return entries_.capacity(); }

  static constexpr const char* kKind = "LatentKVCache";
  const char* kind() const override { return kKind; }
  int64_t length() const override { return entries_.length(); }
  size_t bytes() const override { return entries_.bytes(); }
  size_t capacity_bytes() const override { return entries_.capacity_bytes(); }
  void select(const Tensor& index) override;
  void clear() override;

 private:
  SequenceBuffer entries_;
  int64_t kv_lora_rank_ = -1;  // set by the first update
};

}  // namespace graft::nn
