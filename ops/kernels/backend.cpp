#include "graft/ops/kernels/backend.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>

namespace graft::kernels {

namespace {
bool env_reference() {
  const char* v = std::getenv("GRAFT_REFERENCE_KERNELS");
  return v && *v && std::strcmp(v, "0") != 0;
}
std::atomic<bool> reference{env_reference()};

// Before main(): nothing in graft can have touched oneDNN yet.
[[maybe_unused]] const bool onednn_ready = (init_onednn(), true);
}  // namespace


void init_onednn() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!std::getenv("ONEDNN_MAX_CPU_ISA")) dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx512_core_bf16);
  });
}

OmpThreadsGuard::OmpThreadsGuard(int threads) : prev_(omp_get_max_threads()) {
  if (threads != prev_) omp_set_num_threads(threads);
}
OmpThreadsGuard::~OmpThreadsGuard() {
  if (omp_get_max_threads() != prev_) omp_set_num_threads(prev_);
}

}  // namespace graft::kernels

namespace graft {

bool use_reference_kernels() { return kernels::reference.load(std::memory_order_relaxed); }
void set_use_reference_kernels(bool on) { kernels::reference.store(on, std::memory_order_relaxed); }

}  // namespace graft
