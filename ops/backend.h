#pragma once
// Which kernels run. Every op has plain-loop reference kernels in float32 and float64; many also have a fast
// path (oneDNN for float32, vectorised loops). The two are kept side by side so that each checks the other:
// GRAFT_REFERENCE_KERNELS=1 in the environment forces the reference kernels for the whole process, and
// ReferenceKernelsGuard does so for a scope (e.g. to compare a result of your own with graft's loops).

namespace graft {

/// True when the reference kernels run instead of the fast paths (process-wide).
bool use_reference_kernels();
/// Chooses the reference kernels (true) or the fast paths (false) for the whole process.
void set_use_reference_kernels(bool on);

/// Forces the reference kernels on (or off) for a scope, and restores the previous choice on exit.
class ReferenceKernelsGuard {
 public:
  explicit ReferenceKernelsGuard(bool on = true) : prev_(use_reference_kernels()) { set_use_reference_kernels(on); }
  ~ReferenceKernelsGuard() { set_use_reference_kernels(prev_); }
  ReferenceKernelsGuard(const ReferenceKernelsGuard&) = delete;
  ReferenceKernelsGuard& operator=(const ReferenceKernelsGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace graft
