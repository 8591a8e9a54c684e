#pragma once
// Kernels of sort/argsort/topk (ops/sorting.cpp): each lane along `dim` is sorted on its own, lanes in parallel.
// Order is PyTorch's: NaN counts as larger than every number (last ascending, first descending).
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

// Values and int64 indices of `in` sorted along `dim`. Always stable: equal elements keep their order.
void sort(const Tensor& in, int64_t dim, bool descending, Tensor& values, Tensor& indices);

// The k largest (or smallest) elements along `dim` and their indices: sorted (ties: lower index first), or,
// when not sorted, in the order they appear in `in`.
void topk(const Tensor& in, int64_t k, int64_t dim, bool largest, bool sorted, Tensor& values, Tensor& indices);

}  // namespace graft::kernels
