#include "graft/ops/dropout.h"

#include "graft/autograd/profiler.h"
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

// x * mask, the mask broadcast over x (a dropout mask, scaled, of x's shape or with 1s in the dropped-together dims).
Tensor apply_mask(const Tensor& input, const Tensor& mask) {
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

void check_dropout_args(const char* op, const Tensor& input, double p) {
  check_defined(op, "input", input);
  GRAFT_CHECK(p >= 0.0 && p <= 1.0, "{}: probability has to be between 0 and 1, but got {}", op, p);
  GRAFT_CHECK(is_floating(input.dtype()), "{}: expected a floating-point input, got {}", op,
              dtype_name(input.dtype()));
}

}  // namespace

Tensor dropout(const Tensor& input, double p, bool training, Generator* generator) {
  GRAFT_RECORD_FUNCTION("dropout", input);
  check_dropout_args("dropout", input, p);
  if (!training || p == 0.0) return input;
  return apply_mask(input, scaled_mask(input.shape(), input.dtype(), p, generator ? *generator : default_generator()));
}

Tensor dropout2d(const Tensor& input, double p, bool training, Generator* generator) {
  GRAFT_RECORD_FUNCTION("dropout2d", input);
  check_dropout_args("dropout2d", input, p);
  GRAFT_CHECK(input.dim() == 3 || input.dim() == 4,
              "dropout2d: expected a 4-D input (N, C, H, W) or a 3-D one (N, C, L), got shape {}", shape_str(input.shape()));
  if (!training || p == 0.0) return input;
  Shape mask_shape(static_cast<size_t>(input.dim()), 1);
  mask_shape[0] = input.shape()[0];
  mask_shape[1] = input.shape()[1];
  return apply_mask(input, scaled_mask(mask_shape, input.dtype(), p, generator ? *generator : default_generator()));
}

}  // namespace graft::nn::functional
