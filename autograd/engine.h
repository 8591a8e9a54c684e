#pragma once
// The backward engine and its two entry points, mirroring torch.autograd.backward and torch.autograd.grad.
#include <optional>

#include "graft/graph/tensor.h"

namespace graft::autograd {

/// Accumulates d(sum_i <tensors[i], grad_tensors[i]>)/d(leaf) into every leaf's .grad(). A grad may be
/// omitted (undefined) for a one-element tensor. retain_graph defaults to create_graph. With `inputs`, only
/// those tensors' .grad() are accumulated into.
void backward(const TensorList& tensors, const TensorList& grad_tensors = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
              const TensorList& inputs = {});

/// Returns d(sum_i <outputs[i], grad_outputs[i]>)/d(inputs[j]) without touching any .grad(). An input that
/// the outputs do not depend on is an error, or an undefined tensor with allow_unused.
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs = {},
                std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                bool allow_unused = false);

}  // namespace graft::autograd
