#include "graft/ops/kernels/embedding.h"

#include <cstring>
#include <vector>

#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

Tensor embedding_gather(const Tensor& weight, const Tensor& ids) {
  Tensor w = contiguous_data(weight);
  Tensor idx = contiguous_data(ids);
  const int64_t n = idx.numel(), dim = weight.shape()[1];
  Tensor out = empty_tensor({n, dim}, weight.dtype());
  if (out.numel() == 0) return out;  // no rows, or rows of dim 0: nothing to copy (and null buffers)
  const size_t row_bytes = static_cast<size_t>(dim) * weight.element_size();
  const char* src = static_cast<const char*>(w.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  const int64_t* ip = idx.data_ptr<int64_t>();
  parallel_for(n, n * dim, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      std::memcpy(dst + static_cast<size_t>(i) * row_bytes, src + static_cast<size_t>(ip[i]) * row_bytes, row_bytes);
  });
  return out;
}

Tensor embedding_backward(const Tensor& grad, const Tensor& ids, int64_t num_weights, int64_t padding_idx,
                          bool scale_grad_by_freq) {
  if (is_reduced_floating(grad.dtype()))  // rows summed in float32, rounded once
    return from_opmath(embedding_backward(to_opmath(grad), ids, num_weights, padding_idx, scale_grad_by_freq),
                       grad.dtype());
  Tensor g = contiguous_data(grad);
  Tensor idx = contiguous_data(ids);
  const int64_t n = idx.numel(), dim = grad.shape()[1];
  const int64_t* ip = idx.data_ptr<int64_t>();
  // Counting sort: the positions of each id, in order (CSR: start[v] .. start[v + 1]).
  std::vector<int64_t> start(static_cast<size_t>(num_weights) + 1, 0), order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ++start[static_cast<size_t>(ip[i]) + 1];
  for (int64_t v = 0; v < num_weights; ++v) start[static_cast<size_t>(v) + 1] += start[static_cast<size_t>(v)];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(fill[static_cast<size_t>(ip[i])]++)] = i;

  Tensor out = empty_tensor({num_weights, dim}, grad.dtype());
  dispatch_floating(grad.dtype(), "embedding_backward", [&]<class T>() {
    const T* gp = static_cast<const T*>(g.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    parallel_for(num_weights, num_weights * dim + n * dim, [&](int64_t b, int64_t e) {
      for (int64_t v = b; v < e; ++v) {
        T* row = op + v * dim;
        std::fill(row, row + dim, T(0));
        const int64_t first = start[static_cast<size_t>(v)], last = start[static_cast<size_t>(v) + 1];
        if (v == padding_idx || first == last) continue;
        for (int64_t k = first; k < last; ++k) {
          const T* src = gp + order[static_cast<size_t>(k)] * dim;
          for (int64_t d = 0; d < dim; ++d) row[d] += src[d];
        }
        if (scale_grad_by_freq) {
          const T scale = T(1) / static_cast<T>(last - first);
          for (int64_t d = 0; d < dim; ++d) row[d] *= scale;
        }
      }
    });
  });
  return out;
}

}  // namespace graft::kernels
