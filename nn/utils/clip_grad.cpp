#include "graft/nn/utils/clip_grad.h"

#include <cmath>

#include "graft/autograd/grad_mode.h"
#include "graft/ops/shape.h"

namespace graft::nn::utils {

namespace {

// The norm of the values, accumulated in double. p = inf: max |x|; -inf: min |x|; 0: count of non-zeros.
class NormAccumulator {
 public:
  explicit NormAccumulator(double p) : p_(p) {
    if (std::isinf(p) && p < 0) acc_ = std::numeric_limits<double>::infinity();
  }
  void add(double x) {
    const double a = std::abs(x);
    if (std::isinf(p_)) acc_ = p_ > 0 ? std::fmax(acc_, a) : std::fmin(acc_, a);
    else if (std::isnan(a)) acc_ = a;
    else if (p_ == 0) acc_ += a != 0;
    else if (p_ == 1) acc_ += a;
    else if (p_ == 2) acc_ += a * a;
    else acc_ += std::pow(a, p_);
    if (std::isnan(a)) nan_ = true;
  }
  double result() const {
    if (nan_) return std::numeric_limits<double>::quiet_NaN();
    if (std::isinf(p_) || p_ == 0 || p_ == 1) return acc_;
    if (p_ == 2) return std::sqrt(acc_);
    return std::pow(acc_, 1.0 / p_);
  }

 private:
  double p_;
  double acc_ = 0;
  bool nan_ = false;
};

double round_to(double x, DType dtype) { return dtype == kFloat32 ? static_cast<double>(static_cast<float>(x)) : x; }

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
  NormAccumulator total(norm_type);
  for (const Tensor& g : grads) {
    GRAFT_CHECK(g.is_floating_point(), "clip_grad_norm_: gradients must be floating point, got {}", dtype_name(g.dtype()));
    dtype = promote_types(dtype, g.dtype());
    NormAccumulator norm(norm_type);
    Tensor c = graft::contiguous(g.detach());
    dispatch_floating(c.dtype(), "clip_grad_norm_", [&]<class T>() {
      const T* x = c.data_ptr<T>();
      for (int64_t i = 0; i < c.numel(); ++i) norm.add(static_cast<double>(x[i]));
    });
    total.add(round_to(norm.result(), g.dtype()));  // torch.norm(g) is a tensor of g's dtype
  }
  const double total_norm = round_to(total.result(), dtype);
  GRAFT_CHECK(!error_if_nonfinite || std::isfinite(total_norm),
              "clip_grad_norm_: The total norm of order {} for gradients from `parameters` is non-finite, so it cannot be "
              "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
              "`error_if_nonfinite=false`",
              norm_type);
  // clip_coef = max_norm / (total_norm + 1e-6) in the norm's dtype, which PyTorch evaluates as
  // reciprocal(total_norm + 1e-6) * max_norm; clamped to at most 1 (multiplying by exactly 1 changes
  // nothing, so the gradients are left alone then).
  double coef;
  if (dtype == kFloat32) {
    const float t = static_cast<float>(total_norm);
    coef = (1.0f / (t + 1e-6f)) * static_cast<float>(max_norm);
  } else {
    coef = (1.0 / (total_norm + 1e-6)) * max_norm;
  }
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
