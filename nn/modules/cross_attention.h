#pragma once
// nn::CrossAttention: single-head scaled dot-product attention of one sequence (the queries, x) over
// another (the keys and values, context), with learned projections (no PyTorch counterpart).
//
//   q = q_proj(x), k = k_proj(context), v = v_proj(context)
//   out = out_proj(softmax(q k^T / sqrt(embed_dim) + mask) v)      dropout on the weights in training
//
// forward(x, context, attn_mask = {}, is_causal = false) -> out
//   x (..., L, embed_dim), context (..., S, context_dim) -> out (..., L, embed_dim); the leading (batch) dims
//   broadcast. context_dim defaults to embed_dim.
//   attn_mask, broadcastable to the weights (..., L, S), follows scaled_dot_product_attention: a bool mask is
//   TRUE WHERE A POSITION TAKES PART (unlike MultiheadAttention's), a floating mask is added to the scores;
//   e.g. (N, 1, S) for key padding. is_causal: query i attends to keys j <= i (top-left aligned); it cannot
//   be combined with attn_mask.
#include <optional>

#include "graft/nn/module.h"
#include "graft/nn/modules/linear.h"

namespace graft::nn {

class CrossAttention : public Module {
 public:
  CrossAttention(int64_t embed_dim, std::optional<int64_t> context_dim = std::nullopt, bool bias = true,
                 double dropout = 0.0, DType dtype = kFloat32);

  using Module::forward;
  Tensor forward(const Tensor& x, const Tensor& context, const Tensor& attn_mask = {}, bool is_causal = false);
  std::string extra_repr() const override;

  int64_t embed_dim, context_dim;
  double dropout;
  Child<Linear> q_proj, k_proj, v_proj, out_proj;
};

}  // namespace graft::nn
