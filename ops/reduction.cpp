#include "graft/ops/reduction.h"

#include <cmath>
#include <limits>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/indexing.h"
#include "graft/ops/kernels/reduce.h"
#include "graft/ops/operators.h"
#include "graft/ops/shape.h"

namespace graft {

namespace detail {

uint64_t dim_mask(const char* op, IntList dims, int64_t ndim) {
  GRAFT_CHECK(ndim <= 64, "{}: tensors of more than 64 dims are not supported", op);
  if (dims.empty()) return ndim == 0 ? 1 : (ndim == 64 ? ~uint64_t{0} : (uint64_t{1} << ndim) - 1);
  uint64_t mask = 0;
  for (int64_t d : dims) {
    int64_t w = wrap_dim(op, d, ndim);
    GRAFT_CHECK(!((mask >> w) & 1), "{}: dim {} appears more than once in the list of dims", op, w);
    mask |= uint64_t{1} << w;
  }
  return mask;
}

Tensor squeeze_dims(const Tensor& t, uint64_t mask) {
  Shape shape;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (!((mask >> d) & 1)) shape.push_back(t.shape()[d]);
  return reshape(t, shape);
}

}  // namespace detail

using namespace detail;

namespace {

Shape keepdim_shape(IntList shape, uint64_t mask) {
  Shape out(shape.begin(), shape.end());
  for (size_t d = 0; d < out.size(); ++d)
    if ((mask >> d) & 1) out[d] = 1;
  return out;
}

int64_t reduced_count(IntList shape, uint64_t mask) {
  int64_t n = 1;
  for (size_t d = 0; d < shape.size(); ++d)
    if ((mask >> d) & 1) n *= shape[d];
  return n;
}

// The gradient of a reduction's result, broadcast back over the input: g un-squeezed, then expanded.
Tensor expand_reduced_grad(const Tensor& g, IntList input_shape, uint64_t mask, bool keepdim) {
  return expand(keepdim ? g : reshape(g, keepdim_shape(input_shape, mask)), input_shape);
}

void check_nonempty(const char* op, const Tensor& x, uint64_t mask) {
  for (int64_t d = 0; d < x.dim(); ++d)
    GRAFT_CHECK(!((mask >> d) & 1) || x.shape()[d] > 0,
                "{}: cannot reduce over dim {} of size 0 (input shape {}): the result would have no value", op, d,
                shape_str(x.shape()));
}

Tensor sum_impl(const char* node_name, const Tensor& x, IntList dims, bool keepdim) {
  check_defined("sum", "input", x);
  const uint64_t mask = dim_mask("sum", dims, x.dim());
  Tensor r = kernels::sum(x, mask, is_floating(x.dtype()) ? x.dtype() : kInt64);
  Tensor out = keepdim ? r : squeeze_dims(r, mask);
  if (auto node = make_node(node_name, {x}, [mask, keepdim, shape = x.shape()](Node&, GradList& g) -> GradList {
        return {expand_reduced_grad(g[0], shape, mask, keepdim)};
      }))
    set_history(out, node);
  return out;
}

Tensor mean_impl(const char* node_name, const Tensor& x, IntList dims, bool keepdim) {
  check_defined("mean", "input", x);
  GRAFT_CHECK(is_floating(x.dtype()), "mean: expected a floating-point input, got {} (convert it with .to(kFloat32))",
              dtype_name(x.dtype()));
  const uint64_t mask = dim_mask("mean", dims, x.dim());
  const int64_t count = reduced_count(x.shape(), mask);
  Tensor r = kernels::mean(x, mask);
  Tensor out = keepdim ? r : squeeze_dims(r, mask);
  if (auto node = make_node(node_name, {x}, [mask, keepdim, count, shape = x.shape()](Node&, GradList& g) -> GradList {
        return {expand_reduced_grad(div(g[0], static_cast<double>(count)), shape, mask, keepdim)};
      }))
    set_history(out, node);
  return out;
}

Shape dims_of(uint64_t mask, int64_t ndim) {
  Shape dims;
  for (int64_t d = 0; d < ndim; ++d)
    if ((mask >> d) & 1) dims.push_back(d);
  return dims;
}

// amax/amin and the all-element max/min: the gradient is split evenly among the elements equal to the
// result. The all-element forms, like PyTorch's, count the NaNs as equal when the result is NaN (amax and
// amin then give NaN gradients, as PyTorch's do).
Tensor extreme_impl(const char* op, const char* node_name, const Tensor& x, IntList dims, bool keepdim, bool largest,
                    bool nan_ties) {
  check_defined(op, "input", x);
  const uint64_t mask = dim_mask(op, dims, x.dim());
  check_nonempty(op, x, mask);
  Tensor r = largest ? kernels::amax(x, mask) : kernels::amin(x, mask);
  Tensor out = keepdim ? r : squeeze_dims(r, mask);
  if (auto node = make_node(node_name, {x}, [mask, keepdim, nan_ties](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0);
        Tensor result = n.saved(1);
        const Shape kept = keepdim_shape(x.shape(), mask);
        if (!keepdim) result = reshape(result, kept);
        Tensor hit = eq(x, result);
        if (nan_ties) hit = logical_or(hit, logical_and(isnan(x), isnan(result)));
        Tensor count = sum(hit, dims_of(mask, x.dim()), true);  // no dims: all of them
        Tensor gk = keepdim ? g[0] : reshape(g[0], kept);
        return {div(where(hit, gk, Scalar(0)), count)};
      })) {
    set_history(out, node);
    node->save(x);
    node->save_output(out);
  }
  return out;
}

std::tuple<Tensor, Tensor> arg_extreme(const char* op, const char* node_name, const Tensor& x, int64_t dim,
                                       bool keepdim, bool largest) {
  check_defined(op, "input", x);
  const int64_t d = wrap_dim(op, dim, x.dim());
  check_nonempty(op, x, x.dim() == 0 ? 0 : uint64_t{1} << d);
  Tensor values, indices;
  kernels::arg_reduce(x, d, largest, values, indices);
  const uint64_t mask = x.dim() == 0 ? 0 : uint64_t{1} << d;
  if (!keepdim) {
    values = squeeze_dims(values, mask);
    indices = squeeze_dims(indices, mask);
  }
  if (auto node = make_node(node_name, {x}, [d, keepdim, shape = x.shape()](Node& n, GradList& g) -> GradList {
        if (shape.empty()) return {g[0]};
        Tensor idx = n.saved(0);
        Tensor gk = keepdim ? g[0] : unsqueeze(g[0], d);
        if (!keepdim) idx = unsqueeze(idx, d);
        return {scatter_add(zeros(shape, g[0].dtype()), d, idx, gk)};
      })) {
    set_history(values, node);
    node->save(indices);
  }
  return {values, indices};
}

Tensor arg_index(const char* op, const Tensor& x, std::optional<int64_t> dim, bool keepdim, bool largest) {
  check_defined(op, "input", x);
  GRAFT_CHECK(x.dtype() != kBool, "{}: not supported for bool tensors", op);
  Tensor values, indices;
  if (!dim) {
    GRAFT_CHECK(x.numel() > 0, "{}: cannot take the {} of an empty tensor (shape {}) without a dim", op, op,
                shape_str(x.shape()));
    kernels::arg_reduce(reshape(x.detach(), {-1}), 0, largest, values, indices);
    return reshape(indices, {});  // keepdim has no effect without a dim
  }
  const int64_t d = wrap_dim(op, *dim, x.dim());
  check_nonempty(op, x, x.dim() == 0 ? 0 : uint64_t{1} << d);
  kernels::arg_reduce(x, d, largest, values, indices);
  return keepdim || x.dim() == 0 ? indices : squeeze_dims(indices, uint64_t{1} << d);
}

}  // namespace

