#pragma once
// Whether a tensor holds only finite values (GradScaler's overflow check, and the optimizers' guard against
// float16 autocast without a scaler).
#include "graft/ops/pointwise.h"
#include "graft/ops/reduction.h"

namespace graft::optim::detail {

inline bool all_finite(const Tensor& t) {
  return !t.defined() || t.numel() == 0 || sum(logical_or(isnan(t), isinf(t))).item<int64_t>() == 0;
}

}  // namespace graft::optim::detail
