#pragma once
// TransformerLM: a small decoder-only language model (LLaMA layout) implementing nn::CausalLM:
//   embed_tokens -> layers.0 .. layers.{N-1} (pre-norm TransformerBlock) -> norm (RMSNorm) -> lm_head
// State dict names: embed_tokens.weight, layers.<i>.norm1.weight, layers.<i>.attn.q_proj.weight, ...,
// layers.<i>.ffn.w1.weight (w2, w3), norm.weight, lm_head.weight. With tie_embeddings the output layer reuses
// embed_tokens.weight and there is no lm_head (PyTorch would list the shared tensor under both names).
//
// forward(tokens) is the full-sequence (training) pass; forward(tokens, state) continues the sequences of
// a state from new_state(batch), whose one cache per layer (KVCache, or LatentKVCache for MLA) makes each
// decoding step attend to the past without recomputing it. The forward reaches embed_tokens, the layers,
// norm and lm_head through the registry, so modules swapped by replace_module are the ones that run.
#include "graft/nn/causal_lm.h"
#include "graft/nn/modules/container.h"
#include "graft/nn/modules/transformer_block.h"

namespace graft::nn {

struct TransformerLMConfig {
  int64_t vocab_size = 0;
  int64_t num_layers = 0;
  /// attention.d_model is the model width; attention.dtype the parameters' dtype.
  AttentionConfig attention;
  int64_t ffn_hidden = 0;  // 0: the SwiGLU default for d_model, rounded up to a multiple of ffn_multiple_of
  int64_t ffn_multiple_of = TransformerBlock::kDefaultFFNMultipleOf;
  std::optional<double> norm_eps = 1e-6;
  bool tie_embeddings = false;
};

/// The decoding state of a TransformerLM: one cache per layer, for `batch` sequences of equal length.
class TransformerLMState : public DecoderState {
 public:
  TransformerLMState(std::vector<std::unique_ptr<LayerCache>> caches, int64_t batch);
  void select(const Tensor& index) override;
  int64_t length() const override { return length_; }
  /// The memory held: the caches' allocated buffers (capacity_bytes), which run ahead of stored_bytes().
  size_t bytes() const override;
  size_t stored_bytes() const;  // sum of the caches' bytes(): the elements the tokens so far need
  int64_t batch() const { return batch_; }
  LayerCache& cache(size_t layer) { return *caches_.at(layer); }
  size_t num_layers() const { return caches_.size(); }

 private:
  friend class TransformerLM;
  std::vector<std::unique_ptr<LayerCache>> caches_;
  int64_t batch_;
  int64_t length_ = 0;
};

class TransformerLM : public CausalLM {
 public:
  explicit TransformerLM(const TransformerLMConfig& config);

  /// tokens (B, T) int64 -> logits (B, T, vocab_size), causal, positions 0 .. T-1.
  Tensor forward(const Tensor& tokens) override;
  /// tokens (B, T) continue the B sequences of `state` (a TransformerLMState of batch B).
  Tensor forward(const Tensor& tokens, DecoderState& state) override;
  std::unique_ptr<DecoderState> new_state(int64_t batch) override;
  int64_t vocab_size() const override { return config.vocab_size; }
  int64_t d_model() const { return config.attention.d_model; }
  size_t num_layers() const { return layers()->size(); }
  std::shared_ptr<TransformerBlock> layer(size_t i) const { return layers()->at<TransformerBlock>(i); }
  std::shared_ptr<ModuleList> layers() const;
  /// The token embedding's weight (vocab_size, d_model), also the output layer's with tie_embeddings.
  Tensor& embedding_weight() const;
  std::string extra_repr() const override;

  const TransformerLMConfig config;

 private:
  Tensor run(const Tensor& tokens, TransformerLMState* state);
};

}  // namespace graft::nn
