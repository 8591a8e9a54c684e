#pragma once
// CausalSelfAttention: the interface shared by the decoder attention layers (GroupedQueryAttention,
// MultiQueryAttention, MultiHeadLatentAttention), so that a TransformerBlock can hold any of them and a
// language model can keep one cache per layer without knowing which.
//
// forward(x, cache) with x (B, T, d_model):
// - without a cache: causal self-attention over the T tokens, at positions 0 .. T-1;
// - with a cache holding P tokens: the T new tokens sit at positions P .. P+T-1; each attends to all P
//   cached tokens and, causally, to the new ones up to itself; the cache is extended by the T tokens.
// Both give the same outputs for the same tokens: a full pass equals a prefill followed by any split of the
// rest into chunks.
#include <memory>

#include "graft/nn/module.h"
#include "graft/nn/modules/layer_cache.h"

namespace graft::nn {

class CausalSelfAttention : public Module {
 public:
  using Module::Module;
  virtual Tensor forward(const Tensor& x, LayerCache* cache) = 0;
  Tensor forward(const Tensor& x) override { return forward(x, nullptr); }
  /// An empty cache of the kind this layer uses.
  virtual std::unique_ptr<LayerCache> new_cache() const = 0;
  virtual int64_t d_model() const = 0;
};

/// The keep-mask (bool, (T, P + T)) of T new queries after P cached keys: query i sees keys j <= P + i.
/// (scaled_dot_product_attention's is_causal is top-left aligned, which is only right for P = 0.)
Tensor causal_chunk_mask(int64_t new_tokens, int64_t cached_tokens);

namespace detail {
/// Checks x is (B, T, d_model) floating; `op` names the module in errors.
void check_attention_input(const char* op, const Tensor& x, int64_t d_model);
/// The cache as the type a layer needs, or an error naming both kinds.
template <class Cache>
Cache* cache_as(const char* op, LayerCache* cache) {
  if (cache == nullptr) return nullptr;
  auto* typed = dynamic_cast<Cache*>(cache);
  GRAFT_CHECK(typed != nullptr, "{}: expected a {} (from new_cache()), got a {}", op, Cache::kKind, cache->kind());
  return typed;
}
}  // namespace detail

}  // namespace graft::nn
