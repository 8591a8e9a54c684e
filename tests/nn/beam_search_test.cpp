// Beam search over toy language models whose scores are known: it beats greedy decoding where greedy's first
// choice leads to a worse sequence, it equals the exhaustive search when the beam is wide enough to hold every
// prefix (with and without EOS, for several length penalties), it equals a plain reference beam search when
// narrow, and width 1 is greedy decoding.
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

Tokens concat(Tokens a, const Tokens& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Sum of log-probabilities of `continuation` after `prompt` under next_logits.
double sum_logprobs(const FunctionLM::NextLogits& next_logits, const Tokens& prompt, const Tokens& continuation) {
  Tokens prefix = prompt;
  double total = 0;
  for (int64_t t : continuation) {
    total += graft::testing::log_probs(next_logits(prefix))[static_cast<size_t>(t)];
    prefix.push_back(t);
  }
  return total;
}

struct Scored {
  Tokens tokens;  // generated, EOS included when it ended with one
  double score;
};

// Every continuation beam search can return: sequences that end with their first EOS, or of max_new tokens
// without EOS; scored sum log p / length ^ length_penalty (the length counting EOS, not the prompt).
std::vector<Scored> all_continuations(const FunctionLM::NextLogits& next_logits, int64_t vocab, const Tokens& prompt,
                                      int64_t max_new, std::optional<int64_t> eos, double length_penalty) {
  std::vector<Scored> out;
  std::vector<Tokens> frontier = {{}};
  for (int64_t length = 1; length <= max_new; ++length) {
    std::vector<Tokens> longer;
    for (const Tokens& prefix : frontier)
      for (int64_t v = 0; v < vocab; ++v) {
        Tokens s = concat(prefix, {v});
        if ((eos && v == *eos) || length == max_new)
          out.push_back({s, sum_logprobs(next_logits, prompt, s) / std::pow(double(length), length_penalty)});
        else
          longer.push_back(s);
      }
    frontier = longer;
  }
  return out;
}

Scored best_of(const std::vector<Scored>& all) {
  return *std::max_element(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return a.score < b.score; });
}

// The row beam search should return for `prompt` and `best`: the prompt, the continuation, then padding.
Tokens expected_row(const Tokens& prompt, const Tokens& continuation, int64_t width, int64_t pad) {
  Tokens row = concat(prompt, continuation);
  row.resize(static_cast<size_t>(width), pad);
  return row;
}

// ---- a model where greedy's first choice is a trap ----
// Vocabulary {0, 1, 2}. First token: p(0) = 0.6, p(1) = 0.4. After 0 the next token is nearly uniform
// (0.34, 0.33, 0.33); after 1 it is 0 with 0.9. Greedy takes 0 then 0 (0.6 * 0.34 = 0.204); the best pair is
// 1 then 0 (0.4 * 0.9 = 0.36).
std::vector<double> trap_logits(const Tokens& prefix) {
  auto logs = [](std::vector<double> p) {
    for (double& x : p) x = std::log(x);
    return p;
  };
  const Tokens generated(prefix.begin() + 1, prefix.end());  // after the one-token prompt
  if (generated.empty()) return logs({0.6, 0.4, 0.0});  // log 0 = -inf
  if (generated.size() == 1) return generated[0] == 0 ? logs({0.34, 0.33, 0.33}) : logs({0.9, 0.05, 0.05});
  return logs({1.0 / 3, 1.0 / 3, 1.0 / 3});
}

TEST(BeamSearch, FindsTheSequenceThatGreedysFirstChoiceMisses) {
  FunctionLM lm(3, trap_logits);
  nn::GenerationConfig config;
  config.max_new_tokens = 2;
  EXPECT_EQ(rows_of(nn::generate(lm, ids({2}, 1), config))[0], (Tokens{2, 0, 0}));
  config.num_beams = 2;
  nn::BeamSearchOutput out = nn::beam_search(lm, ids({2}, 1), config);
  EXPECT_EQ(rows_of(out.sequences)[0], (Tokens{2, 1, 0}));
  EXPECT_NEAR(out.sequences_scores.item<double>(), std::log(0.36) / 2, 1e-12);
  config.length_penalty = 0;
  EXPECT_NEAR(nn::beam_search(lm, ids({2}, 1), config).sequences_scores.item<double>(), std::log(0.36), 1e-12);
  EXPECT_TRUE(equal(nn::generate(lm, ids({2}, 1), config), out.sequences));
}

