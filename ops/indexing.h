#pragma once
// Ops that pick or place elements by index (int64 index tensors; negative indices are errors, as in
// PyTorch's gather/scatter) and the triangular masks.
#include "graft/graph/tensor.h"

namespace graft {

/// Rows (or slices along dim) of x at the 1-D `index`. A 0-dim x takes exactly one index (PyTorch accepts
/// any number and returns one element).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
/// x with source's slices added at `index` along dim (duplicates add up): the adjoint of index_select.
/// x and source may differ in dtype (the result has the promoted one; PyTorch requires equal dtypes).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source);
/// out[i][j] = x[index[i][j]][j] (dim 0), and likewise for other dims; out has index's shape.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
/// x with src[i][j] added at out[index[i][j]][j] (dim 0): the adjoint of gather. src may be larger than
/// index (its extra elements are unused and get a zero gradient; PyTorch's backward raises there) and may
/// differ from x in dtype (promoted, as for index_add).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
/// Lower / upper triangle of the last two dims (diagonal 0 is the main diagonal, >0 above it).
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

}  // namespace graft
