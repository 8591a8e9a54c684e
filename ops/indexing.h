#pragma once
// Ops that pick or place elements by index (int64 index tensors; negative indices are errors, as in
// PyTorch's gather/scatter) and the triangular masks.
#include "graft/graph/tensor.h"

namespace graft {

// Rows (or slices along dim) of x at the 1-D `index`.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// x with source's slices added at `index` along dim (duplicates add up): the adjoint of index_select.
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source);
// out[i][j] = x[index[i][j]][j] (dim 0), and likewise for other dims; out has index's shape.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// x with src[i][j] added at out[index[i][j]][j] (dim 0): the adjoint of gather.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// Lower / upper triangle of the last two dims (diagonal 0 is the main diagonal, >0 above it).
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

}  // namespace graft
