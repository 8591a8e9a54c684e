#include "graft/ops/rope.h"

#include <cmath>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/rope.h"
#include "graft/ops/operators.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;

namespace {


void check_head_dim(const char* op, int64_t head_dim) {
  GRAFT_CHECK(head_dim > 0 && head_dim % 2 == 0, "{}: head_dim must be positive and even, got {}", op, head_dim);
}

}  // namespace

std::tuple<Tensor, Tensor> rope_cos_sin(int64_t head_dim, const Tensor& positions, double base, DType dtype) {
  GRAFT_RECORD_FUNCTION("rope_cos_sin", positions);
  constexpr const char* op = "rope_cos_sin";
  check_head_dim(op, head_dim);
  check_defined(op, "positions", positions);
  GRAFT_CHECK(positions.dtype() == kInt64, "{}: positions must be an int64 tensor, got {}", op,
              dtype_name(positions.dtype()));
  GRAFT_CHECK(base > 0.0 && std::isfinite(base), "{}: base must be positive and finite, got {}", op, base);
  GRAFT_CHECK(is_floating(dtype), "{}: dtype must be floating-point, got {}", op, dtype_name(dtype));
  const int64_t half = head_dim / 2;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv_freq[i] = 1.0 / std::pow(base, static_cast<double>(2 * i) / head_dim);
  const std::vector<int64_t> pos = positions.to_vector<int64_t>();
  Shape shape = positions.shape();
  shape.push_back(head_dim);
  Tensor cos = empty_tensor(shape, dtype), sin = empty_tensor(shape, dtype);
  dispatch_floating_and_half(dtype, op, [&]<class T>() {
    T* c = static_cast<T*>(cos.data_ptr());
    T* s = static_cast<T*>(sin.data_ptr());
    for (size_t t = 0; t < pos.size(); ++t)
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(pos[t]) * inv_freq[i];
        const int64_t at = static_cast<int64_t>(t) * head_dim + i;
        c[at] = c[at + half] = static_cast<T>(std::cos(angle));
        s[at] = s[at + half] = static_cast<T>(std::sin(angle));
      }
  });
  return {cos, sin};
}

std::tuple<Tensor, Tensor> rope_cos_sin(int64_t head_dim, int64_t start, int64_t length, double base, DType dtype) {
  GRAFT_RECORD_FUNCTION("rope_cos_sin");
  GRAFT_CHECK(length >= 0, "rope_cos_sin: length must be non-negative, got {}", length);
  return rope_cos_sin(head_dim, arange(start, start + length, 1, kInt64), base, dtype);
}

Tensor rotate_half(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("rotate_half", x);
  check_defined("rotate_half", "input", x);
  GRAFT_CHECK(is_floating(x.dtype()), "rotate_half: expected a floating-point input, got {}", dtype_name(x.dtype()));
  GRAFT_CHECK(x.dim() >= 1 && x.shape()[x.dim() - 1] % 2 == 0,
              "rotate_half: the last dim must have an even size, got shape {}", shape_str(x.shape()));
  Tensor out = empty_tensor(x.shape(), x.dtype());
  kernels::rotate_half(loops::contiguous_data(x), out);
  if (auto node = make_node("RotateHalfBackward0", {x}, [](Node&, GradList& g) -> GradList {
        return {neg(rotate_half(g[0]))};  // the adjoint of cat(-x2, x1) is cat(g2, -g1)
      }))
    set_history(out, node);
  return out;
}

Tensor apply_rotary_emb(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  GRAFT_RECORD_FUNCTION("apply_rotary_emb", x, cos, sin);
  constexpr const char* op = "apply_rotary_emb";
  check_defined(op, "input", x);
  check_defined(op, "cos", cos);
  check_defined(op, "sin", sin);
  GRAFT_CHECK(is_floating(x.dtype()), "{}: expected a floating-point input, got {}", op, dtype_name(x.dtype()));
  GRAFT_CHECK(x.dim() >= 1 && x.shape()[x.dim() - 1] % 2 == 0 && x.shape()[x.dim() - 1] > 0,
              "{}: the last dim of the input (head_dim) must be positive and even, got shape {}", op, shape_str(x.shape()));
  GRAFT_CHECK(is_floating(cos.dtype()) && is_floating(sin.dtype()),
              "{}: cos and sin must be floating-point, got {} and {}", op, dtype_name(cos.dtype()),
              dtype_name(sin.dtype()));
  // Mixed dtypes compute in the promoted one, as the composite x * cos + rotate_half(x) * sin does (a bfloat16
  // x under autocast with float32 tables gives float32); the casts are differentiable.
  const DType common = promote_types(promote_types(x.dtype(), cos.dtype()), sin.dtype());
  if (x.dtype() != common || cos.dtype() != common || sin.dtype() != common)
    return apply_rotary_emb(to(x, common), to(cos, common), to(sin, common));
  GRAFT_CHECK(cos.shape() == sin.shape(), "{}: cos and sin must have the same shape, got {} and {}", op,
              shape_str(cos.shape()), shape_str(sin.shape()));
  GRAFT_CHECK(cos.dim() >= 1 && cos.shape()[cos.dim() - 1] == x.shape()[x.dim() - 1] &&
                  is_expandable_to(cos.shape(), x.shape()),
              "{}: cos and sin of shape {} do not broadcast to the input's shape {} (expected (T, head_dim) or another "
              "shape ending in head_dim that broadcasts)",
              op, shape_str(cos.shape()), shape_str(x.shape()));
  Tensor c = loops::contiguous_data(cos), s = loops::contiguous_data(sin);
  Tensor out = empty_tensor(x.shape(), x.dtype());
  kernels::rope_forward(loops::contiguous_data(x), c, s, out);
  if (auto node = make_node("ApplyRotaryEmbBackward0", {x, cos, sin}, [](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), cos = n.saved(1), sin = n.saved(2);
        const Tensor& gy = g[0];
        Tensor gx;
        if (n.needs_input_grad(0))
          gx = backward_formula(
              {gy, cos, sin},
              [&] {
                Tensor dx = empty_tensor(gy.shape(), gy.dtype());
                kernels::rope_backward(loops::contiguous_data(gy), loops::contiguous_data(cos), loops::contiguous_data(sin), dx);
                return dx;
              },
              [&] { return gy * cos - rotate_half(gy * sin); });
        // cos and sin broadcast to x: the engine sums their gradients back to their shapes.
        return {gx, n.needs_input_grad(1) ? gy * x : Tensor(), n.needs_input_grad(2) ? gy * rotate_half(x) : Tensor()};
      })) {
    set_history(out, node);
    node->save(x);
    node->save(cos);
    node->save(sin);
  }
  return out;
}

}  // namespace graft::nn::functional
