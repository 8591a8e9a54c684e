#include "graft/optim/flat_parameters.h"

#include <algorithm>

#include "graft/graph/grad_mode.h"
#include "graft/graph/factory.h"
#include "graft/graph/loops.h"

namespace graft::optim {

FlatBucket::FlatBucket(DType dtype, std::vector<Tensor> members, std::vector<size_t> indices)
    : dtype_(dtype), members_(std::move(members)), indices_(std::move(indices)) {
  for (const Tensor& p : members_) {
    GRAFT_CHECK(p.dtype() == dtype_, "FlatBucket: a {} parameter in a {} bucket", dtype_name(p.dtype()),
                dtype_name(dtype_));
    slots_.push_back(FlatSlot{numel_, p.numel()});
    numel_ += (p.numel() + kSlotAlignment - 1) / kSlotAlignment * kSlotAlignment;
  }
  params_ = zeros({numel_}, dtype_);
  grads_ = zeros({numel_}, dtype_);
  steps_.assign(members_.size(), 0);
  NoGradGuard no_grad;
  for (size_t m = 0; m < members_.size(); ++m) {
    move_into_slot(m);
    // A gradient present now moves into the flat buffer too.
    const Tensor& g = members_[m].grad();
    if (g.defined() && !g.requires_grad()) {
      Tensor view = slot_view(grads_, m);
      view.copy_(g);
      members_[m].mutable_grad() = view;
    }
  }
}

void FlatBucket::move_into_slot(size_t m) {
  Tensor& p = members_[m];
  GRAFT_CHECK(p.dtype() == dtype_ && p.numel() == slots_[m].numel,
              "optimizer: a parameter changed from {} with {} elements to {} with {} elements after the optimizer was "
              "built; build the optimizer after moving or casting the model",
              dtype_name(dtype_), slots_[m].numel, dtype_name(p.dtype()), p.numel());
  Tensor view = slot_view(params_, m);
  view.copy_(p.detach());
  p.impl()->set_data(*view.impl());
}

Tensor FlatBucket::slot_view(const Tensor& buffer, size_t m) const {
  const Tensor& p = members_[m];
  return make_view(buffer, p.shape(), contiguous_strides(p.shape()), buffer.storage_offset() + slots_[m].offset);
}

bool FlatBucket::is_slot_view(const Tensor& t, const Tensor& buffer, size_t m) const {
  return buffer.defined() && t.storage() == buffer.storage() &&
         t.storage_offset() == buffer.storage_offset() + slots_[m].offset && t.is_contiguous();
}

const Tensor& FlatBucket::state(const std::string& name) {
  auto it = state_.find(name);
  if (it == state_.end()) it = state_.emplace(name, zeros({numel_}, dtype_)).first;
  return it->second;
}

std::vector<uint8_t> FlatBucket::sync() {
  GRAFT_CHECK(grads_.defined(), "FlatBucket.sync: the gradient buffer has been taken away (set_grad_buffer)");
  NoGradGuard no_grad;
  std::vector<uint8_t> active(members_.size(), 0);
  for (size_t m = 0; m < members_.size(); ++m) {
    Tensor& p = members_[m];
    if (!is_slot_view(p, params_, m)) move_into_slot(m);
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    active[m] = 1;
    if (is_slot_view(g, grads_, m)) continue;
    Tensor view = slot_view(grads_, m);
    view.copy_(g);
    if (!g.requires_grad()) p.mutable_grad() = view;
  }
  return active;
}

void FlatBucket::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  bool any_flat = false;
  for (size_t m = 0; m < members_.size(); ++m) {
    Tensor& g = members_[m].mutable_grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      g = Tensor();
      continue;
    }
    if (g.grad_fn()) g.detach_();
    else g.requires_grad_(false);
    if (is_slot_view(g, grads_, m)) any_flat = true;
    else g.zero_();
  }
  // One pass over the whole buffer zeroes every slot view at once (slots of members without a gradient
  // hold nothing anyone reads: sync copies a new gradient in before it is used).
  if (any_flat) grads_.zero_();
}

