// examples/char_lstm in its short mode (one LSTM layer of 32 for 40 steps on the GPL v3, the split and windows
// tiny_gpt uses): the train and validation losses fall, two continuations of the prompt are written through
// the carried recurrent state and agree with a full forward pass, and the weights and curves are written.
#include <gtest/gtest.h>


#include "example_runner.h"

namespace graft::examples::testing {
namespace {

// The continuation printed under the "--- <title> ..." header, up to the next blank line.
std::string continuation(const std::string& output, const std::string& title) {
  const size_t header = output.find("--- " + title);
  if (header == std::string::npos) return "";
  const size_t body = output.find('\n', header) + 1;
  return output.substr(body, output.find("\n\n", body) - body);
}

TEST(ExampleCharLstm, QuickRunLearnsAndSamplesThroughTheCarriedState) {
  TempDir dir;
  const RunResult run = run_example("char_lstm", {"--quick", "--threads", "1", "--out", dir.path()});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("76 distinct"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("LSTM(16, 32, num_layers=2, batch_first=True, dropout=0.2)"), std::string::npos)
      << run.output;

  const auto l = train_val_losses(run.output);
  ASSERT_EQ(l.size(), 4u) << run.output;  // step 0, two evaluations, the final line
  const auto [train0, val0] = l.front();
  const auto [train1, val1] = l.back();
  EXPECT_GT(train0, 3.5) << "an untrained model is close to uniform over 76 characters (4.33 nats)";
  EXPECT_LT(train1, train0 - 0.5) << run.output;
  EXPECT_LT(val1, val0 - 0.5) << run.output;

  for (const char* title : {"greedy", "top-k sampling"}) {
    EXPECT_EQ(continuation(run.output, title).rfind("This License", 0), 0u) << title << ":\n" << run.output;
    EXPECT_EQ(continuation(run.output, title).size(), std::string("This License").size() + 40) << run.output;
  }
  EXPECT_NE(run.output.find("(40 characters; the carried state agrees with a full forward pass"), std::string::npos)
      << run.output;

  EXPECT_NE(read_file(dir / "model.safetensors").find("lstm.weight_hh_l1"), std::string::npos);
  EXPECT_EQ(svg_error(dir / "curves.svg"), "");
}

TEST(ExampleCharLstm, SameSeedSameRun) {
  TempDir a, b;
  auto args = [](const TempDir& dir) {
    return std::vector<std::string>{"--quick", "--threads", "1", "--steps", "6", "--eval-every", "3",
                                    "--max-new-tokens", "12", "--out-dir", dir.path()};
  };
  const RunResult first = run_example("char_lstm", args(a)), second = run_example("char_lstm", args(b));
  ASSERT_EQ(first.status, 0) << first.output;
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_EQ(train_val_losses(first.output), train_val_losses(second.output));
  EXPECT_EQ(continuation(first.output, "top-k sampling"), continuation(second.output, "top-k sampling"));
  EXPECT_EQ(read_file(a / "model.safetensors"), read_file(b / "model.safetensors"));
}

TEST(ExampleCharLstm, BadInputIsAClearError) {
  TempDir dir;
  const RunResult missing = run_example("char_lstm", {"--quick", "--text", dir / "none.txt", "--out-dir", dir.path()});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("error: --text: there is no file at"), std::string::npos) << missing.output;
  const RunResult prompt = run_example("char_lstm", {"--quick", "--prompt", "Zebra", "--out-dir", dir.path()});
  EXPECT_EQ(prompt.status, 1);
  EXPECT_NE(prompt.output.find("--prompt: the character \"Z\""), std::string::npos) << prompt.output;
  const RunResult dropout = run_example("char_lstm", {"--quick", "--dropout", "1.5", "--out-dir", dir.path()});
  EXPECT_NE(dropout.status, 0);
  EXPECT_NE(dropout.output.find("--dropout"), std::string::npos) << dropout.output;
}

}  // namespace
}  // namespace graft::examples::testing
