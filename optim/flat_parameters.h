#pragma once
// Flat buffers for an optimizer's parameter groups. When an optimizer takes a group, its parameters are
// moved into one contiguous buffer per dtype (a FlatBucket), each parameter becoming a view of its slot
// (TensorImpl::set_data: the user's Tensor handles keep working and keep their values). Gradients live in
// a second buffer of the same layout, each parameter's .grad being a view of its slot, and every piece of
// optimizer state (exp_avg, momentum_buffer, ...) in further buffers of that layout. An update then runs
// as one pass over the buffers, and ZeRO can partition them by element range.
//
// Slots start at multiples of kSlotAlignment elements (64 bytes of float32); the gaps between them are
// zero in every buffer and are never updated.
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graft/graph/tensor.h"

namespace graft::optim {

inline constexpr int64_t kSlotAlignment = 16;

/// Where one parameter lives in its bucket's buffers.
struct FlatSlot {
  int64_t offset = 0;
  int64_t numel = 0;
};

class FlatBucket {
 public:
  /// Moves `members` (all of dtype `dtype`) into a new flat buffer. `indices` are their positions in the
  /// parameter group.
  FlatBucket(DType dtype, std::vector<Tensor> members, std::vector<size_t> indices);

  DType dtype() const { return dtype_; }
  int64_t numel() const { return numel_; }  // length of every buffer, gaps included
  size_t size() const { return members_.size(); }
  const std::vector<Tensor>& members() const { return members_; }
  const std::vector<size_t>& indices() const { return indices_; }
  const std::vector<FlatSlot>& slots() const { return slots_; }

  /// 1-D buffers of numel() elements; every member (and its .grad, once synced) views a slot of them.
  const Tensor& params() const { return params_; }
  const Tensor& grads() const { return grads_; }
  /// Member m's slot of a buffer, shaped like the member.
  Tensor slot_view(const Tensor& buffer, size_t m) const;

  /// Named optimizer state, one flat buffer per name, zero-filled when first asked for.
  const Tensor& state(const std::string& name);
  bool has_state(const std::string& name) const { return state_.count(name) != 0; }
  const std::map<std::string, Tensor>& states() const { return state_; }
  /// Per member, how many updates its state has seen (Adam's `step`); 0 means it has no state yet.
  std::vector<int64_t>& steps() { return steps_; }
  const std::vector<int64_t>& steps() const { return steps_; }

  /// Prepares an update: moves back any member that something else re-homed, and brings every defined
  /// .grad into grads() (a gradient that is not the member's slot view, e.g. a fresh one after
  /// zero_grad(set_to_none=true), is copied in and .grad is pointed at the view, unless it requires grad).
  /// Returns, per member, whether it has a gradient (members without one are skipped by the update).
  std::vector<uint8_t> sync();
  /// Optimizer.zero_grad for the members.
  void zero_grad(bool set_to_none);

  /// Makes `params` (a contiguous 1-D tensor of this bucket's dtype, at least numel() elements) the bucket's
  /// parameter buffer in place of its own, before any state exists: every member is re-pointed at its slot
  /// and takes the values found there, and numel() becomes params.numel(). Then set_grad_buffer(grads).
  /// ZeRO lays each rank's slice out in its own buffers and lends them to the optimizer of that rank this way
  /// (optim/zero/).
  void adopt_buffers(Tensor params, Tensor grads);
  /// Replaces the gradient buffer (a contiguous 1-D tensor of this bucket's dtype and numel() elements, not
  /// overlapping params()), at any time: a gradient that viewed the old buffer is re-pointed at its slot of
  /// `grads`. An undefined `grads` takes the buffer away (those gradients become undefined) until the next
  /// call; sync() raises meanwhile. ZeRO's mixed precision lends its float32 gradients only for the
  /// duration of a step this way (optim/zero/sharded_optimizer.h).
  void set_grad_buffer(Tensor grads);

 private:
  bool is_slot_view(const Tensor& t, const Tensor& buffer, size_t m) const;
  /// Copies member m's values into its slot and makes it view the slot (TensorImpl::set_data).
  void move_into_slot(size_t m);

  DType dtype_;
  int64_t numel_ = 0;
  std::vector<Tensor> members_;
  std::vector<size_t> indices_;
  std::vector<FlatSlot> slots_;
  Tensor params_;
  Tensor grads_;
  std::map<std::string, Tensor> state_;
  std::vector<int64_t> steps_;
};

/// The flat buffers of one parameter group: one bucket per dtype, in order of first appearance.
class FlatParameters {
 public:
  FlatParameters() = default;
  explicit FlatParameters(const std::vector<Tensor>& params);

  std::vector<FlatBucket>& buckets() { return buckets_; }
  const std::vector<FlatBucket>& buckets() const { return buckets_; }
  /// The bucket and member index of the group's i-th parameter.
  std::pair<size_t, size_t> locate(size_t i) const { return where_.at(i); }

 private:
  std::vector<FlatBucket> buckets_;
  std::vector<std::pair<size_t, size_t>> where_;
};

/// Elements [begin, end) of a bucket's buffers.
struct FlatRange {
  int64_t begin = 0;
  int64_t end = std::numeric_limits<int64_t>::max();
};

/// Calls f(member, begin, end) over the parts inside `range` of the slots of the members flagged in
/// `active`, the elements split evenly across OpenMP threads (one parallel region for the whole bucket).
/// begin/end index the buffers. f runs once per (thread, member) piece, so a std::function costs nothing
/// measurable next to the element loop inside it.
void for_each_active_range(const FlatBucket& bucket, const std::vector<uint8_t>& active,
                           const std::function<void(size_t member, int64_t begin, int64_t end)>& f,
                           FlatRange range = {});

}  // namespace graft::optim
