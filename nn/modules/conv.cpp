#include "graft/nn/modules/conv.h"

#include <cmath>

#include <fmt/format.h>

#include "graft/graph/factory.h"
#include "graft/nn/init.h"
#include "graft/nn/modules/repr_format.h"
#include "graft/ops/padding.h"

namespace graft::nn {

namespace {

// A size argument as one value per spatial dim (PyTorch's _single / _pair).
std::vector<int64_t> per_dim(const std::string& module, const char* arg, IntList values, int spatial, int64_t min) {
  GRAFT_CHECK(values.size() == 1 || values.size() == static_cast<size_t>(spatial),
              "{}: {} must have 1 or {} values, got {}", module, arg, spatial, values.size());
  std::vector<int64_t> out;
  for (int i = 0; i < spatial; ++i) {
    out.push_back(values[values.size() == 1 ? 0 : i]);
    GRAFT_CHECK(out.back() >= min, "{}: {} must be {}, got {}", module, arg, min > 0 ? "positive" : "non-negative",
                out.back());
  }
  return out;
}

bool all_equal(const std::vector<int64_t>& v, int64_t value) {
  for (int64_t x : v)
    if (x != value) return false;
  return true;
}

}  // namespace

ConvNd::ConvNd(std::string name, int spatial, bool transposed_, int64_t in, int64_t out, IntList kernel,
               IntList stride_, const functional::ConvPadding& padding_, IntList dilation_, IntList output_padding_,
               int64_t groups_, bool with_bias, std::string padding_mode_, DType dtype)
    : Module(name),
      in_channels(in),
      out_channels(out),
      groups(groups_),
      padding_mode(std::move(padding_mode_)),
      transposed(transposed_) {
  GRAFT_CHECK(in > 0 && out > 0, "{}: in_channels and out_channels must be positive, got {} and {}", name, in, out);
  GRAFT_CHECK(groups > 0, "{}: groups must be a positive integer, got {}", name, groups);
  GRAFT_CHECK(in % groups == 0, "{}: in_channels ({}) must be divisible by groups ({})", name, in, groups);
  GRAFT_CHECK(out % groups == 0, "{}: out_channels ({}) must be divisible by groups ({})", name, out, groups);
  GRAFT_CHECK(padding_mode == "zeros" || padding_mode == "reflect" || padding_mode == "replicate" ||
                  padding_mode == "circular",
              "{}: padding_mode must be one of 'zeros', 'reflect', 'replicate' or 'circular', got '{}'", name,
              padding_mode);
  GRAFT_CHECK(!transposed || padding_mode == "zeros", "{}: only \"zeros\" padding mode is supported, got '{}'", name,
              padding_mode);
  GRAFT_CHECK(is_floating(dtype), "{}: dtype must be floating point, got {}", name, dtype_name(dtype));
  kernel_size = per_dim(name, "kernel_size", kernel, spatial, 1);
  stride = per_dim(name, "stride", stride_, spatial, 1);
  dilation = per_dim(name, "dilation", dilation_, spatial, 1);
  output_padding = per_dim(name, "output_padding", output_padding_, spatial, 0);
  if (padding_.is_mode()) {
    padding_string = padding_.mode();
    GRAFT_CHECK(padding_string == "same" || padding_string == "valid",
                "{}: padding must be \"valid\", \"same\" or sizes, got \"{}\"", name, padding_string);
    GRAFT_CHECK(padding_string != "same" || all_equal(stride, 1),
                "{}: padding='same' is not supported for strided convolutions", name);
    padding.assign(spatial, 0);
  } else {
    padding = per_dim(name, "padding", padding_.sizes(), spatial, 0);
  }
  Shape weight_shape{transposed ? in : out, (transposed ? out : in) / groups};
  for (int64_t k : kernel_size) weight_shape.push_back(k);
  weight = register_parameter("weight", empty(weight_shape, dtype));
  bias = register_parameter("bias", with_bias ? empty({out}, dtype) : Tensor());
  reset_parameters();
}

void ConvNd::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

std::string ConvNd::extra_repr() const {
  using repr_format::py_tuple;
  std::string s = fmt::format("{}, {}, kernel_size={}, stride={}", in_channels, out_channels, py_tuple(kernel_size),
                              py_tuple(stride));
  if (!padding_string.empty()) s += ", padding=" + padding_string;
  else if (!all_equal(padding, 0)) s += ", padding=" + py_tuple(padding);
  if (!all_equal(dilation, 1)) s += ", dilation=" + py_tuple(dilation);
  if (!all_equal(output_padding, 0)) s += ", output_padding=" + py_tuple(output_padding);
  if (groups != 1) s += fmt::format(", groups={}", groups);
  if (!bias.defined()) s += ", bias=False";
  if (padding_mode != "zeros") s += ", padding_mode=" + padding_mode;
  return s;
}

Tensor ConvNd::mode_padded(const Tensor& input) const {
  if (padding_mode == "zeros") return input;
  std::vector<int64_t> pads;  // last dim first, (before, after)
  for (size_t i = kernel_size.size(); i-- > 0;) {
    if (padding_string == "same") {
      const int64_t total = dilation[i] * (kernel_size[i] - 1);
      pads.push_back(total / 2);
      pads.push_back(total - total / 2);
    } else {
      pads.push_back(padding[i]);
      pads.push_back(padding[i]);
    }
  }
  return functional::pad(input, pads, padding_mode);
}

functional::ConvPadding ConvNd::functional_padding() const {
  if (padding_mode != "zeros") return 0;
  if (!padding_string.empty()) return padding_string;
  return padding;
}

Conv1d::Conv1d(int64_t in, int64_t out, IntList kernel, IntList stride, const functional::ConvPadding& padding,
               IntList dilation, int64_t groups, bool bias, std::string padding_mode, DType dtype)
    : ConvNd("Conv1d", 1, false, in, out, kernel, stride, padding, dilation, 0, groups, bias, std::move(padding_mode),
             dtype) {}

Tensor Conv1d::forward(const Tensor& input) {
  return functional::conv1d(mode_padded(input), weight, bias, stride, functional_padding(), dilation, groups);
}

Conv2d::Conv2d(int64_t in, int64_t out, IntList kernel, IntList stride, const functional::ConvPadding& padding,
               IntList dilation, int64_t groups, bool bias, std::string padding_mode, DType dtype)
    : ConvNd("Conv2d", 2, false, in, out, kernel, stride, padding, dilation, 0, groups, bias, std::move(padding_mode),
             dtype) {}

Tensor Conv2d::forward(const Tensor& input) {
  return functional::conv2d(mode_padded(input), weight, bias, stride, functional_padding(), dilation, groups);
}

namespace {

// PyTorch's ConvTranspose _output_padding: the output_padding that makes the output `output_size` (spatial
// sizes, or sizes with the leading batch/channel dims, which are dropped).
std::vector<int64_t> output_padding_for(const ConvNd& m, const Tensor& input, IntList output_size) {
  const size_t spatial = m.kernel_size.size();
  GRAFT_CHECK(input.dim() >= static_cast<int64_t>(spatial), "{}: input of shape {} has fewer than {} dims",
              m.type_name(), shape_str(input.shape()), spatial);
  std::vector<int64_t> size(output_size.begin(), output_size.end());
  if (size.size() > spatial) size.erase(size.begin(), size.end() - static_cast<std::ptrdiff_t>(spatial));
  GRAFT_CHECK(size.size() == spatial, "{}: output_size must have {} or more values, got {}", m.type_name(), spatial,
              output_size.size());
  std::vector<int64_t> result;
  for (size_t d = 0; d < spatial; ++d) {
    const int64_t in = input.shape()[input.dim() - static_cast<int64_t>(spatial) + static_cast<int64_t>(d)];
    const int64_t min_size = (in - 1) * m.stride[d] - 2 * m.padding[d] + m.dilation[d] * (m.kernel_size[d] - 1) + 1;
    const int64_t max_size = min_size + m.stride[d] - 1;
    GRAFT_CHECK(size[d] >= min_size && size[d] <= max_size,
                "{}: requested an output size of {} along spatial dim {}, but valid sizes for input {} range from {} "
                "to {}",
                m.type_name(), size[d], d, shape_str(input.shape()), min_size, max_size);
    result.push_back(size[d] - min_size);
  }
  return result;
}

}  // namespace

ConvTranspose1d::ConvTranspose1d(int64_t in, int64_t out, IntList kernel, IntList stride, IntList padding,
                                 IntList output_padding, int64_t groups, bool bias, IntList dilation,
                                 std::string padding_mode, DType dtype)
    : ConvNd("ConvTranspose1d", 1, true, in, out, kernel, stride, std::vector<int64_t>(padding.begin(), padding.end()),
             dilation, output_padding, groups, bias, std::move(padding_mode), dtype) {}

Tensor ConvTranspose1d::forward(const Tensor& input) {
  return functional::conv_transpose1d(input, weight, bias, stride, padding, output_padding, groups, dilation);
}

Tensor ConvTranspose1d::forward(const Tensor& input, IntList output_size) {
  return functional::conv_transpose1d(input, weight, bias, stride, padding,
                                      output_padding_for(*this, input, output_size), groups, dilation);
}

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, IntList kernel, IntList stride, IntList padding,
                                 IntList output_padding, int64_t groups, bool bias, IntList dilation,
                                 std::string padding_mode, DType dtype)
    : ConvNd("ConvTranspose2d", 2, true, in, out, kernel, stride, std::vector<int64_t>(padding.begin(), padding.end()),
             dilation, output_padding, groups, bias, std::move(padding_mode), dtype) {}

Tensor ConvTranspose2d::forward(const Tensor& input) {
  return functional::conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation);
}

Tensor ConvTranspose2d::forward(const Tensor& input, IntList output_size) {
  return functional::conv_transpose2d(input, weight, bias, stride, padding,
                                      output_padding_for(*this, input, output_size), groups, dilation);
}

}  // namespace graft::nn
