#pragma once
// Definition of optim::for_each_active_range (declared in optim/flat_parameters.h).
#include <algorithm>

#include "graft/ops/kernels/loops.h"

namespace graft::optim {

template <class F>
void for_each_active_range(const FlatBucket& bucket, const std::vector<uint8_t>& active, F&& f, FlatRange range) {
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
  kernels::parallel_for(total, total, [&](int64_t b, int64_t e) {
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
