#include "graft/optim/zero/mpi/mpi_communicator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace graft::optim::zero {

namespace {

void check(int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  GRAFT_FAIL("{}: MPI failed: {}", op, std::string(text, static_cast<size_t>(length)));
}

void require_initialized(const char* op) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  GRAFT_CHECK(initialized && !finalized, "{}: MPI is not initialised (create an MpiEnvironment in main first)", op);
}

int rank_of(MPI_Comm comm) {
  require_initialized("MpiCommunicator");
  int rank = 0;
  check(MPI_Comm_rank(comm, &rank), "MpiCommunicator");
  return rank;
}

int size_of(MPI_Comm comm) {
  int size = 0;
  check(MPI_Comm_size(comm, &size), "MpiCommunicator");
  return size;
}

MPI_Datatype mpi_type(DType dtype) {
  if (dtype == kFloat32) return MPI_FLOAT;
  if (dtype == kFloat64) return MPI_DOUBLE;
  // MPI has no 16-bit floating type; the reductions are graft's own (detail::ordered_sum), so MPI only moves
  // the bits.
  if (dtype == kBFloat16 || dtype == kFloat16) return MPI_UINT16_T;
  GRAFT_FAIL("MpiCommunicator: {} buffers cannot be communicated", dtype_name(dtype));
}

std::vector<int64_t> displacements(const std::vector<int64_t>& counts) {
  std::vector<int64_t> d(counts.size(), 0);
  for (size_t s = 1; s < counts.size(); ++s) d[s] = d[s - 1] + counts[s - 1];
  return d;
}

bool fits(int64_t limit, const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  return total <= limit;  // every count and every displacement fits
}

std::vector<int> as_int(const std::vector<int64_t>& v) { return std::vector<int>(v.begin(), v.end()); }

// Arrival tokens use the largest tag MPI guarantees; the pieces of a message use 0, 1, ...
constexpr int kArrivalTag = 32767;

std::atomic<bool> job_broken_flag{false};

int64_t collective_code(const char* op) {
  uint64_t code = 0;  // unsigned, so the hash wraps instead of overflowing (undefined for int64_t)
  for (const char* c = op; *c; ++c) code = code * 31 + static_cast<unsigned char>(*c);
  return static_cast<int64_t>(code);
}

}  // namespace

bool MpiEnvironment::job_broken() { return job_broken_flag.load(); }

MpiEnvironment::MpiEnvironment(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  GRAFT_CHECK(!initialized, "MpiEnvironment: MPI is already initialised");
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MpiEnvironment");
}

