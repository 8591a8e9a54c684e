#pragma once
// softmax and log_softmax along one dim, forward and backward: plain loops for f32 and f64 (the
// reference), oneDNN's softmax_v2 for float32 tensors large enough to pay for a library call.
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

// Below this many elements the reference loops beat a oneDNN call (measured on 2-vCPU Xeon: at 16x64,
// oneDNN's forward takes 1.3 us and the loops 3.7 us). softmax's backward has no exp, so the loops keep
// up with oneDNN longer.
inline constexpr int64_t kOneDnnSoftmaxMinElements = 1024;
inline constexpr int64_t kOneDnnSoftmaxBackwardMinElements = 4096;

// softmax (log = false) or log_softmax (log = true) of x along `dim` (already wrapped), contiguous, in x's
// dtype. A slice whose maximum is -inf (all -inf) comes out NaN, as in PyTorch.
Tensor softmax_forward(const Tensor& x, int64_t dim, bool log);

// The input gradient from the output y = softmax_forward(x, dim, log) and the output gradient:
// y * (g - sum(g * y)) for softmax, g - exp(y) * sum(g) for log_softmax.
Tensor softmax_backward(const Tensor& grad, const Tensor& output, int64_t dim, bool log);

// oneDNN's softmax over the last dim of contiguous float32 tensors (x and y may be one tensor), with no
// handling of non-finite slices: oneDNN's exp does not propagate NaN and an all -inf slice comes out NaN,
// so callers fix such slices up themselves (see softmax_forward).
void onednn_softmax_last_dim(const Tensor& x, const Tensor& y);
void onednn_softmax_backward_last_dim(const Tensor& grad, const Tensor& output, const Tensor& grad_input);

}  // namespace graft::kernels
