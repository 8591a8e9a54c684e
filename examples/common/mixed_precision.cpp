#include "common/mixed_precision.h"

#include "graft/graph/error.h"
#include "graft/nn/utils/clip_grad.h"

namespace graft::examples {

void add_amp_flag(CLI::App& app, std::string& mode) {
  app.add_option("--amp", mode,
                 "mixed precision: products in bfloat16 or float16 under autocast, float32 master weights "
                 "(f16 adds a dynamic loss scaler)")
      ->check(CLI::IsMember({"off", "bf16", "f16"}))
      ->capture_default_str();
}

namespace {
DType amp_dtype(const std::string& mode) {
  if (mode == "off" || mode == "bf16") return kBFloat16;
  GRAFT_CHECK(mode == "f16", "--amp: expected off, bf16 or f16, got '{}'", mode);
  return kFloat16;
}
}  // namespace

MixedPrecision::MixedPrecision(const std::string& mode)
    : enabled_(mode != "off"),
      dtype_(amp_dtype(mode)),
      scaler_(optim::GradScalerOptions{.enabled = mode == "f16"}) {}

MixedPrecision::Step MixedPrecision::backward_and_step(const Tensor& loss, optim::Optimizer& optimizer,
                                                       double max_grad_norm) {
  scaler_.scale(loss).backward();
  double norm = 0;
  if (max_grad_norm > 0) {
    scaler_.unscale_(optimizer);  // clip the true gradients, not the scaled ones
    norm = nn::utils::clip_grad_norm_(optimizer.parameters(), max_grad_norm);
  }
  const bool stepped = scaler_.step(optimizer);
  scaler_.update();
  if (!stepped) ++skipped_;
  return {stepped, norm};
}

}  // namespace graft::examples
