#include "graft/nn/modules/dropout.h"

#include "graft/nn/modules/repr_format.h"
#include "graft/ops/dropout.h"

namespace graft::nn {

namespace F = functional;

Dropout::Dropout(double prob) : Module("Dropout"), p(prob) {
  GRAFT_CHECK(p >= 0.0 && p <= 1.0, "Dropout: dropout probability has to be between 0 and 1, but got {}", p);
}

Tensor Dropout::forward(const Tensor& input) {
  return F::dropout(input, p, is_training());
}

std::string Dropout::extra_repr() const { return "p=" + repr_format::py_float(p) + ", inplace=False"; }

Dropout2d::Dropout2d(double prob) : Module("Dropout2d"), p(prob) {
  GRAFT_CHECK(p >= 0.0 && p <= 1.0, "Dropout2d: dropout probability has to be between 0 and 1, but got {}", p);
}

Tensor Dropout2d::forward(const Tensor& input) {
  return functional::dropout2d(input, p, is_training());
}

std::string Dropout2d::extra_repr() const { return "p=" + repr_format::py_float(p) + ", inplace=False"; }

}  // namespace graft::nn
