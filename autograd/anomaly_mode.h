#pragma once
// Anomaly detection for the backward pass (torch.autograd.detect_anomaly / set_detect_anomaly, LibTorch's
// DetectAnomalyGuard). While it is on, every node recorded in the forward pass remembers where it was made:
// the forward op's C++ source location and the call stack; and every gradient a node returns in backward is
// checked, so that the first NaN or infinity raises graft::Error naming the backward node, the forward op that
// created it, and that call stack:
//
//   {
//     graft::autograd::detect_anomaly anomaly;   // on for this scope
//     Tensor loss = model(x);
//     loss.backward();  // graft::Error: "detect_anomaly: Function 'SqrtBackward0' returned inf values in its
//                       //  0th output. It was created by the forward op sqrt (ops/pointwise.cpp:214), called from:..."
//   }
//
// When it is off (the default) it costs one relaxed atomic load per recorded node and per backward node.
// Differences from PyTorch: the mode is process-wide (as PyTorch's flag is), and with check_nan it flags
// infinities as well as NaN (PyTorch only NaN); the forward trace is a C++ call stack, symbolised as well as
// the binary's symbols allow (link executables with -rdynamic for function names).
#include <atomic>

namespace graft::autograd {

namespace detail {
extern std::atomic<bool> anomaly_enabled;
extern std::atomic<bool> anomaly_check_nan;
}  // namespace detail

/// True while anomaly detection is on (torch.is_anomaly_enabled).
inline bool is_anomaly_enabled() { return detail::anomaly_enabled.load(std::memory_order_relaxed); }
/// True while anomaly detection checks backward's results for NaN and infinity
/// (torch.is_anomaly_check_nan_enabled).
inline bool is_anomaly_check_nan_enabled() {
  return is_anomaly_enabled() && detail::anomaly_check_nan.load(std::memory_order_relaxed);
}

/// Turns anomaly detection on or off for the whole process (torch.autograd.set_detect_anomaly).
/// @param check_nan also check every backward node's results for NaN and infinity (else only record traces).
void set_detect_anomaly(bool mode, bool check_nan = true);

/// Anomaly detection for a scope (torch.autograd.detect_anomaly): on from construction, the previous state
/// restored at destruction. Scopes nest.
class detect_anomaly {
 public:
  /// @param check_nan also check backward's results for NaN and infinity.
  explicit detect_anomaly(bool check_nan = true);
  ~detect_anomaly();
  detect_anomaly(const detect_anomaly&) = delete;
  detect_anomaly& operator=(const detect_anomaly&) = delete;

 private:
  bool previous_mode_;
  bool previous_check_nan_;
};

/// LibTorch's name for the same scope.
using DetectAnomalyGuard = detect_anomaly;

}  // namespace graft::autograd
