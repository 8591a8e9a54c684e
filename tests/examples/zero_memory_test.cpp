// examples/zero_memory: Table 1 of the ZeRO paper, as printed there, from the formulas; any Psi and N_d; errors.
#include <gtest/gtest.h>

#include <graft/graft.h>

#include <map>
#include <sstream>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

namespace zero = graft::optim::zero;

TEST(ExampleZeroMemory, PrintsTable1AsThePaperDoes) {
  const RunResult run = run_example("zero_memory", {"--check"});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("check: 54 of 54 cells equal the paper's Table 1 as printed"), std::string::npos) << run.output;
  // Read the printed table back, "| N_d | a / b / c | d / e / f | g / h / i |", and compare every cell with the
  // paper's, independently of the program's own check.
  std::map<std::pair<int, int>, std::string> printed;  // (N_d, column 0-8) -> cell
  std::istringstream lines(run.output);
  for (std::string line; std::getline(lines, line);) {
    const size_t first = line.find_first_not_of("| ");
    if (line.empty() || line[0] != '|' || first == std::string::npos || !std::isdigit(static_cast<unsigned char>(line[first])))
      continue;
    std::istringstream parts(line.substr(1));
    std::string n_d;
    std::getline(parts, n_d, '|');
    int column = 0;
    for (std::string group; std::getline(parts, group, '|');) {
      std::istringstream cells(group);
      for (std::string cell; std::getline(cells, cell, '/');) {
        cell.erase(0, cell.find_first_not_of(' '));
        cell.erase(cell.find_last_not_of(' ') + 1);
        if (!cell.empty()) printed[{std::stoi(n_d), column++}] = cell;
      }
    }
  }
  ASSERT_EQ(printed.size(), 54u) << run.output;
  const double psis[] = {7.5e9, 128e9, 1e12};
  for (const zero::PaperTableCell& cell : zero::paper_table1()) {
    const int m = cell.psi == psis[0] ? 0 : cell.psi == psis[1] ? 1 : 2;
    const std::string shown = printed[std::make_pair(cell.n_d, 3 * m + cell.stage - 1)];
    EXPECT_EQ(shown, cell.printed) << "Psi " << cell.psi << ", N_d " << cell.n_d << ", stage " << cell.stage;
  }
  EXPECT_NE(run.output.find("31.4 /   16.6 /   1.88"), std::string::npos) << run.output;  // 7.5B at N_d = 64
  EXPECT_NE(run.output.find("baseline data parallelism, (2 + 2 + K) Psi on any N_d: 120 / 2048 / 16000 GB"),
            std::string::npos);
}

TEST(ExampleZeroMemory, UnroundedValuesAndAnyModel) {
  const RunResult exact = run_example("zero_memory", {"--exact"});
  ASSERT_EQ(exact.status, 0) << exact.output;
  EXPECT_NE(exact.output.find("31.4062 / 16.6406 /  1.875"), std::string::npos) << exact.output;
  // graft's float32 Adam: 4 + 4 + 8 bytes per parameter; 1e9 parameters on 4 ranks.
  const RunResult f32 = run_example("zero_memory", {"--psi", "1e9", "--nd", "4", "--k", "8", "--param-bytes", "4",
                                                    "--grad-bytes", "4"});
  ASSERT_EQ(f32.status, 0) << f32.output;
  EXPECT_NE(f32.output.find("| 4 | 16 | 10 | 7 | 4 |"), std::string::npos) << f32.output;
}

TEST(ExampleZeroMemory, HelpAndMisuse) {
  const RunResult help = run_example("zero_memory", {"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* flag : {"--check", "--psi", "--nd", "--k"}) EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
  const RunResult no_ranks = run_example("zero_memory", {"--psi", "1e9", "--nd", "0"});
  EXPECT_EQ(no_ranks.status, 1);
  EXPECT_NE(no_ranks.output.find("the number of data-parallel ranks must be at least 1, got 0"), std::string::npos)
      << no_ranks.output;
  const RunResult nd_alone = run_example("zero_memory", {"--nd", "8"});
  EXPECT_EQ(nd_alone.status, 1);
  EXPECT_NE(nd_alone.output.find("--nd needs --psi"), std::string::npos) << nd_alone.output;
  EXPECT_NE(run_example("zero_memory", {"--no-such-flag"}).status, 0);
}

}  // namespace
}  // namespace graft::examples::testing
