#pragma once
// torch.optim.Adam (PyTorch 1.13), with L2 weight decay added to the gradient, AMSGrad and maximize.
// Per parameter and step t (counted per parameter; parameters without a gradient are skipped):
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g;  (amsgrad: v_max = max(v_max, v))
//   p -= lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)
// The whole update of a parameter group is one fused pass over its flat buffers.
#include "graft/optim/adam_family.h"

namespace graft::optim {

struct AdamOptions : public AdamFamilyOptions<AdamOptions> {
  static constexpr const char* optimizer_name = "Adam";
  static constexpr bool decoupled_weight_decay = false;
  AdamOptions(double lr = 1e-3) : AdamFamilyOptions(lr, /*weight_decay=*/0) {}  // NOLINT: implicit, as in torch
};

class Adam final : public AdamFamily<AdamOptions> {
 public:
  using AdamFamily::AdamFamily;
};

}  // namespace graft::optim
