#include "graft/ops/flash_attention.h"

#include <cmath>

#include "graft/autograd/profiler.h"
#include "graft/ops/activation.h"
#include "graft/ops/detail/attention_checks.h"
#include "graft/ops/detail/causal_mask.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/flash_attention.h"
#include "graft/ops/matmul.h"
#include "graft/ops/operators.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;

namespace {

constexpr const char* kOp = "flash_attention";

// `t` (..., L, C) as a contiguous (BH, L, C) tensor outside the graph (only the kernels read it).
Tensor as_3d(const Tensor& t, int64_t bh) {
  Tensor c = loops::contiguous_data(t);
  Shape shape{bh, t.shape()[t.dim() - 2], t.shape()[t.dim() - 1]};
  return make_view(c, shape, contiguous_strides(shape), c.storage_offset());
}

// The gradients of flash attention written with differentiable ops, for a recorded backward pass. It
// recomputes the probabilities from q and k (not from the saved log-sum-exp, which would hide their
// dependence on q and k from the second derivative).
TensorList composite_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout, double scale,
                              bool causal) {
  const int64_t T = q.shape()[q.dim() - 2], S = k.shape()[k.dim() - 2];
  Tensor p = masked_softmax(matmul(q * scale, transpose(k, -2, -1)), causal ? causal_keep_mask(T, S) : Tensor());
  Tensor dv = matmul(transpose(p, -2, -1), dout);
  Tensor ds = softmax_backward_data(matmul(dout, transpose(v, -2, -1)), p, -1);
  Tensor dq = matmul(ds, k) * scale;
  Tensor dk = matmul(transpose(ds, -2, -1), q) * scale;
  return {dq, dk, dv};
}

}  // namespace

Tensor flash_attention(const Tensor& query, const Tensor& key, const Tensor& value, bool is_causal,
                       std::optional<double> scale, FlashAttentionBlockSizes block_sizes) {
  if (autocast_wants_lower({query, key, value}))
    return flash_attention(autocast_lower(query), autocast_lower(key), autocast_lower(value), is_causal, scale,
                           block_sizes);
  GRAFT_RECORD_FUNCTION("flash_attention", query, key, value);
  check_attention_operands(kOp, query, key, value);
  const Shape batch(query.shape().begin(), query.shape().end() - 2);
  GRAFT_CHECK(Shape(key.shape().begin(), key.shape().end() - 2) == batch &&
                  Shape(value.shape().begin(), value.shape().end() - 2) == batch,
              "{}: query, key and value must have the same leading (batch, head) dims, got shapes {}, {} and {} (use "
              "scaled_dot_product_attention to broadcast them or for grouped-query attention)",
              kOp, shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
  const int64_t T = query.shape()[query.dim() - 2], E = query.shape()[query.dim() - 1];
  const int64_t Ev = value.shape()[value.dim() - 1];
  check_attention_sizes(kOp, query, key, value);
  GRAFT_CHECK(block_sizes.query >= 1 && block_sizes.key >= 1, "{}: block sizes must be positive, got query {} and key {}",
              kOp, block_sizes.query, block_sizes.key);

  const double scale_factor = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));
  const kernels::FlashBlocks blocks{block_sizes.query, block_sizes.key};
  const int64_t BH = numel_of(batch);
  Shape out_shape = batch;
  out_shape.push_back(T);
  out_shape.push_back(Ev);
  Tensor out = empty_tensor(out_shape, query.dtype());
  Tensor lse = empty_tensor({BH, T}, opmath_dtype(query.dtype()));  // float32 for 16-bit inputs
  Shape out3{BH, T, Ev};
  kernels::flash_attention_forward(as_3d(query, BH), as_3d(key, BH), as_3d(value, BH), scale_factor, is_causal, blocks,
                                   make_view(out, out3, contiguous_strides(out3), 0), lse);

  if (auto node = make_node("FlashAttentionBackward0", {query, key, value},
                            [scale_factor, is_causal, blocks](Node& n, GradList& g) -> GradList {
                              Tensor q = n.saved(0), k = n.saved(1), v = n.saved(2);
                              if (autograd::needs_recording({g[0], q, k, v})) {
                                TensorList grads = composite_backward(q, k, v, g[0], scale_factor, is_causal);
                                return {grads[0], grads[1], grads[2]};
                              }
                              Tensor o = n.saved(3), lse = n.saved(4);
                              const int64_t bh = lse.shape()[0];
                              Tensor dq = empty_tensor(q.shape(), q.dtype()), dk = empty_tensor(k.shape(), k.dtype()),
                                     dv = empty_tensor(v.shape(), v.dtype());
                              kernels::flash_attention_backward(as_3d(q, bh), as_3d(k, bh), as_3d(v, bh), as_3d(o, bh),
                                                                lse, as_3d(g[0], bh), scale_factor, is_causal, blocks,
                                                                as_3d(dq, bh), as_3d(dk, bh), as_3d(dv, bh));
                              return {dq, dk, dv};
                            })) {
    set_history(out, node);
    node->save(query);
    node->save(key);
    node->save(value);
    node->save_output(out);
    node->save(lse);
  }
  return out;
}

}  // namespace graft::nn::functional
