#pragma once
// Communicator: the collectives ZeRO needs (all_reduce, reduce_scatter, all_gather, broadcast, barrier)
// over flat float32/float64 buffers, with two back ends: InProcessCommunicator (ranks as threads of one
// process, optim/zero/in_process.h) and MpiCommunicator (ranks as processes, optim/zero/mpi/, a separate
// library so that graft itself does not depend on MPI).
//
// Reductions are sums taken in rank order: element i of the result is
//     ((in_0[i] + in_1[i]) + in_2[i]) + ... + in_{W-1}[i]
// (with `accumulate`, out[i] + in_0[i] + ... instead), in the buffers' dtype, on every back end, so results
// are deterministic and the back ends agree bit for bit. (MPI's own reductions promise no order; the MPI
// back end moves the pieces with MPI_Alltoallv and sums them locally.)
//
// Every call is counted per rank and per collective under the ring model: a buffer of n elements is split
// into W chunks (the caller's chunks for reduce_scatter/all_gather; n/W each, the first n % W one larger, for
// all_reduce); a ring reduce-scatter or all-gather moves every chunk but one through each rank, so with equal
// chunks each rank sends and receives (W - 1)/W * n elements, and an all-reduce (a reduce-scatter and then an
// all-gather) twice that. A pipelined broadcast passes the whole buffer along the ring: every rank but the
// root receives n, every rank but the root's predecessor sends n. A barrier moves nothing.
//
// Collectives are called by every rank, in the same order, with matching sizes (as in MPI). Bad arguments
// raise graft::Error naming the collective; the in-process back end also checks that the ranks agree.
//
// No collective waits forever: a rank that does not join within timeout() (PyTorch's process-group timeout,
// 30 minutes unless set) makes the collective raise graft::Error on every rank that is waiting, naming the
// collective and the ranks that did not join; the communicator is unusable afterwards (every later
// collective raises at once), as in PyTorch. The MPI back end then aborts the job when the program ends
// (MpiEnvironment), since MPI cannot finalise with a rank missing.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "graft/autograd/profiler.h"
#include "graft/graph/tensor.h"

namespace graft::optim::zero {

enum class Collective : uint8_t { AllReduce, ReduceScatter, AllGather, Broadcast, Barrier };
inline constexpr size_t kNumCollectives = 5;
const char* collective_name(Collective c);  // "all_reduce", ...

/// What one rank moved in one kind of collective, under the ring model.
struct Traffic {
  int64_t calls = 0;
  int64_t elements_sent = 0;
  int64_t elements_received = 0;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;

  Traffic& operator+=(const Traffic& other);
  Traffic& operator-=(const Traffic& other);
  bool operator==(const Traffic&) const = default;
};

using TrafficByCollective = std::array<Traffic, kNumCollectives>;
Traffic total(const TrafficByCollective& traffic);
TrafficByCollective operator-(TrafficByCollective a, const TrafficByCollective& b);

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  /// "in-process" or "mpi".
  virtual const char* backend() const = 0;

  /// Every rank's `buffer` becomes the rank-ordered sum of all ranks' buffers.
  void all_reduce(const Tensor& buffer);
  /// output = [output +] sum over ranks of input (same length); output may be input. With accumulate, each
  /// chunk starts from its owner's output (keep outputs equal across ranks, as ZeRO stage 0 does).
  void all_reduce(const Tensor& input, const Tensor& output, bool accumulate);
  /// input: W * output.numel() elements, chunk s going to rank s. output = [output +] the rank-ordered sum of
  /// every rank's chunk `rank()`. output may be exactly this rank's chunk of input (in place).
  void reduce_scatter(const Tensor& input, const Tensor& output, bool accumulate = false);
  /// output (W * input.numel() elements) = every rank's input, in rank order. input may be exactly this
  /// rank's chunk of output (in place).
  void all_gather(const Tensor& input, const Tensor& output);
  /// The variable-size form: rank s contributes counts[s] elements (input holds counts[rank()]); output holds
  /// their concatenation in rank order.
  void all_gather(const Tensor& input, const Tensor& output, const std::vector<int64_t>& counts);
  /// Every rank's buffer becomes root's.
  void broadcast(const Tensor& buffer, int root);
  void barrier();

  /// PyTorch's default process-group timeout.
  static constexpr std::chrono::milliseconds kDefaultTimeout{std::chrono::minutes(30)};
  /// How long a collective waits for the other ranks before raising graft::Error (see above).
  /// @throws graft::Error when timeout is not positive.
  void set_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds timeout() const { return timeout_; }

  /// Counted traffic of this rank since construction or the last reset.
  const TrafficByCollective& traffic() const { return traffic_; }
  const Traffic& traffic(Collective c) const { return traffic_[static_cast<size_t>(c)]; }
  void reset_traffic() { traffic_ = {}; }

 protected:
  Communicator(int rank, int world_size);

  /// The back end's part. Buffers are contiguous, of one floating dtype, and checked by the caller.
  /// reduce_scatter: `in` holds W chunks of counts[s] elements; `out` (counts[rank] elements) receives the
  /// rank-ordered sum of chunk `rank` over ranks (added to out's values with accumulate). `out` may alias
  /// this rank's chunk of `in`.
  virtual void do_reduce_scatter(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype,
                                 bool accumulate) = 0;
  /// all_gather: out = concatenation over ranks of each rank's `in` (counts[s] elements). `in` may alias this
  /// rank's part of `out`.
  virtual void do_all_gather(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype) = 0;
  virtual void do_broadcast(void* buffer, int64_t n, DType dtype, int root) = 0;
  virtual void do_barrier() = 0;

 private:
  // Adds a collective's traffic to traffic() and to its profiler event.
  void count(Collective c, int64_t sent, int64_t received, DType dtype, profiler::RecordFunction& record);
  std::vector<int64_t> balanced_counts(int64_t n) const;

  int rank_;
  int world_size_;
  TrafficByCollective traffic_{};
  std::chrono::milliseconds timeout_ = kDefaultTimeout;
};

namespace detail {
/// "rank 2" or "ranks 1, 3": the ranks a timed-out collective waited for.
std::string describe_ranks(const std::vector<int>& ranks);
/// out[i] = ((start[i] + in[0][i]) + in[1][i]) + ... for i < n, where start is out itself with accumulate and
/// in[0] (then skipped) without. Any input may alias out elementwise: elements are read before they are written.
/// The one reduction both back ends use.
void ordered_sum(void* out, const std::vector<const void*>& in, int64_t n, DType dtype, bool accumulate);
}  // namespace detail

}  // namespace graft::optim::zero
