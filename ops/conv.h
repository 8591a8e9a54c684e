#pragma once
// Convolutions, as torch.nn.functional's conv1d, conv2d, conv_transpose1d and conv_transpose2d: the same
// arguments, order, defaults, layouts and output sizes. Inputs are batched, (N, C, L) / (N, C, H, W), or
// unbatched, (C, L) / (C, H, W), in which case the result is unbatched too. Input, weight and bias must share
// one floating dtype (float32 runs on oneDNN's convolution primitives, float64 on plain loops).
//
// Gradients flow to the input, the weight and the bias; the backward pass is itself made of convolutions,
// so convolutions are differentiable any number of times (gradgradcheck).
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

// The `padding` argument of conv1d/conv2d: one size for every spatial dim, one per dim ({1, 2}), or a mode:
// "valid" (no padding) or "same" (the output has the input's size; stride 1 only; an even receptive field is
// padded one more at the end than at the start, as in PyTorch).
class ConvPadding {
 public:
  ConvPadding(int64_t size) : sizes_{size} {}  // NOLINT: implicit, as PyTorch's int-or-tuple-or-str
  ConvPadding(int size) : sizes_{size} {}      // NOLINT
  ConvPadding(std::initializer_list<int64_t> sizes) : sizes_(sizes) {}
  ConvPadding(std::vector<int64_t> sizes) : sizes_(std::move(sizes)) {}  // NOLINT
  ConvPadding(const char* mode) : mode_(mode) {}                          // NOLINT
  ConvPadding(std::string mode) : mode_(std::move(mode)) {}               // NOLINT

  bool is_mode() const { return !mode_.empty(); }
  const std::string& mode() const { return mode_; }
  const std::vector<int64_t>& sizes() const { return sizes_; }

 private:
  std::vector<int64_t> sizes_;
  std::string mode_;
};

/// 1-D convolution (cross-correlation, as PyTorch) of `input` (N, C_in, L) or (C_in, L) with `weight`
/// (C_out, C_in / groups, K), plus `bias` (C_out) when given.
/// @param stride, dilation one value, positive.
/// @param padding zeros added at both ends (non-negative), or "valid" / "same".
/// @param groups splits input and output channels into that many groups (groups = C_in: depthwise).
/// @return (N, C_out, L_out) with L_out = (L + 2 padding - dilation (K - 1) - 1) / stride + 1.
/// @throws graft::Error naming the argument and the shapes when a dim count, a channel count, the groups,
///   the bias, a stride/padding/dilation value or the dtypes do not fit, or the kernel is larger than the
///   padded input.
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, IntList stride = 1,
              const ConvPadding& padding = 0, IntList dilation = 1, int64_t groups = 1);

/// 2-D convolution of `input` (N, C_in, H, W) or (C_in, H, W) with `weight` (C_out, C_in / groups, KH, KW),
/// plus `bias` (C_out) when given. stride, padding and dilation take one value for both dims or one per dim.
/// @return (N, C_out, H_out, W_out), each size as for conv1d.
/// @throws graft::Error as conv1d.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, IntList stride = 1,
              const ConvPadding& padding = 0, IntList dilation = 1, int64_t groups = 1);

/// Transposed 1-D convolution (the gradient of conv1d in its input, sometimes called deconvolution) of
/// `input` (N, C_in, L) or (C_in, L) with `weight` (C_in, C_out / groups, K), plus `bias` (C_out).
/// @param output_padding added to one side of the output (smaller than stride or dilation).
/// @return (N, C_out, L_out) with L_out = (L - 1) stride - 2 padding + dilation (K - 1) + output_padding + 1.
/// @throws graft::Error as conv1d, and when output_padding is too large or the output would be empty.
Tensor conv_transpose1d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, IntList stride = 1,
                        IntList padding = 0, IntList output_padding = 0, int64_t groups = 1, IntList dilation = 1);

/// Transposed 2-D convolution of `input` (N, C_in, H, W) or (C_in, H, W) with `weight`
/// (C_in, C_out / groups, KH, KW), plus `bias` (C_out). Arguments as conv_transpose1d, per dim or for both.
/// @return (N, C_out, H_out, W_out).
/// @throws graft::Error as conv_transpose1d.
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, IntList stride = 1,
                        IntList padding = 0, IntList output_padding = 0, int64_t groups = 1, IntList dilation = 1);

}  // namespace graft::nn::functional
