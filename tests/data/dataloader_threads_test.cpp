// DataLoaders on several threads at once (one per in-process ZeRO rank, say): each is used by one thread,
// they may share a dataset, and unseeded ones draw from graft's global generator, which is locked. The
// ThreadSanitizer build (make test-tsan) runs this suite to check that nothing here races.
#include <gtest/gtest.h>

#include <thread>

#include "graft/graft.h"

using namespace graft;
using namespace graft::data;

namespace {

TEST(DataLoaderThreads, LoadersOnSeveralThreadsShareADatasetAndTheGlobalGenerator) {
  auto dataset = std::make_shared<const TensorDataset>(arange(64, kFloat32).reshape({32, 2}),
                                                       arange(32, kInt64));
  std::vector<int64_t> totals(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      // Threads 0 and 1 shuffle from the global generator, 2 and 3 from seeds of their own.
      DataLoaderOptions options = DataLoaderOptions(5).shuffle(true);
      if (t >= 2) options.seed(static_cast<uint64_t>(t));
      DataLoader loader(dataset, options);
      for (int epoch = 0; epoch < 3; ++epoch)
        for (const auto& [x, y] : loader) totals[static_cast<size_t>(t)] += y.sum().item<int64_t>();
    });
  for (auto& th : threads) th.join();
  for (int64_t total : totals) EXPECT_EQ(total, 3 * (31 * 32 / 2));  // every example once per epoch
}

}  // namespace
