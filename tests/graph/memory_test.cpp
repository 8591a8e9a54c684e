// graph/memory.h: graft's counterpart of torch.cuda's memory statistics, counted on the storages graft
// allocates.
#include <gtest/gtest.h>

#include <vector>

#include "graft/graft.h"

using namespace graft;

namespace {

TEST(MemoryStats, CountTheBytesOfLiveStoragesAndTheirPeak) {
  const int64_t before = memory_allocated();
  reset_peak_memory_stats();
  EXPECT_EQ(max_memory_allocated(), before);
  const MemoryStats s0 = memory_stats();
  {
    Tensor a = empty({1000}, kFloat32);          // 4000 bytes
    Tensor b = zeros({250, 100}, kFloat64);      // 200000 bytes: a recycled large buffer
    Tensor view = b.narrow(0, 10, 20).t();       // views allocate nothing
    EXPECT_EQ(memory_allocated(), before + 204000);
    Tensor c = view.contiguous();                // 20 x 100 doubles
    EXPECT_EQ(memory_allocated(), before + 220000);
    const MemoryStats s1 = memory_stats();
    EXPECT_EQ(s1.allocations - s0.allocations, 3);
    EXPECT_GE(s1.reserved_bytes, s1.allocated_bytes);
  }
  EXPECT_EQ(memory_allocated(), before);
  EXPECT_EQ(max_memory_allocated(), before + 220000);
  EXPECT_EQ(memory_stats().frees - s0.frees, 3);
  // The freed large buffer is kept for reuse: reserved, not allocated, until empty_cache().
  EXPECT_GE(memory_reserved(), memory_allocated() + 200000);
  empty_cache();
  EXPECT_EQ(memory_reserved(), memory_allocated());
  reset_peak_memory_stats();
  EXPECT_EQ(max_memory_allocated(), before);
}

TEST(MemoryStats, MemoryOwnedElsewhereIsNotCounted) {
  std::vector<float> data(4096, 1.0f);
  const int64_t before = memory_allocated();
  Tensor t = from_blob(data.data(), {4096}, kFloat32);
  EXPECT_EQ(memory_allocated(), before);
  Tensor u = t * 2.0;  // the result is graft's
  EXPECT_EQ(memory_allocated(), before + 4096 * 4);
}

TEST(MemoryStats, SavedActivationsAreHeldUntilBackwardFreesThem) {
  Tensor w = ones({256, 256}).requires_grad_(true);
  const int64_t start = memory_allocated();
  Tensor h = ones({64, 256});
  for (int i = 0; i < 4; ++i) h = tanh(matmul(h, w));  // each tanh output is saved for backward
  Tensor loss = sum(h);
  const int64_t held = memory_allocated() - start;
  EXPECT_GE(held, 4 * 64 * 256 * 4);
  loss.backward();
  h = Tensor();
  loss = Tensor();
  EXPECT_EQ(memory_allocated() - start, 256 * 256 * 4);  // only w's gradient is left
}

}  // namespace
