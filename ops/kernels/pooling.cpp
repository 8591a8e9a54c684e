#include "graft/ops/kernels/pooling.h"

#include <cmath>
#include <limits>
#include <vector>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

namespace {

// The input positions each output position reads along one dim: begin, begin + step, ... (count of them),
// all inside [0, size). `padded` is avg_pool's window length with the padding counted (PyTorch clips it
// at size + padding).
struct DimTaps {
  std::vector<int64_t> begin, count, padded;
  int64_t step = 1;
};

DimTaps taps_of(const PoolWindows& w, int d, int64_t size, int64_t out) {
  DimTaps t;
  t.begin.resize(out);
  t.count.resize(out);
  t.padded.resize(out);
  if (w.kind == PoolWindows::Kind::Adaptive) {
    for (int64_t o = 0; o < out; ++o) {
      const int64_t b = o * size / out, e = ((o + 1) * size + out - 1) / out;
      t.begin[o] = b;
      t.count[o] = t.padded[o] = e - b;
    }
    return t;
  }
  const int64_t k = w.kernel[d], s = w.stride[d], p = w.padding[d], dil = w.dilation[d];
  t.step = dil;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * s - p;
    int64_t first = 0;
    while (first < k && start + first * dil < 0) ++first;
    int64_t last = k;  // one past
    while (last > first && start + (last - 1) * dil >= size) --last;
    t.begin[o] = start + first * dil;
    t.count[o] = last - first;
    t.padded[o] = std::min(start + k, size + p) - start;  // avg_pool (no dilation)
  }
  return t;
}

struct PlaneShape {
  int64_t planes, h, w, oh, ow;
};

PlaneShape plane_shape(const Tensor& x, const Tensor& y) {
  return {x.shape()[0], x.shape()[1], x.shape()[2], y.shape()[1], y.shape()[2]};
}

template <class T>
void max_forward(const Tensor& x, const PoolWindows& win, const Tensor& y, const Tensor& indices) {
  const PlaneShape s = plane_shape(x, y);
  const DimTaps th = taps_of(win, 0, s.h, s.oh), tw = taps_of(win, 1, s.w, s.ow);
  const T* xp = x.data_ptr<T>();
  T* yp = y.data_ptr<T>();
  int64_t* ip = indices.data_ptr<int64_t>();
  parallel_for(s.planes, s.planes * s.oh * s.ow * 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* plane = xp + p * s.h * s.w;
      T* out = yp + p * s.oh * s.ow;
      int64_t* idx = ip + p * s.oh * s.ow;
      for (int64_t oh = 0; oh < s.oh; ++oh)
        for (int64_t ow = 0; ow < s.ow; ++ow) {
          // PyTorch's rule: start at the first position with -inf; a larger value or a NaN takes over.
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = th.begin[oh] * s.w + tw.begin[ow];
          for (int64_t i = 0; i < th.count[oh]; ++i) {
            const int64_t h = th.begin[oh] + i * th.step;
            for (int64_t j = 0; j < tw.count[ow]; ++j) {
              const int64_t pos = h * s.w + tw.begin[ow] + j * tw.step;
              const T v = plane[pos];
              if (v > best || std::isnan(v)) {
                best = v;
                at = pos;
              }
            }
          }
          out[oh * s.ow + ow] = best;
          idx[oh * s.ow + ow] = at;
        }
    }
  });
}

// The fast path of max_forward for the common windows: KH x KW taps with unit dilation, every window whole (none
// clipped by a border), as MaxPool2d(2) and MaxPool2d(3, 2) without padding give, so that window (oh, ow) starts
// at (oh * sh - ph, ow * sw - pw). The tap counts are known to the compiler and the choice compiles to
// conditional moves: a function of its own, as GCC turned the same selects inlined into the dispatch into
// branches, which on unordered data mispredict at every other tap (16 ms instead of 2.9 ms for a (128, 32, 28, 28)
// batch on one thread). max_forward is its reference.
// One tap of a max window, branch-free: taken when larger, or a NaN (PyTorch's rule, so the last NaN wins).
template <class T>
inline void take_if_larger(T v, int64_t pos, T& best, int64_t& at) {
  const bool take = (v > best) | (v != v);
  best = take ? v : best;
  at = take ? pos : at;
}

