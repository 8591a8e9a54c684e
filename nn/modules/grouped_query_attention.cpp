#include "graft/nn/modules/grouped_query_attention.h"

#include <tuple>

#include "graft/ops/attention.h"
#include "graft/ops/shape.h"

namespace graft::nn {

GroupedQueryAttention::GroupedQueryAttention(int64_t d_model, int64_t num_heads, int64_t num_kv_heads, bool rope,
                                             bool bias, int64_t max_positions, double rope_base, DType dtype)
    : GroupedQueryAttention("GroupedQueryAttention", d_model, num_heads, num_kv_heads, rope, bias, max_positions,
                            rope_base, dtype) {}

GroupedQueryAttention::GroupedQueryAttention(std::string type_name, int64_t d_model, int64_t num_heads_,
                                             int64_t num_kv_heads_, bool rope, bool bias, int64_t max_positions,
                                             double rope_base, DType dtype)
    : CausalSelfAttention(std::move(type_name)), num_heads(num_heads_), num_kv_heads(num_kv_heads_), d_model_(d_model) {
  const char* op = this->type_name().c_str();
  GRAFT_CHECK(d_model > 0 && num_heads > 0 && d_model % num_heads == 0,
              "{}: d_model ({}) must be a positive multiple of num_heads ({})", op, d_model, num_heads);
  GRAFT_CHECK(num_kv_heads > 0 && num_heads % num_kv_heads == 0,
              "{}: num_kv_heads ({}) must be positive and divide num_heads ({})", op, num_kv_heads, num_heads);
  head_dim = d_model / num_heads;
  GRAFT_CHECK(!rope || head_dim % 2 == 0, "{}: RoPE needs an even head_dim, got d_model / num_heads = {}", op,
              head_dim);
  q_proj = register_module("q_proj", std::make_shared<Linear>(d_model, num_heads * head_dim, bias, dtype));
  k_proj = register_module("k_proj", std::make_shared<Linear>(d_model, num_kv_heads * head_dim, bias, dtype));
  v_proj = register_module("v_proj", std::make_shared<Linear>(d_model, num_kv_heads * head_dim, bias, dtype));
  o_proj = register_module("o_proj", std::make_shared<Linear>(num_heads * head_dim, d_model, bias, dtype));
  if (rope) rotary = register_module("rotary", std::make_shared<RotaryEmbedding>(head_dim, max_positions, rope_base, dtype));
}

Tensor GroupedQueryAttention::forward(const Tensor& x, LayerCache* cache) {
  ForwardCall call(*this);
  const char* op = type_name().c_str();
  detail::check_attention_input(op, x, d_model_);
  KVCache* kv = detail::cache_as<KVCache>(op, cache);
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t past = kv ? kv->length() : 0;

  // (B, T, heads * head_dim) -> (B, heads, T, head_dim)
  auto heads = [&](const Tensor& t, int64_t n) { return t.view({B, T, n, head_dim}).transpose(1, 2); };
  Tensor q = heads(q_proj->forward(x), num_heads);
  Tensor k = heads(k_proj->forward(x), num_kv_heads);
  Tensor v = heads(v_proj->forward(x), num_kv_heads);
  if (rotary) {
    q = rotary->forward(q, past);
    k = rotary->forward(k, past);
  }
  if (kv) std::tie(k, v) = kv->update(k, v);

  // Without cached tokens the mask is the plain causal one; one new token sees everything.
  Tensor mask = past > 0 && T > 1 ? causal_chunk_mask(T, past) : Tensor();
  Tensor out = functional::scaled_dot_product_attention(q, k, v, mask, 0.0, /*is_causal=*/past == 0, std::nullopt,
                                                         /*enable_gqa=*/num_kv_heads != num_heads);
  return o_proj->forward(out.transpose(1, 2).reshape({B, T, num_heads * head_dim}));
}

std::string GroupedQueryAttention::extra_repr() const {
  return fmt::format("d_model={}, num_heads={}, num_kv_heads={}, head_dim={}, rope={}", d_model_, num_heads,
                     num_kv_heads, head_dim, rotary ? "True" : "False");
}

MultiQueryAttention::MultiQueryAttention(int64_t d_model, int64_t num_heads, bool rope, bool bias,
                                         int64_t max_positions, double rope_base, DType dtype)
    : GroupedQueryAttention("MultiQueryAttention", d_model, num_heads, 1, rope, bias, max_positions, rope_base, dtype) {}

}  // namespace graft::nn
