#pragma once
// Plumbing shared by greedy / sampled decoding (nn/generation.cpp) and beam search (nn/beam_search.cpp).
#include <cstdint>
#include <optional>
#include <vector>

#include "graft/nn/generation.h"

namespace graft::nn::detail {

struct Decoding {
  const char* op = "";  // "generate" or "beam_search", for messages
  int64_t batch = 0, prompt_length = 0, vocab = 0;
  std::optional<int64_t> eos;
  std::optional<int64_t> pad;  // pad_token_id, else eos_token_id
};

// Checks the config, the prompt (2-D int64, non-empty, ids within the vocabulary) and the model's vocabulary
// size, raising graft::Error named after `op`.
Decoding check_decoding(const char* op, CausalLM& model, const Tensor& input_ids, const GenerationConfig& config);

// The logits of the last position of each row after feeding `tokens` (rows, T), as a contiguous (rows, vocab)
// tensor in the model's dtype and as doubles. Checks what the model returns: the shape (rows, T, vocab), a
// floating dtype, no NaN or +inf, and that the state advanced by T.
struct StepLogits {
  Tensor tensor;
  std::vector<double> values;
  const double* row(int64_t r, int64_t vocab) const { return values.data() + r * vocab; }
};
StepLogits feed(const Decoding& d, CausalLM& model, const Tensor& tokens, DecoderState& state);

// A fresh decoding state for `batch` rows, checked to be non-null and empty.
std::unique_ptr<DecoderState> new_state(const Decoding& d, CausalLM& model, int64_t batch);

// Row indices 0, 0, ..., 1, 1, ...: each of `rows` rows `times` times (torch.repeat_interleave), as an int64
// tensor for DecoderState::select and index_select.
Tensor repeat_rows(int64_t rows, int64_t times);

// Beam search on checked inputs (nn/beam_search.cpp).
BeamSearchOutput beam_search(CausalLM& model, const Tensor& input_ids, const GenerationConfig& config, const Decoding& d);

}  // namespace graft::nn::detail
