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

// ---- checked size arithmetic ----
// Every element count, byte count and memory extent graft derives from a shape (a user's, or one read from
// a file) is computed here, so that a size that cannot exist is a graft::Error naming the shape instead of
// a number that wrapped around (and a tensor that claims more elements than its memory holds).

/// The number of elements of a tensor of `shape`: the product of its sizes (1 for a 0-dim shape, 0 when a
/// size is 0, whatever the others).
/// @param op names the caller in the error.
/// @throws graft::Error when a size is negative or the product does not fit in int64.
int64_t numel_of(IntList shape, const char* op = "numel");
/// The number of bytes of a tensor of `shape` whose elements take `element_size` bytes each.
/// @throws graft::Error as numel_of, or when the byte count does not fit in int64.
int64_t nbytes_of(IntList shape, size_t element_size, const char* op = "nbytes");
/// The strides of a contiguous (row-major) tensor of `shape`; a size-0 dim counts as 1, as in PyTorch.
/// @throws graft::Error when a stride does not fit in int64.
Shape contiguous_strides(IntList shape);
/// One past the highest element index that a view (shape, strides, offset) reaches, in elements; `offset`
/// itself when the view is empty.
/// @throws graft::Error naming `op` and the layout when a size, stride or the offset is negative, or the
/// extent does not fit in int64.
int64_t view_extent(IntList shape, IntList strides, int64_t offset, const char* op = "view");
/// Checks that the view (shape, strides, offset) reads only elements [0, storage_numel) of its storage.
/// @throws graft::Error naming `op`, the layout and the storage's size otherwise.
void check_view_bounds(IntList shape, IntList strides, int64_t offset, int64_t storage_numel, const char* op = "view");
/// a * b and a + b for sizes, or a graft::Error naming `op` and `what` when the result does not fit in int64.
int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* what);
int64_t checked_add(int64_t a, int64_t b, const char* op, const char* what);

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
