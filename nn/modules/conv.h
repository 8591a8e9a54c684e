#pragma once
// Convolution layers, as torch.nn's Conv1d, Conv2d, ConvTranspose1d and ConvTranspose2d: the same constructor
// arguments and defaults, parameters `weight` and `bias` with PyTorch's shapes (so PyTorch state dicts
// load), PyTorch's default initialisation (kaiming_uniform_ with a = sqrt(5), i.e. U(-1/sqrt(fan_in),
// 1/sqrt(fan_in)), and the bias from the same bound), and PyTorch's printing.
#include <string>
#include <vector>

#include "graft/nn/module.h"
#include "graft/ops/conv.h"

namespace graft::nn {

/// Conv1d's and Conv2d's constructor arguments by name, for designated initialisers:
/// `nn::Conv2d({.in_channels = 1, .out_channels = 32, .kernel_size = {3}, .padding = 1})`. One size applies to
/// every spatial dimension, as PyTorch's int-or-tuple arguments. The defaults are PyTorch's. (LibTorch's
/// Conv2dOptions is a builder with the same fields; this one is an aggregate.)
struct ConvOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  std::vector<int64_t> kernel_size = {};
  std::vector<int64_t> stride = {1};
  functional::ConvPadding padding = 0;
  std::vector<int64_t> dilation = {1};
  int64_t groups = 1;
  bool bias = true;
  std::string padding_mode = "zeros";
  DType dtype = kFloat32;
};
using Conv1dOptions = ConvOptions;
using Conv2dOptions = ConvOptions;

/// What the convolution layers share (PyTorch's _ConvNd): sizes expanded to one value per spatial dim.
class ConvNd : public Module {
 public:
  /// Reinitialises weight and bias as PyTorch does.
  void reset_parameters();
  /// "in, out, kernel_size=(..), stride=(..)" and every argument that differs from its default.
  std::string extra_repr() const override;

  int64_t in_channels, out_channels;
  std::vector<int64_t> kernel_size, stride, padding, dilation, output_padding;
  std::string padding_string;  // "same" or "valid" when padding was given as a mode, else empty
  int64_t groups;
  std::string padding_mode;  // "zeros", "reflect", "replicate" or "circular"
  bool transposed;
  Tensor weight;  // (out, in / groups, *kernel_size), transposed: (in, out / groups, *kernel_size)
  Tensor bias;    // (out), or undefined

 protected:
  ConvNd(std::string name, int spatial, bool transposed, int64_t in_channels, int64_t out_channels,
         IntList kernel_size, IntList stride, const functional::ConvPadding& padding, IntList dilation,
         IntList output_padding, int64_t groups, bool bias, std::string padding_mode, DType dtype);
  /// The input padded by padding_mode (for modes other than "zeros"), PyTorch's
  /// _reversed_padding_repeated_twice.
  Tensor mode_padded(const Tensor& input) const;
  /// The padding argument for the functional op: the sizes or the mode, or zero after mode_padded.
  functional::ConvPadding functional_padding() const;
};

/// nn.Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
/// padding_mode='zeros') on (N, C_in, L) or (C_in, L).
/// @throws graft::Error for non-positive channels, kernel, stride or dilation, negative padding, groups not
///   dividing both channel counts, an unknown padding_mode, or "same" with a stride.
class Conv1d : public ConvNd {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, IntList kernel_size, IntList stride = 1,
         const functional::ConvPadding& padding = 0, IntList dilation = 1, int64_t groups = 1, bool bias = true,
         std::string padding_mode = "zeros", DType dtype = kFloat32);
  /// The same, with the arguments named. @throws graft::Error as above.
  explicit Conv1d(const Conv1dOptions& o)
      : Conv1d(o.in_channels, o.out_channels, o.kernel_size, o.stride, o.padding, o.dilation, o.groups, o.bias,
             o.padding_mode, o.dtype) {}
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
};

/// nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
/// padding_mode='zeros') on (N, C_in, H, W) or (C_in, H, W). Errors as Conv1d.
class Conv2d : public ConvNd {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, IntList kernel_size, IntList stride = 1,
         const functional::ConvPadding& padding = 0, IntList dilation = 1, int64_t groups = 1, bool bias = true,
         std::string padding_mode = "zeros", DType dtype = kFloat32);
  /// The same, with the arguments named. @throws graft::Error as above.
  explicit Conv2d(const Conv2dOptions& o)
      : Conv2d(o.in_channels, o.out_channels, o.kernel_size, o.stride, o.padding, o.dilation, o.groups, o.bias,
             o.padding_mode, o.dtype) {}
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
};

/// nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
/// bias=True, dilation=1, padding_mode='zeros'); only padding_mode "zeros", as in PyTorch.
class ConvTranspose1d : public ConvNd {
 public:
  ConvTranspose1d(int64_t in_channels, int64_t out_channels, IntList kernel_size, IntList stride = 1,
                  IntList padding = 0, IntList output_padding = 0, int64_t groups = 1, bool bias = true,
                  IntList dilation = 1, std::string padding_mode = "zeros", DType dtype = kFloat32);
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
  /// The output with the spatial size `output_size` (the input's last dim): output_padding is chosen to reach
  /// it, as PyTorch's forward(input, output_size).
  /// @throws graft::Error when no output_padding in [0, max(stride, dilation)) gives that size.
  Tensor forward(const Tensor& input, IntList output_size);
};

/// nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
/// bias=True, dilation=1, padding_mode='zeros').
class ConvTranspose2d : public ConvNd {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, IntList kernel_size, IntList stride = 1,
                  IntList padding = 0, IntList output_padding = 0, int64_t groups = 1, bool bias = true,
                  IntList dilation = 1, std::string padding_mode = "zeros", DType dtype = kFloat32);
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
  /// The output with the spatial size `output_size` ((H, W), or (N, C, H, W) whose last two are used).
  Tensor forward(const Tensor& input, IntList output_size);
};

}  // namespace graft::nn
