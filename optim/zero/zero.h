#pragma once
// ZeRO stages 0-3 (optim/zero/sharded_optimizer.h) with its communicators, memory accounting and checkpoints.
// The MPI back end lives in its own library: include "graft/optim/zero/mpi/mpi_communicator.h" and link
// graft::graft_mpi.
#include "graft/optim/zero/checkpoint.h"
#include "graft/optim/zero/communicator.h"
#include "graft/optim/zero/in_process.h"
#include "graft/optim/zero/layout.h"
#include "graft/optim/zero/memory.h"
#include "graft/optim/zero/sharded_optimizer.h"
