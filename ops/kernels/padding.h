#pragma once
// The copy behind F::pad: every output element reads at most one input element, given per padded dim by a
// table (-1: none, the fill value). The gradient is the adjoint: each input element collects the output
// elements that copy it.
#include <cstdint>
#include <vector>

#include "graft/graph/tensor.h"

namespace graft::kernels {

// For each of the last sources.size() dims of x, sources[d][i] is the index along that dim that output
// position i copies, or -1. x and y are contiguous and agree on the leading dims.
void pad_forward(const Tensor& x, const std::vector<std::vector<int64_t>>& sources, double value, const Tensor& y);
// gx = 0, then gx[sources(i)] += gy[i] over every output position i with a source.
void pad_backward(const Tensor& gy, const std::vector<std::vector<int64_t>>& sources, const Tensor& gx);

}  // namespace graft::kernels
