#include "graft/nn/modules/latent_kv_cache.h"

#include <cstdint>

#include "graft/ops/shape.h"

namespace graft::nn {

LatentKVCache::LatentKVCache(int64_t initial_capacity) : entries_("LatentKVCache", initial_capacity) {
  GRAFT_CHECK(initial_capacity >= 0, "LatentKVCache: initial_capacity must be non-negative, got {}",
              initial_capacity);
}

Tensor LatentKVCache::update(const Tensor& latent, const Tensor& rope_key) {
  GRAFT_CHECK(latent.defined() && rope_key.defined(), "LatentKVCache::update: latent and rope_key must be defined");
  GRAFT_CHECK(latent.dim() == 3 && rope_key.dim() == 3 && latent.size(0) == rope_key.size(0) &&
                  latent.size(1) == rope_key.size(1),
              "LatentKVCache::update: expected latent (B, T, kv_lora_rank) and rope_key (B, T, qk_rope_head_dim), got "
              "{} and {}",
              shape_str(latent.shape()), shape_str(rope_key.shape()));
  GRAFT_CHECK(latent.dtype() == rope_key.dtype(), "LatentKVCache::update: latent is {} but rope_key is {}",
              dtype_name(latent.dtype()), dtype_name(rope_key.dtype()));
  GRAFT_CHECK(kv_lora_rank_ < 0 || latent.size(2) == kv_lora_rank_,
              "LatentKVCache::update: the cache holds latents of size {}, got {}", kv_lora_rank_, latent.size(2));
  // Only the T new tokens are concatenated; the history is written in place.
  Tensor out = entries_.append(cat({latent, rope_key}, -1).unsqueeze(1));
  kv_lora_rank_ = latent.size(2);
  return out;
}

Tensor LatentKVCache::latent() const {
  Tensor e = entries();
  return e.defined() ? e.squeeze(1).narrow(-1, 0, kv_lora_rank_) : e;
}

Tensor LatentKVCache::rope_key() const {
  Tensor e = entries();
  return e.defined() ? e.squeeze(1).narrow(-1, kv_lora_rank_, e.size(-1) - kv_lora_rank_) : e;
}

void LatentKVCache::select(const Tensor& index) {
  check_select_index(kKind, index, entries().defined() ? entries().size(0) : INT64_MAX);
  entries_.select(index);
}

void LatentKVCache::clear() {
  entries_.clear();
  kv_lora_rank_ = -1;
}

}  // namespace graft::nn
