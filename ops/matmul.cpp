#include "graft/ops/matmul.h"

#include <algorithm>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/matmul.h"
#include "graft/ops/shape.h"

namespace graft {

using namespace detail;

namespace {

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

// `t` (..., R, C) as a 3-D (batch, R, C) operand broadcast to `batch`: a view where the layout allows
// (broadcast batch dims keep stride 0), else a copy. Outside the graph: only the kernel reads it.
Tensor as_batched(const Tensor& t, const Shape& batch, int64_t batch_numel) {
  const int64_t R = t.shape()[t.dim() - 2], C = t.shape()[t.dim() - 1];
  Shape full = batch;
  full.push_back(R);
  full.push_back(C);
  // Broadcast strides of t against `full`.
  Shape strides(full.size(), 0);
  const size_t off = full.size() - static_cast<size_t>(t.dim());
  for (size_t d = 0; d < static_cast<size_t>(t.dim()); ++d)
    strides[off + d] = t.shape()[d] == 1 && full[off + d] != 1 ? 0 : t.strides()[d];
  Shape target{batch_numel, R, C}, target_strides;
  if (view_strides(full, strides, target, target_strides))
    return make_view(t, target, target_strides, t.storage_offset());
  Tensor expanded = make_view(t, full, strides, t.storage_offset());
  Tensor copy = loops::contiguous_copy(expanded);
  return make_view(copy, target, contiguous_strides(target), 0);
}

// The differentiable core: a (..., M, K) @ b (..., K, N) with broadcast batch dims. Its backward uses
// itself, so products of any order differentiate. Gradients come out with the broadcast batch shape and
// the engine sums them back to each operand's shape.
// The broadcast batch dims of a and b, or an error naming both operands' shapes.
Shape broadcast_batch(const Tensor& a, const Tensor& b) {
  const Shape ba = batch_of(a), bb = batch_of(b);
  const size_t n = std::max(ba.size(), bb.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - ba.size() ? 1 : ba[i - (n - ba.size())];
    const int64_t db = i < n - bb.size() ? 1 : bb[i - (n - bb.size())];
    GRAFT_CHECK(da == db || da == 1 || db == 1,
                "matmul: the batch dims of {} and {} cannot be broadcast together ({} vs {} at batch dim {})",
                shape_str(a.shape()), shape_str(b.shape()), da, db, static_cast<int64_t>(i) - static_cast<int64_t>(n));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor matmul_core(const Tensor& a, const Tensor& b) {
  const int64_t M = a.shape()[a.dim() - 2], N = b.shape()[b.dim() - 1];
  Shape batch = broadcast_batch(a, b);
  const int64_t B = numel_of(batch);
  DType dt = promote_types(a.dtype(), b.dtype());
  GRAFT_CHECK(is_floating(dt), "matmul: expected floating-point operands, got {} and {}", dtype_name(a.dtype()),
              dtype_name(b.dtype()));
  Tensor a3 = as_batched(as_dtype(a, dt), batch, B), b3 = as_batched(as_dtype(b, dt), batch, B);
  Tensor out3 = empty_tensor({B, M, N}, dt);
  kernels::bmm(a3, b3, out3);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = make_view(out3, out_shape, contiguous_strides(out_shape), 0);
  const bool plain = a.dim() == 2 && b.dim() == 2;
  if (auto node = make_node(plain ? "MmBackward0" : "BmmBackward0", {a, b}, [](Node& n, GradList& g) -> GradList {
        Tensor a = n.saved(0), b = n.saved(1);
        return {n.needs_input_grad(0) ? matmul_core(g[0], transpose(b, -1, -2)) : Tensor(),
                n.needs_input_grad(1) ? matmul_core(transpose(a, -1, -2), g[0]) : Tensor()};
      })) {
    set_history(out, node);
    node->save(a);
    node->save(b);
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (autocast_wants_lower({a, b})) return matmul(autocast_lower(a), autocast_lower(b));
  GRAFT_RECORD_FUNCTION("matmul", a, b);
  check_defined("matmul", "input", a);
  check_defined("matmul", "other", b);
  GRAFT_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dimension, got shapes {} and {}",
              shape_str(a.shape()), shape_str(b.shape()));
  const int64_t ka = a.shape()[a.dim() - 1];
  const int64_t kb = b.dim() == 1 ? b.shape()[0] : b.shape()[b.dim() - 2];
  GRAFT_CHECK(ka == kb, "matmul: cannot multiply {} by {} (inner dims {} and {} differ)", shape_str(a.shape()),
              shape_str(b.shape()), ka, kb);
  if (a.dim() == 1 && b.dim() == 1) return reshape(matmul_core(unsqueeze(a, 0), unsqueeze(b, 1)), {});
  if (a.dim() >= 3 && b.dim() <= 2) {
    // Fold the batch into the rows: one large product instead of many small ones (as PyTorch does).
    Shape out_shape(a.shape().begin(), a.shape().end() - 1);
    if (b.dim() == 2) out_shape.push_back(b.shape()[1]);
    Tensor b2 = b.dim() == 1 ? unsqueeze(b, 1) : b;
    const int64_t rows = numel_of(IntList(a.shape().data(), static_cast<size_t>(a.dim() - 1)));
    return reshape(matmul_core(reshape(a, {rows, ka}), b2), out_shape);
  }
  if (a.dim() == 1) return squeeze(matmul_core(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1) return squeeze(matmul_core(a, unsqueeze(b, 1)), -1);
  return matmul_core(a, b);
}

Tensor mm(const Tensor& a, const Tensor& b) {
  if (autocast_wants_lower({a, b})) return mm(autocast_lower(a), autocast_lower(b));
  GRAFT_RECORD_FUNCTION("mm", a, b);
  check_defined("mm", "input", a);
  check_defined("mm", "mat2", b);
  GRAFT_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected two matrices, got shapes {} and {}", shape_str(a.shape()),
              shape_str(b.shape()));
  GRAFT_CHECK(a.shape()[1] == b.shape()[0], "mm: cannot multiply {} by {} (inner dims {} and {} differ)",
              shape_str(a.shape()), shape_str(b.shape()), a.shape()[1], b.shape()[0]);
  return matmul_core(a, b);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  if (autocast_wants_lower({a, b})) return bmm(autocast_lower(a), autocast_lower(b));
  GRAFT_RECORD_FUNCTION("bmm", a, b);
  check_defined("bmm", "input", a);
  check_defined("bmm", "mat2", b);
  GRAFT_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected two 3-D tensors, got shapes {} and {}", shape_str(a.shape()),
              shape_str(b.shape()));
  GRAFT_CHECK(a.shape()[0] == b.shape()[0], "bmm: batch sizes differ: {} and {}", shape_str(a.shape()), shape_str(b.shape()));
  GRAFT_CHECK(a.shape()[2] == b.shape()[1], "bmm: cannot multiply {} by {} (inner dims {} and {} differ)",
              shape_str(a.shape()), shape_str(b.shape()), a.shape()[2], b.shape()[1]);
  return matmul_core(a, b);
}

Tensor dot(const Tensor& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("dot", a, b);
  check_defined("dot", "input", a);
  check_defined("dot", "other", b);
  GRAFT_CHECK(a.dim() == 1 && b.dim() == 1, "dot: expected two 1-D tensors, got shapes {} and {}", shape_str(a.shape()),
              shape_str(b.shape()));
  GRAFT_CHECK(a.numel() == b.numel(), "dot: tensors have {} and {} elements", a.numel(), b.numel());
  return matmul(a, b);
}

}  // namespace graft
