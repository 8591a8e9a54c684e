#pragma once
// Dropout, as torch.nn.functional.dropout.
#include "graft/graph/generator.h"
#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// In training, zeroes each element with probability p and scales the survivors by 1 / (1 - p) (inverted
/// dropout, so evaluation needs no rescaling); p = 1 gives zeros. Not training, or with p = 0, it returns
/// the input itself. The mask is drawn from `generator`, or from graft's global generator (seeded with
/// graft::manual_seed) when none is given, so runs are reproducible; the gradient is masked and scaled
/// the same way. Differences from PyTorch: no `inplace` argument (graft records no in-place history), and
/// the optional generator (torch takes none here), which makes a call repeatable on its own.
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true, Generator* generator = nullptr);

}  // namespace graft::nn::functional
