#pragma once
// nn.Flatten and nn.Unflatten: reshapes as modules, for Sequential models (a CNN's feature maps into a
// classifier's vectors, and back).
#include <vector>

#include "graft/nn/module.h"

namespace graft::nn {

/// nn.Flatten(start_dim=1, end_dim=-1): input.flatten(start_dim, end_dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  /// @throws graft::Error when a dim is out of range for the input or start_dim comes after end_dim.
  Tensor forward(const Tensor& input) override;
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  int64_t start_dim, end_dim;
};

/// nn.Unflatten(dim, unflattened_size): dim `dim` split into the sizes given (one of them may be -1).
class Unflatten : public Module {
 public:
  Unflatten(int64_t dim, IntList unflattened_size);
  /// @throws graft::Error when the sizes do not multiply to the size of dim `dim`.
  Tensor forward(const Tensor& input) override;
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  int64_t dim;
  std::vector<int64_t> unflattened_size;
};

}  // namespace graft::nn
