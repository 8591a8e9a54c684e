#pragma once
#include <cstdint>

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

/// How bfloat16 matrix products (matmul, mm, bmm, linear, and what is built on them) run. Either way they
/// accumulate in float32 and round the result to bfloat16 once.
enum class Bf16MatmulPath : uint8_t {
  Auto,     ///< OneDnn where the CPU has bf16 instructions (AVX512_BF16), Convert elsewhere (the default)
  Convert,  ///< multiply float32 copies of the operands on the float32 kernels (correct anywhere, not faster)
  OneDnn,   ///< oneDNN's bf16 kernels
};

/// True when this CPU runs oneDNN's bfloat16 kernels on its own instructions (AVX512_BF16, detected at run
/// time through oneDNN). graft caps oneDNN below AMX, which faults on some virtual machines that advertise
/// it, so AMX-BF16 CPUs use their AVX512_BF16 instructions.
bool bf16_matmul_hardware();
/// The path bfloat16 products take (process-wide; Auto unless set).
Bf16MatmulPath bf16_matmul_path();
/// Chooses the path of bfloat16 products.
/// @throws graft::Error when `path` is OneDnn and the CPU lacks bf16 instructions (it would run oneDNN's
///         slow reference code, or fault).
void set_bf16_matmul_path(Bf16MatmulPath path);

}  // namespace graft
