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

}  // namespace graft::nn
