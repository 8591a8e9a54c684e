#pragma once
// GradScaler, after torch.cuda.amp.GradScaler (torch.amp.GradScaler): dynamic loss scaling for float16
// mixed-precision training. float16's smallest normal value is 6.1e-5, so small gradients flush to zero in
// a float16 backward pass; scaling the loss by S (65536 to start) scales every gradient by S, and the
// scaler divides them back before the optimizer sees them. When a scaled gradient overflows (inf or NaN),
// the step is skipped and S halves; after growth_interval steps without overflow S doubles.
//
//   optim::GradScaler scaler;
//   { AutocastGuard autocast(kFloat16); loss = F::cross_entropy(model->forward(x), y); }
//   opt.zero_grad();
//   scaler.scale(loss).backward();
//   scaler.unscale_(opt);                    // optional: to clip the true gradients
//   nn::utils::clip_grad_norm_(model->parameters(), 1.0);
//   scaler.step(opt);                        // skipped when a gradient is inf or NaN
//   scaler.update();
//
// bfloat16 has float32's range and needs no scaler. An optimizer stepped on non-finite gradients after a
// float16 autocast scope, without a scaler in between, raises graft::Error instead of turning the weights
// into NaN (Optimizer::step).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "graft/optim/checkpoint.h"
#include "graft/optim/optimizer.h"

namespace graft::optim {

/// GradScaler's constructor arguments, with PyTorch's defaults.
struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;
};

class GradScaler {
 public:
  /// @throws graft::Error when growth_factor <= 1, backoff_factor is not in (0, 1), growth_interval < 1, or
  ///         init_scale is not positive and finite.
  explicit GradScaler(GradScalerOptions options = {});

  /// `loss` times the current scale (float32 arithmetic; `loss` itself when disabled).
  Tensor scale(const Tensor& loss) const;
  /// Divides the gradients of `optimizer`'s parameters by the scale, in place, and records whether any is
  /// inf or NaN. Call it before clipping; step() calls it when you did not.
  /// @throws graft::Error when called twice for one optimizer, or after step(), before update().
  void unscale_(Optimizer& optimizer);
  /// Unscales (unless unscale_ was called), then runs optimizer.step() when every gradient is finite.
  /// @return true when the optimizer stepped, false when the step was skipped (or always true when disabled).
  /// @throws graft::Error when called twice for one optimizer before update().
  bool step(Optimizer& optimizer);
  /// unscale_ and step for an optimizer whose gradients this scaler cannot reach alone (zero::ShardedOptimizer,
  /// whose gradients are spread over ranks): `unscale(inv_scale)` multiplies them by inv_scale (the float32
  /// reciprocal of the scale) and returns whether any was inf or NaN, on any rank; `step()` updates. `key`
  /// stands for the optimizer in the call-order checks and in update(). Same rules and errors as above.
  void unscale_(const Optimizer& key, const std::function<bool(double inv_scale)>& unscale);
  bool step(const Optimizer& key, const std::function<bool(double inv_scale)>& unscale,
            const std::function<void()>& step);
  /// Adjusts the scale after the step(s) of this iteration: backoff_factor when any optimizer saw an inf or
  /// NaN, growth_factor after growth_interval clean iterations in a row. With `new_scale`, sets it instead.
  void update(std::optional<double> new_scale = std::nullopt);

  double get_scale() const { return options_.enabled ? scale_ : 1.0; }
  double get_growth_factor() const { return options_.growth_factor; }
  double get_backoff_factor() const { return options_.backoff_factor; }
  int64_t get_growth_interval() const { return options_.growth_interval; }
  int64_t growth_tracker() const { return growth_tracker_; }
  bool is_enabled() const { return options_.enabled; }

  /// PyTorch's keys: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker (as metadata;
  /// empty when disabled, as in PyTorch).
  Checkpoint state_dict() const;
  /// @throws graft::Error when this scaler is disabled, or the state is empty or malformed.
  void load_state_dict(const Checkpoint& state);

 private:
  enum class Stage : uint8_t { Ready, Unscaled, Stepped };
  struct PerOptimizer {
    Stage stage = Stage::Ready;
    bool found_inf = false;
  };
  PerOptimizer& state_of(const Optimizer& optimizer) { return per_optimizer_[&optimizer]; }

  GradScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
  std::map<const Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace graft::optim
