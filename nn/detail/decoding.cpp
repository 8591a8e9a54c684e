#include "graft/nn/detail/decoding.h"

#include <cmath>
#include <limits>

#include "graft/graph/factory.h"
#include "graft/nn/detail/as_doubles.h"

namespace graft::nn::detail {

namespace {

void check_config(const char* op, const GenerationConfig& c) {
  GRAFT_CHECK(c.max_new_tokens >= 1, "{}: max_new_tokens must be at least 1, got {}", op, c.max_new_tokens);
  GRAFT_CHECK(c.num_beams >= 1, "{}: num_beams must be at least 1, got {}", op, c.num_beams);
  GRAFT_CHECK(c.top_k >= 0, "{}: top_k must be non-negative (0 keeps every token), got {}", op, c.top_k);
  GRAFT_CHECK(c.top_p > 0 && c.top_p <= 1, "{}: top_p must be in (0, 1], got {}", op, c.top_p);
  GRAFT_CHECK(!c.do_sample || (std::isfinite(c.temperature) && c.temperature > 0),
              "{}: temperature must be a positive finite number when sampling, got {}", op, c.temperature);
  GRAFT_CHECK(std::isfinite(c.length_penalty), "{}: length_penalty must be finite, got {}", op, c.length_penalty);
  GRAFT_CHECK(!(c.do_sample && c.num_beams > 1),
              "{}: beam sampling (do_sample with num_beams = {}) is not implemented; use one or the other", op,
              c.num_beams);
  GRAFT_CHECK(c.num_return_sequences >= 1, "{}: num_return_sequences must be at least 1, got {}", op,
              c.num_return_sequences);
  GRAFT_CHECK(c.do_sample || c.num_return_sequences <= c.num_beams,
              "{}: num_return_sequences ({}) cannot exceed num_beams ({}) without sampling", op, c.num_return_sequences,
              c.num_beams);
  GRAFT_CHECK(!(c.generator && c.seed), "{}: give either a generator or a seed, not both", op);
}

void check_token(const char* op, const char* what, std::optional<int64_t> id, int64_t vocab) {
  if (id) GRAFT_CHECK(*id >= 0 && *id < vocab, "{}: {} {} is outside the vocabulary [0, {})", op, what, *id, vocab);
}

}  // namespace

Decoding check_decoding(const char* op, CausalLM& model, const Tensor& input_ids, const GenerationConfig& config) {
  check_config(op, config);
  Decoding d;
  d.op = op;
  d.vocab = model.vocab_size();
  GRAFT_CHECK(d.vocab >= 1, "{}: the model's vocab_size() is {}", op, d.vocab);
  check_token(op, "eos_token_id", config.eos_token_id, d.vocab);
  check_token(op, "pad_token_id", config.pad_token_id, d.vocab);
  d.eos = config.eos_token_id;
  d.pad = config.pad_token_id ? config.pad_token_id : config.eos_token_id;

  GRAFT_CHECK(input_ids.defined(), "{}: input_ids is an undefined tensor", op);
  GRAFT_CHECK(input_ids.dtype() == kInt64, "{}: input_ids must be int64 token ids, got {}", op,
              dtype_name(input_ids.dtype()));
  GRAFT_CHECK(input_ids.dim() == 2, "{}: input_ids must have shape (batch, length), got {}", op,
              shape_str(input_ids.shape()));
  d.batch = input_ids.size(0);
  d.prompt_length = input_ids.size(1);
  GRAFT_CHECK(d.batch >= 1 && d.prompt_length >= 1, "{}: input_ids is empty (shape {}); give at least one token per row",
              op, shape_str(input_ids.shape()));
  const std::vector<int64_t> ids = input_ids.to_vector<int64_t>();
  for (size_t i = 0; i < ids.size(); ++i)
    GRAFT_CHECK(ids[i] >= 0 && ids[i] < d.vocab, "{}: input_ids[{}, {}] = {} is outside the vocabulary [0, {})", op,
                static_cast<int64_t>(i) / d.prompt_length, static_cast<int64_t>(i) % d.prompt_length, ids[i], d.vocab);
  return d;
}

std::unique_ptr<DecoderState> new_state(const Decoding& d, CausalLM& model, int64_t batch) {
  std::unique_ptr<DecoderState> state = model.new_state(batch);
  GRAFT_CHECK(state != nullptr, "{}: the model's new_state({}) returned no state", d.op, batch);
  GRAFT_CHECK(state->length() == 0, "{}: the model's new_state({}) returned a state of length {}, expected 0", d.op,
              batch, state->length());
  return state;
}

StepLogits feed(const Decoding& d, CausalLM& model, const Tensor& tokens, DecoderState& state) {
  const int64_t rows = tokens.size(0), length = tokens.size(1), before = state.length();
  Tensor logits = model.forward(tokens, state);
  GRAFT_CHECK(logits.defined() && logits.dim() == 3 && logits.size(0) == rows && logits.size(1) == length &&
                  logits.size(2) == d.vocab,
              "{}: the model returned logits of shape {} for tokens of shape {}; expected [{}, {}, {}]", d.op,
              logits.defined() ? shape_str(logits.shape()) : std::string("(undefined)"), shape_str(tokens.shape()),
              rows, length, d.vocab);
  GRAFT_CHECK(logits.is_floating_point(), "{}: the model returned {} logits; expected float32 or float64", d.op,
              dtype_name(logits.dtype()));
  GRAFT_CHECK(state.length() == before + length,
              "{}: the model's state has length {} after consuming {} tokens from length {}; expected {}", d.op,
              state.length(), length, before, before + length);
  StepLogits out;
  out.tensor = logits.select(1, length - 1).contiguous();
  out.values = as_doubles(out.tensor);
  for (size_t i = 0; i < out.values.size(); ++i)
    GRAFT_CHECK(!std::isnan(out.values[i]) && out.values[i] != std::numeric_limits<double>::infinity(),
                "{}: the model returned a logit of {} (row {}, token {})", d.op, out.values[i],
                static_cast<int64_t>(i) / d.vocab, static_cast<int64_t>(i) % d.vocab);
  return out;
}

Tensor repeat_rows(int64_t rows, int64_t times) {
  std::vector<int64_t> index;
  index.reserve(static_cast<size_t>(rows * times));
  for (int64_t r = 0; r < rows; ++r) index.insert(index.end(), static_cast<size_t>(times), r);
  return tensor(index, {rows * times}, kInt64);
}

}  // namespace graft::nn::detail
