#pragma once
// nn::SelfAttention: single-head scaled dot-product self-attention with learned projections (no PyTorch
// counterpart; it computes what torch.nn.MultiheadAttention(embed_dim, 1) computes, with sdpa's masks).
//
//   q, k, v = q_proj(x), k_proj(x), v_proj(x)
//   out = out_proj(softmax(q k^T / sqrt(embed_dim) + mask) v)      dropout on the weights in training
//
// forward(x, attn_mask = {}, is_causal = false) -> out
//   x (..., L, embed_dim) -> out (..., L, embed_dim); any number of leading (batch) dims.
//   attn_mask, broadcastable to the weights (..., L, L), follows scaled_dot_product_attention: a bool mask is
//   TRUE WHERE A POSITION TAKES PART (unlike MultiheadAttention's), a floating mask is added to the scores.
//   is_causal: query i attends to keys j <= i; it cannot be combined with attn_mask.
// forward(x) (no mask) makes it usable in Sequential.
#include "graft/nn/module.h"
#include "graft/nn/modules/linear.h"

namespace graft::nn {

class SelfAttention : public Module {
 public:
  explicit SelfAttention(int64_t embed_dim, bool bias = true, double dropout = 0.0, DType dtype = kFloat32);

  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, const Tensor& attn_mask, bool is_causal = false);
  std::string extra_repr() const override;

  int64_t embed_dim;
  double dropout;
  Child<Linear> q_proj, k_proj, v_proj, out_proj;
};

}  // namespace graft::nn
