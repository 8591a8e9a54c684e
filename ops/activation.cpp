#include "graft/ops/activation.h"

#include <cmath>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/activation.h"
#include "graft/ops/kernels/softmax.h"
#include "graft/ops/operators.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;
using kernels::Activation;
using kernels::ActivationSpec;

namespace {

constexpr double kSqrt1_2 = 0.70710678118654752440;     // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2 pi)
constexpr double kGeluBeta = 0.79788456080286535588;    // sqrt(2/pi)
constexpr double kGeluKappa = 0.044715;

Tensor floating_argument(const char* op, const Tensor& x) {
  check_defined(op, "input", x);
  GRAFT_CHECK(is_floating(x.dtype()), "{}: expected a floating-point input, got {}", op,
              dtype_name(x.dtype()));
  return x;
}

// The standard normal density exp(-x^2 / 2) / sqrt(2 pi), from differentiable ops.
Tensor normal_pdf(const Tensor& x) { return mul(exp(mul(mul(x, x), -0.5)), kInvSqrt2Pi); }

// Phi(x) = (1 + erf(x / sqrt 2)) / 2 as a differentiable op of its own (graft has no erf op): the exact
// gelu's backward needs it, and its derivative, the normal density, is made of ops again, so the exact
// gelu has derivatives of every order.
Tensor normal_cdf(const Tensor& x) {
  Tensor y = map_floating("gelu", x, [](auto v) {
    using T = decltype(v);
    return T(0.5) * (T(1) + std::erf(v * T(kSqrt1_2)));
  });
  if (auto node = make_node("NormalCdfBackward0", {x}, [](Node& n, GradList& g) -> GradList {
        return {mul(g[0], normal_pdf(n.saved(0)))};
      })) {
    set_history(y, node);
    node->save(x);
  }
  return y;
}

// The input gradient of an elementwise activation: the fused kernel when nothing records, else `composite`
// (the same formula in differentiable ops).
template <class Composite>
Tensor activation_grad(const ActivationSpec& f, const Tensor& grad, const Tensor& saved, Composite composite) {
  return backward_formula({grad, saved}, [&] { return kernels::activation_backward(f, grad, saved); }, composite);
}

// y = f(x) with a node whose backward is activation_grad(f, g, saved, composite(g, saved)), saved being y
// or x as kernels::backward_uses_output says.
template <class Composite>
Tensor elementwise_activation(const char* node_name, const ActivationSpec& f, const Tensor& x, Composite composite,
                              const char* function = __builtin_FUNCTION(), const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  Tensor y = kernels::activation_forward(f, x);
  if (auto node = make_node(
          node_name, {x},
          [f, composite](Node& n, GradList& g) -> GradList {
            Tensor s = n.saved(0);
            return {activation_grad(f, g[0], s, [&] { return composite(g[0], s); })};
          },
          function, file, line)) {
    set_history(y, node);
    if (kernels::backward_uses_output(f.kind)) node->save_output(y);
    else node->save(x);
  }
  return y;
}

}  // namespace

Tensor relu(const Tensor& input) {
  GRAFT_RECORD_FUNCTION("relu", input);
  check_defined("relu", "input", input);
  GRAFT_CHECK(input.dtype() != kBool, "relu: bool inputs are not supported");
  return elementwise_activation("ReluBackward0", {Activation::Relu}, input,
                                [](const Tensor& g, const Tensor& y) { return where(gt(y, 0), g, Scalar(0)); });
}

Tensor leaky_relu(const Tensor& input, double negative_slope) {
  GRAFT_RECORD_FUNCTION("leaky_relu", input);
  floating_argument("leaky_relu", input);
  return elementwise_activation("LeakyReluBackward0", {Activation::LeakyRelu, negative_slope}, input,
                                [negative_slope](const Tensor& g, const Tensor& x) {
                                  return where(gt(x, 0), g, mul(g, negative_slope));
                                });
}

Tensor elu(const Tensor& input, double alpha) {
  GRAFT_RECORD_FUNCTION("elu", input);
  floating_argument("elu", input);
  return elementwise_activation("EluBackward0", {Activation::Elu, alpha}, input, [alpha](const Tensor& g, const Tensor& x) {
    return where(gt(x, 0), g, mul(g, mul(exp(x), alpha)));
  });
}

Tensor gelu(const Tensor& input, std::string_view approximate) {
  GRAFT_RECORD_FUNCTION("gelu", input);
  floating_argument("gelu", input);
  if (approximate == "none")
    return elementwise_activation("GeluBackward0", {Activation::GeluErf}, input, [](const Tensor& g, const Tensor& x) {
      return mul(g, add(normal_cdf(x), mul(x, normal_pdf(x))));
    });
  GRAFT_CHECK(approximate == "tanh", "gelu: approximate must be \"none\" or \"tanh\", got \"{}\"", approximate);
  return elementwise_activation("GeluBackward0", {Activation::GeluTanh}, input, [](const Tensor& g, const Tensor& x) {
    Tensor x2 = mul(x, x);
    Tensor t = tanh(mul(add(x, mul(mul(x2, x), kGeluKappa)), kGeluBeta));
    Tensor d_inner = mul(add(mul(x2, 3 * kGeluKappa), 1.0), kGeluBeta);
    Tensor d = add(mul(add(t, 1.0), 0.5), mul(mul(mul(x, 0.5), rsub(mul(t, t), 1.0)), d_inner));
    return mul(g, d);
  });
}

