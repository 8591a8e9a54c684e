#include "graft/ops/kernels/reduce.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

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

// Element offset of kept index k (row-major over the kept dims).
int64_t kept_offset(const Split& s, int64_t k) {
  int64_t off = 0;
  for (size_t d = s.k_shape.size(); d-- > 0;) {
    off += (k % s.k_shape[d]) * s.k_strides[d];
    k /= s.k_shape[d];
  }
  return off;
}

// Calls f(offset, len, stride) for the innermost runs covering elements [b, e) (row-major) of a block with
// the given shape and element strides, starting at element offset `base`.
template <class F>
void for_each_run(const Shape& shape, const Shape& strides, int64_t base, int64_t b, int64_t e, F&& f) {
  if (b >= e) return;
  if (shape.empty()) {
    f(base, int64_t{1}, int64_t{0});
    return;
  }
  const size_t nd = shape.size();
  const int64_t len = shape[nd - 1], inner = strides[nd - 1];
  int64_t row = b / len, col = b % len;
  Shape idx(nd - 1, 0);
  int64_t off = base;
  for (size_t d = nd - 1; d-- > 0;) {
    idx[d] = row % shape[d];
    row /= shape[d];
    off += idx[d] * strides[d];
  }
  while (b < e) {
    const int64_t n = std::min(len - col, e - b);
    f(off + col * inner, n, inner);
    b += n;
    col = 0;
    for (size_t d = nd - 1; d-- > 0;) {
      off += strides[d];
      if (++idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// A buffer of accumulators (not std::vector, whose bool specialisation packs bits that threads share).
template <class Acc>
std::unique_ptr<Acc[]> filled(int64_t n, Acc value) {
  std::unique_ptr<Acc[]> p(new Acc[static_cast<size_t>(std::max<int64_t>(n, 1))]);
  std::fill(p.get(), p.get() + n, value);
  return p;
}

// Independent partial results per contiguous run, enough to fill two vector registers: a single
// accumulator makes a sum wait on the latency of every add, several let the compiler vectorise.
template <class Acc>
inline constexpr int64_t kLanes = 128 / static_cast<int64_t>(sizeof(Acc));

// A reduction is described by an Op with `Acc init`, `Acc step(Acc, T, k)`, `Acc combine(Acc, Acc)` and
// `TO finish(Acc, k)`, where k is the row-major index of the output element.
// An Op may also have `Acc contiguous(Acc, const T*, n)`, its own loop over a contiguous run.
template <class T, class Op>
typename Op::Acc accumulate(typename Op::Acc acc, const T* p, int64_t n, int64_t st, int64_t k, const Op& op) {
  using Acc = typename Op::Acc;
  if constexpr (requires { op.contiguous(acc, p, n); })
    if (st == 1) return op.contiguous(acc, p, n);
  constexpr int64_t L = kLanes<Acc>;
  int64_t i = 0;
  if (st == 1 && n >= 2 * L) {
    Acc lanes[L];
    for (int64_t j = 0; j < L; ++j) lanes[j] = op.init;
    for (; i + L <= n; i += L)
      for (int64_t j = 0; j < L; ++j) lanes[j] = op.step(lanes[j], p[i + j], k);
    for (int64_t w = L / 2; w >= 1; w /= 2)  // pairwise, so that the combining vectorises too
      for (int64_t j = 0; j < w; ++j) lanes[j] = op.combine(lanes[j], lanes[j + w]);
    acc = op.combine(acc, lanes[0]);
  }
  for (; i < n; ++i) acc = op.step(acc, p[i * st], k);
  return acc;
}

template <class T, class TO, class Op>
Tensor reduce(const Tensor& in, DimMask mask, DType out_dtype, const Op& op) {
  using Acc = typename Op::Acc;
  Tensor out = empty_tensor(keepdim_shape(in, mask), out_dtype);
  TO* o = static_cast<TO*>(out.data_ptr());
  const T* x = static_cast<const T*>(in.data_ptr());
  const Split s = split_dims(in, mask);
  if (s.num_k == 0) return out;
  const int64_t work = s.num_k * s.num_r;
  // How the work is split, and so the bits of a result, follows the user's thread count (get_num_threads()),
  // not the count running now, which adaptive threads vary and which is 1 inside a parallel region.
  const int64_t threads = get_num_threads();

  if (s.num_r == 1) {
    // Nothing to combine (the reduced dims have size 1): one pass over the kept elements.
    parallel_for(s.num_k, s.num_k, [&](int64_t b, int64_t e) {
      int64_t k = b;
      for_each_run(s.k_shape, s.k_strides, 0, b, e, [&](int64_t off, int64_t len, int64_t st) {
        for (int64_t i = 0; i < len; ++i, ++k) o[k] = op.finish(op.step(op.init, x[off + i * st], k), k);
      });
    });
    return out;
  }

  const bool column_order = s.num_k > 1 && !s.k_shape.empty() && s.k_strides.back() == 1 && !s.r_shape.empty() &&
                            s.r_strides.back() != 1;
  if (column_order) {
    // Sweep the reduced rows, accumulating contiguous pieces of kept rows at a time.
    const int64_t k_len = s.k_shape.back(), k_runs = s.num_k / k_len;
    auto acc = filled<Acc>(s.num_k, op.init);
    auto sweep = [&](int64_t rb, int64_t re, int64_t cb, int64_t ce) {
      for (int64_t kr = rb; kr < re; ++kr) {
        const int64_t k0 = kr * k_len;
        Acc* a = acc.get() + k0;
        for_each_run(s.r_shape, s.r_strides, kept_offset(s, k0), 0, s.num_r, [&](int64_t off, int64_t len, int64_t st) {
          for (int64_t i = 0; i < len; ++i) {
            const T* row = x + off + i * st;
            for (int64_t c = cb; c < ce; ++c) a[c] = op.step(a[c], row[c], k0 + c);
          }
        });
      }
    };
    if (k_runs >= threads) parallel_for(k_runs, work, [&](int64_t b, int64_t e) { sweep(b, e, 0, k_len); });
    else parallel_for(k_len, work, [&](int64_t b, int64_t e) { sweep(0, k_runs, b, e); });
    parallel_for(s.num_k, s.num_k, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) o[k] = op.finish(acc[k], k);
    });
    return out;
  }

  if (s.num_k < 2 * threads && threads > 1 && s.num_r >= kParallelGrain) {
    // A few outputs from many elements each: each output's elements are split into one chunk per thread the
    // user asked for, and the chunks' partial results are combined in chunk order: the same bits however
    // many threads run the chunks.
    const int64_t chunks = threads;
    const int64_t chunk_len = (s.num_r + chunks - 1) / chunks;
    auto partial = filled<Acc>(chunks, op.init);
    for (int64_t k = 0; k < s.num_k; ++k) {
      const int64_t base = kept_offset(s, k);
      parallel_for(chunks, s.num_r, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          Acc acc = op.init;
          for_each_run(s.r_shape, s.r_strides, base, c * chunk_len, std::min(s.num_r, (c + 1) * chunk_len),
                       [&](int64_t off, int64_t len, int64_t st) { acc = accumulate(acc, x + off, len, st, k, op); });
          partial[c] = acc;
        }
      });
      Acc acc = op.init;
      for (int64_t c = 0; c < chunks; ++c) acc = op.combine(acc, partial[c]);
      o[k] = op.finish(acc, k);
    }
    return out;
  }

  parallel_for(s.num_k, work, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      Acc acc = op.init;
      for_each_run(s.r_shape, s.r_strides, kept_offset(s, k), 0, s.num_r,
                   [&](int64_t off, int64_t len, int64_t st) { acc = accumulate(acc, x + off, len, st, k, op); });
      o[k] = op.finish(acc, k);
    }
  });
  return out;
}

