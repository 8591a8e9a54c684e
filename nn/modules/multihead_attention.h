#pragma once
// nn::MultiheadAttention: torch.nn.MultiheadAttention (1.13), with its constructor, parameter names,
// initialisation, state dict and forward semantics, so a PyTorch state dict loads and gives the same outputs
// and attention weights (tests/reference/mha.py).
//
// Parameters (PyTorch's names and registration order):
//   in_proj_weight (3E, E)                  when kdim == vdim == embed_dim, else
//   q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim)
//   in_proj_bias (3E)                       with bias
//   bias_k, bias_v (1, 1, E)                with add_bias_kv
//   out_proj.weight (E, E), out_proj.bias   (out_proj is a Linear child; PyTorch's class is
//                                            NonDynamicallyQuantizableLinear, which is a Linear)
// Initialisation as PyTorch: xavier_uniform_ on the projection weights, zeros on in_proj_bias and
// out_proj.bias, xavier_normal_ on bias_k and bias_v, Linear's default on out_proj.weight.
//
// forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, is_causal)
//   query (L, N, E), key (S, N, kdim), value (S, N, vdim); (N, L, E) ... with batch_first; or unbatched
//   (L, E), (S, kdim), (S, vdim) (batch_first is then ignored).
//   key_padding_mask (N, S), or (S) unbatched; attn_mask (L, S) or (N * num_heads, L, S) ((num_heads, L, S)
//   unbatched). A bool mask is TRUE WHERE A POSITION IS MASKED OUT (PyTorch's MHA convention, the opposite
//   of scaled_dot_product_attention's); a floating mask (of the query's dtype) is added to the scores.
//   Returns (attn_output, attn_weights): attn_output in the query's layout; attn_weights (N, L, S) averaged
//   over the heads, or (N, num_heads, L, S) per head with average_attn_weights=false, without N when
//   unbatched; undefined when need_weights is false. The weights are those after dropout, as in PyTorch.
//   Dropout (probability `dropout`) drops attention weights in training mode only.
//
// Where graft differs from torch 1.13:
// - is_causal: torch 1.13 has no such argument; torch 2.x takes it as a hint that attn_mask is causal and
//   raises without attn_mask. graft applies the causal mask (key j masked out for query i when j > i) when
//   is_causal is given without attn_mask, and uses attn_mask as given (the hint) when both are.
// - A row whose keys are all masked out gives zero output and zero weights (as graft's
//   scaled_dot_product_attention); torch 1.13 gives NaN.
// - A floating key_padding_mask is added to the scores whatever attn_mask is (torch 2.x's rule); torch
//   1.13 only handles it without attn_mask. uint8 masks (deprecated in torch) are rejected.
// - There is no separate inference fast path (torch's _native_multi_head_attention, whose results are the
//   same up to rounding). The output projection runs as the out_proj module, so its forward hooks fire
//   (torch calls F.linear with its weights).
#include <optional>
#include <tuple>

#include "graft/nn/module.h"
#include "graft/nn/modules/linear.h"

namespace graft::nn {

/// What MultiheadAttention and its drop-in replacements share: the forward signature, and calls with hooks.
class MultiheadAttentionBase : public Module {
 public:
  using Module::Module;
  virtual std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                             const Tensor& key_padding_mask = {}, bool need_weights = true,
                                             const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                             bool is_causal = false) = 0;
  using Module::forward;
  /// Calls forward with the module's hooks (PyTorch's `mha(query, key, value, ...)`).
  std::tuple<Tensor, Tensor> operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                        const Tensor& key_padding_mask = {}, bool need_weights = true,
                                        const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                        bool is_causal = false) {
    return call(*this, query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, is_causal);
  }
};

/// The arguments of MultiheadAttention by name, for designated initialisers where PyTorch takes keywords:
/// `nn::MultiheadAttention({.embed_dim = 64, .num_heads = 4, .batch_first = true})`. The defaults are
/// PyTorch's.
struct MultiheadAttentionOptions {
  int64_t embed_dim = 0;
  int64_t num_heads = 0;
  double dropout = 0.0;
  bool bias = true;
  bool add_bias_kv = false;
  bool add_zero_attn = false;
  std::optional<int64_t> kdim = std::nullopt;
  std::optional<int64_t> vdim = std::nullopt;
  bool batch_first = false;
  DType dtype = kFloat32;
};

/// torch.nn.MultiheadAttention. Its drop-in replacement EagerMultiheadAttention derives from it, so a typed
/// handle `nn::Child<nn::MultiheadAttention>` reaches the eager module after replace_mha_with_eager.
class MultiheadAttention : public MultiheadAttentionBase {
 public:
  /// @throws graft::Error for non-positive sizes, embed_dim not divisible by num_heads, dropout outside
  /// [0, 1] or a non-floating dtype.
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool add_bias_kv = false, bool add_zero_attn = false, std::optional<int64_t> kdim = std::nullopt,
                     std::optional<int64_t> vdim = std::nullopt, bool batch_first = false, DType dtype = kFloat32);
  /// The same, with the arguments named (MultiheadAttentionOptions). @throws graft::Error as above.
  explicit MultiheadAttention(const MultiheadAttentionOptions& options)
      : MultiheadAttention(options.embed_dim, options.num_heads, options.dropout, options.bias, options.add_bias_kv,
                           options.add_zero_attn, options.kdim, options.vdim, options.batch_first, options.dtype) {}

  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                     const Tensor& key_padding_mask = {}, bool need_weights = true,
                                     const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                     bool is_causal = false) override;
  using Module::forward;
  /// PyTorch's _reset_parameters.
  virtual void reset_parameters();

  int64_t embed_dim, kdim, vdim, num_heads, head_dim;
  double dropout;
  bool batch_first, add_zero_attn;
  bool qkv_same_embed_dim;  // PyTorch's _qkv_same_embed_dim: kdim == vdim == embed_dim
  Tensor in_proj_weight;    // (3E, E), or undefined when !qkv_same_embed_dim
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;  // defined when !qkv_same_embed_dim
  Tensor in_proj_bias;      // (3E), or undefined without bias
  Tensor bias_k, bias_v;    // (1, 1, E) with add_bias_kv
  Child<Linear> out_proj;

 protected:
  /// For drop-in replacements that register parameters of their own (EagerMultiheadAttention): checks and
  /// keeps the configuration under the replacement's type name, and registers nothing.
  MultiheadAttention(std::string type_name, int64_t embed_dim, int64_t num_heads, double dropout, bool add_zero_attn,
                     std::optional<int64_t> kdim, std::optional<int64_t> vdim, bool batch_first, DType dtype);
};

}  // namespace graft::nn
