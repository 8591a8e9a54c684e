#pragma once
// The elements of a floating tensor as doubles, in row-major order: one conversion kernel and a copy, about ten
// times faster than Tensor::to_vector (which reads element by element through a callback) on the (batch,
// vocab) logits that generation reads at every step.
#include <vector>

#include "graft/graph/tensor.h"

namespace graft::nn::detail {

inline std::vector<double> as_doubles(const Tensor& t) {
  Tensor c = t.detach().to(kFloat64).contiguous();
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

}  // namespace graft::nn::detail
