#include "graft/ops/detail/spatial_args.h"

#include <fmt/format.h>

#include "graft/graph/error.h"

namespace graft::detail {

std::array<int64_t, 2> spatial_arg(const char* op, const char* arg, IntList values, int spatial, int64_t min) {
  GRAFT_CHECK(values.size() == 1 || values.size() == static_cast<size_t>(spatial), "{}: {} must have {}, got {} ({})",
              op, arg, spatial == 1 ? "1 value" : fmt::format("1 or {} values", spatial), values.size(),
              fmt::join(values.begin(), values.end(), ", "));
  std::array<int64_t, 2> out{};
  for (int i = 0; i < spatial; ++i) {
    out[i] = values[values.size() == 1 ? 0 : i];
    GRAFT_CHECK(out[i] >= min, "{}: {} must be {}, got ({})", op, arg, min > 0 ? "positive" : "non-negative",
                fmt::join(values.begin(), values.end(), ", "));
  }
  return out;
}

}  // namespace graft::detail
