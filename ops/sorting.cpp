#include "graft/ops/sorting.h"

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/indexing.h"
#include "graft/ops/kernels/sort.h"

namespace graft {

using namespace detail;

namespace {

// Records the gradient of sorted or selected values: scattered back to where they came from.
void record_values(const char* node_name, const Tensor& input, const Tensor& values, const Tensor& indices, int64_t dim) {
  if (!is_floating(input.dtype())) return;
  if (auto node = make_node(node_name, {input}, [dim, shape = input.shape()](Node& n, GradList& g) -> GradList {
        if (shape.empty()) return {g[0]};
        return {scatter_add(zeros(shape, g[0].dtype()), dim, n.saved(0), g[0])};
      })) {
    set_history(values, node);
    node->save(indices);
  }
}

}  // namespace

std::tuple<Tensor, Tensor> sort(const Tensor& input, int64_t dim, bool descending, bool stable) {
  GRAFT_RECORD_FUNCTION("sort", input);
  check_defined("sort", "input", input);
  const int64_t d = wrap_dim("sort", dim, input.dim());
  Tensor values, indices;
  kernels::sort(input, d, descending, values, indices);
  record_values("SortBackward0", input, values, indices, d);
  return {values, indices};
}

Tensor argsort(const Tensor& input, int64_t dim, bool descending, bool stable) {
  GRAFT_RECORD_FUNCTION("argsort", input);
  check_defined("argsort", "input", input);
  const int64_t d = wrap_dim("argsort", dim, input.dim());
  Tensor values, indices;
  kernels::sort(input, d, descending, values, indices);
  return indices;
}

std::tuple<Tensor, Tensor> topk(const Tensor& input, int64_t k, int64_t dim, bool largest, bool sorted) {
  GRAFT_RECORD_FUNCTION("topk", input);
  check_defined("topk", "input", input);
  const int64_t d = wrap_dim("topk", dim, input.dim());
  const int64_t size = input.dim() == 0 ? 1 : input.shape()[static_cast<size_t>(d)];
  GRAFT_CHECK(k >= 0 && k <= size, "topk: k ({}) is out of range for dim {} of size {} (input shape {})", k, d, size,
              shape_str(input.shape()));
  Tensor values, indices;
  kernels::topk(input, k, d, largest, sorted, values, indices);
  record_values("TopkBackward0", input, values, indices, d);
  return {values, indices};
}

}  // namespace graft
