#include "graft/nn/modules/rotary_embedding.h"

#include <cmath>

#include "graft/ops/rope.h"

namespace graft::nn {

namespace F = functional;

RotaryEmbedding::RotaryEmbedding(int64_t head_dim_, int64_t max_positions_, double base_, DType dtype)
    : Module("RotaryEmbedding"), head_dim(head_dim_), max_positions(max_positions_), base(base_), tables_dtype_(dtype) {
  GRAFT_CHECK(head_dim > 0 && head_dim % 2 == 0, "RotaryEmbedding: head_dim must be positive and even, got {}",
              head_dim);
  GRAFT_CHECK(max_positions > 0, "RotaryEmbedding: max_positions must be positive, got {}", max_positions);
  GRAFT_CHECK(base > 0.0 && std::isfinite(base), "RotaryEmbedding: base must be positive and finite, got {}", base);
  GRAFT_CHECK(is_floating(dtype), "RotaryEmbedding: dtype must be floating-point, got {}", dtype_name(dtype));
  auto [cos, sin] = F::rope_cos_sin(head_dim, 0, max_positions, base, dtype);
  register_buffer("cos_cached", cos, /*persistent=*/false);
  register_buffer("sin_cached", sin, /*persistent=*/false);
}

void RotaryEmbedding::build_tables(DType dtype) {
  auto [cos, sin] = F::rope_cos_sin(head_dim, 0, max_positions, base, dtype);
  buffer("cos_cached") = cos;
  buffer("sin_cached") = sin;
  tables_dtype_ = dtype;
}

std::pair<Tensor, Tensor> RotaryEmbedding::cos_sin(int64_t offset, int64_t length, DType dtype) {
  GRAFT_CHECK(offset >= 0 && length >= 0, "RotaryEmbedding: offset and length must be non-negative, got {} and {}",
              offset, length);
  GRAFT_CHECK(offset + length <= max_positions,
              "RotaryEmbedding: positions {} .. {} exceed max_positions={} (raise max_positions when constructing "
              "the model)",
              offset, offset + length - 1, max_positions);
  GRAFT_CHECK(is_floating(dtype), "RotaryEmbedding: expected a floating-point dtype, got {}", dtype_name(dtype));
  // to(dtype) casts the buffers in place: tables cast from another dtype are recomputed exactly.
  if (buffer("cos_cached").dtype() != tables_dtype_ || dtype != tables_dtype_) build_tables(dtype);
  return {buffer("cos_cached").narrow(0, offset, length), buffer("sin_cached").narrow(0, offset, length)};
}

Tensor RotaryEmbedding::forward(const Tensor& x, int64_t offset) {
  GRAFT_CHECK(x.defined() && x.dim() >= 2 && x.size(-1) == head_dim,
              "RotaryEmbedding: expected an input of shape (..., T, {}), got {}", head_dim,
              x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  auto [cos, sin] = cos_sin(offset, x.size(-2), x.dtype());
  return F::apply_rotary_emb(x, cos, sin);
}

std::string RotaryEmbedding::extra_repr() const {
  return fmt::format("head_dim={}, max_positions={}, base={}", head_dim, max_positions, base);
}

}  // namespace graft::nn
