#pragma once
// nn::FeedForward: the position-wise feed-forward network of a transformer block.
//   kind "relu" / "gelu":  out = w2(dropout(act(w1 x)))
//   kind "swiglu":         out = w2(dropout(silu(w1 x) * w3 x))     (LLaMA's: w1 gate, w3 up, w2 down)
// Children, in order: w1 Linear(d_model, hidden), w2 Linear(hidden, d_model), w3 Linear(d_model, hidden)
// (swiglu only), act (ReLU / GELU / SiLU) and dropout, so the state dict reads "w1.weight", "w2.weight",
// "w3.weight" as LLaMA's checkpoints do. PyTorch has no such module (nn.TransformerEncoderLayer inlines one
// as linear1/linear2); the dropout on the block's output belongs to the residual connection around it.
// The hidden size defaults to 4 * d_model for relu/gelu, and for swiglu to LLaMA's 2/3 * 4 * d_model
// rounded up to a multiple of `multiple_of` (d_model = 256 gives 768), which keeps the parameter count of
// the two-matrix FFN. bias defaults to true; LLaMA's SwiGLU layers have none (pass bias = false).
// forward reaches its children through their registered names (child("w1")), so a child swapped by
// replace_module / replace_modules takes part in the next forward.
#include <optional>
#include <string>

#include "graft/nn/module.h"

namespace graft::nn {

class FeedForward : public Module {
 public:
  FeedForward(int64_t d_model, std::optional<int64_t> hidden = std::nullopt, std::string kind = "relu",
              bool bias = true, double dropout = 0.0, int64_t multiple_of = 256, DType dtype = kFloat32);
  Tensor forward(const Tensor& input) override;

  /// The hidden size used when none is given.
  static int64_t default_hidden(int64_t d_model, const std::string& kind, int64_t multiple_of = 256);

  int64_t d_model, hidden;
  std::string kind;
};

}  // namespace graft::nn
