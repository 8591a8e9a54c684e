#pragma once
// nn.ZeroPad2d: F::pad with zeros around the last two dims.
#include <array>

#include "graft/nn/module.h"

namespace graft::nn {

/// nn.ZeroPad2d(padding): one size for all four sides, or (left, right, top, bottom); negative sizes crop.
/// Prints "ZeroPad2d((1, 1, 1, 1))".
/// @throws graft::Error (when made) for a padding of another length than 1 or 4.
class ZeroPad2d : public Module {
 public:
  explicit ZeroPad2d(IntList padding);
  /// @throws graft::Error for an input of fewer than 2 dims or a negative output size.
  Tensor forward(const Tensor& input) override;
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  std::array<int64_t, 4> padding;  // left, right, top, bottom
};

}  // namespace graft::nn
