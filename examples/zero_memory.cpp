// Model-state memory per device under ZeRO (Rajbhandari et al., SC20): Table 1 of the paper from the formulas
// of its section 5, or the same for a model and world of your choosing.
//   build/examples/zero_memory                     Table 1 as the paper prints it: Psi = 7.5B, 128B, 1T; N_d = 1 ... 1024
//   build/examples/zero_memory --check             also compare every printed cell with the paper's
//   build/examples/zero_memory --exact             the unrounded values
//   build/examples/zero_memory --psi 1.5e9 --nd 8 [--k 12] [--param-bytes 2] [--grad-bytes 2]
// GB = 1e9 bytes. Mixed-precision Adam: 2 bytes per fp16 parameter and gradient, K = 12 bytes of optimizer
// state (fp32 master copy, momentum, variance); graft's own float32 Adam is --k 8 --param-bytes 4 --grad-bytes 4.
#include <graft/graft.h>

#include <filesystem>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "common/cli.h"

using namespace graft;
namespace zero = graft::optim::zero;

namespace {

double gb(int stage, double psi, double n_d, double k = 12, double param_bytes = 2, double grad_bytes = 2) {
  return zero::zero_model_state_bytes(stage, psi, n_d, k, param_bytes, grad_bytes).total() / 1e9;
}

// How Table 1 prints a value: three significant digits but at most two decimals and at least the integer
// part, trailing zeros dropped; the 7.5B column rounds (half up: 41.25 -> 41.3), the 128B and 1T columns
// truncate (4187.5 -> 4187, 257.75 -> 257).
std::string as_printed(double value, bool truncate) {
  const int integer_digits = value < 1 ? 1 : static_cast<int>(std::floor(std::log10(value))) + 1;
  const int decimals = std::clamp(3 - integer_digits, 0, 2);
  const double scale = std::pow(10.0, decimals);
  // The small epsilon keeps values that are exact in decimal (1.875 * 100) from landing just below.
  const double scaled = truncate ? std::floor(value * scale + 1e-9) : std::floor(value * scale + 0.5 + 1e-9);
  std::string s = fmt::format("{:.{}f}", scaled / scale, decimals);
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

int table1(bool check, bool exact) {
  const double psis[] = {7.5e9, 128e9, 1e12};
  const int nds[] = {1, 4, 16, 64, 256, 1024};
  auto cell = [&](int stage, double psi, int n_d) {
    const double value = gb(stage, psi, n_d);
    return exact ? fmt::format("{:g}", value) : as_printed(value, psi != 7.5e9);
  };
  std::cout << "Table 1 of the ZeRO paper: per-device memory of model states (GB) under P_os / P_os+g / P_os+g+p,\n"
               "mixed-precision Adam (2 + 2 + K bytes per parameter, K = 12)"
            << (exact ? ", unrounded" : ", rounded as the paper prints it") << "\n\n"
            << "|  N_d | 7.5B                     | 128B                     | 1T                       |\n"
               "|-----:|--------------------------|--------------------------|--------------------------|\n";
  for (int n_d : nds) {
    std::cout << fmt::format("| {:>4} |", n_d);
    for (double psi : psis)
      std::cout << fmt::format(" {:>6} / {:>6} / {:>6} |", cell(1, psi, n_d), cell(2, psi, n_d), cell(3, psi, n_d));
    std::cout << "\n";
  }
  std::cout << fmt::format("\nbaseline data parallelism, (2 + 2 + K) Psi on any N_d: {:g} / {:g} / {:g} GB\n",
                           gb(0, 7.5e9, 1), gb(0, 128e9, 1), gb(0, 1e12, 1));
  if (!check) return 0;
  size_t mismatches = 0;
  for (const zero::PaperTableCell& paper : zero::paper_table1()) {
    const double value = gb(paper.stage, paper.psi, paper.n_d);
    const std::string printed = as_printed(value, paper.psi != 7.5e9);
    if (printed != paper.printed || !zero::matches_printed(value, paper.printed)) {
      ++mismatches;
      std::cout << fmt::format("MISMATCH: Psi = {:g}, N_d = {}, {}: {:g} GB prints as {}, the paper prints {}\n",
                               paper.psi, paper.n_d, zero::zero_stage_name(paper.stage), value, printed, paper.printed);
    }
  }
  std::cout << fmt::format("check: {} of {} cells equal the paper's Table 1 as printed\n",
                           zero::paper_table1().size() - mismatches, zero::paper_table1().size());
  return mismatches == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  double psi = 0, k = 12, param_bytes = 2, grad_bytes = 2;
  std::vector<double> nds;
  bool check = false, exact = false;
  CLI::App app{"Per-device model-state memory under ZeRO stages 0-3: the paper's Table 1, or any Psi and N_d."};
  app.add_flag("--check", check, "compare every cell of Table 1 with the value the paper prints (exit 1 if one differs)");
  app.add_flag("--exact", exact, "print unrounded values instead of the paper's rounding");
  app.add_option("--psi", psi, "number of parameters (instead of Table 1), e.g. 1.5e9");
  app.add_option("--nd", nds, "data-parallel ranks N_d, repeatable (default 1 4 16 64 256 1024)");
  app.add_option("--k", k, "bytes of optimizer state per parameter")->capture_default_str();
  app.add_option("--param-bytes", param_bytes, "bytes per parameter")->capture_default_str();
  app.add_option("--grad-bytes", grad_bytes, "bytes per gradient")->capture_default_str();
  std::string out_dir = ".";
  app.add_option("--out-dir", out_dir, "where the printed table is also saved, as zero_memory.txt; created if missing")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return examples::run_guarded([&] {
    std::filesystem::create_directories(out_dir);
    examples::TeeStdout saved((std::filesystem::path(out_dir) / "zero_memory.txt").string());
    if (app.count("--psi") == 0) {
      GRAFT_CHECK(nds.empty(), "zero_memory: --nd needs --psi (Table 1 has its own N_d)");
      return table1(check, exact);
    }
    GRAFT_CHECK(psi > 0, "zero_memory: --psi must be positive, got {}", psi);
    if (nds.empty()) nds = {1, 4, 16, 64, 256, 1024};
    std::cout << fmt::format("Psi = {:g}, K = {:g}, {:g} bytes per parameter and {:g} per gradient (GB per device)\n\n",
                             psi, k, param_bytes, grad_bytes)
              << "| N_d | baseline | P_os | P_os+g | P_os+g+p |\n|--:|--:|--:|--:|--:|\n";
    for (double n_d : nds) {
      std::string row = fmt::format("| {:g} |", n_d);
      for (int stage = 0; stage <= 3; ++stage) row += fmt::format(" {:.5g} |", gb(stage, psi, n_d, k, param_bytes, grad_bytes));
      std::cout << row << "\n";
    }
    return 0;
  });
}
