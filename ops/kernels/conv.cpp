#include "graft/ops/kernels/conv.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/fold.h"
#include "graft/ops/kernels/loops.h"
#include "graft/ops/kernels/onednn_primitives.h"

namespace graft::kernels {

namespace {

// The sizes of one convolution, read from its tensors.
struct ConvShape {
  int64_t n, c, h, w;     // input
  int64_t o, kh, kw;      // weights (O, C / groups, KH, KW)
  int64_t oh, ow;         // output
  int64_t cg, og;         // channels per group, in and out
};

ConvShape shape_of(const Tensor& x, const Tensor& w, const Tensor& y, int64_t groups) {
  const Shape &xs = x.shape(), &ws = w.shape(), &ys = y.shape();
  return {xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], ys[2], ys[3], ws[1], ws[0] / groups};
}

// ---------------------------------------------------------------- reference loops
//
// Each loop walks one output plane per task and, for every kernel tap, adds a shifted row of one operand to
// it: the inner loop runs along a row with unit stride in the output.

template <class T>
void forward_loops(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g, const Tensor& y) {
  const ConvShape s = shape_of(x, w, y, g.groups);
  const T *xp = x.data_ptr<T>(), *wp = w.data_ptr<T>(), *bp = bias.defined() ? bias.data_ptr<T>() : nullptr;
  T* yp = y.data_ptr<T>();
  parallel_for(s.n * s.o, y.numel() * s.cg * s.kh * s.kw, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / s.o, o = p % s.o, c0 = (o / s.og) * s.cg;
      T* out = yp + p * s.oh * s.ow;
      const T b = bp ? bp[o] : T(0);
      for (int64_t i = 0; i < s.oh * s.ow; ++i) out[i] = b;
      for (int64_t c = 0; c < s.cg; ++c) {
        const T* in = xp + (n * s.c + c0 + c) * s.h * s.w;
        for (int64_t kh = 0; kh < s.kh; ++kh)
          for (int64_t kw = 0; kw < s.kw; ++kw) {
            const T wv = wp[((o * s.cg + c) * s.kh + kh) * s.kw + kw];
            const int64_t off_w = kw * g.dilation[1] - g.padding[1];
            const ColumnRange cols = valid_columns(s.w, s.ow, g.stride[1], off_w);
            for (int64_t oh = 0; oh < s.oh; ++oh) {
              const int64_t ih = oh * g.stride[0] - g.padding[0] + kh * g.dilation[0];
              if (ih < 0 || ih >= s.h) continue;
              const T* row = in + ih * s.w + off_w;
              T* orow = out + oh * s.ow;
              for (int64_t ow = cols.begin; ow < cols.end; ++ow) orow[ow] += wv * row[ow * g.stride[1]];
            }
          }
      }
    }
  });
}

template <class T>
void backward_data_loops(const Tensor& gy, const Tensor& w, const ConvGeometry& g, const Tensor& gx) {
  const ConvShape s = shape_of(gx, w, gy, g.groups);
  const T *gyp = gy.data_ptr<T>(), *wp = w.data_ptr<T>();
  T* gxp = gx.data_ptr<T>();
  parallel_for(s.n * s.c, gy.numel() * s.cg * s.kh * s.kw, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / s.c, c = p % s.c, group = c / s.cg, ci = c % s.cg;
      T* in = gxp + p * s.h * s.w;
      for (int64_t i = 0; i < s.h * s.w; ++i) in[i] = T(0);
      for (int64_t o = group * s.og; o < (group + 1) * s.og; ++o) {
        const T* out = gyp + (n * s.o + o) * s.oh * s.ow;
        for (int64_t kh = 0; kh < s.kh; ++kh)
          for (int64_t kw = 0; kw < s.kw; ++kw) {
            const T wv = wp[((o * s.cg + ci) * s.kh + kh) * s.kw + kw];
            const int64_t off_w = kw * g.dilation[1] - g.padding[1];
            const ColumnRange cols = valid_columns(s.w, s.ow, g.stride[1], off_w);
            for (int64_t oh = 0; oh < s.oh; ++oh) {
              const int64_t ih = oh * g.stride[0] - g.padding[0] + kh * g.dilation[0];
              if (ih < 0 || ih >= s.h) continue;
              T* row = in + ih * s.w + off_w;
              const T* orow = out + oh * s.ow;
              for (int64_t ow = cols.begin; ow < cols.end; ++ow) row[ow * g.stride[1]] += wv * orow[ow];
            }
          }
      }
    }
  });
}

