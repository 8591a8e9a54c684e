#pragma once
// ZeRO-R's partitioned activation checkpointing (the paper's P_a, section 6.1): activation checkpointing whose
// saved inputs are split across the ranks of a group instead of kept whole on each.
//
// It pays off where every rank of the group holds the same activation: in model (tensor) parallelism, where
// the input of a block is replicated across the ranks that each compute part of the block. Each rank keeps 1/W
// of every checkpointed input between forward and backward; backward all-gathers the pieces into the exact
// input (bit for bit), recomputes the function and back-propagates, as utils::checkpoint does. Memory of the
// checkpoints per rank: 1/W of utils::checkpoint's; traffic: one all-gather of each input per backward.
//
//   Tensor h = x;   // the same on every rank of `comm` (a model-parallel group)
//   for (auto& block : blocks)
//     h = utils::partitioned_checkpoint(comm, [&](const TensorList& in) { return TensorList{block(in[0])}; }, {h})[0];
//
// Data-parallel ranks hold different activations (their own micro-batches), so P_a has nothing to split
// there; the inputs are checked to be equal on every rank (one all-gather of a 64-bit hash per input).
#include <functional>

#include "graft/optim/zero/communicator.h"
#include "graft/utils/checkpoint.h"

namespace graft::utils {

/// utils::checkpoint(function, inputs, options), with each floating-point input kept as this rank's 1/W share
/// (elements [offset, offset + n/W), the first n % W ranks one more; other dtypes, such as token ids, are
/// kept whole) and all-gathered over `comm` when backward
/// recomputes `function`. Collective: every rank of `comm` calls it with equal inputs (same shapes, dtypes
/// and values) and runs backward through it. `comm` must outlive the backward.
/// @throws graft::Error (on every rank) when the inputs differ between ranks, naming the input and the ranks;
///   and whatever utils::checkpoint raises.
TensorList partitioned_checkpoint(optim::zero::Communicator& comm, const std::function<TensorList(const TensorList&)>& function,
                                  const TensorList& inputs, const CheckpointOptions& options = {});

}  // namespace graft::utils
