#include "graft/ops/pooling.h"

#include <fmt/format.h>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/detail/spatial_args.h"
#include "graft/ops/indexing.h"
#include "graft/ops/kernels/pooling.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;
using kernels::PoolWindows;

namespace {

// One pooling: its windows, and the shapes of its input and output (any batch dims, then the spatial ones).
struct PoolSpec {
  PoolWindows windows;
  int spatial = 2;
  Shape in_shape, out_shape;
};

// `t` of shape (*, H, W) or (*, L) as the contiguous (P, H, W) planes the kernels take (L: H = 1).
Tensor as_planes(const Tensor& t, int spatial) {
  Tensor c = t.is_contiguous() ? t : loops::contiguous_copy(t);
  const int64_t w = c.shape()[c.dim() - 1], h = spatial == 2 ? c.shape()[c.dim() - 2] : 1;
  const Shape planes{h * w == 0 ? 0 : c.numel() / (h * w), h, w};
  return make_view(c, planes, contiguous_strides(planes), c.storage_offset());
}

// The shape and windows checks every pooling shares; returns the spatial sizes of the input. Only the batch
// dim may be empty, and the channels too when `empty_channels_allowed` (PyTorch's adaptive_avg_pool2d checks
// the spatial dims alone).
std::array<int64_t, 2> check_input(const char* op, const Tensor& input, int spatial, bool empty_channels_allowed = false) {
  check_defined(op, "input", input);
  GRAFT_CHECK(input.dim() == spatial + 1 || input.dim() == spatial + 2,
              "{}: expected a {}-D (unbatched) or {}-D (batched) input, got shape {}", op, spatial + 1, spatial + 2,
              shape_str(input.shape()));
  check_floating_input(op, input);
  for (int64_t d = input.dim() - spatial - (empty_channels_allowed ? 0 : 1); d < input.dim(); ++d)
    GRAFT_CHECK(input.shape()[d] > 0, "{}: only the {} may be empty, got input of shape {}", op,
                empty_channels_allowed ? "batch and channel dims" : "batch dim", shape_str(input.shape()));
  std::array<int64_t, 2> sizes{};
  for (int i = 0; i < spatial; ++i) sizes[i] = input.shape()[input.dim() - spatial + i];
  return sizes;
}

Shape output_shape(const Tensor& input, int spatial, const std::array<int64_t, 2>& sizes) {
  Shape out(input.shape().begin(), input.shape().end() - spatial);
  for (int i = 0; i < spatial; ++i) out.push_back(sizes[i]);
  return out;
}

// The fixed windows of max_pool / avg_pool, checked, and the output they give.
PoolSpec fixed_windows(const char* op, const Tensor& input, int spatial, IntList kernel_size, IntList stride,
                       IntList padding, IntList dilation, bool ceil_mode) {
  const std::array<int64_t, 2> in = check_input(op, input, spatial);
  PoolSpec spec;
  spec.spatial = spatial;
  PoolWindows& w = spec.windows;
  w.kernel = spatial_arg(op, "kernel_size", kernel_size, spatial, 1);
  w.stride = stride.empty() ? w.kernel : spatial_arg(op, "stride", stride, spatial, 1);
  w.padding = spatial_arg(op, "padding", padding, spatial, 0);
  w.dilation = spatial_arg(op, "dilation", dilation, spatial, 1);
  std::array<int64_t, 2> out{};
  for (int i = 0; i < spatial; ++i) {
    GRAFT_CHECK(w.padding[i] <= w.kernel[i] / 2, "{}: padding ({}) must be at most half of kernel_size ({})", op,
                w.padding[i], w.kernel[i]);
    const int64_t span = in[i] + 2 * w.padding[i] - w.dilation[i] * (w.kernel[i] - 1) - 1;
    int64_t n = (span + (ceil_mode ? w.stride[i] - 1 : 0));
    n = (n >= 0 ? n / w.stride[i] : -((-n + w.stride[i] - 1) / w.stride[i])) + 1;  // floor division
    if (ceil_mode && (n - 1) * w.stride[i] >= in[i] + w.padding[i]) --n;
    GRAFT_CHECK(n >= 1, "{}: the output would be empty along spatial dim {} (input of shape {}, kernel_size {}, stride {}, "
                "padding {}, dilation {})",
                op, i, shape_str(input.shape()), w.kernel[i], w.stride[i], w.padding[i], w.dilation[i]);
    out[i] = n;
  }
  spec.in_shape = input.shape();
  spec.out_shape = output_shape(input, spatial, out);
  if (spatial == 1) {  // the kernels pool (P, 1, L): the one dim is the width
    w.kernel = {1, w.kernel[0]};
    w.stride = {1, w.stride[0]};
    w.padding = {0, w.padding[0]};
    w.dilation = {1, w.dilation[0]};
  }
  return spec;
}

PoolSpec adaptive_windows(const char* op, const Tensor& input, IntList output_size, bool empty_channels_allowed) {
  check_input(op, input, 2, empty_channels_allowed);
  PoolSpec spec;
  spec.windows.kind = PoolWindows::Kind::Adaptive;
  spec.in_shape = input.shape();
  spec.out_shape = output_shape(input, 2, spatial_arg(op, "output_size", output_size, 2, 0));
  return spec;
}

// ---------------------------------------------------------------- max

// The gradient of a max pooling: gy scattered to the positions in `indices` (linear in gy; written with
// scatter_add when recorded, so it can be differentiated again).
Tensor max_pool_scatter(const Tensor& gy, const Tensor& indices, const PoolSpec& spec) {
  return backward_formula(
      {gy},
      [&] {
        Tensor gx = empty_tensor(spec.in_shape, gy.dtype());
        kernels::max_pool_backward(as_planes(gy, spec.spatial), as_planes(indices, spec.spatial),
                                   as_planes(gx, spec.spatial));
        return gx;
      },
      [&] {
        const int64_t plane = numel_of(IntList(spec.in_shape.data() + spec.in_shape.size() - spec.spatial,
                                               static_cast<size_t>(spec.spatial)));
        const int64_t planes = plane == 0 ? 0 : numel_of(spec.in_shape) / plane;
        Tensor flat = zeros({planes, plane}, gy.dtype());
        return reshape(scatter_add(flat, 1, reshape(indices, {planes, -1}), reshape(gy, {planes, -1})), spec.in_shape);
      });
}

std::tuple<Tensor, Tensor> max_pool(const char* node_name, const Tensor& input, const PoolSpec& spec) {
  if (is_reduced_floating(input.dtype())) {  // the maxima are exact; float32 just reuses its kernels
    auto [y, indices] = max_pool(node_name, to(input, kFloat32), spec);
    return {to(y, input.dtype()), indices};
  }
  Tensor y = empty_tensor(spec.out_shape, input.dtype()), indices = empty_tensor(spec.out_shape, kInt64);
  kernels::max_pool_forward(as_planes(input, spec.spatial), spec.windows, as_planes(y, spec.spatial),
                            as_planes(indices, spec.spatial));
  if (auto node = make_node(node_name, {input}, [spec](Node& n, GradList& g) -> GradList {
        return {max_pool_scatter(g[0], n.saved(0), spec)};
      })) {
    set_history(y, node);
    node->save(indices);
  }
  return {y, indices};
}

// ---------------------------------------------------------------- average

Tensor avg_pool_adjoint(const Tensor& gy, const PoolSpec& spec);

// The average pooling as a linear map A; its backward is A's adjoint, whose backward is A again.
Tensor avg_pool_map(const char* node_name, const Tensor& x, const PoolSpec& spec) {
  if (is_reduced_floating(x.dtype())) return to(avg_pool_map(node_name, to(x, kFloat32), spec), x.dtype());
  Tensor y = empty_tensor(spec.out_shape, x.dtype());
  kernels::avg_pool_forward(as_planes(x, spec.spatial), spec.windows, as_planes(y, spec.spatial));
  if (auto node = make_node(node_name, {x}, [spec](Node&, GradList& g) -> GradList {
        return {avg_pool_adjoint(g[0], spec)};
      }))
    set_history(y, node);
  return y;
}

Tensor avg_pool_adjoint(const Tensor& gy, const PoolSpec& spec) {
  Tensor gx = empty_tensor(spec.in_shape, gy.dtype());
  kernels::avg_pool_backward(as_planes(gy, spec.spatial), spec.windows, as_planes(gx, spec.spatial));
  if (auto node = make_node("AvgPoolBackwardBackward0", {gy}, [spec](Node&, GradList& g) -> GradList {
        return {avg_pool_map("AvgPoolBackward0", g[0], spec)};
      }))
    set_history(gx, node);
  return gx;
}

}  // namespace

