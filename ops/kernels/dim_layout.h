#pragma once
// A contiguous tensor seen as [outer, size, inner] around one of its dims: lane (o, i) along the dim holds
// the elements (o * size + j) * inner + i for j in [0, size). A 0-dim tensor is one lane of one element.
#include <cstdint>

#include "graft/graph/array_ref.h"

namespace graft::kernels {

struct DimLayout {
  int64_t outer = 1, size = 1, inner = 1;
};

inline DimLayout dim_layout(IntList shape, int64_t dim) {
  DimLayout l;
  if (shape.empty()) return l;
  l.size = shape[static_cast<size_t>(dim)];
  for (int64_t d = 0; d < dim; ++d) l.outer *= shape[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(dim) + 1; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

}  // namespace graft::kernels
