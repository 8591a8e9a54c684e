#include "graft/ops/indexing.h"

#include <cstring>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/dim_layout.h"
#include "graft/ops/operators.h"
#include "graft/ops/shape.h"

namespace graft {

using namespace detail;

namespace {

void check_index_tensor(const char* op, const Tensor& index) {
  check_defined(op, "index", index);
  GRAFT_CHECK(index.dtype() == kInt64, "{}: index must be an int64 tensor, got {}", op, dtype_name(index.dtype()));
}

// Reads all indices, checking each against [0, size).
std::vector<int64_t> checked_indices(const char* op, const Tensor& index, int64_t size, int64_t dim) {
  std::vector<int64_t> idx = index.to_vector<int64_t>();
  for (int64_t i : idx)
    GRAFT_CHECK(i >= 0 && i < size, "{}: index {} is out of range for dim {} of size {}", op, i, dim, size);
  return idx;
}

// The positions of an index tensor (contiguous, `shape`) visited row by row: the rows are the positions of
// all dims but the last. offset(r, strides) is the element offset of row r's first position in a tensor
// with those strides, leaving out `dim` (the coordinate gather and scatter_add replace by the index).
struct IndexRows {
  Shape shape;
  int64_t dim, len, rows;
  IndexRows(IntList index_shape, int64_t dim_) : shape(index_shape.begin(), index_shape.end()), dim(dim_) {
    len = shape.empty() ? 1 : shape.back();
    rows = len == 0 ? 0 : numel_of(shape) / len;
  }
  int64_t offset(int64_t r, IntList strides, bool skip_dim) const {
    int64_t off = 0;
    for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) {
      const int64_t c = r % shape[d];
      r /= shape[d];
      if (!(skip_dim && d == dim)) off += c * strides[d];
    }
    return off;
  }
  int64_t last_stride(IntList strides) const { return shape.empty() ? 0 : strides.back(); }
};

// gather/scatter_add shape rules: same rank; index no larger than the others outside `dim`.
void check_gather_shapes(const char* op, const Tensor& x, int64_t dim, const Tensor& index, const Tensor* src) {
  GRAFT_CHECK(index.dim() == x.dim(), "{}: index has {} dims (shape {}) but input has {} (shape {}); they must match",
              op, index.dim(), shape_str(index.shape()), x.dim(), shape_str(x.shape()));
  for (int64_t d = 0; d < x.dim(); ++d) {
    GRAFT_CHECK(d == dim || index.shape()[d] <= x.shape()[d],
                "{}: index shape {} is larger than input shape {} in dim {} (only dim {} may differ)", op,
                shape_str(index.shape()), shape_str(x.shape()), d, dim);
    if (src)
      GRAFT_CHECK(index.shape()[d] <= src->shape()[d], "{}: index shape {} is larger than src shape {} in dim {}", op,
                  shape_str(index.shape()), shape_str(src->shape()), d);
  }
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  GRAFT_RECORD_FUNCTION("index_select", x, index);
  check_defined("index_select", "input", x);
  check_index_tensor("index_select", index);
  GRAFT_CHECK(index.dim() <= 1, "index_select: index must be 1-D (or 0-D), got shape {}", shape_str(index.shape()));
  const int64_t d = wrap_dim("index_select", dim, x.dim());
  GRAFT_CHECK(x.dim() > 0 || index.numel() == 1,
              "index_select: a 0-dim input takes exactly one index, got {} (index shape {})", index.numel(),
              shape_str(index.shape()));
  Tensor xc = loops::contiguous_data(x);
  const int64_t size = x.dim() == 0 ? 1 : x.shape()[d];
  std::vector<int64_t> idx = checked_indices("index_select", index, size, d);
  Shape shape = x.shape();
  if (x.dim() > 0) shape[d] = static_cast<int64_t>(idx.size());
  Tensor out = empty_tensor(shape, x.dtype());
  const kernels::DimLayout layout = kernels::dim_layout(x.shape(), x.dim() == 0 ? 0 : d);
  const int64_t outer = layout.outer, inner = layout.inner;
  const size_t row_bytes = static_cast<size_t>(inner) * x.element_size();
  const char* src = static_cast<const char*>(xc.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  const int64_t n = static_cast<int64_t>(idx.size());
  if (out.numel() > 0) {  // an empty result copies nothing (its buffers may be null)
    loops::parallel_for(outer * n, outer * n * inner, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        int64_t o = r / n, i = r % n;
        std::memcpy(dst + static_cast<size_t>(r) * row_bytes, src + static_cast<size_t>(o * size + idx[i]) * row_bytes, row_bytes);
      }
    });
  }
  if (auto node = make_node("IndexSelectBackward0", {x}, [d, shape = x.shape()](Node& n, GradList& g) -> GradList {
        return {index_add(zeros(shape, g[0].dtype()), d, n.saved(0), g[0])};
      })) {
    set_history(out, node);
    node->save(index);
  }
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source) {
  GRAFT_RECORD_FUNCTION("index_add", x, index, source);
  check_defined("index_add", "input", x);
  check_defined("index_add", "source", source);
  check_index_tensor("index_add", index);
  GRAFT_CHECK(index.dim() <= 1, "index_add: index must be 1-D (or 0-D), got shape {}", shape_str(index.shape()));
  const int64_t d = wrap_dim("index_add", dim, x.dim());
  Shape expect = x.shape();
  if (x.dim() > 0) expect[d] = index.numel();
  GRAFT_CHECK(source.shape() == expect, "index_add: source has shape {}, expected {} (input {} with dim {} of size {})",
              shape_str(source.shape()), shape_str(expect), shape_str(x.shape()), d, index.numel());
  const int64_t size = x.dim() == 0 ? 1 : x.shape()[d];
  std::vector<int64_t> idx = checked_indices("index_add", index, size, d);
  DType dt = promote_types(x.dtype(), source.dtype());
  Tensor out = loops::copy_as(x, dt);
  Tensor src = loops::copy_as(source, dt);
  const kernels::DimLayout layout = kernels::dim_layout(x.shape(), x.dim() == 0 ? 0 : d);
  const int64_t outer = layout.outer, inner = layout.inner;
  const int64_t n = static_cast<int64_t>(idx.size());
  dispatch_numeric(dt, "index_add", [&]<class T>() {
    T* o = static_cast<T*>(out.data_ptr());
    const T* s = static_cast<const T*>(src.data_ptr());
    // Several indices may hit the same row, so threads split the outer dim or, when there is none (dim 0,
    // an embedding's gradient), the columns: never the indices.
    auto add_rows = [&](int64_t ob, int64_t oe, int64_t cb, int64_t ce) {
      for (int64_t oo = ob; oo < oe; ++oo)
        for (int64_t i = 0; i < n; ++i) {
          T* dst = o + (oo * size + idx[i]) * inner;
          const T* row = s + (oo * n + i) * inner;
          for (int64_t k = cb; k < ce; ++k) dst[k] += row[k];
        }
    };
    if (outer >= threads_for_next_region())
      loops::parallel_for(outer, outer * n * inner, [&](int64_t b, int64_t e) { add_rows(b, e, 0, inner); });
    else
      loops::parallel_for(inner, outer * n * inner, [&](int64_t b, int64_t e) { add_rows(0, outer, b, e); });
  });
  if (auto node = make_node("IndexAddBackward0", {x, source}, [d](Node& n, GradList& g) -> GradList {
        return {g[0], n.needs_input_grad(1) ? index_select(g[0], d, n.saved(0)) : Tensor()};
      })) {
    set_history(out, node);
    node->save(index);
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  GRAFT_RECORD_FUNCTION("gather", x, index);
  check_defined("gather", "input", x);
  check_index_tensor("gather", index);
  const int64_t d = wrap_dim("gather", dim, x.dim());
  check_gather_shapes("gather", x, d, index, nullptr);
  const int64_t size = x.dim() == 0 ? 1 : x.shape()[d];
  Tensor idx = loops::contiguous_data(index);
  const int64_t* ip = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i)
    GRAFT_CHECK(ip[i] >= 0 && ip[i] < size, "gather: index {} is out of range for dim {} of size {}", ip[i], d, size);
  Tensor out = empty_tensor(index.shape(), x.dtype());
  const IndexRows rows(index.shape(), d);
  const int64_t xs_d = x.dim() == 0 ? 0 : x.strides()[d], xs_last = rows.last_stride(x.strides());
  const bool along_last = x.dim() == 0 || d == x.dim() - 1;
  dispatch_all(x.dtype(), [&]<class T>() {
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    loops::parallel_for(rows.rows, idx.numel(), [&](int64_t rb, int64_t re) {
      for (int64_t r = rb; r < re; ++r) {
        const T* xrow = xp + rows.offset(r, x.strides(), true);
        const int64_t* irow = ip + r * rows.len;
        T* orow = op + r * rows.len;
        if (along_last)
          for (int64_t c = 0; c < rows.len; ++c) orow[c] = xrow[irow[c] * xs_d];
        else
          for (int64_t c = 0; c < rows.len; ++c) orow[c] = xrow[c * xs_last + irow[c] * xs_d];
      }
    });
  });
  if (auto node = make_node("GatherBackward0", {x}, [d, shape = x.shape()](Node& n, GradList& g) -> GradList {
        return {scatter_add(zeros(shape, g[0].dtype()), d, n.saved(0), g[0])};
      })) {
    set_history(out, node);
    node->save(index);
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  GRAFT_RECORD_FUNCTION("scatter_add", x, index, src);
  check_defined("scatter_add", "input", x);
  check_defined("scatter_add", "src", src);
  check_index_tensor("scatter_add", index);
  const int64_t d = wrap_dim("scatter_add", dim, x.dim());
  GRAFT_CHECK(src.dim() == x.dim(), "scatter_add: src has {} dims (shape {}) but input has {} (shape {})", src.dim(),
              shape_str(src.shape()), x.dim(), shape_str(x.shape()));
  check_gather_shapes("scatter_add", x, d, index, &src);
  const int64_t size = x.dim() == 0 ? 1 : x.shape()[d];
  Tensor idx = loops::contiguous_data(index);
  const int64_t* ip = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i)
    GRAFT_CHECK(ip[i] >= 0 && ip[i] < size, "scatter_add: index {} is out of range for dim {} of size {}", ip[i], d, size);
  DType dt = promote_types(x.dtype(), src.dtype());
  Tensor out = loops::copy_as(x, dt);
  Tensor s = as_dtype(src, dt);
  const IndexRows rows(index.shape(), d);
  const int64_t os_d = x.dim() == 0 ? 0 : out.strides()[d], os_last = rows.last_stride(out.strides());
  const int64_t ss_last = rows.last_stride(s.strides());
  const bool along_last = x.dim() == 0 || d == x.dim() - 1;
  dispatch_numeric(dt, "scatter_add", [&]<class T>() {
    T* op = static_cast<T*>(out.data_ptr());
    const T* sp = static_cast<const T*>(s.data_ptr());
    // Positions [cb, ce) of rows [rb, re). Two positions can hit the same output element only when they
    // differ in nothing but `dim`: along the last dim that is within a row, so threads take whole rows;
    // otherwise it is within a column, so threads take ranges of columns.
    auto add = [&](int64_t rb, int64_t re, int64_t cb, int64_t ce) {
      for (int64_t r = rb; r < re; ++r) {
        T* orow = op + rows.offset(r, out.strides(), true);
        const T* srow = sp + rows.offset(r, s.strides(), false);
        const int64_t* irow = ip + r * rows.len;
        if (along_last)
          for (int64_t c = cb; c < ce; ++c) orow[irow[c] * os_d] += srow[c * ss_last];
        else
          for (int64_t c = cb; c < ce; ++c) orow[c * os_last + irow[c] * os_d] += srow[c * ss_last];
      }
    };
    if (along_last)
      loops::parallel_for(rows.rows, idx.numel(), [&](int64_t b, int64_t e) { add(b, e, 0, rows.len); });
    else
      loops::parallel_for(rows.len, idx.numel(), [&](int64_t b, int64_t e) { add(0, rows.rows, b, e); });
  });
  if (auto node = make_node("ScatterAddBackward0", {x, src}, [d, src_shape = src.shape()](Node& n, GradList& g) -> GradList {
        if (!n.needs_input_grad(1)) return {g[0], Tensor()};
        // src may be larger than index: its elements outside index's extent were not used (zero gradient).
        // PyTorch raises there ("invalid gradient"); graft pads.
        Tensor gs = gather(g[0], d, n.saved(0));
        for (int64_t k = 0; k < gs.dim(); ++k)
          if (gs.shape()[k] != src_shape[k]) {
            Shape padded = gs.shape();
            padded[k] = src_shape[k];
            gs = slice_backward(gs, padded, k, 0, gs.shape()[k], 1);
          }
        return {g[0], gs};
      })) {
    set_history(out, node);
    node->save(index);
  }
  return out;
}

