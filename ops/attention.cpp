#include "graft/ops/attention.h"

#include <cmath>
#include <mutex>

#include "graft/autograd/profiler.h"
#include "graft/ops/activation.h"
#include "graft/ops/detail/attention_checks.h"
#include "graft/ops/detail/causal_mask.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/matmul.h"
#include "graft/ops/operators.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

Shape leading(const Tensor& t, int64_t trailing) { return Shape(t.shape().begin(), t.shape().end() - trailing); }

Shape with_tail(Shape head, IntList tail) {
  for (int64_t d : tail) head.push_back(d);
  return head;
}

// 0 with probability p, else 1 / (1 - p). Drawn as doubles whatever the dtype, so float32 and float64 runs
// from the same seed drop the same weights.
Tensor dropout_scale_mask(IntList shape, DType dt, double p) {
  Tensor mask = empty_tensor(shape, dt);
  const double kept = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  Generator& gen = default_generator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  dispatch_floating_and_half(dt, kOp, [&]<class T>() {
    T* m = static_cast<T*>(mask.data_ptr());
    for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform() < 1.0 - p ? static_cast<T>(kept) : T(0);
  });
  return mask;
}

// The heads of `t` (..., H, L, E) regrouped as (..., G, H/G * L, E): a view of a contiguous tensor. Query
// head h sits in group h / (H/G), which is how repeat_interleave pairs query heads with key/value heads.
Tensor group_heads(const Tensor& t, int64_t groups) {
  const int64_t n = t.dim();
  const int64_t H = t.shape()[n - 3], L = t.shape()[n - 2], E = t.shape()[n - 1];
  return reshape(t, with_tail(leading(t, 3), {groups, H / groups * L, E}));
}

Tensor ungroup_heads(const Tensor& t, int64_t heads, int64_t L) {
  return reshape(t, with_tail(leading(t, 3), {heads, L, t.shape()[t.dim() - 1]}));
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_mask,
                                    double dropout_p, bool is_causal, std::optional<double> scale, bool enable_gqa) {
  if (autocast_wants_lower({query, key, value, attn_mask})) {
    Tensor q = autocast_lower(query), k = autocast_lower(key), v = autocast_lower(value), m = autocast_lower(attn_mask);
    AutocastSuspend inner;  // one op, as PyTorch's fused kernel: its softmax stays in the lower dtype
    return scaled_dot_product_attention(q, k, v, m, dropout_p, is_causal, scale, enable_gqa);
  }
  GRAFT_RECORD_FUNCTION("scaled_dot_product_attention", query, key, value, attn_mask);
  check_attention_operands(kOp, query, key, value);
  const int64_t T = query.shape()[query.dim() - 2], E = query.shape()[query.dim() - 1];
  const int64_t S = key.shape()[key.dim() - 2];
  check_attention_sizes(kOp, query, key, value);
  GRAFT_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, "{}: dropout_p must be in [0, 1], got {}", kOp, dropout_p);
  GRAFT_CHECK(!(is_causal && attn_mask.defined()),
              "{}: an explicit attn_mask cannot be combined with is_causal=true (as in PyTorch); fold the causal "
              "mask into attn_mask instead",
              kOp);

  // The shape of the attention weights, (..., H, T, S), and how key/value heads serve query heads.
  int64_t H = 0, key_groups = 0, value_groups = 0;
  Shape weights_shape;
  if (enable_gqa) {
    GRAFT_CHECK(query.dim() >= 3 && key.dim() >= 3 && value.dim() >= 3,
                "{}: enable_gqa needs a heads dim (..., H, L, E) in query, key and value, got shapes {}, {} and {}", kOp,
                shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
    H = query.shape()[query.dim() - 3];
    key_groups = key.shape()[key.dim() - 3];
    value_groups = value.shape()[value.dim() - 3];
    GRAFT_CHECK(key_groups > 0 && H % key_groups == 0 && value_groups > 0 && H % value_groups == 0,
                "{}: with enable_gqa the number of key heads ({}) and value heads ({}) must divide the number of query "
                "heads ({}); shapes {}, {} and {}",
                kOp, key_groups, value_groups, H, shape_str(query.shape()), shape_str(key.shape()),
                shape_str(value.shape()));
    Shape lead = broadcast_shapes(kOp, leading(query, 3), leading(key, 3));
    broadcast_shapes(kOp, lead, leading(value, 3));
    weights_shape = with_tail(lead, {H, T, S});
  } else {
    if (query.dim() >= 3 && key.dim() >= 3) {
      const int64_t hq = query.shape()[query.dim() - 3], hk = key.shape()[key.dim() - 3];
      GRAFT_CHECK(hq == hk || hq == 1 || hk == 1,
                  "{}: query has {} heads and key {} (shapes {} and {}); pass enable_gqa=true to share key/value "
                  "heads among groups of query heads",
                  kOp, hq, hk, shape_str(query.shape()), shape_str(key.shape()));
    }
    Shape batch = broadcast_shapes(kOp, leading(query, 2), leading(key, 2));
    broadcast_shapes(kOp, batch, leading(value, 2));
    weights_shape = with_tail(batch, {T, S});
  }
  if (attn_mask.defined()) {
    GRAFT_CHECK(attn_mask.dtype() == kBool || attn_mask.dtype() == query.dtype(),
                "{}: attn_mask must be a bool mask or an additive mask of the query's dtype ({}), got {}", kOp,
                dtype_name(query.dtype()), dtype_name(attn_mask.dtype()));
    GRAFT_CHECK(is_expandable_to(attn_mask.shape(), weights_shape),
                "{}: attn_mask of shape {} cannot be broadcast to the attention weights' shape {} (..., H, T, S)", kOp,
                shape_str(attn_mask.shape()), shape_str(weights_shape));
  }

  const double scale_factor = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));
  // Scaling the query (T x E) is cheaper than scaling the scores (T x S).
  Tensor q = mul(query, scale_factor);
  // GQA without copies: the query heads of one group are stacked along the rows, (..., Hkv, G*T, E), so one
  // product per key/value head serves the whole group, and the gradient of key and value (matmul's backward)
  // sums over the group inside the same product instead of over materialised repeats.
  const bool group_keys = enable_gqa && key_groups != H;
  const bool group_values = enable_gqa && value_groups != H;
  if (group_keys) q = group_heads(q, key_groups);
  Tensor scores = matmul(q, transpose(key, -2, -1));
  if (group_keys) scores = ungroup_heads(scores, H, T);

  Tensor keep;
  if (is_causal) keep = causal_keep_mask(T, S);
  else if (attn_mask.defined() && attn_mask.dtype() == kBool) keep = attn_mask;
  else if (attn_mask.defined()) scores = scores + attn_mask;
  Tensor weights = masked_softmax(scores, keep);
  if (dropout_p > 0.0) weights = weights * dropout_scale_mask(weights.shape(), weights.dtype(), dropout_p);

  if (group_values) weights = group_heads(weights, value_groups);
  Tensor out = matmul(weights, value);
  if (group_values) out = ungroup_heads(out, H, T);
  return out;
}

}  // namespace graft::nn::functional