Tensor sum(const Tensor& x) {
  if (autocast_wants_float32({x})) return sum(autocast_float32(x));
  GRAFT_RECORD_FUNCTION("sum", x);
  return sum_impl("SumBackward0", x, {}, false);
}
Tensor sum(const Tensor& x, IntList dims, bool keepdim) {
  if (autocast_wants_float32({x})) return sum(autocast_float32(x), dims, keepdim);
  GRAFT_RECORD_FUNCTION("sum", x);
  return sum_impl("SumBackward1", x, dims, keepdim);
}
Tensor mean(const Tensor& x) {
  if (autocast_wants_float32({x})) return mean(autocast_float32(x));
  GRAFT_RECORD_FUNCTION("mean", x);
  return mean_impl("MeanBackward0", x, {}, false);
}
Tensor mean(const Tensor& x, IntList dims, bool keepdim) {
  if (autocast_wants_float32({x})) return mean(autocast_float32(x), dims, keepdim);
  GRAFT_RECORD_FUNCTION("mean", x);
  return mean_impl("MeanBackward1", x, dims, keepdim);
}

Tensor sum_to(const Tensor& x, IntList shape) {
  GRAFT_RECORD_FUNCTION("sum_to", x);
  check_defined("sum_to", "input", x);
  GRAFT_CHECK(is_expandable_to(shape, x.shape()), "sum_to: a tensor of shape {} cannot be summed to shape {}",
              shape_str(x.shape()), shape_str(shape));
  if (x.shape() == Shape(shape.begin(), shape.end())) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  uint64_t mask = 0;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && x.shape()[d] != 1)) mask |= uint64_t{1} << d;
  Tensor r = kernels::sum(x, mask, is_floating(x.dtype()) ? x.dtype() : kInt64);
  Tensor out = reshape(r, shape);
  if (auto node = make_node("SumToBackward0", {x}, [in_shape = x.shape()](Node&, GradList& g) -> GradList {
        return {expand(g[0], in_shape)};
      }))
    set_history(out, node);
  return out;
}

