#pragma once
// Sorting along a dim, after torch.sort / torch.argsort / torch.topk. NaN counts as larger than every number,
// as in PyTorch. The values are differentiable: their gradient is scattered back to the indices.
#include <cstdint>
#include <tuple>

#include "graft/graph/tensor.h"

namespace graft {

/// (values, int64 indices) sorted along dim. graft's sort is always stable (equal elements keep their order),
/// which is one of the orders PyTorch allows with stable=false.
std::tuple<Tensor, Tensor> sort(const Tensor& input, int64_t dim = -1, bool descending = false, bool stable = false);
/// The indices of sort(input, dim, descending, stable). Not differentiable.
Tensor argsort(const Tensor& input, int64_t dim = -1, bool descending = false, bool stable = false);
/// (values, int64 indices) of the k largest (or smallest) elements along dim, 0 <= k <= size of dim. Sorted, ties
/// taking the lower index first; with sorted=false, in the order they appear in input (PyTorch leaves the order
/// unspecified).
std::tuple<Tensor, Tensor> topk(const Tensor& input, int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true);

}  // namespace graft
