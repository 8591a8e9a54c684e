// examples/quickstart: runs, checks its gradients, draws the graph into --out-dir (created), and handles
// --help and bad arguments without aborting.
#include <gtest/gtest.h>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

TEST(ExampleQuickstart, RunsChecksAndDrawsIntoANewDirectory) {
  TempDir dir;
  const RunResult run = run_example("quickstart", {"--out-dir", dir / "new/sub"});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("gradcheck: passed"), std::string::npos) << run.output;
  EXPECT_EQ(svg_error(dir / "new/sub/graph.svg"), "");
}

TEST(ExampleQuickstart, HelpAndBadArguments) {
  const RunResult help = run_example("quickstart", {"--help"});
  EXPECT_EQ(help.status, 0) << help.output;
  EXPECT_NE(help.output.find("--out-dir"), std::string::npos) << help.output;
  const RunResult bad = run_example("quickstart", {"--epochs", "3"});
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("unknown argument '--epochs'"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace graft::examples::testing
