#pragma once
// The kernels iterate and copy with the tensor core's strided loops (graph/loops.h, graph/copy.h), as if
// those were their own.
#include "graft/graph/copy.h"
#include "graft/graph/loops.h"

namespace graft::kernels {
using namespace graft::loops;
}  // namespace graft::kernels
