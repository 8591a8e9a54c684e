// examples/imbalanced_losses in its short mode (3 epochs): the table lists every loss, class weighting
// lifts the rarest class's recall and the macro-F1 above plain cross-entropy, and the pictures are written.
#include <gtest/gtest.h>

#include <sstream>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

// The numbers after the row's name in the results table: recall per class (%), accuracy (%), macro-F1.
std::vector<double> table_row(const std::string& output, const std::string& name) {
  const size_t table = output.find("loss (balanced held-out)");
  if (table == std::string::npos) return {};
  const size_t at = output.find("\n" + name + " ", table);
  if (at == std::string::npos) return {};
  std::istringstream line(output.substr(at + 1 + name.size(), output.find('\n', at + 1) - at - 1 - name.size()));
  std::vector<double> values;
  std::string word;
  while (line >> word) values.push_back(std::stod(word));
  return values;
}

TEST(ExampleImbalancedLosses, QuickRunShowsWhatClassWeightingDoes) {
  TempDir dir;
  const RunResult run = run_example("imbalanced_losses", {"--quick", "--threads", "1", "--out-dir", dir.path()});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output.find('\x1b'), std::string::npos);
  const std::vector<double> ce = table_row(run.output, "cross-entropy"), weighted = table_row(run.output, "weighted CE (balanced)");
  ASSERT_EQ(ce.size(), 5u) << run.output;  // three recalls, accuracy, macro-F1
  ASSERT_EQ(weighted.size(), 5u) << run.output;
  for (const char* name : {"label smoothing 0.1", "focal (gamma 2)", "focal (gamma 2) + alpha"})
    EXPECT_EQ(table_row(run.output, name).size(), 5u) << name << "\n" << run.output;
  EXPECT_GT(weighted[2], ce[2] + 20) << "recall of the class with 20 training points\n" << run.output;
  EXPECT_GT(weighted[4], ce[4]) << "macro-F1\n" << run.output;
  EXPECT_GT(ce[0], weighted[0]) << "plain cross-entropy favours the majority class\n" << run.output;

  EXPECT_EQ(svg_error(dir / "curves.svg"), "");
  EXPECT_NE(read_file(dir / "graph.dot").find("LogSoftmaxBackward0"), std::string::npos);
  EXPECT_EQ(svg_error(dir / "graph.svg"), "");
}

TEST(ExampleImbalancedLosses, HelpAndBadCounts) {
  const RunResult help = run_example("imbalanced_losses", {"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* flag : {"--epochs", "--counts", "--gamma", "--label-smoothing", "--quick", "--out-dir", "--threads"})
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
  TempDir dir;
  const RunResult one = run_example("imbalanced_losses", {"--quick", "--counts", "100", "--out-dir", dir.path()});
  EXPECT_EQ(one.status, 1);
  EXPECT_NE(one.output.find("at least two classes"), std::string::npos) << one.output;
}

}  // namespace
}  // namespace graft::examples::testing