template <class T>
void backward_weights_loops(const Tensor& x, const Tensor& gy, const ConvGeometry& g, const Tensor& gw,
                            const Tensor& gbias) {
  const T *xp = x.data_ptr<T>(), *gyp = gy.data_ptr<T>();
  if (gw.defined()) {
    const ConvShape s = shape_of(x, gw, gy, g.groups);
    T* gwp = gw.data_ptr<T>();
    parallel_for(s.o * s.cg, gy.numel() * s.cg * s.kh * s.kw, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t o = p / s.cg, c = (o / s.og) * s.cg + p % s.cg;
        for (int64_t kh = 0; kh < s.kh; ++kh)
          for (int64_t kw = 0; kw < s.kw; ++kw) {
            const int64_t off_w = kw * g.dilation[1] - g.padding[1];
            const ColumnRange cols = valid_columns(s.w, s.ow, g.stride[1], off_w);
            double acc = 0;
            for (int64_t n = 0; n < s.n; ++n) {
              const T* in = xp + (n * s.c + c) * s.h * s.w;
              const T* out = gyp + (n * s.o + o) * s.oh * s.ow;
              for (int64_t oh = 0; oh < s.oh; ++oh) {
                const int64_t ih = oh * g.stride[0] - g.padding[0] + kh * g.dilation[0];
                if (ih < 0 || ih >= s.h) continue;
                const T* row = in + ih * s.w + off_w;
                const T* orow = out + oh * s.ow;
                for (int64_t ow = cols.begin; ow < cols.end; ++ow) acc += orow[ow] * row[ow * g.stride[1]];
              }
            }
            gwp[(p * s.kh + kh) * s.kw + kw] = static_cast<T>(acc);
          }
      }
    });
  }
  if (gbias.defined()) {
    T* gbp = gbias.data_ptr<T>();
    const int64_t o_count = gy.shape()[1], plane = gy.shape()[2] * gy.shape()[3];
    for (int64_t o = 0; o < o_count; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < gy.shape()[0]; ++n) {
        const T* out = gyp + (n * o_count + o) * plane;
        for (int64_t i = 0; i < plane; ++i) acc += out[i];
      }
      gbp[o] = static_cast<T>(acc);
    }
  }
}

// ---------------------------------------------------------------- float32 weight gradient, one input channel
//
// A network's first layer on grey images has one input channel. oneDNN's direct kernels pad the channels to a
// block of 8 there, and its weight gradient did 8 times the work: 5.6-11 ms for the CNN's first layer (1 -> 32
// channels, 3 x 3, 28 x 28, batch 128) against 1.8-2.3 ms here. Per sample, the input plane is unfolded into
// its (KH KW) x (OH OW) columns, which stay in L1, and each weight's gradient adds a dot product of an
// output-gradient plane with one column row. Samples are taken in fixed chunks whose partial sums are added in
// chunk order, so the result does not depend on the thread count. Measured and left to oneDNN: the forward
// of that layer (the same 2.2 ms this way: writing the output is the cost) and the weight gradient of longer
// reductions (per-sample GEMMs for the second layer, 32 -> 64 channels, took 19.4 ms against oneDNN's
// 16.5-19.4 with its reorders).

constexpr int64_t kSamplesPerChunk = 8;

// Whether the column kernel serves this convolution (float32; see above). Depthwise convolutions (one channel
// per group) stay on oneDNN, which has kernels of their own for them.
bool one_input_channel(const ConvShape& s, int64_t groups) { return s.c == 1 && groups == 1 && s.kh * s.kw <= 64; }

constexpr int64_t kTapBlock = 4, kFloatLanes = 8;

