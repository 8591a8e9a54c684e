#include "graft/ops/linear.h"

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/matmul.h"
#include "graft/ops/matmul.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  if (autocast_wants_lower({input, weight, bias}))
    return linear(autocast_lower(input), autocast_lower(weight), autocast_lower(bias));
  GRAFT_RECORD_FUNCTION("linear", input, weight, bias);
  check_defined("linear", "input", input);
  check_defined("linear", "weight", weight);
  GRAFT_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features), got shape {}",
              shape_str(weight.shape()));
  GRAFT_CHECK(input.dim() >= 1, "linear: input must have at least 1 dim, got a 0-dim tensor");
  const int64_t out_f = weight.shape()[0], in_f = weight.shape()[1];
  GRAFT_CHECK(input.shape().back() == in_f,
              "linear: input of shape {} has {} features in its last dim, but weight {} expects {}",
              shape_str(input.shape()), input.shape().back(), shape_str(weight.shape()), in_f);
  if (bias.defined())
    GRAFT_CHECK(bias.dim() == 1 && bias.shape()[0] == out_f, "linear: bias must have shape [{}], got {}", out_f,
                shape_str(bias.shape()));
  DType dt = promote_types(input.dtype(), weight.dtype());
  if (bias.defined()) dt = promote_types(dt, bias.dtype());
  GRAFT_CHECK(is_floating(dt), "linear: expected floating-point tensors, got {} and {}", dtype_name(input.dtype()),
              dtype_name(weight.dtype()));

  // Forward in one product: rows start as the bias and the kernel accumulates x W^T into them (beta = 1),
  // with W^T passed to sgemm as a transposed operand, not copied.
  // The product of the leading dims, not numel / in_f: with no input features that would lose the rows.
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < input.shape().size(); ++d) rows *= input.shape()[d];
  Tensor x2 = as_dtype(input, dt);
  x2 = x2.is_contiguous() ? make_view(x2, {1, rows, in_f}, {0, in_f, 1}, x2.storage_offset())
                          : make_view(loops::contiguous_copy(x2), {1, rows, in_f}, {0, in_f, 1}, 0);
  Tensor w = as_dtype(weight, dt);
  Tensor wt = make_view(w, {1, in_f, out_f}, {0, w.strides()[1], w.strides()[0]}, w.storage_offset());
  Tensor out = empty_tensor({1, rows, out_f}, dt);
  if (bias.defined()) {
    loops::copy_into(out, as_dtype(bias, dt));
    kernels::bmm(x2, wt, out, /*accumulate=*/true);
  } else {
    kernels::bmm(x2, wt, out, /*accumulate=*/false);
  }
  Shape out_shape(input.shape().begin(), input.shape().end() - 1);
  out_shape.push_back(out_f);
  Tensor result = make_view(out, out_shape, contiguous_strides(out_shape), 0);

  if (auto node = make_node("AddmmBackward0", {input, weight, bias}, [rows, in_f, out_f](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), w = n.saved(1);
        Tensor g2 = reshape(g[0], {rows, out_f});
        return {n.needs_input_grad(0) ? matmul(g[0], w) : Tensor(),
                n.needs_input_grad(1) ? mm(transpose(g2, 0, 1), reshape(x, {rows, in_f})) : Tensor(),
                n.needs_input_grad(2) ? sum(g2, {0}) : Tensor()};
      })) {
    set_history(result, node);
    node->save(input);
    node->save(weight);
  }
  return result;
}

}  // namespace graft::nn::functional
