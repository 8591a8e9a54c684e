#pragma once
// im2col / col2im over contiguous tensors: x (N, C, H, W), columns (N, C KH KW, OH OW).
#include <algorithm>
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

// The output columns [begin, end) whose input column ow * stride + offset falls inside [0, width)
// (offset = tap * dilation - padding): the rest of a row reads padding.
struct ColumnRange {
  int64_t begin, end;
};
inline ColumnRange valid_columns(int64_t width, int64_t out_width, int64_t stride, int64_t offset) {
  int64_t begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t end = width - offset <= 0 ? 0 : (width - offset + stride - 1) / stride;
  return {std::min(begin, out_width), std::min(std::max(end, begin), out_width)};
}

// im2col of one h x w plane: columns[(i, j), (oh, ow)], (KH KW) rows of (OH OW) values, row by row with the
// padding filled around each row's valid run (no test per element).
template <class T>
void im2col_plane(const T* plane, int64_t h, int64_t w, const BlockGeometry& g, T* columns) {
  const int64_t oh_n = g.blocks[0], ow_n = g.blocks[1];
  for (int64_t i = 0; i < g.kernel[0]; ++i)
    for (int64_t j = 0; j < g.kernel[1]; ++j) {
      T* col = columns + (i * g.kernel[1] + j) * oh_n * ow_n;
      const int64_t offset = j * g.dilation[1] - g.padding[1];
      const ColumnRange cols = valid_columns(w, ow_n, g.stride[1], offset);
      for (int64_t oh = 0; oh < oh_n; ++oh) {
        T* out = col + oh * ow_n;
        const int64_t ih = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
        if (ih < 0 || ih >= h) {
          std::fill(out, out + ow_n, T(0));
          continue;
        }
        const T* row = plane + ih * w + offset;
        std::fill(out, out + cols.begin, T(0));
        for (int64_t ow = cols.begin; ow < cols.end; ++ow) out[ow] = row[ow * g.stride[1]];
        std::fill(out + cols.end, out + ow_n, T(0));
      }
    }
}
// x = 0, then every column element added back where im2col read it.
void col2im(const Tensor& columns, const BlockGeometry& g, const Tensor& x);

}  // namespace graft::kernels
