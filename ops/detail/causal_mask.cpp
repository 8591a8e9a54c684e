#include "graft/ops/detail/causal_mask.h"

#include "graft/graph/factory.h"

namespace graft::detail {

Tensor causal_keep_mask(int64_t T, int64_t S) {
  Tensor keep = empty_tensor({T, S}, kBool);
  bool* p = static_cast<bool*>(keep.data_ptr());
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < S; ++j) p[i * S + j] = j <= i;
  return keep;
}

}  // namespace graft::detail
