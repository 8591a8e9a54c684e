#pragma once
// torch.optim.Adam (PyTorch 1.13), with L2 weight decay added to the gradient, AMSGrad and maximize.
// Per parameter and step t (counted per parameter; parameters without a gradient are skipped):
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g;  (amsgrad: v_max = max(v_max, v))
//   p -= lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)
// The whole update of a parameter group is one fused pass over its flat buffers.
#include <tuple>

#include "graft/optim/optimizer.h"

namespace graft::optim {

struct AdamOptions : public OptimizerCloneableOptions<AdamOptions> {
  using betas_t = std::tuple<double, double>;
  AdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit, as in torch
  GRAFT_ARG(double, lr);
  GRAFT_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  GRAFT_ARG(double, eps) = 1e-8;
  GRAFT_ARG(double, weight_decay) = 0;
  GRAFT_ARG(bool, amsgrad) = false;
  GRAFT_ARG(bool, maximize) = false;

 public:
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  std::map<std::string, double> to_map() const override;
  void from_map(const std::map<std::string, double>& values) override;
};

class Adam final : public Optimizer {
 public:
  Adam(const std::vector<OptimizerParamGroup>& groups, const AdamOptions& defaults = {});
  Adam(const std::vector<Tensor>& params, const AdamOptions& defaults = {})
      : Adam(std::vector<OptimizerParamGroup>{OptimizerParamGroup(params)}, defaults) {}
  const char* name() const override { return "Adam"; }

 protected:
  void check_options(const OptimizerOptions& options) const override;
  void update(const OptimizerOptions& options, FlatBucket& bucket, const std::vector<uint8_t>& active,
              FlatRange range) override;
};

}  // namespace graft::optim
