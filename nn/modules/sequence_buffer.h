#pragma once
// SequenceBuffer: a tensor of shape (B, ..., S, D) that grows along dim -2 as tokens are appended; the
// storage behind KVCache and LatentKVCache.
//
// Appends write into a preallocated buffer whose capacity doubles when it is full (amortised O(1) per
// token, no cat of the whole history per step); contents() is a view of the first S positions. Views
// returned earlier stay valid: later appends only write past their end, and growth or select() moves the
// data to a new buffer.
//
// Autograd: writing into a buffer records no history, so when grad mode is on and the appended values
// require grad (training or differentiating through cached decoding), the buffer instead keeps the
// contents as a graph tensor extended with cat, so gradients reach every cached step, as PyTorch's
// concatenating caches do. Decoding under NoGradGuard takes the preallocated path.
#include <string>

#include "graft/graph/tensor.h"

namespace graft::nn {

class SequenceBuffer {
 public:
  /// `owner` names the cache in error messages. The first allocation holds at least min_capacity positions.
  explicit SequenceBuffer(std::string owner, int64_t min_capacity = 16);

  /// Appends x (B, ..., T, D): every dim but -2 must match what is stored. Returns contents().
  Tensor append(const Tensor& x);
  /// The stored (B, ..., S, D), or an undefined tensor before the first append.
  Tensor contents() const;
  int64_t length() const { return length_; }
  int64_t capacity() const;
  size_t bytes() const;
  size_t capacity_bytes() const;
  /// Keeps batch rows `index` (int64, 1-D) in that order (dim 0).
  void select(const Tensor& index);
  void clear();

 private:
  void check_compatible(const Tensor& x) const;
  void reallocate(int64_t capacity);

  std::string owner_;
  int64_t min_capacity_;
  Tensor storage_;       // the buffer (B, ..., capacity, D), or the exact contents when tracked_
  int64_t length_ = 0;
  bool tracked_ = false;  // storage_ is a graph tensor built with cat (see above)
};

}  // namespace graft::nn
