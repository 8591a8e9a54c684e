#include "graft/optim/zero/mpi/mpi_trace.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>

#include "graft/graph/atomic_file.h"
#include "graft/graph/factory.h"

namespace graft::optim::zero {

namespace {

double steady_now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// This rank's steady clock minus rank 0's. Zero on rank 0's machine, whose processes share one steady clock
// (CLOCK_MONOTONIC); on another machine, the median over rounds of the difference between the moments the two
// ranks leave a barrier (a rank that waited long in a barrier may leave it late, hence several rounds).
double clock_skew_us(MpiCommunicator& comm) {
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_Get_processor_name(name, &length);
  const double host = static_cast<double>(std::hash<std::string>{}(std::string(name, static_cast<size_t>(length))) &
                                          0xffffffffu);
  Tensor host0 = tensor({host}, {1}, kFloat64);
  comm.broadcast(host0, 0);
  constexpr int kRounds = 9;
  std::vector<double> skews;
  for (int round = 0; round < kRounds; ++round) {
    comm.barrier();
    const double now = steady_now_us();
    Tensor clocks = zeros({comm.world_size()}, kFloat64);
    comm.all_gather(tensor({now}, {1}, kFloat64), clocks);
    skews.push_back(now - clocks.data_ptr<double>()[0]);
  }
  if (host0.data_ptr<double>()[0] == host) return 0;
  std::nth_element(skews.begin(), skews.begin() + kRounds / 2, skews.end());
  return skews[kRounds / 2];
}

}  // namespace

void export_chrome_trace(const profiler::profile& prof, MpiCommunicator& comm, const std::string& path) {
  GRAFT_CHECK(prof.stopped(), "export_chrome_trace: the profile on rank {} is still recording; stop() it first",
              comm.rank());
  // This rank's profile start on rank 0's clock, relative to rank 0's profile start.
  const double start_on_rank0 = prof.start_steady_us() - clock_skew_us(comm);
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
