#include "graft/nn/modules/latent_query_attention.h"

#include "graft/graph/factory.h"
#include "graft/nn/init.h"
#include "graft/ops/attention.h"
#include "graft/ops/pointwise.h"
#include "graft/ops/shape.h"

namespace graft::nn {

namespace F = functional;

namespace {
constexpr const char* kOp = "LatentQueryAttention";

void check_sequence(const char* what, const Tensor& t, int64_t d_model) {
  GRAFT_CHECK(t.defined() && t.dim() == 3 && t.size(2) == d_model, "{}: expected {} of shape (B, L, d_model={}), got {}",
              kOp, what, d_model, t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor"));
  GRAFT_CHECK(is_floating(t.dtype()), "{}: expected a floating-point {}, got {}", kOp, what, dtype_name(t.dtype()));
}
}  // namespace

LatentQueryAttention::LatentQueryAttention(int64_t d_model_, int64_t num_heads_, int64_t latent_len_, bool bias,
                                           DType dtype)
    : Module(kOp), d_model(d_model_), num_heads(num_heads_), latent_len(latent_len_) {
  GRAFT_CHECK(d_model > 0 && num_heads > 0 && d_model % num_heads == 0,
              "{}: d_model ({}) must be a positive multiple of num_heads ({})", kOp, d_model, num_heads);
  GRAFT_CHECK(latent_len > 0, "{}: latent_len must be positive, got {}", kOp, latent_len);
  head_dim = d_model / num_heads;
  latents = register_parameter("latents", empty({latent_len, d_model}, graft::dtype(dtype)));
  init::trunc_normal_(latents, 0.0, 0.02, -0.04, 0.04);
  for (const char* name : {"latent_q_proj", "k_proj", "v_proj", "q_proj", "slot_k_proj", "slot_v_proj", "o_proj"})
    register_module(name, std::make_shared<Linear>(d_model, d_model, bias, dtype));
}

Tensor LatentQueryAttention::split_heads(const Tensor& t) const {
  return t.reshape({t.size(0), t.size(1), num_heads, head_dim}).transpose(1, 2);
}

Tensor LatentQueryAttention::merge_heads(const Tensor& t) const {
  return t.transpose(1, 2).reshape({t.size(0), t.size(2), d_model});
}

Tensor LatentQueryAttention::compress(const Tensor& context, const Tensor& key_padding_mask) {
  return compress_slots(context, key_padding_mask);
}

Tensor LatentQueryAttention::attend(const Tensor& query, const Tensor& slots) {
  return attend_slots(query, slots);
}

Tensor LatentQueryAttention::compress_slots(const Tensor& context, const Tensor& key_padding_mask) {
  check_sequence("context", context, d_model);
  const int64_t B = context.size(0), S = context.size(1);
  Tensor keep;  // (B, 1, 1, S): true where a context token takes part
  if (key_padding_mask.defined()) {
    GRAFT_CHECK(key_padding_mask.dtype() == kBool && key_padding_mask.dim() == 2 && key_padding_mask.size(0) == B &&
                    key_padding_mask.size(1) == S,
                "{}: key_padding_mask must be a bool tensor of shape (B, S) = [{}, {}], got {} of shape {}", kOp, B, S,
                dtype_name(key_padding_mask.dtype()), shape_str(key_padding_mask.shape()));
    keep = logical_not(key_padding_mask).view({B, 1, 1, S});
  }
  // The latent queries are shared by the batch: (1, H, latent_len, head_dim) broadcasts over B.
  Tensor q = split_heads(project("latent_q_proj", latents).unsqueeze(0));
  Tensor k = split_heads(project("k_proj", context)), v = split_heads(project("v_proj", context));
  return merge_heads(F::scaled_dot_product_attention(q, k, v, keep));
}

Tensor LatentQueryAttention::attend_slots(const Tensor& query, const Tensor& slots) {
  check_sequence("query", query, d_model);
  check_sequence("slots", slots, d_model);
  GRAFT_CHECK(slots.size(0) == query.size(0), "{}: query has batch {} but slots have batch {}", kOp, query.size(0),
              slots.size(0));
  Tensor q = split_heads(project("q_proj", query));
  Tensor k = split_heads(project("slot_k_proj", slots)), v = split_heads(project("slot_v_proj", slots));
  return project("o_proj", merge_heads(F::scaled_dot_product_attention(q, k, v)));
}

Tensor LatentQueryAttention::forward(const Tensor& query, const Tensor& context, const Tensor& key_padding_mask) {
  check_sequence("query", query, d_model);
  check_sequence("context", context, d_model);
  GRAFT_CHECK(query.size(0) == context.size(0), "{}: query has batch {} but context has batch {}", kOp, query.size(0),
              context.size(0));
  return attend_slots(query, compress_slots(context, key_padding_mask));
}

std::string LatentQueryAttention::extra_repr() const {
  return fmt::format("d_model={}, num_heads={}, latent_len={}", d_model, num_heads, latent_len);
}

}  // namespace graft::nn
