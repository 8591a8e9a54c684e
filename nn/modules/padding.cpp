#include "graft/nn/modules/padding.h"

#include "graft/nn/modules/repr_format.h"
#include "graft/ops/padding.h"

namespace graft::nn {

ZeroPad2d::ZeroPad2d(IntList p) : Module("ZeroPad2d") {
  GRAFT_CHECK(p.size() == 1 || p.size() == 4, "ZeroPad2d: padding must have 1 or 4 values (left, right, top, bottom), got {}",
              p.size());
  for (size_t i = 0; i < 4; ++i) padding[i] = p[p.size() == 1 ? 0 : i];
}

Tensor ZeroPad2d::forward(const Tensor& input) {
  GRAFT_CHECK(input.dim() >= 2, "ZeroPad2d: expected an input of at least 2 dims, got shape {}", shape_str(input.shape()));
  return functional::pad(input, IntList(padding.data(), padding.size()), "constant", 0.0);
}

std::string ZeroPad2d::extra_repr() const { return repr_format::py_tuple(IntList(padding.data(), padding.size())); }

}  // namespace graft::nn
