#include "graft/nn/modules/mha_inputs.h"

#include <limits>

#include "graft/graph/factory.h"
#include "graft/ops/pointwise.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft::nn::detail {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

void check_mask_dtype(const std::string& who, const char* name, const Tensor& mask, DType query_dtype) {
  GRAFT_CHECK(mask.dtype() == kBool || mask.dtype() == query_dtype,
              "{}: {} must be a bool mask (True = masked out) or a floating mask of the query's dtype ({}), got {}", who,
              name, dtype_name(query_dtype), dtype_name(mask.dtype()));
}

// True above the diagonal: key j is masked out for query i when j > i (PyTorch's causal mask,
// triu(ones(L, S), 1), aligned at the top left).
Tensor causal_masked_out(int64_t L, int64_t S) {
  Tensor m = zeros({L, S}, dtype(kBool));
  bool* p = m.data_ptr<bool>();
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = i + 1; j < S; ++j) p[i * S + j] = true;
  return m;
}

// `columns` more keys that take part: False for a bool mask, 0 for an additive one.
Tensor pad_keys(const Tensor& mask, int64_t columns) {
  if (columns == 0) return mask;
  Shape shape = mask.shape();
  shape.back() = columns;
  return cat({mask, zeros(shape, dtype(mask.dtype()))}, -1);
}

Tensor additive(const Tensor& mask, DType dt) {
  if (mask.dtype() != kBool) return mask;
  return masked_fill(zeros(mask.shape(), dtype(dt)), mask, kNegInf);
}

}  // namespace

MhaInputs prepare_mha_inputs(const std::string& who, const MhaDims& dims, const Tensor& query, const Tensor& key,
                             const Tensor& value, const Tensor& key_padding_mask, const Tensor& attn_mask,
                             bool is_causal) {
  GRAFT_CHECK(query.defined() && key.defined() && value.defined(), "{}: query, key and value must be defined", who);
  const bool has_kpm = key_padding_mask.defined(), has_mask = attn_mask.defined();
  MhaInputs in;
  if (query.dim() == 3) {
    GRAFT_CHECK(key.dim() == 3 && value.dim() == 3,
                "{}: for batched (3-D) query {}, expected key and value to be 3-D but found {}-D and {}-D tensors "
                "(shapes {} and {})",
                who, shape_str(query.shape()), key.dim(), value.dim(), shape_str(key.shape()), shape_str(value.shape()));
    GRAFT_CHECK(!has_kpm || key_padding_mask.dim() == 2,
                "{}: for batched (3-D) query, expected key_padding_mask to be undefined or 2-D (N, S) but found shape {}",
                who, shape_str(key_padding_mask.shape()));
  } else if (query.dim() == 2) {
    in.batched = false;
    GRAFT_CHECK(key.dim() == 2 && value.dim() == 2,
                "{}: for unbatched (2-D) query {}, expected key and value to be 2-D but found {}-D and {}-D tensors "
                "(shapes {} and {})",
                who, shape_str(query.shape()), key.dim(), value.dim(), shape_str(key.shape()), shape_str(value.shape()));
    GRAFT_CHECK(!has_kpm || key_padding_mask.dim() == 1,
                "{}: for unbatched (2-D) query, expected key_padding_mask to be undefined or 1-D (S) but found shape {}",
                who, shape_str(key_padding_mask.shape()));
  } else {
    GRAFT_FAIL("{}: query should be an unbatched 2-D or batched 3-D tensor, but received a {}-D query of shape {}", who,
               query.dim(), shape_str(query.shape()));
  }
  GRAFT_CHECK(!has_mask || attn_mask.dim() == 2 || attn_mask.dim() == 3,
              "{}: expected attn_mask to be undefined, 2-D or 3-D but found shape {}", who, shape_str(attn_mask.shape()));
  GRAFT_CHECK(is_floating(query.dtype()), "{}: expected a floating-point query, got {}", who, dtype_name(query.dtype()));
  GRAFT_CHECK(key.dtype() == query.dtype() && value.dtype() == query.dtype(),
              "{}: query, key and value must have the same dtype, got {}, {} and {}", who, dtype_name(query.dtype()),
              dtype_name(key.dtype()), dtype_name(value.dtype()));
  if (has_kpm) check_mask_dtype(who, "key_padding_mask", key_padding_mask, query.dtype());
  if (has_mask) check_mask_dtype(who, "attn_mask", attn_mask, query.dtype());

  in.key_is_query = key.is_same(query);
  in.value_is_key = value.is_same(key);
  // One batch-first, batched form.
  auto batch_first = [&](const Tensor& t) {
    if (!in.batched) return unsqueeze(t, 0);
    return dims.batch_first ? t : transpose(t, 0, 1);
  };
  in.query = batch_first(query);
  in.key = in.key_is_query ? in.query : batch_first(key);
  in.value = in.value_is_key ? in.key : batch_first(value);
  const int64_t N = in.query.shape()[0], L = in.query.shape()[1], S = in.key.shape()[1];
  const int64_t H = dims.num_heads;
  in.batch = N;
  in.target_len = L;
  in.source_len = S;
  GRAFT_CHECK(in.query.shape()[2] == dims.embed_dim, "{}: expected query of embedding size embed_dim={} (last dim), got {}",
              who, dims.embed_dim, shape_str(query.shape()));
  GRAFT_CHECK(in.key.shape()[2] == dims.kdim, "{}: expected key of embedding size kdim={} (last dim), got {}", who,
              dims.kdim, shape_str(key.shape()));
  GRAFT_CHECK(in.value.shape()[2] == dims.vdim, "{}: expected value of embedding size vdim={} (last dim), got {}", who,
              dims.vdim, shape_str(value.shape()));
  GRAFT_CHECK(in.key.shape()[0] == N && in.value.shape()[0] == N,
              "{}: query, key and value must have the same batch size, got shapes {}, {} and {} (batch_first={})", who,
              shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()), dims.batch_first);
  GRAFT_CHECK(in.value.shape()[1] == S, "{}: key and value must have the same sequence length, got shapes {} and {}", who,
              shape_str(key.shape()), shape_str(value.shape()));

  // Both masks as 4-D (N or 1, H or 1, L or 1, S), True / -inf = masked out.
  Tensor kpm, mask;
  if (has_kpm) {
    const Shape expected = in.batched ? Shape{N, S} : Shape{S};
    GRAFT_CHECK(key_padding_mask.shape() == expected, "{}: expected key_padding_mask of shape {}, but got {}", who,
                shape_str(expected), shape_str(key_padding_mask.shape()));
    kpm = reshape(key_padding_mask, {N, 1, 1, S});
  }
  if (has_mask) {
    if (attn_mask.dim() == 2) {
      GRAFT_CHECK(attn_mask.shape() == (Shape{L, S}), "{}: the shape of the 2-D attn_mask is {}, but should be {}", who,
                  shape_str(attn_mask.shape()), shape_str(Shape{L, S}));
      mask = reshape(attn_mask, {1, 1, L, S});
    } else {
      const Shape expected = in.batched ? Shape{N * H, L, S} : Shape{H, L, S};
      GRAFT_CHECK(attn_mask.shape() == expected,
                  "{}: the shape of the 3-D attn_mask is {}, but should be {} ({} * num_heads, L, S)", who,
                  shape_str(attn_mask.shape()), shape_str(expected), in.batched ? "N" : "1");
      mask = reshape(attn_mask, {N, H, L, S});
    }
  } else if (is_causal) {
    mask = reshape(causal_masked_out(L, S), {1, 1, L, S});
  }
  if (kpm.defined()) kpm = pad_keys(kpm, dims.extra_keys());
  if (mask.defined()) mask = pad_keys(mask, dims.extra_keys());

  // Merge, and turn bool masks into sdpa's "True = takes part".
  const DType dt = query.dtype();
  GRAFT_CHECK(query.dtype() == dims.parameter_dtype, "{}: query is {} but the module's parameters are {}", who,
              dtype_name(query.dtype()), dtype_name(dims.parameter_dtype));
  if (!kpm.defined() && !mask.defined()) return in;
  if (!kpm.defined() || !mask.defined()) {
    const Tensor& m = kpm.defined() ? kpm : mask;
    in.mask = m.dtype() == kBool ? logical_not(m) : m;
  } else if (kpm.dtype() == kBool && mask.dtype() == kBool) {
    in.mask = logical_not(logical_or(mask, kpm));
  } else if (kpm.dtype() == kBool) {
    in.mask = masked_fill(mask, kpm, kNegInf);  // torch 1.13's merge of a float attn_mask with key padding
  } else {
    in.mask = add(additive(mask, dt), kpm);  // a float key_padding_mask is added, as in torch 2.x
  }
  return in;
}

