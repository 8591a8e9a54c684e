#pragma once
// The logits warpers of sampling-based generation, after Hugging Face transformers' TemperatureLogitsWarper,
// TopKLogitsWarper and TopPLogitsWarper, as pure functions: they take logits of shape (..., vocab) (in
// generation, (batch, vocab)) and return new logits in which every removed token is -inf, so that softmax
// gives it probability 0 (or the input itself when nothing is removed); the input is never modified. They
// are composed of differentiable ops (div, masked_fill), although generation runs them under NoGradGuard.
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::nn {

/// logits / temperature; temperature must be positive and finite. Below 1 it sharpens the distribution
/// (towards argmax as it goes to 0), above 1 it flattens it (towards uniform).
Tensor temperature_scale(const Tensor& logits, double temperature);

/// Keeps the top_k largest logits of each row and sets the others to -inf. top_k = 0 keeps every token; top_k
/// is raised to min_tokens_to_keep and capped at the vocabulary size. Ties: every token whose logit equals the
/// k-th largest is kept (HF's test is `logit < k-th largest`), so a tie at the boundary keeps more than k.
Tensor top_k_filter(const Tensor& logits, int64_t top_k, int64_t min_tokens_to_keep = 1);

/// Nucleus filtering (Holtzman et al., 2019): keeps the smallest set of most probable tokens whose total
/// probability (softmax of the row) reaches top_p, INCLUDING the token whose probability makes the running
/// total cross top_p, and at least min_tokens_to_keep tokens; sets the others to -inf. top_p must be in (0, 1];
/// top_p = 1 keeps every token. Ties: every token whose logit equals that of the last token kept is kept too,
/// so the set depends only on the probabilities, never on the order of the vocabulary (HF keeps whichever of
/// the tied tokens torch.sort happens to put first). Probabilities and their running total are computed in
/// double precision; a total that reaches top_p exactly stops the set. Rows of -inf are left as they are;
/// NaN or +inf logits raise.
Tensor top_p_filter(const Tensor& logits, double top_p, int64_t min_tokens_to_keep = 1);

}  // namespace graft::nn