template <class T, int KH, int KW>
[[gnu::noinline]] void max_planes_whole_windows(const T* xp, T* yp, int64_t* ip, int64_t planes, int64_t h,
                                                int64_t w, int64_t oh_n, int64_t ow_n, int64_t sh, int64_t sw,
                                                int64_t ph, int64_t pw) {
  for (int64_t p = 0; p < planes; ++p) {
    const T* plane = xp + p * h * w;
    T* out = yp + p * oh_n * ow_n;
    int64_t* idx = ip + p * oh_n * ow_n;
    for (int64_t oh = 0; oh < oh_n; ++oh)
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        const int64_t first = (oh * sh - ph) * w + ow * sw - pw;
        T best = -std::numeric_limits<T>::infinity();
        int64_t at = first;
        for (int i = 0; i < KH; ++i)
          for (int j = 0; j < KW; ++j) {
            const int64_t pos = first + i * w + j;
            take_if_larger(plane[pos], pos, best, at);
          }
        out[oh * ow_n + ow] = best;
        idx[oh * ow_n + ow] = at;
      }
  }
}

// MaxPool2d(2) itself (2 x 2 windows, stride 2, no padding), the CNNs' pooling: the same taps in the same order
// as max_planes_whole_windows, written over a pair of rows so that the compiler vectorises it (the windows'
// columns are the even and odd elements of the two rows). In cnn_fmnist's profile (two threads) the first
// pooling, of a (128, 32, 28, 28) batch, took 1.5 ms instead of 2.1 ms; rows of fewer than 8 outputs (its
// second pooling's 7) do not fill a vector and gain nothing.
template <class T>
[[gnu::noinline]] void max_planes_2x2_stride_2(const T* xp, T* yp, int64_t* ip, int64_t planes, int64_t h, int64_t w,
                                               int64_t oh_n, int64_t ow_n) {
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < oh_n; ++oh) {
      const int64_t top = 2 * oh * w;
      const T *r0 = xp + p * h * w + top, *r1 = r0 + w;
      T* out = yp + (p * oh_n + oh) * ow_n;
      int64_t* idx = ip + (p * oh_n + oh) * ow_n;
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        // The first tap is taken unless it is -inf, which leaves the same value and index.
        T best = r0[2 * ow];
        int64_t at = top + 2 * ow;
        const T taps[3] = {r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
        const int64_t where[3] = {top + 2 * ow + 1, top + w + 2 * ow, top + w + 2 * ow + 1};
        for (int i = 0; i < 3; ++i) take_if_larger(taps[i], where[i], best, at);
        out[ow] = best;
        idx[ow] = at;
      }
    }
}

template <class T, int KH, int KW>
void max_forward_whole_windows(const Tensor& x, const PoolWindows& win, const Tensor& y, const Tensor& indices) {
  const PlaneShape s = plane_shape(x, y);
  const T* xp = x.data_ptr<T>();
  T* yp = y.data_ptr<T>();
  int64_t* ip = indices.data_ptr<int64_t>();
  const bool pairs_of_rows = KH == 2 && KW == 2 && win.stride[0] == 2 && win.stride[1] == 2 && win.padding[0] == 0 &&
                             win.padding[1] == 0;
  parallel_for(s.planes, s.planes * s.oh * s.ow * KH * KW, [&](int64_t p0, int64_t p1) {
    const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
    if (pairs_of_rows)
      return max_planes_2x2_stride_2<T>(xp + p0 * in_plane, yp + p0 * out_plane, ip + p0 * out_plane, p1 - p0, s.h,
                                        s.w, s.oh, s.ow);
    max_planes_whole_windows<T, KH, KW>(xp + p0 * in_plane, yp + p0 * out_plane, ip + p0 * out_plane, p1 - p0, s.h,
                                        s.w, s.oh, s.ow, win.stride[0], win.stride[1], win.padding[0],
                                        win.padding[1]);
  });
}

