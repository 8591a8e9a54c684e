#pragma once
// torch.nn.functional.pad.
#include <string_view>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// Pads (or, with negative sizes, crops) the last dims of `input`. `pad` lists (before, after) pairs starting
/// from the last dim, as PyTorch: {left, right} pads the last dim, {left, right, top, bottom} the last two.
/// @param mode "constant" (fill with `value`; any number of dims), "reflect" (mirror without repeating the
///   edge; each size smaller than the dim), "replicate" (repeat the edge) or "circular" (wrap around, at
///   most once). The last three pad 1, 2 or 3 dims of a 2-D/3-D, 3-D/4-D or 4-D/5-D input (an optional
///   batch dim, then the channels), and take no value.
/// @return the padded tensor, of the input's dtype; differentiable in the input (the gradient of a padded
///   position goes to the element it copies).
/// @throws graft::Error for an odd-length `pad`, more pairs than dims, a negative output size, an unknown
///   mode, a value with a non-constant mode, sizes too large for reflect or circular, an empty dim to
///   replicate or reflect, or dims that the non-constant modes do not pad.
Tensor pad(const Tensor& input, IntList pad, std::string_view mode = "constant", double value = 0.0);

}  // namespace graft::nn::functional
