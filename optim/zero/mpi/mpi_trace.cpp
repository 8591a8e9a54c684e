#include "graft/optim/zero/mpi/mpi_trace.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "graft/graph/atomic_file.h"
#include "graft/graph/factory.h"

namespace graft::optim::zero {

void export_chrome_trace(const profiler::profile& prof, MpiCommunicator& comm, const std::string& path) {
  GRAFT_CHECK(prof.stopped(), "export_chrome_trace: the profile on rank {} is still recording; stop() it first",
              comm.rank());
  // Line the clocks up: every rank leaves the barrier at about the same moment.
  comm.barrier();
  const double now_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
  Tensor clocks = zeros({comm.world_size()}, kFloat64);
  comm.all_gather(tensor({now_us}, {1}, kFloat64), clocks);
  // This rank's profile start on rank 0's clock, relative to rank 0's profile start (shared via the gather).
  const double start_on_rank0 = prof.start_steady_us() - (now_us - clocks.data_ptr<double>()[0]);
  Tensor start0 = tensor({start_on_rank0}, {1}, kFloat64);
  comm.broadcast(start0, 0);
  const double offset_us = start_on_rank0 - start0.data_ptr<double>()[0];
  const std::string mine = prof.chrome_trace(comm.rank(), fmt::format("rank {}", comm.rank()), offset_us);

  // The traces travel to rank 0 as bytes (their lengths first).
  const int W = comm.world_size();
  Tensor lengths = zeros({W}, kFloat64);
  comm.all_gather(tensor({static_cast<double>(mine.size())}, {1}, kFloat64), lengths);
  std::vector<int> counts(static_cast<size_t>(W)), displs(static_cast<size_t>(W), 0);
  int64_t total = 0;
  for (int r = 0; r < W; ++r) {
    const double n = lengths.data_ptr<double>()[r];
    GRAFT_CHECK(total + n <= INT_MAX, "export_chrome_trace: the ranks' traces exceed {} bytes together", INT_MAX);
    counts[static_cast<size_t>(r)] = static_cast<int>(n);
    displs[static_cast<size_t>(r)] = static_cast<int>(total);
    total += static_cast<int64_t>(n);
  }
  std::vector<char> all(comm.rank() == 0 ? static_cast<size_t>(total) : 0);
  comm.gather_bytes(mine.data(), static_cast<int>(mine.size()), all.data(), counts, displs);
  if (comm.rank() != 0) return;
  nlohmann::json events = nlohmann::json::array();
  for (int r = 0; r < W; ++r) {
    nlohmann::json trace = nlohmann::json::parse(all.begin() + displs[static_cast<size_t>(r)],
                                                 all.begin() + displs[static_cast<size_t>(r)] + counts[static_cast<size_t>(r)]);
    for (auto& e : trace["traceEvents"]) events.push_back(std::move(e));
  }
  AtomicFileWriter out(path, "export_chrome_trace");
  out.write(nlohmann::json{{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}}.dump() + "\n");
  out.commit();
}

}  // namespace graft::optim::zero
