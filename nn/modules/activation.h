#pragma once
// Activation modules, as torch.nn's: each wraps the graft::nn::functional op of the same name, takes
// PyTorch's constructor arguments and defaults, and prints as PyTorch does ("LeakyReLU(negative_slope=0.01)").
// Differences from PyTorch: no `inplace` argument (graft records no in-place history); GELU rejects an
// unknown `approximate` when constructed (PyTorch when called); Softmax/LogSoftmax need `dim` (PyTorch's
// dim=None picks a dim implicitly and is deprecated); Softplus prints integral beta/threshold as ints
// ("beta=1", PyTorch's default ints), so Softplus(2.0) prints "beta=2" where PyTorch prints "beta=2.0".
#include <functional>
#include <string>
#include <type_traits>

#include "graft/nn/module.h"

namespace graft::nn {

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& input) override;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  double negative_slope;
};

class ELU : public Module {
 public:
  explicit ELU(double alpha = 1.0);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  double alpha;
};

class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");  // "none" (exact erf) or "tanh"
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::string approximate;
};

class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& input) override;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& input) override;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& input) override;
};

class Softplus : public Module {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  double beta, threshold;
};

class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  int64_t dim;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  int64_t dim;
};

/// A fresh activation module by name, with default arguments: "relu", "leaky_relu", "elu", "gelu",
/// "gelu_tanh" (GELU(approximate="tanh")), "silu" (also "swish"), "sigmoid", "tanh", "softplus".
ModulePtr make_activation(const std::string& name);

/// How a model builds its activations (MLP, FeedForward): a name for make_activation, or a function that
/// returns a new module on each call (each layer gets its own module, as with torchvision's
/// activation_layer).
class ActivationFactory {
 public:
  ActivationFactory(const char* name);  // NOLINT: implicit, so MLP(sizes, "gelu") reads naturally
  ActivationFactory(std::string name);  // NOLINT
  template <class Make>
    requires std::is_invocable_r_v<ModulePtr, Make&>
  ActivationFactory(Make make)  // NOLINT: any function returning a module, a lambda included
      : ActivationFactory(std::function<ModulePtr()>(std::move(make)), 0) {}
  ModulePtr operator()() const;

 private:
  ActivationFactory(std::function<ModulePtr()> make, int);
  std::function<ModulePtr()> make_;
};

}  // namespace graft::nn
