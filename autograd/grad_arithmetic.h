#pragma once
// The few tensor operations the engine itself needs: summing gradients that meet at one input, reducing a
// broadcast gradient back to its input's shape, casting to the input's dtype. They are ops, and ops sit
// above autograd, so ops/ installs them here at start-up (ops/grad_arithmetic.cpp) instead of autograd
// reaching up for them. When the engine records the backward pass (create_graph), they record too.
#include "graft/graph/tensor.h"

namespace graft::autograd {

struct GradArithmetic {
  Tensor (*add)(const Tensor& a, const Tensor& b) = nullptr;
  void (*add_inplace)(Tensor& self, const Tensor& other) = nullptr;  // only with grad mode off
  Tensor (*sum_to)(const Tensor& t, IntList shape) = nullptr;
  Tensor (*to_dtype)(const Tensor& t, DType dtype) = nullptr;
  Tensor (*clone)(const Tensor& t) = nullptr;
};

const GradArithmetic& grad_arithmetic();
void install_grad_arithmetic(const GradArithmetic& ops);

}  // namespace graft::autograd
