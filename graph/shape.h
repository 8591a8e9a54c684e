#pragma once
// Shapes and strides, and the rules that relate them: dim wrapping, broadcasting, contiguity.
#include <cstdint>
#include <iosfwd>
#include <string>

#include "graft/graph/array_ref.h"
#include "graft/graph/small_vector.h"

namespace graft {

using Shape = SmallVector<int64_t, 6>;

std::string shape_str(IntList shape);  // "[4, 3]"
/// Prints a shape as LibTorch prints sizes: "[4, 3]" (`std::cout << t.shape()`).
std::ostream& operator<<(std::ostream& os, const Shape& shape);
int64_t numel_of(IntList shape);
Shape contiguous_strides(IntList shape);
bool is_contiguous_layout(IntList shape, IntList strides);

/// A dim in [-ndim, ndim) made non-negative; `op` names the caller in the error.
/// As in PyTorch, a 0-dim tensor accepts dim 0 and -1.
int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim);

/// The broadcast shape of a and b (NumPy rules); raises naming `op` and both shapes when they don't fit.
Shape broadcast_shapes(const char* op, IntList a, IntList b);
/// True when `shape` broadcasts to `target` (what the backward engine reduces gradients along).
bool is_expandable_to(IntList shape, IntList target);

/// The strides of `shape` viewing memory laid out as (old_shape, old_strides), or false when no view
/// exists and a copy is needed (PyTorch's computeStride).
bool view_strides(IntList old_shape, IntList old_strides, IntList shape, Shape& out_strides);

/// Resolves one -1 in a requested shape against numel, checking the total (for view/reshape).
Shape infer_shape(const char* op, IntList requested, int64_t numel);

}  // namespace graft
