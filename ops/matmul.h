#pragma once
// Matrix products. matmul follows torch.matmul for 1-D to N-D operands: 1-D vectors are promoted to
// matrices and the added dim removed again; batch dims broadcast; a 2-D right operand is folded into one
// big product instead of a batch of small ones. Differences from PyTorch: operands must be floating
// (PyTorch also multiplies integers), and float32 with float64 gives float64 (PyTorch raises).
#include "graft/graph/tensor.h"

namespace graft {

Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);   // 2-D x 2-D
Tensor bmm(const Tensor& a, const Tensor& b);  // 3-D x 3-D, same batch size
Tensor dot(const Tensor& a, const Tensor& b);  // 1-D x 1-D

}  // namespace graft
