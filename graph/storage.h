#pragma once
// Storage: the memory behind one or more tensors (a tensor and all its views share one), and the version
// counter that in-place writes bump and saved-for-backward tensors compare against.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace graft {

class Storage {
 public:
  static constexpr size_t kSmallBytes = 1024;

  // Fresh memory, 64-byte aligned, uninitialised. Buffers of 128 KiB and more are recycled: a freed one
  // is kept (up to 256 MiB in all) for the next allocation of the same size.
  static std::shared_ptr<Storage> allocate(size_t nbytes);
  // Frees the recycled buffers now (like torch.cuda.empty_cache), and how many bytes they hold.
  static void release_cached_buffers();
  static size_t cached_buffer_bytes();
  // Memory owned elsewhere; `deleter` (may be empty) runs when the last tensor using it goes away.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, std::function<void(void*)> deleter);

  Storage(void* data, size_t nbytes, std::function<void(void*)> deleter, bool owned);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_;
  size_t nbytes_;
  std::function<void(void*)> deleter_;
  bool owned_;
  std::atomic<uint32_t> version_{0};
};

}  // namespace graft
