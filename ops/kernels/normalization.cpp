#include "graft/ops/kernels/normalization.h"

#include <cmath>
#include <vector>

#include "graft/graph/factory.h"
#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/loops.h"
#include "graft/ops/kernels/onednn_primitives.h"

namespace graft::kernels {

namespace {


template <class T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// A row of `n` copies of v, standing in for an absent weight (1) or bias (0), so loops need no branch.
template <class T>
std::vector<T> filler(const T* given, int64_t n, T v) {
  return given ? std::vector<T>() : std::vector<T>(static_cast<size_t>(n), v);
}

// ---------------------------------------------------------------- layer norm / RMS norm over rows (reference)

// center: layer norm (subtract the mean) or RMS norm (do not).
template <class T>
void row_norm_forward(const T* x, const T* w_in, const T* b_in, T* y, T* mean, T* rstd, int64_t rows, int64_t cols,
                      double eps, bool center) {
  auto w_fill = filler<T>(w_in, cols, T(1)), b_fill = filler<T>(b_in, cols, T(0));
  const T* w = w_in ? w_in : w_fill.data();
  const T* b = b_in ? b_in : b_fill.data();
  parallel_for(rows, rows * cols * 3, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      double mu = 0;
      if (center) {
        for (int64_t j = 0; j < cols; ++j) mu += xr[j];
        mu /= static_cast<double>(cols);
      }
      double ss = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const double d = xr[j] - mu;
        ss += d * d;
      }
      const T m = static_cast<T>(mu), s = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(cols) + eps));
      for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) * s * w[j] + b[j];
      if (center) mean[r] = m;
      rstd[r] = s;
    }
  });
}

template <class T>
void row_norm_backward(const T* g, const T* x, const T* mean, const T* rstd, const T* w_in, T* dx, T* dw, T* db,
                       int64_t rows, int64_t cols, bool center) {
  auto w_fill = filler<T>(w_in, cols, T(1));
  const T* w = w_in ? w_in : w_fill.data();
  const double inv_cols = 1.0 / static_cast<double>(cols);
  if (dx)
    parallel_for(rows, rows * cols * 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T *gr = g + r * cols, *xr = x + r * cols;
        const T m = center ? mean[r] : T(0), s = rstd[r];
        double sum_gh = 0, sum_gh_xhat = 0;
        for (int64_t j = 0; j < cols; ++j) {
          const T gh = gr[j] * w[j];
          sum_gh += gh;
          sum_gh_xhat += gh * ((xr[j] - m) * s);
        }
        const T a = center ? static_cast<T>(sum_gh * inv_cols) : T(0), c = static_cast<T>(sum_gh_xhat * inv_cols);
        T* out = dx + r * cols;
        for (int64_t j = 0; j < cols; ++j) out[j] = s * (gr[j] * w[j] - a - (xr[j] - m) * s * c);
      }
    });
  if (dw || db)
    // Column blocks in parallel, rows in order within each: memory is read row by row.
    parallel_for(cols, rows * cols * 2, [&](int64_t j0, int64_t j1) {
      std::vector<double> acc_w(static_cast<size_t>(j1 - j0), 0.0), acc_b(static_cast<size_t>(j1 - j0), 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const T *gr = g + r * cols, *xr = x + r * cols;
        const T m = center ? mean[r] : T(0), s = rstd[r];
        for (int64_t j = j0; j < j1; ++j) {
          acc_w[j - j0] += gr[j] * ((xr[j] - m) * s);
          acc_b[j - j0] += gr[j];
        }
      }
      for (int64_t j = j0; j < j1; ++j) {
        if (dw) dw[j] = static_cast<T>(acc_w[j - j0]);
        if (db) db[j] = static_cast<T>(acc_b[j - j0]);
      }
    });
}

NormForward row_norm_reference(const Tensor& x_in, const Tensor& weight, const Tensor& bias, int64_t cols, double eps,
                               bool center) {
  Tensor x = contiguous_data(x_in), w = contiguous_data(weight), b = contiguous_data(bias);
  const int64_t rows = cols == 0 ? 0 : x.numel() / cols;
  NormForward out{empty_tensor(x.shape(), x.dtype()), center ? empty_tensor({rows}, x.dtype()) : Tensor(),
                  empty_tensor({rows}, x.dtype())};
  dispatch_floating(x.dtype(), center ? "layer_norm" : "rms_norm", [&]<class T>() {
    row_norm_forward<T>(x.data_ptr<T>(), ptr_or_null<T>(w), ptr_or_null<T>(b), out.output.data_ptr<T>(),
                        ptr_or_null<T>(out.mean), out.rstd.data_ptr<T>(), rows, cols, eps, center);
  });
  return out;
}

