#include "graft/graph/storage.h"

#include <cstdlib>
#include <new>

#include "graft/graph/error.h"

namespace graft {

namespace {
void* allocate_bytes(size_t nbytes) {
  void* data = nullptr;
  if (nbytes > 0) {
    // Small buffers come from malloc's thread cache (16-byte aligned); aligned_alloc would bypass it and
    // cost more than the op itself. Large ones are cache-line aligned for the vector kernels.
    if (nbytes <= Storage::kSmallBytes) {
      data = std::malloc(nbytes);
    } else {
      size_t rounded = (nbytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
      data = std::aligned_alloc(64, rounded);
    }
    if (!data) throw std::bad_alloc();
  }
  return data;
}
}  // namespace

void throw_released_storage(size_t nbytes) {
  GRAFT_FAIL("storage: the memory of this tensor ({} bytes) has been released (a ZeRO stage 3 parameter outside "
             "the forward and backward of its module?); gather it before reading or writing it",
             nbytes);
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  return std::make_shared<Storage>(allocate_bytes(nbytes), nbytes, nullptr, true);
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, std::function<void(void*)> deleter) {
  return std::make_shared<Storage>(data, nbytes, std::move(deleter), false);
}

Storage::Storage(void* data, size_t nbytes, std::function<void(void*)> deleter, bool owned)
    : data_(data), nbytes_(nbytes), deleter_(std::move(deleter)), owned_(owned) {}

void Storage::release() {
  GRAFT_CHECK(owned_, "storage: only memory graft allocated can be released, not memory owned elsewhere");
  if (released_) return;
  std::free(data_);
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
  if (owned_) std::free(data_);
  else if (deleter_) deleter_(data_);
}

}  // namespace graft
