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
// Non-blocking collectives (reduce_scatter_async, all_gather_async, all_reduce_async; torch.distributed's async_op=True) start
// a collective and return a Work to wait() on later, so that computation can run while the data moves. They
// count as called when they start (the order above is the order of the starts), give the same results bit
// for bit, and their buffers must stay alive and untouched until wait() returns. The MPI back end moves the
// data with nonblocking MPI; the in-process back end completes the collective when it starts.
//
// No collective waits forever: a rank that does not join within timeout() (PyTorch's process-group timeout,
// 30 minutes unless set) makes the collective raise graft::Error on every rank that is waiting, naming the
// collective and the ranks that did not join; the communicator is unusable afterwards (every later
// collective raises at once), as in PyTorch. The MPI back end then aborts the job when the program ends
// (MpiEnvironment), since MPI cannot finalise with a rank missing.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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

namespace detail {
/// A back end's transfer in flight (see Communicator::start_reduce_scatter).
class InFlight {
 public:
  virtual ~InFlight() = default;
  /// Moves the transfer on (MPI progresses messages only inside MPI calls); true once finish() would not block.
  virtual bool test() = 0;
  /// Blocks until the transfer is complete and writes the output.
  /// @throws graft::Error as the blocking collective does (timeout, ranks at different collectives).
  virtual void finish() = 0;
};
}  // namespace detail

/// A collective in flight, started by one of Communicator's *_async calls (c10d's Work). Keep its buffers
/// alive and untouched until wait() returns.
class Work {
 public:
  ~Work();  ///< waits for an unfinished collective; an error there is raised again by the next collective
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;

  /// Blocks until this rank's output is complete. Later calls return at once.
  /// @throws graft::Error as the blocking collective does (timeout, ranks at different collectives).
  void wait();
  /// True once the transfer in flight has completed (for all_reduce_async: its reduce-scatter; the all-gather
  /// runs in wait()). Each call also moves the transfer on: poll it from work done in the meantime.
  bool is_completed();

 private:
  friend class Communicator;
  Work(const char* op, std::unique_ptr<detail::InFlight> in_flight, std::function<void()> then);

  const char* op_;
  std::unique_ptr<detail::InFlight> in_flight_;
  std::function<void()> then_;  // runs in wait() once the transfer is complete (all_reduce's all-gather)
  bool done_ = false;
};
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
  /// The variable-size form: input holds the chunks of every rank in rank order, counts[s] elements going to
  /// rank s; output holds counts[rank()] elements and may be exactly this rank's chunk of input.
  /// @throws graft::Error when the counts do not match the world size or the buffers.
  void reduce_scatter(const Tensor& input, const Tensor& output, const std::vector<int64_t>& counts,
                      bool accumulate = false);
  /// reduce_scatter(input, output, counts, accumulate), started without waiting for it (see above).
  std::unique_ptr<Work> reduce_scatter_async(const Tensor& input, const Tensor& output,
                                             const std::vector<int64_t>& counts, bool accumulate = false);
  /// all_gather(input, output, counts), started without waiting for it (see above).
  std::unique_ptr<Work> all_gather_async(const Tensor& input, const Tensor& output, const std::vector<int64_t>& counts);
  /// all_reduce(input, output, accumulate), started without waiting: its reduce-scatter is in flight when this
  /// returns, its all-gather runs in Work::wait().
  std::unique_ptr<Work> all_reduce_async(const Tensor& input, const Tensor& output, bool accumulate = false);
  /// output (W * input.numel() elements) = every rank's input, in rank order. input may be exactly this
  /// rank's chunk of output (in place).
  void all_gather(const Tensor& input, const Tensor& output);
  /// The variable-size form: rank s contributes counts[s] elements (input holds counts[rank()]); output holds
  /// their concatenation in rank order.
  void all_gather(const Tensor& input, const Tensor& output, const std::vector<int64_t>& counts);
  /// Every rank's buffer becomes root's.
  void broadcast(const Tensor& buffer, int root);
  void barrier();

  /// How n elements split over the ranks as evenly as possible, in rank order: n / world_size() each, the
  /// first n % world_size() ranks one more (the chunks all_reduce reduces; the counts for the variable-size
  /// all_gather of a partitioned tensor).
  std::vector<int64_t> balanced_counts(int64_t n) const;

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
  /// do_reduce_scatter started without waiting; `in` and `out` stay valid until the result's finish(). The
  /// default runs do_reduce_scatter at once.
  virtual std::unique_ptr<detail::InFlight> start_reduce_scatter(const void* in, void* out,
                                                                 const std::vector<int64_t>& counts, DType dtype,
                                                                 bool accumulate);
  /// all_gather: out = concatenation over ranks of each rank's `in` (counts[s] elements). `in` may alias this
  /// rank's part of `out`.
  virtual void do_all_gather(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype) = 0;
  /// do_all_gather started without waiting (buffers valid until finish()); the default runs it at once.
  virtual std::unique_ptr<detail::InFlight> start_all_gather(const void* in, void* out,
                                                             const std::vector<int64_t>& counts, DType dtype);
  virtual void do_broadcast(void* buffer, int64_t n, DType dtype, int root) = 0;
  virtual void do_barrier() = 0;

 private:
  // Adds a collective's traffic to traffic() and to its profiler event.
  void count(Collective c, int64_t sent, int64_t received, DType dtype, profiler::RecordFunction& record);
  void check_reduce_scatter(const char* op, const Tensor& input, const Tensor& output,
                            const std::vector<int64_t>& counts) const;
  void check_all_gather(const char* op, const Tensor& input, const Tensor& output,
                        const std::vector<int64_t>& counts) const;

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