// f32 sums accumulate in double; the other types in themselves (integers and bools in int64).
template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, float>, double, std::conditional_t<std::is_floating_point_v<T>, T, int64_t>>;

template <class T, class TO>
struct SumOp {
  using Acc = acc_t<T>;
  Acc init = Acc(0);
  Acc step(Acc a, T v, int64_t) const { return a + static_cast<Acc>(v); }
  Acc combine(Acc a, Acc b) const { return a + b; }
  TO finish(Acc a, int64_t) const { return static_cast<TO>(a); }
};

template <class T, class TO>
struct MeanOp : SumOp<T, TO> {
  using Acc = acc_t<T>;
  Acc count;
  explicit MeanOp(int64_t n) : count(static_cast<Acc>(n)) {}
  TO finish(Acc a, int64_t) const { return static_cast<TO>(a / count); }  // 0/0 is NaN
};

// c beats b: larger (smaller) or a NaN against a number. Written without branches so that loops of it
// vectorise.
template <class T, bool Largest>
inline bool beats(T c, T b) {
  if constexpr (std::is_floating_point_v<T>) return (Largest ? c > b : c < b) | ((c != c) & (b == b));
  else return Largest ? c > b : c < b;
}

template <class T, bool Largest>
struct ExtremeOp {
  using Acc = T;
  Acc init = std::is_floating_point_v<T> ? (Largest ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity())
                                         : (Largest ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max());
  Acc step(Acc a, T v, int64_t) const {
    // Bitwise |, not ||: no branch, so loops of it vectorise.
    if constexpr (std::is_floating_point_v<T>) return ((v != v) | (Largest ? v > a : v < a)) ? v : a;
    else return (Largest ? v > a : v < a) ? v : a;
  }
  Acc combine(Acc a, Acc b) const { return step(a, b, 0); }
  T finish(Acc a, int64_t) const { return a; }

