#include <cstdio>
#include <cstdlib>

#include "targets.h"

namespace graft::fuzz {

void fail(const char* what) {
  std::fprintf(stderr, "fuzz target failed: %s\n", what);
  std::abort();
}

}  // namespace graft::fuzz
