#include "graft/ops/dropout.h"

#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/pointwise.h"

namespace graft::nn::functional {

using namespace graft::detail;

namespace {

// The scaled mask: 1 / (1 - p) where an element is kept (probability 1 - p), else 0. Drawn serially from
// the generator (under its lock), so a seed fixes the mask whatever the thread count.
Tensor scaled_mask(IntList shape, DType dtype, double p, Generator& gen) {
  Tensor mask = empty_tensor(shape, dtype);
  const double keep = 1.0 - p, scale = p < 1.0 ? 1.0 / keep : 0.0;
  std::lock_guard lock(gen.mutex());
  dispatch_floating_and_half(dtype, "dropout", [&]<class T>() {
    T* m = mask.data_ptr<T>();
    const T s = static_cast<T>(scale);
    for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform() < keep ? s : T(0);
  });
  return mask;
}

}  // namespace

Tensor dropout(const Tensor& input, double p, bool training, Generator* generator) {
  check_defined("dropout", "input", input);
  GRAFT_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability has to be between 0 and 1, but got {}", p);
  GRAFT_CHECK(is_floating(input.dtype()), "dropout: expected a floating-point input, got {}",
              dtype_name(input.dtype()));
  if (!training || p == 0.0) return input;
  Tensor mask = scaled_mask(input.shape(), input.dtype(), p, generator ? *generator : default_generator());
  Tensor y = empty_tensor(input.shape(), input.dtype());
  dispatch_floating_and_half(input.dtype(), "dropout", [&]<class T>() {
    loops::map2<T, T, T>(y, input, mask, [](T x, T m) { return x * m; });
  });
  if (auto node = make_node("NativeDropoutBackward0", {input}, [](Node& n, GradList& g) -> GradList {
        return {mul(g[0], n.saved(0))};
      })) {
    set_history(y, node);
    node->save(mask);
  }
  return y;
}

}  // namespace graft::nn::functional
