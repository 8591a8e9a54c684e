#include "graft/nn/modules/kv_cache.h"

#include <cstdint>

namespace graft::nn {

KVCache::KVCache(int64_t initial_capacity)
    : keys_("KVCache (keys)", initial_capacity), values_("KVCache (values)", initial_capacity) {
  GRAFT_CHECK(initial_capacity >= 0, "KVCache: initial_capacity must be non-negative, got {}", initial_capacity);
}

std::pair<Tensor, Tensor> KVCache::update(const Tensor& key, const Tensor& value) {
  GRAFT_CHECK(key.defined() && value.defined(), "KVCache::update: key and value must be defined");
  GRAFT_CHECK(key.dim() == 4 && value.dim() == 4,
              "KVCache::update: expected key and value of shape (B, Hkv, T, D), got {} and {}", shape_str(key.shape()),
              shape_str(value.shape()));
  GRAFT_CHECK(key.size(0) == value.size(0) && key.size(1) == value.size(1) && key.size(2) == value.size(2),
              "KVCache::update: key {} and value {} must agree in batch, heads and tokens (dims 0-2)",
              shape_str(key.shape()), shape_str(value.shape()));
  GRAFT_CHECK(key.dtype() == value.dtype(), "KVCache::update: key is {} but value is {}", dtype_name(key.dtype()),
              dtype_name(value.dtype()));
  // Check both before writing either, so a bad value leaves the keys untouched.
  if (keys_.contents().defined()) {
    GRAFT_CHECK(values_.contents().size(-1) == value.size(-1),
                "KVCache::update: the cache holds values of size {}, got {}", values_.contents().size(-1), value.size(-1));
  }
  Tensor k = keys_.append(key);
  Tensor v = values_.append(value);
  return {k, v};
}

void KVCache::select(const Tensor& index) {
  check_select_index(kKind, index, keys().defined() ? keys().size(0) : INT64_MAX);
  keys_.select(index);
  values_.select(index);
}

void KVCache::clear() {
  keys_.clear();
  values_.clear();
}

}  // namespace graft::nn
