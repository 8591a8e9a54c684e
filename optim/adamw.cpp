#include "graft/optim/adamw.h"

#include "graft/optim/detail/adam_update.h"
#include "graft/optim/detail/options_map.h"

namespace graft::optim {

std::map<std::string, double> AdamWOptions::to_map() const {
  return {{"lr", lr_},
          {"beta1", std::get<0>(betas_)},
          {"beta2", std::get<1>(betas_)},
          {"eps", eps_},
          {"weight_decay", weight_decay_},
          {"amsgrad", amsgrad_ ? 1.0 : 0.0},
          {"maximize", maximize_ ? 1.0 : 0.0}};
}

void AdamWOptions::from_map(const std::map<std::string, double>& v) {
  using detail::map_value;
  lr_ = map_value(v, "AdamW", "lr");
  betas_ = {map_value(v, "AdamW", "beta1"), map_value(v, "AdamW", "beta2")};
  eps_ = map_value(v, "AdamW", "eps");
  weight_decay_ = map_value(v, "AdamW", "weight_decay");
  amsgrad_ = map_value(v, "AdamW", "amsgrad") != 0;
  maximize_ = map_value(v, "AdamW", "maximize") != 0;
}

AdamW::AdamW(const std::vector<OptimizerParamGroup>& groups, const AdamWOptions& defaults)
    : Optimizer(std::make_unique<AdamWOptions>(defaults)) {
  check_options(defaults);
  add_param_groups(groups);
}

void AdamW::check_options(const OptimizerOptions& options) const {
  const auto& o = static_cast<const AdamWOptions&>(options);
  const auto [beta1, beta2] = o.betas();
  GRAFT_CHECK(o.lr() >= 0, "AdamW: Invalid learning rate: {}", o.lr());
  GRAFT_CHECK(o.eps() >= 0, "AdamW: Invalid epsilon value: {}", o.eps());
  GRAFT_CHECK(beta1 >= 0 && beta1 < 1, "AdamW: Invalid beta parameter at index 0: {}", beta1);
  GRAFT_CHECK(beta2 >= 0 && beta2 < 1, "AdamW: Invalid beta parameter at index 1: {}", beta2);
  GRAFT_CHECK(o.weight_decay() >= 0, "AdamW: Invalid weight_decay value: {}", o.weight_decay());
}

void AdamW::update(const OptimizerOptions& options, FlatBucket& bucket, const std::vector<uint8_t>& active,
                  FlatRange range) {
  const auto& o = static_cast<const AdamWOptions&>(options);
  detail::adam_update(bucket, active,
                      {o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(), o.weight_decay(), o.amsgrad(),
                       o.maximize(), /*decoupled=*/true},
                      range);
}

}  // namespace graft::optim
