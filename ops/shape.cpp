#include "graft/ops/shape.h"

#include <algorithm>
#include <numeric>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/operators.h"
#include "graft/ops/reduction.h"

namespace graft {

using namespace detail;

namespace {

// A differentiable view: `out` shares x's memory; the gradient goes back through `backward`.
template <class Fn>
Tensor record_view(const char* node_name, const Tensor& x, Tensor out, Fn backward,
                   const char* function = __builtin_FUNCTION(), const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
  if (auto node = make_node(node_name, {x}, std::move(backward), function, file, line)) set_history(out, node);
  return out;
}

Tensor reshape_grad_to(const Tensor& g, const Shape& shape) { return reshape(g, shape); }

}  // namespace

Tensor view(const Tensor& x, IntList shape) {
  GRAFT_RECORD_FUNCTION("view", x);
  check_defined("view", "input", x);
  Shape target = infer_shape("view", shape, x.numel());
  Shape strides;
  GRAFT_CHECK(view_strides(x.shape(), x.strides(), target, strides),
              "view: a tensor of shape {} and strides {} cannot be viewed as {} without a copy; use reshape",
              shape_str(x.shape()), shape_str(x.strides()), shape_str(target));
  return record_view("ViewBackward0", x, make_view(x, target, strides, x.storage_offset()),
                     [in = x.shape()](Node&, GradList& g) -> GradList { return {reshape_grad_to(g[0], in)}; });
}

Tensor reshape(const Tensor& x, IntList shape) {
  GRAFT_RECORD_FUNCTION("reshape", x);
  check_defined("reshape", "input", x);
  Shape target = infer_shape("reshape", shape, x.numel());
  Shape strides;
  if (view_strides(x.shape(), x.strides(), target, strides)) return view(x, target);
  return view(contiguous(x), target);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  GRAFT_RECORD_FUNCTION("flatten", x);
  check_defined("flatten", "input", x);
  int64_t s = wrap_dim("flatten", start_dim, x.dim()), e = wrap_dim("flatten", end_dim, x.dim());
  if (x.dim() == 0) return reshape(x, {1});
  GRAFT_CHECK(s <= e, "flatten: start_dim {} comes after end_dim {}", start_dim, end_dim);
  Shape target;
  for (int64_t d = 0; d < s; ++d) target.push_back(x.shape()[d]);
  int64_t merged = 1;
  for (int64_t d = s; d <= e; ++d) merged *= x.shape()[d];
  target.push_back(merged);
  for (int64_t d = e + 1; d < x.dim(); ++d) target.push_back(x.shape()[d]);
  return reshape(x, target);
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  GRAFT_RECORD_FUNCTION("transpose", x);
  check_defined("transpose", "input", x);
  int64_t a = wrap_dim("transpose", dim0, x.dim()), b = wrap_dim("transpose", dim1, x.dim());
  if (x.dim() == 0) return x;
  Shape shape = x.shape(), strides = x.strides();
  std::swap(shape[a], shape[b]);
  std::swap(strides[a], strides[b]);
  return record_view("TransposeBackward0", x, make_view(x, shape, strides, x.storage_offset()),
                     [a, b](Node&, GradList& g) -> GradList { return {transpose(g[0], a, b)}; });
}

Tensor t(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("t", x);
  check_defined("t", "input", x);
  GRAFT_CHECK(x.dim() <= 2, "t: expects a tensor with at most 2 dims, got shape {}", shape_str(x.shape()));
  return x.dim() < 2 ? x : transpose(x, 0, 1);
}

Tensor permute(const Tensor& x, IntList dims) {
  GRAFT_RECORD_FUNCTION("permute", x);
  check_defined("permute", "input", x);
  const int64_t nd = x.dim();
  GRAFT_CHECK(static_cast<int64_t>(dims.size()) == nd, "permute: got {} dims {} for a tensor of {} dims (shape {})",
              dims.size(), shape_str(dims), nd, shape_str(x.shape()));
  Shape perm(dims.size()), inverse(dims.size(), -1), shape(dims.size()), strides(dims.size());
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = wrap_dim("permute", dims[i], nd);
    GRAFT_CHECK(inverse[d] == -1, "permute: dims {} is not a permutation of {} dims (dim {} repeats)", shape_str(dims), nd, d);
    perm[i] = d;
    inverse[d] = i;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  return record_view("PermuteBackward0", x, make_view(x, shape, strides, x.storage_offset()),
                     [inverse](Node&, GradList& g) -> GradList { return {permute(g[0], inverse)}; });
}

Tensor expand(const Tensor& x, IntList shape) {
  GRAFT_RECORD_FUNCTION("expand", x);
  check_defined("expand", "input", x);
  const int64_t nd = static_cast<int64_t>(shape.size()), xd = x.dim();
  GRAFT_CHECK(nd >= xd, "expand: the number of sizes given ({}) must be at least the number of dims of the tensor ({})",
              nd, xd);
  Shape out_shape(shape.size()), strides(shape.size());
  for (int64_t i = nd - 1; i >= 0; --i) {
    int64_t xi = i - (nd - xd);
    int64_t want = shape[i];
    if (xi < 0) {
      GRAFT_CHECK(want >= 0, "expand: size -1 is not allowed in a leading, new dim (sizes {})", shape_str(shape));
      out_shape[i] = want;
      strides[i] = 0;
      continue;
    }
    int64_t have = x.shape()[xi];
    if (want == -1) want = have;
    GRAFT_CHECK(want >= 0, "expand: invalid size {} at dim {} (sizes {})", shape[i], i, shape_str(shape));
    GRAFT_CHECK(have == want || have == 1,
                "expand: the expanded size ({}) must match the existing size ({}) at non-singleton dim {}; target sizes "
                "{}, tensor sizes {}",
                want, have, i, shape_str(shape), shape_str(x.shape()));
    out_shape[i] = want;
    strides[i] = have == want ? x.strides()[xi] : 0;
  }
  if (out_shape == x.shape()) return x;
  numel_of(out_shape, "expand");  // an impossible size is an error here, not in whatever reads the view
  return record_view("ExpandBackward0", x, make_view(x, out_shape, strides, x.storage_offset()),
                     [in = x.shape()](Node&, GradList& g) -> GradList { return {sum_to(g[0], in)}; });
}

Tensor squeeze(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("squeeze", x);
  check_defined("squeeze", "input", x);
  Shape shape, strides;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (x.shape()[d] != 1) {
      shape.push_back(x.shape()[d]);
      strides.push_back(x.strides()[d]);
    }
  if (shape.size() == x.shape().size()) return x;
  return record_view("SqueezeBackward0", x, make_view(x, shape, strides, x.storage_offset()),
                     [in = x.shape()](Node&, GradList& g) -> GradList { return {reshape_grad_to(g[0], in)}; });
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  GRAFT_RECORD_FUNCTION("squeeze", x);
  check_defined("squeeze", "input", x);
  int64_t d = wrap_dim("squeeze", dim, x.dim());
  if (x.dim() == 0 || x.shape()[d] != 1) return x;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return record_view("SqueezeBackward1", x, make_view(x, shape, strides, x.storage_offset()),
                     [in = x.shape()](Node&, GradList& g) -> GradList { return {reshape_grad_to(g[0], in)}; });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  GRAFT_RECORD_FUNCTION("unsqueeze", x);
  check_defined("unsqueeze", "input", x);
  int64_t d = wrap_dim("unsqueeze", dim, x.dim() + 1);
  Shape shape = x.shape(), strides = x.strides();
  int64_t stride = d < x.dim() ? x.strides()[d] * x.shape()[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return record_view("UnsqueezeBackward0", x, make_view(x, shape, strides, x.storage_offset()),
                     [in = x.shape()](Node&, GradList& g) -> GradList { return {reshape_grad_to(g[0], in)}; });
}

Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start_in, std::optional<int64_t> end_in, int64_t step) {
  GRAFT_RECORD_FUNCTION("slice", x);
  check_defined("slice", "input", x);
  GRAFT_CHECK(x.dim() > 0, "slice: cannot slice a 0-dim tensor");
  GRAFT_CHECK(step > 0, "slice: step must be positive, got {}", step);
  const int64_t d = wrap_dim("slice", dim, x.dim());
  const int64_t size = x.shape()[d];
  int64_t start = start_in.value_or(0), end = end_in.value_or(size);
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  Shape shape = x.shape(), strides = x.strides();
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  return record_view("SliceBackward0", x, make_view(x, shape, strides, x.storage_offset() + start * x.strides()[d]),
                     [in = x.shape(), d, start, end, step](Node&, GradList& g) -> GradList {
                       return {slice_backward(g[0], in, d, start, end, step)};
                     });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  GRAFT_RECORD_FUNCTION("narrow", x);
  check_defined("narrow", "input", x);
  GRAFT_CHECK(x.dim() > 0, "narrow: cannot narrow a 0-dim tensor");
  const int64_t d = wrap_dim("narrow", dim, x.dim());
  const int64_t size = x.shape()[d];
  GRAFT_CHECK(start >= -size && start <= size, "narrow: start {} is out of range for dim {} of size {}", start, d, size);
  if (start < 0) start += size;
  GRAFT_CHECK(length >= 0 && start + length <= size,
              "narrow: start ({}) + length ({}) exceeds dim {} of size {}", start, length, d, size);
  return slice(x, d, start, start + length, 1);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  GRAFT_RECORD_FUNCTION("select", x);
  check_defined("select", "input", x);
  GRAFT_CHECK(x.dim() > 0, "select: cannot select from a 0-dim tensor");
  const int64_t d = wrap_dim("select", dim, x.dim());
  const int64_t size = x.shape()[d];
  GRAFT_CHECK(index >= -size && index < size, "select: index {} is out of range for dim {} of size {}", index, d, size);
  if (index < 0) index += size;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return record_view("SelectBackward0", x, make_view(x, shape, strides, x.storage_offset() + index * x.strides()[d]),
                     [in = x.shape(), d, index](Node&, GradList& g) -> GradList {
                       return {select_backward(g[0], in, d, index)};
                     });
}

namespace {

// Views of consecutive pieces of x along d with the given sizes. They share one backward node, which
// concatenates their gradients (zeros for pieces that got none), as PyTorch's SplitBackward0 does.
std::vector<Tensor> split_views(const char* node_name, const Tensor& x, int64_t d, const std::vector<int64_t>& sizes) {
  std::vector<Tensor> out;
  out.reserve(sizes.size());
  int64_t at = 0;
  for (int64_t size : sizes) {
    Shape shape = x.shape();
    shape[d] = size;
    out.push_back(make_view(x, shape, x.strides(), x.storage_offset() + at * x.strides()[d]));
    at += size;
  }
  if (auto node = make_node(node_name, {x}, [d](Node&, GradList& g) -> GradList {
        return {cat(std::vector<Tensor>(g.begin(), g.end()), d)};
      }))
    for (const Tensor& piece : out) set_history(piece, node);
  return out;
}

}  // namespace

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  GRAFT_RECORD_FUNCTION("split", x);
  check_defined("split", "input", x);
  GRAFT_CHECK(x.dim() > 0, "split: cannot split a 0-dim tensor");
  const int64_t d = wrap_dim("split", dim, x.dim());
  const int64_t size = x.shape()[d];
  GRAFT_CHECK(split_size >= 0, "split: split_size must be non-negative, got {}", split_size);
  GRAFT_CHECK(split_size > 0 || size == 0, "split: split_size can only be 0 if dim {} has size 0, but it has size {}", d,
              size);
  // One piece when split_size is 0 (and so is the dim) or larger than the dim, as in PyTorch.
  std::vector<int64_t> sizes;
  for (int64_t s = 0; s < size; s += split_size) sizes.push_back(std::min(split_size, size - s));
  if (sizes.empty()) sizes.push_back(0);
  return split_views("SplitBackward0", x, d, sizes);
}

