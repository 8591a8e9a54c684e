#pragma once
// The contract between a decoder-only language model and the generation routines (nn/generation.h):
// the model consumes new tokens and advances a decoding state (its KV caches), returning the logits of
// those tokens. Any model honouring it can be decoded greedily, by sampling, or by beam search.
#include <memory>

#include "graft/nn/module.h"

namespace graft::nn {

/// What a model remembers between decoding steps for a batch of sequences (e.g. one KV cache per layer).
class DecoderState {
 public:
  virtual ~DecoderState() = default;
  /// Keeps the batch rows listed in `index` (int64, 1-D), in that order; rows may repeat. Beam search uses
  /// it to follow surviving hypotheses.
  virtual void select(const Tensor& index) = 0;
  /// Tokens consumed so far (the position of the next token).
  virtual int64_t length() const = 0;
  /// Bytes of memory the state holds.
  virtual size_t bytes() const = 0;
};

class CausalLM : public Module {
 public:
  using Module::Module;
  /// A fresh state for `batch` sequences.
  virtual std::unique_ptr<DecoderState> new_state(int64_t batch) = 0;
  using Module::forward;  // the one-tensor forward stays callable (a full pass, where the model defines one)
  /// tokens: (B, T) int64, the next T tokens of each sequence. Returns their logits (B, T, vocab_size())
  /// and advances `state` by T. A fresh state with the whole sequence is a full forward pass.
  virtual Tensor forward(const Tensor& tokens, DecoderState& state) = 0;
  virtual int64_t vocab_size() const = 0;
};

}  // namespace graft::nn
