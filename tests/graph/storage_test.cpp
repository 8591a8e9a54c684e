// Storage: large buffers are recycled by size, small ones come straight from malloc.
#include <gtest/gtest.h>

#include "graft/graft.h"

using namespace graft;

TEST(Storage, ALargeBufferFreedIsReusedForTheSameSize) {
  Storage::release_cached_buffers();
  void* first = Storage::allocate(1 << 20)->data();  // the temporary storage dies here
  EXPECT_GE(Storage::cached_buffer_bytes(), size_t{1} << 20);
  auto again = Storage::allocate(1 << 20);
  EXPECT_EQ(again->data(), first);
  EXPECT_EQ(Storage::cached_buffer_bytes(), 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(again->data()) % 64, 0u);
}

TEST(Storage, SizesWithinOnePageShareACacheEntryAndOthersDoNot) {
  Storage::release_cached_buffers();
  void* first = Storage::allocate(300000)->data();
  auto other_size = Storage::allocate(600000);
  EXPECT_NE(other_size->data(), first);
  auto same_page = Storage::allocate(300001);  // rounds up to the same 4 KiB multiple
  EXPECT_EQ(same_page->data(), first);
}

TEST(Storage, SmallBuffersAreNotCachedAndReleaseEmptiesTheCache) {
  Storage::release_cached_buffers();
  { auto small = Storage::allocate(4096); }
  EXPECT_EQ(Storage::cached_buffer_bytes(), 0u);
  { auto big = Storage::allocate(1 << 20); }
  EXPECT_GT(Storage::cached_buffer_bytes(), 0u);
  Storage::release_cached_buffers();
  EXPECT_EQ(Storage::cached_buffer_bytes(), 0u);
}

TEST(Storage, TheCacheStopsGrowingAtItsLimit) {
  Storage::release_cached_buffers();
  {
    std::vector<std::shared_ptr<Storage>> many;
    for (int i = 0; i < 40; ++i) many.push_back(Storage::allocate(size_t{8} << 20));  // 320 MiB
  }
  EXPECT_LE(Storage::cached_buffer_bytes(), size_t{256} << 20);
  EXPECT_GE(Storage::cached_buffer_bytes(), size_t{248} << 20);
  Storage::release_cached_buffers();
}

TEST(Storage, RecycledBuffersBackTensorsLikeFreshOnes) {
  Tensor a = full({512, 512}, 3.0);
  const float* where = a.data_ptr<float>();
  a = Tensor();
  Tensor b = zeros({512, 512});
  EXPECT_EQ(b.data_ptr<float>(), where);
  EXPECT_EQ(b.sum().item<double>(), 0.0);
}
