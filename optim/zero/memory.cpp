#include "graft/optim/zero/memory.h"

#include <cmath>

#include "graft/graph/error.h"

namespace graft::optim::zero {

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

const std::vector<PaperTableCell>& paper_table1() {
  static const std::vector<PaperTableCell> table = [] {
    struct Row {
      int n_d;
      const char* cells[9];  // 7.5B stages 1-3, 128B stages 1-3, 1T stages 1-3
    };
    const Row rows[] = {
        {1, {"120", "120", "120", "2048", "2048", "2048", "16000", "16000", "16000"}},
        {4, {"52.5", "41.3", "30", "896", "704", "512", "7000", "5500", "4000"}},
        {16, {"35.6", "21.6", "7.5", "608", "368", "128", "4750", "2875", "1000"}},
        {64, {"31.4", "16.6", "1.88", "536", "284", "32", "4187", "2218", "250"}},
        {256, {"30.4", "15.4", "0.47", "518", "263", "8", "4046", "2054", "62.5"}},
        {1024, {"30.1", "15.1", "0.12", "513", "257", "2", "4011", "2013", "15.6"}},
    };
    const double psis[] = {7.5e9, 128e9, 1e12};
    std::vector<PaperTableCell> cells;
    for (const Row& row : rows)
      for (int m = 0; m < 3; ++m)
        for (int stage = 1; stage <= 3; ++stage)
          cells.push_back({psis[m], row.n_d, stage, row.cells[3 * m + stage - 1]});
    return cells;
  }();
  return table;
}

bool matches_printed(double value, const std::string& printed) {
  const size_t dot = printed.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(printed.size() - dot - 1);
  const double unit = std::pow(10.0, -decimals);
  const double diff = (value - std::stod(printed)) / unit;
  return diff >= -0.5 - 1e-9 && diff < 1 - 1e-9;
}

}  // namespace graft::optim::zero
