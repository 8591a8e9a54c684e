#pragma once
// --amp {off,bf16,f16}, shared by the training examples: mixed precision as in PyTorch's recipe. The forward
// pass and the loss run under an autocast scope (matrix products in the 16-bit dtype, softmax, norms and
// losses in float32); the parameters, their gradients and the optimizer's state stay float32 (the master
// weights). float16 adds a dynamic loss scaler (optim::GradScaler): the loss is scaled before backward, the
// gradients unscaled before the step, and a step whose gradients overflowed is skipped.
//
//   MixedPrecision amp(flag);
//   Tensor loss;
//   { auto scope = amp.autocast(); loss = F::cross_entropy(model(x), y); }
//   opt.zero_grad();
//   amp.backward_and_step(loss, opt);
#include <string>

#include <CLI/CLI.hpp>

#include "graft/graph/autocast_mode.h"
#include "graft/optim/grad_scaler.h"
#include "graft/optim/optimizer.h"

namespace graft::examples {

// Adds --amp {off,bf16,f16} to `app`, storing the choice in `mode` (whose value is the default).
void add_amp_flag(CLI::App& app, std::string& mode);

class MixedPrecision {
 public:
  /// @param mode "off", "bf16" or "f16".
  /// @throws graft::Error for anything else.
  explicit MixedPrecision(const std::string& mode);

  bool enabled() const { return enabled_; }
  /// The scope the forward pass and the loss run in (a disabled guard when --amp is off).
  AutocastGuard autocast() const { return AutocastGuard(dtype_, enabled_); }
  struct Step {
    bool stepped;      // false when float16 gradients overflowed and the step was skipped
    double grad_norm;  // the unscaled gradients' total norm before clipping (0 without clipping)
  };
  /// backward() on the (scaled) loss, then the optimizer's step (skipped on overflowed float16 gradients)
  /// and the scaler's update. With `max_grad_norm` > 0 the unscaled gradients are clipped to it first.
  Step backward_and_step(const Tensor& loss, optim::Optimizer& optimizer, double max_grad_norm = 0);
  /// The loss scaler (disabled unless --amp f16): its state goes into checkpoints.
  optim::GradScaler& scaler() { return scaler_; }
  /// Steps skipped so far because float16 gradients overflowed.
  int64_t skipped_steps() const { return skipped_; }

 private:
  bool enabled_;
  DType dtype_;
  optim::GradScaler scaler_;
  int64_t skipped_ = 0;
};

}  // namespace graft::examples