// Eight floats as one value (GCC's and clang's vector extension): one AVX register, or two SSE ones.
using Lanes = float __attribute__((vector_size(kFloatLanes * sizeof(float))));
inline Lanes load_lanes(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline float sum_lanes(Lanes v) {
  float sum = 0.f;
  for (int64_t j = 0; j < kFloatLanes; ++j) sum += v[j];
  return sum;
}

// out[t] += <grad, columns[t]> for t < taps, and *bias_out += the sum of grad, over planes of `plane` values.
// Four taps at a time in four vector sums: the gradient is loaded once per four products, and independent
// sums hide the additions' latency.
void add_plane_products(const float* grad, const float* columns, int64_t padded_taps, int64_t plane, float* out,
                        int64_t taps, float* bias_out) {
  const int64_t whole = plane / kFloatLanes * kFloatLanes;
  for (int64_t t0 = 0; t0 < padded_taps; t0 += kTapBlock) {
    const float *c0 = columns + t0 * plane, *c1 = c0 + plane, *c2 = c1 + plane, *c3 = c2 + plane;
    Lanes a0{}, a1{}, a2{}, a3{};
    for (int64_t i = 0; i < whole; i += kFloatLanes) {
      const Lanes g = load_lanes(grad + i);
      a0 += g * load_lanes(c0 + i);
      a1 += g * load_lanes(c1 + i);
      a2 += g * load_lanes(c2 + i);
      a3 += g * load_lanes(c3 + i);
    }
    const Lanes sums[kTapBlock] = {a0, a1, a2, a3};
    for (int64_t k = 0; k < kTapBlock && t0 + k < taps; ++k) {
      float sum = sum_lanes(sums[k]);
      for (int64_t i = whole; i < plane; ++i) sum += grad[i] * columns[(t0 + k) * plane + i];
      out[t0 + k] += sum;
    }
  }
  if (bias_out) {
    Lanes lanes{};
    for (int64_t i = 0; i < whole; i += kFloatLanes) lanes += load_lanes(grad + i);
    float sum = sum_lanes(lanes);
    for (int64_t i = whole; i < plane; ++i) sum += grad[i];
    *bias_out += sum;
  }
}

void backward_weights_by_columns(const Tensor& x, const Tensor& gy, const ConvGeometry& g, const Tensor& gw,
                                 const Tensor& gbias) {
  const ConvShape s = shape_of(x, gw, gy, g.groups);
  const int64_t taps = s.kh * s.kw, plane = s.oh * s.ow;
  const int64_t padded_taps = (taps + kTapBlock - 1) / kTapBlock * kTapBlock;
  const int64_t chunks = (s.n + kSamplesPerChunk - 1) / kSamplesPerChunk;
  const int64_t per_chunk = s.o * taps + s.o;  // the weights' sums, then the bias's
  std::vector<float> partial(static_cast<size_t>(chunks * per_chunk), 0.f);
  const BlockGeometry blocks{{s.kh, s.kw}, g.stride, g.padding, g.dilation, {s.oh, s.ow}};
  const float *xp = x.data_ptr<float>(), *gyp = gy.data_ptr<float>();
  parallel_for(chunks, s.n * s.o * taps * plane, [&](int64_t k0, int64_t k1) {
    std::vector<float> columns(static_cast<size_t>(padded_taps * plane), 0.f);  // rows past `taps` stay 0
    for (int64_t k = k0; k < k1; ++k) {
      float* acc = partial.data() + k * per_chunk;
      for (int64_t n = k * kSamplesPerChunk; n < std::min(s.n, (k + 1) * kSamplesPerChunk); ++n) {
        im2col_plane(xp + n * s.h * s.w, s.h, s.w, blocks, columns.data());
        for (int64_t o = 0; o < s.o; ++o)
          add_plane_products(gyp + (n * s.o + o) * plane, columns.data(), padded_taps, plane, acc + o * taps, taps,
                             gbias.defined() ? acc + s.o * taps + o : nullptr);
      }
    }
  });
  for (int64_t k = 1; k < chunks; ++k)
    for (int64_t i = 0; i < per_chunk; ++i)
      partial[static_cast<size_t>(i)] += partial[static_cast<size_t>(k * per_chunk + i)];
  std::copy(partial.begin(), partial.begin() + s.o * taps, gw.data_ptr<float>());
  if (gbias.defined()) std::copy(partial.begin() + s.o * taps, partial.begin() + per_chunk, gbias.data_ptr<float>());
}

// ---------------------------------------------------------------- oneDNN (float32)

using dnnl::memory;
namespace onednn = kernels::onednn;

memory::dims dims_of(const Tensor& t) { return memory::dims(t.shape().begin(), t.shape().end()); }

// The weights as oneDNN sees them: (O, C/g, KH, KW), or (G, O/G, C/g, KH, KW) with groups.
memory::desc plain_weights(const Tensor& w, int64_t groups) {
  const Shape& s = w.shape();
  if (groups == 1) return memory::desc(dims_of(w), memory::data_type::f32, memory::format_tag::oihw);
  return memory::desc({groups, s[0] / groups, s[1], s[2], s[3]}, memory::data_type::f32, memory::format_tag::goihw);
}

memory::desc any_like(const memory::desc& plain) {
  return memory::desc(plain.dims(), memory::data_type::f32, memory::format_tag::any);
}

// oneDNN's view of the geometry: dilation counts the gaps (0 = none), and the padding after the last row
// and column is explicit (it follows from the sizes, and may be negative for a transposed convolution's
// output_padding).
struct OneDnnGeometry {
  memory::dims strides, dilates, pad_l, pad_r;
};

OneDnnGeometry onednn_geometry(const ConvShape& s, const ConvGeometry& g) {
  auto pad_r = [&](int i, int64_t in, int64_t out, int64_t k) {
    return (out - 1) * g.stride[i] + (k - 1) * g.dilation[i] + 1 - in - g.padding[i];
  };
  return {{g.stride[0], g.stride[1]},
          {g.dilation[0] - 1, g.dilation[1] - 1},
          {g.padding[0], g.padding[1]},
          {pad_r(0, s.h, s.oh, s.kh), pad_r(1, s.w, s.ow, s.kw)}};
}

onednn::PrimitiveKey conv_key(int kind, const ConvShape& s, const ConvGeometry& g, bool bias) {
  return onednn::make_key({kind, s.n, s.c, s.h, s.w, s.o, s.kh, s.kw, s.oh, s.ow, g.stride[0], g.stride[1], g.padding[0],
                           g.padding[1], g.dilation[0], g.dilation[1], g.groups, bias});
}

dnnl::convolution_forward::primitive_desc forward_pd(const memory::desc& src, const memory::desc& weights,
                                                     const memory::desc* bias, const memory::desc& dst,
                                                     const OneDnnGeometry& geo) {
  if (bias)
    return {{dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any_like(src), any_like(weights),
             *bias, any_like(dst), geo.strides, geo.dilates, geo.pad_l, geo.pad_r},
            onednn::engine()};
  return {{dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any_like(src), any_like(weights),
           any_like(dst), geo.strides, geo.dilates, geo.pad_l, geo.pad_r},
          onednn::engine()};
}

// A cached primitive with the layouts it chose for its three tensor arguments. `usable` is false when
// oneDNN has no implementation for the case (e.g. a negative padding it does not support); the reference
// loops run then.
struct ConvPrimitive {
  bool usable = false;
  dnnl::primitive prim;
  onednn::Port a, b, c;  // forward: src, weights, dst; backward data: diff_dst, weights, diff_src;
                         // backward weights: src, diff_dst, diff_weights
};

template <class Make>
std::shared_ptr<const ConvPrimitive> cached(onednn::PrimitiveCache<ConvPrimitive>& cache, const onednn::PrimitiveKey& key,
                                            Make&& make) {
  return cache.get(key, [&] {
    try {
      return make();
    } catch (const dnnl::error&) {
      return ConvPrimitive{};
    }
  });
}

bool onednn_eligible(std::initializer_list<const Tensor*> tensors) {
  if (use_reference_kernels()) return false;
  for (const Tensor* t : tensors)
    if (t->defined() && (t->dtype() != kFloat32 || t->numel() == 0)) return false;
  return true;
}

bool forward_onednn(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g, const Tensor& y) {
  ThreadBudget budget;
  static onednn::PrimitiveCache<ConvPrimitive> cache;
  const ConvShape s = shape_of(x, w, y, g.groups);
  const memory::desc src = onednn::f32_desc(dims_of(x)), dst = onednn::f32_desc(dims_of(y)),
                     weights = plain_weights(w, g.groups), bias_md = onednn::f32_desc({s.o});
  auto entry = cached(cache, conv_key(0, s, g, bias.defined()), [&] {
    auto pd = forward_pd(src, weights, bias.defined() ? &bias_md : nullptr, dst, onednn_geometry(s, g));
    return ConvPrimitive{true, dnnl::convolution_forward(pd), onednn::Port::input(src, pd.src_desc()),
                         onednn::Port::input(weights, pd.weights_desc()), onednn::Port::output(dst, pd.dst_desc())};
  });
  if (!entry->usable) return false;
  onednn::Bindings bind;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bind.input(entry->a, x)},
                                       {DNNL_ARG_WEIGHTS, bind.input(entry->b, w)},
                                       {DNNL_ARG_DST, bind.output(entry->c, y)}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, onednn::wrap(bias_md, bias));
  entry->prim.execute(onednn::stream(), args);
  bind.finish();
  return true;
}

