#include "graft/data/dataloader.h"

#include <numeric>

#include "graft/graph/factory.h"

namespace graft::data {

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  GRAFT_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  GRAFT_CHECK(options_.batch_size() > 0, "DataLoader: batch_size should be a positive integer value, but got batch_size={}",
              options_.batch_size());
  if (options_.seed()) generator_.emplace(*options_.seed());
}

int64_t DataLoader::size() const {
  const int64_t n = dataset_->size(), bs = options_.batch_size();
  return options_.drop_last() ? n / bs : (n + bs - 1) / bs;
}

Generator& DataLoader::generator() {
  GRAFT_CHECK(generator_.has_value(), "DataLoader::generator: the loader has no seed, so no generator of its own");
  return *generator_;
}

void DataLoader::set_epoch(int64_t epoch) {
  GRAFT_CHECK(generator_.has_value(), "DataLoader::set_epoch: the loader has no seed to offset by the epoch");
  generator_->manual_seed(*options_.seed() + static_cast<uint64_t>(epoch));
}

DataLoader::Iterator DataLoader::begin() {
  const int64_t n = dataset_->size();
  auto order = std::make_shared<std::vector<int64_t>>();
  if (options_.shuffle()) {
    Tensor perm;
    if (generator_) {
      perm = randperm(n, kInt64, &*generator_);
    } else {
      Generator& global = default_generator();
      uint64_t seed;
      {
        std::lock_guard<std::mutex> lock(global.mutex());
        seed = global.next_u64();
      }
      Generator epoch(seed);
      perm = randperm(n, kInt64, &epoch);
    }
    *order = perm.to_vector<int64_t>();
  } else {
    order->resize(static_cast<size_t>(n));
    std::iota(order->begin(), order->end(), int64_t{0});
  }
  return Iterator(this, std::move(order), 0);
}

DataLoader::Iterator DataLoader::end() const { return Iterator(this, nullptr, size()); }

Example DataLoader::batch(const std::vector<int64_t>& order, int64_t b) const {
  const int64_t bs = options_.batch_size();
  const auto first = static_cast<std::ptrdiff_t>(b * bs);
  const auto last = static_cast<std::ptrdiff_t>(std::min<int64_t>((b + 1) * bs, static_cast<int64_t>(order.size())));
  return dataset_->get_batch(std::vector<int64_t>(order.begin() + first, order.begin() + last));
}

const Example& DataLoader::Iterator::operator*() const {
  GRAFT_CHECK(loader_ && order_ && batch_ < loader_->size(), "DataLoader: dereferencing an iterator past the last batch");
  if (!current_) current_ = loader_->batch(*order_, batch_);
  return *current_;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++batch_;
  current_.reset();
  return *this;
}

}  // namespace graft::data
