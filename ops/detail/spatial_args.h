#pragma once
// The per-dim arguments of the convolution, pooling and fold ops (kernel_size, stride, padding, dilation,
// ...): PyTorch takes one value for every spatial dim or one value per dim. Internal to ops/.
#include <array>
#include <cstdint>

#include "graft/graph/array_ref.h"

namespace graft::detail {

// `values` (1 or `spatial` of them) as one value per spatial dim (index 0 first); every value must be at
// least `min` (0: "non-negative", 1: "positive"). graft::Error names the op and the argument otherwise.
std::array<int64_t, 2> spatial_arg(const char* op, const char* arg, IntList values, int spatial, int64_t min);

}  // namespace graft::detail
