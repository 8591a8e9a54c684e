#include "graft/ops/padding.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/padding.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;

namespace {

enum class PadMode { Constant, Reflect, Replicate, Circular };

// What one pad call does: for each padded dim (outermost first), the input index each output index copies
// (-1: the fill value), and the shapes.
struct PadSpec {
  std::vector<std::vector<int64_t>> sources;
  Shape in_shape, out_shape;
};

std::vector<int64_t> sources_of(PadMode mode, int64_t size, int64_t before, int64_t after) {
  const int64_t out = size + before + after;
  std::vector<int64_t> src(static_cast<size_t>(out));
  for (int64_t i = 0; i < out; ++i) {
    int64_t j = i - before;
    switch (mode) {
      case PadMode::Constant: j = j >= 0 && j < size ? j : -1; break;
      case PadMode::Reflect: j = j < 0 ? -j : j >= size ? 2 * (size - 1) - j : j; break;
      case PadMode::Replicate: j = std::clamp<int64_t>(j, 0, size - 1); break;
      case PadMode::Circular: j = ((j % size) + size) % size; break;
    }
    src[static_cast<size_t>(i)] = j;
  }
  return src;
}

Tensor pad_adjoint(const Tensor& gy, const PadSpec& spec);

// The padding as a map of its input; its backward is the adjoint, whose backward is the map again (with a
// zero fill: the fill value does not depend on the input).
Tensor pad_map(const Tensor& x, const PadSpec& spec, double value) {
  Tensor y = empty_tensor(spec.out_shape, x.dtype());
  kernels::pad_forward(x.is_contiguous() ? x : loops::contiguous_copy(x), spec.sources, value, y);
  if (auto node = make_node("PadBackward0", {x}, [spec](Node&, GradList& g) -> GradList {
        return {pad_adjoint(g[0], spec)};
      }))
    set_history(y, node);
  return y;
}

Tensor pad_adjoint(const Tensor& gy, const PadSpec& spec) {
  // 16-bit gradients are summed in float32 and rounded once, as PyTorch accumulates them.
  Tensor g = to_opmath(gy);
  Tensor gx32 = empty_tensor(spec.in_shape, g.dtype());
  kernels::pad_backward(g.is_contiguous() ? g : loops::contiguous_copy(g), spec.sources, gx32);
  Tensor gx = from_opmath(gx32, gy.dtype());
  if (auto node = make_node("PadBackwardBackward0", {gy}, [spec](Node&, GradList& g) -> GradList {
        return {pad_map(g[0], spec, 0.0)};
      }))
    set_history(gx, node);
  return gx;
}

PadMode pad_mode_of(std::string_view mode) {
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "replicate") return PadMode::Replicate;
  if (mode == "circular") return PadMode::Circular;
  GRAFT_FAIL("pad: mode must be \"constant\", \"reflect\", \"replicate\" or \"circular\", got \"{}\"", mode);
}

}  // namespace

Tensor pad(const Tensor& input, IntList pad, std::string_view mode_name, double value) {
  GRAFT_RECORD_FUNCTION("pad", input);
  constexpr const char* op = "pad";
  check_defined(op, "input", input);
  const PadMode mode = pad_mode_of(mode_name);
  const std::string pads = fmt::format("({})", fmt::join(pad.begin(), pad.end(), ", "));
  GRAFT_CHECK(pad.size() % 2 == 0, "{}: the padding must have an even number of values ((before, after) pairs from the "
              "last dim), got {}", op, pads);
  const int64_t k = static_cast<int64_t>(pad.size() / 2);
  GRAFT_CHECK(k <= input.dim(), "{}: padding {} pads {} dims, but the input of shape {} has {}", op, pads, k,
              shape_str(input.shape()), input.dim());
  if (mode != PadMode::Constant) {
    GRAFT_CHECK(value == 0.0, "{}: mode \"{}\" takes no value, got {}", op, mode_name, value);
    GRAFT_CHECK(k >= 1 && k <= 3 && (input.dim() == k + 1 || input.dim() == k + 2),
                "{}: mode \"{}\" pads 1, 2 or 3 dims of a 2-D/3-D, 3-D/4-D or 4-D/5-D input; padding {} does not "
                "fit an input of shape {}",
                op, mode_name, pads, shape_str(input.shape()));
    GRAFT_CHECK(is_floating(input.dtype()), "{}: mode \"{}\" expects a floating-point input, got {}", op, mode_name,
                dtype_name(input.dtype()));
  }
  PadSpec spec;
  spec.in_shape = input.shape();
  spec.out_shape = input.shape();
  for (int64_t d = input.dim() - k; d < input.dim(); ++d) {
    const size_t pair = static_cast<size_t>(2 * (input.dim() - 1 - d));
    const int64_t size = input.shape()[d], before = pad[pair], after = pad[pair + 1];
    const int64_t out = size + before + after;
    GRAFT_CHECK(out >= 0, "{}: dim {} of size {} padded by ({}, {}) would have a negative size {} (input {})", op, d, size,
                before, after, out, shape_str(input.shape()));
    if (mode == PadMode::Reflect)
      GRAFT_CHECK(before < size && after < size,
                  "{}: reflect padding ({}, {}) of dim {} must be smaller than its size {} (input {})", op, before, after,
                  d, size, shape_str(input.shape()));
    if (mode == PadMode::Replicate)
      GRAFT_CHECK(size > 0 || out == 0, "{}: replicate cannot pad dim {}, which is empty (input {})", op, d,
                  shape_str(input.shape()));
    if (mode == PadMode::Circular)
      GRAFT_CHECK(before <= size && after <= size && (size > 0 || out == 0),
                  "{}: circular padding ({}, {}) of dim {} would wrap around more than once (size {}, input {})", op,
                  before, after, d, size, shape_str(input.shape()));
    spec.out_shape[d] = out;
    spec.sources.push_back(sources_of(mode, size, before, after));
  }
  if (k == 0) return clone(input);
  return pad_map(input, spec, value);
}

}  // namespace graft::nn::functional
