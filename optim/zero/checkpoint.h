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

/// Every function below that takes shards checks all of them completely before it uses or allocates
/// anything their metadata describes: each shard's metadata is complete and well-typed; all shards agree on
/// the world size, stage, optimizer, parameters (names, shapes, dtypes), groups and layout; each bucket's
/// layout is exactly the one its parameters give, so no offset or size can point outside a buffer; every
/// parameter sits in exactly one bucket; and each shard holds exactly the tensors its metadata lists, each of
/// its bucket's dtype and slice length (the optimizer state of bfloat16/float16 buckets is float32, and
/// includes their float32 master weights as the state "master"). A violation is a graft::Error naming the
/// shard's file (`zero_rank<r>_of_<W>.safetensors`), the entry and what is wrong.

/// Reads every shard of the checkpoint in `dir`, in rank order.
/// @throws graft::Error for: no shard files, a missing rank, shards of different world sizes, a shard file
/// whose rank is not below its world size or whose numbers are out of range, or an unreadable shard.
std::vector<Checkpoint> read_shards(const std::string& dir);

/// What a checkpoint holds, for tools (examples/zero_checkpoint info).
struct CheckpointInfo {
  struct Param {
    std::string name;
    DType dtype;
    Shape shape;
    int64_t step;  ///< optimizer steps taken (-1: never updated)
  };
  int world_size = 0;
  int stage = 0;
  std::string optimizer;
  std::vector<Param> params;
};
/// The world size, stage, optimizer and parameters of a checkpoint, from its validated shards.
/// @throws graft::Error when the shards are inconsistent or corrupt (see above).
CheckpointInfo describe_shards(const std::vector<Checkpoint>& shards);
/// Writes shards to shard_path(dir, rank, world_size) for each, creating `dir` if needed.
void write_shards(const std::vector<Checkpoint>& shards, const std::string& dir);

/// The full state: the model's parameters and rank 0's unpartitioned state under "model" (a state dict), and
/// the optimizer's state dict under "optimizer", in Optimizer::state_dict()'s layout (parameters numbered
/// across groups, state tensors shaped like their parameters). Bit for bit what an unsharded run holds. A
/// 16-bit parameter's state also holds its float32 master weights, as "master".
Checkpoint consolidate_shards(const std::vector<Checkpoint>& shards);

/// The same checkpoint cut into world_size shards (the stage is kept).
std::vector<Checkpoint> reshard(const std::vector<Checkpoint>& shards, int world_size);

}  // namespace graft::optim::zero
