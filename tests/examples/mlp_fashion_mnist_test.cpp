// examples/mlp_fashion_mnist in its short mode (2 epochs on 2000 training images): it trains, writes its
// checkpoint, weights and pictures, and a run interrupted after epoch 1 and resumed ends with the same
// weights, byte for byte, as an uninterrupted one. One OpenMP thread: the tests run beside other builds,
// where two-thread regions wait on each other (the result does not depend on it, only the time).
#include <gtest/gtest.h>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

std::vector<std::string> quick(const TempDir& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--quick", "--threads", "1", "--out-dir", dir.path()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Each run reads the whole of Fashion-MNIST first (about a second), so the tests make few runs.
TEST(ExampleMlpFashionMnist, QuickRunTrainsWritesEverythingAndResumesBitForBit) {
  TempDir straight, interrupted;
  const RunResult run = run_example("mlp_fashion_mnist", quick(straight));
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("2000 training and 1000 test images"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("epoch 1/2"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("epoch 2/2"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("samples/s"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find('\x1b'), std::string::npos);
  EXPECT_EQ(run.output.find('\r'), std::string::npos);
  // Two epochs on 2000 images already beat chance (10%) by far.
  const size_t at = run.output.find("Final test accuracy: ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stod(run.output.substr(at + 21)), 50.0) << run.output;
  EXPECT_GT(read_file(straight / "checkpoint.safetensors").size(), 3 * 535818 * 4u) << "weights and Adam's two moments";
  EXPECT_GT(read_file(straight / "model.safetensors").size(), 535818 * 4u);
  EXPECT_EQ(svg_error(straight / "curves.svg"), "");
  const std::string dot = read_file(straight / "graph.dot");
  EXPECT_NE(dot.find("0.weight"), std::string::npos);
  EXPECT_NE(dot.find("ReluBackward0"), std::string::npos);
  EXPECT_EQ(svg_error(straight / "graph.svg"), "");

  // The same run, interrupted after epoch 1 and resumed.
  const RunResult first = run_example("mlp_fashion_mnist", quick(interrupted, {"--stop-after-epoch", "1"}));
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_NE(first.output.find("Stopping after epoch 1"), std::string::npos) << first.output;
  EXPECT_EQ(read_file(interrupted / "model.safetensors"), "") << "an interrupted run writes no final weights";
  const RunResult second = run_example("mlp_fashion_mnist", quick(interrupted, {"--resume"}));
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_NE(second.output.find("Resuming from"), std::string::npos) << second.output;
  EXPECT_EQ(second.output.find("epoch 1/2"), std::string::npos) << "epoch 1 is not trained again";

  const std::string wa = read_file(straight / "model.safetensors"), wb = read_file(interrupted / "model.safetensors");
  ASSERT_FALSE(wa.empty());
  EXPECT_TRUE(wa == wb) << "the resumed run's weights differ from the uninterrupted run's";
  // Both report the whole history, so the tables agree too (but for the times).
  auto table = [](const std::string& out) {
    const size_t from = out.find("epoch  train loss");
    return out.substr(from, out.find("Final test") - from);
  };
  auto without_times = [](const std::string& t) {
    std::string out;
    for (size_t i = 0; i < t.size();) {
      size_t end = t.find('\n', i);
      if (end == std::string::npos) end = t.size();
      const std::string line = t.substr(i, end - i);
      out += line.substr(0, line.rfind('%') + 1) + "\n";
      i = end + 1;
    }
    return out;
  };
  EXPECT_EQ(without_times(table(run.output)), without_times(table(second.output)));
}

TEST(ExampleMlpFashionMnist, ResumeChecksTheCheckpointAndTheSettings) {
  TempDir constant, cosine;
  const RunResult none = run_example("mlp_fashion_mnist", quick(constant, {"--resume"}));
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.output.find("there is no checkpoint"), std::string::npos) << none.output;

  const std::vector<std::string> small{"--limit-train", "300", "--limit-test", "100"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), small.begin(), small.end());
    return quick(extra.back() == "cosine" ? cosine : constant, extra);
  };
  // A constant learning rate: other settings are refused, more epochs are fine.
  ASSERT_EQ(run_example("mlp_fashion_mnist", with({"--epochs", "1", "--schedule", "constant"})).status, 0);
  const RunResult other = run_example("mlp_fashion_mnist", with({"--resume", "--epochs", "1", "--lr", "0.01", "--schedule", "constant"}));
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.output.find("lr: the checkpoint has 0.001, this run 0.01"), std::string::npos) << other.output;
  const RunResult more = run_example("mlp_fashion_mnist", with({"--resume", "--epochs", "2", "--schedule", "constant"}));
  EXPECT_EQ(more.status, 0) << more.output;
  EXPECT_NE(more.output.find("epoch 2/2"), std::string::npos) << more.output;
  EXPECT_EQ(more.output.find("epoch 1/2"), std::string::npos) << more.output;

  // A cosine schedule is planned for its number of epochs: that cannot change.
  ASSERT_EQ(run_example("mlp_fashion_mnist", with({"--epochs", "1", "--schedule", "cosine"})).status, 0);
  const RunResult refused = run_example("mlp_fashion_mnist", with({"--resume", "--epochs", "2", "--schedule", "cosine"}));
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.output.find("epochs: the checkpoint has 1, this run 2"), std::string::npos) << refused.output;
}

