#include "graft/optim/adam_family.h"

#include <cmath>

namespace graft::optim {

namespace {

struct StepConstants {
  double step_size;              // lr / (1 - beta1^t)
  double bias_correction2_sqrt;  // sqrt(1 - beta2^t)
};

// PyTorch 1.13's _single_tensor_adam / _single_tensor_adamw for elements [b, e) of one parameter, in
// the parameter's dtype with the scalars converted to it, each operation in the order PyTorch's kernels
// apply them (mul_ then add_ for m; addcmul_ for v; sqrt, division, add_(eps); addcdiv_ for p).
template <class T, bool kAmsgrad, bool kDecoupled, bool kL2, bool kMaximize>
void adam_range(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax, int64_t b,
                int64_t e, const AdamHyperparameters& h, const StepConstants& c) {
  const T beta1 = static_cast<T>(h.beta1), one_minus_beta1 = static_cast<T>(1 - h.beta1);
  const T beta2 = static_cast<T>(h.beta2), one_minus_beta2 = static_cast<T>(1 - h.beta2);
  const T wd = static_cast<T>(h.weight_decay), decay = static_cast<T>(1 - h.lr * h.weight_decay);
  const T bc2 = static_cast<T>(c.bias_correction2_sqrt), eps = static_cast<T>(h.eps);
  const T neg_step_size = static_cast<T>(-c.step_size);
  for (int64_t i = b; i < e; ++i) {
    T grad = kMaximize ? -g[i] : g[i];
    T param = p[i];
    if constexpr (kDecoupled) param = param * decay;
    if constexpr (kL2) grad = grad + wd * param;
    const T mi = m[i] * beta1 + one_minus_beta1 * grad;
    const T vi = v[i] * beta2 + one_minus_beta2 * grad * grad;
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if constexpr (kAmsgrad) {
      const T old = vmax[i];
      second = (old >= vi || std::isnan(old)) ? old : vi;  // torch.maximum propagates NaN
      vmax[i] = second;
    }
    const T denom = std::sqrt(second) / bc2 + eps;
    p[i] = param + neg_step_size * mi / denom;
  }
}

template <class T, bool kAmsgrad, bool kDecoupled, bool kL2, bool kMaximize>
void run(FlatBucket& bucket, const std::vector<uint8_t>& active, const AdamHyperparameters& h,
         const std::vector<StepConstants>& c, FlatRange range) {
  T* p = static_cast<T*>(bucket.params().data_ptr());
  const T* g = static_cast<const T*>(bucket.grads().data_ptr());
  T* m = static_cast<T*>(bucket.state("exp_avg").data_ptr());
  T* v = static_cast<T*>(bucket.state("exp_avg_sq").data_ptr());
  T* vmax = kAmsgrad ? static_cast<T*>(bucket.state("max_exp_avg_sq").data_ptr()) : nullptr;
  for_each_active_range(bucket, active, [&](size_t member, int64_t b, int64_t e) {
    adam_range<T, kAmsgrad, kDecoupled, kL2, kMaximize>(p, g, m, v, vmax, b, e, h, c[member]);
  }, range);
}

template <class T>
void dispatch(FlatBucket& bucket, const std::vector<uint8_t>& active, const AdamHyperparameters& h,
              const std::vector<StepConstants>& c, FlatRange range) {
  const bool l2 = !h.decoupled && h.weight_decay != 0;
  auto with_maximize = [&]<bool A, bool D, bool L>() {
    if (h.maximize) run<T, A, D, L, true>(bucket, active, h, c, range);
    else run<T, A, D, L, false>(bucket, active, h, c, range);
  };
  auto with_l2 = [&]<bool A, bool D>() {
    if (l2) with_maximize.template operator()<A, D, true>();
    else with_maximize.template operator()<A, D, false>();
  };
  auto with_decoupled = [&]<bool A>() {
    if (h.decoupled) with_l2.template operator()<A, true>();
    else with_l2.template operator()<A, false>();
  };
  if (h.amsgrad) with_decoupled.template operator()<true>();
  else with_decoupled.template operator()<false>();
}

}  // namespace

void adam_update(FlatBucket& bucket, const std::vector<uint8_t>& active, const AdamHyperparameters& h,
                 FlatRange range) {
  // The per-parameter step counts and bias corrections, computed in double as PyTorch does in Python.
  std::vector<StepConstants> c(bucket.size());
  for (size_t m = 0; m < bucket.size(); ++m) {
    if (!active[m]) continue;
    const double step = static_cast<double>(++bucket.steps()[m]);
    const double bias_correction1 = 1 - std::pow(h.beta1, step);
    const double bias_correction2 = 1 - std::pow(h.beta2, step);
    c[m] = StepConstants{h.lr / bias_correction1, std::sqrt(bias_correction2)};
  }
  dispatch_floating(bucket.dtype(), "Adam", [&]<class T>() { dispatch<T>(bucket, active, h, c, range); });
}

}  // namespace graft::optim
