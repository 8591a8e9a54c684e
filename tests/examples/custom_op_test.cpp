// examples/custom_op: custom functions pass gradcheck and gradgradcheck, train, and a wrong backward is caught.
#include <gtest/gtest.h>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

TEST(ExampleCustomOp, ChecksTrainsAndCatchesTheDeliberateBug) {
  TempDir dir;
  const RunResult run = run_example("custom_op", {"--out-dir", dir.path()});
  ASSERT_EQ(run.status, 0) << run.output;
  for (const char* line : {"passed  FusedSoftplus: gradcheck", "passed  FusedSoftplus: gradgradcheck",
                           "passed  SwiGLU: gradgradcheck", "passed  training lowers the loss",
                           "passed  gradcheck catches WrongSoftplus", "Jacobian mismatch", "all checks passed"})
    EXPECT_NE(run.output.find(line), std::string::npos) << line << "\n" << run.output;
  EXPECT_EQ(svg_error(dir / "custom_op_graph.svg"), "");
  EXPECT_NE(read_file(dir / "custom_op_graph.svg").find("FusedSoftplusBackward"), std::string::npos);
}

TEST(ExampleCustomOp, HelpAndBadFlags) {
  const RunResult help = run_example("custom_op", {"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.output.find("--out-dir"), std::string::npos) << help.output;
  EXPECT_NE(run_example("custom_op", {"--no-such-flag"}).status, 0);
}

}  // namespace
}  // namespace graft::examples::testing
