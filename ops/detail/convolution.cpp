#include "graft/ops/detail/convolution.h"

#include "graft/graph/copy.h"
#include "graft/graph/loops.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/conv.h"
#include "graft/ops/reduction.h"

namespace graft::detail {

namespace {

// `t` (N, C, *spatial) or a weight (O, C / groups, *kernel) as the contiguous 4-D tensor the kernels take:
// one spatial dim becomes a height of 1.
Tensor as_4d(const Tensor& t) {
  Tensor c = t.is_contiguous() ? t : loops::contiguous_copy(t);
  if (c.dim() == 4) return c;
  const Shape s{c.shape()[0], c.shape()[1], 1, c.shape()[2]};
  return make_view(c, s, contiguous_strides(s), c.storage_offset());
}

kernels::ConvGeometry geometry(const ConvParams& p) {
  if (p.spatial == 2) return {p.stride, p.padding, p.dilation, p.groups};
  return {{1, p.stride[0]}, {0, p.padding[0]}, {1, p.dilation[0]}, p.groups};
}

Shape spatial_of(const Tensor& t) { return Shape(t.shape().begin() + 2, t.shape().end()); }

// The dims a bias gradient sums over: the batch and the spatial dims.
std::vector<int64_t> bias_dims(const ConvParams& p) {
  return p.spatial == 2 ? std::vector<int64_t>{0, 2, 3} : std::vector<int64_t>{0, 2};
}

Tensor contiguous_or_none(const Tensor& t) {
  return !t.defined() || t.is_contiguous() ? t : loops::contiguous_copy(t);
}

// y[:, c] += b[c] for every channel c.
void add_channel_bias(const Tensor& y, const Tensor& bias) {
  const Tensor b = contiguous_or_none(bias);
  const int64_t channels = y.shape()[1], plane = channels == 0 ? 0 : y.numel() / (y.shape()[0] * channels);
  dispatch_floating(y.dtype(), "conv_transpose", [&]<class T>() {
    T* yp = y.data_ptr<T>();
    const T* bp = b.data_ptr<T>();
    loops::parallel_for(y.shape()[0] * channels, y.numel(), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t i = 0; i < plane; ++i) yp[r * plane + i] += bp[r % channels];
    });
  });
}

// C's gradients in w and b for the gradient gy of its output. Without recording, one kernel computes both.
std::pair<Tensor, Tensor> weight_and_bias_grads(const Tensor& x, const Tensor& gy, const ConvParams& p,
                                                IntList weight_shape, bool want_weight, bool want_bias) {
  if (!want_weight && !want_bias) return {};
  if (autograd::needs_recording({x, gy}))
    return {want_weight ? convolution_weight(x, gy, p, weight_shape) : Tensor(),
            want_bias ? sum(gy, bias_dims(p)) : Tensor()};
  Tensor gw = want_weight ? empty_tensor(weight_shape, gy.dtype()) : Tensor();
  Tensor gb = want_bias ? empty_tensor({gy.shape()[1]}, gy.dtype()) : Tensor();
  kernels::conv2d_backward_weights(as_4d(x), as_4d(gy), geometry(p), want_weight ? as_4d(gw) : Tensor(), gb);
  return {gw, gb};
}

}  // namespace

Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p) {
  Shape out_shape{x.shape()[0], w.shape()[0]};
  for (int i = 0; i < p.spatial; ++i) out_shape.push_back(p.output_size(i, x.shape()[2 + i], w.shape()[2 + i]));
  Tensor y = empty_tensor(out_shape, x.dtype());
  kernels::conv2d_forward(as_4d(x), as_4d(w), contiguous_or_none(b), geometry(p), as_4d(y));
  if (auto node = make_node("ConvolutionBackward0", {x, w, b}, [p](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), w = n.saved(1);
        Tensor gx = n.needs_input_grad(0) ? convolution_transpose(g[0], w, {}, p, spatial_of(x)) : Tensor();
        auto [gw, gb] = weight_and_bias_grads(x, g[0], p, w.shape(), n.needs_input_grad(1), n.needs_input_grad(2));
        return {gx, gw, gb};
      })) {
    set_history(y, node);
    node->save(x);
    node->save(w);
  }
  return y;
}

Tensor convolution_transpose(const Tensor& gy, const Tensor& w, const Tensor& b, const ConvParams& p,
                             IntList input_spatial) {
  Shape out_shape{gy.shape()[0], w.shape()[1] * p.groups};
  for (int64_t s : input_spatial) out_shape.push_back(s);
  Tensor gx = empty_tensor(out_shape, gy.dtype());
  kernels::conv2d_backward_data(as_4d(gy), as_4d(w), geometry(p), as_4d(gx));
  if (b.defined()) add_channel_bias(gx, b);
  if (auto node = make_node("ConvolutionBackward0", {gy, w, b}, [p](Node& n, GradList& g) -> GradList {
        Tensor gy = n.saved(0), w = n.saved(1);
        const Tensor& gg = g[0];
        Tensor g_gy = n.needs_input_grad(0) ? convolution(gg, w, {}, p) : Tensor();
        Tensor g_w = weight_and_bias_grads(gg, gy, p, w.shape(), n.needs_input_grad(1), false).first;
        Tensor g_b = n.needs_input_grad(2) ? sum(gg, bias_dims(p)) : Tensor();
        return {g_gy, g_w, g_b};
      })) {
    set_history(gx, node);
    node->save(gy);
    node->save(w);
  }
  return gx;
}

Tensor convolution_weight(const Tensor& x, const Tensor& gy, const ConvParams& p, IntList weight_shape) {
  Tensor gw = empty_tensor(weight_shape, gy.dtype());
  kernels::conv2d_backward_weights(as_4d(x), as_4d(gy), geometry(p), as_4d(gw), Tensor());
  if (auto node = make_node("ConvolutionBackwardWeight0", {x, gy}, [p](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), gy = n.saved(1);
        const Tensor& ggw = g[0];
        return {n.needs_input_grad(0) ? convolution_transpose(gy, ggw, {}, p, spatial_of(x)) : Tensor(),
                n.needs_input_grad(1) ? convolution(x, ggw, {}, p) : Tensor()};
      })) {
    set_history(gw, node);
    node->save(x);
    node->save(gy);
  }
  return gw;
}

}  // namespace graft::detail
