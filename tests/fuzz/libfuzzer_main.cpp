// One fuzz target as a libFuzzer program; GRAFT_FUZZ_TARGET names its function (tests/fuzz/CMakeLists.txt).
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return graft::fuzz::GRAFT_FUZZ_TARGET(data, size); }
