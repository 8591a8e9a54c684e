#pragma once
// The fused Adam/AdamW update over a flat bucket, shared by optim/adam.cpp and optim/adamw.cpp.
#include <cstdint>
#include <vector>

#include "graft/optim/flat_parameters.h"

namespace graft::optim::detail {

struct AdamHyperparameters {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize;
  bool decoupled;  // AdamW: p *= 1 - lr * weight_decay instead of adding weight_decay * p to the gradient
};

void adam_update(FlatBucket& bucket, const std::vector<uint8_t>& active, const AdamHyperparameters& h,
                 FlatRange range);

}  // namespace graft::optim::detail
