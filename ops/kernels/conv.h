#pragma once
// 2-D convolution kernels (1-D convolutions run as 2-D ones of height 1) over contiguous NCHW tensors:
//   forward           y  (N, O, OH, OW) = x (N, C, H, W) conv w (O, C/groups, KH, KW) + bias (O)
//   backward data     gx (N, C, H, W)   = the adjoint of the forward in x, applied to gy (a transposed convolution)
//   backward weights  gw (O, C/groups, KH, KW) and gbias (O) from x and gy
// Output sizes come from the tensors passed in: y's OH, OW and gx's H, W, so that a transposed convolution
// can pick any of the input sizes that lead to the same output size (output_padding). float32 runs on
// oneDNN's convolution primitives (primitives and the reorders to and from their preferred layouts are
// cached); float64, empty tensors and GRAFT_REFERENCE_KERNELS run the reference loops.
#include <array>
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

struct ConvGeometry {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};  // before the first row / column; the padding after follows from the sizes
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};

// Every tensor is contiguous and 4-D; `bias` may be undefined. The outputs are written, not accumulated.
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g, const Tensor& y);
void conv2d_backward_data(const Tensor& gy, const Tensor& w, const ConvGeometry& g, const Tensor& gx);
// gw or gbias may be undefined (not wanted).
void conv2d_backward_weights(const Tensor& x, const Tensor& gy, const ConvGeometry& g, const Tensor& gw,
                             const Tensor& gbias);

}  // namespace graft::kernels