Tensor max(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("max", x);
  return extreme_impl("max", "MaxBackward1", x, {}, false, true, true);
}
Tensor min(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("min", x);
  return extreme_impl("min", "MinBackward1", x, {}, false, false, true);
}
Tensor amax(const Tensor& x, IntList dims, bool keepdim) {
  GRAFT_RECORD_FUNCTION("amax", x);
  return extreme_impl("amax", "AmaxBackward0", x, dims, keepdim, true, false);
}
Tensor amin(const Tensor& x, IntList dims, bool keepdim) {
  GRAFT_RECORD_FUNCTION("amin", x);
  return extreme_impl("amin", "AminBackward0", x, dims, keepdim, false, false);
}

std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  GRAFT_RECORD_FUNCTION("max", x);
  return arg_extreme("max", "MaxBackward0", x, dim, keepdim, true);
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  GRAFT_RECORD_FUNCTION("min", x);
  return arg_extreme("min", "MinBackward0", x, dim, keepdim, false);
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  GRAFT_RECORD_FUNCTION("argmax", x);
  return arg_index("argmax", x, dim, keepdim, true);
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  GRAFT_RECORD_FUNCTION("argmin", x);
  return arg_index("argmin", x, dim, keepdim, false);
}

namespace {

// PyTorch's var_backward: (2 / (n - correction)) * grad * (x - mean(x)), with grad un-squeezed to keepdim form.
Tensor var_backward(const Tensor& grad, const Tensor& x, uint64_t mask, bool keepdim, double dof) {
  Tensor gk = keepdim ? grad : reshape(grad, keepdim_shape(x.shape(), mask));
  return mul(mul(gk, 2.0 / dof), sub(x, mean(x, dims_of(mask, x.dim()), true)));
}

// var and std: the forward is one kernel (two passes over x); backward as PyTorch's, written with ops.
Tensor var_std(const char* op, const char* node_name, const Tensor& x, IntList dims, bool unbiased, bool keepdim,
               bool take_sqrt) {
  check_defined(op, "input", x);
  GRAFT_CHECK(is_floating(x.dtype()), "{}: expected a floating-point input, got {}", op, dtype_name(x.dtype()));
  const uint64_t mask = dim_mask(op, dims, x.dim());
  const int64_t correction = unbiased ? 1 : 0;
  // n - correction <= 0 leaves no degrees of freedom: the result is NaN (or inf), as in PyTorch.
  const double dof = static_cast<double>(reduced_count(x.shape(), mask) - correction);
  Tensor r = kernels::var(x, mask, correction);
  if (take_sqrt)
    dispatch_floating_and_half(r.dtype(), op, [&]<class T>() {
      loops::map1<T, T>(r, r, [](T v) { return static_cast<T>(std::sqrt(opmath(v))); });
    });
  Tensor out = keepdim ? r : squeeze_dims(r, mask);
  if (auto node = make_node(node_name, {x}, [mask, keepdim, dof, take_sqrt](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0);
        if (!take_sqrt) return {var_backward(g[0], x, mask, keepdim, dof)};
        // d std = d var / (2 std), taken as 0 where std is 0 (PyTorch's convention; safe for double backward).
        Tensor result = n.saved(1);
        Tensor zero = eq(result, 0.0);
        Tensor scaled = where(zero, Scalar(0), div(g[0], mul(where(zero, Scalar(1), result), 2.0)));
        return {var_backward(scaled, x, mask, keepdim, dof)};
      })) {
    set_history(out, node);
    node->save(x);
    if (take_sqrt) node->save_output(out);
  }
  return out;
}

}  // namespace

