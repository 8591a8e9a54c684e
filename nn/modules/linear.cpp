#include "graft/nn/modules/linear.h"

#include <cmath>

#include "graft/graph/factory.h"
#include "graft/nn/init.h"
#include "graft/ops/linear.h"

namespace graft::nn {

namespace F = functional;

Linear::Linear(int64_t in, int64_t out, bool with_bias, DType dtype)
    : Module("Linear"), in_features(in), out_features(out) {
  GRAFT_CHECK(in >= 0 && out >= 0, "Linear: feature counts must be non-negative, got in_features={} out_features={}", in, out);
  weight = register_parameter("weight", empty({out, in}, dtype));
  bias = register_parameter("bias", with_bias ? empty({out}, dtype) : Tensor());
  reset_parameters();
}

void Linear::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& input) {
  return F::linear(input, weight, bias);
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features, out_features, bias.defined() ? "True" : "False");
}

}  // namespace graft::nn
