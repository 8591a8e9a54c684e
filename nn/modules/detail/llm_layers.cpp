#include "graft/nn/modules/detail/llm_layers.h"

#include "graft/graph/factory.h"
#include "graft/nn/init.h"
#include "graft/ops/activation.h"
#include "graft/ops/embedding.h"
#include "graft/ops/normalization.h"
#include "graft/ops/operators.h"

namespace graft::nn::detail {

RMSNormLayer::RMSNormLayer(int64_t normalized_size, std::optional<double> eps_, DType dtype)
    : Module("RMSNorm"), eps(eps_) {
  GRAFT_CHECK(normalized_size > 0, "RMSNorm: normalized_shape must be positive, got {}", normalized_size);
  weight = register_parameter("weight", ones({normalized_size}, graft::dtype(dtype)));
}

Tensor RMSNormLayer::forward(const Tensor& input) {
  ForwardCall call(*this);
  return functional::rms_norm(input, weight, eps);
}

std::string RMSNormLayer::extra_repr() const {
  return fmt::format("({},), eps={}, elementwise_affine=True", weight.size(0), eps ? fmt::format("{}", *eps) : "None");
}

SwiGLUFeedForward::SwiGLUFeedForward(int64_t d_model, int64_t hidden, DType dtype) : Module("FeedForward") {
  GRAFT_CHECK(d_model > 0 && hidden > 0, "FeedForward: d_model and hidden must be positive, got {} and {}", d_model,
              hidden);
  gate_proj = register_module("gate_proj", std::make_shared<Linear>(d_model, hidden, false, dtype));
  up_proj = register_module("up_proj", std::make_shared<Linear>(d_model, hidden, false, dtype));
  down_proj = register_module("down_proj", std::make_shared<Linear>(hidden, d_model, false, dtype));
}

Tensor SwiGLUFeedForward::forward(const Tensor& input) {
  ForwardCall call(*this);
  return down_proj->forward(functional::silu(gate_proj->forward(input)) * up_proj->forward(input));
}

TokenEmbedding::TokenEmbedding(int64_t n, int64_t d, DType dtype)
    : Module("Embedding"), num_embeddings(n), embedding_dim(d) {
  GRAFT_CHECK(n > 0 && d > 0, "Embedding: num_embeddings and embedding_dim must be positive, got {} and {}", n, d);
  weight = register_parameter("weight", empty({n, d}, graft::dtype(dtype)));
  init::normal_(weight);
}

Tensor TokenEmbedding::forward(const Tensor& ids) {
  ForwardCall call(*this);
  return functional::embedding(ids, weight);
}

std::string TokenEmbedding::extra_repr() const { return fmt::format("{}, {}", num_embeddings, embedding_dim); }

int64_t default_swiglu_hidden(int64_t d_model) {
  const int64_t hidden = 2 * 4 * d_model / 3;  // int(2 * 4 * d / 3), as LLaMA
  return (hidden + 7) / 8 * 8;
}

}  // namespace graft::nn::detail
