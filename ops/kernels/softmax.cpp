#include "graft/ops/kernels/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/dim_layout.h"
#include "graft/ops/kernels/loops.h"
#include "graft/ops/kernels/onednn_primitives.h"

namespace graft::kernels {

namespace {

template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// The lanes of a slice strided by `inner` are handled in chunks of this many, so that a softmax over the
// outer dim of a wide tensor (outer = 1) still splits across threads.
constexpr int64_t kLaneChunk = 256;

// Which entries of each row (every dim of x but the last) take part in a masked softmax: `keep` broadcast
// to x's shape, read through byte strides.
struct RowMask {
  const char* data = nullptr;
  Shape strides;       // bytes, aligned with x's shape
  int64_t inner = 0;   // byte stride along the last dim
  const Shape* shape = nullptr;

  RowMask() = default;
  RowMask(const Tensor& keep, const Shape& x_shape)
      : data(static_cast<const char*>(keep.data_ptr())),
        strides(broadcast_byte_strides(keep, x_shape)),
        inner(x_shape.empty() ? 0 : strides.back()),
        shape(&x_shape) {}

  const char* row(int64_t r) const {
    int64_t off = 0;
    for (int64_t d = static_cast<int64_t>(shape->size()) - 2; d >= 0; --d) {
      off += (r % (*shape)[d]) * strides[d];
      r /= (*shape)[d];
    }
    return data + off;
  }
};

// ---------------------------------------------------------------- the reference loops (sums in double)

// Rows of n contiguous elements. Safe: a row where nothing takes part (every kept entry -inf, or nothing
// kept) is zeros instead of NaN; Masked: only the entries `mask` keeps take part.
template <class T, bool Safe, bool Masked>
void forward_rows(const T* x, T* y, int64_t rows, int64_t n, bool log, const RowMask& mask) {
  parallel_for(rows, rows * n * 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      [[maybe_unused]] const char* kr = Masked ? mask.row(r) : nullptr;
      auto kept = [&](int64_t j) {
        if constexpr (Masked) return *reinterpret_cast<const bool*>(kr + j * mask.inner);
        else return true;
      };
      // NaN never compares greater, so a row with a NaN keeps a finite max and turns NaN through exp; a row
      // of -inf gets max -inf and NaN everywhere (-inf - -inf), as in PyTorch, unless it is Safe.
      T m = kNegInf<T>;
      for (int64_t j = 0; j < n; ++j)
        if (kept(j) && xr[j] > m) m = xr[j];
      if (Safe && m == kNegInf<T>) {
        std::fill(yr, yr + n, T(0));
        continue;
      }
      double sum = 0;
      if (log) {
        for (int64_t j = 0; j < n; ++j) sum += std::exp(xr[j] - m);
        const T shift = static_cast<T>(m + std::log(sum));
        for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] - shift;
      } else {
        for (int64_t j = 0; j < n; ++j) {
          const T v = kept(j) ? std::exp(xr[j] - m) : T(0);
          yr[j] = v;
          sum += v;
        }
        const T inv = static_cast<T>(1.0 / sum);
        for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
      }
    }
  });
}

// Calls f(o, lane_begin, lane_end) for every chunk of lanes of every outer index, across threads.
template <class F>
void for_each_lane_chunk(const DimLayout& l, int64_t work_per_element, F&& f) {
  const int64_t chunks = (l.inner + kLaneChunk - 1) / kLaneChunk;
  parallel_for(l.outer * chunks, l.outer * l.size * l.inner * work_per_element, [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; ++w) {
      const int64_t o = w / chunks, i0 = (w % chunks) * kLaneChunk;
      f(o, i0, std::min(l.inner, i0 + kLaneChunk));
    }
  });
}

// Slices strided by l.inner > 1: the loops run along whole runs of lanes so that memory is read in order.
template <class T>
void forward_lanes(const T* x, T* y, const DimLayout& l, bool log) {
  const int64_t C = l.size, I = l.inner;
  for_each_lane_chunk(l, 8, [&](int64_t o, int64_t i0, int64_t i1) {
    T m[kLaneChunk];
    double s[kLaneChunk];
    const T* xb = x + o * C * I;
    T* yb = y + o * C * I;
    std::fill(m, m + (i1 - i0), kNegInf<T>);
    std::fill(s, s + (i1 - i0), 0.0);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = i0; i < i1; ++i) m[i - i0] = xb[c * I + i] > m[i - i0] ? xb[c * I + i] : m[i - i0];
    if (log) {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = i0; i < i1; ++i) s[i - i0] += std::exp(xb[c * I + i] - m[i - i0]);
      for (int64_t i = i0; i < i1; ++i) m[i - i0] = static_cast<T>(m[i - i0] + std::log(s[i - i0]));  // the lse
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = i0; i < i1; ++i) yb[c * I + i] = xb[c * I + i] - m[i - i0];
    } else {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = i0; i < i1; ++i) {
          const T v = std::exp(xb[c * I + i] - m[i - i0]);
          yb[c * I + i] = v;
          s[i - i0] += v;
        }
      for (int64_t i = i0; i < i1; ++i) m[i - i0] = static_cast<T>(1.0 / s[i - i0]);  // now the reciprocal
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = i0; i < i1; ++i) yb[c * I + i] *= m[i - i0];
    }
  });
}