void FlatBucket::adopt_buffers(Tensor params, Tensor grads) {
  GRAFT_CHECK(params.defined(), "FlatBucket.adopt_buffers: the parameter buffer is undefined");
  GRAFT_CHECK(params.dim() == 1 && params.is_contiguous() && params.dtype() == dtype_ && params.numel() >= numel_,
              "FlatBucket.adopt_buffers: expected a contiguous 1-D {} buffer of at least {} elements, got a {} tensor "
              "of shape {}",
              dtype_name(dtype_), numel_, dtype_name(params.dtype()), shape_str(params.shape()));
  GRAFT_CHECK(state_.empty(), "FlatBucket.adopt_buffers: the bucket already has optimizer state");
  NoGradGuard no_grad;
  numel_ = params.numel();
  params_ = std::move(params);
  for (size_t m = 0; m < members_.size(); ++m) members_[m].impl()->set_data(*slot_view(params_, m).impl());
  set_grad_buffer(std::move(grads));
}

void FlatBucket::set_grad_buffer(Tensor grads) {
  if (grads.defined()) {
    GRAFT_CHECK(grads.dim() == 1 && grads.is_contiguous() && grads.dtype() == dtype_ && grads.numel() == numel_,
                "FlatBucket.set_grad_buffer: expected a contiguous 1-D {} buffer of {} elements, got a {} tensor of "
                "shape {}",
                dtype_name(dtype_), numel_, dtype_name(grads.dtype()), shape_str(grads.shape()));
    GRAFT_CHECK(params_.storage() != grads.storage() ||
                    params_.storage_offset() + params_.numel() <= grads.storage_offset() ||
                    grads.storage_offset() + grads.numel() <= params_.storage_offset(),
                "FlatBucket.set_grad_buffer: the gradient buffer overlaps the parameters");
  }
  NoGradGuard no_grad;
  const Tensor old_grads = grads_;
  grads_ = std::move(grads);
  if (!old_grads.defined()) return;
  for (size_t m = 0; m < members_.size(); ++m) {
    Tensor& g = members_[m].mutable_grad();
    if (g.defined() && is_slot_view(g, old_grads, m)) g = grads_.defined() ? slot_view(grads_, m) : Tensor();
  }
}

FlatParameters::FlatParameters(const std::vector<Tensor>& params) {
  std::vector<DType> order;
  std::vector<std::vector<Tensor>> members;
  std::vector<std::vector<size_t>> indices;
  where_.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    DType d = params[i].dtype();
    size_t b = static_cast<size_t>(std::find(order.begin(), order.end(), d) - order.begin());
    if (b == order.size()) {
      order.push_back(d);
      members.emplace_back();
      indices.emplace_back();
    }
    where_[i] = {b, members[b].size()};
    members[b].push_back(params[i]);
    indices[b].push_back(i);
  }
  for (size_t b = 0; b < order.size(); ++b) buckets_.emplace_back(order[b], std::move(members[b]), std::move(indices[b]));
}

void for_each_active_range(const FlatBucket& bucket, const std::vector<uint8_t>& active,
                           const std::function<void(size_t, int64_t, int64_t)>& f, FlatRange range) {
  const std::vector<FlatSlot>& slots = bucket.slots();
  std::vector<size_t> ids;
  std::vector<int64_t> first;   // the first element of each active slot inside the range
  std::vector<int64_t> starts;  // position of that element in the concatenation of the active parts
  int64_t total = 0;
  for (size_t m = 0; m < slots.size(); ++m) {
    const int64_t lo = std::max(slots[m].offset, range.begin);
    const int64_t hi = std::min(slots[m].offset + slots[m].numel, range.end);
    if (!active[m] || hi <= lo) continue;
    ids.push_back(m);
    first.push_back(lo);
    starts.push_back(total);
    total += hi - lo;
  }
  if (total == 0) return;
  loops::parallel_for(total, total, [&](int64_t b, int64_t e) {
    size_t k = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), b) - starts.begin()) - 1;
    while (b < e) {
      const int64_t len = (k + 1 < starts.size() ? starts[k + 1] : total) - starts[k];
      const int64_t lo = b - starts[k];
      const int64_t hi = std::min(e - starts[k], len);
      f(ids[k], first[k] + lo, first[k] + hi);
      b = starts[k] + hi;
      ++k;
    }
  });
}

}  // namespace graft::optim
