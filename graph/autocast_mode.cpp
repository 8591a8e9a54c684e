#include "graft/graph/autocast_mode.h"

namespace graft {

namespace {
thread_local bool enabled = false;
thread_local DType dtype = kBFloat16;
thread_local bool cache_on = true;
thread_local int depth = 0;  // enabled scopes open on this thread
thread_local uint64_t float16_scopes = 0;
}  // namespace

bool is_autocast_enabled() { return enabled; }
DType autocast_dtype() { return dtype; }

AutocastGuard::AutocastGuard(DType dt, bool on, bool cache_enabled)
    : prev_enabled_(enabled), prev_cache_(cache_on), prev_dtype_(dtype), entered_(on) {
  GRAFT_CHECK(!on || is_reduced_floating(dt), "autocast: dtype must be bfloat16 or float16, got {}", dtype_name(dt));
  enabled = on;
  if (on) {
    dtype = dt;
    cache_on = cache_enabled;
    ++depth;
    if (dt == kFloat16) ++float16_scopes;
  }
}

AutocastGuard::~AutocastGuard() {
  if (entered_ && --depth == 0) detail::autocast_cache().clear();
  enabled = prev_enabled_;
  dtype = prev_dtype_;
  cache_on = prev_cache_;
}

namespace detail {

AutocastSuspend::AutocastSuspend() : prev_(enabled) { enabled = false; }
AutocastSuspend::~AutocastSuspend() { enabled = prev_; }

bool autocast_cache_enabled() { return cache_on; }

std::unordered_map<const TensorImpl*, AutocastCacheEntry>& autocast_cache() {
  static thread_local std::unordered_map<const TensorImpl*, AutocastCacheEntry> cache;
  return cache;
}

uint64_t float16_autocast_scopes() { return float16_scopes; }

}  // namespace detail

}  // namespace graft