bool backward_data_onednn(const Tensor& gy, const Tensor& w, const ConvGeometry& g, const Tensor& gx) {
  ThreadBudget budget;
  static onednn::PrimitiveCache<ConvPrimitive> cache;
  const ConvShape s = shape_of(gx, w, gy, g.groups);
  const memory::desc src = onednn::f32_desc(dims_of(gx)), dst = onednn::f32_desc(dims_of(gy)),
                     weights = plain_weights(w, g.groups);
  auto entry = cached(cache, conv_key(1, s, g, false), [&] {
    const OneDnnGeometry geo = onednn_geometry(s, g);
    dnnl::convolution_backward_data::primitive_desc pd(
        {dnnl::algorithm::convolution_direct, any_like(src), any_like(weights), any_like(dst), geo.strides, geo.dilates,
         geo.pad_l, geo.pad_r},
        onednn::engine(), forward_pd(src, weights, nullptr, dst, geo));
    return ConvPrimitive{true, dnnl::convolution_backward_data(pd), onednn::Port::input(dst, pd.diff_dst_desc()),
                         onednn::Port::input(weights, pd.weights_desc()),
                         onednn::Port::output(src, pd.diff_src_desc())};
  });
  if (!entry->usable) return false;
  onednn::Bindings bind;
  entry->prim.execute(onednn::stream(), {{DNNL_ARG_DIFF_DST, bind.input(entry->a, gy)},
                                         {DNNL_ARG_WEIGHTS, bind.input(entry->b, w)},
                                         {DNNL_ARG_DIFF_SRC, bind.output(entry->c, gx)}});
  bind.finish();
  return true;
}