NormGrads row_norm_backward_reference(const Tensor& grad, const Tensor& x_in, const Tensor& mean, const Tensor& rstd,
                                      const Tensor& weight, int64_t cols, NormGradsWanted wanted, bool center) {
  Tensor x = contiguous_data(x_in), w = contiguous_data(weight);
  Tensor g = onednn::dense(grad, x.shape(), x.dtype());
  const int64_t rows = cols == 0 ? 0 : x.numel() / cols;
  NormGrads out;
  if (wanted.input) out.input = empty_tensor(x.shape(), x.dtype());
  if (wanted.weight) out.weight = empty_tensor({cols}, x.dtype());
  if (wanted.bias) out.bias = empty_tensor({cols}, x.dtype());
  dispatch_floating(x.dtype(), center ? "layer_norm_backward" : "rms_norm_backward", [&]<class T>() {
    row_norm_backward<T>(g.data_ptr<T>(), x.data_ptr<T>(), ptr_or_null<T>(mean), rstd.data_ptr<T>(), ptr_or_null<T>(w),
                         ptr_or_null<T>(out.input), ptr_or_null<T>(out.weight), ptr_or_null<T>(out.bias), rows, cols,
                         center);
  });
  return out;
}

// ---------------------------------------------------------------- layer norm on oneDNN (f32)

struct LayerNormForward {
  dnnl::layer_normalization_forward::primitive_desc pd;
  dnnl::layer_normalization_forward prim;
};
struct LayerNormBackward {
  dnnl::layer_normalization_backward::primitive_desc pd;
  dnnl::layer_normalization_backward prim;
};

dnnl::normalization_flags layer_norm_flags(bool scale, bool shift) {
  auto f = dnnl::normalization_flags::none;
  if (scale) f |= dnnl::normalization_flags::use_scale;
  if (shift) f |= dnnl::normalization_flags::use_shift;
  return f;
}

dnnl::layer_normalization_forward::primitive_desc layer_norm_forward_pd(int64_t rows, int64_t cols, float eps,
                                                                        dnnl::normalization_flags flags) {
  return {{dnnl::prop_kind::forward_training, onednn::f32_desc({rows, cols}), onednn::f32_desc({rows}), eps, flags},
          onednn::engine()};
}

bool layer_norm_onednn_eligible(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t cols,
                                int64_t min_elements) {
  auto f32_or_none = [](const Tensor& t) { return !t.defined() || t.dtype() == kFloat32; };
  return x.dtype() == kFloat32 && f32_or_none(weight) && f32_or_none(bias) && cols > 0 && x.numel() >= min_elements &&
         !use_reference_kernels();
}

NormForward layer_norm_onednn(const Tensor& x_in, const Tensor& weight, const Tensor& bias, int64_t cols, double eps) {
  ThreadBudget budget;
  static onednn::PrimitiveCache<LayerNormForward> cache;
  Tensor x = contiguous_data(x_in), w = contiguous_data(weight), b = contiguous_data(bias);
  const int64_t rows = x.numel() / cols;
  const float e = static_cast<float>(eps);
  const auto flags = layer_norm_flags(w.defined(), b.defined());
  auto entry = cache.get(onednn::make_key({0, rows, cols, onednn::key_bits(e), static_cast<int64_t>(flags)}), [&] {
    auto pd = layer_norm_forward_pd(rows, cols, e, flags);
    return LayerNormForward{pd, dnnl::layer_normalization_forward(pd)};
  });
  NormForward out{empty_tensor(x.shape(), kFloat32), empty_tensor({rows}, kFloat32), empty_tensor({rows}, kFloat32)};
  Tensor var = empty_tensor({rows}, kFloat32);
  auto data = onednn::f32_desc({rows, cols}), stat = onednn::f32_desc({rows}), param = onednn::f32_desc({cols});
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, onednn::wrap(data, x)},
                                             {DNNL_ARG_DST, onednn::wrap(data, out.output)},
                                             {DNNL_ARG_MEAN, onednn::wrap(stat, out.mean)},
                                             {DNNL_ARG_VARIANCE, onednn::wrap(stat, var)}};
  if (w.defined()) args.emplace(DNNL_ARG_SCALE, onednn::wrap(param, w));
  if (b.defined()) args.emplace(DNNL_ARG_SHIFT, onednn::wrap(param, b));
  entry->prim.execute(onednn::stream(), args);
  onednn::stream().wait();
  float* r = out.rstd.data_ptr<float>();
  const float* v = var.data_ptr<float>();
  for (int64_t i = 0; i < rows; ++i) r[i] = 1.f / std::sqrt(v[i] + e);
  return out;
}

