// generate(): greedy decoding and sampling (temperature, top-k, top-p) over toy language models whose
// next-token distributions are known, the use of the decoding state, reproducibility and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "graft/graft.h"
#include "toy_lms.h"

using namespace graft;
using graft::testing::FunctionLM;
using graft::testing::Tokens;

namespace {

const double kInf = INFINITY;

Tensor ids(std::vector<int64_t> values, int64_t rows) {
  const auto n = static_cast<int64_t>(values.size());
  return tensor(values, {rows, n / rows}, kInt64);
}

std::vector<Tokens> rows_of(const Tensor& t) {
  std::vector<Tokens> out;
  const int64_t width = t.size(1);
  const Tokens all = t.to_vector<int64_t>();
  for (int64_t r = 0; r < t.size(0); ++r) out.emplace_back(all.begin() + r * width, all.begin() + (r + 1) * width);
  return out;
}

// A table of random logits, all distinct in each row, with the largest at least `gap` above the others.
std::vector<std::vector<double>> random_table(int64_t vocab, uint64_t seed, double gap = 0.5) {
  Generator gen(seed);
  std::vector<std::vector<double>> table(static_cast<size_t>(vocab));
  for (auto& row : table) {
    for (int64_t v = 0; v < vocab; ++v) row.push_back(gen.uniform() * 4 - 2);
    *std::max_element(row.begin(), row.end()) += gap;
  }
  return table;
}

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR_CONTAINS(stmt, text) EXPECT_NE(error_of([&] { stmt; }).find(text), std::string::npos) << error_of([&] { stmt; })

// Counts of each token among the generated positions (after the prompt) of every row.
std::map<int64_t, int64_t> generated_counts(const Tensor& out, int64_t prompt_length) {
  std::map<int64_t, int64_t> counts;
  for (const Tokens& row : rows_of(out))
    for (size_t i = static_cast<size_t>(prompt_length); i < row.size(); ++i) ++counts[row[i]];
  return counts;
}

// ---- greedy ----

TEST(GenerateGreedy, PicksTheArgmaxAtEveryStep) {
  auto table = random_table(7, 1);
  for (DType dt : {kFloat64, kFloat32}) {
    FunctionLM lm = graft::testing::bigram_lm(table, dt);
    nn::GenerationConfig config;
    config.max_new_tokens = 9;
    Tensor prompt = ids({3, 1, 4, 1, 5, 6, 2, 6, 5}, 3);
    Tensor out = nn::generate(lm, prompt, config);
    ASSERT_EQ(out.shape(), (Shape{3, 12}));
    for (const Tokens& row : rows_of(out)) {
      for (size_t i = 3; i < row.size(); ++i) {
        const auto& logits = table[static_cast<size_t>(row[i - 1])];
        EXPECT_EQ(row[i], std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
    }
    EXPECT_EQ(rows_of(out)[1][0], 1);  // the prompt comes first
    EXPECT_EQ(rows_of(out)[1][2], 6);
  }
}

TEST(GenerateGreedy, TiesGoToTheLowestTokenId) {
  FunctionLM lm = graft::testing::unigram_lm({0.0, 2.0, 1.0, 2.0});
  nn::GenerationConfig config;
  config.max_new_tokens = 3;
  EXPECT_EQ(rows_of(nn::generate(lm, ids({0}, 1), config))[0], (Tokens{0, 1, 1, 1}));
}

TEST(GenerateGreedy, FinishedRowsArePaddedAndGenerationStopsWhenAllRowsFinish) {
  // 0 -> 1 -> 2 -> 3 (EOS), 4 -> 3, 3 -> 3.
  std::vector<std::vector<double>> table(5, std::vector<double>(5, 0.0));
  table[0][1] = table[1][2] = table[2][3] = table[4][3] = table[3][3] = 5;
  FunctionLM lm = graft::testing::bigram_lm(table);
  nn::GenerationConfig config;
  config.max_new_tokens = 10;
  config.eos_token_id = 3;
  Tensor out = nn::generate(lm, ids({0, 4}, 2), config);
  // Row 0 needs 3 steps, row 1 one; both then pad with EOS (no pad_token_id given).
  EXPECT_EQ(rows_of(out), (std::vector<Tokens>{{0, 1, 2, 3}, {4, 3, 3, 3}}));
  EXPECT_EQ(lm.calls.size(), 3u);  // no forward after the last token
  config.pad_token_id = 0;
  EXPECT_EQ(rows_of(nn::generate(lm, ids({0, 4}, 2), config)), (std::vector<Tokens>{{0, 1, 2, 3}, {4, 3, 0, 0}}));
  // Without EOS it runs to max_new_tokens.
  config.eos_token_id.reset();
  config.max_new_tokens = 5;
  EXPECT_EQ(nn::generate(lm, ids({0, 4}, 2), config).shape(), (Shape{2, 6}));
}

// ---- the decoding state ----

TEST(Generate, FeedsThePromptOnceAndThenOnlyTheNewTokens) {
  for (int mode = 0; mode < 3; ++mode) {
    FunctionLM lm = graft::testing::hashed_lm(6, 3);
    nn::GenerationConfig config;
    config.max_new_tokens = 5;
    config.do_sample = mode == 1;
    config.seed = 1;
    config.num_beams = mode == 2 ? 3 : 1;
    Tensor out = nn::generate(lm, ids({1, 2, 3, 4, 0, 0, 5, 1}, 2), config);
    EXPECT_EQ(out.shape(), (Shape{2, 9}));
    const int64_t rows = mode == 2 ? 6 : 2;
    ASSERT_EQ(lm.calls.size(), 5u) << mode;
    EXPECT_EQ(lm.calls[0], std::make_pair(int64_t{2}, int64_t{4}));  // the prompt, once per row
    for (size_t i = 1; i < lm.calls.size(); ++i) EXPECT_EQ(lm.calls[i], std::make_pair(rows, int64_t{1})) << mode;
    EXPECT_EQ(lm.tokens_fed(), 2 * 4 + 4 * rows) << mode;
  }
}

TEST(Generate, RunsWithoutRecordingTheGraph) {
  FunctionLM lm = graft::testing::hashed_lm(4, 1);
  nn::GenerationConfig config;
  config.max_new_tokens = 3;
  nn::generate(lm, ids({1}, 1), config);
  config.num_beams = 2;
  nn::generate(lm, ids({1}, 1), config);
  ASSERT_FALSE(lm.grad_mode_seen.empty());
  for (bool on : lm.grad_mode_seen) EXPECT_FALSE(on);
  EXPECT_TRUE(GradMode::is_enabled());
}

// ---- sampling ----

TEST(GenerateSampling, SameSeedSameOutputDifferentSeedsDiffer) {
  FunctionLM lm = graft::testing::hashed_lm(50, 7);
  nn::GenerationConfig config;
  config.max_new_tokens = 30;
  config.do_sample = true;
  Tensor prompt = ids({1, 2, 3, 4}, 2);
  config.seed = 42;
  Tensor a = nn::generate(lm, prompt, config), b = nn::generate(lm, prompt, config);
  EXPECT_TRUE(equal(a, b));
  config.seed = 43;
  EXPECT_FALSE(equal(a, nn::generate(lm, prompt, config)));
  // A generator seeded alike draws the same; it advances, so the next call differs.
  Generator gen(42);
  config.seed.reset();
  config.generator = &gen;
  EXPECT_TRUE(equal(a, nn::generate(lm, prompt, config)));
  EXPECT_FALSE(equal(a, nn::generate(lm, prompt, config)));
  // The global generator, through manual_seed.
  config.generator = nullptr;
  manual_seed(5);
  Tensor c = nn::generate(lm, prompt, config);
  manual_seed(5);
  EXPECT_TRUE(equal(c, nn::generate(lm, prompt, config)));
}

TEST(GenerateSampling, FollowsTheModelsDistribution) {
  // From token 0: 1 or 2 (equally likely); from 1 and 2: 0 always. Tokens of probability 0 never appear.
  std::vector<std::vector<double>> table = {{-kInf, 0.0, 0.0}, {0.0, -kInf, -kInf}, {0.0, -kInf, -kInf}};
  FunctionLM lm = graft::testing::bigram_lm(table);
  nn::GenerationConfig config;
  config.max_new_tokens = 40;
  config.do_sample = true;
  config.seed = 3;
  Tensor out = nn::generate(lm, tensor(std::vector<int64_t>(50, 0), {50, 1}, kInt64), config);
  int64_t ones = 0, twos = 0;
  for (const Tokens& row : rows_of(out))
    for (size_t i = 1; i < row.size(); ++i) {
      if (row[i - 1] == 0) {
        ASSERT_NE(row[i], 0);
        (row[i] == 1 ? ones : twos)++;
      } else {
        ASSERT_EQ(row[i], 0);
      }
    }
  EXPECT_EQ(ones + twos, 50 * 20);
  EXPECT_NEAR(static_cast<double>(ones) / (ones + twos), 0.5, 0.05);
}

TEST(GenerateSampling, TopPNeverSamplesOutsideTheNucleus) {
  // Probabilities by token: 0.1 0.35 0.2 0.25 0.1. For top_p = 0.7 the nucleus is 0.35 + 0.25 = 0.6, then
  // 0.2 (token 2) crosses 0.7: tokens {1, 3, 2}. Tokens 0 and 4 must never appear.
  const std::vector<double> probs = {0.1, 0.35, 0.2, 0.25, 0.1};
  std::vector<double> logits;
  for (double p : probs) logits.push_back(std::log(p));
  FunctionLM lm = graft::testing::unigram_lm(logits);
  nn::GenerationConfig config;
  config.max_new_tokens = 200;
  config.do_sample = true;
  config.top_p = 0.7;
  config.seed = 123;
  auto counts = generated_counts(nn::generate(lm, tensor(std::vector<int64_t>(40, 0), {40, 1}, kInt64), config), 1);
  EXPECT_EQ(counts.count(0), 0u);
  EXPECT_EQ(counts.count(4), 0u);
  const double n = 8000;
  // The nucleus, renormalised: 0.35 / 0.8, 0.25 / 0.8, 0.2 / 0.8 (the crossing token is sampled too).
  EXPECT_NEAR(counts[1] / n, 0.4375, 0.02);
  EXPECT_NEAR(counts[3] / n, 0.3125, 0.02);
  EXPECT_NEAR(counts[2] / n, 0.25, 0.02);
}

TEST(GenerateSampling, TopPKeepsAllTokensTiedAtTheBoundary) {
  // 0.3 (token 4), then three tokens of 0.2; top_p = 0.4 is crossed by a 0.2, so all three are in the nucleus.
  FunctionLM lm = graft::testing::unigram_lm({std::log(0.2), std::log(0.1), std::log(0.2), std::log(0.2), std::log(0.3)});
  nn::GenerationConfig config;
  config.max_new_tokens = 100;
  config.do_sample = true;
  config.top_p = 0.4;
  config.seed = 9;
  auto counts = generated_counts(nn::generate(lm, tensor(std::vector<int64_t>(30, 0), {30, 1}, kInt64), config), 1);
  EXPECT_EQ(counts.count(1), 0u);
  for (int64_t t : {0, 2, 3}) EXPECT_NEAR(counts[t] / 3000.0, 0.2 / 0.9, 0.025) << t;
  EXPECT_NEAR(counts[4] / 3000.0, 0.3 / 0.9, 0.025);
}

TEST(GenerateSampling, TopKNeverSamplesOutsideTheKBest) {
  FunctionLM lm = graft::testing::unigram_lm({0.5, 2.0, -1.0, 1.0, 1.5, 0.0});
  nn::GenerationConfig config;
  config.max_new_tokens = 100;
  config.do_sample = true;
  config.top_k = 2;
  config.seed = 77;
  auto counts = generated_counts(nn::generate(lm, tensor(std::vector<int64_t>(30, 0), {30, 1}, kInt64), config), 1);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[1] + counts[4], 3000);
  // p(1) / p(4) = e^0.5 within the two kept tokens.
  EXPECT_NEAR(counts[1] / 3000.0, 1 / (1 + std::exp(-0.5)), 0.025);
}

TEST(GenerateSampling, TemperatureNearZeroIsGreedy) {
  auto table = random_table(9, 4, 0.2);
  FunctionLM lm = graft::testing::bigram_lm(table);
  Tensor prompt = ids({0, 1, 2, 3, 4, 5, 6, 7, 8}, 9);
  nn::GenerationConfig config;
  config.max_new_tokens = 12;
  Tensor greedy = nn::generate(lm, prompt, config);
  config.do_sample = true;
  config.temperature = 1e-3;  // the runner-up is at least e^-200 times less likely
  for (uint64_t seed = 0; seed < 5; ++seed) {
    config.seed = seed;
    EXPECT_TRUE(equal(nn::generate(lm, prompt, config), greedy)) << seed;
  }
  config.temperature = 1.0;  // while at temperature 1 sampling departs from it
  EXPECT_FALSE(equal(nn::generate(lm, prompt, config), greedy));
}

TEST(GenerateSampling, HighTemperatureFlattensTheDistribution) {
  // softmax(0, 1, 2, 3) = 0.032 0.087 0.237 0.644.
  FunctionLM lm = graft::testing::unigram_lm({0.0, 1.0, 2.0, 3.0});
  nn::GenerationConfig config;
  config.max_new_tokens = 100;
  config.do_sample = true;
  config.seed = 2;
  Tensor prompt = tensor(std::vector<int64_t>(40, 0), {40, 1}, kInt64);
  double previous_entropy = -1;
  for (double t : {0.5, 1.0, 2.0, 100.0}) {
    config.temperature = t;
    auto counts = generated_counts(nn::generate(lm, prompt, config), 1);
    double entropy = 0;
    for (auto [token, count] : counts) {
      const double p = count / 4000.0;
      entropy -= p * std::log(p);
    }
    EXPECT_GT(entropy, previous_entropy) << t;
    previous_entropy = entropy;
    if (t == 1.0) {
      EXPECT_NEAR(counts[3] / 4000.0, 0.644, 0.025);
    }
    if (t == 100.0) {
      for (int64_t token = 0; token < 4; ++token) EXPECT_NEAR(counts[token] / 4000.0, 0.25, 0.025) << token;
    }
  }
  EXPECT_NEAR(previous_entropy, std::log(4.0), 0.01);
}

TEST(GenerateSampling, WarpersApplyInHFOrder) {
  Tensor x = randn({3, 10}, kFloat64);
  nn::GenerationConfig config;
  config.temperature = 0.7;
  config.top_k = 5;
  config.top_p = 0.8;
  Tensor expected = nn::top_p_filter(nn::top_k_filter(nn::temperature_scale(x, 0.7), 5), 0.8);
  EXPECT_TRUE(equal(nn::warp_logits(x, config), expected));
}

TEST(GenerateSampling, NumReturnSequencesDrawsIndependentSamplesPerPromptRow) {
  FunctionLM lm = graft::testing::hashed_lm(30, 5);
  nn::GenerationConfig config;
  config.max_new_tokens = 8;
  config.do_sample = true;
  config.num_return_sequences = 3;
  config.seed = 1;
  Tensor out = nn::generate(lm, ids({7, 8, 9, 10}, 2), config);
  ASSERT_EQ(out.shape(), (Shape{6, 10}));
  auto rows = rows_of(out);
  for (size_t r = 0; r < 6; ++r) {
    EXPECT_EQ(rows[r][0], r < 3 ? 7 : 9);
    EXPECT_EQ(rows[r][1], r < 3 ? 8 : 10);
  }
  EXPECT_EQ(std::set<Tokens>(rows.begin(), rows.end()).size(), 6u);
  EXPECT_EQ(lm.calls[0], std::make_pair(int64_t{2}, int64_t{2}));  // the prompt is fed once per prompt row
  EXPECT_EQ(lm.calls[1], std::make_pair(int64_t{6}, int64_t{1}));
}

// ---- errors ----

TEST(Generate, RejectsBadConfigs) {
  FunctionLM lm = graft::testing::hashed_lm(5, 1);
  Tensor prompt = ids({1, 2}, 1);
  auto with = [&](auto change) {
    nn::GenerationConfig c;
    c.max_new_tokens = 2;
    change(c);
    return c;
  };
  for (double p : {0.0, -0.5, 1.01, double(NAN)})
    EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([&](auto& c) { c.do_sample = true; c.top_p = p; })),
                          "generate: top_p must be in (0, 1]");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([](auto& c) { c.top_k = -1; })), "top_k must be non-negative");
  for (double t : {0.0, -1.0, double(NAN), kInf})
    EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([&](auto& c) { c.do_sample = true; c.temperature = t; })),
                          "temperature must be a positive finite number when sampling");
  // Greedy decoding ignores the temperature, as HF does.
  EXPECT_NO_THROW(nn::generate(lm, prompt, with([](auto& c) { c.temperature = 0; })));
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([](auto& c) { c.max_new_tokens = 0; })),
                        "max_new_tokens must be at least 1");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([](auto& c) { c.num_beams = 0; })), "num_beams must be at least 1");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([](auto& c) { c.num_beams = 2; c.do_sample = true; })),
                        "beam sampling");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([](auto& c) { c.num_return_sequences = 2; })),
                        "num_return_sequences (2) cannot exceed num_beams (1)");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([](auto& c) { c.num_return_sequences = 0; })),
                        "num_return_sequences must be at least 1");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([](auto& c) { c.eos_token_id = 5; })),
                        "eos_token_id 5 is outside the vocabulary [0, 5)");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([](auto& c) { c.pad_token_id = -1; })), "pad_token_id -1");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([](auto& c) { c.length_penalty = NAN; })),
                        "length_penalty must be finite");
  Generator gen;
  EXPECT_ERROR_CONTAINS(nn::generate(lm, prompt, with([&](auto& c) { c.do_sample = true; c.generator = &gen; c.seed = 1; })),
                        "either a generator or a seed");
}

