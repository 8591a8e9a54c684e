#include "graft/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>

namespace graft::optim {

using nlohmann::json;

namespace {

constexpr double kPi = std::numbers::pi;

json parse(const Checkpoint& dict, const char* scheduler) {
  try {
    return json::parse(dict.metadata);
  } catch (const json::exception& e) {
    GRAFT_FAIL("{}.load_state_dict: the metadata is not valid JSON ({})", scheduler, e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------- LRScheduler

LRScheduler::LRScheduler(Optimizer& optimizer, int64_t last_epoch) : optimizer_(&optimizer), last_epoch_(last_epoch) {
  auto& groups = optimizer.param_groups();
  if (last_epoch == -1) {
    for (OptimizerParamGroup& g : groups)
      if (!g.initial_lr()) g.set_initial_lr(g.options().get_lr());
  } else {
    for (size_t i = 0; i < groups.size(); ++i)
      GRAFT_CHECK(groups[i].initial_lr().has_value(),
                  "LRScheduler: param 'initial_lr' is not specified in param_groups[{}] when resuming an optimizer "
                  "(last_epoch {})",
                  i, last_epoch);
  }
  for (const OptimizerParamGroup& g : groups) base_lrs_.push_back(*g.initial_lr());
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

std::vector<double> LRScheduler::group_lrs() const {
  std::vector<double> lrs;
  for (const OptimizerParamGroup& g : optimizer_->param_groups()) lrs.push_back(g.options().get_lr());
  return lrs;
}

std::vector<double> LRScheduler::scaled_group_lrs(double factor) const {
  std::vector<double> lrs = group_lrs();
  for (double& lr : lrs) lr = lr * factor;
  return lrs;
}

void LRScheduler::register_hyperparameter(const char* name, double* value) {
  hyperparameters_.push_back({name, value, false});
}

void LRScheduler::register_hyperparameter(const char* name, int64_t* value) {
  hyperparameters_.push_back({name, value, false});
}

void LRScheduler::register_hyperparameter(const char* name, std::vector<int64_t>* values, bool fixed_size) {
  hyperparameters_.push_back({name, values, fixed_size});
}

std::map<std::string, std::vector<double>> LRScheduler::hyperparameters() const {
  std::map<std::string, std::vector<double>> values;
  for (const Hyperparameter& h : hyperparameters_) {
    if (auto* d = std::get_if<double*>(&h.value)) values[h.name] = {**d};
    else if (auto* i = std::get_if<int64_t*>(&h.value)) values[h.name] = {static_cast<double>(**i)};
    else {
      const std::vector<int64_t>& list = *std::get<std::vector<int64_t>*>(h.value);
      values[h.name] = std::vector<double>(list.begin(), list.end());
    }
  }
  return values;
}

void LRScheduler::set_hyperparameters(const std::map<std::string, std::vector<double>>& values) {
  for (const Hyperparameter& h : hyperparameters_) {
    auto it = values.find(h.name);
    const bool is_list = std::holds_alternative<std::vector<int64_t>*>(h.value);
    GRAFT_CHECK(it != values.end() && (is_list || it->second.size() == 1),
                "{}.load_state_dict: the hyperparameter '{}' is missing", name(), h.name);
    if (!std::holds_alternative<double*>(h.value))
      for (double v : it->second)
        GRAFT_CHECK(v == std::trunc(v) && std::abs(v) < 9.2e18, "{}.load_state_dict: the hyperparameter '{}' must be an "
                    "integer, got {}", name(), h.name, v);
    if (!is_list) continue;
    const size_t count = std::get<std::vector<int64_t>*>(h.value)->size();
    GRAFT_CHECK(!h.fixed_size || it->second.size() == count,
                "{}.load_state_dict: the hyperparameter '{}' has {} values, expected {}", name(), h.name,
                it->second.size(), count);
  }
  check_hyperparameters(values);
  for (const Hyperparameter& h : hyperparameters_) {
    const std::vector<double>& v = values.at(h.name);
    if (auto* d = std::get_if<double*>(&h.value)) **d = v[0];
    else if (auto* i = std::get_if<int64_t*>(&h.value)) **i = static_cast<int64_t>(v[0]);
    else std::get<std::vector<int64_t>*>(h.value)->assign(v.begin(), v.end());
  }
}

void LRScheduler::apply(const std::vector<double>& lrs) {
  auto& groups = optimizer_->param_groups();
  GRAFT_CHECK(lrs.size() == groups.size(), "{}: the optimizer has {} parameter groups but the scheduler knows {}", name(),
              groups.size(), lrs.size());
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(lrs[i]);
  last_lr_ = group_lrs();
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  apply(get_lr());
}

void LRScheduler::step(int64_t epoch) {
  ++step_count_;
  last_epoch_ = epoch;
  std::optional<std::vector<double>> closed = closed_form_lr();
  apply(closed ? *closed : get_lr());
}

Checkpoint LRScheduler::state_dict() const {
  json meta;
  meta["scheduler"] = name();
  meta["last_epoch"] = last_epoch_;
  meta["_step_count"] = step_count_;
  meta["base_lrs"] = base_lrs_;
  meta["_last_lr"] = last_lr_;
  meta["hyperparameters"] = hyperparameters();
  Checkpoint dict;
  dict.metadata = meta.dump();
  return dict;
}

LRScheduler::SavedProgress LRScheduler::parse_state(const Checkpoint& dict) const {
  const json meta = parse(dict, name());
  GRAFT_CHECK(meta.is_object(), "{}.load_state_dict: the metadata is not a JSON object", name());
  SavedProgress p;
  try {
    const std::string saved = meta.at("scheduler").get<std::string>();
    GRAFT_CHECK(saved == name(), "{}.load_state_dict: the state dict was saved by {}", name(), saved);
    p.hyperparameters = meta.at("hyperparameters").get<std::map<std::string, std::vector<double>>>();
    p.base_lrs = meta.at("base_lrs").get<std::vector<double>>();
    p.last_lr = meta.at("_last_lr").get<std::vector<double>>();
    const size_t groups = optimizer_->param_groups().size();
    GRAFT_CHECK(p.last_lr.size() == groups && (p.base_lrs.empty() || p.base_lrs.size() == groups),
                "{}.load_state_dict: the state dict is for {} parameter groups, the optimizer has {}", name(),
                p.last_lr.size(), groups);
    for (const char* key : {"last_epoch", "_step_count"})
      GRAFT_CHECK(meta.at(key).is_number_integer(), "{}.load_state_dict: '{}' must be an integer, got {}", name(), key,
                  meta.at(key).dump());
    p.last_epoch = meta.at("last_epoch").get<int64_t>();
    p.step_count = meta.at("_step_count").get<int64_t>();
    GRAFT_CHECK(p.last_epoch >= -1, "{}.load_state_dict: last_epoch must be at least -1, got {}", name(), p.last_epoch);
    GRAFT_CHECK(p.step_count >= 0, "{}.load_state_dict: _step_count must be non-negative, got {}", name(), p.step_count);
  } catch (const json::exception& e) {
    GRAFT_FAIL("{}.load_state_dict: the metadata is malformed ({})", name(), e.what());
  }
  return p;
}

void LRScheduler::apply_state(const SavedProgress& p) {
  set_hyperparameters(p.hyperparameters);  // checks them first
  last_epoch_ = p.last_epoch;
  step_count_ = p.step_count;
  base_lrs_ = p.base_lrs;
  last_lr_ = p.last_lr;
}

void LRScheduler::load_state_dict(const Checkpoint& dict) { apply_state(parse_state(dict)); }

// ---------------------------------------------------------------- StepLR

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), step_size_(step_size), gamma_(gamma) {
  GRAFT_CHECK(step_size > 0, "StepLR: step_size must be positive, got {}", step_size);
  register_hyperparameter("step_size", &step_size_);
  register_hyperparameter("gamma", &gamma_);
  initial_step();
}

void StepLR::check_hyperparameters(const std::map<std::string, std::vector<double>>& v) const {
  GRAFT_CHECK(v.at("step_size")[0] > 0, "StepLR.load_state_dict: step_size must be positive, got {}", v.at("step_size")[0]);
}

std::vector<double> StepLR::get_lr() {
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return group_lrs();
  return scaled_group_lrs(gamma_);
}

std::optional<std::vector<double>> StepLR::closed_form_lr() const {
  const int64_t k = last_epoch_ >= 0 ? last_epoch_ / step_size_ : -((-last_epoch_ + step_size_ - 1) / step_size_);
  return from_base_lrs([&](double base) { return base * std::pow(gamma_, static_cast<double>(k)); });
}

// ---------------------------------------------------------------- MultiStepLR

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
  register_hyperparameter("milestones", &milestones_);
  register_hyperparameter("gamma", &gamma_);
  initial_step();
}

void MultiStepLR::check_hyperparameters(const std::map<std::string, std::vector<double>>& v) const {
  GRAFT_CHECK(std::is_sorted(v.at("milestones").begin(), v.at("milestones").end()),
              "MultiStepLR.load_state_dict: the milestones must be sorted");
}

std::vector<double> MultiStepLR::get_lr() {
  const auto count = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  if (count == 0) return group_lrs();
  return scaled_group_lrs(std::pow(gamma_, static_cast<double>(count)));
}

std::optional<std::vector<double>> MultiStepLR::closed_form_lr() const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin();
  return from_base_lrs([&](double base) { return base * std::pow(gamma_, static_cast<double>(passed)); });
}

// ---------------------------------------------------------------- ExponentialLR

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), gamma_(gamma) {
  register_hyperparameter("gamma", &gamma_);
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() {
  if (last_epoch_ == 0) return group_lrs();
  return scaled_group_lrs(gamma_);
}

std::optional<std::vector<double>> ExponentialLR::closed_form_lr() const {
  return from_base_lrs([&](double base) { return base * std::pow(gamma_, static_cast<double>(last_epoch_)); });
}

// ---------------------------------------------------------------- LinearLR

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters, int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), start_factor_(start_factor), end_factor_(end_factor), total_iters_(total_iters) {
  GRAFT_CHECK(start_factor > 0 && start_factor <= 1,
              "LinearLR: Starting multiplicative factor expected to be greater than 0 and less or equal to 1, got {}",
              start_factor);
  GRAFT_CHECK(end_factor >= 0 && end_factor <= 1,
              "LinearLR: Ending multiplicative factor expected to be between 0 and 1, got {}", end_factor);
  GRAFT_CHECK(total_iters > 0, "LinearLR: total_iters must be positive, got {}", total_iters);
  register_hyperparameter("start_factor", &start_factor_);
  register_hyperparameter("end_factor", &end_factor_);
  register_hyperparameter("total_iters", &total_iters_);
  initial_step();
}

void LinearLR::check_hyperparameters(const std::map<std::string, std::vector<double>>& v) const {
  const double start = v.at("start_factor")[0], end = v.at("end_factor")[0];
  GRAFT_CHECK(start > 0 && start <= 1 && end >= 0 && end <= 1 && v.at("total_iters")[0] > 0,
              "LinearLR.load_state_dict: needs 0 < start_factor <= 1, 0 <= end_factor <= 1 and total_iters > 0, got {}, "
              "{} and {}", start, end, v.at("total_iters")[0]);
}

std::vector<double> LinearLR::get_lr() {
  if (last_epoch_ == 0) return scaled_group_lrs(start_factor_);
  if (last_epoch_ > total_iters_) return group_lrs();
  const double delta = end_factor_ - start_factor_;
  return scaled_group_lrs(1. + delta / (static_cast<double>(total_iters_) * start_factor_ +
                                        static_cast<double>(last_epoch_ - 1) * delta));
}

std::optional<std::vector<double>> LinearLR::closed_form_lr() const {
  const double t = static_cast<double>(std::min(total_iters_, last_epoch_));
  return from_base_lrs([&](double base) {
    return base * (start_factor_ + (end_factor_ - start_factor_) * t / static_cast<double>(total_iters_));
  });
}

// ---------------------------------------------------------------- CosineAnnealingLR

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min, int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), T_max_(T_max), eta_min_(eta_min) {
  GRAFT_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive, got {}", T_max);
  register_hyperparameter("T_max", &T_max_);
  register_hyperparameter("eta_min", &eta_min_);
  initial_step();
}

void CosineAnnealingLR::check_hyperparameters(const std::map<std::string, std::vector<double>>& v) const {
  GRAFT_CHECK(v.at("T_max")[0] > 0, "CosineAnnealingLR.load_state_dict: T_max must be positive, got {}", v.at("T_max")[0]);
}

std::vector<double> CosineAnnealingLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  const double T = static_cast<double>(T_max_), t = static_cast<double>(last_epoch_);
  if (last_epoch_ == 0) return lrs;
  if (step_count_ == 1 && last_epoch_ > 0) {
    for (size_t i = 0; i < lrs.size(); ++i)
      lrs[i] = eta_min_ + (base_lrs_[i] - eta_min_) * (1 + std::cos(t * kPi / T)) / 2;
    return lrs;
  }
  if ((last_epoch_ - 1 - T_max_) % (2 * T_max_) == 0) {
    for (size_t i = 0; i < lrs.size(); ++i) lrs[i] = lrs[i] + (base_lrs_[i] - eta_min_) * (1 - std::cos(kPi / T)) / 2;
    return lrs;
  }
  for (double& lr : lrs)
    lr = (1 + std::cos(kPi * t / T)) / (1 + std::cos(kPi * (t - 1) / T)) * (lr - eta_min_) + eta_min_;
  return lrs;
}