std::vector<Tensor> split(const Tensor& x, IntList split_sizes, int64_t dim) {
  GRAFT_RECORD_FUNCTION("split", x);
  check_defined("split", "input", x);
  GRAFT_CHECK(x.dim() > 0, "split: cannot split a 0-dim tensor");
  const int64_t d = wrap_dim("split", dim, x.dim());
  int64_t total = 0;
  for (int64_t s : split_sizes) {
    GRAFT_CHECK(s >= 0, "split: split sizes must be non-negative, got {}", shape_str(split_sizes));
    total += s;
  }
  GRAFT_CHECK(total == x.shape()[d], "split: split sizes {} add up to {}, but dim {} has size {}", shape_str(split_sizes),
              total, d, x.shape()[d]);
  return split_views("SplitWithSizesBackward0", x, d, std::vector<int64_t>(split_sizes.begin(), split_sizes.end()));
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  GRAFT_RECORD_FUNCTION("chunk", x);
  check_defined("chunk", "input", x);
  GRAFT_CHECK(x.dim() > 0, "chunk: cannot chunk a 0-dim tensor");
  GRAFT_CHECK(chunks > 0, "chunk: number of chunks must be positive, got {}", chunks);
  const int64_t d = wrap_dim("chunk", dim, x.dim());
  const int64_t size = x.shape()[d];
  // PyTorch: pieces of ceil(size / chunks), so there may be fewer than `chunks`; an empty dim gives
  // `chunks` empty pieces.
  if (size == 0) return split_views("SplitWithSizesBackward0", x, d, std::vector<int64_t>(static_cast<size_t>(chunks), 0));
  return split(x, (size + chunks - 1) / chunks, d);
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  GRAFT_RECORD_FUNCTION("cat", tensors);
  GRAFT_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    GRAFT_CHECK(tensors[i].defined(), "cat: tensor {} is undefined", i);
  // As in PyTorch, 1-D empty tensors (shape [0]) are skipped whatever the other shapes (legacy behaviour
  // that lets `out = cat({out, x})` start from an empty tensor).
  auto skipped = [](const Tensor& t) { return t.dim() == 1 && t.numel() == 0; };
  size_t ref_i = 0;
  while (ref_i < tensors.size() && skipped(tensors[ref_i])) ++ref_i;
  if (ref_i == tensors.size()) ref_i = 0;
  const Tensor& ref = tensors[ref_i];
  GRAFT_CHECK(ref.dim() > 0, "cat: zero-dimensional tensor {} cannot be concatenated", ref_i);
  const int64_t d = wrap_dim("cat", dim, ref.dim());
  DType dt = ref.dtype();
  Shape shape = ref.shape();
  shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    dt = promote_types(dt, t.dtype());
    if (i != ref_i && skipped(t)) continue;
    GRAFT_CHECK(t.dim() == ref.dim(), "cat: tensor {} has {} dims (shape {}), but tensor {} has {} (shape {})", i, t.dim(),
                shape_str(t.shape()), ref_i, ref.dim(), shape_str(ref.shape()));
    for (int64_t k = 0; k < ref.dim(); ++k)
      GRAFT_CHECK(k == d || t.shape()[k] == ref.shape()[k],
                  "cat: tensors must have the same shape except in dim {}: tensor {} has shape {}, tensor {} has shape {}",
                  d, ref_i, shape_str(ref.shape()), i, shape_str(t.shape()));
    shape[d] += t.shape()[d];
  }
  Tensor out = empty_tensor(shape, dt);
  std::vector<int64_t> offsets(tensors.size(), 0), sizes(tensors.size(), -1);  // size -1: skipped
  int64_t at = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (i != ref_i && skipped(t)) continue;
    offsets[i] = at;
    sizes[i] = t.shape()[d];
    Shape part = out.shape();
    part[d] = sizes[i];
    loops::copy_into(make_view(out, part, out.strides(), at * out.strides()[d]), t);
    at += sizes[i];
  }
  if (auto node = make_node("CatBackward0", ArrayRef<Tensor>(tensors), [d, offsets, sizes](Node& n, GradList& g) -> GradList {
        GradList grads;
        for (size_t i = 0; i < offsets.size(); ++i)
          grads.push_back(!n.needs_input_grad(i) ? Tensor()
                          : sizes[i] < 0         ? zeros({0}, g[0].dtype())
                                                 : narrow(g[0], d, offsets[i], sizes[i]));
        return grads;
      }))
    set_history(out, node);
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  GRAFT_RECORD_FUNCTION("stack", tensors);
  GRAFT_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    GRAFT_CHECK(tensors[i].defined(), "stack: tensor {} is undefined", i);
    GRAFT_CHECK(tensors[i].shape() == tensors[0].shape(),
                "stack: expects each tensor to be equal size, but got {} at entry 0 and {} at entry {}",
                shape_str(tensors[0].shape()), shape_str(tensors[i].shape()), i);
  }
  const int64_t d = wrap_dim("stack", dim, tensors[0].dim() + 1);
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(unsqueeze(t, d));
  return cat(parts, d);
}

