#pragma once
// Which kernels run: oneDNN (f32 matmul and, where present, its other f32 primitives) or the plain-loop
// reference kernels, which exist for every op in f32 and f64. GRAFT_REFERENCE_KERNELS=1 in the
// environment forces the reference path for the whole process; tests flip it per scope to compare paths.
namespace graft::kernels {

bool use_reference();
void set_use_reference(bool on);

class ReferenceKernelsGuard {
 public:
  explicit ReferenceKernelsGuard(bool on = true) : prev_(use_reference()) { set_use_reference(on); }
  ~ReferenceKernelsGuard() { set_use_reference(prev_); }
  ReferenceKernelsGuard(const ReferenceKernelsGuard&) = delete;
  ReferenceKernelsGuard& operator=(const ReferenceKernelsGuard&) = delete;

 private:
  bool prev_;
};

// Caps oneDNN's ISA (its bf16/AMX paths die with SIGILL on these machines) before any other oneDNN call.
// Runs once, at library load; calling it again is harmless.
void init_onednn();

// Sets the number of OpenMP threads for a scope (oneDNN reads it per call): small matmuls are faster on
// one thread than paying for a parallel region.
class OmpThreadsGuard {
 public:
  explicit OmpThreadsGuard(int threads);
  ~OmpThreadsGuard();
  OmpThreadsGuard(const OmpThreadsGuard&) = delete;
  OmpThreadsGuard& operator=(const OmpThreadsGuard&) = delete;

 private:
  int prev_;
};

}  // namespace graft::kernels
