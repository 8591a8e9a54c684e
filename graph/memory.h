#pragma once
// How much memory graft's tensors hold: the CPU counterpart of torch.cuda.memory_allocated,
// max_memory_allocated, reset_peak_memory_stats, memory_reserved, memory_stats and empty_cache. Counted are
// the bytes of every storage graft allocated (tensors, their gradients, optimizer state, saved activations),
// from allocation to the last tensor using it going away; memory owned elsewhere (from_blob) is not. A ZeRO
// stage-3 parameter whose storage is released counts as freed until it is gathered again.
#include <cstdint>

namespace graft {

/// A snapshot of the counters (torch.cuda.memory_stats' "allocated_bytes.all.*" and "allocation.all.*").
struct MemoryStats {
  int64_t allocated_bytes = 0;       ///< bytes held by live storages now
  int64_t peak_allocated_bytes = 0;  ///< the most held at once since start or reset_peak_memory_stats()
  int64_t reserved_bytes = 0;        ///< allocated_bytes plus freed buffers kept for reuse (empty_cache frees them)
  int64_t allocations = 0;           ///< storages allocated since start
  int64_t frees = 0;                 ///< storages freed since start
};

/// The counters now; never throws.
MemoryStats memory_stats();
/// Bytes held by live storages now (torch.cuda.memory_allocated).
int64_t memory_allocated();
/// Bytes allocated minus bytes freed by the calling thread since it started (negative when it freed more than
/// it allocated, e.g. storages other threads made); the profiler attributes memory to ops with it.
int64_t thread_memory_allocated();
/// The most bytes held at once since start or the last reset_peak_memory_stats() (torch.cuda.max_memory_allocated).
int64_t max_memory_allocated();
/// Starts a new peak from what is held now (torch.cuda.reset_peak_memory_stats).
void reset_peak_memory_stats();
/// memory_allocated() plus the freed large buffers graft keeps for reuse (torch.cuda.memory_reserved).
int64_t memory_reserved();
/// Returns the kept buffers to the system (torch.cuda.empty_cache).
void empty_cache();

}  // namespace graft
