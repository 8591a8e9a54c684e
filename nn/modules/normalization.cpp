#include "graft/nn/modules/normalization.h"

#include <cmath>

#include "graft/graph/factory.h"
#include "graft/nn/init.h"
#include "graft/nn/modules/repr_format.h"
#include "graft/ops/normalization.h"

namespace graft::nn {

namespace F = functional;

namespace {

Shape checked_shape(const char* module, IntList normalized_shape) {
  GRAFT_CHECK(!normalized_shape.empty(), "{}: normalized_shape must have at least one dim, got ()", module);
  for (int64_t d : normalized_shape)
    GRAFT_CHECK(d >= 0, "{}: normalized_shape must not have negative dims, got {}", module,
                repr_format::py_tuple(normalized_shape));
  return Shape(normalized_shape.begin(), normalized_shape.end());
}

void check_eps(const char* module, double eps) {
  GRAFT_CHECK(std::isfinite(eps) && eps >= 0.0, "{}: eps must be finite and non-negative, got {}", module, eps);
}

}  // namespace

LayerNorm::LayerNorm(IntList shape, double eps_, bool affine, bool with_bias, DType dtype)
    : Module("LayerNorm"), normalized_shape(checked_shape("LayerNorm", shape)), eps(eps_), elementwise_affine(affine) {
  check_eps("LayerNorm", eps);
  GRAFT_CHECK(is_floating(dtype), "LayerNorm: dtype must be floating point, got {}", dtype_name(dtype));
  weight = register_parameter("weight", affine ? empty(normalized_shape, dtype) : Tensor());
  bias = register_parameter("bias", affine && with_bias ? empty(normalized_shape, dtype) : Tensor());
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& input) {
  return F::layer_norm(input, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", repr_format::py_tuple(normalized_shape),
                     repr_format::py_float(eps), repr_format::py_bool(elementwise_affine));
}

RMSNorm::RMSNorm(IntList shape, std::optional<double> eps_, bool affine, DType dtype)
    : Module("RMSNorm"), normalized_shape(checked_shape("RMSNorm", shape)), eps(eps_), elementwise_affine(affine) {
  if (eps) check_eps("RMSNorm", *eps);
  GRAFT_CHECK(is_floating(dtype), "RMSNorm: dtype must be floating point, got {}", dtype_name(dtype));
  weight = register_parameter("weight", affine ? empty(normalized_shape, dtype) : Tensor());
  reset_parameters();
}

void RMSNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
}

Tensor RMSNorm::forward(const Tensor& input) {
  return F::rms_norm(input, normalized_shape, weight, eps);
}

std::string RMSNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", repr_format::py_tuple(normalized_shape),
                     repr_format::py_float(eps), repr_format::py_bool(elementwise_affine));
}

}  // namespace graft::nn
