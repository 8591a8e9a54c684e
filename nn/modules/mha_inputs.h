#pragma once
// What MultiheadAttention and EagerMultiheadAttention share: the checks of one call's arguments (after
// PyTorch 1.13's _mha_shape_check and multi_head_attention_forward), the layouts ((L, N, E), (N, L, E) or
// unbatched (L, E)) brought to one batch-first form, the two masks merged into one, and the results put
// back into the caller's layout. Not part of the public API.
#include <string>
#include <tuple>

#include "graft/graph/tensor.h"

namespace graft::nn::detail {

/// The sizes that a call is checked against.
struct MhaDims {
  int64_t embed_dim, num_heads, kdim, vdim;
  bool batch_first;
  /// Key/value rows the module appends to every sequence (add_bias_kv and add_zero_attn, one each); the
  /// merged mask has that many more columns, which always take part, as PyTorch pads its masks with zeros.
  bool add_bias_kv, add_zero_attn;
  DType parameter_dtype;  // the query must have it
  int64_t extra_keys() const { return (add_bias_kv ? 1 : 0) + (add_zero_attn ? 1 : 0); }
};

struct MhaInputs {
  Tensor query, key, value;  // batch first and batched: (N, L, E), (N, S, kdim), (N, S, vdim)
  int64_t batch = 0, target_len = 0, source_len = 0;  // N, L, S (S without the extra keys)
  bool batched = true;        // false: the caller passed 2-D inputs; the results lose their batch dim
  bool key_is_query = false;  // the caller passed one tensor as query and key
  bool value_is_key = false;  // ... as key and value
  /// key_padding_mask, attn_mask and is_causal merged into one mask IN SDPA'S CONVENTION, broadcastable to
  /// the weights (N, H, L, S + extra_keys): a bool mask whose TRUE entries TAKE PART, or an additive floating
  /// mask (-inf = masked out). Undefined when nothing is masked.
  Tensor mask;
};

/// `who` names the module in error messages. Mask rules (PyTorch's): bool masks are True where a position is
/// MASKED OUT; floating masks (of the query's dtype) are added to the scores. key_padding_mask is (N, S),
/// or (S) for unbatched inputs; attn_mask is (L, S) or (N * num_heads, L, S) ((num_heads, L, S) unbatched).
/// is_causal without attn_mask masks key j > query i; with attn_mask it is only a hint, and attn_mask is used.
MhaInputs prepare_mha_inputs(const std::string& who, const MhaDims& dims, const Tensor& query, const Tensor& key,
                             const Tensor& value, const Tensor& key_padding_mask, const Tensor& attn_mask,
                             bool is_causal);

/// out (N, L, E) and weights (N, H, L, S') back into the caller's layout: out as (L, N, E), (N, L, E) or (L, E);
/// weights averaged over the heads ((N, L, S')) or per head, without the batch dim when unbatched, and
/// undefined unless need_weights.
std::tuple<Tensor, Tensor> finish_mha_outputs(const MhaInputs& in, bool batch_first, const Tensor& out,
                                              const Tensor& weights, bool need_weights, bool average_attn_weights);

/// (N, T, H * D) -> (N, H, T, D), and back.
Tensor split_heads(const Tensor& x, int64_t num_heads);
Tensor merge_heads(const Tensor& x);

/// The projected q (N, L, E), k and v (N, S, E) split into heads, (N, H, L, D) and (N, H, S', D), with the
/// module's extra keys and values appended in PyTorch's order: the learned rows bias_k and bias_v (1, 1, E)
/// when defined (add_bias_kv), then a row of zeros (add_zero_attn).
std::tuple<Tensor, Tensor, Tensor> split_heads_with_extra_keys(const Tensor& q, const Tensor& k, const Tensor& v,
                                                               int64_t num_heads, const Tensor& bias_k,
                                                               const Tensor& bias_v, bool add_zero_attn);

}  // namespace graft::nn::detail