NormGrads layer_norm_backward_onednn(const Tensor& grad, const Tensor& x_in, const Tensor& mean, const Tensor& rstd,
                                     const Tensor& weight, int64_t cols, double eps, NormGradsWanted wanted) {
  ThreadBudget budget;
  static onednn::PrimitiveCache<LayerNormBackward> cache;
  Tensor x = contiguous_data(x_in), w = contiguous_data(weight);
  Tensor g = onednn::dense(grad, x.shape(), kFloat32);
  const int64_t rows = x.numel() / cols;
  const float e = static_cast<float>(eps);
  // oneDNN computes scale and shift gradients together when either is used.
  const auto flags = layer_norm_flags(w.defined(), wanted.bias);
  auto entry = cache.get(onednn::make_key({1, rows, cols, onednn::key_bits(e), static_cast<int64_t>(flags)}), [&] {
    const auto prop = flags == dnnl::normalization_flags::none ? dnnl::prop_kind::backward_data : dnnl::prop_kind::backward;
    dnnl::layer_normalization_backward::primitive_desc pd(
        {prop, onednn::f32_desc({rows, cols}), onednn::f32_desc({rows, cols}), onednn::f32_desc({rows}), e, flags},
        onednn::engine(), layer_norm_forward_pd(rows, cols, e, flags));
    return LayerNormBackward{pd, dnnl::layer_normalization_backward(pd)};
  });
  // oneDNN wants the variance back: var = 1/rstd^2 - eps.
  Tensor var = empty_tensor({rows}, kFloat32);
  Tensor rs = contiguous_data(rstd), mu = contiguous_data(mean);
  const float* r = rs.data_ptr<float>();
  float* v = var.data_ptr<float>();
  for (int64_t i = 0; i < rows; ++i) v[i] = 1.f / (r[i] * r[i]) - e;
  NormGrads out;
  out.input = empty_tensor(x.shape(), kFloat32);  // oneDNN always computes it
  Tensor dscale = w.defined() ? empty_tensor({cols}, kFloat32) : Tensor();
  Tensor dshift = wanted.bias ? empty_tensor({cols}, kFloat32) : Tensor();
  auto data = onednn::f32_desc({rows, cols}), stat = onednn::f32_desc({rows}), param = onednn::f32_desc({cols});
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, onednn::wrap(data, x)},
                                             {DNNL_ARG_DIFF_DST, onednn::wrap(data, g)},
                                             {DNNL_ARG_MEAN, onednn::wrap(stat, mu)},
                                             {DNNL_ARG_VARIANCE, onednn::wrap(stat, var)},
                                             {DNNL_ARG_DIFF_SRC, onednn::wrap(data, out.input)}};
  if (w.defined()) {
    args.emplace(DNNL_ARG_SCALE, onednn::wrap(param, w));
    args.emplace(DNNL_ARG_DIFF_SCALE, onednn::wrap(param, dscale));
  }
  Tensor shift;  // use_shift makes the primitive read a shift, though the gradients do not depend on it
  if (wanted.bias) {
    shift = zeros({cols}, kFloat32);
    args.emplace(DNNL_ARG_SHIFT, onednn::wrap(param, shift));
    args.emplace(DNNL_ARG_DIFF_SHIFT, onednn::wrap(param, dshift));
  }
  entry->prim.execute(onednn::stream(), args);
  onednn::stream().wait();
  if (!wanted.input) out.input = Tensor();
  if (wanted.weight) out.weight = dscale;
  if (wanted.bias) out.bias = dshift;
  return out;
}

// ---------------------------------------------------------------- batch norm over [N, C, L] (reference)

struct BatchLayout {
  int64_t n, c, l;
};

