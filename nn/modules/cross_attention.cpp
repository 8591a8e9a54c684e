#include "graft/nn/modules/cross_attention.h"

#include "graft/ops/attention.h"

namespace graft::nn {

namespace F = functional;

CrossAttention::CrossAttention(int64_t embed_dim_, std::optional<int64_t> context_dim_, bool bias, double dropout_,
                               DType dtype)
    : Module("CrossAttention"), embed_dim(embed_dim_), context_dim(context_dim_.value_or(embed_dim_)), dropout(dropout_) {
  GRAFT_CHECK(embed_dim > 0 && context_dim > 0, "CrossAttention: embed_dim and context_dim must be positive, got {} and {}",
              embed_dim, context_dim);
  GRAFT_CHECK(dropout >= 0.0 && dropout <= 1.0, "CrossAttention: dropout must be in [0, 1], got {}", dropout);
  q_proj = register_module("q_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, dtype));
  k_proj = register_module("k_proj", std::make_shared<Linear>(context_dim, embed_dim, bias, dtype));
  v_proj = register_module("v_proj", std::make_shared<Linear>(context_dim, embed_dim, bias, dtype));
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, dtype));
}

Tensor CrossAttention::forward(const Tensor& x, const Tensor& context, const Tensor& attn_mask, bool is_causal) {
  GRAFT_CHECK(x.defined() && context.defined(), "CrossAttention: x and context must be defined");
  GRAFT_CHECK(x.dim() >= 2 && x.shape().back() == embed_dim,
              "CrossAttention: expected x of shape (..., L, embed_dim={}), got {}", embed_dim, shape_str(x.shape()));
  GRAFT_CHECK(context.dim() >= 2 && context.shape().back() == context_dim,
              "CrossAttention: expected context of shape (..., S, context_dim={}), got {}", context_dim,
              shape_str(context.shape()));
  Tensor q = (*q_proj)(x), k = (*k_proj)(context), v = (*v_proj)(context);
  Tensor attended = F::scaled_dot_product_attention(q, k, v, attn_mask, is_training() ? dropout : 0.0, is_causal);
  return (*out_proj)(attended);
}

std::string CrossAttention::extra_repr() const {
  return fmt::format("embed_dim={}, context_dim={}, dropout={}", embed_dim, context_dim, dropout);
}

}  // namespace graft::nn
