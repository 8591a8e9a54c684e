#include "graft/nn/modules/eager_multihead_attention.h"

#include <cmath>
#include <limits>

#include "graft/graph/factory.h"
#include "graft/graph/grad_mode.h"
#include "graft/nn/modules/mha_inputs.h"
#include "graft/ops/activation.h"
#include "graft/ops/dropout.h"
#include "graft/ops/linear.h"
#include "graft/ops/matmul.h"
#include "graft/ops/pointwise.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft::nn {

namespace F = functional;

namespace {

constexpr const char* kName = "EagerMultiheadAttention";
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

Tensor rows(const Tensor& t, int64_t block, int64_t size) { return t.defined() ? narrow(t, 0, block * size, size) : Tensor(); }

void copy_into(Tensor& target, const Tensor& source) {
  Tensor t = target;  // writes through to the parameter's storage
  t.copy_(source);
}

}  // namespace

EagerMultiheadAttention::EagerMultiheadAttention(int64_t embed_dim_, int64_t num_heads_, double dropout_, bool bias,
                                                 bool add_bias_kv, bool add_zero_attn_, std::optional<int64_t> kdim_,
                                                 std::optional<int64_t> vdim_, bool batch_first_, bool use_in_proj_,
                                                 DType dtype)
    : MultiheadAttention(kName, embed_dim_, num_heads_, dropout_, add_zero_attn_, kdim_, vdim_, batch_first_, dtype),
      use_in_proj(use_in_proj_) {
  GRAFT_CHECK(!use_in_proj || (kdim == embed_dim && vdim == embed_dim),
              "{}: use_in_proj (one fused in_proj for q, k and v) needs kdim == vdim == embed_dim, got embed_dim={} "
              "kdim={} vdim={}",
              kName, embed_dim, kdim, vdim);
  const int64_t E = embed_dim;
  if (use_in_proj) {
    in_proj = register_module("in_proj", Linear(E, 3 * E, bias, dtype));
  } else {
    q_proj = register_module("q_proj", Linear(E, E, bias, dtype));
    k_proj = register_module("k_proj", Linear(kdim, E, bias, dtype));
    v_proj = register_module("v_proj", Linear(vdim, E, bias, dtype));
  }
  if (add_bias_kv) {
    bias_k = register_parameter("bias_k", zeros({1, 1, E}, graft::dtype(dtype)));
    bias_v = register_parameter("bias_v", zeros({1, 1, E}, graft::dtype(dtype)));
  }
  out_proj = register_module("out_proj", Linear(E, E, bias, dtype));
}

void EagerMultiheadAttention::reset_parameters() {
  for (const Child<Linear>& proj : {in_proj, q_proj, k_proj, v_proj, out_proj})
    if (proj) proj->reset_parameters();
  NoGradGuard no_grad;
  if (bias_k.defined()) bias_k.zero_();
  if (bias_v.defined()) bias_v.zero_();
}

std::shared_ptr<EagerMultiheadAttention> EagerMultiheadAttention::from(const MultiheadAttention& mha, bool use_in_proj) {
  auto eager = std::make_shared<EagerMultiheadAttention>(
      mha.embed_dim, mha.num_heads, mha.dropout, mha.in_proj_bias.defined(), mha.bias_k.defined(), mha.add_zero_attn,
      mha.kdim, mha.vdim, mha.batch_first, use_in_proj, mha.out_proj->weight.dtype());
  NoGradGuard no_grad;
  const int64_t E = mha.embed_dim;
  if (use_in_proj) {
    copy_into(eager->in_proj->weight, mha.in_proj_weight);
    if (mha.in_proj_bias.defined()) copy_into(eager->in_proj->bias, mha.in_proj_bias);
  } else {
    const Child<Linear>* targets[] = {&eager->q_proj, &eager->k_proj, &eager->v_proj};
    const Tensor* separate[] = {&mha.q_proj_weight, &mha.k_proj_weight, &mha.v_proj_weight};
    for (int64_t i = 0; i < 3; ++i) {
      Linear& proj = **targets[i];
      copy_into(proj.weight, mha.qkv_same_embed_dim ? rows(mha.in_proj_weight, i, E) : *separate[i]);
      if (mha.in_proj_bias.defined()) copy_into(proj.bias, rows(mha.in_proj_bias, i, E));
    }
  }
  if (mha.bias_k.defined()) {
    copy_into(eager->bias_k, mha.bias_k);
    copy_into(eager->bias_v, mha.bias_v);
  }
  copy_into(eager->out_proj->weight, mha.out_proj->weight);
  if (mha.out_proj->bias.defined()) copy_into(eager->out_proj->bias, mha.out_proj->bias);
  eager->train(mha.is_training());
  return eager;
}

std::tuple<Tensor, Tensor> EagerMultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                            const Tensor& key_padding_mask, bool need_weights,
                                                            const Tensor& attn_mask, bool average_attn_weights,
                                                            bool is_causal) {
  const detail::MhaDims dims{embed_dim, num_heads, kdim, vdim, batch_first, bias_k.defined(),
                             add_zero_attn, out_proj->weight.dtype()};
  detail::MhaInputs in =
      detail::prepare_mha_inputs(kName, dims, query, key, value, key_padding_mask, attn_mask, is_causal);
  const int64_t E = embed_dim;

  Tensor q, k, v;
  if (use_in_proj && in.key_is_query && in.value_is_key) {
    std::vector<Tensor> qkv = chunk((*in_proj)(in.query), 3, -1);  // one product for self-attention
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else if (use_in_proj) {
    q = F::linear(in.query, rows(in_proj->weight, 0, E), rows(in_proj->bias, 0, E));
    k = F::linear(in.key, rows(in_proj->weight, 1, E), rows(in_proj->bias, 1, E));
    v = F::linear(in.value, rows(in_proj->weight, 2, E), rows(in_proj->bias, 2, E));
  } else {
    q = (*q_proj)(in.query), k = (*k_proj)(in.key), v = (*v_proj)(in.value);
  }
  std::tie(q, k, v) = detail::split_heads_with_extra_keys(q, k, v, num_heads, bias_k, bias_v, add_zero_attn);

  Tensor scores = mul(matmul(q, transpose(k, -2, -1)), 1.0 / std::sqrt(static_cast<double>(head_dim)));
  Tensor dead_rows;
  if (in.mask.defined()) {
    scores = in.mask.dtype() == kBool ? masked_fill(scores, logical_not(in.mask), kNegInf) : add(scores, in.mask);
    // softmax of a row of -inf is NaN: such rows (no key takes part) get zero weights instead.
    dead_rows = eq(amax(scores, {-1}, true), kNegInf);
    scores = masked_fill(scores, dead_rows, 0.0);
  }
  Tensor weights = F::softmax(scores, -1);
  if (dead_rows.defined()) weights = masked_fill(weights, dead_rows, 0.0);
  weights = F::dropout(weights, dropout, is_training());
  Tensor out = matmul(weights, v);
  out = (*out_proj)(detail::merge_heads(out));
  return detail::finish_mha_outputs(in, batch_first, out, weights, need_weights, average_attn_weights);
}

std::string EagerMultiheadAttention::extra_repr() const {
  return fmt::format("embed_dim={}, num_heads={}, dropout={}, use_in_proj={}", embed_dim, num_heads, dropout,
                     use_in_proj ? "True" : "False");
}

}  // namespace graft::nn
