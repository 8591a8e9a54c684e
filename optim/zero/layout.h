#pragma once
// The flat layout ZeRO partitions. As in FlatParameters (optim/flat_parameters.h), each parameter group is
// split into one bucket per dtype, in order of first appearance, and each parameter takes a slot starting
// at a multiple of kSlotAlignment elements. The bucket is then padded so that it splits into world_size equal
// slices whose lengths are multiples of kSlotAlignment too: rank r owns elements [r * slice, (r + 1) * slice)
// of every buffer of the bucket (parameters, gradients, optimizer state). The padding is zero and never
// reaches a parameter. Slots do not depend on the world size, which is what makes resharding a checkpoint
// a matter of cutting the same flat buffers differently.
#include <cstdint>
#include <utility>
#include <vector>

#include "graft/optim/flat_parameters.h"

namespace graft::optim::zero {

struct ZeroBucketLayout {
  DType dtype = kFloat32;
  std::vector<size_t> members;  // positions of the bucket's parameters in their group
  std::vector<FlatSlot> slots;  // one per member
  int64_t numel = 0;            // the unpadded length (the end of the last slot, rounded up to the alignment)
  int64_t slice = 0;            // elements per rank
  int world_size = 1;

  int64_t padded() const { return slice * world_size; }
  FlatRange range(int rank) const { return {slice * rank, slice * (rank + 1)}; }
  /// The part of member m's slot inside `range` ([begin, end), empty when begin >= end).
  FlatRange overlap(size_t m, FlatRange range) const;
};

struct ZeroGroupLayout {
  std::vector<ZeroBucketLayout> buckets;
  std::vector<std::pair<size_t, size_t>> where;  // per parameter of the group: (bucket, member)
};

/// The layout of one parameter group's tensors for `world_size` ranks.
/// @throws graft::Error when world_size < 1.
ZeroGroupLayout make_zero_layout(const std::vector<Tensor>& params, int world_size);
/// The same from each parameter's dtype and element count (what a checkpoint records): checkpoints are
/// checked against the layout their parameters must have.
/// @throws graft::Error when world_size < 1 or a bucket's size overflows int64.
ZeroGroupLayout make_zero_layout(const std::vector<std::pair<DType, int64_t>>& params, int world_size);

}  // namespace graft::optim::zero
