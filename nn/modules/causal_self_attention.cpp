#include "graft/nn/modules/causal_self_attention.h"

#include "graft/graph/factory.h"
#include "graft/ops/indexing.h"

namespace graft::nn {

Tensor causal_chunk_mask(int64_t new_tokens, int64_t cached_tokens) {
  GRAFT_CHECK(new_tokens >= 0 && cached_tokens >= 0,
              "causal_chunk_mask: token counts must be non-negative, got {} new and {} cached", new_tokens,
              cached_tokens);
  return tril(ones({new_tokens, cached_tokens + new_tokens}, dtype(kBool)), cached_tokens);
}

namespace detail {

void check_attention_input(const char* op, const Tensor& x, int64_t d_model) {
  GRAFT_CHECK(x.defined() && x.dim() == 3 && x.size(2) == d_model,
              "{}: expected an input of shape (B, T, d_model={}), got {}", op, d_model,
              x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  GRAFT_CHECK(is_floating(x.dtype()), "{}: expected a floating-point input, got {}", op, dtype_name(x.dtype()));
}

}  // namespace detail
}  // namespace graft::nn
