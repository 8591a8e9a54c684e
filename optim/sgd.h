#pragma once
// torch.optim.SGD (PyTorch 1.13): stochastic gradient descent with optional momentum, dampening,
// Nesterov momentum, L2 weight decay and maximize. The first step with momentum sets the momentum
// buffer to the (decayed) gradient itself, as PyTorch does.
#include "graft/optim/optimizer.h"

namespace graft::optim {

struct SGDOptions : public OptimizerCloneableOptions<SGDOptions> {
  explicit SGDOptions(double lr) : lr_(lr) {}  // lr is required, as in PyTorch
  GRAFT_ARG(double, lr);
  GRAFT_ARG(double, momentum) = 0;
  GRAFT_ARG(double, dampening) = 0;
  GRAFT_ARG(double, weight_decay) = 0;
  GRAFT_ARG(bool, nesterov) = false;
  GRAFT_ARG(bool, maximize) = false;

 public:
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  std::map<std::string, double> to_map() const override;
  void from_map(const std::map<std::string, double>& values) override;
};

class SGD final : public Optimizer {
 public:
  SGD(const std::vector<OptimizerParamGroup>& groups, const SGDOptions& defaults);
  SGD(const std::vector<Tensor>& params, const SGDOptions& defaults)
      : SGD(std::vector<OptimizerParamGroup>{OptimizerParamGroup(params)}, defaults) {}
  const char* name() const override { return "SGD"; }

 protected:
  void check_options(const OptimizerOptions& options) const override;
  std::vector<std::string> state_names(const OptimizerOptions& options) const override;
  void update(const OptimizerOptions& options, FlatBucket& bucket, const std::vector<uint8_t>& active,
              FlatRange range) override;
};

}  // namespace graft::optim
