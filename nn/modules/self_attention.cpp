#include "graft/nn/modules/self_attention.h"

#include "graft/ops/attention.h"

namespace graft::nn {

namespace F = functional;

SelfAttention::SelfAttention(int64_t embed_dim_, bool bias, double dropout_, DType dtype)
    : Module("SelfAttention"), embed_dim(embed_dim_), dropout(dropout_) {
  GRAFT_CHECK(embed_dim > 0, "SelfAttention: embed_dim must be positive, got {}", embed_dim);
  GRAFT_CHECK(dropout >= 0.0 && dropout <= 1.0, "SelfAttention: dropout must be in [0, 1], got {}", dropout);
  q_proj = register_module("q_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, dtype));
  k_proj = register_module("k_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, dtype));
  v_proj = register_module("v_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, dtype));
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, dtype));
}

Tensor SelfAttention::forward(const Tensor& x) { return forward(x, Tensor(), false); }

Tensor SelfAttention::forward(const Tensor& x, const Tensor& attn_mask, bool is_causal) {
  GRAFT_CHECK(x.defined(), "SelfAttention: the input is undefined");
  GRAFT_CHECK(x.dim() >= 2 && x.shape().back() == embed_dim,
              "SelfAttention: expected an input of shape (..., L, embed_dim={}), got {}", embed_dim, shape_str(x.shape()));
  Tensor q = (*q_proj)(x), k = (*k_proj)(x), v = (*v_proj)(x);
  Tensor attended = F::scaled_dot_product_attention(q, k, v, attn_mask, is_training() ? dropout : 0.0, is_causal);
  return (*out_proj)(attended);
}

std::string SelfAttention::extra_repr() const {
  return fmt::format("embed_dim={}, dropout={}", embed_dim, dropout);
}

}  // namespace graft::nn
