#pragma once
// The op registry (after PyTorch's OpInfo): every public op registers its name, a sample-input generator
// and flags. tests/ops/registry_test.cpp runs gradcheck and gradgradcheck in float64 on every sample,
// compares float32 with float64, bfloat16 and float16 with float32, and the reference kernels with the fast
// ones, and fails when a function declared in ops/*.h has no entry. Entries live next to each op family's tests (tests/ops/<family>_test.cpp).
#include <functional>
#include <string>
#include <vector>

#include "graft/graft.h"

namespace graft::testing {

struct Sample {
  std::string description;
  // Inputs; floating ones are made to require grad by the harness unless listed in `constant`.
  TensorList inputs;
  // The op applied to the inputs (non-tensor arguments are captured).
  std::function<TensorList(const TensorList&)> fn;
  std::vector<size_t> constant = {};
  // False for a sample whose values a 16-bit dtype cannot resolve (e.g. logsumexp's stability sample near
  // 500, where bfloat16's spacing is 4): the bfloat16/float16 check skips it.
  bool half = true;
};

struct OpInfo {
  std::string name;  // the function's name as declared, e.g. "exp" or "matmul"
  // Samples whose floating inputs have dtype `dtype` (float32 or float64). Generated deterministically.
  std::function<std::vector<Sample>(DType dtype)> samples;
  bool differentiable = true;
  bool twice_differentiable = true;
  double atol = 1e-5;
  double rtol = 1e-3;
  // Tolerance of float32 against float64 forward values.
  double f32_rtol = 1e-4;
  double f32_atol = 1e-5;
  // bfloat16 and float16: when true, the samples run in each 16-bit dtype and agree with float32 on the same
  // (rounded) inputs, outputs and gradients, within the dtype's tolerance times `half_tolerance`; when false,
  // `half_unsupported` says why, and every sample must raise a graft::Error naming the op and the dtype.
  bool half = true;
  std::string half_unsupported = {};
  double half_tolerance = 1.0;
};

std::vector<OpInfo>& registry();
const OpInfo* find_op(const std::string& name);

struct Registrar {
  explicit Registrar(OpInfo info);
};

#define GRAFT_CONCAT_INNER(a, b) a##b
#define GRAFT_CONCAT(a, b) GRAFT_CONCAT_INNER(a, b)
#define GRAFT_REGISTER_OP(...) \
  static const ::graft::testing::Registrar GRAFT_CONCAT(graft_registered_op_, __LINE__)(::graft::testing::OpInfo __VA_ARGS__)

// ---- sample helpers ----
// A tensor of `shape` in `dtype`, uniform in [low, high), drawn from a generator seeded by `seed`.
Tensor uniform(IntList shape, DType dtype, double low = -2.0, double high = 2.0, uint64_t seed = 0);
// Like uniform, but with every |value| >= margin, so kinks at 0 (abs, relu, sign) are not sampled.
Tensor away_from_zero(IntList shape, DType dtype, double margin = 0.1, double high = 2.0, uint64_t seed = 0);
// Positive values in [low, high) (for log, sqrt, ...).
inline Tensor positive(IntList shape, DType dtype, double low = 0.5, double high = 2.0, uint64_t seed = 0) {
  return uniform(shape, dtype, low, high, seed);
}
// int64 indices in [0, high).
Tensor indices(IntList shape, int64_t high, uint64_t seed = 0);
// Shorthand for a sample applying a single-output function.
Sample sample(std::string description, TensorList inputs, std::function<Tensor(const TensorList&)> fn,
              std::vector<size_t> constant = {});
// `s`, left out of the bfloat16/float16 check (Sample::half).
inline Sample beyond_half_precision(Sample s) {
  s.half = false;
  return s;
}

}  // namespace graft::testing
