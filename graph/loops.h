#pragma once
// Elementwise loops over strided, broadcast operands: the one piece of iteration code every pointwise,
// comparison and copy kernel shares (ops/kernels uses them as its own: ops/kernels/loops.h), and what a
// user's own kernel can build on.
//
// An operand is described by a base pointer and byte strides aligned with the loop shape (0 along
// broadcast dims). for_each_row coalesces dims that are contiguous across all operands, then calls
// row(ptrs, inner_strides, n) for each innermost run; map<...> layers typed loops with contiguous fast
// paths on top. Large loops are split across OpenMP threads (oneDNN's runtime; see DEVELOPERS.md); loops must not run inside
// an OpenMP region of their own making other than through parallel_for.
#include <omp.h>

#include <array>
#include <cstdint>

#include "graft/graph/tensor.h"
#include "graft/graph/threads.h"

namespace graft::loops {

/// Below this many elements a loop stays on one thread: an OpenMP region costs about a microsecond.
inline constexpr int64_t kParallelGrain = 32768;

/// Whether `work` elements are worth a parallel region now: enough of them, and more than one thread to run
/// them on (threads_for_next_region(), which is 1 inside a region and while the CPUs are oversubscribed).
inline bool worth_parallel(int64_t work) { return work >= kParallelGrain && threads_for_next_region() > 1; }

/// Runs f(begin, end) over [0, n), split into one contiguous range per thread when n is large (as many
/// threads as threads_for_next_region() gives).
template <class F>
void parallel_for(int64_t n, int64_t work, F&& f) {
  const int threads = work >= kParallelGrain && n >= 2 ? threads_for_next_region() : 1;
  if (threads <= 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t chunk = (n + threads - 1) / threads;
    int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) f(b, e);
  }
}

/// Byte strides of `t` broadcast to `shape` (right-aligned; 0 where t has size 1 or lacks the dim).
inline Shape broadcast_byte_strides(const Tensor& t, IntList shape) {
  Shape out(shape.size(), 0);
  const Shape& ts = t.shape();
  const Shape& st = t.strides();
  size_t off = shape.size() - ts.size();
  int64_t es = static_cast<int64_t>(t.element_size());
  for (size_t d = 0; d < ts.size(); ++d) out[off + d] = ts[d] == 1 ? 0 : st[d] * es;
  return out;
}

template <size_t N>
struct Operands {
  std::array<char*, N> data;
  std::array<Shape, N> strides;  // bytes, aligned with the loop shape
};

/// Drops size-1 dims and merges neighbours that are contiguous in every operand.
template <size_t N>
void coalesce(Shape& shape, std::array<Shape, N>& strides) {
  Shape s;
  std::array<Shape, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!s.empty()) {
      bool merge = true;
      for (size_t k = 0; k < N; ++k) merge = merge && st[k].back() == strides[k][d] * shape[d];
      if (merge) {
        s.back() *= shape[d];
        for (size_t k = 0; k < N; ++k) st[k].back() = strides[k][d];
        continue;
      }
    }
    s.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][d]);
  }
  shape = std::move(s);
  strides = std::move(st);
}

/// row(std::array<char*, N> ptrs, const std::array<int64_t, N>& inner_strides, int64_t n) for every
/// innermost run of the loop. Rows may run on several threads at once: they must not write shared state
/// other than through ptrs[...] of distinct output elements.
template <size_t N, class Row>
void for_each_row(Shape shape, Operands<N> ops, Row&& row) {
  coalesce(shape, ops.strides);
  const int64_t numel = numel_of(shape);
  if (numel == 0) return;
  std::array<int64_t, N> inner{};
  if (shape.empty()) {
    row(ops.data, inner, int64_t{1});
    return;
  }
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t len = shape[nd - 1];
  for (size_t k = 0; k < N; ++k) inner[k] = ops.strides[k][nd - 1];
  const int64_t rows = numel / len;
  if (rows == 1) {  // one long run: split it
    parallel_for(len, numel, [&](int64_t b, int64_t e) {
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = ops.data[k] + b * inner[k];
      row(p, inner, e - b);
    });
    return;
  }
  parallel_for(rows, numel, [&](int64_t r0, int64_t r1) {
    Shape idx(static_cast<size_t>(nd - 1), 0);
    std::array<char*, N> p = ops.data;
    int64_t rem = r0;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
      for (size_t k = 0; k < N; ++k) p[k] += idx[d] * ops.strides[k][d];
    }
    for (int64_t r = r0; r < r1; ++r) {
      row(p, inner, len);
      for (int64_t d = nd - 2; d >= 0; --d) {
        for (size_t k = 0; k < N; ++k) p[k] += ops.strides[k][d];
        if (++idx[d] < shape[d]) break;
        for (size_t k = 0; k < N; ++k) p[k] -= ops.strides[k][d] * shape[d];
        idx[d] = 0;
      }
    }
  });
}

// ---- typed maps: out[i] = op(in_0[i], in_1[i], ...), inputs broadcast to out's shape ----

