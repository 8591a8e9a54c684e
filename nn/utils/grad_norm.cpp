#include "graft/nn/utils/grad_norm.h"

#include <cmath>
#include <limits>

#include "graft/graph/error.h"

namespace graft::nn::utils {

double NormAccumulator::initial(double p) {
  return std::isinf(p) && p < 0 ? std::numeric_limits<double>::infinity() : 0.0;
}

void NormAccumulator::add(double x) const {
  const double a = std::abs(x);
  if (std::isinf(p)) *acc = p > 0 ? std::fmax(*acc, a) : std::fmin(*acc, a);
  else if (std::isnan(a)) *acc = a;
  else if (p == 0) *acc += a != 0;
  else if (p == 1) *acc += a;
  else if (p == 2) *acc += a * a;
  else *acc += std::pow(a, p);
  if (std::isnan(a)) *nan = 1;
}

double NormAccumulator::result() const {
  if (*nan != 0) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(p) || p == 0 || p == 1) return *acc;
  if (p == 2) return std::sqrt(*acc);
  return std::pow(*acc, 1.0 / p);
}

double round_to(double x, DType dtype) { return dtype == kFloat32 ? static_cast<double>(static_cast<float>(x)) : x; }

double clip_coefficient(double total_norm, double max_norm, double norm_type, DType dtype, bool error_if_nonfinite) {
  GRAFT_CHECK(!error_if_nonfinite || std::isfinite(total_norm),
              "clip_grad_norm_: The total norm of order {} for gradients from `parameters` is non-finite, so it cannot be "
              "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
              "`error_if_nonfinite=false`",
              norm_type);
  if (dtype == kFloat32) {
    const float t = static_cast<float>(total_norm);
    return (1.0f / (t + 1e-6f)) * static_cast<float>(max_norm);
  }
  return (1.0 / (total_norm + 1e-6)) * max_norm;
}

}  // namespace graft::nn::utils