// --amp: autocast around the forward pass and the loss, float32 master weights; f16 adds the loss scaler,
// whose state the checkpoint keeps, so a float16 run resumes bit for bit too. A checkpoint written with
// other --amp settings is refused.
TEST(ExampleMlpFashionMnist, MixedPrecisionTrainsAndResumesBitForBit) {
  TempDir bf16, straight, interrupted;
  const std::vector<std::string> small{"--limit-train", "600", "--limit-test", "300"};
  auto with = [&](const TempDir& dir, std::vector<std::string> extra) {
    extra.insert(extra.end(), small.begin(), small.end());
    return quick(dir, extra);
  };
  const RunResult b = run_example("mlp_fashion_mnist", with(bf16, {"--amp", "bf16"}));
  ASSERT_EQ(b.status, 0) << b.output;
  EXPECT_NE(b.output.find("mixed precision (bf16 products, float32 master weights)"), std::string::npos) << b.output;
  const size_t at = b.output.find("Final test accuracy: ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stod(b.output.substr(at + 21)), 40.0) << b.output;

  const RunResult f16 = run_example("mlp_fashion_mnist", with(straight, {"--amp", "f16"}));
  ASSERT_EQ(f16.status, 0) << f16.output;
  EXPECT_NE(f16.output.find("loss scale 65536; 0 steps skipped"), std::string::npos) << f16.output;
  EXPECT_NE(read_file(straight / "checkpoint.safetensors").find("_growth_tracker"), std::string::npos)
      << "the scaler's state is in the checkpoint";
  ASSERT_EQ(run_example("mlp_fashion_mnist", with(interrupted, {"--amp", "f16", "--stop-after-epoch", "1"})).status, 0);
  const RunResult other = run_example("mlp_fashion_mnist", with(interrupted, {"--resume", "--amp", "bf16"}));
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.output.find(R"(amp: the checkpoint has "f16", this run "bf16")"), std::string::npos) << other.output;
  const RunResult resumed = run_example("mlp_fashion_mnist", with(interrupted, {"--resume", "--amp", "f16"}));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  const std::string wa = read_file(straight / "model.safetensors"), wb = read_file(interrupted / "model.safetensors");
  ASSERT_FALSE(wa.empty());
  EXPECT_TRUE(wa == wb) << "the resumed float16 run's weights differ from the uninterrupted run's";
}

TEST(ExampleMlpFashionMnist, HelpListsTheFlags) {
  const RunResult help = run_example("mlp_fashion_mnist", {"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* flag : {"--epochs", "--batch-size", "--lr", "--seed", "--out-dir", "--quick", "--threads", "--resume",
                           "--limit-train", "--schedule", "--stop-after-epoch", "--amp"})
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace graft::examples::testing
