#pragma once
// The kernels' own switches: the oneDNN ISA cap and the bf16 product path. Which path runs
// (reference loops or fast paths) is public: ops/backend.h.
#include "graft/ops/backend.h"

namespace graft::kernels {

// Caps oneDNN's ISA (its bf16/AMX paths die with SIGILL on these machines) before any other oneDNN call.
// Runs once, at library load; calling it again is harmless.
void init_onednn();

// True when bfloat16 products go to oneDNN's bf16 kernels now: the path is OneDnn, or Auto on bf16 hardware.
bool use_bf16_matmul_kernels();

}  // namespace graft::kernels
