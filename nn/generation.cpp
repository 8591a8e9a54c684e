#include "graft/nn/generation.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "graft/graph/factory.h"
#include "graft/graph/grad_mode.h"
#include "graft/nn/detail/as_doubles.h"
#include "graft/nn/detail/decoding.h"
#include "graft/ops/activation.h"
#include "graft/ops/indexing.h"
#include "graft/ops/sampling.h"

namespace graft::nn {

namespace F = functional;

namespace {

// The index of the largest value (the first of equal ones).
int64_t argmax_row(const double* x, int64_t n) { return std::max_element(x, x + n) - x; }

// Greedy decoding or sampling: one new token per row and step.
Tensor decode(CausalLM& model, const Tensor& input_ids, const GenerationConfig& config, const detail::Decoding& d) {
  std::optional<Generator> seeded;
  if (config.seed) seeded.emplace(*config.seed);
  Generator* generator = seeded ? &*seeded : config.generator;

  std::unique_ptr<DecoderState> state = detail::new_state(d, model, d.batch);
  detail::StepLogits logits = detail::feed(d, model, input_ids, *state);
  Tensor prompt = input_ids;
  const int64_t rows = d.batch * config.num_return_sequences;
  if (config.num_return_sequences > 1) {  // independent samples: each prompt row's state, repeated
    Tensor index = detail::repeat_rows(d.batch, config.num_return_sequences);
    state->select(index);
    prompt = index_select(input_ids, 0, index);
    logits.tensor = index_select(logits.tensor, 0, index);
    logits.values = detail::as_doubles(logits.tensor);
  }

  std::vector<std::vector<int64_t>> generated;  // one vector of `rows` tokens per step
  std::vector<bool> unfinished(static_cast<size_t>(rows), true);
  for (int64_t step = 0; step < config.max_new_tokens; ++step) {
    std::vector<int64_t> next(static_cast<size_t>(rows));
    if (config.do_sample) {
      Tensor probs = F::softmax(warp_logits(logits.tensor, config), -1, kFloat64);
      next = multinomial(probs, 1, /*replacement=*/true, generator).to_vector<int64_t>();
    } else {
      for (int64_t r = 0; r < rows; ++r) next[static_cast<size_t>(r)] = argmax_row(logits.row(r, d.vocab), d.vocab);
    }
    bool any_unfinished = false;
    for (size_t r = 0; r < next.size(); ++r) {
      if (!unfinished[r]) next[r] = *d.pad;  // only rows that produced EOS are finished, so d.pad is set
      else if (d.eos && next[r] == *d.eos) unfinished[r] = false;
      any_unfinished = any_unfinished || unfinished[r];
    }
    generated.push_back(next);
    if (!any_unfinished || step + 1 == config.max_new_tokens) break;
    logits = detail::feed(d, model, tensor(next, {rows, 1}, kInt64), *state);
  }

  const int64_t steps = static_cast<int64_t>(generated.size()), width = d.prompt_length + steps;
  const std::vector<int64_t> prompt_ids = prompt.to_vector<int64_t>();
  std::vector<int64_t> out(static_cast<size_t>(rows * width));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(prompt_ids.begin() + r * d.prompt_length, d.prompt_length, out.begin() + r * width);
    for (int64_t s = 0; s < steps; ++s)
      out[static_cast<size_t>(r * width + d.prompt_length + s)] = generated[static_cast<size_t>(s)][static_cast<size_t>(r)];
  }
  return tensor(out, {rows, width}, kInt64);
}

}  // namespace

Tensor warp_logits(const Tensor& logits, const GenerationConfig& config) {
  Tensor out = temperature_scale(logits, config.temperature);
  out = top_k_filter(out, config.top_k);
  return top_p_filter(out, config.top_p);
}

Tensor generate(CausalLM& model, const Tensor& input_ids, const GenerationConfig& config) {
  NoGradGuard no_grad;
  const detail::Decoding d = detail::check_decoding("generate", model, input_ids, config);
  if (config.num_beams > 1) return detail::beam_search(model, input_ids, config, d).sequences;
  return decode(model, input_ids, config, d);
}

}  // namespace graft::nn
