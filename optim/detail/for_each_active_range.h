#pragma once
// Definition of optim::for_each_active_range (declared in optim/flat_parameters.h).
#include <algorithm>

#include "graft/ops/kernels/loops.h"

namespace graft::optim {

template <class F>
void for_each_active_range(const FlatBucket& bucket, const std::vector<uint8_t>& active, F&& f) {
  const std::vector<FlatSlot>& slots = bucket.slots();
  std::vector<size_t> ids;
  std::vector<int64_t> starts;  // position of each active slot in the concatenation of active slots
  int64_t total = 0;
  for (size_t m = 0; m < slots.size(); ++m) {
    if (!active[m] || slots[m].numel == 0) continue;
    ids.push_back(m);
    starts.push_back(total);
    total += slots[m].numel;
  }
  if (total == 0) return;
  kernels::parallel_for(total, total, [&](int64_t b, int64_t e) {
    size_t k = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), b) - starts.begin()) - 1;
    while (b < e) {
      const size_t m = ids[k];
      const int64_t lo = b - starts[k];
      const int64_t hi = std::min(e - starts[k], slots[m].numel);
      f(m, slots[m].offset + lo, slots[m].offset + hi);
      b = starts[k] + hi;
      ++k;
    }
  });
}

}  // namespace graft::optim
