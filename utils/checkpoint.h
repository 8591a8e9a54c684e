#pragma once
// Activation checkpointing: torch.utils.checkpoint.checkpoint (its reentrant variant). A checkpointed
// function keeps none of its intermediate tensors for backward; backward runs it again, with gradients on,
// and back-propagates through that second run. Memory for compute: a stack of checkpointed blocks holds only
// each block's inputs between forward and backward (and one block's activations at a time during backward),
// at the cost of one more forward of every block.
//
//   Tensor h = x;
//   for (auto& block : blocks)
//     h = utils::checkpoint([&block](const TensorList& in) { return TensorList{block(in[0])}; }, {h})[0];
//   loss_of(h).backward();   // gradients equal to the unchecheckpointed model's
#include <any>
#include <functional>

#include "graft/graph/tensor.h"

namespace graft::utils {

/// torch.utils.checkpoint.checkpoint's options.
struct CheckpointOptions {
  /// Run the recomputation with the generator's state at forward time, so random ops (dropout) draw the same
  /// numbers both times; the global generator after backward is what it was before (PyTorch's default). The
  /// replay draws from a generator of its own (ThreadGeneratorGuard): other threads drawing meanwhile neither
  /// disturb it nor are disturbed.
  bool preserve_rng_state = true;
  /// How each input is kept between forward and backward, as torch.autograd.graph.saved_tensors_hooks' pack
  /// and unpack do for saved tensors: whatever `pack_input(input)` returns is kept instead of the input (hold a
  /// copy, not a view, for the input's memory to go), and backward recomputes from `unpack_input(kept)`, which
  /// must have the input's shape and dtype. Both set, or neither (then the inputs themselves are kept,
  /// version-checked). utils::partitioned_checkpoint keeps 1/W of each input this way.
  std::function<std::any(const Tensor&)> pack_input{};
  std::function<Tensor(const std::any&)> unpack_input{};
};

/// Runs `function(inputs)` without recording its intermediate tensors and returns its outputs; when one of
/// `inputs` requires grad, the outputs get one node whose backward recomputes `function` on the saved inputs
/// (with grad mode on) and back-propagates the incoming gradients through the recomputed graph: the inputs
/// get their gradients through the node, and the leaves `function` uses directly (a module's parameters)
/// get theirs accumulated into their .grad(), as in PyTorch's reentrant checkpoint. `function` must compute
/// the same outputs when run again; it is called once in forward and once per backward.
///
/// As PyTorch's reentrant variant: when no input requires grad nothing is recorded (a warning says so, and
/// the parameters inside get no gradient; make the input require grad, e.g. the first block's embedding
/// output); backward must be `Tensor::backward`/`autograd::backward` without `inputs` (with
/// `autograd::grad` the recomputed pass would still accumulate into the parameters' .grad()); and a
/// parameter used both inside and outside the checkpointed function raises in backward (graft's engine
/// does not run two passes through one node at once).
/// @throws graft::Error when an input is undefined, when only one of pack_input and unpack_input is set, when
///   an unpacked input's shape or dtype differs from the input's, or from `function` (in forward or in the
///   recomputation) and the hooks.
TensorList checkpoint(const std::function<TensorList(const TensorList&)>& function, const TensorList& inputs,
                      const CheckpointOptions& options = {});

}  // namespace graft::utils
