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

/// Channel dropout (torch.nn.functional.dropout2d): in training, zeroes whole channels, each with probability p,
/// and scales the others by 1 / (1 - p). A 4-D input is (N, C, H, W); a 3-D one is read as (N, C, L), as in
/// PyTorch 1.13 (which warns that this will change). Not training, or with p = 0, it returns the input itself.
/// The mask comes from `generator` or graft's global generator, as for dropout.
/// @throws graft::Error for p outside [0, 1], a non-floating input, or an input that is not 3-D or 4-D
///   (PyTorch warns there and drops the channels of dim 1).
Tensor dropout2d(const Tensor& input, double p = 0.5, bool training = true, Generator* generator = nullptr);

}  // namespace graft::nn::functional