// ---- exhaustive beams against brute force ----

struct ExhaustiveCase {
  std::optional<int64_t> eos;
  double length_penalty;
  nn::EarlyStopping early_stopping;
};

TEST(BeamSearch, WideEnoughBeamsReturnTheBestSequenceOfAll) {
  const int64_t vocab = 3, max_new = 4;
  // EOS (token 2) is made likely enough that sequences of every length compete.
  const std::vector<double> bias = {0.0, 0.0, 0.5};
  FunctionLM lm = graft::testing::hashed_lm(vocab, 17, bias);
  auto next_logits = [&](const Tokens& p) { return graft::testing::hashed_logits(p, vocab, 17, bias); };
  const std::vector<Tokens> prompts = {{0, 1}, {1, 1}};
  std::vector<ExhaustiveCase> cases;
  for (double lp : {1.0, 0.0, -1.0, 2.0, 0.5}) {
    cases.push_back({std::nullopt, lp, false});
    cases.push_back({2, lp, nn::EarlyStopping::kNever});
    if (lp <= 0) cases.push_back({2, lp, false});  // the heuristic is exact when longer cannot score better
  }
  std::set<Tokens> winners;  // the cases must not all have the same answer
  for (const ExhaustiveCase& c : cases) {
    nn::GenerationConfig config;
    config.max_new_tokens = max_new;
    config.num_beams = 81;  // vocab ^ max_new: no prefix is ever pruned
    config.eos_token_id = c.eos;
    config.pad_token_id = 0;
    config.length_penalty = c.length_penalty;
    config.early_stopping = c.early_stopping;
    nn::BeamSearchOutput out = nn::beam_search(lm, ids({0, 1, 1, 1}, 2), config);
    const auto rows = rows_of(out.sequences);
    const auto scores = out.sequences_scores.to_vector<double>();
    for (size_t b = 0; b < prompts.size(); ++b) {
      const Scored best = best_of(all_continuations(next_logits, vocab, prompts[b], max_new, c.eos, c.length_penalty));
      winners.insert(best.tokens);
      SCOPED_TRACE(::testing::Message() << "row " << b << " eos " << c.eos.has_value() << " lp " << c.length_penalty);
      EXPECT_EQ(rows[b], expected_row(prompts[b], best.tokens, out.sequences.size(1), 0));
      EXPECT_NEAR(scores[b], best.score, 1e-12);
    }
  }
  EXPECT_GE(winners.size(), 4u);
}

