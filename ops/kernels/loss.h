#pragma once
// Kernels of the losses (ops/loss.cpp): the gather/scatter of nll_loss and elementwise binary
// cross-entropy (their log-softmax is ops/activation's). Plain loops templated on the element type (f32 and f64).
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

enum class Reduction : uint8_t { None, Mean, Sum };

// nll_loss over `input` whose classes run along `class_dim`; `target` has input's shape without that dim.
// Returns the loss (target's shape for Reduction::None, else 0-dim), and for backward the class index of
// every target (0 where ignored) and its coefficient d loss / d input[.., index, ..] (0 where ignored).
struct NllLoss {
  Tensor loss, index, coef;
};
NllLoss nll_loss_forward(const char* op, const Tensor& input, int64_t class_dim, const Tensor& target,
                         const Tensor& weight, int64_t ignore_index, Reduction reduction);
// Zeros of `input_shape` with coef * grad placed at the indices (grad: 0-dim, or index's shape).
Tensor nll_loss_backward(const Tensor& grad, const Tensor& index, const Tensor& coef, IntList input_shape,
                         int64_t class_dim);

// -weight * (target * max(log(input), -100) + (1 - target) * max(log1p(-input), -100)) elementwise;
// weight (optional) broadcasts to input's shape. Raises unless every input is in [0, 1].
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight);

}  // namespace graft::kernels