// d = g - exp(y) * sum(g) (log) or y * (g - sum(g * y)), the sums in double.
template <class T>
void backward_lanes(const T* g, const T* y, T* gx, const DimLayout& l, bool log) {
  const int64_t C = l.size, I = l.inner;
  for_each_lane_chunk(l, 4, [&](int64_t o, int64_t i0, int64_t i1) {
    double s[kLaneChunk];
    const int64_t base = o * C * I;
    std::fill(s, s + (i1 - i0), 0.0);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t k = base + c * I + i;
        s[i - i0] += log ? static_cast<double>(g[k]) : static_cast<double>(g[k]) * y[k];
      }
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t k = base + c * I + i;
        gx[k] = log ? static_cast<T>(g[k] - std::exp(y[k]) * s[i - i0]) : static_cast<T>(y[k] * (g[k] - s[i - i0]));
      }
  });
}

template <class T>
void backward_rows(const T* g, const T* y, T* gx, int64_t rows, int64_t n, bool log) {
  parallel_for(rows, rows * n * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T *gr = g + r * n, *yr = y + r * n;
      T* out = gx + r * n;
      double s = 0;
      if (log) {
        for (int64_t j = 0; j < n; ++j) s += gr[j];
        for (int64_t j = 0; j < n; ++j) out[j] = static_cast<T>(gr[j] - std::exp(yr[j]) * s);
      } else {
        for (int64_t j = 0; j < n; ++j) s += static_cast<double>(gr[j]) * yr[j];
        const T dot = static_cast<T>(s);
        for (int64_t j = 0; j < n; ++j) out[j] = yr[j] * (gr[j] - dot);
      }
    }
  });
}

// ---------------------------------------------------------------- oneDNN softmax_v2 (f32)

struct SoftmaxForward {
  dnnl::softmax_v2_forward::primitive_desc pd;
  dnnl::softmax_v2_forward prim;
};

// Rows of a contiguous slice are described as 2-D (the layout oneDNN's fast kernels take), strided
// slices as 3-D with the softmax along the middle axis.
dnnl::memory::desc desc_of(const DimLayout& l) {
  return l.inner == 1 ? onednn::f32_desc({l.outer, l.size}) : onednn::f32_desc({l.outer, l.size, l.inner});
}

// Softmax only: log_softmax runs on graft's loops (see softmax_forward).
dnnl::softmax_v2_forward::primitive_desc forward_pd(const DimLayout& l) {
  auto md = desc_of(l);
  return {{dnnl::prop_kind::forward_training, dnnl::algorithm::softmax_accurate, md, md, 1}, onednn::engine()};
}

bool onednn_eligible(const Tensor& t, int64_t min_elements) {
  return t.dtype() == kFloat32 && t.numel() >= min_elements && t.dim() > 0 && !use_reference_kernels();
}

void onednn_forward(const Tensor& x, const Tensor& y, const DimLayout& l) {
  ThreadBudget budget;
  static onednn::PrimitiveCache<SoftmaxForward> cache;
  auto e = cache.get(onednn::make_key({0, l.outer, l.size, l.inner}), [&] {
    auto pd = forward_pd(l);
    return SoftmaxForward{pd, dnnl::softmax_v2_forward(pd)};
  });
  auto md = desc_of(l);
  e->prim.execute(onednn::stream(), {{DNNL_ARG_SRC, onednn::wrap(md, x)}, {DNNL_ARG_DST, onednn::wrap(md, y)}});
  onednn::stream().wait();
}

// oneDNN's exp does not propagate NaN, so it disagrees with PyTorch (and the loops) on slices the loops
// turn into NaN everywhere: those holding a NaN, +inf, or nothing but -inf (their maximum is not finite).
// After oneDNN, such slices of `out` are set to NaN; `check` is the forward input.
void poison_nonfinite_slices(const Tensor& check, const Tensor& out, const DimLayout& l) {
  const float* c = check.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  parallel_for(l.outer * l.inner, l.outer * l.size * l.inner, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t off = (r / l.inner) * l.size * l.inner + r % l.inner, s = l.inner;
      float m = kNegInf<float>;
      bool has_nan = false;
      for (int64_t j = 0; j < l.size; ++j) {
        const float v = c[off + j * s];
        m = v > m ? v : m;
        has_nan |= v != v;
      }
      if (has_nan || !std::isfinite(m))
        for (int64_t j = 0; j < l.size; ++j) o[off + j * s] = nan;
    }
  });
}

