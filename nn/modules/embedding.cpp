#include "graft/nn/modules/embedding.h"

#include "graft/graph/factory.h"
#include "graft/graph/grad_mode.h"
#include "graft/nn/init.h"
#include "graft/nn/modules/repr_format.h"
#include "graft/ops/embedding.h"

namespace graft::nn {

namespace F = functional;

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> padding, std::optional<double> max_norm_,
                     double norm_type_, bool scale_grad, DType dtype)
    : Module("Embedding"),
      num_embeddings(num),
      embedding_dim(dim),
      padding_idx(padding),
      max_norm(max_norm_),
      norm_type(norm_type_),
      scale_grad_by_freq(scale_grad) {
  GRAFT_CHECK(num >= 0 && dim >= 0, "Embedding: num_embeddings and embedding_dim must be non-negative, got {} and {}",
              num, dim);
  if (padding_idx) {
    GRAFT_CHECK(*padding_idx >= -num && *padding_idx < num,
                "Embedding: padding_idx must be within num_embeddings ({}), got {}", num, *padding_idx);
    if (*padding_idx < 0) *padding_idx += num;
  }
  GRAFT_CHECK(!max_norm || *max_norm >= 0.0, "Embedding: max_norm must be non-negative, got {}", max_norm.value_or(0));
  GRAFT_CHECK(norm_type > 0.0, "Embedding: norm_type must be positive, got {}", norm_type);
  GRAFT_CHECK(is_floating(dtype), "Embedding: dtype must be floating point, got {}", dtype_name(dtype));
  weight = register_parameter("weight", empty({num, dim}, dtype));
  reset_parameters();
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& embeddings, bool freeze,
                                                      std::optional<int64_t> padding_idx,
                                                      std::optional<double> max_norm, double norm_type,
                                                      bool scale_grad_by_freq) {
  GRAFT_CHECK(embeddings.dim() == 2, "Embedding.from_pretrained: embeddings must be 2-D, got shape {}",
              shape_str(embeddings.shape()));
  auto m = std::make_shared<Embedding>(embeddings.size(0), embeddings.size(1), padding_idx, max_norm, norm_type,
                                       scale_grad_by_freq, embeddings.dtype());
  NoGradGuard no_grad;
  m->weight.copy_(embeddings);
  m->weight.requires_grad_(!freeze);
  return m;
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard no_grad;
    weight.select(0, *padding_idx).zero_();
  }
}

Tensor Embedding::forward(const Tensor& input) {
  return F::embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq);
}

std::string Embedding::extra_repr() const {
  std::string s = fmt::format("{}, {}", num_embeddings, embedding_dim);
  if (padding_idx) s += fmt::format(", padding_idx={}", *padding_idx);
  if (max_norm) s += ", max_norm=" + repr_format::py_float(*max_norm);
  if (norm_type != 2.0) s += ", norm_type=" + repr_format::py_float(norm_type);
  if (scale_grad_by_freq) s += ", scale_grad_by_freq=True";
  return s;
}

}  // namespace graft::nn
