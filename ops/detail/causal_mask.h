#pragma once
// PyTorch's is_causal mask, shared by the attention ops (private to ops/).
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::detail {

// keep[i][j] = j <= i, shape (T, S): the lower triangle aligned at the top left, as a bool tensor for
// masked_softmax.
Tensor causal_keep_mask(int64_t T, int64_t S);

}  // namespace graft::detail
