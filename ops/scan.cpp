#include "graft/ops/scan.h"

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/reduce.h"
#include "graft/ops/shape.h"

namespace graft {

using namespace detail;

namespace {

// Prefix sums (reverse: suffix sums). Each is the other's adjoint, so the backward is one kernel call at any order.
Tensor cumulative_sum(const Tensor& x, int64_t dim, bool reverse) {
  Tensor out = kernels::cumsum(x, dim, reverse);
  if (is_floating(x.dtype()))
    if (auto node = make_node(reverse ? "ReverseCumsumBackward0" : "CumsumBackward0", {x}, [dim, reverse](Node&, GradList& g) -> GradList {
          return {cumulative_sum(g[0], dim, !reverse)};
        }))
      set_history(out, node);
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& input, int64_t dim, std::optional<DType> dtype) {
  if (autocast_wants_float32({input})) return cumsum(autocast_float32(input), dim, dtype);
  GRAFT_RECORD_FUNCTION("cumsum", input);
  check_defined("cumsum", "input", input);
  const int64_t d = wrap_dim("cumsum", dim, input.dim());
  const DType dt = dtype ? *dtype : is_floating(input.dtype()) ? input.dtype() : kInt64;
  GRAFT_CHECK(dt != kBool, "cumsum: the result dtype cannot be bool");
  return cumulative_sum(to(input, dt), d, false);
}

}  // namespace graft
