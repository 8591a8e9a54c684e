#pragma once
// Automatic mixed precision, as torch.autocast(device_type="cpu"): inside an enabled scope, the ops that gain
// from lower precision (matrix products: matmul, mm, bmm, linear, conv1d/2d, attention) cast their float32
// inputs to the scope's 16-bit dtype, and the numerically sensitive ones (softmax, log_softmax, the norms,
// the losses, the reductions) cast 16-bit inputs to float32; everything else runs in the dtype it is given.
// The casts are differentiable (`to`), so gradients reach float32 parameters in float32. The op lists live
// in ops/detail/autocast.h (see README "Mixed precision").
//
// The state is thread-local, as in PyTorch; scopes nest (the innermost decides) and restore the previous
// state on exit. The backward pass runs with autocast off: each backward computes in the dtypes its
// forward recorded.
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "graft/graph/dtype.h"
#include "graft/graph/tensor.h"

namespace graft {

/// True when the calling thread is inside an enabled autocast scope.
bool is_autocast_enabled();
/// The 16-bit dtype ops cast to inside the innermost enabled scope (bfloat16 outside any scope).
DType autocast_dtype();

/// `with torch.autocast(device_type="cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled):`
/// for the lifetime of the guard. With the cache on, a float32 leaf that requires grad (a parameter) is cast
/// once per outermost scope and the cast reused, as PyTorch does; the cache empties when the outermost
/// enabled scope ends.
class AutocastGuard {
 public:
  /// @param dtype bfloat16 (PyTorch's CPU default) or float16.
  /// @throws graft::Error for any other dtype (PyTorch warns and disables autocast instead).
  explicit AutocastGuard(DType dtype = kBFloat16, bool enabled = true, bool cache_enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool prev_enabled_, prev_cache_;
  DType prev_dtype_;
  bool entered_;  // this guard opened an enabled scope
};

namespace detail {

// Autocast off for a scope (the backward engine runs under one), without touching the cast cache.
class AutocastSuspend {
 public:
  AutocastSuspend();
  ~AutocastSuspend();
  AutocastSuspend(const AutocastSuspend&) = delete;
  AutocastSuspend& operator=(const AutocastSuspend&) = delete;

 private:
  bool prev_;
};

// The cast cache of this thread: a parameter's 16-bit copy, keyed by the parameter, with the version it was
// made from. Filled by ops/detail/autocast.cpp; emptied when the outermost enabled scope ends.
struct AutocastCacheEntry {
  std::weak_ptr<TensorImpl> source;
  uint32_t version;
  Tensor cast;
};
bool autocast_cache_enabled();
std::unordered_map<const TensorImpl*, AutocastCacheEntry>& autocast_cache();

// How many times an enabled float16 scope has been entered on this thread: the optimizers compare it with
// what they saw at their last step to notice float16 autocast without a GradScaler (optim/grad_scaler.h).
uint64_t float16_autocast_scopes();

}  // namespace detail

}  // namespace graft
