#pragma once
// oneDNN plumbing shared by the f32 fast paths: one CPU engine for the process, one stream per thread, and
// a cache of primitives keyed by what defines them. oneDNN's own primitive cache costs 20–40 µs per hit
// (see ../shared/notes/onednn.md), more than many small ops take to run; a lookup here costs ~0.1 µs.
// Internal to ops/kernels (it includes dnnl.hpp); the kernels' public headers stay free of oneDNN types.
#include <array>
#include <bit>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

#include "graft/graph/tensor.h"
#include "graft/graph/threads.h"

namespace graft::kernels::onednn {

dnnl::engine& engine();
// This thread's stream (a oneDNN stream must not be used by two threads at once).
dnnl::stream& stream();

// What defines a primitive: kind, algorithm, dims, flags, ... and the OpenMP thread count, since oneDNN
// primitives are tied to the number of threads they were created for. A convolution needs the most fields
// (sizes, strides, paddings, dilations, groups).
struct PrimitiveKey {
  static constexpr size_t kFields = 24;
  std::array<int64_t, kFields> fields{};
  bool operator==(const PrimitiveKey&) const = default;
};
struct PrimitiveKeyHash {
  size_t operator()(const PrimitiveKey& k) const noexcept;
};
// A key from up to kFields - 1 values (the thread count is added).
PrimitiveKey make_key(std::initializer_list<int64_t> fields);
// A float parameter (alpha, eps, ...) as a key field.
inline int64_t key_bits(float v) { return std::bit_cast<uint32_t>(v); }

// Entry is whatever one call needs (primitive descriptors and primitives), created by make() on a miss.
template <class Entry>
class PrimitiveCache {
 public:
  template <class Make>
  std::shared_ptr<const Entry> get(const PrimitiveKey& key, Make&& make) {
    {
      std::lock_guard lock(mutex_);
      if (auto it = map_.find(key); it != map_.end()) return it->second;
    }
    auto entry = std::make_shared<const Entry>(make());  // outside the lock: creation JITs for 0.1–0.4 ms
    std::lock_guard lock(mutex_);
    if (map_.size() >= kCapacity) map_.clear();  // shapes that keep changing: start over rather than grow
    return map_.emplace(key, std::move(entry)).first->second;
  }

 private:
  static constexpr size_t kCapacity = 512;
  std::mutex mutex_;
  std::unordered_map<PrimitiveKey, std::shared_ptr<const Entry>, PrimitiveKeyHash> map_;
};

// A plain (row-major) f32 memory descriptor.
dnnl::memory::desc f32_desc(const dnnl::memory::dims& dims);
// `t` broadcast to `shape` as a contiguous tensor of dtype `dt`: t itself when it already is one, else a
// copy (operands handed to oneDNN must be dense).
Tensor dense(const Tensor& t, IntList shape, DType dt);
// `t` (contiguous f32) as a oneDNN memory object, without copying.
dnnl::memory wrap(const dnnl::memory::desc& md, const Tensor& t);

// ---- layouts: a primitive created with format_tag::any picks its own (blocked) layouts; graft's tensors are
// plain, so its arguments go through reorders, created once with the primitive and cached beside it.

// One argument of a primitive: its plain layout and the one the primitive chose, with the reorder between
// them (plain -> chosen for an input, chosen -> plain for an output), empty when they are the same.
struct Port {
  dnnl::memory::desc plain, chosen;
  std::optional<dnnl::reorder> reorder;
  static Port input(const dnnl::memory::desc& plain, const dnnl::memory::desc& chosen);
  static Port output(const dnnl::memory::desc& plain, const dnnl::memory::desc& chosen);
};

// The memory objects of one execution. An argument whose layout differs goes through a scratch buffer that
// lives as long as the Bindings: inputs are reordered into it at once (the stream runs in order, so before
// the primitive), outputs are reordered back by finish(), which also waits for the stream.
class Bindings {
 public:
  dnnl::memory input(const Port& port, const Tensor& t);
  dnnl::memory output(const Port& port, const Tensor& t);
  void finish();

 private:
  dnnl::memory scratch(const dnnl::memory::desc& md);
  std::vector<Tensor> scratch_;
  std::vector<std::pair<const Port*, std::pair<dnnl::memory, dnnl::memory>>> outputs_;  // chosen, plain
};

}  // namespace graft::kernels::onednn
