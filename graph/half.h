#pragma once
// The two 16-bit floating types, graft::BFloat16 and graft::Half (PyTorch's torch.bfloat16 and
// torch.float16, c10::BFloat16 and c10::Half in C++): storage formats that convert to and from float.
//
// They hold the bits and convert implicitly both ways, so arithmetic on them happens in float (what
// PyTorch calls the "opmath" type) and storing a result rounds it once, to nearest even. Conversions follow
// PyTorch 1.13's tensor conversions bit for bit (tests/graph/half_test.cpp checks every bit pattern):
// - float -> bfloat16 rounds to nearest even; every NaN becomes 0xFFFF (PyTorch's vectorised conversion).
// - float -> float16 rounds to nearest even, subnormals included; values from 65520 on become infinity;
//   a NaN becomes a quiet NaN of the same sign (0x7E00 | sign).
// - bfloat16 -> float is exact (the bits shifted up); float16 -> float is exact, NaNs are quieted.
// - double and int64 convert through float, as in PyTorch (so a double can round twice).
#include <bit>
#include <cstdint>
#if defined(__F16C__)
#include <immintrin.h>
#endif
#include <limits>
#include <type_traits>

namespace graft {

namespace half_bits {

constexpr uint16_t from_float_to_bfloat16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0xffff;
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

constexpr float from_bfloat16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// The portable conversions (also what constant evaluation uses); the functions below take the F16C
// instructions when the build targets a CPU that has them (-march=native on x86), with the same results
// (tests/graph/half_test.cpp compares the two on every bit pattern).
constexpr uint16_t portable_float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00;  // NaN
  if (ax >= 0x477ff000u) return sign | 0x7c00;  // infinity, and every finite value that rounds past 65504
  if (ax < 0x38800000u) {
    // Below 2^-14 the result is subnormal (or zero): a multiple of 2^-24. Adding 0.5f, whose ulp is 2^-24,
    // lets the FPU round |f| to that grid (to nearest even); the count of 2^-24 steps is left in the low bits.
    const float shifted = std::bit_cast<float>(ax) + 0.5f;
    return sign | static_cast<uint16_t>(std::bit_cast<uint32_t>(shifted) - 0x3f000000u);
  }
  // Normal: rebias the exponent (127 -> 15: subtract 112 << 23, i.e. add 0xc8000000) and round the 13
  // dropped mantissa bits to nearest even; a carry moves into the exponent as it should.
  return sign | static_cast<uint16_t>((ax + 0xc8000fffu + ((ax >> 13) & 1u)) >> 13);
}

constexpr float portable_half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1f)  // infinity, or a NaN made quiet
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa != 0 ? 0x400000u | (mantissa << 13) : 0u));
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign != 0 ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

constexpr uint16_t from_float_to_half(float f) {
#if defined(__F16C__)
  if (!std::is_constant_evaluated()) {
    // vcvtps2ph keeps a NaN's payload; PyTorch (and the portable path) give the canonical quiet NaN.
    if (f != f) return static_cast<uint16_t>(((std::bit_cast<uint32_t>(f) >> 16) & 0x8000u) | 0x7e00u);
    return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
  }
#endif
  return portable_float_to_half(f);
}

constexpr float from_half_to_float(uint16_t h) {
#if defined(__F16C__)
  if (!std::is_constant_evaluated()) return _cvtsh_ss(h);  // exact; NaNs quieted, as the portable path
#endif
  return portable_half_to_float(h);
}

}  // namespace half_bits

/// bfloat16: 1 sign bit, 8 exponent bits (float32's range), 7 mantissa bits.
struct BFloat16 {
  uint16_t bits;

  BFloat16() = default;
  constexpr BFloat16(float value) : bits(half_bits::from_float_to_bfloat16(value)) {}  // NOLINT: implicit, as c10
  static constexpr BFloat16 from_bits(uint16_t b) {
    BFloat16 v;
    v.bits = b;
    return v;
  }
  constexpr operator float() const { return half_bits::from_bfloat16_to_float(bits); }  // NOLINT
};

