#include "graft/optim/zero/memory.h"

#include "graft/graph/error.h"

namespace graft::optim::zero {

ModelStateBytes ModelStateMemory::mixed_precision(double K) const {
  return {2.0 * static_cast<double>(parameter_elements), 2.0 * static_cast<double>(gradient_elements),
          K * static_cast<double>(state_elements)};
}

ModelStateBytes zero_model_state_bytes(int stage, double psi, double n_d, double K, double param_bytes,
                                       double grad_bytes) {
  GRAFT_CHECK(stage >= 0 && stage <= 3, "zero_model_state_bytes: stage must be 0, 1, 2 or 3, got {}", stage);
  GRAFT_CHECK(n_d >= 1, "zero_model_state_bytes: the number of data-parallel ranks must be at least 1, got {}", n_d);
  GRAFT_CHECK(psi >= 0 && K >= 0, "zero_model_state_bytes: Psi and K must be non-negative, got {} and {}", psi, K);
  ModelStateBytes b;
  b.parameters = param_bytes * psi / (stage >= 3 ? n_d : 1);
  b.gradients = grad_bytes * psi / (stage >= 2 ? n_d : 1);
  b.optimizer_states = K * psi / (stage >= 1 ? n_d : 1);
  return b;
}

const char* zero_stage_name(int stage) {
  switch (stage) {
    case 0: return "baseline";
    case 1: return "P_os";
    case 2: return "P_os+g";
    case 3: return "P_os+g+p";
  }
  return "?";
}

}  // namespace graft::optim::zero