MpiEnvironment::~MpiEnvironment() {
  if (job_broken()) {
    std::fprintf(stderr, "graft: a collective timed out; aborting the MPI job\n");
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : Communicator(rank_of(comm), size_of(comm)) {
  check(MPI_Comm_dup(comm, &comm_), "MpiCommunicator");
  check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MpiCommunicator");
  profiler::set_thread_name(fmt::format("rank {}", rank()));  // names this process's track in a trace
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // After a timeout the communicator has requests in flight; it is left to MPI_Abort.
  if (!finalized && comm_ != MPI_COMM_NULL && broken_.empty()) MPI_Comm_free(&comm_);
}

void MpiCommunicator::time_out(const char* op, const std::string& what) {
  broken_ = fmt::format("{}: timed out after {:.3g} s on rank {} {}", op, std::chrono::duration<double>(timeout()).count(),
                        rank(), what);
  job_broken_flag = true;
  GRAFT_FAIL("{}", broken_);
}

void MpiCommunicator::wait(const char* op, std::vector<MPI_Request>& requests, const std::vector<int>* sources) {
  const auto start = std::chrono::steady_clock::now(), deadline = start + timeout();
  auto pause = std::chrono::microseconds(0);
  std::vector<int> done(requests.size());
  while (true) {
    int count = 0;
    check(MPI_Testsome(static_cast<int>(requests.size()), requests.data(), &count, done.data(), MPI_STATUSES_IGNORE), op);
    if (count == MPI_UNDEFINED) return;  // every request has completed
    if (count > 0) continue;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::vector<int> missing;
      if (sources)
        for (size_t i = 0; i < requests.size(); ++i)
          if (requests[i] != MPI_REQUEST_NULL && (*sources)[i] >= 0) missing.push_back((*sources)[i]);
      time_out(op, missing.empty() ? "after every rank had joined (a rank stopped in the middle of it)"
                                   : fmt::format("waiting for {}, which did not join", detail::describe_ranks(missing)));
    }
    // MPI moves data only inside its calls (no progress thread), so a rank that sleeps also delays its peers:
    // each round of a protocol (rendezvous, TCP) waits out the sleeps of both sides, which made a 2 KB
    // all-gather over shared memory take 0.3 ms against 5 us for a ping-pong. So poll without sleeping for
    // the first kSpinWindow, yielding the core to any thread that needs it (a busy machine loses nothing);
    // after that, a rank waiting for a stopped one sleeps, up to 1 ms between polls.
    constexpr auto kSpinWindow = std::chrono::milliseconds(2);
    if (std::chrono::steady_clock::now() - start < kSpinWindow) {
      std::this_thread::yield();
      continue;
    }
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
    pause = std::min(std::chrono::microseconds(1000), pause * 2 + std::chrono::microseconds(pause.count() == 0 ? 10 : 0));
  }
}

void MpiCommunicator::post_arrival(const char* op, int64_t* token, std::vector<int64_t>& got,
                                  std::vector<MPI_Request>& requests, std::vector<int>& sources) {
  GRAFT_CHECK(broken_.empty(), "{}: the communicator is unusable after an earlier failure ({})", op, broken_);
  const int W = world_size(), r = rank();
  ++sequence_;
  token[0] = sequence_;
  token[1] = collective_code(op);
  got.assign(static_cast<size_t>(2 * W), 0);
  if (W == 1) return;
  for (int s = 0; s < W; ++s) {
    if (s == r) continue;
    requests.emplace_back();
    sources.push_back(s);
    check(MPI_Irecv(&got[static_cast<size_t>(2 * s)], 2, MPI_INT64_T, s, kArrivalTag, comm_, &requests.back()), op);
  }
  for (int s = 0; s < W; ++s) {
    if (s == r) continue;
    requests.emplace_back();
    sources.push_back(-1);
    check(MPI_Isend(token, 2, MPI_INT64_T, s, kArrivalTag, comm_, &requests.back()), op);
  }
}

void MpiCommunicator::check_arrival(const char* op, const int64_t* token, const std::vector<int64_t>& got) const {
  const int W = world_size(), r = rank();
  for (int s = 0; s < W; ++s)
    GRAFT_CHECK(s == r || (got[static_cast<size_t>(2 * s)] == token[0] && got[static_cast<size_t>(2 * s + 1)] == token[1]),
                "{}: rank {} is at another collective (its collective number {} against this rank's {}); every rank "
                "must call the same collectives in the same order",
                op, s, got[static_cast<size_t>(2 * s)], token[0]);
}

void MpiCommunicator::arrive(const char* op) {
  int64_t token[2];
  std::vector<int64_t> got;
  std::vector<MPI_Request> requests;
  std::vector<int> sources;
  post_arrival(op, token, got, requests, sources);
  if (requests.empty()) return;
  wait(op, requests, &sources);
  check_arrival(op, token, got);
}

void MpiCommunicator::set_max_message(int64_t elements) {
  GRAFT_CHECK(elements >= 1 && elements <= INT_MAX, "MpiCommunicator.set_max_message: {} is not in [1, INT_MAX]",
              elements);
  max_message_ = elements;
}

void MpiCommunicator::exchange(const char* op, const std::vector<const char*>& sends,
                               const std::vector<int64_t>& send_counts, const std::vector<char*>& recvs,
                               const std::vector<int64_t>& recv_counts, DType dtype) {
  const MPI_Datatype type = mpi_type(dtype);
  const size_t esize = element_size(dtype);
  std::vector<MPI_Request> requests;
  for (size_t s = 0; s < recvs.size(); ++s)
    for (int64_t o = 0, piece = 0; o < recv_counts[s]; o += max_message_, ++piece) {
      requests.emplace_back();
      const int n = static_cast<int>(std::min(max_message_, recv_counts[s] - o));
      check(MPI_Irecv(recvs[s] + o * static_cast<int64_t>(esize), n, type, static_cast<int>(s), static_cast<int>(piece),
                      comm_, &requests.back()),
            "MpiCommunicator");
    }
  for (size_t s = 0; s < sends.size(); ++s)
    for (int64_t o = 0, piece = 0; o < send_counts[s]; o += max_message_, ++piece) {
      requests.emplace_back();
      const int n = static_cast<int>(std::min(max_message_, send_counts[s] - o));
      check(MPI_Isend(sends[s] + o * static_cast<int64_t>(esize), n, type, static_cast<int>(s), static_cast<int>(piece),
                      comm_, &requests.back()),
            "MpiCommunicator");
    }
  wait(op, requests, nullptr);
}

void MpiCommunicator::do_reduce_scatter(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype,
                                        bool accumulate) {
  arrive("reduce_scatter");
  const int W = world_size(), r = rank();
  const size_t esize = element_size(dtype);
  const int64_t mine = counts[static_cast<size_t>(r)];
  // Every rank's chunk `r`, rank after rank, then the sum in rank order.
  std::vector<char> received(static_cast<size_t>(mine * W) * esize);
  const std::vector<int64_t> send_displ = displacements(counts);
  const std::vector<int64_t> recv_counts(static_cast<size_t>(W), mine);
  if (fits(max_message_, counts) && mine * W <= max_message_) {
    std::vector<int64_t> recv_displ(static_cast<size_t>(W));
    for (int s = 0; s < W; ++s) recv_displ[static_cast<size_t>(s)] = mine * s;
    const std::vector<int> sc = as_int(counts), sd = as_int(send_displ), rc = as_int(recv_counts), rd = as_int(recv_displ);
    std::vector<MPI_Request> request(1);
    check(MPI_Ialltoallv(in, sc.data(), sd.data(), mpi_type(dtype), received.data(), rc.data(), rd.data(),
                         mpi_type(dtype), comm_, &request[0]),
          "reduce_scatter");
    wait("reduce_scatter", request, nullptr);
  } else {
    std::vector<const char*> sends;
    std::vector<char*> recvs;
    for (int s = 0; s < W; ++s) {
      sends.push_back(static_cast<const char*>(in) + send_displ[static_cast<size_t>(s)] * static_cast<int64_t>(esize));
      recvs.push_back(received.data() + mine * s * static_cast<int64_t>(esize));
    }
    exchange("reduce_scatter", sends, counts, recvs, recv_counts, dtype);
  }
  std::vector<const void*> inputs;
  for (int s = 0; s < W; ++s) inputs.push_back(received.data() + mine * s * static_cast<int64_t>(esize));
  detail::ordered_sum(out, inputs, mine, dtype, accumulate);
}

void MpiCommunicator::do_all_gather(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype) {
  arrive("all_gather");
  const int W = world_size(), r = rank();
  const size_t esize = element_size(dtype);
  const std::vector<int64_t> displ = displacements(counts);
  char* own = static_cast<char*>(out) + displ[static_cast<size_t>(r)] * static_cast<int64_t>(esize);
  if (fits(max_message_, counts)) {
    const bool in_place = in == own;
    const std::vector<int> c = as_int(counts), d = as_int(displ);
    std::vector<MPI_Request> request(1);
    check(MPI_Iallgatherv(in_place ? MPI_IN_PLACE : in, static_cast<int>(counts[static_cast<size_t>(r)]),
                          mpi_type(dtype), out, c.data(), d.data(), mpi_type(dtype), comm_, &request[0]),
          "all_gather");
    wait("all_gather", request, nullptr);
    return;
  }
  if (in != own && counts[static_cast<size_t>(r)] > 0)
    std::memmove(own, in, static_cast<size_t>(counts[static_cast<size_t>(r)]) * esize);
  std::vector<const char*> sends;
  std::vector<int64_t> send_counts;
  std::vector<char*> recvs;
  std::vector<int64_t> recv_counts;
  for (int s = 0; s < W; ++s) {
    sends.push_back(own);
    send_counts.push_back(s == r ? 0 : counts[static_cast<size_t>(r)]);
    recvs.push_back(static_cast<char*>(out) + displ[static_cast<size_t>(s)] * static_cast<int64_t>(esize));
    recv_counts.push_back(s == r ? 0 : counts[static_cast<size_t>(s)]);
  }
  exchange("all_gather", sends, send_counts, recvs, recv_counts, dtype);
}

void MpiCommunicator::do_broadcast(void* buffer, int64_t n, DType dtype, int root) {
  arrive("broadcast");
  const size_t esize = element_size(dtype);
  std::vector<MPI_Request> requests;
  for (int64_t o = 0; o < n; o += max_message_) {
    requests.emplace_back();
    check(MPI_Ibcast(static_cast<char*>(buffer) + o * static_cast<int64_t>(esize),
                     static_cast<int>(std::min(max_message_, n - o)), mpi_type(dtype), root, comm_, &requests.back()),
          "broadcast");
  }
  wait("broadcast", requests, nullptr);
}

void MpiCommunicator::gather_bytes(const char* in, int n, char* out, const std::vector<int>& counts,
                                   const std::vector<int>& displs) {
  arrive("gather_bytes");
  if (rank() == 0)
    GRAFT_CHECK(counts.size() == static_cast<size_t>(world_size()) && displs.size() == counts.size(),
                "gather_bytes: got {} counts and {} displacements for world size {}", counts.size(), displs.size(),
                world_size());
  std::vector<MPI_Request> request(1);
  check(MPI_Igatherv(in, n, MPI_BYTE, out, rank() == 0 ? counts.data() : nullptr,
                     rank() == 0 ? displs.data() : nullptr, MPI_BYTE, 0, comm_, &request[0]),
        "gather_bytes");
  wait("gather_bytes", request, nullptr);
}

// The arrival step already waits for every rank: that is the barrier.
void MpiCommunicator::do_barrier() { arrive("barrier"); }

// ---------------------------------------------------------------- nonblocking collectives

// A collective in flight: its arrival tokens and its data move together; the tokens are checked, and the
// collective's last local step runs (a reduce-scatter's sum in rank order), once everything has arrived. (A
// mismatch between ranks is therefore found after the transfer rather than before it, or as a timeout.)
class MpiCommunicator::PendingCollective final : public detail::InFlight {
 public:
  PendingCollective(MpiCommunicator& comm, const char* op) : comm_(comm), op_(op) {
    comm.post_arrival(op, token_.data(), got_, requests_, sources_);
  }

  ~PendingCollective() override {
    // Unfinished after a failure: MPI may still write into the buffers until the job is aborted, so they stay
    // alive until then.
    if (!finished_) {
      static std::vector<std::vector<char>> abandoned;
      static std::vector<std::vector<int64_t>> abandoned_tokens;
      static std::vector<std::vector<int>> abandoned_counts;
      abandoned.push_back(std::move(received));
      abandoned_tokens.push_back(std::move(got_));
      abandoned_tokens.push_back(std::move(token_));
      for (std::vector<int>* v : {&counts, &displs, &counts2, &displs2}) abandoned_counts.push_back(std::move(*v));
    }
  }

  // The data transfer's request, posted by the caller after the tokens'.
  MPI_Request& data_request() {
    requests_.emplace_back();
    sources_.push_back(-1);
    return requests_.back();
  }

  bool test() override {
    if (finished_) return true;
    int flag = 0;
    check(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag, MPI_STATUSES_IGNORE), op_);
    return flag != 0;
  }

  void finish() override {
    if (finished_) return;
    comm_.wait(op_, requests_, &sources_);
    finished_ = true;
    comm_.check_arrival(op_, token_.data(), got_);
    if (then) then();
  }

  std::vector<char> received;                      // a reduce-scatter's incoming chunks
  std::vector<int> counts, displs, counts2, displs2;  // MPI reads them until completion
  std::function<void()> then;                      // the local step once the data has arrived

 private:
  MpiCommunicator& comm_;
  const char* op_;
  std::vector<int64_t> token_ = std::vector<int64_t>(2, 0);  // on the heap: see the destructor
  std::vector<int64_t> got_;
  std::vector<MPI_Request> requests_;
  std::vector<int> sources_;
  bool finished_ = false;
};

