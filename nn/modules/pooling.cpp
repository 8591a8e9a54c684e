#include "graft/nn/modules/pooling.h"

#include <fmt/format.h>

#include "graft/nn/modules/repr_format.h"
#include "graft/ops/pooling.h"

namespace graft::nn {

namespace {

std::vector<int64_t> as_vector(IntList v) { return std::vector<int64_t>(v.begin(), v.end()); }

// A size as PyTorch prints what it was given: an int, or a tuple.
std::string as_given(const std::vector<int64_t>& v) {
  return v.size() == 1 ? fmt::format("{}", v[0]) : repr_format::py_tuple(v);
}

// The number of values of each size argument is checked when the module is made; the values themselves by
// the functional op when it runs (as in PyTorch, which checks them there too).
void check_sizes(const char* module, IntList kernel_size, IntList stride, IntList padding, int spatial) {
  for (auto [arg, values] : {std::pair<const char*, IntList>{"kernel_size", kernel_size}, {"stride", stride}, {"padding", padding}}) {
    if (std::string(arg) == "stride" && values.empty()) continue;
    GRAFT_CHECK(values.size() == 1 || values.size() == static_cast<size_t>(spatial), "{}: {} must have {}, got {}",
                module, arg, spatial == 1 ? "1 value" : "1 or 2 values", values.size());
  }
}

}  // namespace

MaxPool1d::MaxPool1d(IntList k, IntList s, IntList p, IntList d, bool ceil)
    : Module("MaxPool1d"), kernel_size(as_vector(k)), stride(as_vector(s.empty() ? k : s)), padding(as_vector(p)),
      dilation(as_vector(d)), ceil_mode(ceil) {
  check_sizes("MaxPool1d", k, s, p, 1);
}

Tensor MaxPool1d::forward(const Tensor& input) {
  return functional::max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode);
}

std::tuple<Tensor, Tensor> MaxPool1d::forward_with_indices(const Tensor& input) {
  return functional::max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode);
}

std::string MaxPool1d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={}", as_given(kernel_size),
                     as_given(stride), as_given(padding), as_given(dilation), repr_format::py_bool(ceil_mode));
}

MaxPool2d::MaxPool2d(IntList k, IntList s, IntList p, IntList d, bool ceil)
    : Module("MaxPool2d"), kernel_size(as_vector(k)), stride(as_vector(s.empty() ? k : s)), padding(as_vector(p)),
      dilation(as_vector(d)), ceil_mode(ceil) {
  check_sizes("MaxPool2d", k, s, p, 2);
}

Tensor MaxPool2d::forward(const Tensor& input) {
  return functional::max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode);
}

std::tuple<Tensor, Tensor> MaxPool2d::forward_with_indices(const Tensor& input) {
  return functional::max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode);
}

std::string MaxPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={}", as_given(kernel_size),
                     as_given(stride), as_given(padding), as_given(dilation), repr_format::py_bool(ceil_mode));
}

AvgPool1d::AvgPool1d(IntList k, IntList s, IntList p, bool ceil, bool count_pad)
    : Module("AvgPool1d"), kernel_size(as_vector(k)), stride(as_vector(s.empty() ? k : s)), padding(as_vector(p)),
      ceil_mode(ceil), count_include_pad(count_pad) {
  check_sizes("AvgPool1d", k, s, p, 1);
}

Tensor AvgPool1d::forward(const Tensor& input) {
  return functional::avg_pool1d(input, kernel_size, stride, padding, ceil_mode, count_include_pad);
}

std::string AvgPool1d::extra_repr() const {  // PyTorch's AvgPool1d keeps its sizes as 1-tuples
  using repr_format::py_tuple;
  return fmt::format("kernel_size={}, stride={}, padding={}", py_tuple(kernel_size), py_tuple(stride), py_tuple(padding));
}

AvgPool2d::AvgPool2d(IntList k, IntList s, IntList p, bool ceil, bool count_pad, std::optional<int64_t> divisor)
    : Module("AvgPool2d"), kernel_size(as_vector(k)), stride(as_vector(s.empty() ? k : s)), padding(as_vector(p)),
      ceil_mode(ceil), count_include_pad(count_pad), divisor_override(divisor) {
  check_sizes("AvgPool2d", k, s, p, 2);
}

Tensor AvgPool2d::forward(const Tensor& input) {
  return functional::avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
}

std::string AvgPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}", as_given(kernel_size), as_given(stride), as_given(padding));
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(IntList size) : Module("AdaptiveAvgPool2d"), output_size(as_vector(size)) {
  check_sizes("AdaptiveAvgPool2d", size, {}, 0, 2);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  return functional::adaptive_avg_pool2d(input, output_size);
}

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + as_given(output_size); }

AdaptiveMaxPool2d::AdaptiveMaxPool2d(IntList size) : Module("AdaptiveMaxPool2d"), output_size(as_vector(size)) {
  check_sizes("AdaptiveMaxPool2d", size, {}, 0, 2);
}

Tensor AdaptiveMaxPool2d::forward(const Tensor& input) {
  return functional::adaptive_max_pool2d(input, output_size);
}

std::tuple<Tensor, Tensor> AdaptiveMaxPool2d::forward_with_indices(const Tensor& input) {
  return functional::adaptive_max_pool2d_with_indices(input, output_size);
}

std::string AdaptiveMaxPool2d::extra_repr() const { return "output_size=" + as_given(output_size); }

}  // namespace graft::nn
