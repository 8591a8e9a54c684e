#include "graft/optim/zero/detail/stage3_partition.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "graft/graph/factory.h"
#include "graft/graph/warning.h"

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
  param_in_flight_.assign(n, 0);
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
    set.module = name.empty() ? "(the model)" : name;
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
    hooks_.emplace_back(m, m->register_forward_pre_hook([this, k](nn::Module&) { forward_pre_hook(k); }));
    hooks_.emplace_back(m, m->register_forward_hook([this, k](nn::Module&) { release(sets_[k].params); }));
  }
  prefetch_held_.resize(sets_.size());
  in_flight_set_.assign(sets_.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    GRAFT_CHECK(owner_set_[i] != kNone, "ShardedOptimizer (stage 3): parameter '{}' belongs to no module",
                params[i].name);
    storages_[i]->set_restorer([this, i] { gather_for_backward(i); });
    storages_[i]->release();
  }
}

Stage3Partition::~Stage3Partition() {
  // Prefetched parameters are released like every other one (in-flight gathers are waited for first: MPI
  // must not write into freed buffers).
  try {
    drop_prefetches();
  } catch (const Error&) {
    for (Prefetch& p : in_flight_)
      for (Transfer& t : p.transfers) t.work.reset();
  }
  for (auto& [module, handle] : hooks_) module->remove_hook(handle);
  for (auto& s : storages_) s->set_restorer(nullptr);
}

std::vector<Stage3Partition::Transfer> Stage3Partition::start_gather(const std::vector<size_t>& ids, bool async) {
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
  std::vector<Transfer> transfers;
  for (size_t first = 0; first < need.size();) {
    Transfer t;
    t.bucket = params[need[first]].bucket;
    size_t last = first;
    while (last < need.size() && params[need[last]].bucket == t.bucket) ++last;
    t.members.assign(need.begin() + static_cast<std::ptrdiff_t>(first), need.begin() + static_cast<std::ptrdiff_t>(last));
    const ZeroBucket& b = state_.buckets[t.bucket];
    const ZeroBucketLayout& l = b.layout;
    t.counts.assign(static_cast<size_t>(W), 0);
    for (int s = 0; s < W; ++s)
      for (size_t id : t.members) {
        const FlatRange o = l.overlap(params[id].member, l.range(s));
        t.counts[static_cast<size_t>(s)] += std::max<int64_t>(0, o.end - o.begin);
      }
    int64_t total = 0;
    for (int64_t c : t.counts) total += c;
    const size_t esize = element_size(l.dtype);
    t.send = empty({t.counts[static_cast<size_t>(rank)]}, l.dtype);
    int64_t pos = 0;
    for (size_t id : t.members) {
      const FlatRange o = l.overlap(params[id].member, b.range);
      if (o.end <= o.begin) continue;
      std::memcpy(static_cast<char*>(t.send.data_ptr()) + pos * static_cast<int64_t>(esize),
                  static_cast<const char*>(b.slice.data_ptr()) + (o.begin - b.range.begin) * static_cast<int64_t>(esize),
                  static_cast<size_t>(o.end - o.begin) * esize);
      pos += o.end - o.begin;
    }
    t.received = empty({total}, l.dtype);
    if (async) t.work = comm.all_gather_async(t.send, t.received, t.counts);
    else comm.all_gather(t.send, t.received, t.counts);
    transfers.push_back(std::move(t));
    first = last;
  }
  return transfers;
}

void Stage3Partition::finish_gather(std::vector<Transfer>& transfers) {
  for (Transfer& t : transfers) {
    if (t.work) t.work->wait();
    unpack(t.bucket, t.members, t.received, t.counts);
  }
}

void Stage3Partition::gather(const std::vector<size_t>& ids) {
  finish_prefetches(&ids);  // a prefetch in flight may be bringing some of them
  std::vector<Transfer> transfers = start_gather(ids, /*async=*/false);
  finish_gather(transfers);
  for (size_t id : ids) ++holds_[id];
}

