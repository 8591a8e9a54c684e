#include "graft/ops/detail/autocast.h"

#include "graft/graph/grad_mode.h"
#include "graft/ops/shape.h"

namespace graft::detail {

namespace {

// PyTorch's cached_cast: a leaf that requires grad (a parameter) is cast once per outermost scope, as long as
// it is not written in place meanwhile; the cast keeps its history, so gradients still reach the leaf.
Tensor cached_cast(const Tensor& t, DType dtype) {
  const bool cacheable = autocast_cache_enabled() && t.is_leaf() && t.requires_grad() && GradMode::is_enabled();
  if (!cacheable) return to(t, dtype);
  auto& cache = autocast_cache();
  auto it = cache.find(t.impl());
  // A live source is this parameter (a dead one's address may have been reused by `t`).
  if (it != cache.end() && !it->second.source.expired() && it->second.version == t.version() &&
      it->second.cast.dtype() == dtype)
    return it->second.cast;
  Tensor cast = to(t, dtype);
  cache[t.impl()] = AutocastCacheEntry{t.impl_ptr(), t.version(), cast};
  return cast;
}

}  // namespace

bool autocast_wants_lower(std::initializer_list<Tensor> inputs) {
  if (!is_autocast_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.dtype() == kFloat32) return true;
  return false;
}

bool autocast_wants_float32(std::initializer_list<Tensor> inputs) {
  if (!is_autocast_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && is_reduced_floating(t.dtype())) return true;
  return false;
}

Tensor autocast_lower(const Tensor& t) {
  if (!is_autocast_enabled() || !t.defined() || t.dtype() != kFloat32) return t;
  return cached_cast(t, autocast_dtype());
}

Tensor autocast_float32(const Tensor& t) {
  if (!is_autocast_enabled() || !t.defined() || !is_reduced_floating(t.dtype())) return t;
  return to(t, kFloat32);
}

}  // namespace graft::detail