// True when every window of `t` has exactly k taps one apart.
bool whole_windows(const DimTaps& t, int64_t k) {
  if (t.step != 1) return false;
  for (int64_t c : t.count)
    if (c != k) return false;
  return true;
}

template <class T>
void max_backward(const Tensor& gy, const Tensor& indices, const Tensor& gx) {
  const int64_t planes = gx.shape()[0], in = gx.shape()[1] * gx.shape()[2], out = gy.shape()[1] * gy.shape()[2];
  const T* gp = gy.data_ptr<T>();
  const int64_t* ip = indices.data_ptr<int64_t>();
  T* xp = gx.data_ptr<T>();
  parallel_for(planes, planes * (in + out), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* plane = xp + p * in;
      for (int64_t i = 0; i < in; ++i) plane[i] = T(0);
      const T* g = gp + p * out;
      const int64_t* idx = ip + p * out;
      for (int64_t i = 0; i < out; ++i) plane[idx[i]] += g[i];
    }
  });
}

// The divisor of output (oh, ow) of an average pool.
double divisor_of(const PoolWindows& win, const DimTaps& th, const DimTaps& tw, int64_t oh, int64_t ow) {
  if (win.divisor_override) return static_cast<double>(*win.divisor_override);
  if (win.kind == PoolWindows::Kind::Fixed && win.count_include_pad)
    return static_cast<double>(th.padded[oh] * tw.padded[ow]);
  return static_cast<double>(th.count[oh] * tw.count[ow]);
}

template <class T>
void avg_forward(const Tensor& x, const PoolWindows& win, const Tensor& y) {
  const PlaneShape s = plane_shape(x, y);
  const DimTaps th = taps_of(win, 0, s.h, s.oh), tw = taps_of(win, 1, s.w, s.ow);
  const T* xp = x.data_ptr<T>();
  T* yp = y.data_ptr<T>();
  parallel_for(s.planes, s.planes * s.oh * s.ow * 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* plane = xp + p * s.h * s.w;
      T* out = yp + p * s.oh * s.ow;
      for (int64_t oh = 0; oh < s.oh; ++oh)
        for (int64_t ow = 0; ow < s.ow; ++ow) {
          T acc = T(0);
          for (int64_t i = 0; i < th.count[oh]; ++i) {
            const T* row = plane + (th.begin[oh] + i) * s.w + tw.begin[ow];
            for (int64_t j = 0; j < tw.count[ow]; ++j) acc += row[j];
          }
          out[oh * s.ow + ow] = static_cast<T>(acc / divisor_of(win, th, tw, oh, ow));
        }
    }
  });
}

// The fast path of avg_forward when every window has exactly KH x KW taps inside the input (as
// max_forward_whole_windows): fixed trip counts the compiler unrolls, and one divisor for the whole map. The
// taps are summed in avg_forward's order and divided the same way, so the results are identical.
template <class T, int KH, int KW>
[[gnu::noinline]] void avg_planes_whole_windows(const T* xp, T* yp, int64_t planes, int64_t h, int64_t w, int64_t oh_n,
                                                int64_t ow_n, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                                double divisor) {
  for (int64_t p = 0; p < planes; ++p) {
    const T* plane = xp + p * h * w;
    T* out = yp + p * oh_n * ow_n;
    for (int64_t oh = 0; oh < oh_n; ++oh)
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        const T* first = plane + (oh * sh - ph) * w + ow * sw - pw;
        T acc = T(0);
        for (int i = 0; i < KH; ++i)
          for (int j = 0; j < KW; ++j) acc += first[i * w + j];
        out[oh * ow_n + ow] = static_cast<T>(acc / divisor);
      }
  }
}

