#pragma once
// The softmax kernels behind attention: a row softmax over the last dim that leaves out masked entries and
// gives a zero row where nothing is left, and its backward.
#include "graft/graph/tensor.h"

namespace graft::kernels {

// y = softmax(x) over the last dim. x and y are contiguous and of the same shape and floating dtype.
// `keep` (bool, broadcastable to x, or undefined) marks the entries that take part; entries equal to -inf
// take no part either. A row where nothing takes part is all zeros.
void masked_softmax(const Tensor& x, const Tensor& keep, const Tensor& y);

// dx = y * (g - rowsum(g * y)) over the last dim; all contiguous, of one shape and dtype.
void softmax_backward(const Tensor& g, const Tensor& y, const Tensor& dx);

}  // namespace graft::kernels
