#pragma once
// The softmax that attention needs, private to the attention ops (not part of the public API).
//
// masked_softmax is softmax over the last dim that leaves out the entries where `keep` is false (and
// entries equal to -inf); a row where nothing takes part gives zeros instead of NaN, as PyTorch's
// _safe_softmax does inside scaled_dot_product_attention since torch 2.5. Its gradient is zero on such
// rows. It is differentiable twice: the backward uses a fused kernel, or ops when it is being recorded.
#include "graft/graph/tensor.h"

namespace graft::detail {

// `keep`: a bool tensor broadcastable to x, or undefined (everything takes part).
Tensor masked_softmax(const Tensor& x, const Tensor& keep = {});

// keep[i][j] = j <= i, shape (T, S): PyTorch's is_causal mask, the lower triangle aligned at the top left.
Tensor causal_keep_mask(int64_t T, int64_t S);

// The backward of softmax, y * (g - sum(g * y, -1, keepdim)); differentiable in g and y.
Tensor softmax_backward_data(const Tensor& grad, const Tensor& output);

}  // namespace graft::detail
