#pragma once
// Storage: the memory behind one or more tensors (a tensor and all its views share one), and the version
// counter that in-place writes bump and saved-for-backward tensors compare against.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace graft {

[[noreturn]] void throw_released_storage(size_t nbytes);

class Storage {
 public:
  static constexpr size_t kSmallBytes = 1024;

  /// Fresh memory, 64-byte aligned, uninitialised. Buffers of 128 KiB and more are recycled: a freed one
  /// is kept (up to 256 MiB in all) for the next allocation of the same size.
  static std::shared_ptr<Storage> allocate(size_t nbytes);
  /// Frees the recycled buffers now (like torch.cuda.empty_cache), and how many bytes they hold.
  static void release_cached_buffers();
  static size_t cached_buffer_bytes();
  /// Memory owned elsewhere; `deleter` (may be empty) runs when the last tensor using it goes away.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, std::function<void(void*)> deleter);

  Storage(void* data, size_t nbytes, std::function<void(void*)> deleter, bool owned);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const {
    if (released_) [[unlikely]] throw_released_storage(nbytes_);
    return data_;
  }
  size_t nbytes() const { return nbytes_; }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

  // ---- memory released between uses (ZeRO stage 3, optim/zero/) ----
  // release() frees the memory of an owned storage (large buffers go to the recycling cache, as when a
  // storage dies) but keeps this object, so every tensor viewing it,
  // every tensor saved for backward and the version counter stay valid; until refill() allocates fresh
  // (uninitialised) memory of the same size, data() raises graft::Error. A released storage may carry a
  // restorer: SavedTensor::unpack calls restore() when backward needs the memory back (ZeRO gathers the
  // parameter from the ranks holding its pieces there). Neither call bumps the version.
  void release();
  void refill();
  bool is_released() const { return released_; }
  void set_restorer(std::function<void()> restorer) { restorer_ = std::move(restorer); }
  /// Runs the restorer when the storage is released (an error when it has none); the restorer must refill.
  void restore();

 private:
  void* data_;
  size_t nbytes_;
  std::function<void(void*)> deleter_;
  bool owned_;
  bool released_ = false;
  std::function<void()> restorer_;
  std::atomic<uint32_t> version_{0};
};

}  // namespace graft
