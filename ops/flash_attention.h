#pragma once
// FlashAttention: scaled_dot_product_attention(q, k, v, {}, 0, is_causal, scale) computed without ever
// holding the T x S attention matrix (see ops/kernels/flash_attention.h for the algorithm). Extra memory is
// O(T) per (batch, head) for the saved log-sum-exp, plus a few tiles per thread.
//
// q (..., T, E), k (..., S, E), v (..., S, Ev) with the same leading dims (no broadcasting, no GQA: use
// scaled_dot_product_attention for those) -> (..., T, Ev). is_causal masks as scaled_dot_product_attention
// does (query i sees keys j <= i); scale defaults to 1 / sqrt(E).
//
// PyTorch has no public counterpart (its flash kernel is a backend of scaled_dot_product_attention, CUDA
// only). `block_sizes` sets the tile shape (rows of q and of k per tile); results do not depend on it
// beyond rounding, and small blocks exercise the online rescaling in tests.
//
// Backward is a fused kernel (FlashAttention-2 style); when the backward pass is itself recorded
// (create_graph), it is computed from differentiable ops instead (materialising the attention matrix), so
// flash_attention is differentiable twice.
#include <cstdint>
#include <optional>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

struct FlashAttentionBlockSizes {
  int64_t query = 64;
  int64_t key = 64;
};

Tensor flash_attention(const Tensor& query, const Tensor& key, const Tensor& value, bool is_causal = false,
                       std::optional<double> scale = std::nullopt, FlashAttentionBlockSizes block_sizes = {});

}  // namespace graft::nn::functional
