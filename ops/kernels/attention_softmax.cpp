#include "graft/ops/kernels/attention_softmax.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/loops.h"
#include "graft/ops/kernels/softmax.h"

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

// float32 through oneDNN's softmax (vectorised exp, 4-5x faster than the loops on attention scores): the
// entries that take no part become -inf in y, oneDNN runs over y in place, and then the rows oneDNN cannot
// get right are set as the loops set them. The loops take the row max over the kept entries that are not
// NaN: when none is above -inf the row is zeros, else a NaN or +inf among the kept entries makes it NaN
// (exp(NaN - m), exp(inf - inf)). The pass before oneDNN only ORs comparisons, so it vectorises.
void masked_softmax_onednn(const Tensor& x, const Tensor& keep, const Tensor& y) {
  const int64_t n = x.shape()[x.dim() - 1];
  const int64_t rows = x.numel() / n;
  const float* X = static_cast<const float*>(x.data_ptr());
  float* Y = static_cast<float*>(y.data_ptr());
  const bool masked = keep.defined();
  Shape kstrides = masked ? broadcast_byte_strides(keep, x.shape()) : Shape();
  const char* K = masked ? static_cast<const char*>(keep.data_ptr()) : nullptr;
  const int64_t kinner = masked ? kstrides[x.dim() - 1] : 0;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  enum : uint8_t { kFinite, kNothingKept, kNaN };
  std::vector<uint8_t> status(static_cast<size_t>(rows));
  parallel_for(rows, rows * n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = X + r * n;
      float* yr = Y + r * n;
      int live = 0, bad = 0;  // some kept entry above -inf; some kept entry NaN or +inf
      if (masked) {
        const char* kr = K + row_offset(r, x.shape(), kstrides);
        if (kinner == 1) {
          const bool* k = reinterpret_cast<const bool*>(kr);
          for (int64_t j = 0; j < n; ++j) {
            const float v = k[j] ? xr[j] : -kInf;
            yr[j] = v;
            live |= v > -kInf;
            bad |= !(v < kInf);
          }
        } else {
          for (int64_t j = 0; j < n; ++j) {
            const float v = *reinterpret_cast<const bool*>(kr + j * kinner) ? xr[j] : -kInf;
            yr[j] = v;
            live |= v > -kInf;
            bad |= !(v < kInf);
          }
        }
      } else {
        for (int64_t j = 0; j < n; ++j) {
          live |= xr[j] > -kInf;
          bad |= !(xr[j] < kInf);
        }
      }
      status[r] = !live ? kNothingKept : bad ? kNaN : kFinite;
    }
  });
  onednn_softmax_last_dim(masked ? y : x, y);
  parallel_for(rows, rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (status[r] == kFinite) continue;
      const float v = status[r] == kNaN ? std::numeric_limits<float>::quiet_NaN() : 0.f;
      std::fill(Y + r * n, Y + (r + 1) * n, v);
    }
  });
}

}  // namespace

void masked_softmax(const Tensor& x, const Tensor& keep, const Tensor& y) {
  if (x.dtype() == kFloat32 && !use_reference() && x.numel() >= kOneDnnSoftmaxMinElements && x.dim() > 0) {
    masked_softmax_onednn(x, keep, y);
    return;
  }
  dispatch_floating(x.dtype(), "softmax", [&]<class T>() { masked_softmax_loops<T>(x, keep, y); });
}

void softmax_backward(const Tensor& g, const Tensor& y, const Tensor& dx) {
  // y * (g - rowsum(g * y)) has no exp: NaN in y or g spreads through the row sum as in the loops.
  if (y.dtype() == kFloat32 && !use_reference() && y.numel() >= kOneDnnSoftmaxBackwardMinElements && y.dim() > 0) {
    onednn_softmax_backward_last_dim(g, y, dx);
    return;
  }
  dispatch_floating(y.dtype(), "softmax_backward", [&]<class T>() { softmax_backward_loops<T>(g, y, dx); });
}

}  // namespace graft::kernels
