// Storage::release/refill: the memory goes away, the Storage object (and every handle, view, saved tensor and
// version counter that refers to it) stays; a saved tensor brings released memory back through the restorer.
#include <gtest/gtest.h>

#include "graft/graft.h"

using namespace graft;

namespace {

TEST(StorageRelease, KeepsTheObjectAndRaisesOnAccessUntilRefilled) {
  Tensor t = arange(6, kFloat32).reshape({2, 3});
  Tensor view = t.narrow(1, 1, 2);
  const uint32_t version = t.version();
  std::shared_ptr<Storage> storage = t.storage();
  storage->release();
  EXPECT_TRUE(storage->is_released());
  EXPECT_EQ(storage->nbytes(), 24u);
  EXPECT_EQ(view.storage(), storage);
  try {
    t.sum();
    ADD_FAILURE() << "a released tensor was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has been released"), std::string::npos) << e.what();
  }
  EXPECT_THROW(view.item<float>(), Error);
  storage->release();  // twice is harmless
  storage->refill();
  EXPECT_FALSE(storage->is_released());
  Tensor(t).fill_(2.0);
  EXPECT_EQ(view.to_vector<float>(), (std::vector<float>{2, 2, 2, 2}));
  EXPECT_EQ(t.version(), version + 1);  // only the write counted
}

TEST(StorageRelease, LargeBuffersGoBackToTheRecyclingCacheAndComeFromIt) {
  Storage::release_cached_buffers();
  Tensor t = zeros({64 * 1024}, kFloat32);  // 256 KiB: recycled size
  std::shared_ptr<Storage> storage = t.storage();
  storage->release();
  EXPECT_EQ(Storage::cached_buffer_bytes(), size_t{256} << 10);
  storage->refill();
  EXPECT_EQ(Storage::cached_buffer_bytes(), 0u);
  Tensor(t).fill_(3.0);
  EXPECT_EQ(t.sum().item<float>(), 3.0f * 64 * 1024);
  storage->release();
  t = Tensor();
  storage.reset();  // destroying a released storage frees nothing twice
  EXPECT_EQ(Storage::cached_buffer_bytes(), size_t{256} << 10);
  Storage::release_cached_buffers();
}

TEST(StorageRelease, MemoryOwnedElsewhereCannotBeReleased) {
  std::vector<float> data(4, 1.0f);
  std::shared_ptr<Storage> s = Storage::wrap(data.data(), 16, nullptr);
  EXPECT_THROW(s->release(), Error);
}

TEST(StorageRelease, BackwardRestoresASavedTensorThroughItsRestorer) {
  Tensor w = arange(4, kFloat64).reshape({2, 2}).requires_grad_();
  Tensor x = ones({3, 2}, kFloat64);
  Tensor y = matmul(x, w).sum();  // saves w for backward
  std::shared_ptr<Storage> storage = w.storage();
  storage->release();
  int restored = 0;
  storage->set_restorer([&] {
    ++restored;
    storage->refill();
    double* p = static_cast<double*>(storage->data());
    for (int i = 0; i < 4; ++i) p[i] = i;  // what a ZeRO gather would put back
  });
  y.backward();
  EXPECT_EQ(restored, 1);
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{3, 3, 3, 3}));
  // Without a restorer, backward through a released tensor is an error.
  Tensor z = matmul(x, w).sum();
  storage->set_restorer(nullptr);
  storage->release();
  EXPECT_THROW(z.backward(), Error);
}

}  // namespace
