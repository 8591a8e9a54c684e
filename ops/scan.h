#pragma once
// Prefix sums, after torch.cumsum.
#include <cstdint>
#include <optional>

#include "graft/graph/tensor.h"

namespace graft {

/// out[..., i, ...] = sum of input[..., j, ...] for j <= i along dim. Integer and bool inputs give int64, as in
/// PyTorch; `dtype` converts the input first. Differentiable: the gradient is the reverse cumulative sum of
/// the output gradient (itself differentiable, to any order). float32 sums accumulate in double.
Tensor cumsum(const Tensor& input, int64_t dim, std::optional<DType> dtype = std::nullopt);

}  // namespace graft
