// KVCache and LatentKVCache: appending, amortised growth, byte counting, select() for beam search, autograd.
#include <gtest/gtest.h>

#include <set>

#include "llm_test_util.h"

using namespace graft;
using namespace graft::llm_test;

namespace {

TEST(KVCache, AppendsAlongTheSequenceAndReturnsEverythingSoFar) {
  nn::KVCache cache;
  EXPECT_EQ(cache.length(), 0);
  EXPECT_FALSE(cache.keys().defined());
  Tensor k1 = randn({2, 3, 4, 5}), v1 = randn({2, 3, 4, 6});  // values may have another head size
  Tensor k2 = randn({2, 3, 1, 5}), v2 = randn({2, 3, 1, 6});
  auto [ka, va] = cache.update(k1, v1);
  EXPECT_EQ(ka.shape(), (Shape{2, 3, 4, 5}));
  auto [kb, vb] = cache.update(k2, v2);
  EXPECT_EQ(cache.length(), 5);
  EXPECT_EQ(max_abs_diff(kb, cat({k1, k2}, 2)), 0.0);
  EXPECT_EQ(max_abs_diff(vb, cat({v1, v2}, 2)), 0.0);
  EXPECT_EQ(max_abs_diff(cache.keys(), kb), 0.0);
  // The views returned earlier still show the first 4 tokens.
  EXPECT_EQ(max_abs_diff(ka, k1), 0.0);
  EXPECT_EQ(max_abs_diff(va, v1), 0.0);
}

TEST(KVCache, GrowsByDoublingWithoutCopyingEveryStep) {
  nn::KVCache cache(/*initial_capacity=*/4);
  std::vector<Tensor> steps;
  std::set<const void*> buffers;
  std::vector<int64_t> capacities;
  for (int i = 0; i < 37; ++i) {
    steps.push_back(randn({1, 2, 1, 3}));
    cache.update(steps.back(), steps.back() * 2.0);
    buffers.insert(cache.keys().data_ptr());
    if (capacities.empty() || capacities.back() != cache.capacity()) capacities.push_back(cache.capacity());
  }
  EXPECT_EQ(capacities, (std::vector<int64_t>{4, 8, 16, 32, 64}));
  EXPECT_EQ(buffers.size(), 5u);  // one buffer per capacity: appends in between write in place
  EXPECT_EQ(max_abs_diff(cache.keys(), cat(steps, 2)), 0.0);
  EXPECT_EQ(max_abs_diff(cache.values(), cat(steps, 2) * 2.0), 0.0);
  // A chunk larger than double the capacity gets exactly the room it needs.
  nn::KVCache big(2);
  big.update(randn({1, 1, 9, 2}), randn({1, 1, 9, 2}));
  EXPECT_EQ(big.capacity(), 9);
}

TEST(KVCache, CountsStoredAndAllocatedBytes) {
  nn::KVCache cache(8);
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_EQ(cache.capacity_bytes(), 0u);
  cache.update(randn({2, 3, 5, 4}), randn({2, 3, 5, 4}));
  EXPECT_EQ(cache.bytes(), 2u * (2 * 3 * 5 * 4) * sizeof(float));
  EXPECT_EQ(cache.capacity_bytes(), 2u * (2 * 3 * 8 * 4) * sizeof(float));
  nn::KVCache f64;
  f64.update(randn({1, 2, 3, 4}, dtype(kFloat64)), randn({1, 2, 3, 6}, dtype(kFloat64)));
  EXPECT_EQ(f64.bytes(), (1u * 2 * 3 * 4 + 1u * 2 * 3 * 6) * sizeof(double));
  f64.clear();
  EXPECT_EQ(f64.bytes(), 0u);
  EXPECT_EQ(f64.length(), 0);
}

TEST(KVCache, SelectReordersAndRepeatsBatchRows) {
  nn::KVCache cache(2);
  Tensor k = randn({3, 2, 3, 4}), v = randn({3, 2, 3, 4});
  cache.update(k, v);
  const int64_t capacity = cache.capacity();
  Tensor index = tensor(std::vector<int64_t>{2, 0, 0, 1}, {4}, dtype(kInt64));
  cache.select(index);
  EXPECT_EQ(cache.keys().shape(), (Shape{4, 2, 3, 4}));
  EXPECT_EQ(cache.capacity(), capacity);
  EXPECT_EQ(max_abs_diff(cache.keys(), index_select(k, 0, index)), 0.0);
  EXPECT_EQ(max_abs_diff(cache.values(), index_select(v, 0, index)), 0.0);
  // Decoding continues on the new batch.
  Tensor k2 = randn({4, 2, 1, 4}), v2 = randn({4, 2, 1, 4});
  cache.update(k2, v2);
  EXPECT_EQ(max_abs_diff(cache.keys(), cat({index_select(k, 0, index), k2}, 2)), 0.0);
  EXPECT_EQ(max_abs_diff(cache.values(), cat({index_select(v, 0, index), v2}, 2)), 0.0);
}

TEST(KVCache, GradientsReachEveryCachedStepWhenRecording) {
  // Under grad mode with keys that require grad, the cache keeps a graph (as concatenating caches do).
  Tensor k1 = randn({1, 1, 2, 3}, dtype(kFloat64).requires_grad());
  Tensor k2 = randn({1, 1, 1, 3}, dtype(kFloat64).requires_grad());
  Tensor v = randn({1, 1, 2, 3}, dtype(kFloat64));
  nn::KVCache cache;
  cache.update(k1, v);
  auto [keys, values] = cache.update(k2, v.narrow(2, 0, 1));
  Tensor w = randn({1, 1, 3, 3}, dtype(kFloat64));
  (keys * w).sum().backward();
  EXPECT_EQ(max_abs_diff(k1.grad(), w.narrow(2, 0, 2)), 0.0);
  EXPECT_EQ(max_abs_diff(k2.grad(), w.narrow(2, 2, 1)), 0.0);
  EXPECT_FALSE(values.requires_grad());
  // Without recording, the values are written into the preallocated buffer and carry no history.
  NoGradGuard no_grad;
  nn::KVCache plain;
  auto [pk, pv] = plain.update(k1, v);
  EXPECT_FALSE(pk.requires_grad());
  EXPECT_EQ(plain.capacity(), 16);
}

TEST(KVCache, RejectsMisuse) {
  nn::KVCache cache;
  expect_error([&] { cache.update(randn({2, 3, 4}), randn({2, 3, 4})); }, "expected key and value of shape (B, Hkv, T, D)");
  expect_error([&] { cache.update(randn({2, 3, 4, 5}), randn({2, 2, 4, 5})); }, "must agree in batch, heads and tokens");
  expect_error([&] { cache.update(randn({1, 1, 1, 2}), randn({1, 1, 1, 2}, dtype(kFloat64))); }, "key is float32 but value is float64");
  cache.update(randn({2, 3, 1, 4}), randn({2, 3, 1, 4}));
  expect_error([&] { cache.update(randn({2, 2, 1, 4}), randn({2, 2, 1, 4})); },
               "cannot append a tensor of shape [2, 2, 1, 4] to a cache of shape [2, 3, 1, 4]");
  expect_error([&] { cache.update(randn({2, 3, 1, 4}), randn({2, 3, 1, 5})); }, "holds values of size 4, got 5");
  expect_error([&] { cache.update(randn({2, 3, 1, 4}, dtype(kFloat64)), randn({2, 3, 1, 4}, dtype(kFloat64))); },
               "holds float32 values, cannot append float64");
  EXPECT_EQ(cache.length(), 1);  // failed updates change nothing
  expect_error([&] { cache.select(tensor(std::vector<int64_t>{0, 2}, {2}, dtype(kInt64))); },
               "index 2 is out of range for a batch of 2 sequences");
  expect_error([&] { cache.select(tensor({0.0, 1.0}, {2})); }, "index must be a 1-D int64 tensor");
  expect_error([] { nn::KVCache bad(-1); }, "initial_capacity must be non-negative");
}

TEST(LatentKVCache, StoresTheLatentAndTheRopeKeySideBySide) {
  nn::LatentKVCache cache(4);
  Tensor c1 = randn({2, 3, 6}), r1 = randn({2, 3, 2});
  Tensor c2 = randn({2, 1, 6}), r2 = randn({2, 1, 2});
  cache.update(c1, r1);
  Tensor entries = cache.update(c2, r2);
  EXPECT_EQ(entries.shape(), (Shape{2, 1, 4, 8}));
  EXPECT_EQ(cache.kv_lora_rank(), 6);
  EXPECT_EQ(max_abs_diff(cache.latent(), cat({c1, c2}, 1)), 0.0);
  EXPECT_EQ(max_abs_diff(cache.rope_key(), cat({r1, r2}, 1)), 0.0);
  EXPECT_EQ(cache.bytes(), 2u * 4 * (6 + 2) * sizeof(float));
  EXPECT_EQ(cache.capacity_bytes(), 2u * 4 * (6 + 2) * sizeof(float));
  cache.select(tensor(std::vector<int64_t>{1}, {1}, dtype(kInt64)));
  EXPECT_EQ(max_abs_diff(cache.latent(), cat({c1, c2}, 1).narrow(0, 1, 1)), 0.0);
  expect_error([&] { cache.update(randn({1, 1, 5}), randn({1, 1, 2})); }, "holds latents of size 6, got 5");
  expect_error([&] { cache.update(randn({1, 1, 6}), randn({1, 2, 2})); }, "expected latent (B, T, kv_lora_rank)");
}

}  // namespace