template <class T, int KH, int KW>
void avg_forward_whole_windows(const Tensor& x, const PoolWindows& win, const Tensor& y) {
  const PlaneShape s = plane_shape(x, y);
  const double divisor = win.divisor_override ? static_cast<double>(*win.divisor_override) : KH * KW;
  const T* xp = x.data_ptr<T>();
  T* yp = y.data_ptr<T>();
  parallel_for(s.planes, s.planes * s.oh * s.ow * KH * KW, [&](int64_t p0, int64_t p1) {
    const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
    avg_planes_whole_windows<T, KH, KW>(xp + p0 * in_plane, yp + p0 * out_plane, p1 - p0, s.h, s.w, s.oh, s.ow,
                                        win.stride[0], win.stride[1], win.padding[0], win.padding[1], divisor);
  });
}

template <class T>
void avg_backward(const Tensor& gy, const PoolWindows& win, const Tensor& gx) {
  const PlaneShape s = plane_shape(gx, gy);
  const DimTaps th = taps_of(win, 0, s.h, s.oh), tw = taps_of(win, 1, s.w, s.ow);
  const T* gp = gy.data_ptr<T>();
  T* xp = gx.data_ptr<T>();
  parallel_for(s.planes, s.planes * (s.h * s.w + s.oh * s.ow * 4), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* plane = xp + p * s.h * s.w;
      for (int64_t i = 0; i < s.h * s.w; ++i) plane[i] = T(0);
      const T* g = gp + p * s.oh * s.ow;
      for (int64_t oh = 0; oh < s.oh; ++oh)
        for (int64_t ow = 0; ow < s.ow; ++ow) {
          const T v = static_cast<T>(g[oh * s.ow + ow] / divisor_of(win, th, tw, oh, ow));
          for (int64_t i = 0; i < th.count[oh]; ++i) {
            T* row = plane + (th.begin[oh] + i) * s.w + tw.begin[ow];
            for (int64_t j = 0; j < tw.count[ow]; ++j) row[j] += v;
          }
        }
    }
  });
}

}  // namespace

// The fast paths' case: k (2 or 3) when `windows` are fixed k x k windows that each lie wholly inside the
// input, 0 otherwise (and always 0 under the reference kernels). Whole windows also have k * k padded taps, so
// avg_pool's count_include_pad does not change their divisor.
int64_t whole_square_windows(const Tensor& x, const PoolWindows& windows, const Tensor& y) {
  if (windows.kind != PoolWindows::Kind::Fixed || use_reference_kernels() || y.numel() == 0) return 0;
  const int64_t k = windows.kernel[0];
  if ((k != 2 && k != 3) || windows.kernel[1] != k) return 0;
  const PlaneShape s = plane_shape(x, y);
  return whole_windows(taps_of(windows, 0, s.h, s.oh), k) && whole_windows(taps_of(windows, 1, s.w, s.ow), k) ? k : 0;
}

void max_pool_forward(const Tensor& x, const PoolWindows& windows, const Tensor& y, const Tensor& indices) {
  dispatch_floating(x.dtype(), "max_pool", [&]<class T>() {
    switch (whole_square_windows(x, windows, y)) {
      case 2: return max_forward_whole_windows<T, 2, 2>(x, windows, y, indices);
      case 3: return max_forward_whole_windows<T, 3, 3>(x, windows, y, indices);
      default: return max_forward<T>(x, windows, y, indices);
    }
  });
}

void max_pool_backward(const Tensor& gy, const Tensor& indices, const Tensor& gx) {
  dispatch_floating(gx.dtype(), "max_pool_backward", [&]<class T>() { max_backward<T>(gy, indices, gx); });
}

void avg_pool_forward(const Tensor& x, const PoolWindows& windows, const Tensor& y) {
  dispatch_floating(x.dtype(), "avg_pool", [&]<class T>() {
    switch (whole_square_windows(x, windows, y)) {
      case 2: return avg_forward_whole_windows<T, 2, 2>(x, windows, y);
      case 3: return avg_forward_whole_windows<T, 3, 3>(x, windows, y);
      default: return avg_forward<T>(x, windows, y);
    }
  });
}

void avg_pool_backward(const Tensor& gy, const PoolWindows& windows, const Tensor& gx) {
  dispatch_floating(gx.dtype(), "avg_pool_backward", [&]<class T>() { avg_backward<T>(gy, windows, gx); });
}

}  // namespace graft::kernels
