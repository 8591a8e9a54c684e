#pragma once
// Sampling from categorical distributions, after torch.multinomial.
#include <cstdint>

#include "graft/graph/generator.h"
#include "graft/graph/tensor.h"

namespace graft {

/// int64 category indices drawn from the rows of `input` (1-D: one distribution, (num_samples); 2-D: one per row,
/// (rows, num_samples)), whose non-negative weights need not sum to 1. Without replacement each row gives distinct
/// categories, in the order of successive draws (each proportional to the remaining weights). Draws come from
/// `generator` or the global one (graft::manual_seed): the same seed gives the same samples. Not differentiable.
/// Unlike PyTorch 1.13, which then returns categories of probability 0, drawing more samples without replacement
/// than a row has nonzero categories raises.
Tensor multinomial(const Tensor& input, int64_t num_samples, bool replacement = false, Generator* generator = nullptr);

}  // namespace graft
