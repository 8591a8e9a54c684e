#pragma once
// The in-process back end of Communicator: W ranks as W threads of one process, each with its own model
// replica or shard and its own communicator. A collective publishes every rank's buffers, waits for all
// ranks, lets each rank compute its own part from the others' buffers (the owner of a chunk sums it over
// ranks 0..W-1 in order, optim/zero/communicator.h) and waits again before anyone returns.
//
//   run_in_process(4, [&](Communicator& comm) { ... the code of rank comm.rank() ... });
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "graft/optim/zero/communicator.h"

namespace graft::optim::zero {

class InProcessGroup;

class InProcessCommunicator final : public Communicator {
 public:
  const char* backend() const override { return "in-process"; }

 private:
  friend class InProcessGroup;
  InProcessCommunicator(InProcessGroup& group, int rank);
  void do_reduce_scatter(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype,
                         bool accumulate) override;
  void do_all_gather(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype) override;
  void do_broadcast(void* buffer, int64_t n, DType dtype, int root) override;
  void do_barrier() override;

  InProcessGroup& group_;
};

/// The shared state of W in-process ranks.
class InProcessGroup {
 public:
  explicit InProcessGroup(int world_size);
  ~InProcessGroup();
  InProcessGroup(const InProcessGroup&) = delete;
  InProcessGroup& operator=(const InProcessGroup&) = delete;

  int world_size() const { return world_size_; }
  /// Rank `rank`'s communicator, owned by the group. Each must be used by one thread at a time.
  InProcessCommunicator& communicator(int rank);
  /// Makes every rank waiting in a collective, now or later, raise graft::Error carrying `reason` instead of
  /// waiting for a rank that will never come (run_in_process calls it when a rank fails).
  void abort(const std::string& reason);
  bool aborted() const;

 private:
  friend class InProcessCommunicator;
  /// What a rank published for the collective in progress.
  struct Slot {
    const char* op = nullptr;
    DType dtype = kFloat32;
    const void* in = nullptr;
    void* out = nullptr;
    std::vector<int64_t> counts;
    int64_t n = 0;
    int root = 0;
  };
  /// Publishes `slot` for `rank`, waits for every rank and checks that they all called the same collective
  /// with the same sizes.
  void publish(int rank, Slot slot, std::chrono::milliseconds timeout);
  /// Waits until every rank has arrived here; after `timeout`, aborts the group naming the ranks that did not.
  void wait_all(int rank, const char* op, std::chrono::milliseconds timeout);

  int world_size_;
  std::vector<std::unique_ptr<InProcessCommunicator>> communicators_;
  std::vector<Slot> slots_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  int arrived_ = 0;
  std::vector<bool> present_;  // which ranks have arrived in the current round
  uint64_t generation_ = 0;
  bool aborted_ = false;
  std::string abort_reason_;
};

/// Runs fn on world_size threads, one per rank, each with its rank's InProcessCommunicator, and waits for all.
/// Each thread limits OpenMP to one thread, so that every kernel runs the same way on every rank (and as in
/// an MPI process of one thread). Each rank's random ops draw from a generator of its own (default_generator()
/// on that thread), started at the caller's generator's state, as each MPI process has its own: manual_seed
/// in a rank reseeds that rank's generator only, and the caller's generator does not move. When a rank throws, the other ranks are released from their collectives
/// and the first exception is rethrown here.
/// @param timeout how long each collective waits for the other ranks (Communicator::set_timeout).
/// @throws graft::Error when world_size < 1, and whatever the first failing rank threw.
void run_in_process(int world_size, const std::function<void(Communicator&)>& fn,
                    std::chrono::milliseconds timeout = Communicator::kDefaultTimeout);

/// OpenMP limited to one thread on the calling thread for the scope (what run_in_process does for each rank);
/// lets a single-process reference run compute exactly as a rank does.
class SingleThreadedKernels {
 public:
  SingleThreadedKernels();
  ~SingleThreadedKernels();
  SingleThreadedKernels(const SingleThreadedKernels&) = delete;
  SingleThreadedKernels& operator=(const SingleThreadedKernels&) = delete;

 private:
  int previous_;
};

}  // namespace graft::optim::zero
