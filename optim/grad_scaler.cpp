#include "graft/optim/grad_scaler.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "graft/graph/grad_mode.h"
#include "graft/optim/detail/finite.h"

namespace graft::optim {

namespace {

// PyTorch keeps the scale in a float32 tensor: the arithmetic on it rounds to float32.
double as_float32(double v) { return static_cast<double>(static_cast<float>(v)); }

// Unscaling the gradients of the optimizer's parameters, all within reach.
std::function<bool(double)> unscale_parameters(Optimizer& optimizer) {
  return [&optimizer](double inv_scale) {
    NoGradGuard no_grad;
    bool found_inf = false;
    for (const Tensor& p : optimizer.parameters()) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (!found_inf) found_inf = !detail::all_finite(g);
      g.mul_(inv_scale);
    }
    return found_inf;
  };
}

}  // namespace

GradScaler::GradScaler(GradScalerOptions options) : options_(options), scale_(as_float32(options.init_scale)) {
  GRAFT_CHECK(std::isfinite(options.init_scale) && options.init_scale > 0,
              "GradScaler: init_scale must be positive and finite, got {}", options.init_scale);
  GRAFT_CHECK(options.growth_factor > 1.0, "GradScaler: growth_factor should be > 1, got {}", options.growth_factor);
  GRAFT_CHECK(options.backoff_factor > 0.0 && options.backoff_factor < 1.0,
              "GradScaler: backoff_factor should be < 1 (and > 0), got {}", options.backoff_factor);
  GRAFT_CHECK(options.growth_interval >= 1, "GradScaler: growth_interval should be a positive integer, got {}",
              options.growth_interval);
}

Tensor GradScaler::scale(const Tensor& loss) const {
  if (!options_.enabled) return loss;
  GRAFT_CHECK(loss.defined(), "GradScaler.scale: the loss is undefined");
  return mul(loss, scale_);
}

void GradScaler::unscale_(Optimizer& optimizer) { unscale_(optimizer, unscale_parameters(optimizer)); }

void GradScaler::unscale_(const Optimizer& key, const std::function<bool(double inv_scale)>& unscale) {
  if (!options_.enabled) return;
  PerOptimizer& st = state_of(key);
  GRAFT_CHECK(st.stage != Stage::Unscaled,
              "GradScaler.unscale_: unscale_() has already been called on this optimizer since the last update()");
  GRAFT_CHECK(st.stage != Stage::Stepped, "GradScaler.unscale_: unscale_() is being called after step()");
  // PyTorch multiplies by the float32 reciprocal of the scale.
  st.found_inf = unscale(as_float32(1.0 / scale_));
  st.stage = Stage::Unscaled;
}

bool GradScaler::step(Optimizer& optimizer) {
  return step(optimizer, unscale_parameters(optimizer), [&optimizer] { optimizer.step(); });
}

bool GradScaler::step(const Optimizer& key, const std::function<bool(double inv_scale)>& unscale,
                      const std::function<void()>& step) {
  if (!options_.enabled) {
    step();
    return true;
  }
  PerOptimizer& st = state_of(key);
  GRAFT_CHECK(st.stage != Stage::Stepped, "GradScaler.step: step() has already been called since the last update()");
  if (st.stage == Stage::Ready) unscale_(key, unscale);
  st.stage = Stage::Stepped;
  if (st.found_inf) return false;
  step();
  return true;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!options_.enabled) return;
  if (new_scale) {
    GRAFT_CHECK(std::isfinite(*new_scale) && *new_scale > 0, "GradScaler.update: new_scale must be positive and finite, got {}",
                *new_scale);
    scale_ = as_float32(*new_scale);
  } else {
    GRAFT_CHECK(!per_optimizer_.empty(), "GradScaler.update: no inf checks were recorded prior to update()");
    bool found_inf = false;
    for (const auto& [opt, st] : per_optimizer_) found_inf = found_inf || st.found_inf;
    // torch._amp_update_scale_.
    if (found_inf) {
      scale_ = as_float32(scale_ * options_.backoff_factor);
      growth_tracker_ = 0;
    } else if (++growth_tracker_ == options_.growth_interval) {
      const double grown = as_float32(scale_ * options_.growth_factor);
      if (std::isfinite(grown)) scale_ = grown;
      growth_tracker_ = 0;
    }
  }
  per_optimizer_.clear();
}

Checkpoint GradScaler::state_dict() const {
  Checkpoint out;
  if (!options_.enabled) return out;
  nlohmann::json meta{{"scale", scale_},
                      {"growth_factor", options_.growth_factor},
                      {"backoff_factor", options_.backoff_factor},
                      {"growth_interval", options_.growth_interval},
                      {"_growth_tracker", growth_tracker_}};
  out.metadata = meta.dump();
  return out;
}

void GradScaler::load_state_dict(const Checkpoint& state) {
  GRAFT_CHECK(options_.enabled, "GradScaler.load_state_dict: load_state_dict() should only be called if enabled is true");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(state.metadata);
  } catch (const nlohmann::json::exception& e) {
    GRAFT_FAIL("GradScaler.load_state_dict: the metadata is not valid JSON ({})", e.what());
  }
  GRAFT_CHECK(meta.is_object() && !meta.empty(),
              "GradScaler.load_state_dict: the source state dict is empty, possibly because it was saved from a "
              "disabled instance of GradScaler");
  try {
    GradScalerOptions o = options_;
    o.growth_factor = meta.at("growth_factor").get<double>();
    o.backoff_factor = meta.at("backoff_factor").get<double>();
    o.growth_interval = meta.at("growth_interval").get<int64_t>();
    GradScaler check(o);  // validates the loaded options
    const double s = meta.at("scale").get<double>();
    GRAFT_CHECK(std::isfinite(s) && s > 0, "GradScaler.load_state_dict: scale must be positive and finite, got {}", s);
    const int64_t tracker = meta.at("_growth_tracker").get<int64_t>();
    GRAFT_CHECK(tracker >= 0 && tracker < o.growth_interval,
                "GradScaler.load_state_dict: _growth_tracker {} is outside [0, growth_interval {})", tracker,
                o.growth_interval);
    options_ = o;
    scale_ = as_float32(s);
    growth_tracker_ = tracker;
  } catch (const nlohmann::json::exception& e) {
    GRAFT_FAIL("GradScaler.load_state_dict: a key is missing or malformed ({})", e.what());
  }
}

}  // namespace graft::optim
