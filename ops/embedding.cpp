#include "graft/ops/embedding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/indexing.h"
#include "graft/ops/kernels/embedding.h"
#include "graft/ops/operators.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;

namespace {

// Per id: 0 at padding_idx, else 1 (or 1 / its count with scale_grad_by_freq), as an (n, 1) column.
Tensor embedding_grad_scale(const Tensor& ids, int64_t num_weights, int64_t padding_idx, bool scale_grad_by_freq, DType dt) {
  std::vector<int64_t> id = ids.to_vector<int64_t>();
  std::vector<int64_t> count(static_cast<size_t>(num_weights), 0);
  for (int64_t v : id) ++count[static_cast<size_t>(v)];
  std::vector<double> scale(id.size());
  for (size_t i = 0; i < id.size(); ++i)
    scale[i] = id[i] == padding_idx ? 0.0 : scale_grad_by_freq ? 1.0 / static_cast<double>(count[static_cast<size_t>(id[i])]) : 1.0;
  return tensor(scale, {static_cast<int64_t>(id.size()), 1}, dt);
}

// The (V, D) gradient of the weight from the (n, D) output gradient; differentiable in grad (its adjoint is
// the gather again), through index_add when the backward pass is recorded.
Tensor embedding_dense_backward(const Tensor& grad, const Tensor& ids, int64_t num_weights, int64_t padding_idx,
                                bool scale_grad_by_freq) {
  return backward_formula(
      {grad}, [&] { return kernels::embedding_backward(grad, ids, num_weights, padding_idx, scale_grad_by_freq); },
      [&] {
        Tensor scale = embedding_grad_scale(ids, num_weights, padding_idx, scale_grad_by_freq, grad.dtype());
        return index_add(zeros({num_weights, grad.shape()[1]}, grad.dtype()), 0, ids, mul(grad, scale));
      });
}

// PyTorch's embedding_renorm_: every row looked up whose norm exceeds max_norm is scaled to max_norm (in place).
void renorm_rows(const Tensor& weight, const std::vector<int64_t>& ids, double max_norm, double norm_type) {
  GRAFT_CHECK(is_floating(weight.dtype()), "embedding: max_norm needs a floating-point weight, got {}", dtype_name(weight.dtype()));
  std::vector<int64_t> unique = ids;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  NoGradGuard no_grad;
  for (int64_t v : unique) {
    Tensor row = weight.select(0, v);
    double norm = 0;
    for (double x : row.to_vector<double>()) {
      if (std::isinf(norm_type)) norm = std::max(norm, std::abs(x));
      else norm += std::pow(std::abs(x), norm_type);
    }
    if (!std::isinf(norm_type)) norm = std::pow(norm, 1.0 / norm_type);
    if (norm > max_norm) row.mul_(max_norm / (norm + 1e-7));
  }
}

}  // namespace

Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx,
                 std::optional<double> max_norm, double norm_type, bool scale_grad_by_freq) {
  GRAFT_RECORD_FUNCTION("embedding", input, weight);
  const char* op = "embedding";
  check_defined(op, "input", input);
  check_defined(op, "weight", weight);
  GRAFT_CHECK(input.dtype() == kInt64, "{}: expected an int64 tensor of indices for 'input', got {}", op,
              dtype_name(input.dtype()));
  GRAFT_CHECK(weight.dim() == 2, "{}: weight must be 2-D (num_embeddings, embedding_dim), got shape {}", op,
              shape_str(weight.shape()));
  const int64_t num_weights = weight.shape()[0], dim = weight.shape()[1];
  int64_t pad = -1;
  if (padding_idx) {
    GRAFT_CHECK(*padding_idx >= -num_weights && *padding_idx < num_weights,
                "{}: padding_idx {} must be within num_embeddings ({})", op, *padding_idx, num_weights);
    pad = *padding_idx < 0 ? *padding_idx + num_weights : *padding_idx;
  }
  Tensor ids = loops::contiguous_copy(input).reshape({-1});
  std::vector<int64_t> id = ids.to_vector<int64_t>();
  for (int64_t v : id)
    GRAFT_CHECK(v >= 0 && v < num_weights, "{}: index {} is out of range for {} embeddings (weight shape {})", op, v,
                num_weights, shape_str(weight.shape()));
  if (max_norm) {
    GRAFT_CHECK(*max_norm >= 0 && norm_type > 0, "{}: max_norm must be >= 0 and norm_type > 0, got {} and {}", op,
                *max_norm, norm_type);
    renorm_rows(weight, id, *max_norm, norm_type);
  }
  Shape out_shape = input.shape();
  out_shape.push_back(dim);
  Tensor out = kernels::embedding_gather(weight, ids).reshape(out_shape);
  if (is_floating(weight.dtype()))
    if (auto node = make_node("EmbeddingBackward0", {weight}, [num_weights, pad, scale_grad_by_freq, dim](Node& n, GradList& g) -> GradList {
          // One row per id, spelt out: {-1, dim} cannot be inferred when dim is 0.
          const int64_t rows = n.saved(0).numel();
          return {embedding_dense_backward(reshape(g[0], {rows, dim}), n.saved(0), num_weights, pad, scale_grad_by_freq)};
        })) {
      set_history(out, node);
      node->save(ids);
    }
  return out;
}

Tensor one_hot(const Tensor& input, int64_t num_classes) {
  GRAFT_RECORD_FUNCTION("one_hot", input);
  const char* op = "one_hot";
  check_defined(op, "input", input);
  GRAFT_CHECK(input.dtype() == kInt64, "{}: expected an int64 tensor of class values, got {}", op, dtype_name(input.dtype()));
  std::vector<int64_t> v = input.to_vector<int64_t>();
  if (v.empty())
    GRAFT_CHECK(num_classes > 0, "{}: cannot infer the number of classes from an empty tensor (shape {}); pass num_classes > 0",
                op, shape_str(input.shape()));
  if (num_classes == -1) num_classes = *std::max_element(v.begin(), v.end()) + 1;
  GRAFT_CHECK(num_classes >= 0, "{}: num_classes must be -1 (inferred) or >= 0, got {}", op, num_classes);
  for (int64_t c : v) {
    GRAFT_CHECK(c >= 0, "{}: class values must be non-negative, got {}", op, c);
    GRAFT_CHECK(c < num_classes, "{}: class values must be smaller than num_classes ({}), got {}", op, num_classes, c);
  }
  Shape shape = input.shape();
  shape.push_back(num_classes);
  Tensor out = zeros(shape, kInt64);
  int64_t* p = out.data_ptr<int64_t>();
  for (size_t i = 0; i < v.size(); ++i) p[static_cast<int64_t>(i) * num_classes + v[i]] = 1;
  return out;
}

}  // namespace graft::nn::functional
