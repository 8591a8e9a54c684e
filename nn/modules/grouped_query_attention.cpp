#include "graft/nn/modules/grouped_query_attention.h"

#include <tuple>

#include "graft/ops/attention.h"
#include "graft/ops/shape.h"

namespace graft::nn {

namespace F = functional;

GroupedQueryAttention::GroupedQueryAttention(int64_t d_model, int64_t num_heads, int64_t num_kv_heads, bool rope,
                                             bool bias, int64_t max_positions, double rope_base, DType dtype)
    : GroupedQueryAttention("GroupedQueryAttention", d_model, num_heads, num_kv_heads, rope, bias, max_positions,
                            rope_base, dtype) {}

GroupedQueryAttention::GroupedQueryAttention(std::string type_name, int64_t d_model, int64_t num_heads_,
                                             int64_t num_kv_heads_, bool rope, bool bias, int64_t max_positions,
                                             double rope_base, DType dtype)
    : CausalSelfAttention(std::move(type_name)),
      num_heads(num_heads_),
      num_kv_heads(num_kv_heads_),
      d_model_(d_model),
      rope_(rope) {
  const char* op = this->type_name().c_str();
  GRAFT_CHECK(d_model > 0 && num_heads > 0 && d_model % num_heads == 0,
              "{}: d_model ({}) must be a positive multiple of num_heads ({})", op, d_model, num_heads);
  GRAFT_CHECK(num_kv_heads > 0 && num_heads % num_kv_heads == 0,
              "{}: num_kv_heads ({}) must be positive and divide num_heads ({})", op, num_kv_heads, num_heads);
  head_dim = d_model / num_heads;
  GRAFT_CHECK(!rope || head_dim % 2 == 0, "{}: RoPE needs an even head_dim, got d_model / num_heads = {}", op,
              head_dim);
  register_module("q_proj", std::make_shared<Linear>(d_model, num_heads * head_dim, bias, dtype));
  register_module("k_proj", std::make_shared<Linear>(d_model, num_kv_heads * head_dim, bias, dtype));
  register_module("v_proj", std::make_shared<Linear>(d_model, num_kv_heads * head_dim, bias, dtype));
  register_module("o_proj", std::make_shared<Linear>(num_heads * head_dim, d_model, bias, dtype));
  if (rope) register_module("rotary", std::make_shared<RotaryEmbedding>(head_dim, max_positions, rope_base, dtype));
}

std::shared_ptr<Linear> GroupedQueryAttention::q_proj() const { return child_as<Linear>("q_proj").ptr(); }
std::shared_ptr<Linear> GroupedQueryAttention::k_proj() const { return child_as<Linear>("k_proj").ptr(); }
std::shared_ptr<Linear> GroupedQueryAttention::v_proj() const { return child_as<Linear>("v_proj").ptr(); }
std::shared_ptr<Linear> GroupedQueryAttention::o_proj() const { return child_as<Linear>("o_proj").ptr(); }
std::shared_ptr<RotaryEmbedding> GroupedQueryAttention::rotary() const {
  return rope_ ? child_as<RotaryEmbedding>("rotary").ptr() : nullptr;
}

Tensor GroupedQueryAttention::forward(const Tensor& x, LayerCache* cache) {
  const char* op = type_name().c_str();
  detail::check_attention_input(op, x, d_model_);
  KVCache* kv = detail::cache_as<KVCache>(op, cache);
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t past = kv ? kv->length() : 0;

  // (B, T, heads * head_dim) -> (B, heads, T, head_dim)
  auto heads = [&](const Tensor& t, int64_t n) { return t.reshape({B, T, n, head_dim}).transpose(1, 2); };
  Tensor q = heads((*child("q_proj"))(x), num_heads);
  Tensor k = heads((*child("k_proj"))(x), num_kv_heads);
  Tensor v = heads((*child("v_proj"))(x), num_kv_heads);
  if (rope_) {
    auto rope = rotary();
    q = call(*rope, q, past);
    k = call(*rope, k, past);
  }
  if (kv) std::tie(k, v) = kv->update(k, v);

  // Without cached tokens the mask is the plain causal one; one new token sees everything.
  Tensor mask = past > 0 && T > 1 ? causal_chunk_mask(T, past) : Tensor();
  Tensor out = F::scaled_dot_product_attention(q, k, v, mask, 0.0, /*is_causal=*/past == 0, std::nullopt,
                                                         /*enable_gqa=*/num_kv_heads != num_heads);
  return (*child("o_proj"))(out.transpose(1, 2).reshape({B, T, num_heads * head_dim}));
}

std::string GroupedQueryAttention::extra_repr() const {
  return fmt::format("d_model={}, num_heads={}, num_kv_heads={}, head_dim={}, rope={}", d_model_, num_heads,
                     num_kv_heads, head_dim, rope_ ? "True" : "False");
}

MultiQueryAttention::MultiQueryAttention(int64_t d_model, int64_t num_heads, bool rope, bool bias,
                                         int64_t max_positions, double rope_base, DType dtype)
    : GroupedQueryAttention("MultiQueryAttention", d_model, num_heads, 1, rope, bias, max_positions, rope_base, dtype) {}

}  // namespace graft::nn
