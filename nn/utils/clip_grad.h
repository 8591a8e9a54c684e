#pragma once
// Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_, PyTorch 1.13).
#include <limits>
#include <vector>

#include "graft/graph/tensor.h"

namespace graft::nn::utils {

/// Scales the gradients of `parameters` (those that have one) in place so that their combined norm is at
/// most max_norm: total_norm is the norm_type-norm of the per-gradient norms (norm_type may be infinity),
/// computed in the gradients' dtype; every gradient is multiplied by min(1, max_norm / (total_norm + 1e-6)).
/// Returns total_norm (before clipping), as a double like the C++ frontend (Python returns a tensor);
/// 0 when no parameter has a gradient. With error_if_nonfinite, a NaN or infinite total norm is an error.
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

/// Clamps every gradient of `parameters` into [-clip_value, clip_value] in place.
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);
void clip_grad_value_(const Tensor& parameter, double clip_value);

}  // namespace graft::nn::utils
