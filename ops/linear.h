#pragma once
// torch.nn.functional.linear: y = x W^T + b, for x of shape (*, in_features).
#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// weight (out_features, in_features), bias (out_features) or undefined.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {});

}  // namespace graft::nn::functional