Tensor silu(const Tensor& input) {
  GRAFT_RECORD_FUNCTION("silu", input);
  floating_argument("silu", input);
  return elementwise_activation("SiluBackward0", {Activation::Silu}, input, [](const Tensor& g, const Tensor& x) {
    Tensor s = sigmoid(x);
    return mul(g, mul(s, add(mul(x, rsub(s, 1.0)), 1.0)));
  });
}

Tensor softplus(const Tensor& input, double beta, double threshold) {
  GRAFT_RECORD_FUNCTION("softplus", input);
  floating_argument("softplus", input);
  return elementwise_activation("SoftplusBackward0", {Activation::Softplus, beta, threshold}, input,
                                [beta, threshold](const Tensor& g, const Tensor& x) {
                                  Tensor bx = mul(x, beta);
                                  // PyTorch's second derivative is 0 where beta x equals the threshold
                                  // (softplus_double_backward tests beta x < threshold): the sigmoid's
                                  // argument is cut from the graph there.
                                  Tensor arg = where(lt(bx, threshold), bx, bx.detach());
                                  return where(gt(bx, threshold), g, mul(g, sigmoid(arg)));
                                });
}

// ---------------------------------------------------------------- softmax, log_softmax, masked_softmax

namespace {

Tensor softmax_grad(const Tensor& grad, const Tensor& y, int64_t dim, bool log) {
  return backward_formula(
      {grad, y}, [&] { return kernels::softmax_backward(grad, y, dim, log); },
      [&] {
        if (log) return sub(grad, mul(exp(y), sum(grad, {dim}, true)));
        return mul(y, sub(grad, sum(mul(grad, y), {dim}, true)));
      });
}

// The node of softmax, log_softmax and masked_softmax: all three differentiate through their output.
void record_softmax(const char* node_name, const Tensor& x, const Tensor& y, int64_t dim, bool log) {
  if (auto node = make_node(node_name, {x}, [dim, log](Node& n, GradList& g) -> GradList {
        return {softmax_grad(g[0], n.saved(0), dim, log)};
      })) {
    set_history(y, node);
    node->save_output(y);
  }
}

Tensor softmax_impl(const char* op, const char* node_name, const Tensor& input, int64_t dim, std::optional<DType> dtype,
                    bool log) {
  check_defined(op, "input", input);
  Tensor x = dtype ? to(input, *dtype) : input;
  floating_argument(op, x);
  const int64_t d = wrap_dim(op, dim, x.dim());
  Tensor y = kernels::softmax_forward(x, d, log);
  record_softmax(node_name, x, y, d, log);
  return y;
}

Tensor backward_data(const char* op, const Tensor& grad_output, const Tensor& output, int64_t dim, bool log) {
  check_defined(op, "grad_output", grad_output);
  floating_argument(op, output);
  GRAFT_CHECK(grad_output.shape() == output.shape(), "{}: grad_output has shape {} but output has shape {}", op,
              shape_str(grad_output.shape()), shape_str(output.shape()));
  return softmax_grad(grad_output, output, wrap_dim(op, dim, output.dim()), log);
}

}  // namespace

Tensor softmax(const Tensor& input, int64_t dim, std::optional<DType> dtype) {
  if (autocast_wants_float32({input})) return softmax(autocast_float32(input), dim, dtype);
  GRAFT_RECORD_FUNCTION("softmax", input);
  return softmax_impl("softmax", "SoftmaxBackward0", input, dim, dtype, false);
}

Tensor log_softmax(const Tensor& input, int64_t dim, std::optional<DType> dtype) {
  if (autocast_wants_float32({input})) return log_softmax(autocast_float32(input), dim, dtype);
  GRAFT_RECORD_FUNCTION("log_softmax", input);
  return softmax_impl("log_softmax", "LogSoftmaxBackward0", input, dim, dtype, true);
}

Tensor masked_softmax(const Tensor& input, const Tensor& keep) {
  if (autocast_wants_float32({input})) return masked_softmax(autocast_float32(input), keep);
  GRAFT_RECORD_FUNCTION("masked_softmax", input, keep);
  constexpr const char* op = "masked_softmax";
  floating_argument(op, input);
  if (keep.defined()) {
    GRAFT_CHECK(keep.dtype() == kBool, "{}: keep must be a bool tensor, got {}", op, dtype_name(keep.dtype()));
    GRAFT_CHECK(is_expandable_to(keep.shape(), input.shape()),
                "{}: keep of shape {} cannot be broadcast to the input's shape {}", op, shape_str(keep.shape()),
                shape_str(input.shape()));
  }
  Tensor y = kernels::masked_softmax(input, keep);
  record_softmax("MaskedSoftmaxBackward0", input, y, input.dim() - 1, false);
  return y;
}

Tensor softmax_backward_data(const Tensor& grad_output, const Tensor& output, int64_t dim) {
  GRAFT_RECORD_FUNCTION("softmax_backward_data", grad_output, output);
  return backward_data("softmax_backward_data", grad_output, output, dim, false);
}

Tensor log_softmax_backward_data(const Tensor& grad_output, const Tensor& output, int64_t dim) {
  GRAFT_RECORD_FUNCTION("log_softmax_backward_data", grad_output, output);
  return backward_data("log_softmax_backward_data", grad_output, output, dim, true);
}

}  // namespace graft::nn::functional
