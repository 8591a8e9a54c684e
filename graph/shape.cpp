#include "graft/graph/shape.h"

#include <ostream>

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "graft/graph/error.h"

namespace graft {

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape_str(shape); }

std::string shape_str(IntList shape) { return fmt::format("[{}]", fmt::join(shape.begin(), shape.end(), ", ")); }

int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t out = 0;
  GRAFT_CHECK(!__builtin_mul_overflow(a, b, &out), "{}: {} overflows int64 ({} * {})", op, what, a, b);
  return out;
}

int64_t checked_add(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t out = 0;
  GRAFT_CHECK(!__builtin_add_overflow(a, b, &out), "{}: {} overflows int64 ({} + {})", op, what, a, b);
  return out;
}

int64_t numel_of(IntList shape, const char* op) {
  bool empty = false;
  for (int64_t s : shape) {
    GRAFT_CHECK(s >= 0, "{}: negative size {} in shape {}", op, s, shape_str(shape));
    empty = empty || s == 0;
  }
  if (empty) return 0;
  int64_t n = 1;
  for (int64_t s : shape)
    GRAFT_CHECK(!__builtin_mul_overflow(n, s, &n),
                "{}: shape {} is too large: its number of elements overflows int64", op, shape_str(shape));
  return n;
}

int64_t nbytes_of(IntList shape, size_t element_size, const char* op) {
  int64_t bytes = 0;
  GRAFT_CHECK(!__builtin_mul_overflow(numel_of(shape, op), static_cast<int64_t>(element_size), &bytes),
              "{}: shape {} is too large: {} elements of {} bytes overflow int64 bytes", op, shape_str(shape),
              numel_of(shape, op), element_size);
  return bytes;
}

Shape contiguous_strides(IntList shape) {
  Shape strides(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = acc;
    if (i > 0)
      GRAFT_CHECK(!__builtin_mul_overflow(acc, std::max<int64_t>(shape[i], 1), &acc),
                  "contiguous_strides: shape {} is too large: its strides overflow int64", shape_str(shape));
  }
  return strides;
}

int64_t view_extent(IntList shape, IntList strides, int64_t offset, const char* op) {
  GRAFT_CHECK(shape.size() == strides.size(), "{}: shape {} and strides {} differ in length", op, shape_str(shape),
              shape_str(strides));
  GRAFT_CHECK(offset >= 0, "{}: negative storage offset {}", op, offset);
  for (size_t d = 0; d < shape.size(); ++d)
    GRAFT_CHECK(shape[d] >= 0 && strides[d] >= 0, "{}: negative size or stride in shape {} with strides {}", op,
                shape_str(shape), shape_str(strides));
  if (numel_of(shape, op) == 0) return offset;
  int64_t last = offset;  // the highest element index the view reads
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t reach = 0;
    GRAFT_CHECK(!__builtin_mul_overflow(shape[d] - 1, strides[d], &reach) && !__builtin_add_overflow(last, reach, &last),
                "{}: shape {} with strides {} and offset {} reaches beyond int64 elements", op, shape_str(shape),
                shape_str(strides), offset);
  }
  GRAFT_CHECK(last < std::numeric_limits<int64_t>::max(), "{}: shape {} with strides {} and offset {} reaches beyond "
              "int64 elements", op, shape_str(shape), shape_str(strides), offset);
  return last + 1;
}

void check_view_bounds(IntList shape, IntList strides, int64_t offset, int64_t storage_numel, const char* op) {
  const int64_t extent = view_extent(shape, strides, offset, op);
  // As PyTorch: a view with no elements reads nothing, so any offset fits any storage (narrowing an empty
  // tensor at start 2 gives one).
  GRAFT_CHECK(extent <= storage_numel || numel_of(shape, op) == 0,
              "{}: shape {} with strides {} at storage offset {} reaches element {}, beyond its storage of {} elements",
              op, shape_str(shape), shape_str(strides), offset, extent - 1, storage_numel);
}

bool is_contiguous_layout(IntList shape, IntList strides) {
  if (numel_of(shape) == 0) return true;  // as PyTorch: an empty tensor is contiguous whatever its strides
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim) {
  int64_t n = std::max<int64_t>(ndim, 1);
  GRAFT_CHECK(dim >= -n && dim < n, "{}: dim {} is out of range for a tensor of {} dims (expected in [{}, {}])", op, dim,
              ndim, -n, n - 1);
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const char* op, IntList a, IntList b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    GRAFT_CHECK(da == db || da == 1 || db == 1,
                "{}: shapes {} and {} cannot be broadcast together (dim {}: {} vs {})", op, shape_str(a),
                shape_str(b), static_cast<int64_t>(i) - static_cast<int64_t>(n), da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

bool is_expandable_to(IntList shape, IntList target) {
  if (shape.size() > target.size()) return false;
  size_t off = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && shape[i] != target[off + i]) return false;
  return true;
}

bool view_strides(IntList old_shape, IntList old_strides, IntList shape, Shape& out) {
  out.assign(shape.size(), 0);
  if (old_shape.empty()) {  // a 0-dim tensor views as any shape of ones
    out = contiguous_strides(shape);
    return true;
  }
  int64_t numel = numel_of(old_shape);
  if (numel == 0) {
    out = contiguous_strides(shape);
    return true;
  }
  // Walk the old dims in chunks that are contiguous among themselves; each chunk must map onto a run of new
  // dims with the same element count.
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Shape infer_shape(const char* op, IntList requested, int64_t numel) {
  Shape out(requested.begin(), requested.end());
  Shape known_sizes;
  int64_t infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      GRAFT_CHECK(infer_at < 0, "{}: only one dimension can be -1, got shape {}", op, shape_str(requested));
      infer_at = static_cast<int64_t>(i);
    } else {
      GRAFT_CHECK(out[i] >= 0, "{}: invalid size {} in shape {}", op, out[i], shape_str(requested));
      known_sizes.push_back(out[i]);
    }
  }
  int64_t known = 0;
  try {
    known = numel_of(known_sizes, op);
  } catch (const Error&) {
    GRAFT_FAIL("{}: shape {} is invalid: its sizes multiply beyond int64", op, shape_str(requested));
  }
  if (infer_at >= 0) {
    GRAFT_CHECK(known != 0 && numel % known == 0, "{}: shape {} is invalid for input of size {}", op,
                shape_str(requested), numel);
    out[infer_at] = numel / known;
  } else {
    GRAFT_CHECK(known == numel, "{}: shape {} is invalid for input of size {}", op, shape_str(requested), numel);
  }
  return out;
}

}  // namespace graft
