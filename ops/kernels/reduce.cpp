#include "graft/ops/kernels/reduce.h"

#include <cmath>
#include <limits>
#include <vector>

#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

namespace {

// The kept (K) and reduced (R) dims of `in`, each coalesced, with element strides.
struct Split {
  Shape k_shape, k_strides, r_shape, r_strides;
  int64_t num_k = 1, num_r = 1;
};

void coalesce1(Shape& shape, Shape& strides) {
  Shape s, st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!s.empty() && st.back() == strides[d] * shape[d]) {
      s.back() *= shape[d];
      st.back() = strides[d];
      continue;
    }
    s.push_back(shape[d]);
    st.push_back(strides[d]);
  }
  shape = std::move(s);
  strides = std::move(st);
}

Split split_dims(const Tensor& in, DimMask mask) {
  Split s;
  for (int64_t d = 0; d < in.dim(); ++d) {
    if ((mask >> d) & 1) {
      s.r_shape.push_back(in.shape()[d]);
      s.r_strides.push_back(in.strides()[d]);
    } else {
      s.k_shape.push_back(in.shape()[d]);
      s.k_strides.push_back(in.strides()[d]);
    }
  }
  coalesce1(s.k_shape, s.k_strides);
  coalesce1(s.r_shape, s.r_strides);
  s.num_k = numel_of(s.k_shape);
  s.num_r = numel_of(s.r_shape);
  return s;
}

Shape keepdim_shape(const Tensor& in, DimMask mask) {
  Shape out = in.shape();
  for (int64_t d = 0; d < in.dim(); ++d)
    if ((mask >> d) & 1) out[d] = 1;
  return out;
}

// Calls f(offset, len, stride) for each innermost run of a block with the given shape and element strides.
template <class F>
void for_each_run(const Shape& shape, const Shape& strides, int64_t base, F&& f) {
  if (shape.empty()) {
    f(base, int64_t{1}, int64_t{0});
    return;
  }
  const size_t nd = shape.size();
  const int64_t len = shape[nd - 1], inner = strides[nd - 1];
  int64_t runs = numel_of(shape) / std::max<int64_t>(len, 1);
  Shape idx(nd, 0);
  int64_t off = base;
  for (int64_t r = 0; r < runs; ++r) {
    f(off, len, inner);
    for (size_t d = nd - 1; d-- > 0;) {
      off += strides[d];
      if (++idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// Element offset of kept index k (row-major over the kept dims).
int64_t kept_offset(const Split& s, int64_t k) {
  int64_t off = 0;
  for (size_t d = s.k_shape.size(); d-- > 0;) {
    off += (k % s.k_shape[d]) * s.k_strides[d];
    k /= s.k_shape[d];
  }
  return off;
}

// Generic reduction: R(init, step, finish) over the masked dims.
template <class T, class Acc, class TO, class Step, class Finish>
Tensor reduce(const Tensor& in, DimMask mask, DType out_dtype, Acc init, Step step, Finish finish) {
  Tensor out = empty_tensor(keepdim_shape(in, mask), out_dtype);
  TO* o = static_cast<TO*>(out.data_ptr());
  const T* x = static_cast<const T*>(in.data_ptr());
  Split s = split_dims(in, mask);
  if (s.num_k == 0) return out;

  const bool column_order = !s.k_shape.empty() && s.k_strides.back() == 1 && !s.r_shape.empty() &&
                            s.r_strides.back() != 1 && s.num_k > 1;
  if (!column_order) {
    if (s.num_k == 1 && worth_parallel(s.num_r)) {
      // One output from many elements: per-thread partials, combined in thread order (deterministic).
      std::vector<Acc> partial(static_cast<size_t>(omp_get_max_threads()), init);
      Shape r_outer(s.r_shape.begin(), s.r_shape.end() - 1), r_outer_strides(s.r_strides.begin(), s.r_strides.end() - 1);
      const int64_t len = s.r_shape.back(), inner = s.r_strides.back();
      const int64_t runs = numel_of(r_outer);
      if (runs == 1) {
        parallel_for(len, len, [&](int64_t b, int64_t e) {
          Acc acc = init;
          for (int64_t i = b; i < e; ++i) acc = step(acc, x[i * inner]);
          partial[static_cast<size_t>(omp_get_thread_num())] = acc;
        });
      } else {
        parallel_for(runs, s.num_r, [&](int64_t b, int64_t e) {
          Acc acc = init;
          for (int64_t r = b; r < e; ++r) {
            int64_t off = 0, rem = r;
            for (size_t d = r_outer.size(); d-- > 0;) {
              off += (rem % r_outer[d]) * r_outer_strides[d];
              rem /= r_outer[d];
            }
            for (int64_t i = 0; i < len; ++i) acc = step(acc, x[off + i * inner]);
          }
          partial[static_cast<size_t>(omp_get_thread_num())] = acc;
        });
      }
      Acc acc = init;
      for (const Acc& p : partial) acc = step(acc, p);
      o[0] = finish(acc);
      return out;
    }
    parallel_for(s.num_k, s.num_k * s.num_r, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        Acc acc = init;
        for_each_run(s.r_shape, s.r_strides, kept_offset(s, k), [&](int64_t off, int64_t len, int64_t st) {
          for (int64_t i = 0; i < len; ++i) acc = step(acc, x[off + i * st]);
        });
        o[k] = finish(acc);
      }
    });
    return out;
  }

  // Column order: sweep the reduced rows, accumulating whole kept rows (contiguous) at a time.
  const int64_t k_len = s.k_shape.back();
  const int64_t k_runs = s.num_k / k_len;
  std::vector<Acc> acc(static_cast<size_t>(s.num_k), init);
  parallel_for(k_len, s.num_k * s.num_r, [&](int64_t cb, int64_t ce) {
    for (int64_t kr = 0; kr < k_runs; ++kr) {
      int64_t k_base = kept_offset(s, kr * k_len);
      Acc* a = acc.data() + kr * k_len;
      for_each_run(s.r_shape, s.r_strides, k_base, [&](int64_t off, int64_t len, int64_t st) {
        for (int64_t i = 0; i < len; ++i) {
          const T* row = x + off + i * st;
          for (int64_t c = cb; c < ce; ++c) a[c] = step(a[c], row[c]);
        }
      });
    }
  });
  for (int64_t k = 0; k < s.num_k; ++k) o[k] = finish(acc[static_cast<size_t>(k)]);
  return out;
}

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

}  // namespace

Tensor sum(const Tensor& in, DimMask mask, DType out_dtype) {
  Tensor result;
  dispatch_all(in.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;
      auto step = [](Acc a, Acc v) { return a + v; };
      dispatch_floating(out_dtype, "sum", [&]<class TO>() {
        result = reduce<T, Acc, TO>(in, mask, out_dtype, Acc(0), step, [](Acc a) { return static_cast<TO>(a); });
      });
    } else {
      // Integers and bools sum to int64, as in PyTorch.
      GRAFT_CHECK(out_dtype == DType::Int64, "sum: an integer sum must be int64, not {}", dtype_name(out_dtype));
      result = reduce<T, int64_t, int64_t>(in, mask, out_dtype, int64_t{0},
                                           [](int64_t a, int64_t v) { return a + v; }, [](int64_t a) { return a; });
    }
  });
  return result;
}

