// The example utilities (metrics) and the tests' own XML check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include <graft/graph/factory.h>

#include "common/metrics.h"
#include "example_runner.h"

namespace graft::examples {
namespace {

using testing::xml_error;

TEST(Metrics, RecallPrecisionAndMacroF1AsScikitLearn) {
  // sklearn: y_true=[0,0,0,1,1,2], y_pred=[0,0,1,1,0,0]
  //   recall [2/3, 1/2, 0], precision [2/4, 1/2, 0], f1 [4/7, 1/2, 0], macro-F1 (4/7 + 1/2) / 3
  ConfusionMatrix cm(3);
  cm.add(tensor({0, 0, 1, 1, 0, 0}), tensor({0, 0, 0, 1, 1, 2}));
  EXPECT_EQ(cm.total(), 6);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 0.5);
  EXPECT_DOUBLE_EQ(cm.recall(0), 2.0 / 3);
  EXPECT_DOUBLE_EQ(cm.recall(1), 0.5);
  EXPECT_DOUBLE_EQ(cm.recall(2), 0.0);
  EXPECT_DOUBLE_EQ(cm.precision(0), 0.5);
  EXPECT_DOUBLE_EQ(cm.precision(2), 0.0);
  EXPECT_DOUBLE_EQ(cm.f1(0), 4.0 / 7);
  EXPECT_NEAR(cm.macro_f1(), (4.0 / 7 + 0.5) / 3, 1e-15);
  EXPECT_THROW(cm.add(3, 0), Error);
}

TEST(Metrics, CountsCorrectArgmaxRows) {
  Tensor logits = tensor({0.1, 0.9, 0.8, 0.2, 0.3, 0.7}, {3, 2});
  EXPECT_EQ(count_correct(logits, tensor({1, 0, 0})), 2);
}

TEST(XmlCheck, AcceptsWellFormedAndNamesTheProblem) {
  EXPECT_EQ(xml_error("<?xml version=\"1.0\"?>\n<!DOCTYPE svg>\n<!-- c --><svg a=\"1\"><g><text>a &amp; b</text></g><p/></svg>\n"), "");
  EXPECT_NE(xml_error("<svg><g></svg>"), "");
  EXPECT_NE(xml_error("<svg a=1></svg>"), "");
  EXPECT_NE(xml_error("<svg>&nbsp;</svg>"), "");
  EXPECT_NE(xml_error("<svg></svg><svg></svg>"), "");
  EXPECT_NE(xml_error(""), "");
  EXPECT_NE(xml_error("<svg>"), "");
}

}  // namespace
}  // namespace graft::examples

namespace graft::examples::testing {
namespace {

// Every example answers --help, and a bad value gets one short line naming the flag, not CLI11's range text.
TEST(ExampleFlags, BadValuesGetShortMessages) {
  const RunResult epochs = run_example("mlp_fashion_mnist", {"--epochs", "0"});
  EXPECT_NE(epochs.status, 0);
  EXPECT_NE(epochs.output.find("--epochs: must be positive, got 0"), std::string::npos) << epochs.output;
  EXPECT_LT(epochs.output.size(), 160u) << epochs.output;
  const RunResult smoothing = run_example("imbalanced_losses", {"--label-smoothing", "1.5"});
  EXPECT_NE(smoothing.output.find("--label-smoothing: must be between 0 and 1, got 1.5"), std::string::npos)
      << smoothing.output;
  const RunResult text = run_example("tiny_gpt", {"--steps", "many"});
  EXPECT_NE(text.output.find("--steps"), std::string::npos) << text.output;
  EXPECT_LT(text.output.size(), 200u) << text.output;
  for (const char* program : {"quickstart", "gradient_descent", "manual_mlp", "mlp_fashion_mnist", "cnn_fashion_mnist",
                              "imbalanced_losses", "tiny_gpt", "zero_demo", "zero_memory", "zero_checkpoint", "custom_op"}) {
    const RunResult help = run_example(program, {"--help"});
    EXPECT_EQ(help.status, 0) << program << "\n" << help.output;
    EXPECT_NE(help.output.find("--out-dir"), std::string::npos) << program << "\n" << help.output;
  }
}

TEST(ExampleFlags, ZeroMemorySavesItsTableIntoANewOutDir) {
  TempDir dir;
  const RunResult run = run_example("zero_memory", {"--out-dir", dir / "a/b"});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(read_file(dir / "a/b/zero_memory.txt").find("Table 1"), std::string::npos);
}

}  // namespace
}  // namespace graft::examples::testing
