#pragma once
// Elementwise activation kernels, forward and backward: plain loops for f32 and f64 (the reference), and
// oneDNN's eltwise primitives for contiguous f32 tensors large enough to pay for a library call.
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

enum class Activation : uint8_t { Relu, LeakyRelu, Elu, GeluErf, GeluTanh, Silu, Softplus, Tanh, Sigmoid };

// Which activation, with its parameters: alpha is leaky_relu's negative_slope, elu's alpha and softplus's
// beta; beta is softplus's threshold.
struct ActivationSpec {
  Activation kind;
  double alpha = 0;
  double beta = 0;
};

// Below this many elements the reference loops beat a oneDNN call (~0.9 us before any work); above it
// oneDNN's vectorised transcendentals win by 2-60x (gelu_erf at 4096: 1.9 us against 36 us).
inline constexpr int64_t kOneDnnEltwiseMinElements = 512;

// y = f(x), contiguous, in x's dtype. Relu also takes int64; the others want floating tensors (bfloat16 and
// float16 are computed in float32 and rounded).
Tensor activation_forward(const ActivationSpec& f, const Tensor& x);

// grad * f'(.), of `saved`'s shape and dtype (grad broadcasts to it). `saved` is what the derivative is
// computed from: the output y for relu, tanh and sigmoid, the input x for the others.
Tensor activation_backward(const ActivationSpec& f, const Tensor& grad, const Tensor& saved);

// True when f's derivative is computed from the output rather than the input.
constexpr bool backward_uses_output(Activation a) {
  return a == Activation::Relu || a == Activation::Tanh || a == Activation::Sigmoid;
}

}  // namespace graft::kernels
