#pragma once
// Elementwise ops, with NumPy/PyTorch broadcasting and PyTorch's type promotion. Each input's gradient is
// reduced back to that input's shape by the engine. Integer inputs to the floating functions (exp, log,
// sqrt, ...) are promoted to float32, as in PyTorch.
#include <optional>

#include "graft/graph/tensor.h"

namespace graft {

// ---- arithmetic ----
Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha = 1);  // a + alpha * b
Tensor add(const Tensor& a, const Scalar& b);
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha = 1);  // a - alpha * b
Tensor sub(const Tensor& a, const Scalar& b);
Tensor rsub(const Tensor& a, const Scalar& b);  // b - a
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Scalar& b);
Tensor div(const Tensor& a, const Tensor& b);  // true division: integers give float32
Tensor div(const Tensor& a, const Scalar& b);
Tensor rdiv(const Tensor& a, const Scalar& b);  // b / a
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, const Scalar& exponent);
Tensor pow(const Tensor& x, const Tensor& exponent);
Tensor pow(const Scalar& base, const Tensor& exponent);

// ---- functions ----
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);   // d/dx at 0 is 0, as in PyTorch
Tensor sign(const Tensor& x);  // gradient zero everywhere
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
/// Clamps into [min, max] (either bound optional). The gradient passes where min <= x <= max, bounds
/// included, as in PyTorch.
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
Tensor clamp_min(const Tensor& x, const Scalar& min);
Tensor clamp_max(const Tensor& x, const Scalar& max);
/// Elementwise max/min; on ties each side gets half the gradient, as in PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
/// cond ? a : b, all three broadcast together.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, const Scalar& b);
Tensor where(const Tensor& condition, const Scalar& a, const Tensor& b);
/// x with `value` where mask is true (mask and x broadcast together).
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value);

// ---- comparisons and logic: bool results, not differentiable ----
Tensor eq(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Scalar& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Scalar& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Scalar& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Scalar& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Scalar& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Scalar& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
/// True when every element of a and b is within atol + rtol * |b| (torch.allclose).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
/// True when a and b have the same shape and the same values (torch.equal).
bool equal(const Tensor& a, const Tensor& b);

// ---- backward formulas that are ops of their own (fused kernels when nothing records, composed from the
// ops above when the backward pass is recorded, so they are differentiable too) ----
Tensor tanh_backward(const Tensor& grad, const Tensor& output);     // grad * (1 - y^2)
Tensor sigmoid_backward(const Tensor& grad, const Tensor& output);  // grad * y * (1 - y)

/// The dtype PyTorch gives `a op b` (dimensioned tensors outrank 0-dim ones within a category).
DType result_type(const Tensor& a, const Tensor& b);

}  // namespace graft
