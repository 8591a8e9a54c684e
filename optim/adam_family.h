#pragma once
// What Adam and AdamW share (optim/adam.h, optim/adamw.h): their options, the fused update of a flat
// bucket, and the optimizer around it. An options struct `O` deriving from AdamFamilyOptions<O> names its
// optimizer (O::optimizer_name) and its kind of weight decay (O::decoupled_weight_decay).
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "graft/optim/flat_parameters.h"
#include "graft/optim/optimizer.h"

namespace graft::optim {

/// The hyperparameters of one Adam/AdamW update.
struct AdamHyperparameters {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize;
  bool decoupled;  ///< AdamW: p *= 1 - lr * weight_decay instead of adding weight_decay * p to the gradient
};

/// The Adam/AdamW update of the members of `bucket` flagged in `active`, over the elements in `range`: one
/// fused, vectorised pass over the flat parameter, gradient and state buffers (PyTorch 1.13's formulas, in
/// the buffers' dtype). Each active member's step count is advanced by one.
void adam_update(FlatBucket& bucket, const std::vector<uint8_t>& active, const AdamHyperparameters& h,
                 FlatRange range);

// GRAFT_ARG whose setter returns the derived options struct, so that chained setters keep its type.
#define GRAFT_ADAM_ARG(T, name)                 \
 public:                                        \
  Options& name(const T& new_##name) {          \
    this->name##_ = new_##name;                 \
    return static_cast<Options&>(*this);        \
  }                                             \
  const T& name() const { return name##_; }     \
                                                \
 private:                                       \
  T name##_

template <class Options>
struct AdamFamilyOptions : public OptimizerCloneableOptions<Options> {
  using betas_t = std::tuple<double, double>;
  GRAFT_ADAM_ARG(double, lr);
  GRAFT_ADAM_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  GRAFT_ADAM_ARG(double, eps) = 1e-8;
  GRAFT_ADAM_ARG(double, weight_decay);
  GRAFT_ADAM_ARG(bool, amsgrad) = false;
  GRAFT_ADAM_ARG(bool, maximize) = false;

 public:
  AdamFamilyOptions(double lr, double weight_decay) : lr_(lr), weight_decay_(weight_decay) {}
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }

  std::map<std::string, double> to_map() const override {
    return {{"lr", lr_},
            {"beta1", std::get<0>(betas_)},
            {"beta2", std::get<1>(betas_)},
            {"eps", eps_},
            {"weight_decay", weight_decay_},
            {"amsgrad", amsgrad_ ? 1.0 : 0.0},
            {"maximize", maximize_ ? 1.0 : 0.0}};
  }

  void from_map(const std::map<std::string, double>& v) override {
    const char* name = Options::optimizer_name;
    lr_ = this->value_from_map(v, name, "lr");
    betas_ = {this->value_from_map(v, name, "beta1"), this->value_from_map(v, name, "beta2")};
    eps_ = this->value_from_map(v, name, "eps");
    weight_decay_ = this->value_from_map(v, name, "weight_decay");
    amsgrad_ = this->value_from_map(v, name, "amsgrad") != 0;
    maximize_ = this->value_from_map(v, name, "maximize") != 0;
  }
};

#undef GRAFT_ADAM_ARG

template <class Options>
class AdamFamily : public Optimizer {
 public:
  AdamFamily(const std::vector<OptimizerParamGroup>& groups, const Options& defaults = {})
      : Optimizer(std::make_unique<Options>(defaults)) {
    check_options(defaults);
    add_param_groups(groups);
  }
  AdamFamily(const std::vector<Tensor>& params, const Options& defaults = {})
      : AdamFamily(std::vector<OptimizerParamGroup>{OptimizerParamGroup(params)}, defaults) {}
  const char* name() const override { return Options::optimizer_name; }

 protected:
  void check_options(const OptimizerOptions& options) const override {
    const auto& o = static_cast<const Options&>(options);
    const auto [beta1, beta2] = o.betas();
    GRAFT_CHECK(o.lr() >= 0, "{}: Invalid learning rate: {}", name(), o.lr());
    GRAFT_CHECK(o.eps() >= 0, "{}: Invalid epsilon value: {}", name(), o.eps());
    GRAFT_CHECK(beta1 >= 0 && beta1 < 1, "{}: Invalid beta parameter at index 0: {}", name(), beta1);
    GRAFT_CHECK(beta2 >= 0 && beta2 < 1, "{}: Invalid beta parameter at index 1: {}", name(), beta2);
    GRAFT_CHECK(o.weight_decay() >= 0, "{}: Invalid weight_decay value: {}", name(), o.weight_decay());
  }

  std::vector<std::string> state_names(const OptimizerOptions& options) const override {
    if (static_cast<const Options&>(options).amsgrad()) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }

  void update(const OptimizerOptions& options, FlatBucket& bucket, const std::vector<uint8_t>& active,
              FlatRange range) override {
    const auto& o = static_cast<const Options&>(options);
    adam_update(bucket, active,
                {o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(), o.weight_decay(), o.amsgrad(),
                 o.maximize(), Options::decoupled_weight_decay},
                range);
  }
};

}  // namespace graft::optim
