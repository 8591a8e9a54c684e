#pragma once
// Reductions. `mask` has bit d set for every dim d of `in` to reduce; results keep in's rank with those
// dims of size 1 (the ops squeeze them when keepdim is false).
//
// Each reduction picks one of three loop orders: when the reduced elements are close together it reduces
// each output element on its own (parallel over outputs; contiguous runs use several independent
// accumulators, which the compiler keeps in vector registers); when there are only a few outputs, each
// one's elements are split across threads; when the reduced elements are far apart and the kept elements
// are contiguous (a bias gradient: [B, N] -> [1, N]) it sweeps rows into an accumulator row, which keeps
// memory access sequential. f32 sums accumulate in double.
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

using DimMask = uint64_t;

Tensor sum(const Tensor& in, DimMask mask, DType out_dtype);
// Floating inputs; the mean of no elements is NaN.
Tensor mean(const Tensor& in, DimMask mask);
// Largest / smallest element over the masked dims; NaN wins, as in PyTorch.
Tensor amax(const Tensor& in, DimMask mask);
Tensor amin(const Tensor& in, DimMask mask);
// Variance over the masked dims: sum((x - mean)^2) / (n - correction), in two passes (floating inputs).
Tensor var(const Tensor& in, DimMask mask, int64_t correction);
// log(sum(exp(x))) over the masked dims, shifted by the largest element (rows of -inf give -inf; no
// elements give -inf).
Tensor logsumexp(const Tensor& in, DimMask mask);
// Values and int64 indices of the largest (or smallest) element along `dim` (first one on ties; NaN wins).
void arg_reduce(const Tensor& in, int64_t dim, bool largest, Tensor& values, Tensor& indices);
// Inclusive prefix sum along `dim` (reverse=true: suffix sum), in the input's dtype.
Tensor cumsum(const Tensor& in, int64_t dim, bool reverse = false);

}  // namespace graft::kernels
