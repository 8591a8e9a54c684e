#include "graft/ops/kernels/attention_softmax.h"

#include <cmath>
#include <limits>

#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

namespace {

// Byte offset of row `r` of a tensor of shape `shape` (rows are all dims but the last) in an operand with
// byte strides `strides` aligned with that shape.
int64_t row_offset(int64_t r, const Shape& shape, const Shape& strides) {
  int64_t off = 0;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) {
    off += (r % shape[d]) * strides[d];
    r /= shape[d];
  }
  return off;
}

template <class T>
void masked_softmax_loops(const Tensor& x, const Tensor& keep, const Tensor& y) {
  const int64_t n = x.dim() == 0 ? 1 : x.shape()[x.dim() - 1];
  if (n == 0 || x.numel() == 0) return;
  const int64_t rows = x.numel() / n;
  const T* X = static_cast<const T*>(x.data_ptr());
  T* Y = static_cast<T*>(y.data_ptr());
  const bool masked = keep.defined();
  Shape kstrides = masked ? broadcast_byte_strides(keep, x.shape()) : Shape();
  const char* K = masked ? static_cast<const char*>(keep.data_ptr()) : nullptr;
  const int64_t kinner = masked && x.dim() > 0 ? kstrides[x.dim() - 1] : 0;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  parallel_for(rows, rows * n * 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = X + r * n;
      T* yr = Y + r * n;
      const char* kr = masked ? K + row_offset(r, x.shape(), kstrides) : nullptr;
      auto kept = [&](int64_t j) { return !masked || *reinterpret_cast<const bool*>(kr + j * kinner); };
      T m = kNegInf;
      for (int64_t j = 0; j < n; ++j)
        if (kept(j) && xr[j] > m) m = xr[j];
      if (m == kNegInf) {  // nothing takes part: a zero row (PyTorch's _safe_softmax)
        for (int64_t j = 0; j < n; ++j) yr[j] = T(0);
        continue;
      }
      T s = 0;
      for (int64_t j = 0; j < n; ++j) {
        const T e = kept(j) ? std::exp(xr[j] - m) : T(0);
        yr[j] = e;
        s += e;
      }
      const T inv = T(1) / s;
      for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
    }
  });
}

template <class T>
void softmax_backward_loops(const Tensor& g, const Tensor& y, const Tensor& dx) {
  const int64_t n = y.dim() == 0 ? 1 : y.shape()[y.dim() - 1];
  if (n == 0 || y.numel() == 0) return;
  const int64_t rows = y.numel() / n;
  const T* G = static_cast<const T*>(g.data_ptr());
  const T* Y = static_cast<const T*>(y.data_ptr());
  T* D = static_cast<T*>(dx.data_ptr());
  parallel_for(rows, rows * n * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = G + r * n;
      const T* yr = Y + r * n;
      T* dr = D + r * n;
      T dot = 0;
      for (int64_t j = 0; j < n; ++j) dot += gr[j] * yr[j];
      for (int64_t j = 0; j < n; ++j) dr[j] = yr[j] * (gr[j] - dot);
    }
  });
}

}  // namespace

void masked_softmax(const Tensor& x, const Tensor& keep, const Tensor& y) {
  dispatch_floating(x.dtype(), "softmax", [&]<class T>() { masked_softmax_loops<T>(x, keep, y); });
}

void softmax_backward(const Tensor& g, const Tensor& y, const Tensor& dx) {
  dispatch_floating(y.dtype(), "softmax_backward", [&]<class T>() { softmax_backward_loops<T>(g, y, dx); });
}

}  // namespace graft::kernels
