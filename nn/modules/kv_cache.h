#pragma once
// KVCache: the keys and values of one attention layer's past tokens, for incremental decoding.
//
// Each step appends the new tokens' keys (B, Hkv, T, D) and values (B, Hkv, T, Dv) and gets back all keys
// and values so far, (B, Hkv, S, D) and (B, Hkv, S, Dv), as views of a preallocated buffer whose capacity
// doubles when full (see nn/modules/sequence_buffer.h, also for how it behaves under autograd). Keys are stored
// as given, i.e. already rotated by RoPE at their positions. bytes() counts the stored elements
// (2 * B * Hkv * S * D for D = Dv), capacity_bytes() the allocated buffers.
// Like transformers' DynamicCache for one layer; PyTorch itself has no KV cache.
#include <utility>

#include "graft/nn/modules/sequence_buffer.h"
#include "graft/nn/modules/layer_cache.h"

namespace graft::nn {

class KVCache : public LayerCache {
 public:
  /// The first allocation reserves room for at least `initial_capacity` tokens.
  explicit KVCache(int64_t initial_capacity = 16);

  /// Appends key (B, Hkv, T, D) and value (B, Hkv, T, Dv); returns (keys, values) of all S tokens so far.
  std::pair<Tensor, Tensor> update(const Tensor& key, const Tensor& value);
  Tensor keys() const { return keys_.contents(); }      // (B, Hkv, S, D), undefined while empty
  Tensor values() const { return values_.contents(); }  // (B, Hkv, S, Dv)
  /// Tokens the buffers can hold before they grow.
  int64_t capacity() const { return keys_.capacity(); }

  static constexpr const char* kKind = "KVCache";
  const char* kind() const override { return kKind; }
  int64_t length() const override { return keys_.length(); }
  size_t bytes() const override { return keys_.bytes() + values_.bytes(); }
  size_t capacity_bytes() const override { return keys_.capacity_bytes() + values_.capacity_bytes(); }
  void select(const Tensor& index) override;
  void clear() override;

 private:
  SequenceBuffer keys_, values_;
};

}  // namespace graft::nn
