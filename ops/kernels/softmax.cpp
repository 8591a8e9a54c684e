#include "graft/ops/kernels/softmax.h"

#include <cmath>
#include <limits>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/copy.h"
#include "graft/ops/kernels/loops.h"
#include "graft/ops/kernels/onednn_primitives.h"

namespace graft::kernels {

namespace {

// The tensor seen as [outer, len, inner] around `dim`.
struct Layout {
  int64_t outer = 1, len = 1, inner = 1;
};

Layout layout_of(IntList shape, int64_t dim) {
  Layout l;
  if (shape.empty()) return l;  // a 0-dim tensor is one slice of one element
  for (int64_t d = 0; d < dim; ++d) l.outer *= shape[d];
  l.len = shape[dim];
  for (size_t d = dim + 1; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

// Sums run in double, for float32 too.
template <class T>
void forward_loops(const T* x, T* y, const Layout& l, bool log) {
  parallel_for(l.outer * l.inner, l.outer * l.len * l.inner * 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t off = (r / l.inner) * l.len * l.inner + r % l.inner, s = l.inner;
      const T* xr = x + off;
      T* yr = y + off;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < l.len; ++j)
        if (xr[j * s] > m) m = xr[j * s];
      double sum = 0;
      if (log) {
        for (int64_t j = 0; j < l.len; ++j) sum += std::exp(xr[j * s] - m);
        const T shift = m + static_cast<T>(std::log(sum));
        for (int64_t j = 0; j < l.len; ++j) yr[j * s] = xr[j * s] - shift;
      } else {
        for (int64_t j = 0; j < l.len; ++j) {
          const T v = std::exp(xr[j * s] - m);
          yr[j * s] = v;
          sum += v;
        }
        const T inv = static_cast<T>(1.0 / sum);
        for (int64_t j = 0; j < l.len; ++j) yr[j * s] *= inv;
      }
    }
  });
}

template <class T>
void backward_loops(const T* g, const T* y, T* gx, const Layout& l, bool log) {
  parallel_for(l.outer * l.inner, l.outer * l.len * l.inner * 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t off = (r / l.inner) * l.len * l.inner + r % l.inner, s = l.inner;
      const T *gr = g + off, *yr = y + off;
      T* out = gx + off;
      double acc = 0;
      if (log) {
        for (int64_t j = 0; j < l.len; ++j) acc += gr[j * s];
        const T total = static_cast<T>(acc);
        for (int64_t j = 0; j < l.len; ++j) out[j * s] = gr[j * s] - std::exp(yr[j * s]) * total;
      } else {
        for (int64_t j = 0; j < l.len; ++j) acc += gr[j * s] * yr[j * s];
        const T dot = static_cast<T>(acc);
        for (int64_t j = 0; j < l.len; ++j) out[j * s] = yr[j * s] * (gr[j * s] - dot);
      }
    }
  });
}

// ---------------------------------------------------------------- oneDNN softmax_v2 (f32)

struct SoftmaxForward {
  dnnl::softmax_v2_forward::primitive_desc pd;
  dnnl::softmax_v2_forward prim;
};
struct SoftmaxBackward {
  dnnl::softmax_v2_backward::primitive_desc pd;
  dnnl::softmax_v2_backward prim;
};

// Rows of a contiguous slice are described as 2-D (the layout oneDNN's fast kernels take), strided
// slices as 3-D with the softmax along the middle axis.
dnnl::memory::desc desc_of(const Layout& l) {
  return l.inner == 1 ? onednn::f32_desc({l.outer, l.len}) : onednn::f32_desc({l.outer, l.len, l.inner});
}

dnnl::algorithm alg_of(bool log) { return log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate; }

dnnl::softmax_v2_forward::primitive_desc forward_pd(const Layout& l, bool log) {
  auto md = desc_of(l);
  return {{dnnl::prop_kind::forward_training, alg_of(log), md, md, 1}, onednn::engine()};
}

bool onednn_eligible(const Tensor& t, int64_t min_elements) {
  return t.dtype() == kFloat32 && t.numel() >= min_elements && !use_reference();
}

void onednn_forward(const Tensor& x, const Tensor& y, const Layout& l, bool log) {
  static onednn::PrimitiveCache<SoftmaxForward> cache;
  auto e = cache.get(onednn::make_key({0, log, l.outer, l.len, l.inner}), [&] {
    auto pd = forward_pd(l, log);
    return SoftmaxForward{pd, dnnl::softmax_v2_forward(pd)};
  });
  auto md = desc_of(l);
  e->prim.execute(onednn::stream(), {{DNNL_ARG_SRC, onednn::wrap(md, x)}, {DNNL_ARG_DST, onednn::wrap(md, y)}});
  onednn::stream().wait();
}

