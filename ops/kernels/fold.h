#pragma once
// im2col / col2im over contiguous tensors: x (N, C, H, W), columns (N, C KH KW, OH OW).
#include <array>
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

struct BlockGeometry {
  std::array<int64_t, 2> kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};
  std::array<int64_t, 2> blocks{1, 1};  // block positions along H and W (OH, OW)
};

// columns[n, (c, i, j), (oh, ow)] = x[n, c, oh s - p + i d, ow s - p + j d], or 0 in the padding.
void im2col(const Tensor& x, const BlockGeometry& g, const Tensor& columns);
// x = 0, then every column element added back where im2col read it.
void col2im(const Tensor& columns, const BlockGeometry& g, const Tensor& x);

}  // namespace graft::kernels
