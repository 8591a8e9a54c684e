#pragma once
// The kernels' own switches: the oneDNN ISA cap and per-scope OpenMP thread counts. Which path runs
// (reference loops or fast paths) is public: ops/backend.h.
#include "graft/ops/backend.h"

namespace graft::kernels {

// Caps oneDNN's ISA (its bf16/AMX paths die with SIGILL on these machines) before any other oneDNN call.
// Runs once, at library load; calling it again is harmless.
void init_onednn();

// True when bfloat16 products go to oneDNN's bf16 kernels now: the path is OneDnn, or Auto on bf16 hardware.
bool use_bf16_matmul_kernels();

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