std::unique_ptr<detail::InFlight> MpiCommunicator::start_reduce_scatter(const void* in, void* out,
                                                                        const std::vector<int64_t>& counts, DType dtype,
                                                                        bool accumulate) {
  const int W = world_size(), r = rank();
  const int64_t mine = counts[static_cast<size_t>(r)];
  if (W == 1 || !fits(max_message_, counts) || mine * W > max_message_)
    return Communicator::start_reduce_scatter(in, out, counts, dtype, accumulate);
  auto pending = std::make_unique<PendingCollective>(*this, "reduce_scatter");
  PendingCollective& p = *pending;
  const size_t esize = element_size(dtype);
  p.received.resize(static_cast<size_t>(mine * W) * esize);
  std::vector<int64_t> recv_displ(static_cast<size_t>(W));
  for (int s = 0; s < W; ++s) recv_displ[static_cast<size_t>(s)] = mine * s;
  p.counts = as_int(counts);
  p.displs = as_int(displacements(counts));
  p.counts2.assign(static_cast<size_t>(W), static_cast<int>(mine));
  p.displs2 = as_int(recv_displ);
  check(MPI_Ialltoallv(in, p.counts.data(), p.displs.data(), mpi_type(dtype), p.received.data(), p.counts2.data(),
                       p.displs2.data(), mpi_type(dtype), comm_, &p.data_request()),
        "reduce_scatter");
  p.then = [&p, out, mine, dtype, accumulate, W, esize] {
    std::vector<const void*> inputs;
    for (int s = 0; s < W; ++s) inputs.push_back(p.received.data() + mine * s * static_cast<int64_t>(esize));
    detail::ordered_sum(out, inputs, mine, dtype, accumulate);
  };
  return pending;
}

std::unique_ptr<detail::InFlight> MpiCommunicator::start_all_gather(const void* in, void* out,
                                                                    const std::vector<int64_t>& counts, DType dtype) {
  if (world_size() == 1 || !fits(max_message_, counts)) return Communicator::start_all_gather(in, out, counts, dtype);
  auto pending = std::make_unique<PendingCollective>(*this, "all_gather");
  PendingCollective& p = *pending;
  const int r = rank();
  p.counts = as_int(counts);
  p.displs = as_int(displacements(counts));
  const char* own = static_cast<const char*>(out) + static_cast<int64_t>(p.displs[static_cast<size_t>(r)]) *
                                                        static_cast<int64_t>(element_size(dtype));
  check(MPI_Iallgatherv(in == own ? MPI_IN_PLACE : in, p.counts[static_cast<size_t>(r)], mpi_type(dtype), out,
                        p.counts.data(), p.displs.data(), mpi_type(dtype), comm_, &p.data_request()),
        "all_gather");
  return pending;
}

}  // namespace graft::optim::zero
