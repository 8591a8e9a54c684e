// Beam search, after Hugging Face transformers' BeamSearchScorer and BeamHypotheses.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "graft/graph/factory.h"
#include "graft/graph/grad_mode.h"
#include "graft/nn/detail/decoding.h"
#include "graft/nn/generation.h"

namespace graft::nn {

namespace detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Hypothesis {
  double score;                 // sum of log-probabilities / generated length ^ length_penalty
  std::vector<int64_t> tokens;  // the generated tokens, without the EOS that ended them
};

// The num_beams best finished hypotheses of one batch row (HF's BeamHypotheses).
class FinishedHypotheses {
 public:
  explicit FinishedHypotheses(const GenerationConfig& config)
      : capacity_(static_cast<size_t>(config.num_beams)), length_penalty_(config.length_penalty),
        early_stopping_(config.early_stopping), max_new_tokens_(config.max_new_tokens) {}

  // generated_length counts the generated tokens, the EOS that ended them included.
  void add(const std::vector<int64_t>& tokens, double sum_logprobs, int64_t generated_length) {
    const double score = sum_logprobs / length_term(generated_length);
    if (list_.size() < capacity_ || score > worst()) {
      list_.push_back({score, tokens});
      if (list_.size() > capacity_) list_.erase(worst_position());  // the earliest of equally bad ones
    }
  }

  // Whether this batch row can stop, given the best running score (sum of log-probabilities) with
  // generated_length tokens.
  bool is_done(double best_sum_logprobs, int64_t generated_length) const {
    if (list_.size() < capacity_) return false;
    switch (early_stopping_.mode) {
      case EarlyStopping::kWhenFull: return true;
      case EarlyStopping::kHeuristic: return worst() >= best_sum_logprobs / length_term(generated_length);
      case EarlyStopping::kNever:
        // Log-probabilities only fall as tokens are added; the length term is largest at the longest length
        // when the penalty is positive, and at the current one otherwise.
        return worst() >= best_sum_logprobs / length_term(length_penalty_ > 0 ? max_new_tokens_ : generated_length);
    }
    return false;
  }

  // Best first; among equal scores, the one added first.
  std::vector<const Hypothesis*> ranked() const {
    std::vector<const Hypothesis*> out;
    for (const Hypothesis& h : list_) out.push_back(&h);
    std::stable_sort(out.begin(), out.end(), [](const Hypothesis* a, const Hypothesis* b) { return a->score > b->score; });
    return out;
  }

 private:
  double length_term(int64_t length) const { return std::pow(static_cast<double>(length), length_penalty_); }
  std::vector<Hypothesis>::const_iterator worst_position() const {
    return std::min_element(list_.begin(), list_.end(),
                            [](const Hypothesis& a, const Hypothesis& b) { return a.score < b.score; });
  }
  double worst() const { return worst_position()->score; }

  size_t capacity_;
  double length_penalty_;
  EarlyStopping early_stopping_;
  int64_t max_new_tokens_;
  std::vector<Hypothesis> list_;
};

// log_softmax of one row, in double precision.
void log_softmax_row(const double* x, int64_t n, double* out) {
  const double max = *std::max_element(x, x + n);
  if (max == -kInf) {
    std::fill(out, out + n, -kInf);
    return;
  }
  double sum = 0;
  for (int64_t v = 0; v < n; ++v) sum += std::exp(x[v] - max);
  const double log_total = max + std::log(sum);
  for (int64_t v = 0; v < n; ++v) out[v] = x[v] - log_total;
}

struct Candidate {
  double score;   // the beam's sum of log-probabilities with this token
  int64_t beam;   // within the batch row, 0 .. num_beams - 1
  int64_t token;
};

}  // namespace