Tensor contiguous(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("contiguous", x);
  check_defined("contiguous", "input", x);
  return x.is_contiguous() ? x : clone(x);
}

Tensor clone(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("clone", x);
  check_defined("clone", "input", x);
  Tensor out = loops::contiguous_copy(x);
  if (auto node = make_node("CloneBackward0", {x}, [](Node&, GradList& g) -> GradList { return {g[0]}; }))
    set_history(out, node);
  return out;
}

Tensor to(const Tensor& x, DType dtype) {
  GRAFT_RECORD_FUNCTION("to", x);
  check_defined("to", "input", x);
  if (x.dtype() == dtype) return x;
  Tensor out = loops::copy_as(x, dtype);
  if (!is_floating(dtype)) return out;  // integer and bool results are outside the graph
  if (auto node = make_node("ToCopyBackward0", {x}, [from = x.dtype()](Node&, GradList& g) -> GradList {
        return {to(g[0], from)};
      }))
    set_history(out, node);
  return out;
}

Tensor slice_backward(const Tensor& grad, IntList input_shape, int64_t dim, int64_t start, int64_t end, int64_t step) {
  GRAFT_RECORD_FUNCTION("slice_backward", grad);
  check_defined("slice_backward", "grad", grad);
  GRAFT_CHECK(!input_shape.empty(), "slice_backward: input_shape must have at least 1 dim");
  dim = wrap_dim("slice_backward", dim, static_cast<int64_t>(input_shape.size()));
  const int64_t size = input_shape[dim];
  GRAFT_CHECK(step > 0, "slice_backward: step must be positive, got {}", step);
  GRAFT_CHECK(0 <= start && start <= end && end <= size,
              "slice_backward: the slice [{}, {}) does not fit dim {} of size {} (input shape {})", start, end, dim, size,
              shape_str(input_shape));
  Tensor out = zeros(input_shape, grad.dtype());
  Shape shape = out.shape(), strides = out.strides();
  shape[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  GRAFT_CHECK(shape == grad.shape(), "slice_backward: gradient of shape {} does not fit the slice {} of {}",
              shape_str(grad.shape()), shape_str(shape), shape_str(input_shape));
  loops::copy_into(make_view(out, shape, strides, start * out.strides()[dim]), grad);
  if (auto node = make_node("SliceBackwardBackward0", {grad}, [dim, start, end, step](Node&, GradList& g) -> GradList {
        return {slice(g[0], dim, start, end, step)};
      }))
    set_history(out, node);
  return out;
}

Tensor select_backward(const Tensor& grad, IntList input_shape, int64_t dim, int64_t index) {
  GRAFT_RECORD_FUNCTION("select_backward", grad);
  check_defined("select_backward", "grad", grad);
  GRAFT_CHECK(!input_shape.empty(), "select_backward: input_shape must have at least 1 dim");
  dim = wrap_dim("select_backward", dim, static_cast<int64_t>(input_shape.size()));
  const int64_t size = input_shape[dim];
  GRAFT_CHECK(index >= -size && index < size, "select_backward: index {} is out of range for dim {} of size {}", index,
              dim, size);
  if (index < 0) index += size;
  Tensor out = zeros(input_shape, grad.dtype());
  Shape shape = out.shape(), strides = out.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  GRAFT_CHECK(shape == grad.shape(), "select_backward: gradient of shape {} does not fit a slice {} of {}",
              shape_str(grad.shape()), shape_str(shape), shape_str(input_shape));
  loops::copy_into(make_view(out, shape, strides, index * out.strides()[dim]), grad);
  if (auto node = make_node("SelectBackwardBackward0", {grad}, [dim, index](Node&, GradList& g) -> GradList {
        return {select(g[0], dim, index)};
      }))
    set_history(out, node);
  return out;
}

}  // namespace graft
