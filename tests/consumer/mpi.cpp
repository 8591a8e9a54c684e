// Uses ZeRO's MPI back end as an installed component (find_package(graft COMPONENTS mpi)): every rank
// contributes rank + 1 to an all_reduce and checks the sum. Run with mpirun -np 2.
#include <cstdio>
#include <exception>

#include <graft/graft.h>
#include <graft/optim/zero/mpi/mpi_communicator.h>

int main(int argc, char** argv) {
  graft::optim::zero::MpiEnvironment mpi(&argc, &argv);
  try {
    graft::optim::zero::MpiCommunicator comm;
    graft::Tensor t = graft::full({3}, comm.rank() + 1.0);
    comm.all_reduce(t);
    const int n = comm.world_size();
    const double expected = n * (n + 1) / 2.0;
    for (double v : t.to_vector<double>()) {
      if (v != expected) {
        std::fprintf(stderr, "consumer mpi: rank %d got %g, expected %g\n", comm.rank(), v, expected);
        return 1;
      }
    }
    if (comm.rank() == 0) std::printf("consumer mpi: all_reduce over %d ranks = %g\n", n, expected);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer mpi: %s\n", e.what());
    return 1;
  }
}
