#include "graft/ops/kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "graft/ops/kernels/copy.h"
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

template <class T>
void log_softmax_rows(const T* x, T* y, const DimLayout& l) {
  const int64_t C = l.size;
  parallel_for(l.outer, l.outer * C, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const T* xr = x + o * C;
      T* yr = y + o * C;
      // NaN never compares greater, so a row with a NaN keeps a finite max and then turns NaN through
      // exp; a row of -inf gets max -inf and NaN everywhere, as in PyTorch.
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t c = 0; c < C; ++c) m = xr[c] > m ? xr[c] : m;
      Acc<T> s = 0;
      for (int64_t c = 0; c < C; ++c) s += std::exp(xr[c] - m);
      const T lse = static_cast<T>(m + std::log(s));
      for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] - lse;
    }
  });
}

// Classes strided by `inner`: the loops run over whole inner rows so memory is read in order.
template <class T>
void log_softmax_blocks(const T* x, T* y, const DimLayout& l) {
  const int64_t C = l.size, I = l.inner;
  parallel_for(l.outer, l.outer * C * I, [&](int64_t b, int64_t e) {
    std::vector<T> m(static_cast<size_t>(I));
    std::vector<Acc<T>> s(static_cast<size_t>(I));
    for (int64_t o = b; o < e; ++o) {
      const T* xb = x + o * C * I;
      T* yb = y + o * C * I;
      std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
      std::fill(s.begin(), s.end(), Acc<T>(0));
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < I; ++i) m[i] = xb[c * I + i] > m[i] ? xb[c * I + i] : m[i];
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < I; ++i) s[i] += std::exp(xb[c * I + i] - m[i]);
      for (int64_t i = 0; i < I; ++i) m[i] = static_cast<T>(m[i] + std::log(s[i]));  // m now holds the lse
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < I; ++i) yb[c * I + i] = xb[c * I + i] - m[i];
    }
  });
}

template <class T>
void log_softmax_backward_blocks(const T* g, const T* y, T* gx, const DimLayout& l) {
  const int64_t C = l.size, I = l.inner;
  parallel_for(l.outer, l.outer * C * I, [&](int64_t b, int64_t e) {
    std::vector<Acc<T>> s(static_cast<size_t>(I));
    for (int64_t o = b; o < e; ++o) {
      const int64_t base = o * C * I;
      std::fill(s.begin(), s.end(), Acc<T>(0));
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < I; ++i) s[i] += g[base + c * I + i];
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < I; ++i) {
          const int64_t k = base + c * I + i;
          gx[k] = static_cast<T>(g[k] - std::exp(y[k]) * s[i]);
        }
    }
  });
}

}  // namespace

Tensor loss_log_softmax(const Tensor& x, int64_t dim) {
  Tensor xc = contiguous_as(x, x.dtype());
  Tensor y = empty_tensor(x.shape(), x.dtype());
  if (x.numel() == 0) return y;
  const DimLayout l = dim_layout(x.shape(), dim);
  dispatch_floating(x.dtype(), "log_softmax", [&]<class T>() {
    const T* xp = static_cast<const T*>(xc.data_ptr());
    T* yp = static_cast<T*>(y.data_ptr());
    if (l.inner == 1) log_softmax_rows(xp, yp, l);
    else log_softmax_blocks(xp, yp, l);
  });
  return y;
}

Tensor loss_log_softmax_backward(const Tensor& grad, const Tensor& output, int64_t dim) {
  Tensor g = contiguous_as(grad, output.dtype()), y = contiguous_as(output, output.dtype());
  Tensor gx = empty_tensor(output.shape(), output.dtype());
  if (output.numel() == 0) return gx;
  const DimLayout l = dim_layout(output.shape(), dim);
  dispatch_floating(output.dtype(), "log_softmax_backward", [&]<class T>() {
    log_softmax_backward_blocks(static_cast<const T*>(g.data_ptr()), static_cast<const T*>(y.data_ptr()),
                                static_cast<T*>(gx.data_ptr()), l);
  });
  return gx;
}

NllLoss nll_loss_forward(const char* op, const Tensor& input, int64_t class_dim, const Tensor& target,
                         const Tensor& weight, int64_t ignore_index, Reduction reduction) {
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
