// examples/zero_demo in its short mode: stages 0-3 at W = 4 agree bit for bit, memory and traffic follow the
// ZeRO formulas, and the one table has a row per stage; misuse is a clear error.
#include <gtest/gtest.h>

#include <sstream>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

// The table rows ("| 0 baseline | ... |"), split into trimmed cells.
std::vector<std::vector<std::string>> table_rows(const std::string& output) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() < 4 || line[0] != '|' || !std::isdigit(static_cast<unsigned char>(line[2]))) continue;
    std::vector<std::string> cells;
    std::istringstream parts(line.substr(1));
    for (std::string cell; std::getline(parts, cell, '|');) {
      cell.erase(0, cell.find_first_not_of(' '));
      cell.erase(cell.find_last_not_of(' ') + 1);
      cells.push_back(cell);
    }
    rows.push_back(cells);
  }
  return rows;
}

TEST(ExampleZeroDemo, QuickRunAgreesBitForBitAndFollowsTheFormulas) {
  TempDir out;
  const RunResult run = run_example("zero_demo", {"--quick", "--out-dir", out.path()});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("all stages agree bit for bit: yes; memory and traffic follow the formulas: yes"),
            std::string::npos)
      << run.output;
  // Two tables: float32 (rows 0-3), then mixed precision (rows 4-7).
  const auto rows = table_rows(run.output);
  ASSERT_EQ(rows.size(), 8u) << run.output;
  const char* names[] = {"0 baseline", "1 P_os", "2 P_os+g", "3 P_os+g+p"};
  for (size_t k = 0; k < 8; ++k) {
    const auto& row = rows[k];
    const size_t stage = k % 4, first = k - stage;
    ASSERT_EQ(row.size(), 13u) << run.output;
    EXPECT_EQ(row[0], names[stage]);
    EXPECT_EQ(row[5], "yes") << "memory = formula, row " << k;
    EXPECT_EQ(row[11], rows[first][11]) << "final loss, row " << k;
    EXPECT_EQ(row[12], stage == 0 ? "(reference)" : "yes");
  }
  // Optimizer state shrinks 4x from stage 0 to 1, gradients from 1 to 2, parameters from 2 to 3 (cells are
  // rounded to 0.1 kB).
  auto kb = [](const std::string& cell) { return std::stod(cell); };
  for (size_t first : {0u, 4u}) {
    EXPECT_NEAR(kb(rows[first + 1][3]) * 4, kb(rows[first][3]), 0.3);
    EXPECT_NEAR(kb(rows[first + 2][2]) * 4, kb(rows[first + 1][2]), 0.3);
    EXPECT_NEAR(kb(rows[first + 3][1]) * 4, kb(rows[first + 2][1]), 0.3);
  }
  // Mixed precision holds half the parameter and gradient bytes of float32 and 1.5x its optimizer state
  // (12 bytes against 8), and sends the same number of elements.
  for (size_t stage = 0; stage < 4; ++stage) {
    EXPECT_NEAR(kb(rows[4 + stage][1]) * 2, kb(rows[stage][1]), 0.3) << stage;
    EXPECT_NEAR(kb(rows[4 + stage][2]) * 2, kb(rows[stage][2]), 0.3) << stage;
    EXPECT_NEAR(kb(rows[4 + stage][3]), kb(rows[stage][3]) * 1.5, 0.3) << stage;
    EXPECT_EQ(rows[4 + stage][9], rows[stage][9]) << stage;
  }
  EXPECT_NE(rows[4][11], rows[0][11]) << "mixed precision is not float32";
  // Stage 0 all-reduces, stages 1-3 reduce-scatter and all-gather; per step, stages 1 and 2 move what
  // stage 0 does, stage 3 1.5x as much.
  EXPECT_NE(rows[0][6], "0");
  EXPECT_EQ(rows[0][7], "0");
  EXPECT_EQ(rows[1][6], "0");
  EXPECT_NE(rows[1][7], "0");
  EXPECT_EQ(rows[1][9], rows[0][9]);
  EXPECT_EQ(rows[2][9], rows[0][9]);
  EXPECT_EQ(rows[1][10], "1.00");
  EXPECT_EQ(rows[2][10], "1.00");
  EXPECT_EQ(rows[3][10], "1.50");
}

TEST(ExampleZeroDemo, HelpAndMisuse) {
  const RunResult help = run_example("zero_demo", {"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* flag : {"--ranks", "--steps", "--save", "--quick"})
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag << "\n" << help.output;
  TempDir out;
  const RunResult zero_ranks = run_example("zero_demo", {"--quick", "--ranks", "0", "--out-dir", out.path()});
  EXPECT_EQ(zero_ranks.status, 1);
  EXPECT_NE(zero_ranks.output.find("world size must be at least 1, got 0"), std::string::npos) << zero_ranks.output;
  EXPECT_NE(run_example("zero_demo", {"--steps", "0", "--out-dir", out.path()}).status, 0);
  EXPECT_NE(run_example("zero_demo", {"--no-such-flag"}).status, 0);
}

}  // namespace
}  // namespace graft::examples::testing