  // Contiguous floats: a plain max/min (one vector instruction per lane register) with the NaNs counted on
  // the side, which is about three times faster than carrying the NaN test through every step.
  Acc contiguous(Acc acc, const T* p, int64_t n) const
    requires std::is_floating_point_v<T>
  {
    constexpr int64_t L = kLanes<T>;
    int64_t i = 0;
    if (n >= 2 * L) {
      T lanes[L], nans[L];
      for (int64_t j = 0; j < L; ++j) {
        lanes[j] = init;
        nans[j] = T(0);
      }
      for (; i + L <= n; i += L)
        for (int64_t j = 0; j < L; ++j) {
          const T v = p[i + j];
          lanes[j] = (Largest ? v > lanes[j] : v < lanes[j]) ? v : lanes[j];
          nans[j] += v != v ? T(1) : T(0);
        }
      for (int64_t w = L / 2; w >= 1; w /= 2)
        for (int64_t j = 0; j < w; ++j) {
          const T v = lanes[j + w];
          lanes[j] = (Largest ? v > lanes[j] : v < lanes[j]) ? v : lanes[j];
          nans[j] += nans[j + w];
        }
      if (nans[0] != T(0)) return std::numeric_limits<T>::quiet_NaN();
      acc = step(acc, lanes[0], 0);
    }
    for (; i < n; ++i) acc = step(acc, p[i], 0);
    return acc;
  }
};

template <class T>
struct SquaredDeviationOp {
  using Acc = acc_t<T>;
  const Acc* mean;
  Acc denom;
  Acc init = Acc(0);
  Acc step(Acc a, T v, int64_t k) const {
    const Acc d = static_cast<Acc>(v) - mean[k];
    return a + d * d;
  }
  Acc combine(Acc a, Acc b) const { return a + b; }
  T finish(Acc a, int64_t) const { return static_cast<T>(a / denom); }
};

// exp(x) for float without branches, so that loops of it vectorise (std::exp does not): Cephes' expf, a
// range reduction by ln 2 and a degree-6 polynomial, within 1e-7 relative. Results below 2.5e-38 (no
// longer normal floats) are flushed to 0, which includes exp(-inf); above 88.72 it gives inf.
inline float exp_float(float x) {
  constexpr float hi = 88.7228391f, lo = -86.6f;
  // lo first: std::max returns its first argument when the other is NaN, so a NaN x becomes lo here and never
  // reaches the float -> int conversion below (undefined for NaN); x != x returns it at the end.
  const float xc = std::min(std::max(lo, x), hi);
  const float n = std::nearbyint(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float q = 1.9875691500e-4f;
  q = q * r + 1.3981999507e-3f;
  q = q * r + 8.3334519073e-3f;
  q = q * r + 4.1665795894e-2f;
  q = q * r + 1.6666665459e-1f;
  q = q * r + 5.0000001201e-1f;
  q = q * r * r + r + 1.0f;
  // 2^n as 2^(n-1) * 2: n reaches 128 at the top of the range.
  float y = q * std::bit_cast<float>((static_cast<int32_t>(n) + 126) << 23) * 2.0f;
  y = x < lo ? 0.0f : y;
  y = x > hi ? std::numeric_limits<float>::infinity() : y;
  return x != x ? x : y;
}

template <class T>
inline T exp_fast(T x) {
  if constexpr (std::is_same_v<T, float>) return exp_float(x);
  else return std::exp(x);
}

template <class T>
struct SumExpOp {
  using Acc = acc_t<T>;
  const T* shift;  // finite, per output
  Acc init = Acc(0);
  Acc step(Acc a, T v, int64_t k) const { return a + static_cast<Acc>(exp_fast(v - shift[k])); }
  Acc combine(Acc a, Acc b) const { return a + b; }
  T finish(Acc a, int64_t k) const { return static_cast<T>(std::log(a) + static_cast<Acc>(shift[k])); }
};

int64_t reduced_count(const Tensor& in, DimMask mask) {
  int64_t n = 1;
  for (int64_t d = 0; d < in.dim(); ++d)
    if ((mask >> d) & 1) n *= in.shape()[d];
  return n;
}

template <bool Largest>
Tensor extreme(const Tensor& in, DimMask mask) {
  Tensor result;
  dispatch_non_half(in.dtype(), Largest ? "amax" : "amin", [&]<class T>() {
    result = reduce<T, T>(in, mask, in.dtype(), ExtremeOp<T, Largest>{});
  });
  return result;
}

}  // namespace

