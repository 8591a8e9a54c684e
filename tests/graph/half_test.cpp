// bfloat16 and float16: the element types convert exactly as PyTorch 1.13's Tensor.to does, for every bit
// pattern (tests/reference/half.py commits the results as digests of blocks of 1024 patterns, plus special
// values in the clear), and tensors of them behave as tensors: factories, item, to_vector, copies.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "graft/graft.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;

namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull, kFnvPrime = 0x100000001b3ull;

// FNV-1a 64 of each block of `block` values, over their little-endian bytes (what half.py computes).
template <class U>
std::vector<std::string> fnv1a_blocks(const std::vector<U>& values, size_t block) {
  std::vector<std::string> out;
  for (size_t start = 0; start < values.size(); start += block) {
    uint64_t h = kFnvOffset;
    for (size_t i = start; i < start + block; ++i)
      for (size_t b = 0; b < sizeof(U); ++b) h = (h ^ ((values[i] >> (8 * b)) & 0xff)) * kFnvPrime;
    out.push_back(fmt::format("{:016x}", h));
  }
  return out;
}

template <class H>
float to_float(uint16_t bits) { return static_cast<float>(H::from_bits(bits)); }

// half.py's probes for pattern p: its value, the midpoint to the next pattern up in magnitude (one step past
// the largest finite value), and the float32 neighbours of that midpoint toward and away from zero.
template <class H>
std::vector<std::vector<float>> probes() {
  std::vector<std::vector<float>> out(4, std::vector<float>(65536));
  for (uint32_t p = 0; p < 65536; ++p) {
    const double value = to_float<H>(static_cast<uint16_t>(p));
    const double up = to_float<H>(static_cast<uint16_t>(p + 1)), down = to_float<H>(static_cast<uint16_t>(p - 1));
    const bool finite = std::isfinite(value);
    const double next = std::isfinite(up) ? up : value + (value - down);
    const float mid = finite ? static_cast<float>((value + next) / 2) : static_cast<float>(value);
    out[0][p] = static_cast<float>(value);
    out[1][p] = mid;
    out[2][p] = finite ? std::nextafter(mid, 0.0f) : mid;
    out[3][p] = finite ? std::nextafter(mid, std::copysign(std::numeric_limits<float>::infinity(), mid)) : mid;
  }
  return out;
}

// Each block whose digest differs from PyTorch's, by its first pattern.
std::vector<std::string> differing_blocks(const std::vector<std::string>& ours, const nlohmann::json& theirs) {
  std::vector<std::string> bad;
  EXPECT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < std::min(ours.size(), theirs.size()); ++i)
    if (ours[i] != theirs[i].get<std::string>()) bad.push_back(fmt::format("{:#06x}", i * 1024));
  return bad;
}

template <class H>
void check_against_torch(const char* name) {
  const auto& ref = reference_json("half.json")[name];
  const size_t block = reference_json("half.json")["block"];
  std::vector<uint32_t> widened(65536);
  for (uint32_t p = 0; p < 65536; ++p) widened[p] = std::bit_cast<uint32_t>(to_float<H>(static_cast<uint16_t>(p)));
  EXPECT_EQ(differing_blocks(fnv1a_blocks(widened, block), ref["to_float32_blocks"]), std::vector<std::string>{})
      << name << " -> float32 differs from PyTorch in the blocks starting at these patterns";
  const char* kinds[] = {"exact", "midpoint", "below_midpoint", "above_midpoint"};
  auto all = probes<H>();
  for (size_t k = 0; k < 4; ++k) {
    std::vector<uint16_t> narrowed(65536);
    for (uint32_t p = 0; p < 65536; ++p) narrowed[p] = H(all[k][p]).bits;
    EXPECT_EQ(differing_blocks(fnv1a_blocks(narrowed, block), ref[fmt::format("from_{}_blocks", kinds[k])]),
              std::vector<std::string>{})
        << "float32 -> " << name << " (" << kinds[k] << " probes) differs from PyTorch in these blocks";
  }
}

DType dtype_of_name(const std::string& name) { return name == "bfloat16" ? kBFloat16 : kFloat16; }

}  // namespace

TEST(Half, BFloat16ConvertsLikePyTorchForEveryBitPattern) { check_against_torch<BFloat16>("bfloat16"); }
TEST(Half, Float16ConvertsLikePyTorchForEveryBitPattern) { check_against_torch<Half>("float16"); }

// The conversions graft runs (F16C instructions where the build's target has them) agree with the portable
// bit arithmetic, the reference path, on every float16 pattern and every float32 probe around each.
TEST(Half, FastFloat16ConversionsAgreeWithThePortableOnes) {
  int mismatches = 0;
  for (uint32_t p = 0; p < 65536; ++p) {
    const auto h = static_cast<uint16_t>(p);
    if (std::bit_cast<uint32_t>(half_bits::from_half_to_float(h)) !=
        std::bit_cast<uint32_t>(half_bits::portable_half_to_float(h)))
      ++mismatches;
  }
  for (const auto& kind : probes<Half>())
    for (float f : kind)
      if (half_bits::from_float_to_half(f) != half_bits::portable_float_to_half(f)) ++mismatches;
  EXPECT_EQ(mismatches, 0);
}