BatchLayout batch_layout(const Tensor& x) {
  BatchLayout b{x.shape()[0], x.shape()[1], 1};
  for (int64_t d = 2; d < x.dim(); ++d) b.l *= x.shape()[d];
  return b;
}

// f(offset) for each of channel c's N runs of L elements, at offsets (n*C + c)*L.
template <class F>
void for_channel(const BatchLayout& b, int64_t c, F&& f) {
  for (int64_t n = 0; n < b.n; ++n) f((n * b.c + c) * b.l);
}

// bfloat16 and float16 normalise float32 copies (PyTorch computes them in float32 too): the outputs and
// gradients are rounded to the dtypes of what they belong to; the statistics stay float32.
bool is_half(const Tensor& x) { return is_reduced_floating(x.dtype()); }

NormForward rounded(NormForward f, DType dtype) {
  f.output = from_opmath(f.output, dtype);
  return f;
}

NormGrads rounded(NormGrads g, DType input, const Tensor& weight) {
  g.input = from_opmath(g.input, input);
  const DType param = weight.defined() ? weight.dtype() : input;
  g.weight = from_opmath(g.weight, param);
  g.bias = from_opmath(g.bias, param);
  return g;
}

}  // namespace

NormForward layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t cols, double eps) {
  if (is_half(x)) return rounded(layer_norm_forward(to_opmath(x), to_opmath(weight), to_opmath(bias), cols, eps), x.dtype());
  if (layer_norm_onednn_eligible(x, weight, bias, cols, kOneDnnLayerNormMinElements))
    return layer_norm_onednn(x, weight, bias, cols, eps);
  return row_norm_reference(x, weight, bias, cols, eps, true);
}

NormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                              const Tensor& weight, int64_t cols, double eps, NormGradsWanted wanted) {
  if (is_half(x))
    return rounded(layer_norm_backward(to_opmath(grad), to_opmath(x), to_opmath(mean), to_opmath(rstd),
                                       to_opmath(weight), cols, eps, wanted),
                   x.dtype(), weight);
  if (layer_norm_onednn_eligible(x, weight, Tensor(), cols, kOneDnnLayerNormBackwardMinElements) &&
      mean.dtype() == kFloat32)
    return layer_norm_backward_onednn(grad, x, mean, rstd, weight, cols, eps, wanted);
  return row_norm_backward_reference(grad, x, mean, rstd, weight, cols, wanted, true);
}

NormForward rms_norm_forward(const Tensor& x, const Tensor& weight, int64_t cols, double eps) {
  if (is_half(x)) return rounded(rms_norm_forward(to_opmath(x), to_opmath(weight), cols, eps), x.dtype());
  return row_norm_reference(x, weight, Tensor(), cols, eps, false);
}

NormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& rstd, const Tensor& weight, int64_t cols,
                            NormGradsWanted wanted) {
  if (is_half(x))
    return rounded(rms_norm_backward(to_opmath(grad), to_opmath(x), to_opmath(rstd), to_opmath(weight), cols, wanted),
                   x.dtype(), weight);
  wanted.bias = false;
  return row_norm_backward_reference(grad, x, Tensor(), rstd, weight, cols, wanted, false);
}

ChannelStatistics batch_norm_statistics(const Tensor& x_in) {
  if (is_half(x_in)) return batch_norm_statistics(to_opmath(x_in));  // float32 statistics
  Tensor x = contiguous_data(x_in);
  const BatchLayout b = batch_layout(x);
  ChannelStatistics out{empty_tensor({b.c}, x.dtype()), empty_tensor({b.c}, x.dtype())};
  const double count = static_cast<double>(b.n * b.l);
  dispatch_floating(x.dtype(), "batch_norm", [&]<class T>() {
    const T* xp = x.data_ptr<T>();
    T *mean = out.mean.data_ptr<T>(), *var = out.var.data_ptr<T>();
    parallel_for(b.c, x.numel() * 2, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0;
        for_channel(b, c, [&](int64_t off) {
          for (int64_t i = 0; i < b.l; ++i) s += xp[off + i];
        });
        const double mu = s / count;
        double ss = 0;
        for_channel(b, c, [&](int64_t off) {
          for (int64_t i = 0; i < b.l; ++i) {
            const double d = xp[off + i] - mu;
            ss += d * d;
          }
        });
        mean[c] = static_cast<T>(mu);
        var[c] = static_cast<T>(ss / count);
      }
    });
  });
  return out;
}

