#pragma once
// One Chrome trace for a whole MPI job: every rank's profile in one file, one process track per rank
// ("rank 0", "rank 1", ...), lined up in time. Part of graft_mpi.
//
//   profiler::profile prof;   // on every rank
//   ... train ...
//   prof.stop();
//   zero::export_chrome_trace(prof, comm, "job.json");   // collective; rank 0 writes the file
#include <string>

#include "graft/autograd/profiler.h"
#include "graft/optim/zero/mpi/mpi_communicator.h"

namespace graft::optim::zero {

/// Writes the profiles `prof` of all ranks of `comm` to `path` on rank 0, as one Chrome trace (Perfetto,
/// chrome://tracing): rank r's events under process id r named "rank r", its collectives with their bytes.
/// Times are rank 0's: the processes on rank 0's machine share its steady clock, so their tracks line up
/// exactly; a rank on another machine is placed through the median, over nine rounds, of the difference
/// between the moments it and rank 0 leave a barrier (good to the barrier's exit skew). Collective: every rank
/// calls it after prof.stop().
/// @throws graft::Error when a profile is still recording (on that rank), or, on rank 0, when the file
///         cannot be written (atomically: a failed write leaves an existing file as it was).
void export_chrome_trace(const profiler::profile& prof, MpiCommunicator& comm, const std::string& path);

}  // namespace graft::optim::zero