namespace {
template <bool Largest>
Tensor extreme(const Tensor& in, DimMask mask, const char* name) {
  GRAFT_CHECK(in.dtype() != DType::Bool, "{}: not supported for bool tensors", name);
  Tensor result;
  dispatch_numeric(in.dtype(), name, [&]<class T>() {
    T init = Largest ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    auto step = [](T a, T v) {
      if (is_nan(a)) return a;
      if (is_nan(v)) return v;
      return Largest ? (v > a ? v : a) : (v < a ? v : a);
    };
    result = reduce<T, T, T>(in, mask, in.dtype(), init, step, [](T a) { return a; });
  });
  return result;
}
}  // namespace

Tensor amax(const Tensor& in, DimMask mask) { return extreme<true>(in, mask, "amax"); }
Tensor amin(const Tensor& in, DimMask mask) { return extreme<false>(in, mask, "amin"); }

void arg_reduce(const Tensor& in, int64_t dim, bool largest, Tensor& values, Tensor& indices) {
  Shape out_shape = in.shape();
  if (in.dim() > 0) out_shape[dim] = 1;
  values = empty_tensor(out_shape, in.dtype());
  indices = empty_tensor(out_shape, DType::Int64);
  const int64_t len = in.dim() > 0 ? in.shape()[dim] : 1;
  const int64_t stride = in.dim() > 0 ? in.strides()[dim] : 0;
  Split s = split_dims(in, in.dim() > 0 ? (DimMask{1} << dim) : 0);
  int64_t* idx = indices.data_ptr<int64_t>();
  dispatch_numeric(in.dtype(), largest ? "max" : "min", [&]<class T>() {
    const T* x = static_cast<const T*>(in.data_ptr());
    T* v = static_cast<T*>(values.data_ptr());
    parallel_for(s.num_k, s.num_k * len, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const T* row = x + kept_offset(s, k);
        int64_t best = 0;
        T bv = row[0];
        for (int64_t i = 1; i < len && !is_nan(bv); ++i) {
          T c = row[i * stride];
          if (is_nan(c) || (largest ? c > bv : c < bv)) {
            bv = c;
            best = i;
          }
        }
        v[k] = bv;
        idx[k] = best;
      }
    });
  });
}

Tensor cumsum(const Tensor& in, int64_t dim, bool reverse) {
  Tensor out = empty_tensor(in.shape(), in.dtype());
  if (in.numel() == 0) return out;
  const int64_t len = in.dim() > 0 ? in.shape()[dim] : 1;
  const int64_t stride = in.dim() > 0 ? in.strides()[dim] : 0;
  const int64_t ostride = in.dim() > 0 ? out.strides()[dim] : 0;
  Split s = split_dims(in, in.dim() > 0 ? (DimMask{1} << dim) : 0);
  Split so = split_dims(out, in.dim() > 0 ? (DimMask{1} << dim) : 0);
  dispatch_numeric(in.dtype(), "cumsum", [&]<class T>() {
    const T* x = static_cast<const T*>(in.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;
    parallel_for(s.num_k, s.num_k * len, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const T* row = x + kept_offset(s, k);
        T* orow = o + kept_offset(so, k);
        Acc acc = 0;
        for (int64_t j = 0; j < len; ++j) {
          int64_t i = reverse ? len - 1 - j : j;
          acc += row[i * stride];
          orow[i * ostride] = static_cast<T>(acc);
        }
      }
    });
  });
  return out;
}

}  // namespace graft::kernels