// ---------------------------------------------------------------- prefetch

void Stage3Partition::forward_pre_hook(size_t k) {
  if (prefetch_bucket_size_ > 0) {
    if (order_.empty()) {
      // Recording: a forward that starts again from the first module starts the recording again.
      if (recording_.size() > 1 && recording_.front() == k) recording_.clear();
      recording_.push_back(k);
    } else if (cursor_ < order_.size() && order_[cursor_] == k) {
      ++cursor_;
    } else if (order_.front() == k) {
      cursor_ = 1;  // a new forward
    } else {
      if (!warned_) {
        warn(fmt::format("ShardedOptimizer (stage 3): the forward called module '{}' where the order recorded for "
                         "prefetching (prefetch_bucket_size) expected '{}'; the order is recorded again",
                         sets_[k].module, cursor_ < order_.size() ? sets_[order_[cursor_]].module : "the end"));
        warned_ = true;
      }
      finish_prefetches();
      recording_.assign(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(cursor_));
      recording_.push_back(k);
      order_.clear();
      cursor_ = 0;
    }
  }
  gather(sets_[k].params);
  if (!prefetch_held_[k].empty()) {  // the forward takes over the prefetch's hold
    std::vector<size_t> held = std::move(prefetch_held_[k]);
    prefetch_held_[k].clear();
    release(held);
  }
  if (prefetch_bucket_size_ > 0 && !order_.empty()) start_prefetches();
}

void Stage3Partition::start_prefetches() {
  const std::vector<ZeroParam>& params = state_.params;
  int64_t in_flight_elements = 0;
  for (const Prefetch& p : in_flight_) in_flight_elements += p.elements;
  for (size_t pos = cursor_; pos < order_.size(); ++pos) {
    const size_t j = order_[pos];
    if (in_flight_set_[j] || !prefetch_held_[j].empty()) continue;  // on its way already
    std::vector<size_t> need;
    int64_t elements = 0;
    for (size_t id : sets_[j].params)
      if (holds_[id] == 0 && !param_in_flight_[id]) {
        need.push_back(id);
        elements += params[id].tensor.numel();
      }
    if (need.empty()) continue;
    if (in_flight_elements + elements > prefetch_bucket_size_) break;  // in order: later sets wait their turn
    Prefetch p{j, elements, start_gather(need, /*async=*/true)};
    for (size_t id : need) param_in_flight_[id] = 1;
    in_flight_set_[j] = 1;
    in_flight_elements += elements;
    ++prefetches_started_;
    in_flight_.push_back(std::move(p));
  }
}

void Stage3Partition::finish_prefetches(const std::vector<size_t>* ids) {
  for (size_t i = 0; i < in_flight_.size();) {
    Prefetch& p = in_flight_[i];
    bool touches = ids == nullptr;
    for (const Transfer& t : p.transfers)
      for (size_t id : t.members)
        touches = touches || std::find(ids->begin(), ids->end(), id) != ids->end();
    if (!touches) {
      ++i;
      continue;
    }
    finish_gather(p.transfers);
    for (const Transfer& t : p.transfers)
      for (size_t id : t.members) {
        param_in_flight_[id] = 0;
        ++holds_[id];
        prefetch_held_[p.set].push_back(id);
      }
    in_flight_set_[p.set] = 0;
    in_flight_.erase(in_flight_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void Stage3Partition::drop_prefetches() {
  finish_prefetches();
  for (std::vector<size_t>& held : prefetch_held_) {
    if (held.empty()) continue;
    std::vector<size_t> ids = std::move(held);
    held.clear();
    release(ids);
  }
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
  drop_prefetches();  // the forward is over: what it did not use goes
  if (order_.empty() && !recording_.empty()) order_ = std::move(recording_);
  recording_.clear();
  cursor_ = 0;
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
  cursor_ = 0;
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
  drop_prefetches();  // gathered before the values changed
  for (auto& s : storages_) s->bump_version();
}

}  // namespace graft::optim::zero::detail