std::optional<std::vector<double>> CosineAnnealingLR::closed_form_lr() const {
  const double T = static_cast<double>(T_max_), t = static_cast<double>(last_epoch_);
  return from_base_lrs([&](double base) { return eta_min_ + (base - eta_min_) * (1 + std::cos(kPi * t / T)) / 2; });
}

// ---------------------------------------------------------------- SequentialLR

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones, int64_t last_epoch)
    : LRScheduler(optimizer, NoInit{}), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  GRAFT_CHECK(!schedulers_.empty(), "SequentialLR: expects at least one scheduler");
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    GRAFT_CHECK(schedulers_[i] != nullptr, "SequentialLR: scheduler {} is null", i);
    GRAFT_CHECK(&schedulers_[i]->optimizer() == &optimizer,
                "SequentialLR: Sequential Schedulers expects all schedulers to belong to the same optimizer, but got "
                "schedulers at index {} to be different than the optimizer passed in.",
                i);
  }
  GRAFT_CHECK(milestones_.size() == schedulers_.size() - 1,
              "SequentialLR: Sequential Schedulers expects number of schedulers provided to be one more than the number "
              "of milestone points, but got number of schedulers {} and the number of milestones to be equal to {}",
              schedulers_.size(), milestones_.size());
  register_hyperparameter("_milestones", &milestones_, /*fixed_size=*/true);
  last_epoch_ = last_epoch + 1;
  // Reset learning rates back to initial values, undo the step performed by the other schedulers, and
  // perform the initial step of the first one only.
  for (OptimizerParamGroup& g : optimizer.param_groups()) g.options().set_lr(g.initial_lr().value());
  for (auto& s : schedulers_) s->last_epoch_ -= 1;
  schedulers_[0]->initial_step();
  last_lr_ = schedulers_[0]->get_last_lr();
}

