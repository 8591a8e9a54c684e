#include "graft/nn/modules/activation.h"

#include <cmath>

#include "graft/nn/modules/repr_format.h"
#include "graft/ops/activation.h"

namespace graft::nn {

namespace F = functional;
using repr_format::py_float;

Tensor ReLU::forward(const Tensor& input) {
  return F::relu(input);
}

LeakyReLU::LeakyReLU(double slope) : Module("LeakyReLU"), negative_slope(slope) {
  GRAFT_CHECK(std::isfinite(slope), "LeakyReLU: negative_slope must be finite, got {}", slope);
}
Tensor LeakyReLU::forward(const Tensor& input) {
  return F::leaky_relu(input, negative_slope);
}
std::string LeakyReLU::extra_repr() const { return "negative_slope=" + py_float(negative_slope); }

ELU::ELU(double a) : Module("ELU"), alpha(a) {
  GRAFT_CHECK(std::isfinite(a), "ELU: alpha must be finite, got {}", a);
}
Tensor ELU::forward(const Tensor& input) {
  return F::elu(input, alpha);
}
std::string ELU::extra_repr() const { return "alpha=" + py_float(alpha); }

GELU::GELU(std::string approx) : Module("GELU"), approximate(std::move(approx)) {
  GRAFT_CHECK(approximate == "none" || approximate == "tanh", "GELU: approximate must be 'none' or 'tanh', got '{}'",
              approximate);
}
Tensor GELU::forward(const Tensor& input) {
  return F::gelu(input, approximate);
}
std::string GELU::extra_repr() const { return "approximate=" + repr_format::py_str(approximate); }

Tensor SiLU::forward(const Tensor& input) {
  return F::silu(input);
}

Tensor Sigmoid::forward(const Tensor& input) {
  return F::sigmoid(input);
}

Tensor Tanh::forward(const Tensor& input) {
  return F::tanh(input);
}

Softplus::Softplus(double b, double t) : Module("Softplus"), beta(b), threshold(t) {
  GRAFT_CHECK(std::isfinite(b) && b != 0.0, "Softplus: beta must be finite and non-zero, got {}", b);
  GRAFT_CHECK(!std::isnan(t), "Softplus: threshold must not be NaN");
}
Tensor Softplus::forward(const Tensor& input) {
  return F::softplus(input, beta, threshold);
}
std::string Softplus::extra_repr() const {
  return "beta=" + repr_format::py_number(beta) + ", threshold=" + repr_format::py_number(threshold);
}

Softmax::Softmax(int64_t d) : Module("Softmax"), dim(d) {}
Tensor Softmax::forward(const Tensor& input) {
  return F::softmax(input, dim);
}
std::string Softmax::extra_repr() const { return fmt::format("dim={}", dim); }

LogSoftmax::LogSoftmax(int64_t d) : Module("LogSoftmax"), dim(d) {}
Tensor LogSoftmax::forward(const Tensor& input) {
  return F::log_softmax(input, dim);
}
std::string LogSoftmax::extra_repr() const { return fmt::format("dim={}", dim); }

ModulePtr make_activation(const std::string& name) {
  if (name == "relu") return std::make_shared<ReLU>();
  if (name == "leaky_relu") return std::make_shared<LeakyReLU>();
  if (name == "elu") return std::make_shared<ELU>();
  if (name == "gelu") return std::make_shared<GELU>();
  if (name == "gelu_tanh") return std::make_shared<GELU>("tanh");
  if (name == "silu" || name == "swish") return std::make_shared<SiLU>();
  if (name == "sigmoid") return std::make_shared<Sigmoid>();
  if (name == "tanh") return std::make_shared<Tanh>();
  if (name == "softplus") return std::make_shared<Softplus>();
  GRAFT_FAIL("make_activation: unknown activation '{}' (expected one of relu, leaky_relu, elu, gelu, gelu_tanh, "
             "silu, swish, sigmoid, tanh, softplus)", name);
}

ActivationFactory::ActivationFactory(const char* name) : ActivationFactory(std::string(name)) {}

ActivationFactory::ActivationFactory(std::string name) {
  make_activation(name);  // an unknown name fails here, where the model is configured
  make_ = [name = std::move(name)] { return make_activation(name); };
}

ActivationFactory::ActivationFactory(std::function<ModulePtr()> make, int) : make_(std::move(make)) {
  GRAFT_CHECK(make_ != nullptr, "ActivationFactory: the function is empty");
}

ModulePtr ActivationFactory::operator()() const {
  ModulePtr m = make_();
  GRAFT_CHECK(m != nullptr, "ActivationFactory: the function returned a null module");
  return m;
}

}  // namespace graft::nn
