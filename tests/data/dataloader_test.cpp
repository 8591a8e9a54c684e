// Datasets and the DataLoader: batching, drop_last, seeded and reproducible shuffling.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "graft/graft.h"

using namespace graft;
using namespace graft::data;

namespace {

// 10 examples: input row i is (i, 10 i), target i.
TensorDataset numbered(int64_t n = 10) {
  std::vector<double> x;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(static_cast<double>(i));
    x.push_back(10.0 * static_cast<double>(i));
    y.push_back(i);
  }
  return TensorDataset(tensor(x, {n, 2}, kFloat32), tensor(y, {n}, kInt64));
}

// A dataset without tensors behind it: uses the default get_batch, which stacks get(i).
class Squares : public Dataset {
 public:
  int64_t size() const override { return 5; }
  Example get(int64_t index) const override {
    const int64_t i = checked_index("Squares", index);
    return {full({3}, static_cast<double>(i * i), kFloat64), scalar_tensor(i)};
  }
};

std::vector<int64_t> epoch_order(DataLoader& loader) {
  std::vector<int64_t> order;
  for (const auto& [x, y] : loader) {
    const auto ys = y.to_vector<int64_t>();
    order.insert(order.end(), ys.begin(), ys.end());
  }
  return order;
}

TEST(TensorDataset, IndexesExamplesAndGathersBatches) {
  TensorDataset d = numbered();
  EXPECT_EQ(d.size(), 10);
  Example e = d.get(3);
  EXPECT_EQ(e.input.to_vector<float>(), (std::vector<float>{3, 30}));
  EXPECT_EQ(e.target.item<int64_t>(), 3);
  EXPECT_EQ(d.get(-1).target.item<int64_t>(), 9);
  Example b = d.get_batch({4, 1, 1});
  EXPECT_EQ(b.input.shape(), (Shape{3, 2}));
  EXPECT_EQ(b.target.to_vector<int64_t>(), (std::vector<int64_t>{4, 1, 1}));
  EXPECT_THROW(d.get(10), Error);
  EXPECT_THROW(d.get_batch({0, 11}), Error);
  EXPECT_THROW(TensorDataset(zeros({3, 2}), zeros({4})), Error);
  EXPECT_THROW(TensorDataset(zeros({3, 2}), Tensor()), Error);
}

TEST(DataLoader, BatchesInOrderWithAShortLastBatch) {
  DataLoader loader(numbered(), DataLoaderOptions(4));
  EXPECT_EQ(loader.size(), 3);
  std::vector<Shape> shapes;
  for (const Example& batch : loader) shapes.push_back(batch.input.shape());
  EXPECT_EQ(shapes, (std::vector<Shape>{{4, 2}, {4, 2}, {2, 2}}));
  EXPECT_EQ(epoch_order(loader), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto it = loader.begin();
  ++it;
  EXPECT_EQ(it->input.at<float>({0, 1}), 40.0f);
  EXPECT_EQ(it.index(), 1);
}

TEST(DataLoader, DropLastDropsTheIncompleteBatch) {
  DataLoader loader(numbered(), DataLoaderOptions(4).drop_last(true));
  EXPECT_EQ(loader.size(), 2);
  EXPECT_EQ(epoch_order(loader), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  DataLoader exact(numbered(8), DataLoaderOptions(4).drop_last(true));
  EXPECT_EQ(exact.size(), 2);
}

TEST(DataLoader, SeededShufflingIsAPermutationReproducibleAcrossRuns) {
  DataLoader a(numbered(), DataLoaderOptions(3).shuffle(true).seed(42));
  DataLoader b(numbered(), DataLoaderOptions(3).shuffle(true).seed(42));
  std::vector<int64_t> a1 = epoch_order(a), a2 = epoch_order(a);
  EXPECT_EQ(a1, epoch_order(b));
  EXPECT_EQ(a2, epoch_order(b));
  EXPECT_NE(a1, a2) << "each epoch draws a new order";
  std::vector<int64_t> sorted = a1;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  DataLoader other(numbered(), DataLoaderOptions(3).shuffle(true).seed(43));
  EXPECT_NE(epoch_order(other), a1);
  // Inputs travel with their targets.
  for (const auto& [x, y] : a) {
    const auto xs = x.to_vector<float>();
    const auto ys = y.to_vector<int64_t>();
    for (size_t i = 0; i < ys.size(); ++i) EXPECT_EQ(xs[2 * i], static_cast<float>(ys[i]));
  }
}

TEST(DataLoader, SetEpochReseedsSoAResumedRunSeesTheSameOrder) {
  DataLoader a(numbered(), DataLoaderOptions(4).shuffle(true).seed(7));
  std::vector<std::vector<int64_t>> orders;
  for (int e = 0; e < 3; ++e) {
    a.set_epoch(e);
    orders.push_back(epoch_order(a));
  }
  DataLoader resumed(numbered(), DataLoaderOptions(4).shuffle(true).seed(7));
  resumed.set_epoch(2);
  EXPECT_EQ(epoch_order(resumed), orders[2]);
  EXPECT_NE(orders[0], orders[1]);
  // Or save and restore the generator's state.
  DataLoader c(numbered(), DataLoaderOptions(4).shuffle(true).seed(9));
  epoch_order(c);
  const std::string state = c.generator().get_state();
  std::vector<int64_t> next = epoch_order(c);
  DataLoader d(numbered(), DataLoaderOptions(4).shuffle(true).seed(9));
  d.generator().set_state(state);
  EXPECT_EQ(epoch_order(d), next);
}

TEST(DataLoader, UnseededShufflingFollowsTheGlobalSeed) {
  DataLoader loader(numbered(), DataLoaderOptions(5).shuffle(true));
  manual_seed(3);
  std::vector<int64_t> first = epoch_order(loader);
  manual_seed(3);
  EXPECT_EQ(epoch_order(loader), first);
  EXPECT_THROW(loader.generator(), Error);
  EXPECT_THROW(loader.set_epoch(1), Error);
}

TEST(DataLoader, StacksExamplesOfAnyDataset) {
  DataLoader loader(Squares(), DataLoaderOptions(2));
  std::vector<Example> batches(loader.begin(), loader.end());
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[1].input.shape(), (Shape{2, 3}));
  EXPECT_EQ(batches[1].input.at<double>({1, 0}), 9.0);
  EXPECT_EQ(batches[2].target.to_vector<int64_t>(), (std::vector<int64_t>{4}));
}

TEST(DataLoader, BadOptionsAndUseAreErrors) {
  EXPECT_THROW(DataLoader(numbered(), DataLoaderOptions(0)), Error);
  EXPECT_THROW(DataLoader(std::shared_ptr<const Dataset>(), DataLoaderOptions(1)), Error);
  DataLoader loader(numbered(), DataLoaderOptions(5));
  auto end = loader.end();
  EXPECT_THROW(*end, Error);
}

}  // namespace
