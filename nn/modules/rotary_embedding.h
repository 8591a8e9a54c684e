#pragma once
// RotaryEmbedding: rotary position embedding (RoFormer; rotate-half convention of LLaMA / transformers'
// LlamaRotaryEmbedding, see ops/rope.h) with cached cos/sin tables.
//
// The tables, cos_cached and sin_cached of shape (max_positions, head_dim), are non-persistent buffers
// (as in transformers): they follow to(dtype) but are not in the state dict. They are always exact for
// their dtype: computed in float64 and rounded, and recomputed when the module's dtype changes or the
// input has another dtype (rather than rounding float32 tables up to float64).
//
// forward(x, offset) rotates x (..., T, head_dim) as tokens at positions offset .. offset + T - 1: offset is
// the number of tokens already in a KV cache when decoding incrementally.
#include "graft/nn/module.h"

namespace graft::nn {

class RotaryEmbedding : public Module {
 public:
  RotaryEmbedding(int64_t head_dim, int64_t max_positions = 2048, double base = 10000.0, DType dtype = kFloat32);

  Tensor forward(const Tensor& x, int64_t offset);
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  std::string extra_repr() const override;

  /// cos and sin for positions offset .. offset + length - 1, each (length, head_dim), in `dtype`.
  std::pair<Tensor, Tensor> cos_sin(int64_t offset, int64_t length, DType dtype);

  int64_t head_dim, max_positions;
  double base;

 private:
  void build_tables(DType dtype);
  DType tables_dtype_;  // the dtype the tables were computed in
};

}  // namespace graft::nn