// bfloat16 and float16 reduce float32 copies and round the result once (PyTorch accumulates them in float32).
bool needs_opmath(const Tensor& in) { return is_reduced_floating(in.dtype()); }

Tensor sum(const Tensor& in, DimMask mask, DType out_dtype) {
  if (needs_opmath(in) || is_reduced_floating(out_dtype))
    return loops::from_opmath(sum(loops::to_opmath(in), mask, opmath_dtype(out_dtype)), out_dtype);
  Tensor result;
  dispatch_non_half(in.dtype(), "sum", [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      dispatch_floating(out_dtype, "sum", [&]<class TO>() { result = reduce<T, TO>(in, mask, out_dtype, SumOp<T, TO>{}); });
    } else {
      // Integers and bools sum to int64, as in PyTorch.
      GRAFT_CHECK(out_dtype == DType::Int64, "sum: an integer sum must be int64, not {}", dtype_name(out_dtype));
      result = reduce<T, int64_t>(in, mask, out_dtype, SumOp<T, int64_t>{});
    }
  });
  return result;
}

Tensor mean(const Tensor& in, DimMask mask) {
  if (needs_opmath(in)) return loops::from_opmath(mean(loops::to_opmath(in), mask), in.dtype());
  Tensor result;
  dispatch_floating(in.dtype(), "mean", [&]<class T>() {
    result = reduce<T, T>(in, mask, in.dtype(), MeanOp<T, T>(reduced_count(in, mask)));
  });
  return result;
}

// The extremes are exact in any dtype: 16-bit values go through float32 unchanged.
Tensor amax(const Tensor& in, DimMask mask) {
  return needs_opmath(in) ? loops::from_opmath(amax(loops::to_opmath(in), mask), in.dtype()) : extreme<true>(in, mask);
}
Tensor amin(const Tensor& in, DimMask mask) {
  return needs_opmath(in) ? loops::from_opmath(amin(loops::to_opmath(in), mask), in.dtype()) : extreme<false>(in, mask);
}

Tensor var(const Tensor& in, DimMask mask, int64_t correction) {
  if (needs_opmath(in)) return loops::from_opmath(var(loops::to_opmath(in), mask, correction), in.dtype());
  Tensor result;
  dispatch_floating(in.dtype(), "var", [&]<class T>() {
    using Acc = acc_t<T>;
    const int64_t n = reduced_count(in, mask);
    // The mean is kept in the accumulator's precision for the second pass.
    Tensor m = reduce<T, Acc>(in, mask, dtype_v<Acc>, MeanOp<T, Acc>(n));
    const Acc denom = static_cast<Acc>(std::max<int64_t>(n - correction, 0));  // no degrees of freedom: inf/NaN
    result = reduce<T, T>(in, mask, in.dtype(), SquaredDeviationOp<T>{m.data_ptr<Acc>(), denom});
  });
  return result;
}

Tensor logsumexp(const Tensor& in, DimMask mask) {
  if (needs_opmath(in)) return loops::from_opmath(logsumexp(loops::to_opmath(in), mask), in.dtype());
  Tensor result;
  dispatch_floating(in.dtype(), "logsumexp", [&]<class T>() {
    Tensor shift = reduce<T, T>(in, mask, in.dtype(), ExtremeOp<T, true>{});
    T* sp = shift.data_ptr<T>();
    for (int64_t k = 0; k < shift.numel(); ++k)
      if (std::isinf(sp[k])) sp[k] = T(0);  // all -inf (or no elements): -inf; any +inf: +inf
    result = reduce<T, T>(in, mask, in.dtype(), SumExpOp<T>{sp});
  });
  return result;
}

