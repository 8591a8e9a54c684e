// examples/cnn_fashion_mnist in its short mode (1 epoch on 1000 training images): it trains the anchor's CNN,
// writes its checkpoint, weights and pictures, and resumes bit for bit (the training run is the one
// mlp_fashion_mnist shares, tested in full there). One OpenMP thread, as the other example tests.
#include <gtest/gtest.h>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

TEST(ExampleCnnFashionMnist, QuickRunTrainsTheCnnAndResumesBitForBit) {
  TempDir straight, interrupted;
  auto args = [](const TempDir& dir, std::vector<std::string> extra) {
    std::vector<std::string> a{"--quick", "--threads", "1", "--epochs", "2", "--limit-train", "600", "--out-dir", dir.path()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const RunResult run = run_example("cnn_fashion_mnist", args(straight, {}));
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("600 training and 500 test images"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("421642 parameters"), std::string::npos) << run.output;  // PyTorch's count
  const size_t at = run.output.find("Final test accuracy: ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stod(run.output.substr(at + 21)), 40.0) << run.output;  // chance is 10%
  EXPECT_EQ(svg_error(straight / "curves.svg"), "");
  const std::string dot = read_file(straight / "graph.dot");
  EXPECT_NE(dot.find("ConvolutionBackward0"), std::string::npos);
  EXPECT_NE(dot.find("MaxPool2DWithIndicesBackward0"), std::string::npos);
  EXPECT_NE(dot.find("0.weight"), std::string::npos);
  EXPECT_EQ(svg_error(straight / "graph.svg"), "");

  ASSERT_EQ(run_example("cnn_fashion_mnist", args(interrupted, {"--stop-after-epoch", "1"})).status, 0);
  const RunResult resumed = run_example("cnn_fashion_mnist", args(interrupted, {"--resume"}));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  const std::string wa = read_file(straight / "model.safetensors"), wb = read_file(interrupted / "model.safetensors");
  ASSERT_FALSE(wa.empty());
  EXPECT_TRUE(wa == wb) << "the resumed run's weights differ from the uninterrupted run's";
}

}  // namespace
}  // namespace graft::examples::testing
