// examples/manual_mlp in its short mode: the hand-written backward matches autograd to 1e-12 at every step.
#include <gtest/gtest.h>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

TEST(ExampleManualMlp, QuickRunGradientsAgreeAndPicturesAreWritten) {
  TempDir dir;
  const RunResult run = run_example("manual_mlp", {"--quick", "--out-dir", dir.path()});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("(within 1e-12)"), std::string::npos) << run.output;
  for (const char* name : {"W1", "b1", "W2", "b2"}) EXPECT_NE(run.output.find(name), std::string::npos) << name;
  EXPECT_NE(run.output.find("epoch 5/5"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find('\x1b'), std::string::npos);
  EXPECT_EQ(svg_error(dir / "curves.svg"), "");
  EXPECT_NE(read_file(dir / "graph.dot").find("ReluBackward0"), std::string::npos);
  EXPECT_EQ(svg_error(dir / "graph.svg"), "");
}

TEST(ExampleManualMlp, FailsWhenTheGradientsDifferByMoreThanTheTolerance) {
  // No difference is below a negative tolerance: the comparison must be able to fail the run.
  TempDir dir;
  const RunResult run = run_example("manual_mlp", {"--quick", "--tolerance", "-1", "--out-dir", dir.path()});
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_NE(run.output.find("EXCEEDS"), std::string::npos) << run.output;
}

TEST(ExampleManualMlp, Help) {
  const RunResult help = run_example("manual_mlp", {"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* flag : {"--epochs", "--batch-size", "--lr", "--seed", "--out-dir", "--quick", "--threads", "--hidden"})
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace graft::examples::testing
