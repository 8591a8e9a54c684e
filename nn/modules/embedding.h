#pragma once
// nn::Embedding(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type=2, scale_grad_by_freq), as
// torch.nn.Embedding: a weight (num_embeddings, embedding_dim) initialised normal(0, 1), with the row
// padding_idx zeroed and left without gradient. A negative padding_idx counts from the end and is stored
// normalised (Embedding(10, 3, -1) has padding_idx 9), as in PyTorch. Forward takes int64 ids of any shape
// and returns ids.shape + (embedding_dim). PyTorch's `sparse` has no counterpart (graft has no sparse
// tensors); `from_pretrained` builds one around given weights.
#include <optional>

#include "graft/nn/module.h"

namespace graft::nn {

/// Embedding's constructor arguments by name, for designated initialisers:
/// `nn::Embedding({.num_embeddings = 100, .embedding_dim = 16, .padding_idx = 0})`. The defaults are PyTorch's.
/// (LibTorch's EmbeddingOptions is a builder with the same fields; this one is an aggregate.)
struct EmbeddingOptions {
  int64_t num_embeddings = 0;
  int64_t embedding_dim = 0;
  std::optional<int64_t> padding_idx = std::nullopt;
  std::optional<double> max_norm = std::nullopt;
  double norm_type = 2.0;
  bool scale_grad_by_freq = false;
  DType dtype = kFloat32;
};

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt,
            std::optional<double> max_norm = std::nullopt, double norm_type = 2.0, bool scale_grad_by_freq = false,
            DType dtype = kFloat32);
  /// The same, with the arguments named.
  explicit Embedding(const EmbeddingOptions& o)
      : Embedding(o.num_embeddings, o.embedding_dim, o.padding_idx, o.max_norm, o.norm_type, o.scale_grad_by_freq,
                  o.dtype) {}
  /// PyTorch's Embedding.from_pretrained: a copy of `embeddings` (2-D) as the weight, frozen by default.
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& embeddings, bool freeze = true,
                                                    std::optional<int64_t> padding_idx = std::nullopt,
                                                    std::optional<double> max_norm = std::nullopt,
                                                    double norm_type = 2.0, bool scale_grad_by_freq = false);
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;
  std::optional<double> max_norm;
  double norm_type;
  bool scale_grad_by_freq;
  Tensor weight;  // (num_embeddings, embedding_dim)
};

}  // namespace graft::nn
