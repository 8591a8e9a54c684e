#pragma once
// The MPI back end of Communicator (optim/zero/communicator.h), in the graft_mpi library so that graft itself
// does not depend on MPI (link graft::mpi, from find_package(graft COMPONENTS mpi), or pkg-config graft-mpi;
// it is built when CMake finds MPI). Ranks are the processes of an MPI communicator, started with
// `mpirun -np N program` (as root add --allow-run-as-root, and --oversubscribe for more ranks than cores).
//
// Sums keep Communicator's rank order: a reduce-scatter moves every rank's chunks to their owners with
// MPI_Alltoallv and each owner sums them locally in rank order (MPI_Reduce_scatter and MPI_Allreduce promise
// no order), so an MPI run equals the in-process simulation bit for bit. Messages longer than INT_MAX
// elements (MPI counts are int) go in pieces, point to point.
#include <mpi.h>

#include <climits>
#include <functional>
#include <cstdint>
#include <vector>

#include "graft/optim/zero/communicator.h"

namespace graft::optim::zero {

// Timeouts: every collective first exchanges an arrival token with every other rank, then moves the data with
// nonblocking MPI calls, and polls both (sleeping between polls, so a rank waiting for a stopped one does not
// spin at 100 % CPU) until Communicator::timeout(). Past it, the collective raises graft::Error naming itself
// and the ranks whose tokens never came (or saying that it stalled after all had joined), the communicator is
// unusable, and MpiEnvironment aborts the whole job when it goes out of scope (MPI cannot finalise with a rank
// missing): catch the error in main, report it, and return.

/// MPI_Init_thread for the process's lifetime in main (MPI_THREAD_FUNNELED: only the main thread calls MPI;
/// other threads may compute, e.g. an in-process simulation next to the MPI run), MPI_Finalize at the end, or
/// MPI_Abort (exit code 1, after a message on stderr) when a collective of any MpiCommunicator timed out.
class MpiEnvironment {
 public:
  MpiEnvironment(int* argc, char*** argv);
  ~MpiEnvironment();
  /// True when a collective of some MpiCommunicator of this process has timed out.
  static bool job_broken();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;
};

class MpiCommunicator final : public Communicator {
 public:
  /// Works on a duplicate of `comm` (its own error handler and message space). MPI must be initialised, and
  /// only the thread that made the communicator may use it. Collective over `comm`.
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD);
  ~MpiCommunicator() override;
  const char* backend() const override { return "mpi"; }

  /// Rank 0 receives every rank's n bytes at `in`: rank r's counts[r] bytes land at out + displs[r] (out,
  /// counts and displs matter on rank 0 only). For tools such as export_chrome_trace (mpi_trace.h); not one of
  /// ZeRO's collectives, so not counted in traffic(). Collective, within the timeout.
  void gather_bytes(const char* in, int n, char* out, const std::vector<int>& counts, const std::vector<int>& displs);
  /// The longest message sent in one piece, in elements (INT_MAX). Tests lower it to exercise the pieces.
  void set_max_message(int64_t elements);

 private:
  void do_reduce_scatter(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype,
                         bool accumulate) override;
  void do_all_gather(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype) override;
  void do_broadcast(void* buffer, int64_t n, DType dtype, int root) override;
  void do_barrier() override;
  /// The reduce-scatter with its arrival tokens and its MPI_Ialltoallv in flight; the sum runs in finish().
  /// Messages longer than the maximum go point to point, blocking.
  std::unique_ptr<detail::InFlight> start_reduce_scatter(const void* in, void* out, const std::vector<int64_t>& counts,
                                                         DType dtype, bool accumulate) override;
  /// The all-gather with its arrival tokens and its MPI_Iallgatherv in flight (blocking beyond the maximum).
  std::unique_ptr<detail::InFlight> start_all_gather(const void* in, void* out, const std::vector<int64_t>& counts,
                                                     DType dtype) override;
  class PendingCollective;

  /// Point-to-point exchange in pieces: sends[s] (counts) to rank s and receives recvs[s] from rank s.
  void exchange(const char* op, const std::vector<const char*>& sends, const std::vector<int64_t>& send_counts,
                const std::vector<char*>& recvs, const std::vector<int64_t>& recv_counts, DType dtype);
  // The arrival step of collective `op`: a token to and from every other rank, within the timeout.
  void arrive(const char* op);
  // arrive()'s parts: post the token exchange (token and got must stay alive until the requests complete),
  // then check the tokens received.
  void post_arrival(const char* op, int64_t* token, std::vector<int64_t>& got, std::vector<MPI_Request>& requests,
                    std::vector<int>& sources);
  void check_arrival(const char* op, const int64_t* token, const std::vector<int64_t>& got) const;
  // Polls `requests` until all complete; past the deadline raises naming `op` and the ranks of the receives
  // still pending (sources[i] is request i's source rank, -1 for sends; null: not known).
  void wait(const char* op, std::vector<MPI_Request>& requests, const std::vector<int>* sources);
  [[noreturn]] void time_out(const char* op, const std::string& what);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int64_t max_message_ = INT_MAX;
  int64_t sequence_ = 0;                // collectives started on this communicator
  std::string broken_;                  // why the communicator is unusable (empty while it is fine)
};

}  // namespace graft::optim::zero