Tensor var(const Tensor& x, bool unbiased) {
  if (autocast_wants_float32({x})) return var(autocast_float32(x), unbiased);
  GRAFT_RECORD_FUNCTION("var", x);
  return var_std("var", "VarBackward0", x, {}, unbiased, false, false);
}
Tensor var(const Tensor& x, IntList dims, bool unbiased, bool keepdim) {
  if (autocast_wants_float32({x})) return var(autocast_float32(x), dims, unbiased, keepdim);
  GRAFT_RECORD_FUNCTION("var", x);
  return var_std("var", "VarBackward1", x, dims, unbiased, keepdim, false);
}
Tensor std(const Tensor& x, bool unbiased) {
  if (autocast_wants_float32({x})) return std(autocast_float32(x), unbiased);
  GRAFT_RECORD_FUNCTION("std", x);
  return var_std("std", "StdBackward0", x, {}, unbiased, false, true);
}
Tensor std(const Tensor& x, IntList dims, bool unbiased, bool keepdim) {
  if (autocast_wants_float32({x})) return std(autocast_float32(x), dims, unbiased, keepdim);
  GRAFT_RECORD_FUNCTION("std", x);
  return var_std("std", "StdBackward1", x, dims, unbiased, keepdim, true);
}

Tensor logsumexp(const Tensor& x, IntList dims, bool keepdim) {
  if (autocast_wants_float32({x})) return logsumexp(autocast_float32(x), dims, keepdim);
  GRAFT_RECORD_FUNCTION("logsumexp", x);
  check_defined("logsumexp", "input", x);
  Tensor xf = is_floating(x.dtype()) ? x : to(x, kFloat32);  // integers give float32, as in PyTorch
  const uint64_t mask = dim_mask("logsumexp", dims, x.dim());
  Tensor r = kernels::logsumexp(xf, mask);
  Tensor out = keepdim ? r : squeeze_dims(r, mask);
  // PyTorch's backward: grad * exp(x - result); rows of -inf give NaN gradients there, as in PyTorch.
  if (auto node = make_node("LogsumexpBackward0", {xf}, [mask, keepdim](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), result = n.saved(1);
        const Shape kept = keepdim_shape(x.shape(), mask);
        Tensor gk = keepdim ? g[0] : reshape(g[0], kept);
        Tensor rk = keepdim ? result : reshape(result, kept);
        return {mul(gk, exp(sub(x, rk)))};
      })) {
    set_history(out, node);
    node->save(xf);
    node->save_output(out);
  }
  return out;
}

}  // namespace graft
