#include "graft/ops/kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "graft/ops/kernels/dim_layout.h"
#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

namespace {

Tensor contiguous_as(const Tensor& t, DType dtype) {
  return t.dtype() == dtype && t.is_contiguous() ? t : copy_as(t, dtype);
}

// f32 sums accumulate in double.
template <class T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

}  // namespace

NllLoss nll_loss_forward(const char* op, const Tensor& input, int64_t class_dim, const Tensor& target,
                         const Tensor& weight, int64_t ignore_index, Reduction reduction) {
  if (is_reduced_floating(input.dtype())) {  // in float32; the loss rounded, the coefficients kept in float32
    NllLoss r = nll_loss_forward(op, to_opmath(input), class_dim, target, to_opmath(weight), ignore_index, reduction);
    r.loss = from_opmath(r.loss, input.dtype());
    return r;
  }
  const DType dt = input.dtype();
  Tensor x = contiguous_as(input, dt);
  Tensor t = contiguous_as(target, DType::Int64);
  Tensor w = weight.defined() ? contiguous_as(weight, dt) : Tensor();
  const DimLayout l = dim_layout(input.shape(), class_dim);
  const int64_t n = t.numel();
  NllLoss r;
  r.index = empty_tensor(t.shape(), DType::Int64);
  r.coef = empty_tensor(t.shape(), dt);
  r.loss = empty_tensor(reduction == Reduction::None ? t.shape() : Shape{}, dt);
  const int64_t* tp = t.data_ptr<int64_t>();
  int64_t* ip = r.index.data_ptr<int64_t>();
  dispatch_floating(dt, op, [&]<class T>() {
    const T* xp = static_cast<const T*>(x.data_ptr());
    const T* wp = w.defined() ? static_cast<const T*>(w.data_ptr()) : nullptr;
    T* cp = static_cast<T*>(r.coef.data_ptr());
    // One serial pass checks the targets (an error cannot leave a parallel region) and weighs them.
    Acc<T> total_weight = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t c = tp[j];
      if (c == ignore_index) {
        ip[j] = -1;
        cp[j] = 0;
        continue;
      }
      GRAFT_CHECK(c >= 0 && c < l.size,
                  "{}: target {} is out of bounds (expected a class index in [0, {}) or ignore_index {})", op, c,
                  l.size, ignore_index);
      ip[j] = c;
      cp[j] = wp ? wp[c] : T(1);
      total_weight += cp[j];
    }
    auto picked = [&](int64_t j) { return xp[((j / l.inner) * l.size + ip[j]) * l.inner + j % l.inner]; };
    T* lp = static_cast<T*>(r.loss.data_ptr());
    if (reduction == Reduction::None) {
      parallel_for(n, n, [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j) lp[j] = ip[j] < 0 ? T(0) : -cp[j] * picked(j);
      });
    } else {
      Acc<T> s = 0;
      for (int64_t j = 0; j < n; ++j)
        if (ip[j] >= 0) s -= cp[j] * picked(j);
      // The weighted mean divides by the total weight of the targets not ignored (NaN when there are none).
      lp[0] = static_cast<T>(reduction == Reduction::Mean ? s / total_weight : s);
    }
    const T scale = reduction == Reduction::Mean ? static_cast<T>(Acc<T>(1) / total_weight) : T(1);
    for (int64_t j = 0; j < n; ++j) {
      if (ip[j] < 0) {
        ip[j] = 0;
      } else {
        cp[j] = -cp[j] * scale;
      }
    }
  });
  return r;
}

Tensor nll_loss_backward(const Tensor& grad, const Tensor& index, const Tensor& coef, IntList input_shape,
                         int64_t class_dim) {
  const DType dt = coef.dtype();
  Tensor out = empty_tensor(input_shape, dt);
  Tensor g = contiguous_as(grad, dt);
  const DimLayout l = dim_layout(input_shape, class_dim);
  const int64_t n = index.numel();
  const bool scalar_grad = g.numel() == 1;  // a reduced loss: one gradient for every target
  dispatch_floating(dt, "nll_loss_backward", [&]<class T>() {
    T* op = static_cast<T*>(out.data_ptr());
    std::fill(op, op + out.numel(), T(0));
    const T* gp = static_cast<const T*>(g.data_ptr());
    const T* cp = static_cast<const T*>(coef.data_ptr());
    const int64_t* ip = index.data_ptr<int64_t>();
    // Every target owns a distinct slot of the output (its own outer/inner position), so threads never collide.
    parallel_for(n, n, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j)
        op[((j / l.inner) * l.size + ip[j]) * l.inner + j % l.inner] = cp[j] * (scalar_grad ? gp[0] : gp[j]);
    });
  });
  return out;
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight) {
  if (is_reduced_floating(input.dtype()))
    return from_opmath(binary_cross_entropy(to_opmath(input), to_opmath(target), to_opmath(weight)), input.dtype());
  const DType dt = input.dtype();
  Tensor x = contiguous_as(input, dt);
  Tensor out = empty_tensor(input.shape(), dt);
  dispatch_floating(dt, "binary_cross_entropy", [&]<class T>() {
    const T* xp = static_cast<const T*>(x.data_ptr());
    for (int64_t i = 0; i < x.numel(); ++i)
      GRAFT_CHECK(xp[i] >= T(0) && xp[i] <= T(1),
                  "binary_cross_entropy: all elements of input should be between 0 and 1, got {} at flat index {}",
                  xp[i], i);
    auto loss = [](T v, T t) {
      return (t - T(1)) * std::max(static_cast<T>(std::log1p(-v)), T(-100)) - t * std::max(static_cast<T>(std::log(v)), T(-100));
    };
    if (weight.defined())
      map3<T, T, T, T>(out, x, target, weight, [&](T v, T t, T w) { return w * loss(v, t); });
    else
      map2<T, T, T>(out, x, target, loss);
  });
  return out;
}

}  // namespace graft::kernels
