#include "graft/optim/zero/detail/stage3_partition.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "graft/graph/factory.h"

namespace graft::optim::zero::detail {

namespace {
constexpr size_t kNone = std::numeric_limits<size_t>::max();
}

Stage3Partition::Stage3Partition(Stage3State state) : state_(state) {
  const std::vector<ZeroParam>& params = state_.params;
  const size_t n = params.size();
  storages_.resize(n);
  holds_.assign(n, 0);
  owner_set_.assign(n, kNone);
  arrived_.assign(n, 0);
  std::map<const TensorImpl*, size_t> id_of;
  for (size_t i = 0; i < n; ++i) {
    storages_[i] = params[i].tensor.storage();
    id_of.emplace(params[i].tensor.impl(), i);
  }
  // One set per module: the partitioned parameters registered on the module itself.
  std::set<const nn::Module*> visited;
  for (auto& [name, module] : state_.model.named_modules()) {
    if (!visited.insert(module.get()).second) continue;
    Set set;
    for (const Tensor& t : module->parameters(/*recurse=*/false)) {
      auto it = id_of.find(t.impl());
      if (it != id_of.end()) set.params.push_back(it->second);
    }
    if (set.params.empty()) continue;
    std::sort(set.params.begin(), set.params.end(), [&](size_t a, size_t b) {
      return std::tie(params[a].bucket, params[a].member) < std::tie(params[b].bucket, params[b].member);
    });
    for (size_t id : set.params) set.grads_expected += params[id].tensor.requires_grad() ? 1 : 0;
    const size_t k = sets_.size();
    for (size_t id : set.params)
      if (owner_set_[id] == kNone) owner_set_[id] = k;
    sets_.push_back(std::move(set));
    nn::Module* m = module.get();
    hooks_.emplace_back(m, m->register_forward_pre_hook([this, k](nn::Module&) { gather(sets_[k].params); }));
    hooks_.emplace_back(m, m->register_forward_hook([this, k](nn::Module&) { release(sets_[k].params); }));
  }
  for (size_t i = 0; i < n; ++i) {
    GRAFT_CHECK(owner_set_[i] != kNone, "ShardedOptimizer (stage 3): parameter '{}' belongs to no module",
                params[i].name);
    storages_[i]->set_restorer([this, i] { gather_for_backward(i); });
    storages_[i]->release();
  }
}

Stage3Partition::~Stage3Partition() {
  for (auto& [module, handle] : hooks_) module->remove_hook(handle);
  for (auto& s : storages_) s->set_restorer(nullptr);
}

void Stage3Partition::gather(const std::vector<size_t>& ids) {
  const std::vector<ZeroParam>& params = state_.params;
  // The released ones, bucket by bucket (ids are sorted by bucket and member within a set; sort anyway).
  std::vector<size_t> need;
  for (size_t id : ids)
    if (holds_[id] == 0) need.push_back(id);
  std::sort(need.begin(), need.end(), [&](size_t a, size_t b) {
    return std::tie(params[a].bucket, params[a].member) < std::tie(params[b].bucket, params[b].member);
  });
  need.erase(std::unique(need.begin(), need.end()), need.end());
  Communicator& comm = state_.comm;
  const int W = comm.world_size(), rank = comm.rank();
  for (size_t first = 0; first < need.size();) {
    const size_t bucket = params[need[first]].bucket;
    size_t last = first;
    while (last < need.size() && params[need[last]].bucket == bucket) ++last;
    const std::vector<size_t> members(need.begin() + static_cast<std::ptrdiff_t>(first),
                                      need.begin() + static_cast<std::ptrdiff_t>(last));
    const ZeroBucket& b = state_.buckets[bucket];
    const ZeroBucketLayout& l = b.layout;
    std::vector<int64_t> counts(static_cast<size_t>(W), 0);
    for (int s = 0; s < W; ++s)
      for (size_t id : members) {
        const FlatRange o = l.overlap(params[id].member, l.range(s));
        counts[static_cast<size_t>(s)] += std::max<int64_t>(0, o.end - o.begin);
      }
    int64_t total = 0;
    for (int64_t c : counts) total += c;
    const size_t esize = element_size(l.dtype);
    Tensor send = empty({counts[static_cast<size_t>(rank)]}, l.dtype);
    int64_t pos = 0;
    for (size_t id : members) {
      const FlatRange o = l.overlap(params[id].member, b.range);
      if (o.end <= o.begin) continue;
      std::memcpy(static_cast<char*>(send.data_ptr()) + pos * static_cast<int64_t>(esize),
                  static_cast<const char*>(b.slice.data_ptr()) + (o.begin - b.range.begin) * static_cast<int64_t>(esize),
                  static_cast<size_t>(o.end - o.begin) * esize);
      pos += o.end - o.begin;
    }
    Tensor received = empty({total}, l.dtype);
    comm.all_gather(send, received, counts);
    unpack(bucket, members, received, counts);
    first = last;
  }
  for (size_t id : ids) ++holds_[id];
}

void Stage3Partition::unpack(size_t bucket, const std::vector<size_t>& ids, const Tensor& received,
                             const std::vector<int64_t>& counts) {
  const std::vector<ZeroParam>& params = state_.params;
  const ZeroBucketLayout& l = state_.buckets[bucket].layout;
  const size_t esize = element_size(l.dtype);
  for (size_t id : ids) storages_[id]->refill();
  const char* src = static_cast<const char*>(received.data_ptr());
  for (int s = 0; s < static_cast<int>(counts.size()); ++s) {
    for (size_t id : ids) {
      const FlatRange o = l.overlap(params[id].member, l.range(s));
      if (o.end <= o.begin) continue;
      const FlatSlot& slot = l.slots[params[id].member];
      // Raw copies: filling a parameter back in is not a write the version counter should see.
      char* dst = static_cast<char*>(storages_[id]->data()) +
                  (params[id].tensor.storage_offset() + o.begin - slot.offset) * static_cast<int64_t>(esize);
      const size_t bytes = static_cast<size_t>(o.end - o.begin) * esize;
      std::memcpy(dst, src, bytes);
      src += bytes;
    }
  }
}

void Stage3Partition::release(const std::vector<size_t>& ids) {
  for (size_t id : ids) {
    GRAFT_CHECK(holds_[id] > 0, "ShardedOptimizer (stage 3): parameter '{}' released more often than gathered",
                state_.params[id].name);
    if (--holds_[id] == 0) storages_[id]->release();
  }
}

void Stage3Partition::begin_backward() {
  std::fill(arrived_.begin(), arrived_.end(), 0);
  held_.clear();
}

void Stage3Partition::gather_for_backward(size_t param) {
  const size_t k = owner_set_[param];
  gather(sets_[k].params);
  Held h{k, 0};
  for (size_t id : sets_[k].params)
    if (state_.params[id].tensor.requires_grad() && !arrived_[id]) ++h.pending;
  held_.push_back(h);
}

void Stage3Partition::gradient_arrived(size_t param) {
  arrived_[param] = 1;
  for (size_t h = 0; h < held_.size();) {
    const std::vector<size_t>& set = sets_[held_[h].set].params;
    if (std::find(set.begin(), set.end(), param) != set.end() && --held_[h].pending == 0) {
      release(set);
      held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(h));
      continue;
    }
    ++h;
  }
}

void Stage3Partition::end_backward() {
  for (const Held& h : held_) release(sets_[h.set].params);
  held_.clear();
}

int64_t Stage3Partition::resident_bytes() const {
  int64_t bytes = 0;
  for (size_t i = 0; i < storages_.size(); ++i)
    if (holds_[i] > 0) bytes += static_cast<int64_t>(storages_[i]->nbytes());
  return bytes;
}

int64_t Stage3Partition::resident_elements() const {
  int64_t n = 0;
  for (size_t i = 0; i < storages_.size(); ++i)
    if (holds_[i] > 0) n += state_.params[i].tensor.numel();
  return n;
}

void Stage3Partition::bump_versions() {
  for (auto& s : storages_) s->bump_version();
}

}  // namespace graft::optim::zero::detail