// The masked softmax through oneDNN (vectorised exp, 4-5x faster than the loops on attention scores): the
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
  const RowMask mask = masked ? RowMask(keep, x.shape()) : RowMask();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  enum : uint8_t { kFinite, kNothingKept, kNaN };
  std::vector<uint8_t> status(static_cast<size_t>(rows));
  parallel_for(rows, rows * n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = X + r * n;
      float* yr = Y + r * n;
      int live = 0, bad = 0;  // some kept entry above -inf; some kept entry NaN or +inf
      if (masked) {
        const char* kr = mask.row(r);
        if (mask.inner == 1) {
          const bool* k = reinterpret_cast<const bool*>(kr);
          for (int64_t j = 0; j < n; ++j) {
            const float v = k[j] ? xr[j] : -kInf;
            yr[j] = v;
            live |= v > -kInf;
            bad |= !(v < kInf);
          }
        } else {
          for (int64_t j = 0; j < n; ++j) {
            const float v = *reinterpret_cast<const bool*>(kr + j * mask.inner) ? xr[j] : -kInf;
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
  onednn_forward(masked ? y : x, y, DimLayout{rows, n, 1});
  parallel_for(rows, rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (status[r] == kFinite) continue;
      const float v = status[r] == kNaN ? std::numeric_limits<float>::quiet_NaN() : 0.f;
      std::fill(Y + r * n, Y + (r + 1) * n, v);
    }
  });
}

}  // namespace

// bfloat16 and float16: softmax of a float32 copy, rounded once (PyTorch computes them in float32 too).
Tensor softmax_forward(const Tensor& x_in, int64_t dim, bool log) {
  if (is_reduced_floating(x_in.dtype())) return from_opmath(softmax_forward(to_opmath(x_in), dim, log), x_in.dtype());
  Tensor x = contiguous_data(x_in);
  Tensor y = empty_tensor(x.shape(), x.dtype());
  if (x.numel() == 0) return y;
  const DimLayout l = dim_layout(x.shape(), dim);
  // log_softmax stays on the loops: oneDNN's float32 log_softmax is several ulps off near 0 (its log), and the
  // backward, g - exp(y) * sum(g), carries that into the gradient: 7x the loops' error (and PyTorch's) on a
  // 16 x 1024 sample (tests/ops/registry_test.cpp, FastKernelsAgreeWithTheReferenceLoopsAndAreAsAccurate).
  // The loops cost 0.37 vs 0.19 ms on a (2048, 65) batch and 3.1 vs 0.9 ms on (256, 4096), 2 threads.
  if (!log && onednn_eligible(x, kOneDnnSoftmaxMinElements)) {
    onednn_forward(x, y, l);
    poison_nonfinite_slices(x, y, l);
    return y;
  }
  dispatch_floating(x.dtype(), log ? "log_softmax" : "softmax", [&]<class T>() {
    if (l.inner == 1) forward_rows<T, false, false>(x.data_ptr<T>(), y.data_ptr<T>(), l.outer, l.size, log, {});
    else forward_lanes<T>(x.data_ptr<T>(), y.data_ptr<T>(), l, log);
  });
  return y;
}

Tensor masked_softmax(const Tensor& x_in, const Tensor& keep) {
  if (is_reduced_floating(x_in.dtype())) return from_opmath(masked_softmax(to_opmath(x_in), keep), x_in.dtype());
  Tensor x = contiguous_data(x_in);
  Tensor y = empty_tensor(x.shape(), x.dtype());
  if (x.numel() == 0) return y;
  if (onednn_eligible(x, kOneDnnSoftmaxMinElements)) {
    masked_softmax_onednn(x, keep, y);
    return y;
  }
  const int64_t n = x.dim() == 0 ? 1 : x.shape()[x.dim() - 1];
  dispatch_floating(x.dtype(), "masked_softmax", [&]<class T>() {
    if (keep.defined())
      forward_rows<T, true, true>(x.data_ptr<T>(), y.data_ptr<T>(), x.numel() / n, n, false, RowMask(keep, x.shape()));
    else
      forward_rows<T, true, false>(x.data_ptr<T>(), y.data_ptr<T>(), x.numel() / n, n, false, {});
  });
  return y;
}

Tensor softmax_backward(const Tensor& grad, const Tensor& output, int64_t dim, bool log) {
  if (is_reduced_floating(output.dtype()))
    return from_opmath(softmax_backward(to_opmath(grad), to_opmath(output), dim, log), output.dtype());
  Tensor y = contiguous_data(output);
  Tensor g = onednn::dense(grad, y.shape(), y.dtype());
  Tensor gx = empty_tensor(y.shape(), y.dtype());
  if (y.numel() == 0) return gx;
  const DimLayout l = dim_layout(y.shape(), dim);
  // Always the loops: oneDNN's softmax backward took 6-56x their time on every shape measured (2-vCPU Zen 3,
  // AVX2: 6.1 vs 0.89 ms on an (8, 8, 128, 128) batch of attention scores, 22.8 vs 0.40 ms along dim 1 of
  // (32, 512, 16)), and its log_softmax backward is about 10x less accurate in float32 than the loops.
  dispatch_floating(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&]<class T>() {
    if (l.inner == 1) backward_rows<T>(g.data_ptr<T>(), y.data_ptr<T>(), gx.data_ptr<T>(), l.outer, l.size, log);
    else backward_lanes<T>(g.data_ptr<T>(), y.data_ptr<T>(), gx.data_ptr<T>(), l, log);
  });
  return gx;
}

}  // namespace graft::kernels
