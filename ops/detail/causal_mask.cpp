#include "graft/ops/detail/attention_softmax.h"

#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/attention_softmax.h"
#include "graft/ops/operators.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft::detail {

Tensor causal_keep_mask(int64_t T, int64_t S) {
  Tensor keep = empty_tensor({T, S}, kBool);
  bool* p = static_cast<bool*>(keep.data_ptr());
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < S; ++j) p[i * S + j] = j <= i;
  return keep;
}

Tensor softmax_backward_data(const Tensor& grad, const Tensor& output) {
  return backward_formula(
      {grad, output},
      [&] {
        Tensor g = contiguous(grad), y = contiguous(output);
        Tensor dx = empty_tensor(y.shape(), y.dtype());
        kernels::softmax_backward(g, y, dx);
        return dx;
      },
      [&] { return output * (grad - sum(grad * output, {-1}, true)); });
}

Tensor masked_softmax(const Tensor& x, const Tensor& keep) {
  check_defined("softmax", "input", x);
  GRAFT_CHECK(is_floating(x.dtype()), "softmax: expected a floating-point input, got {}", dtype_name(x.dtype()));
  if (keep.defined()) {
    GRAFT_CHECK(keep.dtype() == kBool, "softmax: the mask must be a bool tensor, got {}", dtype_name(keep.dtype()));
    GRAFT_CHECK(is_expandable_to(keep.shape(), x.shape()), "softmax: a mask of shape {} cannot be broadcast to the input's shape {}",
                shape_str(keep.shape()), shape_str(x.shape()));
  }
  Tensor xc = x.is_contiguous() ? x : kernels::contiguous_copy(x);
  Tensor y = empty_tensor(x.shape(), x.dtype());
  kernels::masked_softmax(xc, keep, y);
  if (auto node = make_node("SoftmaxBackward0", {x}, [](Node& n, GradList& g) -> GradList {
        return {softmax_backward_data(g[0], n.saved(0))};
      })) {
    set_history(y, node);
    node->save_output(y);
  }
  return y;
}

}  // namespace graft::detail
