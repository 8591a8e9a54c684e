#pragma once
// torch.optim.AdamW (PyTorch 1.13): Adam with decoupled weight decay, AMSGrad and maximize.
// Per parameter and step t (counted per parameter; parameters without a gradient are skipped):
//   g = maximize ? -grad : grad;  p *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g;  (amsgrad: v_max = max(v_max, v))
//   p -= lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)
// The whole update of a parameter group is one fused pass over its flat buffers.
#include "graft/optim/adam_family.h"

namespace graft::optim {

struct AdamWOptions : public AdamFamilyOptions<AdamWOptions> {
  static constexpr const char* optimizer_name = "AdamW";
  static constexpr bool decoupled_weight_decay = true;
  AdamWOptions(double lr = 1e-3) : AdamFamilyOptions(lr, /*weight_decay=*/1e-2) {}  // NOLINT: implicit, as in torch
};

class AdamW final : public AdamFamily<AdamWOptions> {
 public:
  using AdamFamily::AdamFamily;
};

}  // namespace graft::optim
