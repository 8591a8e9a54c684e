#pragma once
// Pooling layers, as torch.nn's MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d and
// AdaptiveMaxPool2d: the same constructor arguments and defaults (stride omitted: the kernel size), no
// parameters, and PyTorch's printing (sizes shown as given: MaxPool2d(2) prints "kernel_size=2, stride=2, ...",
// MaxPool2d({2, 3}) "kernel_size=(2, 3), ..."; AvgPool1d always prints tuples, as PyTorch's).
// Difference from PyTorch: there is no return_indices flag; forward_with_indices() returns (output, indices).
#include <optional>
#include <tuple>
#include <vector>

#include "graft/nn/module.h"

namespace graft::nn {

/// nn.MaxPool1d(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False): F::max_pool1d.
class MaxPool1d : public Module {
 public:
  explicit MaxPool1d(IntList kernel_size, IntList stride = {}, IntList padding = 0, IntList dilation = 1,
                     bool ceil_mode = false);
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
  /// The output and the indices of the maxima (F::max_pool1d_with_indices).
  std::tuple<Tensor, Tensor> forward_with_indices(const Tensor& input);
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  std::vector<int64_t> kernel_size, stride, padding, dilation;  // as given
  bool ceil_mode;
};

/// nn.MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False): F::max_pool2d.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(IntList kernel_size, IntList stride = {}, IntList padding = 0, IntList dilation = 1,
                     bool ceil_mode = false);
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
  /// The output and the flat indices of the maxima, as forward with return_indices=True.
  /// @throws graft::Error as forward.
  std::tuple<Tensor, Tensor> forward_with_indices(const Tensor& input);
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  std::vector<int64_t> kernel_size, stride, padding, dilation;
  bool ceil_mode;
};

/// nn.AvgPool1d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True): F::avg_pool1d.
class AvgPool1d : public Module {
 public:
  explicit AvgPool1d(IntList kernel_size, IntList stride = {}, IntList padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true);
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  std::vector<int64_t> kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
};

/// nn.AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
/// divisor_override=None): F::avg_pool2d.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(IntList kernel_size, IntList stride = {}, IntList padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true, std::optional<int64_t> divisor_override = std::nullopt);
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  std::vector<int64_t> kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
  std::optional<int64_t> divisor_override;
};

/// nn.AdaptiveAvgPool2d(output_size): F::adaptive_avg_pool2d (no None entries: give the size).
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(IntList output_size);
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  std::vector<int64_t> output_size;
};

/// nn.AdaptiveMaxPool2d(output_size): F::adaptive_max_pool2d.
class AdaptiveMaxPool2d : public Module {
 public:
  explicit AdaptiveMaxPool2d(IntList output_size);
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
  /// The output and the flat indices of the maxima, as forward with return_indices=True.
  /// @throws graft::Error as forward.
  std::tuple<Tensor, Tensor> forward_with_indices(const Tensor& input);
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  std::vector<int64_t> output_size;
};

}  // namespace graft::nn