namespace detail {
template <class T>
inline T* at(char* p, int64_t i, int64_t stride) { return reinterpret_cast<T*>(p + i * stride); }
}  // namespace detail

/// out = op(a); out may be any layout (in-place writes into views).
template <class TO, class TA, class Op>
void map1(const Tensor& out, const Tensor& a, Op op) {
  const int64_t n = out.numel();
  if (out.is_contiguous() && a.is_contiguous() && a.numel() == n) {
    TO* o = static_cast<TO*>(out.data_ptr());
    const TA* x = static_cast<const TA*>(a.data_ptr());
    parallel_for(n, n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = op(x[i]);
    });
    return;
  }
  Operands<2> ops{{static_cast<char*>(out.data_ptr()), static_cast<char*>(a.data_ptr())},
                  {broadcast_byte_strides(out, out.shape()), broadcast_byte_strides(a, out.shape())}};
  for_each_row(out.shape(), ops, [&](std::array<char*, 2> p, const std::array<int64_t, 2>& s, int64_t len) {
    if (s[0] == sizeof(TO) && s[1] == sizeof(TA)) {
      TO* o = reinterpret_cast<TO*>(p[0]);
      const TA* x = reinterpret_cast<const TA*>(p[1]);
      for (int64_t i = 0; i < len; ++i) o[i] = op(x[i]);
    } else {
      for (int64_t i = 0; i < len; ++i) *detail::at<TO>(p[0], i, s[0]) = op(*detail::at<TA>(p[1], i, s[1]));
    }
  });
}

/// out = op(a, b) with a and b broadcast to out's shape.
template <class TO, class TA, class TB, class Op>
void map2(const Tensor& out, const Tensor& a, const Tensor& b, Op op) {
  const int64_t n = out.numel();
  if (out.is_contiguous() && a.is_contiguous() && b.is_contiguous()) {
    TO* o = static_cast<TO*>(out.data_ptr());
    const TA* x = static_cast<const TA*>(a.data_ptr());
    const TB* y = static_cast<const TB*>(b.data_ptr());
    if (a.numel() == n && b.numel() == n) {
      parallel_for(n, n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) o[i] = op(x[i], y[i]);
      });
      return;
    }
    if (a.numel() == n && b.numel() == 1) {
      const TB yv = *y;
      parallel_for(n, n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) o[i] = op(x[i], yv);
      });
      return;
    }
    if (a.numel() == 1 && b.numel() == n) {
      const TA xv = *x;
      parallel_for(n, n, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) o[i] = op(xv, y[i]);
      });
      return;
    }
  }
  Operands<3> ops{{static_cast<char*>(out.data_ptr()), static_cast<char*>(a.data_ptr()), static_cast<char*>(b.data_ptr())},
                  {broadcast_byte_strides(out, out.shape()), broadcast_byte_strides(a, out.shape()),
                   broadcast_byte_strides(b, out.shape())}};
  for_each_row(out.shape(), ops, [&](std::array<char*, 3> p, const std::array<int64_t, 3>& s, int64_t len) {
    if (s[0] == sizeof(TO) && s[1] == sizeof(TA) && s[2] == sizeof(TB)) {
      TO* o = reinterpret_cast<TO*>(p[0]);
      const TA* x = reinterpret_cast<const TA*>(p[1]);
      const TB* y = reinterpret_cast<const TB*>(p[2]);
      for (int64_t i = 0; i < len; ++i) o[i] = op(x[i], y[i]);
    } else if (s[0] == sizeof(TO) && s[1] == sizeof(TA) && s[2] == 0) {
      TO* o = reinterpret_cast<TO*>(p[0]);
      const TA* x = reinterpret_cast<const TA*>(p[1]);
      const TB yv = *reinterpret_cast<const TB*>(p[2]);
      for (int64_t i = 0; i < len; ++i) o[i] = op(x[i], yv);
    } else {
      for (int64_t i = 0; i < len; ++i)
        *detail::at<TO>(p[0], i, s[0]) = op(*detail::at<TA>(p[1], i, s[1]), *detail::at<TB>(p[2], i, s[2]));
    }
  });
}

/// out = op(a, b, c) with all inputs broadcast to out's shape.
template <class TO, class TA, class TB, class TC, class Op>
void map3(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c, Op op) {
  Operands<4> ops{{static_cast<char*>(out.data_ptr()), static_cast<char*>(a.data_ptr()), static_cast<char*>(b.data_ptr()),
                   static_cast<char*>(c.data_ptr())},
                  {broadcast_byte_strides(out, out.shape()), broadcast_byte_strides(a, out.shape()),
                   broadcast_byte_strides(b, out.shape()), broadcast_byte_strides(c, out.shape())}};
  for_each_row(out.shape(), ops, [&](std::array<char*, 4> p, const std::array<int64_t, 4>& s, int64_t len) {
    for (int64_t i = 0; i < len; ++i)
      *detail::at<TO>(p[0], i, s[0]) =
          op(*detail::at<TA>(p[1], i, s[1]), *detail::at<TB>(p[2], i, s[2]), *detail::at<TC>(p[3], i, s[3]));
  });
}

}  // namespace graft::loops
