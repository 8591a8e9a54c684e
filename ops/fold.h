#pragma once
// torch.nn.functional.unfold (im2col) and fold (col2im): sliding blocks of a batched image as columns, and
// back. fold is the adjoint of unfold (overlapping blocks add up), so each is the other's gradient and both
// are differentiable any number of times.
#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// The kernel_size blocks of `input` (N, C, H, W) or (C, H, W), one column per block position, row-major over
/// (C, kH, kW): the result is (N, C kH kW, L) or (C kH kW, L), L the number of block positions.
/// kernel_size, dilation and stride take one positive value or one per dim; padding (zeros) one
/// non-negative value or one per dim.
/// @throws graft::Error for a wrong dim count, an empty non-batch dim, a bad size argument, or when no block fits.
Tensor unfold(const Tensor& input, IntList kernel_size, IntList dilation = 1, IntList padding = 0, IntList stride = 1);

/// Sums columns of blocks (N, C kH kW, L) or (C kH kW, L) back into an image (N, C, output_size) or
/// (C, output_size): the adjoint of unfold with the same arguments.
/// @throws graft::Error for a wrong dim count, a dim 1 not divisible by kH kW, or an L that does not match the
///   number of block positions in output_size.
Tensor fold(const Tensor& input, IntList output_size, IntList kernel_size, IntList dilation = 1, IntList padding = 0,
            IntList stride = 1);

}  // namespace graft::nn::functional
