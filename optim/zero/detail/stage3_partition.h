#pragma once
// ZeRO stage 3's parameter partitioning (optimizer implementation only). Each parameter keeps its own
// Storage, whose memory is released while the parameter is not in use (graph/storage.h), so tensor handles,
// saved-for-backward references and version counters stay valid. A module's own parameters are gathered by
// its forward pre-hook and released by its forward hook; in backward, a saved tensor that finds its storage
// released gathers its module's parameters again, and they are released once all of them that require grad
// have received their gradient, or when backward ends.
#include <cstdint>
#include <memory>
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
  // Every parameter's version is bumped (step() changed the values behind them).
  void bump_versions();

 private:
  struct Set {
    std::vector<size_t> params;   // ZeroParam ids, in bucket/member order
    size_t grads_expected = 0;    // those that require grad
  };
  struct Held {
    size_t set;
    size_t pending;  // parameters of the set still waiting for their gradient
  };
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
};

}  // namespace graft::optim::zero::detail
