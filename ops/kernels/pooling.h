#pragma once
// Pooling kernels over planes: x is a contiguous (P, H, W) tensor (P = batch x channels; 1-D pooling uses
// H = 1), y (P, OH, OW). Every window lies in one plane, so planes run in parallel. Reference loops for
// float32 and float64; the float32 forward and backward of the fixed-window poolings (the ones a CNN uses)
// run on oneDNN's pooling primitives.
#include <array>
#include <cstdint>
#include <optional>

#include "graft/graph/tensor.h"

namespace graft::kernels {

// The windows of one output element along each spatial dim (index 0: height, 1: width).
struct PoolWindows {
  enum class Kind { Fixed, Adaptive } kind = Kind::Fixed;
  std::array<int64_t, 2> kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};  // Fixed
  // avg_pool: whether padded elements count in the divisor, and a divisor replacing the count.
  bool count_include_pad = true;
  std::optional<int64_t> divisor_override;
};

// y = the maximum of each window, indices = its position in the plane (h * W + w); the first maximum on ties,
// and a NaN wins (the last one), as in PyTorch. Padded positions never win.
void max_pool_forward(const Tensor& x, const PoolWindows& windows, const Tensor& y, const Tensor& indices);
// gx (P, H, W) = 0, then gx[p, indices[p, i]] += gy[p, i].
void max_pool_backward(const Tensor& gy, const Tensor& indices, const Tensor& gx);
// y = the mean of each window (avg_pool's divisor rules, or adaptive windows).
void avg_pool_forward(const Tensor& x, const PoolWindows& windows, const Tensor& y);
// gx = the adjoint of avg_pool_forward applied to gy.
void avg_pool_backward(const Tensor& gy, const PoolWindows& windows, const Tensor& gx);

}  // namespace graft::kernels
