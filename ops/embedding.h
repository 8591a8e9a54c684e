#pragma once
// Embedding lookup and one-hot encoding, after torch.nn.functional.
#include <cstdint>
#include <optional>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// The rows of weight (num_embeddings, embedding_dim) at the int64 ids in `input` (any shape): a tensor of
/// shape input.shape + (embedding_dim). The backward is a scatter-add of the output gradient into the rows
/// (duplicate ids add up); the row padding_idx (negative counts from the end) gets no gradient. With max_norm,
/// the rows looked up are first renormalised in place to a norm_type-norm of at most max_norm (PyTorch's
/// embedding_renorm_, outside the graph); scale_grad_by_freq divides each row's gradient by the number of
/// times its id occurs in `input`. PyTorch's `sparse` argument has no counterpart: graft has no sparse tensors.
Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt,
                 std::optional<double> max_norm = std::nullopt, double norm_type = 2.0, bool scale_grad_by_freq = false);

/// int64 (..., num_classes) with 1 at each class of the int64 `input` (any shape), 0 elsewhere.
/// num_classes = -1 takes the largest value + 1. Not differentiable.
Tensor one_hot(const Tensor& input, int64_t num_classes = -1);

}  // namespace graft::nn::functional
