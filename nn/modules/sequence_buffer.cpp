#include "graft/nn/modules/sequence_buffer.h"

#include <algorithm>
#include <cstdint>

#include "graft/graph/factory.h"
#include "graft/graph/grad_mode.h"
#include "graft/nn/modules/layer_cache.h"
#include "graft/ops/indexing.h"
#include "graft/ops/shape.h"

namespace graft::nn {

namespace {

Shape with_length(const Shape& shape, int64_t length) {
  Shape s = shape;
  s[s.size() - 2] = length;
  return s;
}

}  // namespace

SequenceBuffer::SequenceBuffer(std::string owner, int64_t min_capacity)
    : owner_(std::move(owner)), min_capacity_(std::max<int64_t>(min_capacity, 1)) {}

void SequenceBuffer::check_compatible(const Tensor& x) const {
  GRAFT_CHECK(x.defined() && x.dim() >= 2, "{}: expected a tensor of at least 2 dims (..., T, D), got {}", owner_,
              x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  GRAFT_CHECK(is_floating(x.dtype()), "{}: expected floating-point values, got {}", owner_, dtype_name(x.dtype()));
  if (!storage_.defined()) return;
  GRAFT_CHECK(x.dtype() == storage_.dtype(), "{}: the cache holds {} values, cannot append {}", owner_,
              dtype_name(storage_.dtype()), dtype_name(x.dtype()));
  GRAFT_CHECK(x.dim() == storage_.dim() && with_length(x.shape(), 0) == with_length(storage_.shape(), 0),
              "{}: cannot append a tensor of shape {} to a cache of shape {} (only dim -2, the sequence, may differ)",
              owner_, shape_str(x.shape()), shape_str(with_length(storage_.shape(), length_)));
}

Tensor SequenceBuffer::contents() const {
  if (!storage_.defined() || tracked_) return storage_;
  return storage_.narrow(-2, 0, length_);
}

int64_t SequenceBuffer::capacity() const {
  if (!storage_.defined()) return 0;
  return storage_.size(-2);
}

size_t SequenceBuffer::bytes() const {
  if (!storage_.defined() || storage_.size(-2) == 0) return 0;
  return static_cast<size_t>(storage_.numel() / storage_.size(-2) * length_) * storage_.element_size();
}

size_t SequenceBuffer::capacity_bytes() const {
  return storage_.defined() ? static_cast<size_t>(storage_.numel()) * storage_.element_size() : 0;
}

void SequenceBuffer::reallocate(int64_t capacity) {
  Tensor fresh = empty(with_length(storage_.shape(), capacity), dtype(storage_.dtype()));
  if (length_ > 0) {
    NoGradGuard no_grad;
    fresh.narrow(-2, 0, length_).copy_(contents());
  }
  storage_ = fresh;
  tracked_ = false;
}

Tensor SequenceBuffer::append(const Tensor& x) {
  check_compatible(x);
  const int64_t T = x.size(-2);
  const bool record = GradMode::is_enabled() && (x.requires_grad() || (tracked_ && storage_.requires_grad()));
  if (record) {
    storage_ = length_ > 0 ? cat({contents(), x}, x.dim() - 2) : x;
    tracked_ = true;
    length_ += T;
    return storage_;
  }
  const int64_t needed = length_ + T;
  if (!storage_.defined()) {
    storage_ = empty(with_length(x.shape(), std::max(needed, min_capacity_)), dtype(x.dtype()));
  } else if (tracked_ || needed > capacity()) {
    reallocate(std::max({needed, 2 * capacity(), min_capacity_}));
  }
  if (T > 0) {
    NoGradGuard no_grad;
    storage_.narrow(-2, length_, T).copy_(x);
  }
  length_ = needed;
  return contents();
}

void SequenceBuffer::select(const Tensor& index) {
  // Nothing stored yet: there is no batch to check the index against, and nothing to reorder.
  check_select_index(owner_.c_str(), index, storage_.defined() ? storage_.size(0) : INT64_MAX);
  if (!storage_.defined()) return;
  if (tracked_) {
    storage_ = index_select(storage_, 0, index);
    return;
  }
  // One copy of the stored rows into a buffer of the same capacity.
  Shape shape = storage_.shape();
  shape[0] = index.size(0);
  Tensor fresh = empty(shape, dtype(storage_.dtype()));
  const std::vector<int64_t> rows = index.to_vector<int64_t>();
  NoGradGuard no_grad;
  for (size_t r = 0; r < rows.size(); ++r)
    fresh.select(0, static_cast<int64_t>(r))
        .narrow(-2, 0, length_)
        .copy_(storage_.select(0, rows[r]).narrow(-2, 0, length_));
  storage_ = fresh;
}

void SequenceBuffer::clear() {
  storage_ = Tensor();
  length_ = 0;
  tracked_ = false;
}

}  // namespace graft::nn