bool backward_weights_onednn(const Tensor& x, const Tensor& gy, const ConvGeometry& g, const Tensor& gw,
                             const Tensor& gbias) {
  ThreadBudget budget;
  static onednn::PrimitiveCache<ConvPrimitive> cache;
  const ConvShape s = shape_of(x, gw, gy, g.groups);
  const bool with_bias = gbias.defined();
  const memory::desc src = onednn::f32_desc(dims_of(x)), dst = onednn::f32_desc(dims_of(gy)),
                     weights = plain_weights(gw, g.groups), bias_md = onednn::f32_desc({s.o});
  auto entry = cached(cache, conv_key(2, s, g, with_bias), [&] {
    const OneDnnGeometry geo = onednn_geometry(s, g);
    const auto hint = forward_pd(src, weights, with_bias ? &bias_md : nullptr, dst, geo);
    auto pd = with_bias ? dnnl::convolution_backward_weights::primitive_desc(
                              {dnnl::algorithm::convolution_direct, any_like(src), any_like(weights), bias_md,
                               any_like(dst), geo.strides, geo.dilates, geo.pad_l, geo.pad_r},
                              onednn::engine(), hint)
                        : dnnl::convolution_backward_weights::primitive_desc(
                              {dnnl::algorithm::convolution_direct, any_like(src), any_like(weights), any_like(dst),
                               geo.strides, geo.dilates, geo.pad_l, geo.pad_r},
                              onednn::engine(), hint);
    return ConvPrimitive{true, dnnl::convolution_backward_weights(pd), onednn::Port::input(src, pd.src_desc()),
                         onednn::Port::input(dst, pd.diff_dst_desc()),
                         onednn::Port::output(weights, pd.diff_weights_desc())};
  });
  if (!entry->usable) return false;
  onednn::Bindings bind;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bind.input(entry->a, x)},
                                       {DNNL_ARG_DIFF_DST, bind.input(entry->b, gy)},
                                       {DNNL_ARG_DIFF_WEIGHTS, bind.output(entry->c, gw)}};
  if (with_bias) args.emplace(DNNL_ARG_DIFF_BIAS, onednn::wrap(bias_md, gbias));
  entry->prim.execute(onednn::stream(), args);
  bind.finish();
  return true;
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g, const Tensor& y) {
  if (onednn_eligible({&x, &w, &bias, &y}) && forward_onednn(x, w, bias, g, y)) return;
  dispatch_floating(x.dtype(), "conv", [&]<class T>() { forward_loops<T>(x, w, bias, g, y); });
}

void conv2d_backward_data(const Tensor& gy, const Tensor& w, const ConvGeometry& g, const Tensor& gx) {
  if (onednn_eligible({&gy, &w, &gx}) && backward_data_onednn(gy, w, g, gx)) return;
  dispatch_floating(gx.dtype(), "conv_backward_data", [&]<class T>() { backward_data_loops<T>(gy, w, g, gx); });
}

void conv2d_backward_weights(const Tensor& x, const Tensor& gy, const ConvGeometry& g, const Tensor& gw,
                             const Tensor& gbias) {
  if (gw.defined() && onednn_eligible({&x, &gy, &gw, &gbias})) {
    if (one_input_channel(shape_of(x, gw, gy, g.groups), g.groups)) return backward_weights_by_columns(x, gy, g, gw, gbias);
    if (backward_weights_onednn(x, gy, g, gw, gbias)) return;
  }
  dispatch_floating(gy.dtype(), "conv_backward_weights",
                    [&]<class T>() { backward_weights_loops<T>(x, gy, g, gw, gbias); });
}

}  // namespace graft::kernels
