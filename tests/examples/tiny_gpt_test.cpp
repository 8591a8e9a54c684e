// examples/tiny_gpt in its short mode (a 2-layer, 32-wide model for 40 steps on the GPL v3): it prints the
// train and validation losses, which fall, continues the prompt four ways (greedy, top-k, top-p, beam
// search), checks greedy KV-cache decoding against a full forward pass, and writes its weights, checkpoint
// and pictures. One OpenMP thread, as the other example tests (the result does not depend on it).
#include <gtest/gtest.h>

#include <algorithm>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

// The continuation printed under the "--- <title> (...) ---" header: everything up to the next header, the
// greedy check's note or the list of files (a continuation may itself hold blank lines).
std::string section(const std::string& output, const std::string& title) {
  const size_t header = output.find("--- " + title);
  if (header == std::string::npos) return "";
  const size_t body = output.find('\n', header) + 1;
  size_t end = output.size();
  for (const char* next : {"\n--- ", "\n(greedy decoding", "\nweights: "}) end = std::min(end, output.find(next, body));
  return output.substr(body, end - body);
}

// The header line of a continuation.
std::string header(const std::string& output, const std::string& title) {
  const size_t at = output.find("--- " + title);
  return at == std::string::npos ? "" : output.substr(at, output.find('\n', at) - at);
}

TEST(ExampleTinyGpt, QuickRunLearnsSamplesFourWaysAndWritesEverything) {
  TempDir dir;
  const RunResult run = run_example("tiny_gpt", {"--quick", "--threads", "1", "--out", dir.path()});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("76 distinct"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("steps 1-20/40"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("steps 21-40/40"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("chars/s"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find('\x1b'), std::string::npos);
  EXPECT_EQ(run.output.find('\r'), std::string::npos);

  // Step 0, two evaluations during training, and the final line.
  const auto l = train_val_losses(run.output);
  ASSERT_EQ(l.size(), 4u) << run.output;
  const auto [train0, val0] = l.front();
  const auto [train1, val1] = l.back();
  EXPECT_GT(train0, 3.5) << "an untrained model is close to uniform over 76 characters (4.33 nats)";
  EXPECT_LT(train1, train0 - 0.5) << run.output;
  EXPECT_LT(val1, val0 - 0.5) << run.output;
  EXPECT_EQ(l[2], l[3]) << "the final line repeats the last evaluation";

  // Four continuations of the default prompt, each the prompt followed by 40 new characters.
  for (const char* title : {"greedy", "top-k sampling", "top-p sampling", "beam search"}) {
    const std::string text = section(run.output, title);
    EXPECT_EQ(text.rfind("This License", 0), 0u) << title << ":\n" << run.output;
    EXPECT_NE(header(run.output, title).find("(40 characters,"), std::string::npos) << header(run.output, title);
    EXPECT_GE(text.size(), std::string("This License").size() + 40) << title << ":\n" << text;
  }
  EXPECT_NE(run.output.find("agrees with a full forward pass at all 40 positions"), std::string::npos) << run.output;

  EXPECT_GT(read_file(dir / "model.safetensors").size(), 4 * 20000u);
  EXPECT_NE(read_file(dir / "model.safetensors").find("layers.1.attn.k_proj.weight"), std::string::npos);
  EXPECT_NE(read_file(dir / "checkpoint.safetensors").find("optimizer."), std::string::npos);
  EXPECT_EQ(svg_error(dir / "curves.svg"), "");
  EXPECT_NE(read_file(dir / "graph.dot").find("embed_tokens.weight"), std::string::npos);
  EXPECT_EQ(svg_error(dir / "graph.svg"), "");
}

TEST(ExampleTinyGpt, SameSeedSameRun) {
  TempDir a, b;
  const std::vector<std::string> args{"--quick", "--threads", "1", "--steps", "6", "--warmup", "2", "--eval-every", "3",
                                      "--max-new-tokens", "12"};
  auto with_dir = [&](const TempDir& dir) {
    std::vector<std::string> v = args;
    v.insert(v.end(), {"--out-dir", dir.path()});
    return v;
  };
  const RunResult first = run_example("tiny_gpt", with_dir(a)), second = run_example("tiny_gpt", with_dir(b));
  ASSERT_EQ(first.status, 0) << first.output;
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_EQ(train_val_losses(first.output), train_val_losses(second.output));
  for (const char* title : {"greedy", "top-k sampling", "top-p sampling", "beam search"})
    EXPECT_EQ(section(first.output, title), section(second.output, title)) << title;
  EXPECT_EQ(read_file(a / "model.safetensors"), read_file(b / "model.safetensors"));
}

TEST(ExampleTinyGpt, BadInputIsAClearError) {
  TempDir dir;
  const RunResult missing = run_example("tiny_gpt", {"--quick", "--text", dir / "no-such-file.txt", "--out-dir", dir.path()});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("error: --text: there is no file at"), std::string::npos) << missing.output;

  const RunResult prompt = run_example("tiny_gpt", {"--quick", "--prompt", "Zebra ~", "--out-dir", dir.path()});
  EXPECT_EQ(prompt.status, 1);
  EXPECT_NE(prompt.output.find("--prompt: the character \"Z\""), std::string::npos) << prompt.output;

  const RunResult heads = run_example("tiny_gpt", {"--quick", "--heads", "4", "--kv-heads", "3", "--out-dir", dir.path()});
  EXPECT_EQ(heads.status, 1) << heads.output;
  EXPECT_NE(heads.output.find("error: "), std::string::npos) << heads.output;
}

// --amp bf16: the products in bfloat16 under autocast, float32 master weights; it learns as the float32 run
// does (the full-length comparison is in the README: validation loss within 0.05 nats).
TEST(ExampleTinyGpt, MixedPrecisionLearnsLikeFloat32) {
  TempDir plain, mixed;
  const RunResult f32 = run_example("tiny_gpt", {"--quick", "--threads", "1", "--out-dir", plain.path()});
  const RunResult bf16 = run_example("tiny_gpt", {"--quick", "--threads", "1", "--amp", "bf16", "--out-dir", mixed.path()});
  ASSERT_EQ(f32.status, 0) << f32.output;
  ASSERT_EQ(bf16.status, 0) << bf16.output;
  EXPECT_NE(bf16.output.find("mixed precision (bf16 products, float32 master weights)"), std::string::npos) << bf16.output;
  const auto a = train_val_losses(f32.output), b = train_val_losses(bf16.output);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u) << bf16.output;
  EXPECT_NEAR(b.back().second, a.back().second, 0.1) << "validation loss, bf16 vs float32";
  EXPECT_LT(b.back().second, b.front().second - 0.5) << bf16.output;
  // The weights stay float32: the checkpoint holds no 16-bit tensor.
  EXPECT_EQ(read_file(mixed / "model.safetensors").find("BF16"), std::string::npos);
}

TEST(ExampleTinyGpt, HelpListsTheFlags) {
  const RunResult help = run_example("tiny_gpt", {"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* flag : {"--steps", "--quick", "--seed", "--out-dir", "--out", "--text", "--d-model", "--layers", "--heads",
                           "--kv-heads", "--ffn-hidden", "--context", "--batch-size", "--lr", "--warmup", "--prompt",
                           "--max-new-tokens", "--top-k", "--top-p", "--beams", "--threads", "--amp"})
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace graft::examples::testing
