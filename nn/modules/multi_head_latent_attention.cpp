#include "graft/nn/modules/multi_head_latent_attention.h"

#include <cmath>

#include "graft/nn/modules/normalization.h"
#include "graft/ops/attention.h"
#include "graft/ops/matmul.h"
#include "graft/ops/shape.h"

namespace graft::nn {

namespace F = functional;

namespace {

const MultiHeadLatentAttentionOptions& checked(const MultiHeadLatentAttentionOptions& o) {
  constexpr const char* op = "MultiHeadLatentAttention";
  GRAFT_CHECK(o.d_model > 0 && o.num_heads > 0, "{}: d_model and num_heads must be positive, got {} and {}", op,
              o.d_model, o.num_heads);
  GRAFT_CHECK(o.kv_lora_rank > 0 && o.qk_nope_head_dim > 0 && o.v_head_dim > 0,
              "{}: kv_lora_rank, qk_nope_head_dim and v_head_dim must be positive, got {}, {} and {}", op,
              o.kv_lora_rank, o.qk_nope_head_dim, o.v_head_dim);
  GRAFT_CHECK(o.qk_rope_head_dim > 0 && o.qk_rope_head_dim % 2 == 0,
              "{}: qk_rope_head_dim must be positive and even, got {}", op, o.qk_rope_head_dim);
  GRAFT_CHECK(o.q_lora_rank >= 0, "{}: q_lora_rank must be non-negative (0 = no query compression), got {}", op,
              o.q_lora_rank);
  return o;
}

}  // namespace

MultiHeadLatentAttention::MultiHeadLatentAttention(const MultiHeadLatentAttentionOptions& o)
    : CausalSelfAttention("MultiHeadLatentAttention"), options(checked(o)) {
  const int64_t H = o.num_heads, q_head_dim = o.qk_nope_head_dim + o.qk_rope_head_dim;
  if (o.q_lora_rank == 0) {
    register_module("q_proj", std::make_shared<Linear>(o.d_model, H * q_head_dim, false, o.dtype));
  } else {
    register_module("q_a_proj", std::make_shared<Linear>(o.d_model, o.q_lora_rank, o.bias, o.dtype));
    register_module("q_a_layernorm", std::make_shared<RMSNorm>(IntList{o.q_lora_rank}, o.norm_eps, true, o.dtype));
    register_module("q_b_proj", std::make_shared<Linear>(o.q_lora_rank, H * q_head_dim, false, o.dtype));
  }
  register_module("kv_a_proj_with_mqa",
                  std::make_shared<Linear>(o.d_model, o.kv_lora_rank + o.qk_rope_head_dim, o.bias, o.dtype));
  register_module("kv_a_layernorm", std::make_shared<RMSNorm>(IntList{o.kv_lora_rank}, o.norm_eps, true, o.dtype));
  // No bias: the absorbed (cached) path relies on kv_b_proj being linear.
  register_module("kv_b_proj",
                  std::make_shared<Linear>(o.kv_lora_rank, H * (o.qk_nope_head_dim + o.v_head_dim), false, o.dtype));
  register_module("o_proj", std::make_shared<Linear>(H * o.v_head_dim, o.d_model, o.bias, o.dtype));
  register_module("rotary", std::make_shared<RotaryEmbedding>(o.qk_rope_head_dim, o.max_positions, o.rope_base, o.dtype));
}

std::shared_ptr<Linear> MultiHeadLatentAttention::kv_b_proj() const {
  return child_as<Linear>("kv_b_proj").ptr();
}

std::shared_ptr<RotaryEmbedding> MultiHeadLatentAttention::rotary() const {
  return child_as<RotaryEmbedding>("rotary").ptr();
}

Tensor MultiHeadLatentAttention::w_uk() const {
  const auto& o = options;
  return kv_b_proj()->weight.view({o.num_heads, o.qk_nope_head_dim + o.v_head_dim, o.kv_lora_rank})
      .narrow(1, 0, o.qk_nope_head_dim);
}

Tensor MultiHeadLatentAttention::w_uv() const {
  const auto& o = options;
  return kv_b_proj()->weight.view({o.num_heads, o.qk_nope_head_dim + o.v_head_dim, o.kv_lora_rank})
      .narrow(1, o.qk_nope_head_dim, o.v_head_dim);
}

// (B, H, T, d_h + d_h^R), before RoPE.
Tensor MultiHeadLatentAttention::queries(const Tensor& x) {
  const auto& o = options;
  Tensor q = o.q_lora_rank == 0
                 ? (*child("q_proj"))(x)
                 : (*child("q_b_proj"))((*child("q_a_layernorm"))((*child("q_a_proj"))(x)));
  return q.reshape({x.size(0), x.size(1), o.num_heads, o.qk_nope_head_dim + o.qk_rope_head_dim}).transpose(1, 2);
}

Tensor MultiHeadLatentAttention::forward(const Tensor& x, LayerCache* cache) {
  constexpr const char* op = "MultiHeadLatentAttention";
  const auto& o = options;
  detail::check_attention_input(op, x, o.d_model);
  LatentKVCache* latent_cache = detail::cache_as<LatentKVCache>(op, cache);
  const int64_t B = x.size(0), T = x.size(1), H = o.num_heads;
  const int64_t dn = o.qk_nope_head_dim, dr = o.qk_rope_head_dim, dv = o.v_head_dim, dc = o.kv_lora_rank;
  const int64_t past = latent_cache ? latent_cache->length() : 0;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dn + dr));

  auto rope = rotary();
  Tensor q = queries(x);
  Tensor q_nope = q.narrow(-1, 0, dn);
  Tensor q_rope = call(*rope, q.narrow(-1, dn, dr), past);  // (B, H, T, dr)

  Tensor compressed = (*child("kv_a_proj_with_mqa"))(x);                     // (B, T, dc + dr)
  Tensor c_kv = (*child("kv_a_layernorm"))(compressed.narrow(-1, 0, dc));     // (B, T, dc)
  Tensor k_rope = call(*rope, compressed.narrow(-1, dc, dr).unsqueeze(1), past);  // (B, 1, T, dr)

  Tensor out;  // (B, H, T, dv)
  if (!latent_cache) {
    Tensor kv = (*child("kv_b_proj"))(c_kv).reshape({B, T, H, dn + dv}).transpose(1, 2);  // (B, H, T, dn + dv)
    Tensor query = cat({q_nope, q_rope}, -1);
    Tensor key = cat({kv.narrow(-1, 0, dn), k_rope.expand({B, H, T, dr})}, -1);
    out = F::scaled_dot_product_attention(query, key, kv.narrow(-1, dn, dv), {}, 0.0, /*is_causal=*/true,
                                                   scale);
  } else {
    Tensor entries = latent_cache->update(c_kv, k_rope.squeeze(1));  // (B, 1, S, dc + dr)
    // Absorbed: q_nope . (W^UK c) = (q_nope W^UK) . c, and sum_s a_s W^UV c_s = W^UV sum_s a_s c_s.
    Tensor query = cat({matmul(q_nope, w_uk()), q_rope}, -1);  // (B, H, T, dc + dr)
    Tensor mask = past > 0 && T > 1 ? causal_chunk_mask(T, past) : Tensor();
    Tensor latent_out = F::scaled_dot_product_attention(query, entries, entries.narrow(-1, 0, dc), mask, 0.0,
                                                                 /*is_causal=*/past == 0, scale, /*enable_gqa=*/true);
    out = matmul(latent_out, w_uv().transpose(1, 2));  // (B, H, T, dc) @ (H, dc, dv)
  }
  return (*child("o_proj"))(out.transpose(1, 2).reshape({B, T, H * dv}));
}

std::string MultiHeadLatentAttention::extra_repr() const {
  const auto& o = options;
  return fmt::format(
      "d_model={}, num_heads={}, kv_lora_rank={}, q_lora_rank={}, qk_nope_head_dim={}, qk_rope_head_dim={}, "
      "v_head_dim={}",
      o.d_model, o.num_heads, o.kv_lora_rank, o.q_lora_rank, o.qk_nope_head_dim, o.qk_rope_head_dim, o.v_head_dim);
}

}  // namespace graft::nn
