#pragma once
// Model surgery for attention: swap every MultiheadAttention of a model for an EagerMultiheadAttention
// (nn/modules/eager_multihead_attention.h) with the same weights, e.g. to read or change the attention step
// by step, then train or run the model as before: outputs, attention weights and gradients stay the same.
#include <string>
#include <vector>

#include "graft/nn/module.h"

namespace graft::nn {

/// Replaces each MultiheadAttention below `model` (at any depth) by EagerMultiheadAttention::from(it,
/// use_in_proj): separate q_proj/k_proj/v_proj Linears (use_in_proj = false) or one fused in_proj Linear
/// (true), with the weights copied bitwise and the same training mode. Returns the dotted names of the
/// replaced modules, depth first in registration order. A MultiheadAttention held in several places (the same
/// shared_ptr) becomes one eager module held in the same places, so tied weights stay tied; the name
/// returned is the first place. Hooks registered on the old modules are not carried over.
/// Everything is checked before anything is replaced: on error (use_in_proj with a module whose kdim or vdim
/// differs from embed_dim) the model is unchanged. The model itself has no parent to be replaced in: for a
/// MultiheadAttention on its own, use EagerMultiheadAttention::from.
std::vector<std::string> replace_mha_with_eager(Module& model, bool use_in_proj);

}  // namespace graft::nn
