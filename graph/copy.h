#pragma once
// Copies between layouts and dtypes.
#include "graft/graph/tensor.h"

namespace graft::kernels {

// dst[...] = src[...] converted to dst's dtype; src broadcasts to dst's shape; dst may be any layout.
void copy_into(const Tensor& dst, const Tensor& src);
// A new contiguous tensor with src's values in `dtype`.
Tensor copy_as(const Tensor& src, DType dtype);
inline Tensor contiguous_copy(const Tensor& src) { return copy_as(src, src.dtype()); }

}  // namespace graft::kernels