/// float16 (IEEE 754 binary16): 1 sign bit, 5 exponent bits, 10 mantissa bits; largest finite 65504.
struct Half {
  uint16_t bits;

  Half() = default;
  constexpr Half(float value) : bits(half_bits::from_float_to_half(value)) {}  // NOLINT: implicit, as c10
  static constexpr Half from_bits(uint16_t b) {
    Half v;
    v.bits = b;
    return v;
  }
  constexpr operator float() const { return half_bits::from_half_to_float(bits); }  // NOLINT
};

// Compound assignment computes in float and rounds the result, like every other operation on these types.
#define GRAFT_HALF_COMPOUND_ASSIGNMENT(Type, op)                                       \
  constexpr Type& operator op##=(Type& a, float b) { return a = Type(static_cast<float>(a) op b); }
GRAFT_HALF_COMPOUND_ASSIGNMENT(BFloat16, +)
GRAFT_HALF_COMPOUND_ASSIGNMENT(BFloat16, -)
GRAFT_HALF_COMPOUND_ASSIGNMENT(BFloat16, *)
GRAFT_HALF_COMPOUND_ASSIGNMENT(BFloat16, /)
GRAFT_HALF_COMPOUND_ASSIGNMENT(Half, +)
GRAFT_HALF_COMPOUND_ASSIGNMENT(Half, -)
GRAFT_HALF_COMPOUND_ASSIGNMENT(Half, *)
GRAFT_HALF_COMPOUND_ASSIGNMENT(Half, /)
#undef GRAFT_HALF_COMPOUND_ASSIGNMENT

/// True for graft's floating element types: float, double, BFloat16, Half.
template <class T>
inline constexpr bool is_floating_type_v = std::is_floating_point_v<T> || std::is_same_v<T, BFloat16> ||
                                           std::is_same_v<T, Half>;
/// True for the 16-bit floating types (PyTorch's "reduced floating point" types).
template <class T>
inline constexpr bool is_reduced_floating_type_v = std::is_same_v<T, BFloat16> || std::is_same_v<T, Half>;

/// The type arithmetic on T is carried out in (PyTorch's opmath_type): float for the 16-bit types.
template <class T>
using opmath_t = std::conditional_t<is_reduced_floating_type_v<T>, float, T>;

}  // namespace graft

template <>
class std::numeric_limits<graft::BFloat16> {
 public:
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = true;
  static constexpr bool is_integer = false;
  static constexpr bool has_infinity = true;
  static constexpr bool has_quiet_NaN = true;
  static constexpr int digits = 8;
  static constexpr graft::BFloat16 min() { return graft::BFloat16::from_bits(0x0080); }
  static constexpr graft::BFloat16 lowest() { return graft::BFloat16::from_bits(0xff7f); }
  static constexpr graft::BFloat16 max() { return graft::BFloat16::from_bits(0x7f7f); }
  static constexpr graft::BFloat16 epsilon() { return graft::BFloat16::from_bits(0x3c00); }
  static constexpr graft::BFloat16 infinity() { return graft::BFloat16::from_bits(0x7f80); }
  static constexpr graft::BFloat16 quiet_NaN() { return graft::BFloat16::from_bits(0x7fc0); }
  static constexpr graft::BFloat16 denorm_min() { return graft::BFloat16::from_bits(0x0001); }
};

template <>
class std::numeric_limits<graft::Half> {
 public:
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = true;
  static constexpr bool is_integer = false;
  static constexpr bool has_infinity = true;
  static constexpr bool has_quiet_NaN = true;
  static constexpr int digits = 11;
  static constexpr graft::Half min() { return graft::Half::from_bits(0x0400); }
  static constexpr graft::Half lowest() { return graft::Half::from_bits(0xfbff); }
  static constexpr graft::Half max() { return graft::Half::from_bits(0x7bff); }
  static constexpr graft::Half epsilon() { return graft::Half::from_bits(0x1400); }
  static constexpr graft::Half infinity() { return graft::Half::from_bits(0x7c00); }
  static constexpr graft::Half quiet_NaN() { return graft::Half::from_bits(0x7e00); }
  static constexpr graft::Half denorm_min() { return graft::Half::from_bits(0x0001); }
};
