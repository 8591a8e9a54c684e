#pragma once
// The one softmax kernel family: softmax and log_softmax along any dim, the masked softmax attention uses,
// and their backward. Plain loops for f32 and f64 (the reference; sums in double), and oneDNN's softmax_v2
// for float32 tensors large enough to pay for a library call, with its non-finite rows fixed up to what the
// loops give.
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

// From this many elements softmax's float32 forward goes through oneDNN (measured on 2-vCPU Xeon: at 16x64,
// oneDNN's forward takes 1.3 us and the loops 3.7 us). The backward always runs on the loops (see
// softmax_backward in softmax.cpp).
inline constexpr int64_t kOneDnnSoftmaxMinElements = 1024;

// softmax (log = false) or log_softmax (log = true) of x along `dim` (already wrapped), contiguous, in x's
// dtype. A slice whose maximum is -inf (all -inf) or that holds a NaN or +inf comes out NaN, as in PyTorch.
Tensor softmax_forward(const Tensor& x, int64_t dim, bool log);

// softmax over the last dim of the entries where `keep` (bool, broadcastable to x, or undefined) is true
// and that are not -inf; a row where nothing takes part is all zeros (PyTorch's _safe_softmax), a row
// with a kept NaN or +inf is NaN. Contiguous, in x's dtype.
Tensor masked_softmax(const Tensor& x, const Tensor& keep);

// The input gradient from the output y of softmax_forward(x, dim, log) or masked_softmax (dim last, log
// false) and the output gradient: y * (g - sum(g * y)) for softmax, g - exp(y) * sum(g) for log_softmax.
Tensor softmax_backward(const Tensor& grad, const Tensor& output, int64_t dim, bool log);

}  // namespace graft::kernels
