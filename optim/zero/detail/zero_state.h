#pragma once
// ShardedOptimizer's bookkeeping (optimizer implementation only).
#include <memory>
#include <string>
#include <vector>

#include "graft/graph/tensor.h"
#include "graft/optim/flat_parameters.h"
#include "graft/optim/zero/communicator.h"
#include "graft/optim/zero/layout.h"

namespace graft::optim::zero::detail {

// Elements [begin, begin + length) of a 1-D buffer, as a view.
inline Tensor span(const Tensor& buffer, int64_t begin, int64_t length) {
  return make_view(buffer, {length}, {1}, buffer.storage_offset() + begin);
}

// One parameter of the optimizer, numbered across groups in order (as Optimizer::state_dict numbers them).
struct ZeroParam {
  Tensor tensor;
  std::string name;   // its name in the model
  size_t group = 0;
  size_t bucket = 0;  // index into ShardedOptimizer::buckets_
  size_t member = 0;  // position in that bucket
  bool has_grad = false;  // has had a gradient (since joining or zero_grad(set_to_none=true))
  size_t hook = 0;        // handle of the gradient hook, 0 when none
  size_t accumulated_hook = 0;  // handle of the post-accumulate-grad hook, 0 when none
  size_t reduce_bucket = 0;     // index into ShardedOptimizer::reduce_buckets_
  bool accumulated = false;     // its gradient has been accumulated in the current backward
};

// Consecutive members of a ZeroBucket whose gradients are reduced together (reduce_bucket_size): flat elements
// [begin, end) of the bucket's padded buffers. A bucket's reduce buckets tile its padded length.
struct ReduceBucket {
  size_t bucket = 0;                 // index into ShardedOptimizer::buckets_
  size_t first_member = 0, end_member = 0;
  int64_t begin = 0, end = 0;
  size_t trainable = 0;              // members that require grad
  size_t waiting = 0;                // of those, the ones whose gradient the current backward has not delivered
  std::unique_ptr<Work> work;        // the reduction in flight
};

// One bucket of one group: its layout and this rank's buffers.
struct ZeroBucket {
  size_t group = 0;
  ZeroBucketLayout layout;
  std::vector<size_t> params;  // ZeroParam index of each member
  Tensor flat;      // stages 0-2: every parameter's values (padded length); the parameters view it
  Tensor slice;     // the parameters this rank updates: all of `flat` at stage 0, its slice at stages 1-2, a
                    // buffer of its own at stage 3 (the only copy of the rank's parameters)
  Tensor local;     // a micro-batch's gradients before the reduction (padded length); kept at stages 0-1
  Tensor extra;     // stages 0-1: the local gradients of a micro-batch after the first, while it is reduced
  Tensor reduced;   // the reduced gradient of the rank's part: all of `local` at stage 0, its slice at
                    // stage 1, a buffer of its own at stages 2-3
  FlatRange range;  // the elements this rank updates
  Tensor master;       // 16-bit buckets: the float32 master copy of `slice`, which the rank's optimizer updates
  Tensor master_grad;  // 16-bit buckets, from the first unscale_/clip_grad_norm_/step after a backward to the
                       // end of the step: `reduced` in float32, the optimizer's gradient buffer
  FlatBucket* inner = nullptr;        // the rank optimizer's bucket over `slice` or `master` (null: no piece here)
  std::vector<size_t> piece_members;  // the member behind each of inner's members

  // bfloat16 and float16 buckets train mixed precision: 16-bit parameters and gradients, float32 optimizer.
  bool mixed() const { return is_reduced_floating(layout.dtype); }
  DType optimizer_dtype() const { return mixed() ? kFloat32 : layout.dtype; }
  // The reduced gradient of the rank's part as the optimizer sees it.
  const Tensor& slice_grad() const { return mixed() ? master_grad : reduced; }
};

}  // namespace graft::optim::zero::detail
