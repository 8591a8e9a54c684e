#include "graft/optim/adam.h"

#include "graft/optim/detail/adam_update.h"
#include "graft/optim/detail/options_map.h"

namespace graft::optim {

std::map<std::string, double> AdamOptions::to_map() const {
  return {{"lr", lr_},
          {"beta1", std::get<0>(betas_)},
          {"beta2", std::get<1>(betas_)},
          {"eps", eps_},
          {"weight_decay", weight_decay_},
          {"amsgrad", amsgrad_ ? 1.0 : 0.0},
          {"maximize", maximize_ ? 1.0 : 0.0}};
}

void AdamOptions::from_map(const std::map<std::string, double>& v) {
  using detail::map_value;
  lr_ = map_value(v, "Adam", "lr");
  betas_ = {map_value(v, "Adam", "beta1"), map_value(v, "Adam", "beta2")};
  eps_ = map_value(v, "Adam", "eps");
  weight_decay_ = map_value(v, "Adam", "weight_decay");
  amsgrad_ = map_value(v, "Adam", "amsgrad") != 0;
  maximize_ = map_value(v, "Adam", "maximize") != 0;
}

Adam::Adam(const std::vector<OptimizerParamGroup>& groups, const AdamOptions& defaults)
    : Optimizer(std::make_unique<AdamOptions>(defaults)) {
  check_options(defaults);
  add_param_groups(groups);
}

void Adam::check_options(const OptimizerOptions& options) const {
  const auto& o = static_cast<const AdamOptions&>(options);
  const auto [beta1, beta2] = o.betas();
  GRAFT_CHECK(o.lr() >= 0, "Adam: Invalid learning rate: {}", o.lr());
  GRAFT_CHECK(o.eps() >= 0, "Adam: Invalid epsilon value: {}", o.eps());
  GRAFT_CHECK(beta1 >= 0 && beta1 < 1, "Adam: Invalid beta parameter at index 0: {}", beta1);
  GRAFT_CHECK(beta2 >= 0 && beta2 < 1, "Adam: Invalid beta parameter at index 1: {}", beta2);
  GRAFT_CHECK(o.weight_decay() >= 0, "Adam: Invalid weight_decay value: {}", o.weight_decay());
}

void Adam::update(const OptimizerOptions& options, FlatBucket& bucket, const std::vector<uint8_t>& active,
                  FlatRange range) {
  const auto& o = static_cast<const AdamOptions&>(options);
  detail::adam_update(bucket, active,
                      {o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(), o.weight_decay(), o.amsgrad(),
                       o.maximize(), /*decoupled=*/false},
                      range);
}

}  // namespace graft::optim
