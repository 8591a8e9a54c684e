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

/// PyTorch computes bfloat16 and float16 in float32 and rounds each result once. The kernels that
/// accumulate (reductions, products, softmax, norms, losses) exist for float32 and float64 only; they run on
/// `to_opmath(t)` (a float32 copy of a 16-bit tensor; any other tensor, or an undefined one, as it is) and
/// round what they compute with `from_opmath(result, dtype)` (a copy in `dtype` when that is a 16-bit dtype
/// the result is not in; otherwise the result itself).
inline Tensor to_opmath(const Tensor& t) {
  return t.defined() && is_reduced_floating(t.dtype()) ? copy_as(t, kFloat32) : t;
}
inline Tensor from_opmath(const Tensor& t, DType dtype) {
  return t.defined() && t.dtype() != dtype && is_reduced_floating(dtype) ? copy_as(t, dtype) : t;
}

}  // namespace graft::loops
