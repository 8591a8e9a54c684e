#include "graft/ops/kernels/padding.h"

#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

namespace {

// The padded dims of x and y: their sizes, x's strides within one leading slice, and the slice sizes.
struct PadLayout {
  size_t k;
  std::vector<int64_t> in_stride, out_size;
  int64_t outer, in_slice, out_slice, rows, row_len;
};

PadLayout layout_of(const Tensor& x, const Tensor& y, size_t k) {
  PadLayout l{k, std::vector<int64_t>(k), std::vector<int64_t>(k), 1, 1, 1, 1, 1};
  const int64_t lead = x.dim() - static_cast<int64_t>(k);
  for (int64_t d = 0; d < lead; ++d) l.outer *= x.shape()[d];
  for (size_t d = k; d-- > 0;) {
    l.in_stride[d] = l.in_slice;
    l.in_slice *= x.shape()[lead + static_cast<int64_t>(d)];
    l.out_size[d] = y.shape()[lead + static_cast<int64_t>(d)];
    l.out_slice *= l.out_size[d];
  }
  l.row_len = l.out_size[k - 1];
  l.rows = l.row_len == 0 ? 0 : l.out_slice / l.row_len;
  return l;
}

// f(row, source row offset or -1, output row offset) for every output row (all padded dims but the last).
template <class F>
void for_each_output_row(const PadLayout& l, const std::vector<std::vector<int64_t>>& sources, F&& f) {
  std::vector<int64_t> idx(l.k - 1, 0);
  for (int64_t r = 0; r < l.rows; ++r) {
    int64_t src = 0;
    for (size_t d = 0; d + 1 < l.k; ++d) {
      const int64_t s = sources[d][idx[d]];
      if (s < 0 || src < 0) src = -1;
      else src += s * l.in_stride[d];
    }
    f(src, r * l.row_len);
    for (size_t d = l.k - 1; d-- > 0;) {
      if (++idx[d] < l.out_size[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

void pad_forward(const Tensor& x, const std::vector<std::vector<int64_t>>& sources, double value, const Tensor& y) {
  const PadLayout l = layout_of(x, y, sources.size());
  const std::vector<int64_t>& last = sources.back();
  dispatch_all(x.dtype(), [&]<class T>() {
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* yp = static_cast<T*>(y.data_ptr());
    const T fill = static_cast<T>(value);
    parallel_for(l.outer, y.numel(), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o)
        for_each_output_row(l, sources, [&](int64_t src, int64_t out) {
          T* yr = yp + o * l.out_slice + out;
          if (src < 0) {  // a row of padding only (the input may even be empty, its buffer null)
            for (int64_t i = 0; i < l.row_len; ++i) yr[i] = fill;
            return;
          }
          const T* xr = xp + o * l.in_slice + src;
          for (int64_t i = 0; i < l.row_len; ++i) yr[i] = last[i] >= 0 ? xr[last[i]] : fill;
        });
    });
  });
}

void pad_backward(const Tensor& gy, const std::vector<std::vector<int64_t>>& sources, const Tensor& gx) {
  const PadLayout l = layout_of(gx, gy, sources.size());
  const std::vector<int64_t>& last = sources.back();
  dispatch_floating(gx.dtype(), "pad_backward", [&]<class T>() {
    const T* gp = gy.data_ptr<T>();
    T* xp = gx.data_ptr<T>();
    parallel_for(l.outer, gy.numel() + gx.numel(), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        T* xs = xp + o * l.in_slice;
        for (int64_t i = 0; i < l.in_slice; ++i) xs[i] = T(0);
        for_each_output_row(l, sources, [&](int64_t src, int64_t out) {
          if (src < 0) return;
          const T* gr = gp + o * l.out_slice + out;
          for (int64_t i = 0; i < l.row_len; ++i)
            if (last[i] >= 0) xs[src + last[i]] += gr[i];
        });
      }
    });
  });
}

}  // namespace graft::kernels
