#include "graft/ops/fold.h"

#include <fmt/format.h>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/detail/spatial_args.h"
#include "graft/ops/kernels/fold.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;
using kernels::BlockGeometry;

namespace {

// One unfold/fold: the block geometry and the batched shapes of the image (N, C, H, W) and of the columns.
struct FoldSpec {
  BlockGeometry geometry;
  Shape image_shape, columns_shape;
};

BlockGeometry geometry_of(const char* op, IntList kernel_size, IntList dilation, IntList padding, IntList stride) {
  BlockGeometry g;
  g.kernel = spatial_arg(op, "kernel_size", kernel_size, 2, 1);
  g.dilation = spatial_arg(op, "dilation", dilation, 2, 1);
  g.padding = spatial_arg(op, "padding", padding, 2, 0);
  g.stride = spatial_arg(op, "stride", stride, 2, 1);
  return g;
}

// Block positions along each dim of an image of `size`; graft::Error when there are none.
void count_blocks(const char* op, BlockGeometry& g, int64_t h, int64_t w) {
  const int64_t size[2] = {h, w};
  for (int i = 0; i < 2; ++i) g.blocks[i] = (size[i] + 2 * g.padding[i] - g.dilation[i] * (g.kernel[i] - 1) - 1) / g.stride[i] + 1;
  GRAFT_CHECK(g.blocks[0] >= 1 && g.blocks[1] >= 1 &&
                  h + 2 * g.padding[0] >= g.dilation[0] * (g.kernel[0] - 1) + 1 &&
                  w + 2 * g.padding[1] >= g.dilation[1] * (g.kernel[1] - 1) + 1,
              "{}: no block fits: spatial size ({}, {}), kernel_size ({}, {}), dilation ({}, {}), padding ({}, {}), "
              "stride ({}, {})",
              op, h, w, g.kernel[0], g.kernel[1], g.dilation[0], g.dilation[1], g.padding[0], g.padding[1], g.stride[0],
              g.stride[1]);
}

Tensor contiguous_input(const Tensor& t) { return t.is_contiguous() ? t : loops::contiguous_copy(t); }

Tensor fold_map(const Tensor& columns, const FoldSpec& spec);

Tensor unfold_map(const Tensor& image, const FoldSpec& spec) {
  if (is_reduced_floating(image.dtype())) return to(unfold_map(to(image, kFloat32), spec), image.dtype());
  Tensor columns = empty_tensor(spec.columns_shape, image.dtype());
  kernels::im2col(contiguous_input(image), spec.geometry, columns);
  if (auto node = make_node("Im2ColBackward0", {image}, [spec](Node&, GradList& g) -> GradList {
        return {fold_map(g[0], spec)};
      }))
    set_history(columns, node);
  return columns;
}

Tensor fold_map(const Tensor& columns, const FoldSpec& spec) {
  if (is_reduced_floating(columns.dtype())) return to(fold_map(to(columns, kFloat32), spec), columns.dtype());
  Tensor image = empty_tensor(spec.image_shape, columns.dtype());
  kernels::col2im(contiguous_input(columns), spec.geometry, image);
  if (auto node = make_node("Col2ImBackward0", {columns}, [spec](Node&, GradList& g) -> GradList {
        return {unfold_map(g[0], spec)};
      }))
    set_history(image, node);
  return image;
}

}  // namespace

Tensor unfold(const Tensor& input, IntList kernel_size, IntList dilation, IntList padding, IntList stride) {
  GRAFT_RECORD_FUNCTION("unfold", input);
  constexpr const char* op = "unfold";
  check_floating_operand(op, input);
  GRAFT_CHECK(input.dim() == 3 || input.dim() == 4, "{}: expected a 3-D (unbatched) or 4-D (batched) input, got shape {}",
              op, shape_str(input.shape()));
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : unsqueeze(input, 0);
  GRAFT_CHECK(x.shape()[1] > 0 && x.shape()[2] > 0 && x.shape()[3] > 0,
              "{}: only the batch dim may be empty, got input of shape {}", op, shape_str(input.shape()));
  FoldSpec spec{geometry_of(op, kernel_size, dilation, padding, stride), x.shape(), {}};
  count_blocks(op, spec.geometry, x.shape()[2], x.shape()[3]);
  const BlockGeometry& g = spec.geometry;
  spec.columns_shape = {x.shape()[0], x.shape()[1] * g.kernel[0] * g.kernel[1], g.blocks[0] * g.blocks[1]};
  Tensor out = unfold_map(x, spec);
  return batched ? out : squeeze(out, 0);
}

Tensor fold(const Tensor& input, IntList output_size, IntList kernel_size, IntList dilation, IntList padding,
            IntList stride) {
  GRAFT_RECORD_FUNCTION("fold", input);
  constexpr const char* op = "fold";
  check_floating_operand(op, input);
  GRAFT_CHECK(input.dim() == 2 || input.dim() == 3, "{}: expected a 2-D (unbatched) or 3-D (batched) input, got shape {}",
              op, shape_str(input.shape()));
  const bool batched = input.dim() == 3;
  const Tensor columns = batched ? input : unsqueeze(input, 0);
  BlockGeometry g = geometry_of(op, kernel_size, dilation, padding, stride);
  const std::array<int64_t, 2> size = spatial_arg(op, "output_size", output_size, 2, 1);
  const int64_t block = g.kernel[0] * g.kernel[1];
  GRAFT_CHECK(columns.shape()[1] % block == 0,
              "{}: dim {} of the input ({}, input {}) must be divisible by the kernel's {} x {} = {} elements", op,
              batched ? 1 : 0, columns.shape()[1], shape_str(input.shape()), g.kernel[0], g.kernel[1], block);
  count_blocks(op, g, size[0], size[1]);
  GRAFT_CHECK(columns.shape()[2] == g.blocks[0] * g.blocks[1],
              "{}: output_size ({}, {}) holds {} x {} = {} block positions, but the input {} has {} columns", op, size[0],
              size[1], g.blocks[0], g.blocks[1], g.blocks[0] * g.blocks[1], shape_str(input.shape()), columns.shape()[2]);
  FoldSpec spec{g, {columns.shape()[0], columns.shape()[1] / block, size[0], size[1]}, columns.shape()};
  Tensor out = fold_map(columns, spec);
  return batched ? out : squeeze(out, 0);
}

}  // namespace graft::nn::functional
