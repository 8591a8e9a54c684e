#pragma once
// Rotary position embedding kernels, rotate-half convention (LLaMA / Hugging Face): the last dim of size D
// is split into halves x1 = x[:D/2], x2 = x[D/2:], and rotate_half(x) = cat(-x2, x1).
//
// x, g, out and dx are contiguous; cos and sin are contiguous, of one shape that broadcasts to x's.
#include "graft/graph/tensor.h"

namespace graft::kernels {

// out = rotate_half(x)
void rotate_half(const Tensor& x, const Tensor& out);
// out = x * cos + rotate_half(x) * sin
void rope_forward(const Tensor& x, const Tensor& cos, const Tensor& sin, const Tensor& out);
// dx = g * cos - rotate_half(g * sin), the adjoint of rope_forward in x (a rotation by -theta when cos and
// sin repeat over the two halves, as rope_cos_sin makes them).
void rope_backward(const Tensor& g, const Tensor& cos, const Tensor& sin, const Tensor& dx);

}  // namespace graft::kernels
