#pragma once
// Text generation over any CausalLM (nn/causal_lm.h), after Hugging Face transformers' `model.generate`:
// greedy decoding, sampling with temperature / top-k / top-p, and beam search.
//
// Every routine runs under NoGradGuard, feeds the prompt to the model once, and then feeds only the tokens
// chosen at each step (one per sequence), so the model's DecoderState (its KV caches) carries the prefix.
// The model is called once per generated token except after the last one (whose logits nobody needs).
//
// Finished sequences (those that produced eos_token_id) keep their row: later positions hold pad_token_id
// (eos_token_id when no pad token is given, as HF does), and generation stops early once every row has
// finished, so the result can be narrower than prompt length + max_new_tokens, exactly as in HF.
//
// Differences from HF: the rows of a batch share one prompt length (the CausalLM contract has no attention
// mask, so left-padded prompts are not supported); only the logits warpers below exist (no repetition
// penalty, min length, bad words...); beam sampling, group beam search and output scores of greedy decoding
// and sampling are not implemented; NaN or +inf logits from the model raise instead of propagating.
#include <cstdint>
#include <optional>

#include "graft/graph/generator.h"
#include "graft/graph/tensor.h"
#include "graft/nn/causal_lm.h"
#include "graft/nn/logits_warpers.h"

namespace graft::nn {

/// HF's `early_stopping` for beam search, which is true, false or "never". It decides when a batch row whose
/// num_beams best finished hypotheses are in hand stops searching:
///   false (kHeuristic): once the best running beam, scored as if it ended now, cannot beat the worst finished
///       hypothesis. Exact for length_penalty <= 0; with length_penalty > 0 a longer beam could still win.
///   true (kWhenFull): as soon as num_beams hypotheses are finished.
///   kNever ("never"): only when no running beam could beat the worst finished hypothesis at any length up to
///       max_new_tokens (log-probabilities only fall as tokens are added): the canonical beam search.
struct EarlyStopping {
  enum Mode { kHeuristic, kWhenFull, kNever };
  EarlyStopping(bool stop = false) : mode(stop ? kWhenFull : kHeuristic) {}  // NOLINT: implicit, like HF's bool
  EarlyStopping(Mode m) : mode(m) {}                                         // NOLINT
  bool operator==(const EarlyStopping&) const = default;
  Mode mode;
};

/// The subset of HF's GenerationConfig that graft implements, with HF's meanings. Differences: top_k defaults
/// to 0 (off) rather than HF's 50, and max_new_tokens to 20 (HF's default is max_length = 20).
struct GenerationConfig {
  int64_t max_new_tokens = 20;  // at least 1
  /// Sampling (multinomial over the warped distribution) instead of greedy choice / plain beam search.
  bool do_sample = false;
  /// Logits warpers, applied in HF's order (temperature, top-k, top-p) when do_sample; greedy decoding and
  /// beam search ignore them (as HF does), but top_k and top_p are always checked.
  double temperature = 1.0;  // > 0 when sampling
  int64_t top_k = 0;         // >= 0; 0 keeps every token
  double top_p = 1.0;        // in (0, 1]; 1 keeps every token
  std::optional<int64_t> eos_token_id;
  std::optional<int64_t> pad_token_id;  // fills finished rows; eos_token_id when not given
  /// Beam search when > 1. Hypotheses are ranked by sum of log-probabilities / (generated length ^
  /// length_penalty), the length counting the generated tokens including EOS but not the prompt (as in
  /// current transformers; versions before 4.36 counted the prompt and not the EOS).
  int64_t num_beams = 1;
  double length_penalty = 1.0;
  EarlyStopping early_stopping = false;
  /// Sequences returned per prompt row, rows b * n ... b * n + n - 1 for prompt row b: the n best hypotheses of
  /// beam search (n <= num_beams) or n independent samples. Greedy decoding allows only 1.
  int64_t num_return_sequences = 1;
  /// Where sampling draws from: a fresh Generator(seed) when seed is given, else `generator`, else the global
  /// generator (graft::manual_seed). The same seed gives the same output. Setting both is an error.
  Generator* generator = nullptr;
  std::optional<uint64_t> seed;
};

/// The warpers of `config` applied to logits (rows, vocab): temperature, then top-k, then top-p, as HF's
/// sampling does. Checks the config's values even when they leave the logits as they are.
Tensor warp_logits(const Tensor& logits, const GenerationConfig& config);

/// Continues each row of `input_ids` ((batch, prompt length) int64 token ids, batch >= 1, length >= 1) and
/// returns the prompt followed by the generated tokens, (batch * num_return_sequences, prompt length + steps)
/// int64. Greedy decoding when num_beams == 1 and !do_sample (the argmax, the lowest token id on ties),
/// sampling when do_sample, beam search when num_beams > 1 (beam sampling is not implemented and raises).
Tensor generate(CausalLM& model, const Tensor& input_ids, const GenerationConfig& config = {});

struct BeamSearchOutput {
  /// (batch * num_return_sequences, prompt length + longest hypothesis) int64: each hypothesis followed by
  /// eos_token_id when it ended with it, then pad_token_id up to the common width (HF's finalize).
  Tensor sequences;
  /// (batch * num_return_sequences) float64: the length-penalised score of each returned hypothesis.
  Tensor sequences_scores;
};

/// Beam search, as HF's BeamSearchScorer: at each step every running beam is extended by every token; of the
/// 2 * num_beams best (score, lowest index on ties) candidates of a batch row, those ending in EOS and ranking
/// within the first num_beams become finished hypotheses (the num_beams best are kept), and the best
/// num_beams others continue. Beams that never end are scored at max_new_tokens. DecoderState::select
/// reorders the model's state to follow the surviving beams. num_beams == 1 is greedy decoding (unless
/// early_stopping is kNever, which may look past an EOS that greedy decoding would stop at).
BeamSearchOutput beam_search(CausalLM& model, const Tensor& input_ids, const GenerationConfig& config);

}  // namespace graft::nn
