#pragma once
// Scaled dot-product attention, after torch.nn.functional.scaled_dot_product_attention (torch 2.5+: the
// version with `scale` and `enable_gqa`).
//
//   out = dropout(softmax(query @ key^T * scale + mask)) @ value
//
// query (..., H, T, E), key (..., Hkv, S, E), value (..., Hkv, S, Ev) -> out (..., H, T, Ev). The leading
// dims broadcast as in matmul.
// - attn_mask: a bool mask (true = takes part, as in PyTorch) or an additive floating mask of the query's
//   dtype, broadcastable to the attention weights (..., H, T, S): e.g. (B, 1, 1, S) for padding or (T, S).
//   A floating mask may require grad.
// - is_causal: query i attends to keys j <= i (the top-left aligned lower triangle, as in PyTorch, also when
//   T != S); combining it with attn_mask is an error, as in PyTorch.
// - scale: defaults to 1 / sqrt(E).
// - dropout_p: the probability of zeroing an attention weight (the rest are scaled by 1 / (1 - p)), drawn
//   from graft's global generator (graft::manual_seed). As in PyTorch, it is applied whenever dropout_p > 0:
//   pass 0 at evaluation time.
// - enable_gqa: key and value may have fewer heads than query (H % Hkv == 0): query heads
//   [g * H/Hkv, (g + 1) * H/Hkv) share key/value head g (grouped-query attention; multi-query when
//   Hkv = 1). Without it, head counts must be equal or broadcast.
// Rows where no key takes part (all masked) give zeros and zero gradients, as PyTorch >= 2.5 does
// (its math path's _safe_softmax); torch 1.13's private _scaled_dot_product_attention and torch 2.0-2.4
// give NaN there.
#include <optional>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// softmax(query key^T * scale + mask) value (see the file comment for shapes, masks and GQA).
/// @throws graft::Error for mismatched shapes, dtypes or head counts, or dropout_p outside [0, 1].
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = {}, double dropout_p = 0.0, bool is_causal = false,
                                    std::optional<double> scale = std::nullopt, bool enable_gqa = false);

/// scaled_dot_product_attention's keyword arguments, for designated initialisers:
/// `F::scaled_dot_product_attention(q, k, v, {.is_causal = true, .enable_gqa = true})`. The defaults are
/// PyTorch's.
struct ScaledDotProductAttentionFuncOptions {
  Tensor attn_mask = {};
  double dropout_p = 0.0;
  bool is_causal = false;
  std::optional<double> scale = std::nullopt;
  bool enable_gqa = false;
};
/// scaled_dot_product_attention with its keyword arguments named. @throws graft::Error as the positional form.
inline Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                           const ScaledDotProductAttentionFuncOptions& options) {
  return scaled_dot_product_attention(query, key, value, options.attn_mask, options.dropout_p, options.is_causal,
                                      options.scale, options.enable_gqa);
}

}  // namespace graft::nn::functional
