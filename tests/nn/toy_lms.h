#pragma once
// Small CausalLMs whose next-token logits are known functions of the prefix, for testing generation.
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "graft/graft.h"

namespace graft::testing {

using Tokens = std::vector<int64_t>;

// Its state is the whole history of each row (so its logits may depend on all of it), reordered by select().
class HistoryState : public nn::DecoderState {
 public:
  explicit HistoryState(int64_t batch) : rows(static_cast<size_t>(batch)) {}
  void select(const Tensor& index) override {
    GRAFT_CHECK(index.dtype() == kInt64 && index.dim() == 1, "HistoryState::select: expected a 1-D int64 index");
    std::vector<Tokens> picked;
    for (int64_t i : index.to_vector<int64_t>()) {
      GRAFT_CHECK(i >= 0 && i < static_cast<int64_t>(rows.size()), "HistoryState::select: row {} of {}", i, rows.size());
      picked.push_back(rows[static_cast<size_t>(i)]);
    }
    rows = std::move(picked);
  }
  int64_t length() const override { return rows.empty() ? 0 : static_cast<int64_t>(rows[0].size()); }
  size_t bytes() const override { return rows.size() * static_cast<size_t>(length()) * sizeof(int64_t); }

  std::vector<Tokens> rows;
};

// A language model given by next_logits(prefix) -> vocab logits. It records the shape of every batch of
// tokens it is fed, and whether grad mode was on.
class FunctionLM : public nn::CausalLM {
 public:
  using NextLogits = std::function<std::vector<double>(const Tokens& prefix)>;
  FunctionLM(int64_t vocab, NextLogits next_logits, DType dtype = kFloat64)
      : nn::CausalLM("FunctionLM"), vocab_(vocab), next_logits_(std::move(next_logits)), dtype_(dtype) {}

  std::unique_ptr<nn::DecoderState> new_state(int64_t batch) override { return std::make_unique<HistoryState>(batch); }
  Tensor forward(const Tensor& tokens, nn::DecoderState& state) override {
    auto& s = dynamic_cast<HistoryState&>(state);
    const int64_t rows = tokens.size(0), length = tokens.size(1);
    GRAFT_CHECK(rows == static_cast<int64_t>(s.rows.size()), "FunctionLM: {} rows of tokens for a state of {}", rows,
                s.rows.size());
    calls.emplace_back(rows, length);
    grad_mode_seen.push_back(GradMode::is_enabled());
    const Tokens ids = tokens.to_vector<int64_t>();
    std::vector<double> out;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t t = 0; t < length; ++t) {
        s.rows[static_cast<size_t>(r)].push_back(ids[static_cast<size_t>(r * length + t)]);
        std::vector<double> logits = next_logits_(s.rows[static_cast<size_t>(r)]);
        out.insert(out.end(), logits.begin(), logits.end());
      }
    return tensor(out, {rows, length, vocab_}, dtype_);
  }
  int64_t vocab_size() const override { return vocab_; }

  int64_t tokens_fed() const {
    int64_t n = 0;
    for (auto [rows, length] : calls) n += rows * length;
    return n;
  }

  std::vector<std::pair<int64_t, int64_t>> calls;  // (rows, length) of each forward
  std::vector<bool> grad_mode_seen;

 private:
  int64_t vocab_;
  NextLogits next_logits_;
  DType dtype_;
};

// logits[last token] from a (vocab x vocab) table: a bigram (Markov) model.
inline FunctionLM bigram_lm(std::vector<std::vector<double>> table, DType dtype = kFloat64) {
  const auto vocab = static_cast<int64_t>(table.size());
  return FunctionLM(vocab, [table = std::move(table)](const Tokens& prefix) { return table[static_cast<size_t>(prefix.back())]; }, dtype);
}

// The same logits whatever the prefix: every generated token is an independent draw.
inline FunctionLM unigram_lm(std::vector<double> logits) {
  const auto vocab = static_cast<int64_t>(logits.size());
  return FunctionLM(vocab, [logits = std::move(logits)](const Tokens&) { return logits; });
}

// Logits in [-2, 2) that are a pseudo-random function of the whole prefix (a hash of it), plus `bias` on each
// token: beam search on it has to follow every prefix through select().
inline std::vector<double> hashed_logits(const Tokens& prefix, int64_t vocab, uint64_t salt, const std::vector<double>& bias = {}) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ salt;
  auto mix = [](uint64_t x) {
    x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27; x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
  };
  for (int64_t t : prefix) h = mix(h + static_cast<uint64_t>(t) + 1);
  std::vector<double> out(static_cast<size_t>(vocab));
  for (int64_t v = 0; v < vocab; ++v) {
    h = mix(h + 0x632BE59BD9B4E019ULL);
    out[static_cast<size_t>(v)] = static_cast<double>(h >> 11) * 0x1.0p-53 * 4 - 2 + (bias.empty() ? 0 : bias[static_cast<size_t>(v)]);
  }
  return out;
}

inline FunctionLM hashed_lm(int64_t vocab, uint64_t salt, std::vector<double> bias = {}) {
  return FunctionLM(vocab, [vocab, salt, bias = std::move(bias)](const Tokens& prefix) { return hashed_logits(prefix, vocab, salt, bias); });
}

// log_softmax of a logits vector.
inline std::vector<double> log_probs(const std::vector<double>& logits) {
  double max = -INFINITY, sum = 0;
  for (double x : logits) max = std::max(max, x);
  for (double x : logits) sum += std::exp(x - max);
  std::vector<double> out;
  for (double x : logits) out.push_back(x - max - std::log(sum));
  return out;
}

}  // namespace graft::testing
