#pragma once
// Raw copies between layouts and dtypes, outside the graph (the differentiable ones are the ops `clone`,
// `contiguous` and `to`).
#include "graft/graph/tensor.h"

namespace graft::loops {

/// dst[...] = src[...] converted to dst's dtype; src broadcasts to dst's shape; dst may be any layout.
void copy_into(const Tensor& dst, const Tensor& src);
/// A new contiguous tensor with src's values in `dtype`.
Tensor copy_as(const Tensor& src, DType dtype);
/// A new contiguous tensor with src's values.
inline Tensor contiguous_copy(const Tensor& src) { return copy_as(src, src.dtype()); }
/// `t` itself when it is contiguous (or undefined), else a contiguous copy: what a kernel that wants dense
/// memory reads.
inline Tensor contiguous_data(const Tensor& t) { return !t.defined() || t.is_contiguous() ? t : contiguous_copy(t); }

}  // namespace graft::loops
