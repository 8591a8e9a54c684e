#pragma once
// Ops that change how elements are arranged. The view ops (view, reshape when the layout allows,
// flatten, transpose, permute, expand, squeeze, unsqueeze, narrow, slice, select, split, chunk) share
// memory with their input; cat and stack copy.
#include <optional>
#include <vector>

#include "graft/graph/tensor.h"

namespace graft {

Tensor view(const Tensor& x, IntList shape);     // a view, or an error when the layout does not allow one
Tensor reshape(const Tensor& x, IntList shape);  // a view when possible, else a copy
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor t(const Tensor& x);  // transpose of a matrix (0-D and 1-D tensors are returned as they are)
Tensor permute(const Tensor& x, IntList dims);
/// Broadcasts size-1 dims (and new leading dims) to `shape`; -1 keeps a dim's size. No copy.
Tensor expand(const Tensor& x, IntList shape);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, IntList split_sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);

Tensor contiguous(const Tensor& x);  // x itself when already contiguous
Tensor clone(const Tensor& x);
Tensor to(const Tensor& x, DType dtype);  // x itself when already of that dtype

/// The adjoints of slice and select: a zero tensor of `input_shape` with `grad` written into the slice.
Tensor slice_backward(const Tensor& grad, IntList input_shape, int64_t dim, int64_t start, int64_t end, int64_t step);
Tensor select_backward(const Tensor& grad, IntList input_shape, int64_t dim, int64_t index);

}  // namespace graft
