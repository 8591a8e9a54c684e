#include "graft/ops/kernels/sort.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "graft/ops/kernels/loops.h"
#include "graft/ops/kernels/dim_layout.h"

namespace graft::kernels {

namespace {

// "a comes before b": ascending with NaN last, or descending with NaN first.
template <class T>
bool before(T a, T b, bool descending) {
  if (descending) return !is_nan(b) && (is_nan(a) || a > b);
  return !is_nan(a) && (is_nan(b) || a < b);
}

// Runs lane(values_in, k_out_offset...) over every lane along `dim` of a contiguous tensor: the lane's elements
// are at base + l * inner for l in [0, len); the k outputs of the lane go to out_base + j * inner.
template <class T, class Lane>
void for_each_lane(const Tensor& in, int64_t dim, int64_t k, Tensor& values, Tensor& indices, Lane lane) {
  Tensor x = contiguous_data(in);
  const Shape& shape = in.shape();
  const DimLayout layout = dim_layout(shape, dim);
  const int64_t len = layout.size, outer = layout.outer, inner = layout.inner;
  const T* xp = static_cast<const T*>(x.data_ptr());
  T* vp = static_cast<T*>(values.data_ptr());
  int64_t* ip = indices.data_ptr<int64_t>();
  const int64_t lanes = outer * inner;
  const double log_len = std::log2(static_cast<double>(std::max<int64_t>(len, 2)));
  parallel_for(lanes, static_cast<int64_t>(static_cast<double>(lanes * len) * log_len), [&](int64_t b, int64_t e) {
    std::vector<T> buf(static_cast<size_t>(len));
    std::vector<int64_t> order(static_cast<size_t>(len));
    for (int64_t ln = b; ln < e; ++ln) {
      const int64_t o = ln / inner, i = ln % inner;
      const T* src = xp + o * len * inner + i;
      for (int64_t l = 0; l < len; ++l) buf[static_cast<size_t>(l)] = src[l * inner];
      std::iota(order.begin(), order.end(), int64_t{0});
      lane(buf, order);
      const int64_t out_base = o * k * inner + i;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t from = order[static_cast<size_t>(j)];
        vp[out_base + j * inner] = buf[static_cast<size_t>(from)];
        ip[out_base + j * inner] = from;
      }
    }
  });
}

Shape with_dim_size(IntList shape, int64_t dim, int64_t size) {
  Shape s(shape.begin(), shape.end());
  if (!s.empty()) s[static_cast<size_t>(dim)] = size;
  return s;
}

}  // namespace

void sort(const Tensor& in, int64_t dim, bool descending, Tensor& values, Tensor& indices) {
  values = empty_tensor(in.shape(), in.dtype());
  indices = empty_tensor(in.shape(), DType::Int64);
  if (in.numel() == 0) return;
  const int64_t len = in.dim() == 0 ? 1 : in.shape()[static_cast<size_t>(dim)];
  dispatch_all(in.dtype(), [&]<class T>() {
    for_each_lane<T>(in, dim, len, values, indices, [&](const std::vector<T>& buf, std::vector<int64_t>& order) {
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return before(buf[static_cast<size_t>(a)], buf[static_cast<size_t>(b)], descending);
      });
    });
  });
}

void topk(const Tensor& in, int64_t k, int64_t dim, bool largest, bool sorted, Tensor& values, Tensor& indices) {
  values = empty_tensor(with_dim_size(in.shape(), dim, k), in.dtype());
  indices = empty_tensor(values.shape(), DType::Int64);
  if (values.numel() == 0) return;
  dispatch_all(in.dtype(), [&]<class T>() {
    for_each_lane<T>(in, dim, k, values, indices, [&](const std::vector<T>& buf, std::vector<int64_t>& order) {
      // A strict total order (ties broken by index), so the selection is deterministic.
      auto first = [&](int64_t a, int64_t b) {
        const T va = buf[static_cast<size_t>(a)], vb = buf[static_cast<size_t>(b)];
        if (before(va, vb, largest)) return true;
        if (before(vb, va, largest)) return false;
        return a < b;
      };
      const auto kth = order.begin() + k;
      if (sorted) {
        std::partial_sort(order.begin(), kth, order.end(), first);
      } else {
        if (kth != order.end()) std::nth_element(order.begin(), kth, order.end(), first);
        std::sort(order.begin(), kth);
      }
    });
  });
}

}  // namespace graft::kernels
