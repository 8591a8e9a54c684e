#pragma once
// Numerical gradient checks, after torch.autograd.gradcheck / gradgradcheck.
//
// gradcheck compares the Jacobian of fn from central differences (perturbing each input element by ±eps)
// with the one from backward (one backward per output element, with a one-hot grad_output). It also
// checks that backward run twice gives the same result (no hidden state), that a zero grad_output gives
// zero gradients, that gradients have their input's shape and dtype, and that backward adds into an
// existing .grad rather than overwriting it. When no output requires grad, the numerical Jacobian must be
// exactly zero (PyTorch's rule: such a function is locally constant). Inputs should be float64: float32
// inputs get a warning, as in PyTorch, because central differences in single precision are unreliable.
// A failure raises graft::Error naming the output, the input, the element and both values (or, with
// raise_exception = false, is reported through graft::warn and gradcheck returns false).
#include <functional>

#include "graft/graph/tensor.h"

namespace graft::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  /// Throw graft::Error describing the first mismatch (true), or return false.
  bool raise_exception = true;
};

using DifferentiableFunction = std::function<TensorList(const TensorList&)>;

bool gradcheck(const DifferentiableFunction& fn, const TensorList& inputs, const GradcheckOptions& options = {});

/// Checks second derivatives: gradcheck of (inputs, v) -> grad(fn(inputs), inputs, v, create_graph=true).
/// `grad_outputs` defaults to random float64 tensors shaped like fn's outputs.
bool gradgradcheck(const DifferentiableFunction& fn, const TensorList& inputs, const TensorList& grad_outputs = {},
                   const GradcheckOptions& options = {});

/// Overloads for functions returning a single tensor.
inline bool gradcheck(const std::function<Tensor(const TensorList&)>& fn, const TensorList& inputs,
                      const GradcheckOptions& options = {}) {
  return gradcheck(DifferentiableFunction([fn](const TensorList& in) { return TensorList{fn(in)}; }), inputs, options);
}
inline bool gradgradcheck(const std::function<Tensor(const TensorList&)>& fn, const TensorList& inputs,
                          const TensorList& grad_outputs = {}, const GradcheckOptions& options = {}) {
  return gradgradcheck(DifferentiableFunction([fn](const TensorList& in) { return TensorList{fn(in)}; }), inputs,
                       grad_outputs, options);
}

}  // namespace graft::autograd
