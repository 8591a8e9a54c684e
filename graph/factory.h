#pragma once
// Tensor factories, named and defaulted as in PyTorch: zeros ones full arange linspace rand randn randint
// randperm eye empty tensor from_blob and the *_like variants.
#include <functional>
#include <initializer_list>
#include <optional>
#include <vector>

#include "graft/graph/generator.h"
#include "graft/graph/tensor.h"

namespace graft {

/// torch::TensorOptions: dtype (default float32, or inferred from the values where PyTorch infers it) and
/// requires_grad. Converts from a DType, so `zeros({2, 3}, kFloat64)` works.
struct TensorOptions {
  std::optional<DType> dtype_;
  bool requires_grad_ = false;

  TensorOptions() = default;
  TensorOptions(DType d) : dtype_(d) {}  // NOLINT: implicit, like torch::TensorOptions
  TensorOptions dtype(DType d) const { auto o = *this; o.dtype_ = d; return o; }
  TensorOptions requires_grad(bool r = true) const { auto o = *this; o.requires_grad_ = r; return o; }
  DType dtype_or(DType fallback) const { return dtype_.value_or(fallback); }
};
inline TensorOptions dtype(DType d) { return TensorOptions().dtype(d); }
inline TensorOptions requires_grad(bool r = true) { return TensorOptions().requires_grad(r); }

Tensor empty(IntList shape, TensorOptions options = {});
Tensor zeros(IntList shape, TensorOptions options = {});
Tensor ones(IntList shape, TensorOptions options = {});
/// The dtype defaults to the kind of `value`: int64 for integers, bool for bools, float32 for floats.
Tensor full(IntList shape, const Scalar& value, TensorOptions options = {});
/// A 0-dim tensor holding `value`.
Tensor scalar_tensor(const Scalar& value, TensorOptions options = {});

/// [start, end) in steps; int64 when all bounds are integers, else float32.
Tensor arange(const Scalar& end, TensorOptions options = {});
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step = 1, TensorOptions options = {});
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {});
Tensor eye(int64_t n, std::optional<int64_t> m = std::nullopt, TensorOptions options = {});

/// Random factories draw from `gen`, or from the global generator (graft::manual_seed).
Tensor rand(IntList shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randn(IntList shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, IntList shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randint(int64_t high, IntList shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randperm(int64_t n, TensorOptions options = {}, Generator* gen = nullptr);

Tensor empty_like(const Tensor& t, TensorOptions options = {});
Tensor zeros_like(const Tensor& t, TensorOptions options = {});
Tensor ones_like(const Tensor& t, TensorOptions options = {});
Tensor full_like(const Tensor& t, const Scalar& value, TensorOptions options = {});
Tensor rand_like(const Tensor& t, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randn_like(const Tensor& t, TensorOptions options = {}, Generator* gen = nullptr);

/// torch::tensor: copies `values` into a new tensor of `shape` (default: 1-D of the values' length).
/// Floating values give float32 and integers int64 unless options say otherwise.
Tensor tensor(const std::vector<double>& values, IntList shape, TensorOptions options);
Tensor tensor(const std::vector<int64_t>& values, IntList shape, TensorOptions options);
Tensor tensor(const std::vector<bool>& values, IntList shape, TensorOptions options);
template <class T>
Tensor tensor(std::initializer_list<T> values, IntList shape = {}, TensorOptions options = {}) {
  if constexpr (std::is_same_v<T, bool>) return tensor(std::vector<bool>(values), shape, options);
  else if constexpr (std::is_integral_v<T>)
    return tensor(std::vector<int64_t>(values.begin(), values.end()), shape, options);
  else return tensor(std::vector<double>(values.begin(), values.end()), shape, options);
}
template <class T>
Tensor tensor(const std::vector<T>& values, IntList shape = {}, TensorOptions options = {}) {
  if constexpr (std::is_same_v<T, bool>) return tensor(values, shape, options);
  else if constexpr (std::is_integral_v<T>)
    return tensor(std::vector<int64_t>(values.begin(), values.end()), shape, options);
  else if constexpr (std::is_same_v<T, double>) return tensor(values, shape, options);
  else return tensor(std::vector<double>(values.begin(), values.end()), shape, options);
}

/// Wraps memory owned elsewhere, without copying (contiguous, or with the given strides). `deleter`, if
/// given, runs when the last tensor using it goes away.
Tensor from_blob(void* data, IntList shape, DType dtype = kFloat32, std::function<void(void*)> deleter = {});
Tensor from_blob(void* data, IntList shape, IntList strides, DType dtype = kFloat32,
                 std::function<void(void*)> deleter = {});

}  // namespace graft
