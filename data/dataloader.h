#pragma once
// DataLoader (torch.utils.data.DataLoader, single process): iterates a dataset in batches of stacked
// tensors, optionally shuffled, optionally dropping the last incomplete batch.
//
//   DataLoader loader(dataset, DataLoaderOptions(128).shuffle(true).seed(0));
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const auto& [x, y] : loader) { ... }
//
// Shuffling: every begin() starts an epoch with a fresh permutation. With a seed, the permutations come
// from the loader's own generator, so the sequence of epochs is the same in every run; set_epoch(e)
// reseeds it with seed + e, so epoch e's order does not depend on how many epochs ran before (what a
// resumed run needs; its state can also be saved through generator()). Without a seed, each epoch's
// permutation is seeded from graft's global generator (graft::manual_seed), like PyTorch's RandomSampler.
#include <concepts>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include "graft/data/dataset.h"
#include "graft/graph/generator.h"

namespace graft::data {

struct DataLoaderOptions {
  DataLoaderOptions(int64_t batch_size = 1) : batch_size_(batch_size) {}  // NOLINT: implicit, as in torch
  DataLoaderOptions& batch_size(int64_t v) { batch_size_ = v; return *this; }
  DataLoaderOptions& shuffle(bool v) { shuffle_ = v; return *this; }
  DataLoaderOptions& drop_last(bool v) { drop_last_ = v; return *this; }
  DataLoaderOptions& seed(uint64_t v) { seed_ = v; return *this; }
  int64_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  bool drop_last() const { return drop_last_; }
  const std::optional<uint64_t>& seed() const { return seed_; }

 private:
  int64_t batch_size_;
  bool shuffle_ = false;
  bool drop_last_ = false;
  std::optional<uint64_t> seed_;
};

class DataLoader {
 public:
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Example;
    using difference_type = std::ptrdiff_t;
    using pointer = const Example*;
    using reference = const Example&;

    Iterator() = default;
    const Example& operator*() const;
    const Example* operator->() const { return &**this; }
    Iterator& operator++();
    bool operator==(const Iterator& other) const { return batch_ == other.batch_; }
    /// Which batch of the epoch this is (0-based).
    int64_t index() const { return batch_; }

   private:
    friend class DataLoader;
    Iterator(const DataLoader* loader, std::shared_ptr<const std::vector<int64_t>> order, int64_t batch)
        : loader_(loader), order_(std::move(order)), batch_(batch) {}
    const DataLoader* loader_ = nullptr;
    std::shared_ptr<const std::vector<int64_t>> order_;
    int64_t batch_ = 0;
    mutable std::optional<Example> current_;
  };

  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  template <class D>
    requires std::derived_from<D, Dataset>
  DataLoader(D dataset, DataLoaderOptions options = {})
      : DataLoader(std::make_shared<const D>(std::move(dataset)), options) {}

  /// Starts an epoch (drawing a new order when shuffling).
  Iterator begin();
  Iterator end() const;
  /// Batches per epoch (len(loader)).
  int64_t size() const;
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }
  /// The generator the shuffling draws from (seeded loaders only; see above).
  Generator& generator();
  /// Reseeds the generator with seed + epoch (seeded loaders only).
  void set_epoch(int64_t epoch);

 private:
  Example batch(const std::vector<int64_t>& order, int64_t b) const;

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  std::optional<Generator> generator_;
};

}  // namespace graft::data