void SequentialLR::step() {
  ++last_epoch_;
  const size_t idx =
      static_cast<size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin());
  LRScheduler& scheduler = *schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == last_epoch_) scheduler.step(int64_t{0});
  else scheduler.step();
  last_lr_ = scheduler.get_last_lr();
}

std::vector<double> SequentialLR::get_lr() { return last_lr_; }

Checkpoint SequentialLR::state_dict() const {
  json meta = json::parse(LRScheduler::state_dict().metadata);
  meta["_schedulers"] = json::array();
  for (const auto& s : schedulers_) meta["_schedulers"].push_back(json::parse(s->state_dict().metadata));
  Checkpoint dict;
  dict.metadata = meta.dump();
  return dict;
}

void SequentialLR::load_state_dict(const Checkpoint& dict) {
  const json meta = parse(dict, name());
  GRAFT_CHECK(meta.is_object() && meta.contains("_schedulers") && meta["_schedulers"].is_array() &&
                  meta["_schedulers"].size() == schedulers_.size(),
              "{}.load_state_dict: the state dict does not hold {} schedulers", name(), schedulers_.size());
  // Every part is parsed and checked before any is loaded.
  std::vector<SavedProgress> parts;
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    Checkpoint part;
    part.metadata = meta["_schedulers"][i].dump();
    parts.push_back(schedulers_[i]->parse_state(part));
  }
  const SavedProgress own = parse_state(dict);
  // The hyperparameters too: try each set, restoring what was there when one fails.
  std::vector<SavedProgress> before;
  for (const auto& s : schedulers_) {
    Checkpoint current = s->state_dict();
    before.push_back(s->parse_state(current));
  }
  const SavedProgress own_before = parse_state(state_dict());
  try {
    for (size_t i = 0; i < schedulers_.size(); ++i) schedulers_[i]->apply_state(parts[i]);
    apply_state(own);
  } catch (const Error&) {
    for (size_t i = 0; i < schedulers_.size(); ++i) schedulers_[i]->apply_state(before[i]);
    apply_state(own_before);
    throw;
  }
}

// ---------------------------------------------------------------- LinearWarmupCosineLR

namespace {
std::vector<std::shared_ptr<LRScheduler>> warmup_cosine_parts(Optimizer& optimizer, int64_t warmup_iters,
                                                              int64_t total_iters, double start_factor, double eta_min) {
  GRAFT_CHECK(warmup_iters >= 1 && total_iters > warmup_iters,
              "LinearWarmupCosineLR: needs 1 <= warmup_iters < total_iters, got warmup_iters {} and total_iters {}",
              warmup_iters, total_iters);
  return {std::make_shared<LinearLR>(optimizer, start_factor, 1.0, warmup_iters),
          std::make_shared<CosineAnnealingLR>(optimizer, total_iters - warmup_iters, eta_min)};
}
}  // namespace

LinearWarmupCosineLR::LinearWarmupCosineLR(Optimizer& optimizer, int64_t warmup_iters, int64_t total_iters,
                                           double start_factor, double eta_min)
    : SequentialLR(optimizer, warmup_cosine_parts(optimizer, warmup_iters, total_iters, start_factor, eta_min),
                   {warmup_iters}) {}

}  // namespace graft::optim