void onednn_backward(const Tensor& g, const Tensor& y, const Tensor& gx, const Layout& l, bool log) {
  static onednn::PrimitiveCache<SoftmaxBackward> cache;
  auto e = cache.get(onednn::make_key({1, log, l.outer, l.len, l.inner}), [&] {
    auto md = desc_of(l);
    dnnl::softmax_v2_backward::primitive_desc pd({alg_of(log), md, md, md, 1}, onednn::engine(), forward_pd(l, log));
    return SoftmaxBackward{pd, dnnl::softmax_v2_backward(pd)};
  });
  auto md = desc_of(l);
  e->prim.execute(onednn::stream(), {{DNNL_ARG_DST, onednn::wrap(md, y)},
                                     {DNNL_ARG_DIFF_DST, onednn::wrap(md, g)},
                                     {DNNL_ARG_DIFF_SRC, onednn::wrap(md, gx)}});
  onednn::stream().wait();
}

// oneDNN's exp does not propagate NaN, so it disagrees with PyTorch (and the loops) on slices the loops
// turn into NaN everywhere: those holding a NaN, +inf, or nothing but -inf (their maximum is not finite).
// After oneDNN, such slices of `out` are set to NaN; `check` is the forward input (forward) or the
// output y (backward, where those slices of y are NaN).
void poison_nonfinite_slices(const Tensor& check, const Tensor& out, const Layout& l) {
  const float* c = check.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  parallel_for(l.outer * l.inner, l.outer * l.len * l.inner, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t off = (r / l.inner) * l.len * l.inner + r % l.inner, s = l.inner;
      float m = -std::numeric_limits<float>::infinity();
      bool has_nan = false;
      for (int64_t j = 0; j < l.len; ++j) {
        const float v = c[off + j * s];
        m = v > m ? v : m;
        has_nan |= v != v;
      }
      if (has_nan || !std::isfinite(m))
        for (int64_t j = 0; j < l.len; ++j) o[off + j * s] = nan;
    }
  });
}

}  // namespace

void onednn_softmax_last_dim(const Tensor& x, const Tensor& y) {
  const int64_t len = x.shape()[x.dim() - 1];
  onednn_forward(x, y, Layout{x.numel() / len, len, 1}, false);
}

void onednn_softmax_backward_last_dim(const Tensor& grad, const Tensor& output, const Tensor& grad_input) {
  const int64_t len = output.shape()[output.dim() - 1];
  onednn_backward(grad, output, grad_input, Layout{output.numel() / len, len, 1}, false);
}

Tensor softmax_forward(const Tensor& x_in, int64_t dim, bool log) {
  Tensor x = x_in.is_contiguous() ? x_in : contiguous_copy(x_in);
  Tensor y = empty_tensor(x.shape(), x.dtype());
  if (x.numel() == 0) return y;
  const Layout l = layout_of(x.shape(), dim);
  if (onednn_eligible(x, kOneDnnSoftmaxMinElements)) {
    onednn_forward(x, y, l, log);
    poison_nonfinite_slices(x, y, l);
    return y;
  }
  dispatch_floating(x.dtype(), log ? "log_softmax" : "softmax", [&]<class T>() {
    forward_loops<T>(x.data_ptr<T>(), y.data_ptr<T>(), l, log);
  });
  return y;
}

Tensor softmax_backward(const Tensor& grad, const Tensor& output, int64_t dim, bool log) {
  Tensor y = output.is_contiguous() ? output : contiguous_copy(output);
  Tensor g = onednn::dense(grad, y.shape(), y.dtype());
  Tensor gx = empty_tensor(y.shape(), y.dtype());
  if (y.numel() == 0) return gx;
  const Layout l = layout_of(y.shape(), dim);
  if (onednn_eligible(y, log ? kOneDnnSoftmaxMinElements : kOneDnnSoftmaxBackwardMinElements)) {
    onednn_backward(g, y, gx, l, log);
    poison_nonfinite_slices(y, gx, l);
    return gx;
  }
  dispatch_floating(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&]<class T>() {
    backward_loops<T>(g.data_ptr<T>(), y.data_ptr<T>(), gx.data_ptr<T>(), l, log);
  });
  return gx;
}

}  // namespace graft::kernels