std::tuple<Tensor, Tensor> finish_mha_outputs(const MhaInputs& in, bool batch_first, const Tensor& out,
                                              const Tensor& weights, bool need_weights, bool average_attn_weights) {
  Tensor o = !in.batched ? squeeze(out, 0) : batch_first ? out : transpose(out, 0, 1);
  if (!need_weights) return {o, Tensor()};
  Tensor w = weights;
  if (average_attn_weights) w = div(sum(w, {1}), w.shape()[1]);  // as torch: sum over heads / num_heads
  if (!in.batched) w = squeeze(w, 0);
  return {o, w};
}

Tensor split_heads(const Tensor& x, int64_t num_heads) {
  const int64_t N = x.shape()[0], T = x.shape()[1], E = x.shape()[2];
  return transpose(reshape(x, {N, T, num_heads, E / num_heads}), 1, 2);
}

Tensor merge_heads(const Tensor& x) {
  const int64_t N = x.shape()[0], H = x.shape()[1], T = x.shape()[2], D = x.shape()[3];
  return reshape(transpose(x, 1, 2), {N, T, H * D});
}

std::tuple<Tensor, Tensor, Tensor> split_heads_with_extra_keys(const Tensor& q, const Tensor& k, const Tensor& v,
                                                               int64_t num_heads, const Tensor& bias_k,
                                                               const Tensor& bias_v, bool add_zero_attn) {
  Tensor keys = k, values = v;
  if (bias_k.defined()) {
    const int64_t N = k.shape()[0], E = k.shape()[2];
    keys = cat({keys, expand(bias_k, {N, 1, E})}, 1);
    values = cat({values, expand(bias_v, {N, 1, E})}, 1);
  }
  keys = split_heads(keys, num_heads);
  values = split_heads(values, num_heads);
  if (add_zero_attn) {
    const int64_t N = keys.shape()[0], D = keys.shape()[3];
    Tensor zero = zeros({N, num_heads, 1, D}, graft::dtype(q.dtype()));
    keys = cat({keys, zero}, 2);
    values = cat({values, zero}, 2);
  }
  return {split_heads(q, num_heads), keys, values};
}

}  // namespace graft::nn::detail
