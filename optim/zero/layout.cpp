#include "graft/optim/zero/layout.h"

#include <algorithm>

namespace graft::optim::zero {

namespace {
// n rounded up to a multiple of `multiple`, checked: sizes may come from a checkpoint's metadata.
int64_t round_up(int64_t n, int64_t multiple) {
  return checked_mul(checked_add(n, multiple - 1, "ZeRO layout", "a size") / multiple, multiple, "ZeRO layout", "a size");
}
}  // namespace

FlatRange ZeroBucketLayout::overlap(size_t m, FlatRange r) const {
  const FlatSlot& s = slots[m];
  return {std::max(s.offset, r.begin), std::min(s.offset + s.numel, r.end)};
}

ZeroGroupLayout make_zero_layout(const std::vector<Tensor>& params, int world_size) {
  std::vector<std::pair<DType, int64_t>> sizes;
  for (const Tensor& p : params) sizes.emplace_back(p.dtype(), p.numel());
  return make_zero_layout(sizes, world_size);
}

ZeroGroupLayout make_zero_layout(const std::vector<std::pair<DType, int64_t>>& params, int world_size) {
  GRAFT_CHECK(world_size >= 1, "ZeRO layout: the world size must be at least 1, got {}", world_size);
  ZeroGroupLayout layout;
  layout.where.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const DType d = params[i].first;  // not a structured binding: clang 14 can't capture those
    const int64_t numel = params[i].second;
    auto it = std::find_if(layout.buckets.begin(), layout.buckets.end(), [d](const auto& b) { return b.dtype == d; });
    if (it == layout.buckets.end()) {
      layout.buckets.emplace_back();
      layout.buckets.back().dtype = d;
      layout.buckets.back().world_size = world_size;
      it = layout.buckets.end() - 1;
    }
    ZeroBucketLayout& b = *it;
    layout.where[i] = {static_cast<size_t>(it - layout.buckets.begin()), b.members.size()};
    b.members.push_back(i);
    b.slots.push_back(FlatSlot{b.numel, numel});
    b.numel = checked_add(b.numel, round_up(numel, kSlotAlignment), "ZeRO layout", "a bucket's size");
  }
  for (ZeroBucketLayout& b : layout.buckets)
    b.slice = round_up(round_up(b.numel, world_size) / world_size, kSlotAlignment);
  return layout;
}

}  // namespace graft::optim::zero
