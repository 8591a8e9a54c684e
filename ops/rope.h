#pragma once
// Rotary position embedding (RoFormer, Su et al. 2021) in the rotate-half convention of LLaMA and Hugging
// Face transformers: the last dim of size D is split into halves x1 = x[..., :D/2] and x2 = x[..., D/2:],
// and position p rotates each pair (x1[i], x2[i]) by the angle p * base^(-2i/D):
//
//   apply_rotary_emb(x, cos, sin) = x * cos + rotate_half(x) * sin,   rotate_half(x) = cat(-x2, x1)
//
// PyTorch has no built-in counterpart; these follow transformers' LlamaRotaryEmbedding / rotate_half /
// apply_rotary_pos_emb.
#include <cstdint>
#include <tuple>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// (cos, sin) of the rotation angles for `positions` (an int64 tensor, usually 1-D of length T), each of
/// shape positions.shape + (head_dim): the D/2 angles repeated over both halves, as Hugging Face's
/// emb = cat(freqs, freqs). head_dim must be even. The angles are computed in float64 and rounded to
/// `dtype` (Hugging Face computes them in float32, which differs by up to ~1e-4 at positions in the
/// thousands).
std::tuple<Tensor, Tensor> rope_cos_sin(int64_t head_dim, const Tensor& positions, double base = 10000.0,
                                        DType dtype = kFloat32);
/// Positions [start, start + length): for cached decoding, where the new tokens continue at `start`.
std::tuple<Tensor, Tensor> rope_cos_sin(int64_t head_dim, int64_t start, int64_t length, double base = 10000.0,
                                        DType dtype = kFloat32);

/// cat(-x2, x1) along the last dim (of even size).
Tensor rotate_half(const Tensor& x);

/// x (..., T, D) rotated by cos and sin of shape (T, D), or any shape of last dim D broadcastable to x's
/// (e.g. (B, 1, T, D) for per-sequence positions). Mixed floating dtypes compute in the promoted one (as
/// the composite x * cos + rotate_half(x) * sin would). Differentiable in x (backward rotates by
/// -theta) and in cos and sin.
Tensor apply_rotary_emb(const Tensor& x, const Tensor& cos, const Tensor& sin);

}  // namespace graft::nn::functional