BeamSearchOutput beam_search(CausalLM& model, const Tensor& input_ids, const GenerationConfig& config, const Decoding& d) {
  const int64_t beams = config.num_beams, vocab = d.vocab, batch = d.batch, rows = batch * beams;

  // The prompt is fed once per batch row; its state is then copied to the row's beams.
  std::unique_ptr<DecoderState> state = new_state(d, model, batch);
  StepLogits logits = feed(d, model, input_ids, *state);
  state->select(repeat_rows(batch, beams));

  std::vector<std::vector<int64_t>> tokens(static_cast<size_t>(rows));
  // Only the first beam of each row starts alive, so that the first step does not pick one token num_beams times.
  std::vector<double> scores(static_cast<size_t>(rows), -kInf);
  for (int64_t b = 0; b < batch; ++b) scores[static_cast<size_t>(b * beams)] = 0;
  std::vector<FinishedHypotheses> finished(static_cast<size_t>(batch), FinishedHypotheses(config));
  std::vector<bool> done(static_cast<size_t>(batch), false);

  std::vector<Candidate> candidates;
  std::vector<double> logprobs(static_cast<size_t>(vocab));
  const int64_t top = std::min(2 * beams, beams * vocab);
  for (int64_t step = 0; step < config.max_new_tokens; ++step) {
    const int64_t generated_length = step + 1;
    std::vector<int64_t> next_tokens(static_cast<size_t>(rows)), parents(static_cast<size_t>(rows));
    std::vector<double> next_scores(static_cast<size_t>(rows));
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t first = b * beams;
      if (done[static_cast<size_t>(b)]) {  // finished rows run on with padding, as in HF (d.pad is set: they saw EOS)
        for (int64_t j = 0; j < beams; ++j) {
          next_scores[static_cast<size_t>(first + j)] = 0;
          next_tokens[static_cast<size_t>(first + j)] = *d.pad;
          parents[static_cast<size_t>(first + j)] = first;
        }
        continue;
      }
      candidates.clear();
      for (int64_t j = 0; j < beams; ++j) {
        const int64_t r = first + j;
        log_softmax_row(logits.row(step == 0 ? b : r, vocab), vocab, logprobs.data());
        for (int64_t v = 0; v < vocab; ++v)
          candidates.push_back({scores[static_cast<size_t>(r)] + logprobs[static_cast<size_t>(v)], j, v});
      }
      std::partial_sort(candidates.begin(), candidates.begin() + top, candidates.end(),
                        [](const Candidate& a, const Candidate& c) {
                          if (a.score != c.score) return a.score > c.score;
                          return a.beam != c.beam ? a.beam < c.beam : a.token < c.token;
                        });
      int64_t kept = 0;
      for (int64_t rank = 0; rank < top && kept < beams; ++rank) {
        const Candidate& c = candidates[static_cast<size_t>(rank)];
        if (d.eos && c.token == *d.eos) {
          // An EOS that does not rank among the best num_beams candidates is dropped (HF).
          if (rank < beams) finished[static_cast<size_t>(b)].add(tokens[static_cast<size_t>(first + c.beam)], c.score, generated_length);
          continue;
        }
        next_scores[static_cast<size_t>(first + kept)] = c.score;
        next_tokens[static_cast<size_t>(first + kept)] = c.token;
        parents[static_cast<size_t>(first + kept)] = first + c.beam;
        ++kept;
      }
      GRAFT_CHECK(kept == beams,
                  "{}: only {} of the {} best candidates of batch row {} are not EOS; num_beams = {} needs a vocabulary "
                  "with more tokens than EOS (vocab_size {})",
                  d.op, kept, top, b, beams, vocab);
      done[static_cast<size_t>(b)] = finished[static_cast<size_t>(b)].is_done(candidates.front().score, generated_length);
    }

    std::vector<std::vector<int64_t>> next(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      next[static_cast<size_t>(r)] = tokens[static_cast<size_t>(parents[static_cast<size_t>(r)])];
      next[static_cast<size_t>(r)].push_back(next_tokens[static_cast<size_t>(r)]);
    }
    tokens = std::move(next);
    scores = std::move(next_scores);
    const bool all_done = std::all_of(done.begin(), done.end(), [](bool x) { return x; });
    if (all_done || step + 1 == config.max_new_tokens) break;
    state->select(tensor(parents, {rows}, kInt64));
    logits = feed(d, model, tensor(next_tokens, {rows, 1}, kInt64), *state);
  }

  // Beams still running at the end are finished hypotheses too, scored at their full length.
  for (int64_t b = 0; b < batch; ++b) {
    if (done[static_cast<size_t>(b)]) continue;
    for (int64_t r = b * beams; r < (b + 1) * beams; ++r) {
      const auto& t = tokens[static_cast<size_t>(r)];
      finished[static_cast<size_t>(b)].add(t, scores[static_cast<size_t>(r)], static_cast<int64_t>(t.size()));
    }
  }

  // The best num_return_sequences hypotheses of each row, each followed by EOS when it ended with it.
  const int64_t n = config.num_return_sequences;
  std::vector<const Hypothesis*> best;
  size_t longest = 0;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<const Hypothesis*> ranked = finished[static_cast<size_t>(b)].ranked();
    for (int64_t j = 0; j < n; ++j) {
      best.push_back(ranked[static_cast<size_t>(j)]);
      longest = std::max(longest, best.back()->tokens.size());
    }
  }
  const int64_t generated_width = std::min(static_cast<int64_t>(longest) + 1, config.max_new_tokens);
  const int64_t width = d.prompt_length + generated_width;
  const std::vector<int64_t> prompt = input_ids.to_vector<int64_t>();
  std::vector<int64_t> sequences(static_cast<size_t>(batch * n * width));
  std::vector<double> sequence_scores(static_cast<size_t>(batch * n));
  for (int64_t i = 0; i < batch * n; ++i) {
    const Hypothesis& h = *best[static_cast<size_t>(i)];
    auto out = sequences.begin() + i * width;
    out = std::copy_n(prompt.begin() + (i / n) * d.prompt_length, d.prompt_length, out);
    out = std::copy(h.tokens.begin(), h.tokens.end(), out);
    const int64_t length = static_cast<int64_t>(h.tokens.size());
    if (length < generated_width) {  // only hypotheses that ended with EOS are shorter than max_new_tokens
      *out++ = *d.eos;
      std::fill(out, sequences.begin() + (i + 1) * width, *d.pad);
    }
    sequence_scores[static_cast<size_t>(i)] = h.score;
  }
  return {tensor(sequences, {batch * n, width}, kInt64), tensor(sequence_scores, {batch * n}, kFloat64)};
}

}  // namespace detail

BeamSearchOutput beam_search(CausalLM& model, const Tensor& input_ids, const GenerationConfig& config) {
  NoGradGuard no_grad;
  const detail::Decoding d = detail::check_decoding("beam_search", model, input_ids, config);
  GRAFT_CHECK(!config.do_sample, "beam_search: do_sample is not supported (beam sampling is not implemented)");
  return detail::beam_search(model, input_ids, config, d);
}

}  // namespace graft::nn