Tensor max_pool1d(const Tensor& input, IntList kernel_size, IntList stride, IntList padding, IntList dilation,
                  bool ceil_mode) {
  GRAFT_RECORD_FUNCTION("max_pool1d", input);
  return std::get<0>(max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode));
}

std::tuple<Tensor, Tensor> max_pool1d_with_indices(const Tensor& input, IntList kernel_size, IntList stride,
                                                   IntList padding, IntList dilation, bool ceil_mode) {
  GRAFT_RECORD_FUNCTION("max_pool1d_with_indices", input);
  check_floating_input("max_pool1d_with_indices", input);  // PyTorch names this op in max_pool*'s errors too
  return max_pool("MaxPool1DWithIndicesBackward0", input,
                  fixed_windows("max_pool1d", input, 1, kernel_size, stride, padding, dilation, ceil_mode));
}

Tensor max_pool2d(const Tensor& input, IntList kernel_size, IntList stride, IntList padding, IntList dilation,
                  bool ceil_mode) {
  GRAFT_RECORD_FUNCTION("max_pool2d", input);
  return std::get<0>(max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode));
}

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, IntList kernel_size, IntList stride,
                                                   IntList padding, IntList dilation, bool ceil_mode) {
  GRAFT_RECORD_FUNCTION("max_pool2d_with_indices", input);
  check_floating_input("max_pool2d_with_indices", input);  // PyTorch names this op in max_pool*'s errors too
  return max_pool("MaxPool2DWithIndicesBackward0", input,
                  fixed_windows("max_pool2d", input, 2, kernel_size, stride, padding, dilation, ceil_mode));
}

