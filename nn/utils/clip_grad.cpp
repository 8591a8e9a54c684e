#include "graft/nn/utils/clip_grad.h"

#include <cmath>

#include "graft/graph/grad_mode.h"
#include "graft/nn/utils/grad_norm.h"
#include "graft/ops/shape.h"

namespace graft::nn::utils {

namespace {

std::vector<Tensor> defined_grads(const std::vector<Tensor>& parameters) {
  std::vector<Tensor> grads;
  for (const Tensor& p : parameters) {
    GRAFT_CHECK(p.defined(), "clip_grad: a parameter is undefined");
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  return grads;
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  NoGradGuard no_grad;
  std::vector<Tensor> grads = defined_grads(parameters);
  if (grads.empty()) return 0.0;
  DType dtype = grads[0].dtype();
  double total_acc = NormAccumulator::initial(norm_type), total_nan = 0;
  const NormAccumulator total{norm_type, &total_acc, &total_nan};
  for (const Tensor& g : grads) {
    GRAFT_CHECK(g.is_floating_point(), "clip_grad_norm_: gradients must be floating point, got {}", dtype_name(g.dtype()));
    dtype = promote_types(dtype, g.dtype());
    double acc = NormAccumulator::initial(norm_type), nan = 0;
    const NormAccumulator norm{norm_type, &acc, &nan};
    Tensor c = graft::contiguous(g.detach());
    dispatch_floating(c.dtype(), "clip_grad_norm_", [&]<class T>() {
      const T* x = c.data_ptr<T>();
      for (int64_t i = 0; i < c.numel(); ++i) norm.add(static_cast<double>(x[i]));
    });
    total.add(round_to(norm.result(), g.dtype()));  // torch.norm(g) is a tensor of g's dtype
  }
  const double total_norm = round_to(total.result(), dtype);
  const double coef = clip_coefficient(total_norm, max_norm, norm_type, dtype, error_if_nonfinite);
  if (std::isnan(coef) || coef < 1.0)
    for (Tensor& g : grads) g.mul_(coef);
  return total_norm;
}

double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type, bool error_if_nonfinite) {
  return clip_grad_norm_(std::vector<Tensor>{parameter}, max_norm, norm_type, error_if_nonfinite);
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  NoGradGuard no_grad;
  for (Tensor& g : defined_grads(parameters)) g.clamp_(-clip_value, clip_value);
}

void clip_grad_value_(const Tensor& parameter, double clip_value) {
  clip_grad_value_(std::vector<Tensor>{parameter}, clip_value);
}

}  // namespace graft::nn::utils
