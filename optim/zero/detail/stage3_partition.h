#pragma once
// ZeRO stage 3's parameter partitioning (optimizer implementation only). Each parameter keeps its own
// Storage, whose memory is released while the parameter is not in use (graph/storage.h), so tensor handles,
// saved-for-backward references and version counters stay valid. A module's own parameters are gathered by
// its forward pre-hook and released by its forward hook; in backward, a saved tensor that finds its storage
// released gathers its module's parameters again, and they are released once all of them that require grad
// have received their gradient, or when backward ends.
//
// Prefetch (DeepSpeed's stage3_prefetch_bucket_size): the order in which the forward gathers modules is
// recorded until the first backward; from then on, a module's forward pre-hook also starts the non-blocking
// all-gathers of the modules that come next in that order, up to the prefetch size in elements in flight, and
// the next module's pre-hook waits for its own only then. A forward that departs from the recorded order
// finishes the prefetches in flight, warns once, and is recorded again. Prefetched parameters not used by the
// forward are released when backward begins or the parameters change.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graft/graph/storage.h"
#include "graft/nn/module.h"
#include "graft/optim/zero/communicator.h"
#include "graft/optim/zero/detail/zero_state.h"

namespace graft::optim::zero::detail {

// What the partition works on: the sharded optimizer's model, communicator, parameters and buckets. The
// optimizer owns them and keeps them in place for the partition's lifetime; the partition reads the
// parameters and the buckets' layouts and slices, and writes only the parameters' storages.
struct Stage3State {
  nn::Module& model;
  Communicator& comm;
  const std::vector<ZeroParam>& params;
  const std::vector<ZeroBucket>& buckets;
};

class Stage3Partition {
 public:
  // Gives every parameter its own storage holding its current values, installs the hooks, and releases
  // every parameter.
  explicit Stage3Partition(Stage3State state);
  ~Stage3Partition();
  Stage3Partition(const Stage3Partition&) = delete;
  Stage3Partition& operator=(const Stage3Partition&) = delete;

  // Makes the parameters resident (one all-gather per bucket for those that were released) and holds them.
  // Collective: every rank passes the same ids in the same state.
  void gather(const std::vector<size_t>& ids);
  // Drops one hold on each; a parameter without holds releases its memory.
  void release(const std::vector<size_t>& ids);
  // Backward bookkeeping.
  void begin_backward();
  void gradient_arrived(size_t param);
  void end_backward();
  // Bytes of parameter memory currently resident (gathered) on this rank.
  int64_t resident_bytes() const;
  int64_t resident_elements() const;
  // Every parameter's version is bumped (step() or a load changed the values behind them); prefetched copies
  // are dropped.
  void bump_versions();
  // Elements of parameters gathered ahead of their module's forward at most (0: no prefetch).
  void set_prefetch_bucket_size(int64_t elements) { prefetch_bucket_size_ = elements; }
  // The forward order of module parameter sets learned for prefetching (empty until the first backward).
  const std::vector<size_t>& prefetch_order() const { return order_; }
  // Prefetched gathers started so far (for tests).
  int64_t prefetches_started() const { return prefetches_started_; }

 private:
  struct Set {
    std::string module;           // the module's name in the model
    std::vector<size_t> params;   // ZeroParam ids, in bucket/member order
    size_t grads_expected = 0;    // those that require grad
  };
  struct Held {
    size_t set;
    size_t pending;  // parameters of the set still waiting for their gradient
  };
  // A gather in flight: per bucket, the buffers of one all-gather.
  struct Transfer {
    size_t bucket;
    std::vector<size_t> members;  // ZeroParam ids
    std::vector<int64_t> counts;
    Tensor send, received;
    std::unique_ptr<Work> work;
  };
  struct Prefetch {
    size_t set;
    int64_t elements;
    std::vector<Transfer> transfers;
  };
  // The all-gathers that make the released parameters among `ids` resident, started (non-blocking).
  std::vector<Transfer> start_gather(const std::vector<size_t>& ids, bool async);
  void finish_gather(std::vector<Transfer>& transfers);
  void forward_pre_hook(size_t set);
  void start_prefetches();
  // Waits for the prefetches in flight that gather any of `ids` (all of them when null); their sets become
  // resident, held by the prefetch.
  void finish_prefetches(const std::vector<size_t>* ids = nullptr);
  // finish_prefetches, then releases the prefetch holds of sets no forward has taken over.
  void drop_prefetches();
  void gather_for_backward(size_t param);
  void unpack(size_t bucket, const std::vector<size_t>& ids, const Tensor& received,
              const std::vector<int64_t>& counts);

  Stage3State state_;
  std::vector<std::shared_ptr<Storage>> storages_;  // per ZeroParam
  std::vector<int> holds_;                          // per ZeroParam
  std::vector<size_t> owner_set_;                   // per ZeroParam: the set gathered for its backward
  std::vector<Set> sets_;                           // per module with partitioned parameters of its own
  std::vector<std::pair<nn::Module*, size_t>> hooks_;  // (module, handle)
  std::vector<Held> held_;                          // sets gathered by backward and not yet released
  std::vector<uint8_t> arrived_;                    // per ZeroParam: its gradient arrived in this backward
  // Prefetch.
  int64_t prefetch_bucket_size_ = 0;
  std::vector<size_t> order_;      // sets in forward order (learned)
  std::vector<size_t> recording_;  // the order being recorded (when order_ is empty)
  size_t cursor_ = 0;              // the position in order_ of the next expected set
  std::vector<Prefetch> in_flight_;
  std::vector<std::vector<size_t>> prefetch_held_;  // per set: the parameters a finished prefetch holds for it
  std::vector<uint8_t> in_flight_set_;               // per set: a prefetch of it is in flight
  std::vector<uint8_t> param_in_flight_;             // per ZeroParam: a prefetch is gathering it
  bool warned_ = false;
  int64_t prefetches_started_ = 0;
};

}  // namespace graft::optim::zero::detail
