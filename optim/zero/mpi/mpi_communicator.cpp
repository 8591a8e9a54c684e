#include "graft/optim/zero/mpi/mpi_communicator.h"

#include <algorithm>
#include <cstring>

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

}  // namespace

MpiEnvironment::MpiEnvironment(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  GRAFT_CHECK(!initialized, "MpiEnvironment: MPI is already initialised");
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MpiEnvironment");
}

MpiEnvironment::~MpiEnvironment() { MPI_Finalize(); }

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : Communicator(rank_of(comm), size_of(comm)) {
  check(MPI_Comm_dup(comm, &comm_), "MpiCommunicator");
  check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MpiCommunicator");
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::set_max_message(int64_t elements) {
  GRAFT_CHECK(elements >= 1 && elements <= INT_MAX, "MpiCommunicator.set_max_message: {} is not in [1, INT_MAX]",
              elements);
  max_message_ = elements;
}

void MpiCommunicator::exchange(const std::vector<const char*>& sends, const std::vector<int64_t>& send_counts,
                               const std::vector<char*>& recvs, const std::vector<int64_t>& recv_counts, DType dtype) {
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
  check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MpiCommunicator");
}

void MpiCommunicator::do_reduce_scatter(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype,
                                        bool accumulate) {
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
    check(MPI_Alltoallv(in, as_int(counts).data(), as_int(send_displ).data(), mpi_type(dtype), received.data(),
                        as_int(recv_counts).data(), as_int(recv_displ).data(), mpi_type(dtype), comm_),
          "reduce_scatter");
  } else {
    std::vector<const char*> sends;
    std::vector<char*> recvs;
    for (int s = 0; s < W; ++s) {
      sends.push_back(static_cast<const char*>(in) + send_displ[static_cast<size_t>(s)] * static_cast<int64_t>(esize));
      recvs.push_back(received.data() + mine * s * static_cast<int64_t>(esize));
    }
    exchange(sends, counts, recvs, recv_counts, dtype);
  }
  std::vector<const void*> inputs;
  for (int s = 0; s < W; ++s) inputs.push_back(received.data() + mine * s * static_cast<int64_t>(esize));
  detail::ordered_sum(out, inputs, mine, dtype, accumulate);
}

void MpiCommunicator::do_all_gather(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype) {
  const int W = world_size(), r = rank();
  const size_t esize = element_size(dtype);
  const std::vector<int64_t> displ = displacements(counts);
  char* own = static_cast<char*>(out) + displ[static_cast<size_t>(r)] * static_cast<int64_t>(esize);
  if (fits(max_message_, counts)) {
    const bool in_place = in == own;
    check(MPI_Allgatherv(in_place ? MPI_IN_PLACE : in, static_cast<int>(counts[static_cast<size_t>(r)]), mpi_type(dtype),
                         out, as_int(counts).data(), as_int(displ).data(), mpi_type(dtype), comm_),
          "all_gather");
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
  exchange(sends, send_counts, recvs, recv_counts, dtype);
}

void MpiCommunicator::do_broadcast(void* buffer, int64_t n, DType dtype, int root) {
  const size_t esize = element_size(dtype);
  for (int64_t o = 0; o < n; o += max_message_)
    check(MPI_Bcast(static_cast<char*>(buffer) + o * static_cast<int64_t>(esize),
                    static_cast<int>(std::min(max_message_, n - o)), mpi_type(dtype), root, comm_),
          "broadcast");
}

void MpiCommunicator::do_barrier() { check(MPI_Barrier(comm_), "barrier"); }

}  // namespace graft::optim::zero
