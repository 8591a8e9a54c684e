#include "graft/ops/kernels/backend.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>

#include "graft/graph/error.h"
#include "graft/ops/kernels/matmul.h"

namespace graft::kernels {

namespace {
bool env_reference() {
  const char* v = std::getenv("GRAFT_REFERENCE_KERNELS");
  return v && *v && std::strcmp(v, "0") != 0;
}
std::atomic<bool> reference{env_reference()};
std::atomic<Bf16MatmulPath> bf16_path{Bf16MatmulPath::Auto};

// Before main(): nothing in graft can have touched oneDNN yet.
[[maybe_unused]] const bool onednn_ready = (init_onednn(), true);
}  // namespace


void init_onednn() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!std::getenv("ONEDNN_MAX_CPU_ISA")) dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx512_core_bf16);
  });
}

bool use_bf16_matmul_kernels() {
  switch (bf16_path.load(std::memory_order_relaxed)) {
    case Bf16MatmulPath::OneDnn: return true;
    case Bf16MatmulPath::Convert: return false;
    case Bf16MatmulPath::Auto: break;
  }
  static const bool hardware = bf16_matmul_hardware();
  return hardware;
}

}  // namespace graft::kernels

namespace graft {

bool use_reference_kernels() { return kernels::reference.load(std::memory_order_relaxed); }
void set_use_reference_kernels(bool on) { kernels::reference.store(on, std::memory_order_relaxed); }

bool bf16_matmul_hardware() { return kernels::bf16_matmul_hardware(); }
Bf16MatmulPath bf16_matmul_path() { return kernels::bf16_path.load(std::memory_order_relaxed); }
void set_bf16_matmul_path(Bf16MatmulPath path) {
  GRAFT_CHECK(path != Bf16MatmulPath::OneDnn || kernels::bf16_matmul_hardware(),
              "set_bf16_matmul_path: this CPU has no bf16 instructions (AVX512_BF16) for oneDNN's bfloat16 kernels; "
              "bfloat16 products run on float32 copies here (Bf16MatmulPath::Convert)");
  kernels::bf16_path.store(path, std::memory_order_relaxed);
}

}  // namespace graft
