#pragma once
// Scalar: a number on the other side of a tensor op (`x * 2`, `1.0 - p`). Like PyTorch, it keeps whether it
// was written as an integer, a float or a bool, so `int_tensor * 2` stays int64 and `int_tensor * 0.5`
// becomes float32.
#include <cstdint>
#include <type_traits>

#include "graft/graph/dtype.h"

namespace graft {

class Scalar {
 public:
  enum class Kind : uint8_t { Bool, Int, Float };

  Scalar() : kind_(Kind::Int), i_(0) {}
  template <class T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
  Scalar(T v) {  // NOLINT: implicit on purpose, like at::Scalar
    if constexpr (std::is_same_v<T, bool>) {
      kind_ = Kind::Bool;
      i_ = v ? 1 : 0;
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = Kind::Int;
      i_ = static_cast<int64_t>(v);
    } else {
      kind_ = Kind::Float;
      d_ = static_cast<double>(v);
    }
  }

  Kind kind() const { return kind_; }
  bool is_floating() const { return kind_ == Kind::Float; }
  bool is_integral() const { return kind_ != Kind::Float; }
  double to_double() const { return kind_ == Kind::Float ? d_ : static_cast<double>(i_); }
  int64_t to_int() const { return kind_ == Kind::Float ? static_cast<int64_t>(d_) : i_; }
  template <class T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return kind_ == Kind::Float ? d_ != 0 : i_ != 0;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(to_int());
    else return static_cast<T>(to_double());
  }

 private:
  Kind kind_;
  union {
    int64_t i_;
    double d_;
  };
};

/// The dtype of `tensor op scalar`, as PyTorch: a scalar never widens a float tensor; a float scalar
/// turns an integer or bool tensor into float32 (the default dtype); an int scalar turns bool into int64.
constexpr DType result_type(DType tensor, Scalar::Kind scalar) {
  if (is_floating(tensor)) return tensor;
  if (scalar == Scalar::Kind::Float) return DType::Float32;
  if (tensor == DType::Bool && scalar == Scalar::Kind::Int) return DType::Int64;
  return tensor;
}

}  // namespace graft