TEST(BeamSearch, NumReturnSequencesAreTheBestHypothesesInOrder) {
  const int64_t vocab = 3, max_new = 3;
  FunctionLM lm = graft::testing::hashed_lm(vocab, 5);
  auto next_logits = [&](const Tokens& p) { return graft::testing::hashed_logits(p, vocab, 5); };
  nn::GenerationConfig config;
  config.max_new_tokens = max_new;
  config.num_beams = 27;
  config.num_return_sequences = 5;
  config.eos_token_id = 0;
  config.early_stopping = nn::EarlyStopping::kNever;
  nn::BeamSearchOutput out = nn::beam_search(lm, ids({2}, 1), config);
  auto all = all_continuations(next_logits, vocab, {2}, max_new, 0, 1.0);
  std::sort(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
  const auto rows = rows_of(out.sequences);
  const auto scores = out.sequences_scores.to_vector<double>();
  ASSERT_EQ(rows.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(rows[i], expected_row({2}, all[i].tokens, out.sequences.size(1), 0)) << i;
    EXPECT_NEAR(scores[i], all[i].score, 1e-12) << i;
  }
  EXPECT_EQ(nn::generate(lm, ids({2}, 1), config).size(0), 5);
}

// ---- narrow beams against a plain reference ----

// The textbook beam search without EOS: extend every beam by every token, keep the num_beams best.
Scored reference_beam_search(const FunctionLM::NextLogits& next_logits, int64_t vocab, const Tokens& prompt,
                             int64_t max_new, int64_t num_beams) {
  std::vector<Scored> beams = {{{}, 0.0}};
  for (int64_t step = 0; step < max_new; ++step) {
    std::vector<Scored> candidates;
    for (const Scored& beam : beams) {
      const auto lp = graft::testing::log_probs(next_logits(concat(prompt, beam.tokens)));
      for (int64_t v = 0; v < vocab; ++v) candidates.push_back({concat(beam.tokens, {v}), beam.score + lp[static_cast<size_t>(v)]});
    }
    std::stable_sort(candidates.begin(), candidates.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
    candidates.resize(static_cast<size_t>(std::min<int64_t>(num_beams, static_cast<int64_t>(candidates.size()))));
    beams = candidates;
  }
  return beams.front();
}

TEST(BeamSearch, NarrowBeamsMatchAReferenceBeamSearch) {
  const int64_t vocab = 6, max_new = 6;
  for (uint64_t salt : {1, 2, 3}) {
    FunctionLM lm = graft::testing::hashed_lm(vocab, salt);
    auto next_logits = [&](const Tokens& p) { return graft::testing::hashed_logits(p, vocab, salt); };
    const std::vector<Tokens> prompts = {{0, 5}, {3, 3}, {4, 1}};
    for (int64_t beams : {2, 3, 5}) {
      nn::GenerationConfig config;
      config.max_new_tokens = max_new;
      config.num_beams = beams;
      nn::BeamSearchOutput out = nn::beam_search(lm, ids({0, 5, 3, 3, 4, 1}, 3), config);
      for (size_t b = 0; b < prompts.size(); ++b) {
        const Scored expected = reference_beam_search(next_logits, vocab, prompts[b], max_new, beams);
        EXPECT_EQ(rows_of(out.sequences)[b], concat(prompts[b], expected.tokens)) << salt << " " << beams << " " << b;
        EXPECT_NEAR(out.sequences_scores.to_vector<double>()[b], expected.score / max_new, 1e-12);
      }
    }
  }
}

// ---- width 1, batches, EOS and padding ----

TEST(BeamSearch, WidthOneIsGreedyDecoding) {
  for (std::optional<int64_t> eos : {std::optional<int64_t>(), std::optional<int64_t>(3)}) {
    FunctionLM lm = graft::testing::hashed_lm(8, 9, {0, 0, 0, 1.0, 0, 0, 0, 0});
    nn::GenerationConfig config;
    config.max_new_tokens = 12;
    config.eos_token_id = eos;
    Tensor prompt = ids({0, 1, 2, 4, 5, 6, 7, 0, 1, 2, 4, 5}, 6);
    Tensor greedy = nn::generate(lm, prompt, config);
    Tensor beam = nn::beam_search(lm, prompt, [&] { auto c = config; c.num_beams = 1; return c; }()).sequences;
    EXPECT_TRUE(equal(beam, greedy)) << eos.has_value() << "\n" << beam << "\n" << greedy;
  }
}

TEST(BeamSearch, BatchRowsAreSearchedIndependently) {
  FunctionLM lm = graft::testing::hashed_lm(5, 21, {0, 0, 0, 0, 0.8});
  nn::GenerationConfig config;
  config.max_new_tokens = 7;
  config.num_beams = 3;
  config.eos_token_id = 4;
  config.pad_token_id = 0;
  const std::vector<Tokens> prompts = {{1, 2}, {3, 3}, {0, 1}, {2, 2}};
  nn::BeamSearchOutput together = nn::beam_search(lm, ids({1, 2, 3, 3, 0, 1, 2, 2}, 4), config);
  const int64_t width = together.sequences.size(1);
  std::set<size_t> lengths;
  for (size_t b = 0; b < prompts.size(); ++b) {
    nn::BeamSearchOutput alone = nn::beam_search(lm, tensor(prompts[b], {1, 2}, kInt64), config);
    Tokens row = rows_of(alone.sequences)[0];
    lengths.insert(row.size());
    row.resize(static_cast<size_t>(width), 0);
    EXPECT_EQ(rows_of(together.sequences)[b], row) << b;
    EXPECT_DOUBLE_EQ(together.sequences_scores.to_vector<double>()[b], alone.sequences_scores.item<double>());
  }
  EXPECT_GE(lengths.size(), 2u);  // rows that end at different times are padded to a common width
}

TEST(BeamSearch, HypothesesEndWithEOSThenPadding) {
  // After the one-token prompt, token 1 is likely; after that, EOS (2) is. Pad is 3.
  auto next_logits = [](const Tokens& prefix) {
    return prefix.size() == 1 ? std::vector<double>{0, 5, 0, 0} : std::vector<double>{0, 0, 5, 0};
  };
  FunctionLM lm(4, next_logits);
  nn::GenerationConfig config;
  config.max_new_tokens = 6;
  config.num_beams = 2;
  config.eos_token_id = 2;
  config.pad_token_id = 3;
  config.num_return_sequences = 2;
  config.length_penalty = 0;
  nn::BeamSearchOutput out = nn::beam_search(lm, ids({0}, 1), config);
  // Best: 1 EOS. Runner-up: 1 0 EOS (at step 2, 0 EOS ranks below 1 0, 1 1 and 1 3, which tie with it).
  EXPECT_EQ(rows_of(out.sequences), (std::vector<Tokens>{{0, 1, 2, 3}, {0, 1, 0, 2}}));
  const auto scores = out.sequences_scores.to_vector<double>();
  EXPECT_NEAR(scores[0], sum_logprobs(next_logits, {0}, {1, 2}), 1e-12);
  EXPECT_NEAR(scores[1], sum_logprobs(next_logits, {0}, {1, 0, 2}), 1e-12);
  EXPECT_EQ(lm.calls.size(), 3u);  // both hypotheses were in hand after step 3
}

TEST(BeamSearch, AnEOSRankingBelowNumBeamsIsDropped) {
  // Vocabulary of 6, EOS = 5, two beams. First token: 0 (0.5) or 1 (0.4). Second: after 0, 0 (0.5) or EOS
  // (0.45); after 1, EOS (0.7) or 0 (0.25). Third: uniform. At step 2 the candidates rank "1 EOS", "0 0",
  // "0 EOS", "1 0": "0 EOS" is third, outside the first num_beams, so HF's scorer drops it although it is the
  // second best sequence of all; the runner-up returned is "0 0 0".
  auto next_logits = [](const Tokens& prefix) {
    auto logs = [](std::vector<double> p) {
      for (double& x : p) x = std::log(x);
      return p;
    };
    if (prefix.size() == 1) return logs({0.5, 0.4, 0.04, 0.04, 0.01, 0.01});
    if (prefix.size() == 2) return prefix[1] == 0 ? logs({0.5, 0.0125, 0.0125, 0.0125, 0.0125, 0.45})
                                                   : logs({0.25, 0.0125, 0.0125, 0.0125, 0.0125, 0.7});
    return std::vector<double>(6, 0.0);
  };
  FunctionLM lm(6, next_logits);
  nn::GenerationConfig config;
  config.max_new_tokens = 3;
  config.num_beams = 2;
  config.num_return_sequences = 2;
  config.eos_token_id = 5;
  config.length_penalty = 0;
  nn::BeamSearchOutput out = nn::beam_search(lm, ids({0}, 1), config);
  EXPECT_EQ(rows_of(out.sequences), (std::vector<Tokens>{{0, 1, 5, 5}, {0, 0, 0, 0}}));
  const auto scores = out.sequences_scores.to_vector<double>();
  EXPECT_NEAR(scores[0], sum_logprobs(next_logits, {0}, {1, 5}), 1e-12);
  EXPECT_NEAR(scores[1], sum_logprobs(next_logits, {0}, {0, 0, 0}), 1e-12);
  auto all = all_continuations(next_logits, 6, {0}, 3, 5, 0.0);
  std::sort(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
  EXPECT_EQ(all[1].tokens, (Tokens{0, 5}));
}

// Vocabulary {0, 1, 2 = EOS}, after a one-token prompt: EOS has 0.4 first, 0.8 second, 0.05 third and 0.99
// fourth. With length_penalty 2 and two beams, "0 EOS" and "1 EOS" finish at step 2 (score
// log(0.24) / 4 = -0.357) and the heuristic stops there, since the best running beam scored at its current
// length cannot beat them; but "0 0 0 EOS" (log(0.3 * 0.1 * 0.9 * 0.99) / 16 = -0.226) scores better, and
// early_stopping = "never" goes on to find it.
std::vector<double> late_bloomer_logits(const Tokens& prefix) {
  auto logs = [](std::vector<double> p) {
    for (double& x : p) x = std::log(x);
    return p;
  };
  switch (prefix.size() - 1) {
    case 0: return logs({0.3, 0.3, 0.4});
    case 1: return logs({0.1, 0.1, 0.8});
    case 2: return logs({0.9, 0.05, 0.05});
    case 3: return logs({0.005, 0.005, 0.99});
    default: return logs({1.0 / 3, 1.0 / 3, 1.0 / 3});
  }
}

TEST(BeamSearch, EarlyStoppingNeverFindsWhatTheHeuristicGivesUpOn) {
  nn::GenerationConfig config;
  config.max_new_tokens = 4;
  config.num_beams = 2;
  config.eos_token_id = 2;
  config.length_penalty = 2.0;
  FunctionLM heuristic_lm(3, late_bloomer_logits), never_lm(3, late_bloomer_logits);
  nn::BeamSearchOutput heuristic = nn::beam_search(heuristic_lm, ids({1}, 1), config);
  EXPECT_EQ(rows_of(heuristic.sequences)[0], (Tokens{1, 0, 2}));
  EXPECT_NEAR(heuristic.sequences_scores.item<double>(), std::log(0.3 * 0.8) / 4, 1e-12);
  EXPECT_EQ(heuristic_lm.calls.size(), 2u);

  config.early_stopping = nn::EarlyStopping::kNever;
  nn::BeamSearchOutput never = nn::beam_search(never_lm, ids({1}, 1), config);
  EXPECT_EQ(rows_of(never.sequences)[0], (Tokens{1, 0, 0, 0, 2}));
  EXPECT_NEAR(never.sequences_scores.item<double>(), std::log(0.3 * 0.1 * 0.9 * 0.99) / 16, 1e-12);
  // It is the best of all sequences (tied with the three others of the form x y 0 EOS).
  const Scored best = best_of(all_continuations(late_bloomer_logits, 3, {1}, 4, 2, 2.0));
  EXPECT_NEAR(never.sequences_scores.item<double>(), best.score, 1e-12);
}

TEST(BeamSearch, EarlyStoppingTrueStopsOnceNumBeamsHypothesesFinish) {
  FunctionLM never_lm = graft::testing::hashed_lm(4, 8, {0, 0, 0, 1.5});
  FunctionLM full_lm = graft::testing::hashed_lm(4, 8, {0, 0, 0, 1.5});
  nn::GenerationConfig config;
  config.max_new_tokens = 10;
  config.num_beams = 2;
  config.eos_token_id = 3;
  config.length_penalty = 2.0;  // long hypotheses can keep improving, so "never" searches on
  config.early_stopping = nn::EarlyStopping::kNever;
  nn::beam_search(never_lm, ids({0}, 1), config);
  config.early_stopping = true;
  nn::beam_search(full_lm, ids({0}, 1), config);
  EXPECT_LT(full_lm.calls.size(), never_lm.calls.size());
}

TEST(BeamSearch, RejectsBadConfigs) {
  FunctionLM lm = graft::testing::hashed_lm(4, 1);
  nn::GenerationConfig config;
  config.num_beams = 2;
  config.num_return_sequences = 3;
  try {
    nn::beam_search(lm, ids({1}, 1), config);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("beam_search: num_return_sequences (3) cannot exceed num_beams (2)"),
              std::string::npos)
        << e.what();
  }
  config.num_return_sequences = 1;
  config.do_sample = true;
  EXPECT_THROW(nn::beam_search(lm, ids({1}, 1), config), Error);
  // One token that is EOS leaves no beam to continue.
  FunctionLM one(1, [](const Tokens&) { return std::vector<double>{0.0}; });
  config.do_sample = false;
  config.eos_token_id = 0;
  EXPECT_THROW(nn::beam_search(one, ids({0}, 1), config), Error);
}

}  // namespace