namespace {

// The best of p[0], p[st], ..., p[(n-1)*st] and its index (the first one on ties; the first NaN wins).
// Two passes: the value (a vectorised reduction), then the first position holding it.
template <class T, bool Largest>
void arg_run(const T* p, int64_t n, int64_t st, T& best, int64_t& at) {
  const ExtremeOp<T, Largest> op;
  const T v = accumulate(op.init, p, n, st, 0, op);
  int64_t i = 0;
  if (is_nan(v)) {
    while (!is_nan(p[i * st])) ++i;
  } else {
    while (p[i * st] != v) ++i;
  }
  best = v;
  at = i;
}

template <class T, bool Largest>
void arg_reduce_impl(const Tensor& in, int64_t dim, T* v, int64_t* idx) {
  const int64_t len = in.dim() > 0 ? in.shape()[dim] : 1;
  const int64_t stride = in.dim() > 0 ? in.strides()[dim] : 0;
  const Split s = split_dims(in, in.dim() > 0 ? (DimMask{1} << dim) : 0);
  const T* x = static_cast<const T*>(in.data_ptr());
  const int64_t work = s.num_k * len;
  if (s.num_k > 1 && len > 1 && stride != 1 && !s.k_shape.empty() && s.k_strides.back() == 1) {
    // Column order: sweep the slices along `dim`, updating a row of running bests (sequential memory).
    const int64_t k_len = s.k_shape.back(), k_runs = s.num_k / k_len;
    auto sweep = [&](int64_t rb, int64_t re, int64_t cb, int64_t ce) {
      for (int64_t kr = rb; kr < re; ++kr) {
        const int64_t k0 = kr * k_len;
        const T* base = x + kept_offset(s, k0);
        T* bv = v + k0;
        int64_t* bi = idx + k0;
        for (int64_t c = cb; c < ce; ++c) {
          bv[c] = base[c];
          bi[c] = 0;
        }
        for (int64_t i = 1; i < len; ++i) {
          const T* row = base + i * stride;
          for (int64_t c = cb; c < ce; ++c) {
            const T cv = row[c];
            const bool take = beats<T, Largest>(cv, bv[c]);
            bv[c] = take ? cv : bv[c];
            bi[c] = take ? i : bi[c];
          }
        }
      }
    };
    if (k_runs >= threads_for_next_region()) parallel_for(k_runs, work, [&](int64_t b, int64_t e) { sweep(b, e, 0, k_len); });
    else parallel_for(k_len, work, [&](int64_t b, int64_t e) { sweep(0, k_runs, b, e); });
    return;
  }
  parallel_for(s.num_k, work, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) arg_run<T, Largest>(x + kept_offset(s, k), len, stride, v[k], idx[k]);
  });
}

}  // namespace

void arg_reduce(const Tensor& in, int64_t dim, bool largest, Tensor& values, Tensor& indices) {
  if (needs_opmath(in)) {
    arg_reduce(loops::to_opmath(in), dim, largest, values, indices);
    values = loops::from_opmath(values, in.dtype());
    return;
  }
  Shape out_shape = in.shape();
  if (in.dim() > 0) out_shape[dim] = 1;
  values = empty_tensor(out_shape, in.dtype());
  indices = empty_tensor(out_shape, DType::Int64);
  if (values.numel() == 0) return;
  GRAFT_CHECK(in.dim() == 0 || in.shape()[dim] > 0, "{}: cannot reduce over dim {} of size 0", largest ? "max" : "min", dim);
  dispatch_non_half(in.dtype(), largest ? "max" : "min", [&]<class T>() {
    T* v = static_cast<T*>(values.data_ptr());
    int64_t* idx = indices.data_ptr<int64_t>();
    if (largest) arg_reduce_impl<T, true>(in, dim, v, idx);
    else arg_reduce_impl<T, false>(in, dim, v, idx);
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
    // float32 accumulates in double, bfloat16 and float16 in float (rounding each output, as PyTorch).
    using Acc = std::conditional_t<std::is_same_v<T, float>, double, opmath_t<T>>;
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