Tensor batch_norm_forward(const Tensor& x_in, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                          const Tensor& bias) {
  if (is_half(x_in))
    return from_opmath(batch_norm_forward(to_opmath(x_in), to_opmath(mean), to_opmath(rstd), to_opmath(weight),
                                          to_opmath(bias)),
                       x_in.dtype());
  Tensor x = contiguous_data(x_in), w = contiguous_data(weight), bb = contiguous_data(bias);
  Tensor m = contiguous_data(mean), r = contiguous_data(rstd);
  const BatchLayout b = batch_layout(x);
  Tensor y = empty_tensor(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "batch_norm", [&]<class T>() {
    const T *xp = x.data_ptr<T>(), *mp = m.data_ptr<T>(), *rp = r.data_ptr<T>();
    const T *wp = ptr_or_null<T>(w), *bp = ptr_or_null<T>(bb);
    T* yp = y.data_ptr<T>();
    parallel_for(b.n * b.c, x.numel(), [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; ++row) {
        const int64_t c = row % b.c;
        const T scale = rp[c] * (wp ? wp[c] : T(1)), shift = (bp ? bp[c] : T(0)) - mp[c] * scale;
        const T* xr = xp + row * b.l;
        T* yr = yp + row * b.l;
        for (int64_t i = 0; i < b.l; ++i) yr[i] = xr[i] * scale + shift;
      }
    });
  });
  return y;
}

NormGrads batch_norm_backward(const Tensor& grad, const Tensor& x_in, const Tensor& mean, const Tensor& rstd,
                              const Tensor& weight, bool training, NormGradsWanted wanted) {
  if (is_half(x_in))
    return rounded(batch_norm_backward(to_opmath(grad), to_opmath(x_in), to_opmath(mean), to_opmath(rstd),
                                       to_opmath(weight), training, wanted),
                   x_in.dtype(), weight);
  Tensor x = contiguous_data(x_in), w = contiguous_data(weight), m = contiguous_data(mean), r = contiguous_data(rstd);
  Tensor g = onednn::dense(grad, x.shape(), x.dtype());
  const BatchLayout b = batch_layout(x);
  NormGrads out;
  if (wanted.input) out.input = empty_tensor(x.shape(), x.dtype());
  Tensor sum_g = empty_tensor({b.c}, x.dtype()), sum_g_xhat = empty_tensor({b.c}, x.dtype());
  const double count = static_cast<double>(b.n * b.l);
  dispatch_floating(x.dtype(), "batch_norm_backward", [&]<class T>() {
    const T *gp = g.data_ptr<T>(), *xp = x.data_ptr<T>(), *mp = m.data_ptr<T>(), *rp = r.data_ptr<T>();
    const T* wp = ptr_or_null<T>(w);
    T *sg = sum_g.data_ptr<T>(), *sgx = sum_g_xhat.data_ptr<T>();
    parallel_for(b.c, x.numel() * 2, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0, sx = 0;
        for_channel(b, c, [&](int64_t off) {
          for (int64_t i = 0; i < b.l; ++i) {
            s += gp[off + i];
            sx += gp[off + i] * ((xp[off + i] - mp[c]) * rp[c]);
          }
        });
        sg[c] = static_cast<T>(s);
        sgx[c] = static_cast<T>(sx);
      }
    });
    if (!wanted.input) return;
    T* dx = out.input.data_ptr<T>();
    parallel_for(b.n * b.c, x.numel() * 2, [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; ++row) {
        const int64_t c = row % b.c;
        const T k = rp[c] * (wp ? wp[c] : T(1));
        const T *gr = gp + row * b.l, *xr = xp + row * b.l;
        T* o = dx + row * b.l;
        if (training) {
          // d/dx of (x - mean(x)) * rstd(x): the batch statistics' own gradients take out the mean of g
          // and its projection on xhat.
          const T mean_g = static_cast<T>(sg[c] / count), mean_gx = static_cast<T>(sgx[c] / count);
          for (int64_t i = 0; i < b.l; ++i) o[i] = k * (gr[i] - mean_g - (xr[i] - mp[c]) * rp[c] * mean_gx);
        } else {
          for (int64_t i = 0; i < b.l; ++i) o[i] = k * gr[i];
        }
      }
    });
  });
  if (wanted.weight) out.weight = sum_g_xhat;
  if (wanted.bias) out.bias = sum_g;
  return out;
}

}  // namespace graft::kernels
