#include "graft/graph/storage.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "graft/graph/error.h"
#include "graft/graph/memory.h"

namespace graft {

namespace {

// Freed large buffers, kept for the next allocation of the same size. A training step allocates the same
// activation and gradient sizes every time; glibc serves buffers this large from fresh mmaps (or trims
// them back), so without reuse every step pays a page fault per 4 KiB of every activation (~5% of a
// transformer block's step). At most kLimitBytes are kept; beyond that freed buffers go back to malloc.
class LargeBufferCache {
 public:
  static constexpr size_t kMinBytes = size_t{128} << 10;
  static constexpr size_t kLimitBytes = size_t{256} << 20;

  static size_t capacity_for(size_t nbytes) { return (nbytes + 4095) / 4096 * 4096; }

  void* take(size_t capacity) {
    {
      std::lock_guard lock(mutex_);
      auto it = free_.find(capacity);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= capacity;
        return p;
      }
    }
    return std::aligned_alloc(64, capacity);
  }

  void give(void* p, size_t capacity) {
    {
      std::lock_guard lock(mutex_);
      if (cached_bytes_ + capacity <= kLimitBytes) {
        free_[capacity].push_back(p);
        cached_bytes_ += capacity;
        return;
      }
    }
    std::free(p);
  }

  void release() {
    std::lock_guard lock(mutex_);
    for (auto& [capacity, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_bytes_ = 0;
  }

  size_t cached_bytes() {
    std::lock_guard lock(mutex_);
    return cached_bytes_;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_bytes_ = 0;
};

// Never destroyed: storages may be freed during static destruction.
LargeBufferCache& large_buffers() {
  static auto* cache = new LargeBufferCache;
  return *cache;
}

// graph/memory.h's counters. Relaxed atomics: storages are allocated and freed on any thread, and the
// counters need only be exact once those threads are done.
// The per-thread net (thread_memory_allocated) is what the profiler attributes to the ops of each thread.
// initial-exec: a plain offset from the thread pointer, not a __tls_get_addr call per allocation (libgraft is
// loaded with the program, not dlopen'ed late, so it may use the static TLS block).
__attribute__((tls_model("initial-exec"))) thread_local int64_t thread_net_bytes = 0;

struct MemoryCounters {
  std::atomic<int64_t> allocated{0}, peak{0}, allocations{0}, frees{0};

  void on_allocate(size_t nbytes) {
    thread_net_bytes += static_cast<int64_t>(nbytes);
    const int64_t now = allocated.fetch_add(static_cast<int64_t>(nbytes), std::memory_order_relaxed) +
                        static_cast<int64_t>(nbytes);
    allocations.fetch_add(1, std::memory_order_relaxed);
    int64_t seen = peak.load(std::memory_order_relaxed);
    while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
  }
  void on_free(size_t nbytes) {
    thread_net_bytes -= static_cast<int64_t>(nbytes);
    allocated.fetch_sub(static_cast<int64_t>(nbytes), std::memory_order_relaxed);
    frees.fetch_add(1, std::memory_order_relaxed);
  }
};

MemoryCounters& counters() {
  static MemoryCounters c;  // trivially destructible: safe to use during static destruction
  return c;
}

void* allocate_bytes(size_t nbytes) {
  void* data = nullptr;
  if (nbytes > 0) {
    // Small buffers come from malloc's thread cache (16-byte aligned); aligned_alloc would bypass it and
    // cost more than the op itself. Large ones are cache-line aligned for the vector kernels.
    if (nbytes <= Storage::kSmallBytes) {
      data = std::malloc(nbytes);
    } else if (nbytes >= LargeBufferCache::kMinBytes) {
      data = large_buffers().take(LargeBufferCache::capacity_for(nbytes));
    } else {
      size_t rounded = (nbytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
      data = std::aligned_alloc(64, rounded);
    }
    if (!data) GRAFT_FAIL("storage: cannot allocate {} bytes (out of memory)", nbytes);
    counters().on_allocate(nbytes);
  }
  return data;
}

// Owned memory goes back where allocate_bytes took it from.
void free_bytes(void* data, size_t nbytes) {
  if (data) counters().on_free(nbytes);
  if (data && nbytes >= LargeBufferCache::kMinBytes)
    large_buffers().give(data, LargeBufferCache::capacity_for(nbytes));
  else
    std::free(data);
}

}  // namespace

void throw_released_storage(size_t nbytes) {
  GRAFT_FAIL("storage: the memory of this tensor ({} bytes) has been released: a ZeRO stage 3 parameter used outside "
             "a call of its module? Call modules as (*m)(x), through an nn::Child handle or with nn::call -- not "
             "m->forward(x), which skips the hooks that gather a module's parameters -- and use the optimizer's "
             "gathered_state_dict() for a full copy",
             nbytes);
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  return std::make_shared<Storage>(allocate_bytes(nbytes), nbytes, nullptr, true);
}

void Storage::release_cached_buffers() { large_buffers().release(); }
size_t Storage::cached_buffer_bytes() { return large_buffers().cached_bytes(); }

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, std::function<void(void*)> deleter) {
  return std::make_shared<Storage>(data, nbytes, std::move(deleter), false);
}

Storage::Storage(void* data, size_t nbytes, std::function<void(void*)> deleter, bool owned)
    : data_(data), nbytes_(nbytes), deleter_(std::move(deleter)), owned_(owned) {}

void Storage::release() {
  GRAFT_CHECK(owned_, "storage: only memory graft allocated can be released, not memory owned elsewhere");
  if (released_) return;
  free_bytes(data_, nbytes_);
  data_ = nullptr;
  released_ = true;
}

void Storage::refill() {
  if (!released_) return;
  data_ = allocate_bytes(nbytes_);
  released_ = false;
}

void Storage::restore() {
  if (!released_) return;
  GRAFT_CHECK(restorer_ != nullptr, "storage: the memory of this tensor ({} bytes) has been released and nothing can "
              "restore it", nbytes_);
  restorer_();
  GRAFT_CHECK(!released_, "storage: the restorer of a released storage ({} bytes) did not refill it", nbytes_);
}

Storage::~Storage() {
  if (owned_) free_bytes(data_, nbytes_);
  else if (deleter_) deleter_(data_);
}

MemoryStats memory_stats() {
  MemoryCounters& c = counters();
  MemoryStats m;
  m.allocated_bytes = c.allocated.load(std::memory_order_relaxed);
  m.peak_allocated_bytes = c.peak.load(std::memory_order_relaxed);
  m.reserved_bytes = m.allocated_bytes + static_cast<int64_t>(large_buffers().cached_bytes());
  m.allocations = c.allocations.load(std::memory_order_relaxed);
  m.frees = c.frees.load(std::memory_order_relaxed);
  return m;
}

int64_t thread_memory_allocated() { return thread_net_bytes; }
int64_t memory_allocated() { return counters().allocated.load(std::memory_order_relaxed); }
int64_t max_memory_allocated() { return counters().peak.load(std::memory_order_relaxed); }
void reset_peak_memory_stats() { counters().peak.store(memory_allocated(), std::memory_order_relaxed); }
int64_t memory_reserved() { return memory_stats().reserved_bytes; }
void empty_cache() { large_buffers().release(); }

}  // namespace graft
