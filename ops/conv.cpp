#include "graft/ops/conv.h"

#include <fmt/format.h>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/convolution.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/detail/spatial_args.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;

namespace {

// Input, weight and bias: defined, of one floating dtype, with the dims the op expects. Returns whether the
// input is batched.
bool check_operands(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias, int spatial,
                    const char* weight_layout) {
  check_defined(op, "input", input);
  check_defined(op, "weight", weight);
  GRAFT_CHECK(input.dim() == spatial + 1 || input.dim() == spatial + 2,
              "{}: expected a {}-D (unbatched) or {}-D (batched) input, got shape {}", op, spatial + 1, spatial + 2,
              shape_str(input.shape()));
  GRAFT_CHECK(weight.dim() == spatial + 2, "{}: expected a {}-D weight {}, got shape {}", op, spatial + 2, weight_layout,
              shape_str(weight.shape()));
  check_floating_input(op, input);
  GRAFT_CHECK(weight.dtype() == input.dtype() && (!bias.defined() || bias.dtype() == input.dtype()),
              "{}: input, weight and bias must have one dtype, got {}, {} and {}", op, dtype_name(input.dtype()),
              dtype_name(weight.dtype()), bias.defined() ? dtype_name(bias.dtype()) : "none");
  for (int i = 0; i < spatial; ++i)
    GRAFT_CHECK(weight.shape()[2 + i] > 0, "{}: kernel sizes must be positive, got weight of shape {}", op,
                shape_str(weight.shape()));
  return input.dim() == spatial + 2;
}

void check_groups(const char* op, int64_t groups, int64_t in_channels, int64_t out_channels, const Tensor& weight,
                  const Tensor& input) {
  GRAFT_CHECK(groups > 0, "{}: groups must be positive, got {}", op, groups);
  GRAFT_CHECK(out_channels > 0 && out_channels % groups == 0,
              "{}: with groups={}, the weight's {} channels (dim 0 of weight {}) must be a positive multiple of {}", op,
              groups, out_channels, shape_str(weight.shape()), groups);
  GRAFT_CHECK(in_channels % groups == 0, "{}: with groups={}, the input's {} channels (input {}) must be divisible by {}",
              op, groups, in_channels, shape_str(input.shape()), groups);
}

void check_bias(const char* op, const Tensor& bias, int64_t channels, const Tensor& weight) {
  if (!bias.defined()) return;
  GRAFT_CHECK(bias.dim() == 1 && bias.shape()[0] == channels,
              "{}: weight of shape {} expects a bias of shape [{}], got {}", op, shape_str(weight.shape()), channels,
              shape_str(bias.shape()));
}

// The unbatched input as a batch of one; the result is squeezed back by the caller.
Tensor batched(const Tensor& input, bool is_batched) { return is_batched ? input : unsqueeze(input, 0); }
Tensor unbatched(const Tensor& output, bool is_batched) { return is_batched ? output : squeeze(output, 0); }

Tensor conv_nd(const char* op, int spatial, const Tensor& input, const Tensor& weight, const Tensor& bias,
               IntList stride, const ConvPadding& padding, IntList dilation, int64_t groups) {
  const bool is_batched = check_operands(op, input, weight, bias, spatial,
                                         spatial == 1 ? "(out_channels, in_channels / groups, kW)"
                                                      : "(out_channels, in_channels / groups, kH, kW)");
  const Tensor x = batched(input, is_batched);
  check_groups(op, groups, x.shape()[1], weight.shape()[0], weight, x);
  GRAFT_CHECK(weight.shape()[1] * groups == x.shape()[1],
              "{}: weight of shape {} with groups={} expects an input with {} channels, got input of shape {} ({} "
              "channels)",
              op, shape_str(weight.shape()), groups, weight.shape()[1] * groups, shape_str(input.shape()), x.shape()[1]);
  check_bias(op, bias, weight.shape()[0], weight);

  ConvParams p;
  p.spatial = spatial;
  p.groups = groups;
  p.stride = spatial_arg(op, "stride", stride, spatial, 1);
  p.dilation = spatial_arg(op, "dilation", dilation, spatial, 1);
  if (padding.is_mode()) {
    GRAFT_CHECK(padding.mode() == "valid" || padding.mode() == "same",
                "{}: padding must be \"valid\", \"same\" or sizes, got \"{}\"", op, padding.mode());
    if (padding.mode() == "same") {
      for (int i = 0; i < spatial; ++i) {
        GRAFT_CHECK(p.stride[i] == 1, "{}: padding=\"same\" is not supported for strided convolutions (stride {})", op,
                    fmt::join(stride.begin(), stride.end(), ", "));
        const int64_t total = p.dilation[i] * (weight.shape()[2 + i] - 1);
        p.padding[i] = total / 2;
        p.padding_end[i] = total - total / 2;
      }
    }
  } else {
    p.padding = spatial_arg(op, "padding", padding.sizes(), spatial, 0);
    p.padding_end = p.padding;
  }
  for (int i = 0; i < spatial; ++i) {
    const int64_t padded = x.shape()[2 + i] + p.padding[i] + p.padding_end[i];
    const int64_t extent = p.dilation[i] * (weight.shape()[2 + i] - 1) + 1;
    GRAFT_CHECK(extent <= padded,
                "{}: the kernel ({} with dilation {}, spanning {}) is larger than the padded input ({} + padding {} + {}) "
                "along spatial dim {} (input {}, weight {})",
                op, weight.shape()[2 + i], p.dilation[i], extent, x.shape()[2 + i], p.padding[i], p.padding_end[i], i,
                shape_str(input.shape()), shape_str(weight.shape()));
  }
  if (is_reduced_floating(x.dtype()))
    return to(unbatched(convolution(to(x, kFloat32), to(weight, kFloat32), float32_copy(bias), p), is_batched),
              x.dtype());
  return unbatched(convolution(x, weight, bias, p), is_batched);
}

Tensor conv_transpose_nd(const char* op, int spatial, const Tensor& input, const Tensor& weight, const Tensor& bias,
                         IntList stride, IntList padding, IntList output_padding, int64_t groups, IntList dilation) {
  const bool is_batched = check_operands(op, input, weight, bias, spatial,
                                         spatial == 1 ? "(in_channels, out_channels / groups, kW)"
                                                      : "(in_channels, out_channels / groups, kH, kW)");
  const Tensor x = batched(input, is_batched);
  check_groups(op, groups, weight.shape()[1] * groups, weight.shape()[0], weight, x);
  GRAFT_CHECK(weight.shape()[0] == x.shape()[1],
              "{}: weight of shape {} expects an input with {} channels (weight dim 0), got input of shape {} ({} "
              "channels)",
              op, shape_str(weight.shape()), weight.shape()[0], shape_str(input.shape()), x.shape()[1]);
  const int64_t out_channels = weight.shape()[1] * groups;
  check_bias(op, bias, out_channels, weight);

  ConvParams p;
  p.spatial = spatial;
  p.groups = groups;
  p.stride = spatial_arg(op, "stride", stride, spatial, 1);
  p.dilation = spatial_arg(op, "dilation", dilation, spatial, 1);
  p.padding = spatial_arg(op, "padding", padding, spatial, 0);
  const std::array<int64_t, 2> extra = spatial_arg(op, "output_padding", output_padding, spatial, 0);
  Shape out_spatial;
  for (int i = 0; i < spatial; ++i) {
    GRAFT_CHECK(extra[i] < p.stride[i] || extra[i] < p.dilation[i],
                "{}: output_padding must be smaller than either stride or dilation, got output_padding {}, stride {}, "
                "dilation {}",
                op, extra[i], p.stride[i], p.dilation[i]);
    p.padding_end[i] = p.padding[i] - extra[i];
    const int64_t size = (x.shape()[2 + i] - 1) * p.stride[i] - 2 * p.padding[i] +
                         p.dilation[i] * (weight.shape()[2 + i] - 1) + extra[i] + 1;
    // As PyTorch: an input without samples or channels may give an empty output; any other must give a
    // positive size.
    const bool no_data = x.shape()[0] == 0 || x.shape()[1] == 0;
    GRAFT_CHECK(size > 0 || (no_data && size == 0),
                "{}: the output would have size {} along spatial dim {} (input {}, weight {}, stride {}, padding {}, "
                "dilation {}, output_padding {}); it must be positive",
                op, size, i, shape_str(input.shape()), shape_str(weight.shape()), p.stride[i], p.padding[i],
                p.dilation[i], extra[i]);
    out_spatial.push_back(size);
  }
  if (is_reduced_floating(x.dtype()))
    return to(unbatched(convolution_transpose(to(x, kFloat32), to(weight, kFloat32), float32_copy(bias), p, out_spatial),
                        is_batched),
              x.dtype());
  return unbatched(convolution_transpose(x, weight, bias, p, out_spatial), is_batched);
}

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntList stride, const ConvPadding& padding,
              IntList dilation, int64_t groups) {
  if (autocast_wants_lower({input, weight, bias}))
    return conv1d(autocast_lower(input), autocast_lower(weight), autocast_lower(bias), stride, padding, dilation, groups);
  GRAFT_RECORD_FUNCTION("conv1d", input, weight, bias);
  return conv_nd("conv1d", 1, input, weight, bias, stride, padding, dilation, groups);
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntList stride, const ConvPadding& padding,
              IntList dilation, int64_t groups) {
  if (autocast_wants_lower({input, weight, bias}))
    return conv2d(autocast_lower(input), autocast_lower(weight), autocast_lower(bias), stride, padding, dilation, groups);
  GRAFT_RECORD_FUNCTION("conv2d", input, weight, bias);
  return conv_nd("conv2d", 2, input, weight, bias, stride, padding, dilation, groups);
}

Tensor conv_transpose1d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntList stride, IntList padding,
                        IntList output_padding, int64_t groups, IntList dilation) {
  if (autocast_wants_float32({input, weight, bias}))
    return conv_transpose1d(autocast_float32(input), autocast_float32(weight), autocast_float32(bias), stride, padding,
                            output_padding, groups, dilation);
  GRAFT_RECORD_FUNCTION("conv_transpose1d", input, weight, bias);
  return conv_transpose_nd("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups, dilation);
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntList stride, IntList padding,
                        IntList output_padding, int64_t groups, IntList dilation) {
  if (autocast_wants_float32({input, weight, bias}))
    return conv_transpose2d(autocast_float32(input), autocast_float32(weight), autocast_float32(bias), stride, padding,
                            output_padding, groups, dilation);
  GRAFT_RECORD_FUNCTION("conv_transpose2d", input, weight, bias);
  return conv_transpose_nd("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups, dilation);
}

}  // namespace graft::nn::functional
