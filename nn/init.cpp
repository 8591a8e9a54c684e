#include "graft/nn/init.h"

#include <cmath>

#include "graft/graph/factory.h"
#include "graft/graph/grad_mode.h"
#include "graft/ops/operators.h"

namespace graft::nn::init {

namespace {

// Writes `values` (float64, same shape) into t without recording, bumping its version.
Tensor& assign(Tensor& t, const Tensor& values) {
  GRAFT_CHECK(t.defined(), "init: the tensor is undefined");
  NoGradGuard no_grad;
  Tensor alias = t.detach();
  alias.copy_(values);
  return t;
}

void check_floating(const char* fn, const Tensor& t) {
  GRAFT_CHECK(t.defined(), "{}: the tensor is undefined", fn);
  GRAFT_CHECK(is_floating(t.dtype()), "{}: expected a floating-point tensor, got {}", fn, dtype_name(t.dtype()));
}

int64_t fan(const Tensor& t, const std::string& mode, const char* fn) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  GRAFT_CHECK(mode == "fan_in" || mode == "fan_out", "{}: mode must be 'fan_in' or 'fan_out', got '{}'", fn, mode);
  return mode == "fan_in" ? fan_in : fan_out;
}

}  // namespace

double calculate_gain(const std::string& nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" || nonlinearity.rfind("conv", 0) == 0) return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nonlinearity == "selu") return 3.0 / 4.0;
  GRAFT_FAIL("calculate_gain: unsupported nonlinearity '{}'", nonlinearity);
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  GRAFT_CHECK(t.defined() && t.dim() >= 2,
              "calculate_fan_in_and_fan_out: fan in and fan out cannot be computed for a tensor with fewer than 2 "
              "dims (shape {})",
              t.defined() ? shape_str(t.shape()) : "undefined");
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.shape()[d];
  return {t.shape()[1] * receptive, t.shape()[0] * receptive};
}

Tensor& uniform_(Tensor& t, double a, double b, Generator* gen) {
  check_floating("uniform_", t);
  GRAFT_CHECK(a <= b, "uniform_: expected a <= b, got a={} b={}", a, b);
  return assign(t, rand(t.shape(), kFloat64, gen) * (b - a) + a);
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  check_floating("normal_", t);
  GRAFT_CHECK(std >= 0, "normal_: std must be non-negative, got {}", std);
  return assign(t, randn(t.shape(), kFloat64, gen) * std + mean);
}

Tensor& trunc_normal_(Tensor& t, double mean, double std, double a, double b, Generator* gen) {
  check_floating("trunc_normal_", t);
  GRAFT_CHECK(a < b, "trunc_normal_: expected a < b, got a={} b={}", a, b);
  GRAFT_CHECK(std > 0, "trunc_normal_: std must be positive, got {}", std);
  // Rejection sampling, one element at a time from the same generator: exact and reproducible.
  Generator& g = gen ? *gen : default_generator();
  std::vector<double> values(static_cast<size_t>(t.numel()));
  {
    std::lock_guard<std::mutex> lock(g.mutex());
    for (double& v : values) {
      double z0, z1;
      do {
        g.normal_pair(z0, z1);
        v = mean + std * z0;
      } while (v < a || v > b);
    }
  }
  return assign(t, tensor(values, t.shape(), kFloat64));
}

Tensor& constant_(Tensor& t, double value) {
  check_floating("constant_", t);
  return assign(t, full(t.shape(), value, kFloat64));
}
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }
Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }

Tensor& eye_(Tensor& t) {
  check_floating("eye_", t);
  GRAFT_CHECK(t.dim() == 2, "eye_: only 2-D tensors are supported, got shape {}", shape_str(t.shape()));
  return assign(t, eye(t.shape()[0], t.shape()[1], kFloat64));
}

Tensor& xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  check_floating("xavier_uniform_", t);
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  double a = std::sqrt(3.0) * std;
  return uniform_(t, -a, a, gen);
}

Tensor& xavier_normal_(Tensor& t, double gain, Generator* gen) {
  check_floating("xavier_normal_", t);
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

Tensor& kaiming_uniform_(Tensor& t, double a, const std::string& mode, const std::string& nonlinearity, Generator* gen) {
  check_floating("kaiming_uniform_", t);
  int64_t f = fan(t, mode, "kaiming_uniform_");
  if (t.numel() == 0) return t;  // as PyTorch: initialising a tensor without elements is a no-op (its fan may be 0)
  double bound = std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(f));
  return uniform_(t, -bound, bound, gen);
}

Tensor& kaiming_normal_(Tensor& t, double a, const std::string& mode, const std::string& nonlinearity, Generator* gen) {
  check_floating("kaiming_normal_", t);
  int64_t f = fan(t, mode, "kaiming_normal_");
  if (t.numel() == 0) return t;  // as PyTorch: initialising a tensor without elements is a no-op (its fan may be 0)
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(f)), gen);
}

}  // namespace graft::nn::init
