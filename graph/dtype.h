#pragma once
// Element types. float32 is the default, as in PyTorch; float64 is what gradcheck runs in; bfloat16 and
// float16 (graph/half.h) store half the bytes of float32 and compute in float32.
#include <cstddef>
#include <cstdint>

#include "graft/graph/error.h"
#include "graft/graph/half.h"

namespace graft {

enum class DType : uint8_t { Float32, Float64, Int64, Bool, BFloat16, Float16 };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kBool = DType::Bool;
inline constexpr DType kBFloat16 = DType::BFloat16;
inline constexpr DType kFloat16 = DType::Float16;
/// PyTorch's aliases.
inline constexpr DType kFloat = DType::Float32;
inline constexpr DType kDouble = DType::Float64;
inline constexpr DType kLong = DType::Int64;
inline constexpr DType kHalf = DType::Float16;

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
    case DType::BFloat16: return 2;
    case DType::Float16: return 2;
  }
  return 0;
}

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
  }
  return "?";
}

/// bfloat16 and float16: the 16-bit floating types (PyTorch's "reduced floating point").
constexpr bool is_reduced_floating(DType t) { return t == DType::BFloat16 || t == DType::Float16; }
constexpr bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64 || is_reduced_floating(t); }

/// PyTorch's promotion between two tensors: bool < int64 < bfloat16, float16 < float32 < float64, and
/// bfloat16 with float16 gives float32 (neither holds the other's values).
constexpr int promotion_rank(DType t) {
  switch (t) {
    case DType::Bool: return 0;
    case DType::Int64: return 1;
    case DType::BFloat16: return 2;
    case DType::Float16: return 2;
    case DType::Float32: return 3;
    case DType::Float64: return 4;
  }
  return 0;
}
constexpr DType promote_types(DType a, DType b) {
  if (a != b && is_reduced_floating(a) && is_reduced_floating(b)) return DType::Float32;
  return promotion_rank(a) >= promotion_rank(b) ? a : b;
}
/// The dtype a kernel computes in: float32 for the 16-bit types (PyTorch's opmath type), else `t` itself.
constexpr DType opmath_dtype(DType t) { return is_reduced_floating(t) ? DType::Float32 : t; }

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::Float16; };
template <class T> inline constexpr DType dtype_v = dtype_of<T>::value;

/// Calls `f.template operator()<T>()` with T the C++ type of `t`. `op` names the caller in the error.
/// dispatch_floating covers the kernels written for float32 and float64 only: a 16-bit tensor reaching one
/// is an error naming the op and the dtype (ops compute those in float32 before they get here).
template <class F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    default:
      GRAFT_FAIL("{}: expected a floating-point tensor (float32 or float64), got {}{}", op, dtype_name(t),
                 is_reduced_floating(t) ? " (this kernel has no 16-bit version)" : "");
  }
}

// Floating kernels that also run on bfloat16 and float16 elements (computing in opmath_t<T>).
template <class F>
decltype(auto) dispatch_floating_and_half(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::BFloat16: return f.template operator()<BFloat16>();
    case DType::Float16: return f.template operator()<Half>();
    default: GRAFT_FAIL("{}: expected a floating-point tensor, got {}", op, dtype_name(t));
  }
}

template <class F>
decltype(auto) dispatch_numeric(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::Int64: return f.template operator()<int64_t>();
    case DType::BFloat16: return f.template operator()<BFloat16>();
    case DType::Float16: return f.template operator()<Half>();
    default: GRAFT_FAIL("{}: expected a numeric tensor, got {}", op, dtype_name(t));
  }
}

// The kernels that never see a 16-bit tensor (ops run them on float32 copies and round the result, as
// PyTorch accumulates in float32): float32, float64, int64, bool; a 16-bit dtype is an error naming the op.
template <class F>
decltype(auto) dispatch_non_half(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::Int64: return f.template operator()<int64_t>();
    case DType::Bool: return f.template operator()<bool>();
    default: GRAFT_FAIL("{}: this kernel has no {} version (expected float32, float64, int64 or bool)", op, dtype_name(t));
  }
}

template <class F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::Int64: return f.template operator()<int64_t>();
    case DType::Bool: return f.template operator()<bool>();
    case DType::BFloat16: return f.template operator()<BFloat16>();
    case DType::Float16: return f.template operator()<Half>();
  }
  GRAFT_FAIL("unknown dtype {}", static_cast<int>(t));
}

}  // namespace graft
