#pragma once
// Private building blocks of the language-model modules (TransformerBlock, TransformerLM, MLA): an RMSNorm,
// a SwiGLU feed-forward and a token embedding. They stand in for the public nn::RMSNorm, nn::FeedForward and
// nn::Embedding, which are being written in parallel; their type names, parameter names and initialisation
// are those of the public modules, so swapping them later leaves state dicts unchanged.
#include <optional>

#include "graft/nn/module.h"
#include "graft/nn/modules/linear.h"

namespace graft::nn::detail {

// x / sqrt(mean(x^2) + eps) * weight over the last dim (torch 2.x nn.RMSNorm with elementwise_affine).
class RMSNormLayer : public Module {
 public:
  RMSNormLayer(int64_t normalized_size, std::optional<double> eps = std::nullopt, DType dtype = kFloat32);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  std::optional<double> eps;
  Tensor weight;  // (normalized_size), initialised to ones
};

// SwiGLU feed-forward (Shazeer 2020; LLaMA): down_proj(silu(gate_proj(x)) * up_proj(x)), no biases.
class SwiGLUFeedForward : public Module {
 public:
  SwiGLUFeedForward(int64_t d_model, int64_t hidden, DType dtype = kFloat32);
  Tensor forward(const Tensor& input) override;

  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

// Rows of weight (num_embeddings, embedding_dim) looked up by int64 ids; weight ~ N(0, 1) as in PyTorch.
class TokenEmbedding : public Module {
 public:
  TokenEmbedding(int64_t num_embeddings, int64_t embedding_dim, DType dtype = kFloat32);
  Tensor forward(const Tensor& ids) override;
  std::string extra_repr() const override;

  int64_t num_embeddings, embedding_dim;
  Tensor weight;
};

// The SwiGLU hidden size used when none is given: 2/3 of 4 * d_model (so the three matrices hold as many
// weights as a 4x ReLU FFN's two), truncated and rounded up to a multiple of 8 (LLaMA's rule with
// multiple_of = 8).
int64_t default_swiglu_hidden(int64_t d_model);

}  // namespace graft::nn::detail
