#include "graft/graph/storage.h"

#include <cstdlib>
#include <new>

namespace graft {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  void* data = nullptr;
  if (nbytes > 0) {
    // Small buffers come from malloc's thread cache (16-byte aligned); aligned_alloc would bypass it and
    // cost more than the op itself. Large ones are cache-line aligned for the vector kernels.
    if (nbytes <= kSmallBytes) {
      data = std::malloc(nbytes);
    } else {
      size_t rounded = (nbytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
      data = std::aligned_alloc(64, rounded);
    }
    if (!data) throw std::bad_alloc();
  }
  return std::make_shared<Storage>(data, nbytes, nullptr, true);
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, std::function<void(void*)> deleter) {
  return std::make_shared<Storage>(data, nbytes, std::move(deleter), false);
}

Storage::Storage(void* data, size_t nbytes, std::function<void(void*)> deleter, bool owned)
    : data_(data), nbytes_(nbytes), deleter_(std::move(deleter)), owned_(owned) {}

Storage::~Storage() {
  if (owned_) std::free(data_);
  else if (deleter_) deleter_(data_);
}

}  // namespace graft