// NaN payloads, infinities, overflow to infinity, underflow to zero and ties, in the clear.
TEST(Half, SpecialValuesConvertLikePyTorch) {
  for (std::string name : {"bfloat16", "float16"}) {
    const auto& ref = reference_json("half.json")[name];
    const DType dt = dtype_of_name(name);
    for (const auto& c : ref["from_float32"]) {
      const float v = std::bit_cast<float>(c["bits"].get<uint32_t>());
      const uint16_t want = c["result"].get<uint16_t>();
      const uint16_t got = dt == kBFloat16 ? BFloat16(v).bits : Half(v).bits;
      EXPECT_EQ(got, want) << name << " from float32 bits " << fmt::format("{:#010x}", c["bits"].get<uint32_t>());
      // Through tensors too (copy_as), one element at a time and as part of a longer tensor.
      Tensor t = full({3}, static_cast<double>(v)).to(dt);
      uint16_t stored;
      std::memcpy(&stored, t.data_ptr(), 2);
      EXPECT_EQ(stored, want);
    }
    for (const auto& c : ref["from_float64"]) {
      Tensor t = tensor({c["value"].get<double>()}, {1}, kFloat64).to(dt);
      uint16_t stored;
      std::memcpy(&stored, t.data_ptr(), 2);
      EXPECT_EQ(stored, c["result"].get<uint16_t>()) << name << " from float64 " << c["value"].get<double>()
                                                     << " (PyTorch rounds through float32)";
    }
    for (const auto& c : ref["from_int64"]) {
      Tensor t = tensor(std::vector<int64_t>{c["value"].get<int64_t>()}, {1}, {}).to(dt);
      uint16_t stored;
      std::memcpy(&stored, t.data_ptr(), 2);
      EXPECT_EQ(stored, c["result"].get<uint16_t>()) << name << " from int64 " << c["value"].get<int64_t>();
    }
    for (const auto& c : ref["to_int64"]) {
      Tensor t = empty({1}, dt);
      const uint16_t bits = c["bits"].get<uint16_t>();
      std::memcpy(t.data_ptr(), &bits, 2);
      EXPECT_EQ(t.to(kInt64).item<int64_t>(), c["result"].get<int64_t>()) << name << fmt::format(" {:#06x}", bits);
      EXPECT_EQ(t.item<int64_t>(), c["result"].get<int64_t>());
    }
    for (const auto& c : ref["to_bool"]) {
      Tensor t = empty({1}, dt);
      const uint16_t bits = c["bits"].get<uint16_t>();
      std::memcpy(t.data_ptr(), &bits, 2);
      EXPECT_EQ(t.to(kBool).item<bool>(), c["result"].get<bool>()) << name << fmt::format(" {:#06x}", bits);
    }
  }
}

TEST(Half, TypesAreTwoBytesAndExactWhereTheyCanBe) {
  static_assert(sizeof(BFloat16) == 2 && sizeof(Half) == 2);
  static_assert(std::is_trivially_copyable_v<BFloat16> && std::is_trivially_copyable_v<Half>);
  static_assert(static_cast<float>(BFloat16(1.5f)) == 1.5f && static_cast<float>(Half(-2.25f)) == -2.25f);
  EXPECT_EQ(static_cast<float>(std::numeric_limits<Half>::max()), 65504.0f);
  EXPECT_EQ(static_cast<float>(std::numeric_limits<BFloat16>::epsilon()), 0.0078125f);
  EXPECT_EQ(static_cast<float>(std::numeric_limits<Half>::epsilon()), 0.0009765625f);
  EXPECT_EQ(static_cast<float>(std::numeric_limits<Half>::denorm_min()), 0x1p-24f);
  EXPECT_TRUE(std::isinf(static_cast<float>(Half(65520.0f))));
  EXPECT_EQ(static_cast<float>(Half(65519.0f)), 65504.0f);
  // Arithmetic happens in float and rounds when stored.
  BFloat16 x = 1.0f;
  x += 0.001f;  // below half an ulp (2^-8 / 2): stays 1
  EXPECT_EQ(static_cast<float>(x), 1.0f);
  Half h = 1.0f;
  h += 0.001f;  // float16's ulp at 1 is 2^-10
  EXPECT_EQ(static_cast<float>(h), 1.0f + 0x1p-10f);
}

TEST(Half, TensorsOfThemBehaveAsTensors) {
  for (DType dt : {kBFloat16, kFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    EXPECT_EQ(element_size(dt), 2u);
    EXPECT_TRUE(is_floating(dt) && is_reduced_floating(dt));
    Tensor z = zeros({2, 3}, dt), o = ones({2, 3}, dt), f = full({2}, 0.1, dt);
    EXPECT_EQ(z.dtype(), dt);
    EXPECT_EQ(z.to_vector<float>(), std::vector<float>(6, 0.0f));
    EXPECT_EQ(o.to_vector<double>(), std::vector<double>(6, 1.0));
    const float tenth = dt == kBFloat16 ? static_cast<float>(BFloat16(0.1f)) : static_cast<float>(Half(0.1f));
    EXPECT_EQ(f[0].item<float>(), tenth) << "item reads the stored (rounded) value";
    EXPECT_EQ(f.to(kFloat64).to_vector<double>(), std::vector<double>(2, static_cast<double>(tenth)));
    EXPECT_EQ(f.to(kFloat32).to(dt).to_vector<float>(), f.to_vector<float>()) << "a round trip through float32 is exact";
    // The same random stream as float32, rounded.
    manual_seed(3);
    Tensor r32 = randn({5});
    manual_seed(3);
    Tensor r16 = randn({5}, dt);
    EXPECT_TRUE(equal(r16, r32.to(dt)));
    EXPECT_TRUE(ones({2}, TensorOptions(dt).requires_grad(true)).requires_grad());
    // Views and copies keep the bytes.
    Tensor a = arange(6, dt).reshape({2, 3});
    EXPECT_EQ(a.t().contiguous().to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
    EXPECT_EQ(a.at<float>({1, 2}), 5.0f);
  }
}
