#pragma once
// nn::Dropout(p=0.5): F::dropout in training mode, the identity in eval mode. Prints as PyTorch does
// ("Dropout(p=0.5, inplace=False)"; graft has no in-place dropout, so inplace is always False).
#include "graft/nn/module.h"

namespace graft::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  double p;
};

/// nn.Dropout2d(p=0.5): F::dropout2d (whole channels of (N, C, H, W), or of (N, C, L)) in training, the
/// identity in eval mode. Prints "Dropout2d(p=0.5, inplace=False)".
class Dropout2d : public Module {
 public:
  explicit Dropout2d(double p = 0.5);
  /// Training: F::dropout2d(input, p); eval: input itself.
  /// @throws graft::Error for an input of fewer than 2 dims.
  Tensor forward(const Tensor& input) override;
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  double p;
};

}  // namespace graft::nn
