#pragma once
// Reductions. `mask` has bit d set for every dim d of `in` to reduce; results keep in's rank with those
// dims of size 1 (the ops squeeze them when keepdim is false).
//
// Each reduction picks one of two loop orders: when the reduced elements are close together it reduces
// each output element on its own (parallel over outputs); when they are far apart and the kept elements
// are contiguous (a bias gradient: [B, N] -> [1, N]) it sweeps rows into an accumulator row, which keeps
// memory access sequential. f32 sums accumulate in double.
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

using DimMask = uint64_t;

Tensor sum(const Tensor& in, DimMask mask, DType out_dtype);
// Largest / smallest element over the masked dims; NaN wins, as in PyTorch.
Tensor amax(const Tensor& in, DimMask mask);
Tensor amin(const Tensor& in, DimMask mask);
// Values and int64 indices of the largest (or smallest) element along `dim` (first one on ties; NaN wins).
void arg_reduce(const Tensor& in, int64_t dim, bool largest, Tensor& values, Tensor& indices);
// Inclusive prefix sum along `dim` (reverse=true: suffix sum), in the input's dtype.
Tensor cumsum(const Tensor& in, int64_t dim, bool reverse = false);

}  // namespace graft::kernels