namespace {
Tensor triangle(const char* op, const char* node_name, const Tensor& x, int64_t k, bool lower) {
  check_defined(op, "input", x);
  GRAFT_CHECK(x.dim() >= 2, "{}: input must have at least 2 dims, got shape {}", op, shape_str(x.shape()));
  Tensor xc = loops::contiguous_data(x);
  Tensor out = empty_tensor(x.shape(), x.dtype());
  const int64_t R = x.shape()[x.dim() - 2], C = x.shape()[x.dim() - 1];
  const int64_t mats = R * C == 0 ? 0 : x.numel() / (R * C);
  dispatch_all(x.dtype(), [&]<class T>() {
    const T* xp = static_cast<const T*>(xc.data_ptr());
    T* op_ = static_cast<T*>(out.data_ptr());
    loops::parallel_for(mats * R, mats * R * C, [&](int64_t rb, int64_t re) {
      for (int64_t mr = rb; mr < re; ++mr) {
        const int64_t r = mr % R;
        const T* in_row = xp + mr * C;
        T* out_row = op_ + mr * C;
        for (int64_t c = 0; c < C; ++c) {
          const bool keep = lower ? c - r <= k : c - r >= k;
          out_row[c] = keep ? in_row[c] : T(0);
        }
      }
    });
  });
  if (auto node = make_node(node_name, {x}, [k, lower](Node&, GradList& g) -> GradList {
        return {lower ? tril(g[0], k) : triu(g[0], k)};
      }))
    set_history(out, node);
  return out;
}
}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) {
  GRAFT_RECORD_FUNCTION("tril", x);
  return triangle("tril", "TrilBackward0", x, diagonal, true);
}
Tensor triu(const Tensor& x, int64_t diagonal) {
  GRAFT_RECORD_FUNCTION("triu", x);
  return triangle("triu", "TriuBackward0", x, diagonal, false);
}

}  // namespace graft
