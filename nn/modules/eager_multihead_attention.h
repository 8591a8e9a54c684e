#pragma once
// nn::EagerMultiheadAttention: MultiheadAttention written out step by step with plain ops, the way the
// attention of "Attention Is All You Need" is written by hand:
//
//   q, k, v = q_proj(query), k_proj(key), v_proj(value)        (use_in_proj = false: three Linears)
//           or the three row blocks of one in_proj Linear        (use_in_proj = true: in_proj (3E <- E))
//   per head:  scores  = q k^T * (1 / sqrt(head_dim))
//              scores  = masked_fill(scores, masked out, -inf)   or  scores + additive mask
//              weights = dropout(softmax(scores))                 (dropout in training only)
//              out     = weights v
//   out_proj(concatenated heads)
//
// It has MultiheadAttention's forward signature and semantics (layouts, masks with True = masked out,
// key_padding_mask, need_weights, average_attn_weights, is_causal, add_bias_kv, add_zero_attn; see
// multihead_attention.h), and gives the same results for the same weights; a row whose keys are all masked
// out gives zeros here too. It is what replace_mha_with_eager (nn/surgery_mha.h) swaps in, for reading,
// instrumenting or modifying the attention of a model built with MultiheadAttention.
//
// Its dropout draws the same mask as MultiheadAttention's for the same seed (both draw one uniform number
// per attention weight, in the order of the (N, num_heads, L, S) weights, from graft's global generator), so
// the two agree in training with dropout too.
//
// A new module's projections have Linear's default initialisation (it is meant to receive weights, see
// from()); use_in_proj needs kdim == vdim == embed_dim.
#include <optional>
#include <tuple>

#include "graft/nn/module.h"
#include "graft/nn/modules/linear.h"
#include "graft/nn/modules/multihead_attention.h"

namespace graft::nn {

class EagerMultiheadAttention : public MultiheadAttention {
 public:
  /// @throws graft::Error as MultiheadAttention, and for use_in_proj with kdim or vdim != embed_dim.
  EagerMultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                          bool add_bias_kv = false, bool add_zero_attn = false,
                          std::optional<int64_t> kdim = std::nullopt, std::optional<int64_t> vdim = std::nullopt,
                          bool batch_first = false, bool use_in_proj = false, DType dtype = kFloat32);
  /// The same with the arguments named: `EagerMultiheadAttention({.embed_dim = 64, .num_heads = 4}, true)`.
  explicit EagerMultiheadAttention(const MultiheadAttentionOptions& options, bool use_in_proj = false)
      : EagerMultiheadAttention(options.embed_dim, options.num_heads, options.dropout, options.bias,
                                options.add_bias_kv, options.add_zero_attn, options.kdim, options.vdim,
                                options.batch_first, use_in_proj, options.dtype) {}

  /// An eager twin of `mha`: its configuration, dtype and training mode, and its weights copied bitwise
  /// (in_proj_weight's row blocks [0, E), [E, 2E), [2E, 3E) become q_proj, k_proj and v_proj without in_proj;
  /// q/k/v_proj_weight when mha has kdim/vdim; in_proj_bias likewise; bias_k, bias_v, out_proj as they are).
  static std::shared_ptr<EagerMultiheadAttention> from(const MultiheadAttention& mha, bool use_in_proj);

  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                     const Tensor& key_padding_mask = {}, bool need_weights = true,
                                     const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                     bool is_causal = false) override;
  using Module::forward;
  /// Linear's default initialisation for every projection, zeros for bias_k and bias_v.
  void reset_parameters() override;
  std::string extra_repr() const override;

  /// The configuration (embed_dim, kdim, vdim, num_heads, head_dim, dropout, batch_first, add_zero_attn),
  /// bias_k, bias_v and out_proj are MultiheadAttention's members; its in_proj_weight, q/k/v_proj_weight and
  /// in_proj_bias stay undefined here.
  bool use_in_proj;
  Child<Linear> in_proj;                  // (3E <- E), with use_in_proj
  Child<Linear> q_proj, k_proj, v_proj;  // (E <- E), (E <- kdim), (E <- vdim), without
};

}  // namespace graft::nn
