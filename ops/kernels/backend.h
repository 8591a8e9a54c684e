#pragma once
// The kernels' own switches: the oneDNN ISA cap and the bf16 product path. Which path runs
// (reference loops or fast paths) is public: ops/backend.h.
#include <cstdint>

#include "graft/ops/backend.h"

namespace graft::kernels {

// Caps oneDNN's ISA (its bf16/AMX paths die with SIGILL on these machines) before any other oneDNN call.
// Runs once, at library load; calling it again is harmless.
void init_onednn();

// Below this many multiply-adds a product runs faster in plain loops than through any library call (sgemm,
// a oneDNN primitive): the call's fixed cost dominates (see ../shared/notes/onednn.md).
inline constexpr int64_t kTinyMacs = 16 * 16 * 16;

// True when bfloat16 products go to oneDNN's bf16 kernels now: the path is OneDnn, or Auto on bf16 hardware.
bool use_bf16_matmul_kernels();

}  // namespace graft::kernels
