#include "graft/nn/modules/multihead_attention.h"

#include <cmath>

#include "graft/graph/factory.h"
#include "graft/nn/init.h"
#include "graft/nn/modules/mha_inputs.h"
#include "graft/ops/activation.h"
#include "graft/ops/attention.h"
#include "graft/ops/dropout.h"
#include "graft/ops/linear.h"
#include "graft/ops/matmul.h"
#include "graft/ops/pointwise.h"
#include "graft/ops/shape.h"

namespace graft::nn {

namespace F = functional;

namespace {

constexpr const char* kName = "MultiheadAttention";

Tensor part(const Tensor& t, int64_t index, int64_t count, int64_t size) {
  return t.defined() ? narrow(t, 0, index * size, count * size) : Tensor();
}

}  // namespace

MultiheadAttention::MultiheadAttention(std::string type_name, int64_t embed_dim_, int64_t num_heads_, double dropout_,
                                       bool add_zero_attn_, std::optional<int64_t> kdim_, std::optional<int64_t> vdim_,
                                       bool batch_first_, DType dtype)
    : MultiheadAttentionBase(std::move(type_name)),
      embed_dim(embed_dim_),
      kdim(kdim_.value_or(embed_dim_)),
      vdim(vdim_.value_or(embed_dim_)),
      num_heads(num_heads_),
      head_dim(num_heads_ > 0 ? embed_dim_ / num_heads_ : 0),
      dropout(dropout_),
      batch_first(batch_first_),
      add_zero_attn(add_zero_attn_),
      qkv_same_embed_dim(kdim == embed_dim && vdim == embed_dim) {
  const std::string& name = Module::type_name();
  GRAFT_CHECK(embed_dim > 0 && num_heads > 0 && kdim > 0 && vdim > 0,
              "{}: embed_dim, num_heads, kdim and vdim must be positive, got embed_dim={} num_heads={} kdim={} vdim={}",
              name, embed_dim, num_heads, kdim, vdim);
  GRAFT_CHECK(head_dim * num_heads == embed_dim, "{}: embed_dim must be divisible by num_heads, got embed_dim={} num_heads={}",
              name, embed_dim, num_heads);
  GRAFT_CHECK(dropout >= 0.0 && dropout <= 1.0, "{}: dropout must be in [0, 1], got {}", name, dropout);
  GRAFT_CHECK(is_floating(dtype), "{}: dtype must be floating, got {}", name, dtype_name(dtype));
}

MultiheadAttention::MultiheadAttention(int64_t embed_dim_, int64_t num_heads_, double dropout_, bool bias,
                                       bool add_bias_kv, bool add_zero_attn_, std::optional<int64_t> kdim_,
                                       std::optional<int64_t> vdim_, bool batch_first_, DType dtype)
    : MultiheadAttention(kName, embed_dim_, num_heads_, dropout_, add_zero_attn_, kdim_, vdim_, batch_first_, dtype) {
  const int64_t E = embed_dim;
  auto opts = graft::dtype(dtype);
  if (qkv_same_embed_dim) {
    in_proj_weight = register_parameter("in_proj_weight", empty({3 * E, E}, opts));
    register_parameter("q_proj_weight", Tensor());
    register_parameter("k_proj_weight", Tensor());
    register_parameter("v_proj_weight", Tensor());
  } else {
    q_proj_weight = register_parameter("q_proj_weight", empty({E, E}, opts));
    k_proj_weight = register_parameter("k_proj_weight", empty({E, kdim}, opts));
    v_proj_weight = register_parameter("v_proj_weight", empty({E, vdim}, opts));
    register_parameter("in_proj_weight", Tensor());
  }
  in_proj_bias = register_parameter("in_proj_bias", bias ? empty({3 * E}, opts) : Tensor());
  out_proj = register_module("out_proj", Linear(E, E, bias, dtype));
  if (add_bias_kv) {
    bias_k = register_parameter("bias_k", empty({1, 1, E}, opts));
    bias_v = register_parameter("bias_v", empty({1, 1, E}, opts));
  }
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  if (qkv_same_embed_dim) {
    init::xavier_uniform_(in_proj_weight);
  } else {
    init::xavier_uniform_(q_proj_weight);
    init::xavier_uniform_(k_proj_weight);
    init::xavier_uniform_(v_proj_weight);
  }
  if (in_proj_bias.defined()) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
  if (bias_k.defined()) init::xavier_normal_(bias_k);
  if (bias_v.defined()) init::xavier_normal_(bias_v);
}

std::tuple<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                       const Tensor& key_padding_mask, bool need_weights,
                                                       const Tensor& attn_mask, bool average_attn_weights,
                                                       bool is_causal) {
  const detail::MhaDims dims{embed_dim, num_heads, kdim, vdim, batch_first, bias_k.defined(),
                             add_zero_attn, out_proj->weight.dtype()};
  detail::MhaInputs in =
      detail::prepare_mha_inputs(kName, dims, query, key, value, key_padding_mask, attn_mask, is_causal);
  const int64_t E = embed_dim;

  // In-projection, as torch's _in_projection_packed: one product when query, key and value are one tensor.
  Tensor q, k, v;
  if (qkv_same_embed_dim && in.key_is_query && in.value_is_key) {
    std::vector<Tensor> qkv = chunk(F::linear(in.query, in_proj_weight, in_proj_bias), 3, -1);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else if (qkv_same_embed_dim) {
    q = F::linear(in.query, part(in_proj_weight, 0, 1, E), part(in_proj_bias, 0, 1, E));
    if (in.value_is_key) {
      std::vector<Tensor> kv = chunk(F::linear(in.key, part(in_proj_weight, 1, 2, E), part(in_proj_bias, 1, 2, E)), 2, -1);
      k = kv[0], v = kv[1];
    } else {
      k = F::linear(in.key, part(in_proj_weight, 1, 1, E), part(in_proj_bias, 1, 1, E));
      v = F::linear(in.value, part(in_proj_weight, 2, 1, E), part(in_proj_bias, 2, 1, E));
    }
  } else {
    q = F::linear(in.query, q_proj_weight, part(in_proj_bias, 0, 1, E));
    k = F::linear(in.key, k_proj_weight, part(in_proj_bias, 1, 1, E));
    v = F::linear(in.value, v_proj_weight, part(in_proj_bias, 2, 1, E));
  }
  std::tie(q, k, v) = detail::split_heads_with_extra_keys(q, k, v, num_heads, bias_k, bias_v, add_zero_attn);

  const double p = is_training() ? dropout : 0.0;
  Tensor out, weights;
  if (!need_weights) {
    out = F::scaled_dot_product_attention(q, k, v, in.mask, p);
  } else {
    // The weights themselves are needed: sdpa's computation, step by step (the same scaling, masked softmax and
    // dropout draws, so both branches give the same output).
    Tensor scores = matmul(mul(q, 1.0 / std::sqrt(static_cast<double>(head_dim))), transpose(k, -2, -1));
    Tensor keep;
    if (in.mask.defined() && in.mask.dtype() == kBool) keep = in.mask;
    else if (in.mask.defined()) scores = add(scores, in.mask);
    weights = F::masked_softmax(scores, keep);
    if (p > 0.0) weights = F::dropout(weights, p, true);
    out = matmul(weights, v);
  }
  out = (*out_proj)(detail::merge_heads(out));
  return detail::finish_mha_outputs(in, batch_first, out, weights, need_weights, average_attn_weights);
}

}  // namespace graft::nn
