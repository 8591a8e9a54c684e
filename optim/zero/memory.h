#pragma once
// Model-state memory per rank: what ZeRO partitions (parameters, gradients, optimizer state), measured from
// a ShardedOptimizer's buffers, and the formulas of the ZeRO paper (Rajbhandari et al., SC20, section 5 and
// Table 1) to compare with.
//
// The paper counts mixed-precision Adam: 2 bytes per parameter (fp16), 2 per gradient (fp16) and K = 12 per
// parameter of optimizer state (fp32 master copy, momentum and variance). Per rank, with Psi parameters on
// N_d ranks:
//   stage 0 (baseline)  (2 + 2 + K) Psi
//   stage 1 (P_os)      2 Psi + 2 Psi + K Psi / N_d
//   stage 2 (P_os+g)    2 Psi + (2 + K) Psi / N_d
//   stage 3 (P_os+g+p)  (2 + 2 + K) Psi / N_d
// graft holds exactly these bytes when the model is bfloat16 or float16 (ShardedOptimizer's mixed precision:
// a float32 master copy plus Adam's two float32 moments, K = 12). A float32 (or float64) model trains without
// a master copy: 4 bytes per parameter and per gradient, and 4 per optimizer-state buffer (Adam/AdamW:
// exp_avg and exp_avg_sq, K = 8; SGD with momentum: K = 4; plain SGD: K = 0; AMSGrad adds 4). Measured sizes
// are exact multiples of the padded parameter count.
#include <cstdint>
#include <string>
#include <vector>

namespace graft::optim::zero {

/// Bytes of model state on one rank.
struct ModelStateBytes {
  double parameters = 0;
  double gradients = 0;
  double optimizer_states = 0;
  double total() const { return parameters + gradients + optimizer_states; }
};

/// What a rank holds, measured: bytes of its real buffers, and the element counts behind them.
struct ModelStateMemory {
  ModelStateBytes bytes;
  int64_t parameter_elements = 0;  // parameter elements resident (full buffers, or the rank's slice)
  int64_t gradient_elements = 0;   // gradient elements resident
  int64_t state_elements = 0;      // parameter elements whose optimizer state this rank holds
  int64_t state_buffers = 0;       // optimizer-state buffers per element (Adam: 2; 3 with master weights)
};

/// The paper's formula for `stage` (0-3): Psi parameters on n_d ranks, K bytes of optimizer state per
/// parameter, param_bytes and grad_bytes per parameter and gradient (2 and 2 in mixed precision).
ModelStateBytes zero_model_state_bytes(int stage, double psi, double n_d, double K = 12, double param_bytes = 2,
                                       double grad_bytes = 2);

/// "P_os", "P_os+g", ... for stage 0-3 ("baseline" for 0).
const char* zero_stage_name(int stage);

/// One cell of Table 1 of the paper: per-device model-state memory (GB = 1e9 bytes) of stage 1, 2 or 3 for
/// Psi parameters on n_d ranks, as printed.
struct PaperTableCell {
  double psi;
  int n_d;
  int stage;
  const char* printed;
};
/// The whole table: Psi = 7.5B, 128B, 1T; N_d = 1, 4, 16, 64, 256, 1024; stages 1-3 (the 7.5B column is
/// rounded, the other two truncated, e.g. 4187.5 printed as 4187).
const std::vector<PaperTableCell>& paper_table1();
/// True when `value` shows as `printed` at printed's precision, rounded or truncated to its last digit:
/// -0.5 <= (value - printed) / unit < 1, unit being one in printed's last digit.
bool matches_printed(double value, const std::string& printed);

}  // namespace graft::optim::zero
