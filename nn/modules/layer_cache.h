#pragma once
// LayerCache: what one attention layer keeps between decoding steps (KVCache for multi-/grouped-/multi-query
// attention, LatentKVCache for multi-head latent attention). A decoder state holds one per layer.
#include <cstddef>
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::nn {

class LayerCache {
 public:
  virtual ~LayerCache() = default;
  /// The cache's class name, for error messages ("KVCache").
  virtual const char* kind() const = 0;
  /// Tokens stored per sequence (the position of the next token).
  virtual int64_t length() const = 0;
  /// Bytes of the stored elements (what the tokens so far need), and of the memory allocated for them
  /// (capacity grows ahead of the length).
  virtual size_t bytes() const = 0;
  virtual size_t capacity_bytes() const = 0;
  /// Keeps the batch rows listed in `index` (int64, 1-D, values in [0, batch)), in that order; rows may
  /// repeat, and the batch size becomes index's length (beam search reordering).
  virtual void select(const Tensor& index) = 0;
  /// Forgets every token (keeps nothing allocated).
  virtual void clear() = 0;
};

/// Checks the `index` argument of LayerCache::select (and of the buffers behind a cache) for a batch of
/// `batch` rows. @throws graft::Error naming `owner` when index is not a 1-D int64 tensor or holds a value
/// outside [0, batch).
void check_select_index(const char* owner, const Tensor& index, int64_t batch);

}  // namespace graft::nn
