// examples/gradient_descent in its short mode: hand-written and autograd trajectories agree bit for bit,
// x^2 + x + 1 is minimised at -0.5, and the pictures are written.
#include <gtest/gtest.h>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

TEST(ExampleGradientDescent, QuickRunAgreesConvergesAndDraws) {
  TempDir dir;
  const RunResult run = run_example("gradient_descent", {"--quick", "--out-dir", dir.path()});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("Trajectories identical, bit for bit"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("converged"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("differs"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find('\x1b'), std::string::npos) << "no control codes when stdout is not a terminal";
  EXPECT_EQ(svg_error(dir / "curves.svg"), "");
  for (const char* graph : {"graph_half_square", "graph_quadratic"}) {
    EXPECT_NE(read_file(dir / (std::string(graph) + ".dot")).find("digraph"), std::string::npos) << graph;
    EXPECT_EQ(svg_error(dir / (std::string(graph) + ".svg")), "");
  }
}

TEST(ExampleGradientDescent, HelpAndBadFlags) {
  const RunResult help = run_example("gradient_descent", {"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.output.find("--lr"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("--quick"), std::string::npos) << help.output;
  EXPECT_NE(run_example("gradient_descent", {"--lr", "-1"}).status, 0);
  EXPECT_NE(run_example("gradient_descent", {"--no-such-flag"}).status, 0);
}

TEST(ExampleGradientDescent, DivergesAndSaysSoWithTooLargeAStep) {
  // lr = 1.1 on x^2 + x + 1 multiplies the error by -1.2 per step: the run must fail, not claim success.
  TempDir dir;
  const RunResult run = run_example("gradient_descent", {"--quick", "--lr", "1.1", "--out-dir", dir.path()});
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_NE(run.output.find("NOT converged"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace graft::examples::testing
