#include "graft/nn/modules/batch_norm.h"

#include <cmath>

#include "graft/graph/factory.h"
#include "graft/graph/grad_mode.h"
#include "graft/nn/init.h"
#include "graft/nn/modules/repr_format.h"
#include "graft/ops/normalization.h"

namespace graft::nn {

namespace F = functional;

BatchNorm::BatchNorm(std::string name, std::string accepted_dims, int64_t features, double eps_,
                     std::optional<double> momentum_, bool affine_, bool track, DType dtype)
    : Module(name),
      num_features(features),
      eps(eps_),
      momentum(momentum_),
      affine(affine_),
      track_running_stats(track),
      accepted_dims_(std::move(accepted_dims)) {
  GRAFT_CHECK(features >= 0, "{}: num_features must be non-negative, got {}", name, features);  // 0: as PyTorch
  GRAFT_CHECK(std::isfinite(eps) && eps >= 0.0, "{}: eps must be finite and non-negative, got {}", name, eps);
  GRAFT_CHECK(!momentum || (*momentum >= 0.0 && *momentum <= 1.0),
              "{}: momentum must be between 0 and 1 (or None), got {}", name, momentum.value_or(0.0));
  GRAFT_CHECK(is_floating(dtype), "{}: dtype must be floating point, got {}", name, dtype_name(dtype));
  weight = register_parameter("weight", affine ? empty({features}, dtype) : Tensor());
  bias = register_parameter("bias", affine ? empty({features}, dtype) : Tensor());
  running_mean = register_buffer("running_mean", track ? zeros({features}, dtype) : Tensor());
  running_var = register_buffer("running_var", track ? ones({features}, dtype) : Tensor());
  num_batches_tracked = register_buffer("num_batches_tracked", track ? zeros({}, kInt64) : Tensor());
  reset_parameters();
}

void BatchNorm::reset_running_stats() {
  if (!track_running_stats) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  NoGradGuard no_grad;
  num_batches_tracked.zero_();
}

void BatchNorm::reset_parameters() {
  reset_running_stats();
  if (affine) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

Tensor BatchNorm::forward(const Tensor& input) {
  GRAFT_CHECK(accepts_dims(input.dim()), "{}: expected {} input (got {}D input of shape {})", type_name(),
              accepted_dims_, input.dim(), shape_str(input.shape()));
  GRAFT_CHECK(input.size(1) == num_features,
              "{}: input of shape {} has {} channels (dim 1), but the module has num_features={}", type_name(),
              shape_str(input.shape()), input.size(1), num_features);
  const bool update = is_training() && track_running_stats;
  double factor = momentum.value_or(0.0);
  if (update && !momentum) factor = 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>() + 1);
  // Eval mode without running statistics normalises with the batch's, as PyTorch does.
  const bool use_batch_stats = is_training() || !track_running_stats;
  Tensor y = F::batch_norm(input, running_mean, running_var, weight, bias, use_batch_stats, factor, eps);
  if (update) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  return y;
}

std::string BatchNorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features,
                     repr_format::py_float(eps), repr_format::py_float(momentum), repr_format::py_bool(affine),
                     repr_format::py_bool(track_running_stats));
}

BatchNorm1d::BatchNorm1d(int64_t features, double eps, std::optional<double> momentum, bool affine, bool track,
                         DType dtype)
    : BatchNorm("BatchNorm1d", "2D or 3D", features, eps, momentum, affine, track, dtype) {}

BatchNorm2d::BatchNorm2d(int64_t features, double eps, std::optional<double> momentum, bool affine, bool track,
                         DType dtype)
    : BatchNorm("BatchNorm2d", "4D", features, eps, momentum, affine, track, dtype) {}

}  // namespace graft::nn
