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
  const RunResult run = run_example("zero_demo", {"--quick"});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("all stages agree bit for bit: yes; memory and traffic follow the formulas: yes"),
            std::string::npos)
      << run.output;
  const auto rows = table_rows(run.output);
  ASSERT_EQ(rows.size(), 4u) << run.output;
  const char* names[] = {"0 baseline", "1 P_os", "2 P_os+g", "3 P_os+g+p"};
  for (size_t stage = 0; stage < 4; ++stage) {
    const auto& row = rows[stage];
    ASSERT_EQ(row.size(), 14u) << run.output;
    EXPECT_EQ(row[0], names[stage]);
    EXPECT_EQ(row[5], "yes") << "memory = formula at stage " << stage;
    EXPECT_EQ(row[12], rows[0][12]) << "final loss at stage " << stage;
    EXPECT_EQ(row[13], stage == 0 ? "(reference)" : "yes");
  }
  // Optimizer state shrinks 4x from stage 0 to 1, gradients from 1 to 2, parameters from 2 to 3 (cells are
  // rounded to 0.1 kB).
  auto kb = [](const std::string& cell) { return std::stod(cell); };
  EXPECT_NEAR(kb(rows[1][3]) * 4, kb(rows[0][3]), 0.3);
  EXPECT_NEAR(kb(rows[2][2]) * 4, kb(rows[1][2]), 0.3);
  EXPECT_NEAR(kb(rows[3][1]) * 4, kb(rows[2][1]), 0.3);
  // Stage 0 all-reduces, stages 1-3 reduce-scatter and all-gather; per step, stages 1 and 2 move what
  // stage 0 does, stage 3 1.5x as much.
  EXPECT_NE(rows[0][7], "0");
  EXPECT_EQ(rows[0][8], "0");
  EXPECT_EQ(rows[1][7], "0");
  EXPECT_NE(rows[1][8], "0");
  EXPECT_EQ(rows[1][10], rows[0][10]);
  EXPECT_EQ(rows[2][10], rows[0][10]);
  EXPECT_EQ(rows[1][11], "1.00");
  EXPECT_EQ(rows[2][11], "1.00");
  EXPECT_EQ(rows[3][11], "1.50");
}

TEST(ExampleZeroDemo, HelpAndMisuse) {
  const RunResult help = run_example("zero_demo", {"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* flag : {"--ranks", "--steps", "--save", "--quick"})
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag << "\n" << help.output;
  const RunResult zero_ranks = run_example("zero_demo", {"--quick", "--ranks", "0"});
  EXPECT_EQ(zero_ranks.status, 1);
  EXPECT_NE(zero_ranks.output.find("world size must be at least 1, got 0"), std::string::npos) << zero_ranks.output;
  EXPECT_NE(run_example("zero_demo", {"--steps", "0"}).status, 0);
  EXPECT_NE(run_example("zero_demo", {"--no-such-flag"}).status, 0);
}

}  // namespace
}  // namespace graft::examples::testing
