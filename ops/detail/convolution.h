#pragma once
// The three differentiable convolution primitives behind conv1d/conv2d/conv_transpose1d/conv_transpose2d
// (internal to ops/). With C the convolution (x, w) -> y, they are
//   convolution            y  = C(x, w) + b
//   convolution_transpose  gx = D(gy, w) (+ b): the adjoint of C in x (C's gradient in x; a transposed convolution)
//   convolution_weight     gw = W(x, gy): C's gradient in w
// Each one's backward is written with the three, so every order of derivative exists:
//   <gg, D(gy, w)> = <C(gg, w), gy> = <W(gg, gy), w>   and   <gg, W(x, gy)> = <C(x, gg), gy> = <D(gy, gg), x>.
// Tensors are (N, C, L) with one spatial dim or (N, C, H, W) with two; weights (O, C / groups, *kernel).
#include <array>
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::detail {

struct ConvParams {
  int spatial = 2;  // 1 or 2 spatial dims
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};      // before the first element of each spatial dim
  std::array<int64_t, 2> padding_end{0, 0};  // after the last (negative for a transposed convolution's output_padding)
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;

  // The output size of C along spatial dim i for an input of `in` elements and a kernel of `k`.
  int64_t output_size(int i, int64_t in, int64_t k) const {
    return (in + padding[i] + padding_end[i] - dilation[i] * (k - 1) - 1) / stride[i] + 1;
  }
};

Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p);
// `input_spatial`: the spatial sizes of C's input, i.e. of the result.
Tensor convolution_transpose(const Tensor& gy, const Tensor& w, const Tensor& b, const ConvParams& p,
                             IntList input_spatial);
// `weight_shape`: (O, C / groups, *kernel).
Tensor convolution_weight(const Tensor& x, const Tensor& gy, const ConvParams& p, IntList weight_shape);

}  // namespace graft::detail
