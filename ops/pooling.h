#pragma once
// Pooling, as torch.nn.functional's max_pool1d/2d (and *_with_indices), avg_pool1d/2d and
// adaptive_avg_pool2d / adaptive_max_pool2d (and *_with_indices). Inputs are batched, (N, C, L) /
// (N, C, H, W), or unbatched, (C, L) / (C, H, W); the result keeps the input's dims. The batch may be empty;
// the other dims may not (as in PyTorch). Floating-point inputs only.
//
// Per-dim arguments (kernel_size, stride, padding, dilation) take one value for every spatial dim or one per
// dim; an empty stride means stride = kernel_size (PyTorch's stride=None). Output sizes follow PyTorch:
//   out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1, or with ceil_mode the ceiling,
//   minus one when the last window would start in the right padding.
// Max pooling sends each output's gradient to the position of its maximum (the first on ties); average
// pooling spreads it over the window. Both backward passes are linear in the gradient and written with ops,
// so second derivatives exist.
#include <cstdint>
#include <optional>
#include <tuple>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// Maximum over windows of a (N, C, L) or (C, L) input.
/// @param padding implicit -inf padding at both ends, at most kernel_size / 2.
/// @param ceil_mode round the output size up instead of down.
/// @return (N, C, L_out).
/// @throws graft::Error for a wrong dim count, an empty non-batch dim, non-positive kernel_size, stride or
///   dilation, negative or too large padding, an empty output, or a non-floating input.
Tensor max_pool1d(const Tensor& input, IntList kernel_size, IntList stride = {}, IntList padding = 0,
                  IntList dilation = 1, bool ceil_mode = false);
/// max_pool1d that also returns the indices of the maxima (int64, positions along L), as PyTorch's
/// return_indices=True.
std::tuple<Tensor, Tensor> max_pool1d_with_indices(const Tensor& input, IntList kernel_size, IntList stride = {},
                                                   IntList padding = 0, IntList dilation = 1, bool ceil_mode = false);

/// Maximum over windows of a (N, C, H, W) or (C, H, W) input; arguments as max_pool1d, per dim or for both.
/// @return (N, C, H_out, W_out).
/// @throws graft::Error as max_pool1d.
Tensor max_pool2d(const Tensor& input, IntList kernel_size, IntList stride = {}, IntList padding = 0,
                  IntList dilation = 1, bool ceil_mode = false);
/// max_pool2d that also returns the indices of the maxima (int64, h * W + w within each plane).
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, IntList kernel_size, IntList stride = {},
                                                   IntList padding = 0, IntList dilation = 1, bool ceil_mode = false);

/// Mean over windows of a (N, C, L) or (C, L) input.
/// @param padding implicit zero padding at both ends, at most kernel_size / 2.
/// @param count_include_pad divide by the window's size including padding (else by the elements inside).
/// @throws graft::Error as max_pool1d.
Tensor avg_pool1d(const Tensor& input, IntList kernel_size, IntList stride = {}, IntList padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);

/// Mean over windows of a (N, C, H, W) or (C, H, W) input.
/// @param divisor_override when given (non-zero), every window's sum is divided by it.
/// @throws graft::Error as max_pool1d, and for a zero divisor_override.
Tensor avg_pool2d(const Tensor& input, IntList kernel_size, IntList stride = {}, IntList padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);

/// Mean over PyTorch's adaptive windows: output position i of n along a dim of size s covers
/// [floor(i s / n), ceil((i + 1) s / n)).
/// @param output_size (H_out, W_out) or one size for both; non-negative.
/// @throws graft::Error for a wrong dim count, an empty non-batch dim or a negative output size.
Tensor adaptive_avg_pool2d(const Tensor& input, IntList output_size);
/// Maximum over the adaptive windows of adaptive_avg_pool2d.
Tensor adaptive_max_pool2d(const Tensor& input, IntList output_size);
/// adaptive_max_pool2d that also returns the indices of the maxima (int64, h * W + w within each plane).
std::tuple<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input, IntList output_size);

}  // namespace graft::nn::functional