Tensor avg_pool1d(const Tensor& input, IntList kernel_size, IntList stride, IntList padding, bool ceil_mode,
                  bool count_include_pad) {
  GRAFT_RECORD_FUNCTION("avg_pool1d", input);
  PoolSpec spec = fixed_windows("avg_pool1d", input, 1, kernel_size, stride, padding, 1, ceil_mode);
  spec.windows.count_include_pad = count_include_pad;
  return avg_pool_map("AvgPool1DBackward0", input, spec);
}

Tensor avg_pool2d(const Tensor& input, IntList kernel_size, IntList stride, IntList padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override) {
  GRAFT_RECORD_FUNCTION("avg_pool2d", input);
  PoolSpec spec = fixed_windows("avg_pool2d", input, 2, kernel_size, stride, padding, 1, ceil_mode);
  GRAFT_CHECK(!divisor_override || *divisor_override != 0, "avg_pool2d: divisor_override must be non-zero");
  spec.windows.count_include_pad = count_include_pad;
  spec.windows.divisor_override = divisor_override;
  return avg_pool_map("AvgPool2DBackward0", input, spec);
}

Tensor adaptive_avg_pool2d(const Tensor& input, IntList output_size) {
  GRAFT_RECORD_FUNCTION("adaptive_avg_pool2d", input);
  return avg_pool_map("AdaptiveAvgPool2DBackward0", input, adaptive_windows("adaptive_avg_pool2d", input, output_size, true));
}

Tensor adaptive_max_pool2d(const Tensor& input, IntList output_size) {
  GRAFT_RECORD_FUNCTION("adaptive_max_pool2d", input);
  return std::get<0>(adaptive_max_pool2d_with_indices(input, output_size));
}

std::tuple<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input, IntList output_size) {
  GRAFT_RECORD_FUNCTION("adaptive_max_pool2d_with_indices", input);
  check_floating_input("adaptive_max_pool2d_with_indices", input);  // PyTorch names this op in max_pool*'s errors too
  return max_pool("AdaptiveMaxPool2DBackward0", input, adaptive_windows("adaptive_max_pool2d", input, output_size, false));
}

}  // namespace graft::nn::functional
