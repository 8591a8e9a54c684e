#include "graft/nn/modules/layer_cache.h"

namespace graft::nn {

void check_select_index(const char* owner, const Tensor& index, int64_t batch) {
  GRAFT_CHECK(index.defined() && index.dtype() == kInt64 && index.dim() == 1,
              "{}::select: index must be a 1-D int64 tensor, got {}", owner,
              index.defined() ? fmt::format("{} of shape {}", dtype_name(index.dtype()), shape_str(index.shape()))
                              : std::string("an undefined tensor"));
  for (int64_t i : index.to_vector<int64_t>())
    GRAFT_CHECK(i >= 0 && i < batch, "{}::select: index {} is out of range for a batch of {} sequences", owner, i,
                batch);
}

}  // namespace graft::nn