TEST(Generate, RejectsBadPrompts) {
  FunctionLM lm = graft::testing::hashed_lm(5, 1);
  EXPECT_ERROR_CONTAINS(nn::generate(lm, zeros({1, 0}, kInt64)), "generate: input_ids is empty (shape [1, 0])");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, zeros({0, 3}, kInt64)), "input_ids is empty");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, zeros({1, 3})), "input_ids must be int64 token ids, got float32");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, zeros({3}, kInt64)), "input_ids must have shape (batch, length), got [3]");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, ids({1, 2, 3, 9}, 2)), "input_ids[1, 1] = 9 is outside the vocabulary [0, 5)");
  EXPECT_ERROR_CONTAINS(nn::generate(lm, Tensor()), "input_ids is an undefined tensor");
  nn::GenerationConfig beams;
  beams.num_beams = 2;
  EXPECT_ERROR_CONTAINS(nn::beam_search(lm, zeros({1, 3}), beams), "beam_search: input_ids must be int64");
}

// A model that breaks the CausalLM contract in a given way.
class BrokenLM : public nn::CausalLM {
 public:
  enum Fault { kWrongShape, kStateNotAdvanced, kNaN, kIntegerLogits };
  explicit BrokenLM(Fault fault) : nn::CausalLM("BrokenLM"), fault_(fault) {}
  std::unique_ptr<nn::DecoderState> new_state(int64_t batch) override {
    return std::make_unique<graft::testing::HistoryState>(batch);
  }
  Tensor forward(const Tensor& tokens, nn::DecoderState& state) override {
    auto& s = dynamic_cast<graft::testing::HistoryState&>(state);
    if (fault_ != kStateNotAdvanced)
      for (auto& row : s.rows) row.insert(row.end(), static_cast<size_t>(tokens.size(1)), 0);
    if (fault_ == kWrongShape) return zeros({tokens.size(0), 4});
    if (fault_ == kNaN) return full({tokens.size(0), tokens.size(1), 4}, NAN);
    if (fault_ == kIntegerLogits) return zeros({tokens.size(0), tokens.size(1), 4}, kInt64);
    return zeros({tokens.size(0), tokens.size(1), 4});
  }
  int64_t vocab_size() const override { return 4; }

 private:
  Fault fault_;
};

TEST(Generate, ReportsModelsThatBreakTheContract) {
  Tensor prompt = ids({1, 2}, 1);
  BrokenLM wrong_shape(BrokenLM::kWrongShape), stuck(BrokenLM::kStateNotAdvanced), nan(BrokenLM::kNaN),
      ints(BrokenLM::kIntegerLogits);
  EXPECT_ERROR_CONTAINS(nn::generate(wrong_shape, prompt), "the model returned logits of shape [1, 4]");
  EXPECT_ERROR_CONTAINS(nn::generate(stuck, prompt), "state has length 0 after consuming 2 tokens");
  EXPECT_ERROR_CONTAINS(nn::generate(nan, prompt), "returned a logit of nan (row 0, token 0)");
  EXPECT_ERROR_CONTAINS(nn::generate(ints, prompt), "returned int64 logits");
}

}  // namespace
