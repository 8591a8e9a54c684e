#pragma once
// What the benchmarks that run under mpirun (zero_overlap, zero_step_time) share.
#include <algorithm>
#include <thread>
#include <vector>

#include "graft/graft.h"

namespace graft::bench {

/// Each of `values` replaced by its largest over the ranks of `comm`: the slowest rank sets the pace.
/// Collective.
inline std::vector<double> slowest(optim::zero::Communicator& comm, std::vector<double> values) {
  const auto n = static_cast<int64_t>(values.size());
  Tensor all = zeros({n * comm.world_size()}, kFloat64);
  comm.all_gather(tensor(values, {n}, kFloat64), all);
  const double* v = all.data_ptr<double>();
  for (int r = 0; r < comm.world_size(); ++r)
    for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = std::max(values[static_cast<size_t>(i)], v[r * n + i]);
  return values;
}

/// Gives each of `world_size` ranks on this machine its share of the cores as OpenMP threads (at least one).
inline void share_cores(int world_size) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  set_num_threads(std::max(1, cores / world_size));
}

}  // namespace graft::bench
