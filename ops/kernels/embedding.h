#pragma once
// Kernels of embedding (ops/embedding.cpp): a row gather and its adjoint, a row scatter-add.
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

// out[i, :] = weight[ids[i], :] for a (V, D) weight and n int64 ids (any shape, already checked against V):
// an (n, D) tensor of weight's dtype, one memcpy per row.
Tensor embedding_gather(const Tensor& weight, const Tensor& ids);

// The (V, D) gradient of the weight: row v is the sum of the rows grad[i, :] with ids[i] == v, each divided by
// the number of such i when scale_grad_by_freq; the row padding_idx (if >= 0) stays zero. grad is (n, D).
// Rows are summed in id order (a counting sort of the ids, then one pass per weight row), so the result is
// deterministic and the rows split across threads without atomics.
Tensor embedding_backward(const Tensor& grad, const Tensor& ids, int64_t num_weights, int64_t padding_idx,
                          bool scale_grad_by_freq);

}  // namespace graft::kernels
