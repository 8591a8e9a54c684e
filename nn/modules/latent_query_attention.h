#pragma once
// LatentQueryAttention: attention through a small learned bottleneck (the "latent attention" of the
// learning notes; the Perceiver's latent array, Jaegle et al. 2021, used as in Set Transformer's induced
// set attention, Lee et al. 2019). It is NOT DeepSeek's multi-head latent attention (that is
// MultiHeadLatentAttention).
//
// 1. compress: latent_len learned latent queries (latents, (latent_len, d_model)) attend to the context
//    (B, S, d_model) through latent_q_proj / k_proj / v_proj, giving latent_len slots (B, latent_len,
//    d_model): a fixed-size summary of any number of context tokens.
// 2. attend: the real queries (B, T, d_model) attend to the slots through q_proj / slot_k_proj /
//    slot_v_proj, and o_proj maps the heads back to d_model.
// Cost O((S + T) * latent_len) instead of O(S * T). forward(x) is forward(x, x) (self-attention).
//
// Why no KV cache: each slot mixes every context token, and appending a token changes every slot, so
// nothing per token can be kept between decoding steps; for the same reason the layer cannot be causal
// (every query sees a summary of the whole context). For a fixed context (cross-attention to a document)
// the slots themselves are the cache: compress once, then attend() any number of times.
// key_padding_mask (B, S), bool, true where a context token is padding (PyTorch's MultiheadAttention
// convention), keeps padding out of the slots.
#include "graft/nn/module.h"
#include "graft/nn/modules/linear.h"

namespace graft::nn {

class LatentQueryAttention : public Module {
 public:
  LatentQueryAttention(int64_t d_model, int64_t num_heads, int64_t latent_len, bool bias = false,
                       DType dtype = kFloat32);

  /// query (B, T, d_model), context (B, S, d_model) -> (B, T, d_model).
  Tensor forward(const Tensor& query, const Tensor& context, const Tensor& key_padding_mask = {});
  Tensor forward(const Tensor& x) override { return forward(x, x); }
  /// Step 1: context (B, S, d_model) -> slots (B, latent_len, d_model).
  Tensor compress(const Tensor& context, const Tensor& key_padding_mask = {});
  /// Step 2: query (B, T, d_model) attends to slots (B, latent_len, d_model) -> (B, T, d_model).
  Tensor attend(const Tensor& query, const Tensor& slots);
  std::string extra_repr() const override;

  int64_t d_model, num_heads, head_dim, latent_len;
  Tensor latents;  // (latent_len, d_model), ~ N(0, 0.02^2) truncated at ±2 std, as the Perceiver's
  // Children (d_model -> d_model Linears), reached through the registry by the forward:
  // step 1 latent_q_proj, k_proj, v_proj; step 2 q_proj, slot_k_proj, slot_v_proj, o_proj.

 private:
  /// compress and attend without running the forward hooks again (forward runs them once).
  Tensor compress_slots(const Tensor& context, const Tensor& key_padding_mask);
  Tensor attend_slots(const Tensor& query, const Tensor& slots);
  Tensor project(const char* name, const Tensor& t) const { return (*child(name))(t); }
  Tensor split_heads(const Tensor& t) const;  // (B, L, d_model) -> (B, H, L, head_dim)
  Tensor merge_heads(const Tensor& t) const;  // the inverse
};

}  // namespace graft::nn
