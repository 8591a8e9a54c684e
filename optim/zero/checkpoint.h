#pragma once
// ZeRO checkpoints: one shard file per rank (ShardedOptimizer::save), each holding the rank's slice of every
// flat buffer of the layout (optim/zero/layout.h) and JSON metadata (stage, world size, rank, optimizer,
// group options, parameter names, shapes, slots and step counts, under the key "zero"). The functions here
// work on the shards of a whole checkpoint: consolidating them into the full state dict, and cutting them
// again for another world size. The zero_checkpoint tool (examples/zero_checkpoint.cpp) runs them on files.
#include <string>
#include <vector>

#include "graft/optim/checkpoint.h"

namespace graft::optim::zero {

/// The path of one rank's shard: `dir/zero_rank<rank>_of_<world_size>.safetensors`.
std::string shard_path(const std::string& dir, int rank, int world_size);

/// Reads every shard of the checkpoint in `dir`, in rank order. Errors: no shard files, a missing rank,
/// shards of different world sizes or checkpoints.
std::vector<Checkpoint> read_shards(const std::string& dir);
/// Writes shards to shard_path(dir, rank, world_size) for each, creating `dir` if needed.
void write_shards(const std::vector<Checkpoint>& shards, const std::string& dir);

/// The full state: the model's parameters and rank 0's unpartitioned state under "model" (a state dict), and
/// the optimizer's state dict under "optimizer", in Optimizer::state_dict()'s layout (parameters numbered
/// across groups, state tensors shaped like their parameters). Bit for bit what an unsharded run holds.
Checkpoint consolidate_shards(const std::vector<Checkpoint>& shards);

/// The same checkpoint cut into world_size shards (the stage is kept).
std::vector<Checkpoint> reshard(const std::vector<Checkpoint>& shards, int world_size);

}  // namespace graft::optim::zero
