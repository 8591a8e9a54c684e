// bfloat16 and float16 matrix products: the converted path (float32 copies, one rounding) on every CPU, and
// oneDNN's bf16 kernels where the CPU has AVX512_BF16, detected at run time. Each path checks the other.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "graft/graft.h"
#include "graft/ops/backend.h"
#include "support/errors.h"
#include "support/op_registry.h"

using namespace graft;
using namespace graft::testing;

namespace {

// Whether /proc/cpuinfo lists `flag` for the first CPU (false where there is no /proc/cpuinfo).
bool cpu_has_flag(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;)
      if (w == flag) return true;
    return false;
  }
  return false;
}

// Chooses a path for a scope and restores the previous one.
class Bf16PathGuard {
 public:
  explicit Bf16PathGuard(Bf16MatmulPath path) : prev_(bf16_matmul_path()) { set_bf16_matmul_path(path); }
  ~Bf16PathGuard() { set_bf16_matmul_path(prev_); }
  Bf16PathGuard(const Bf16PathGuard&) = delete;
  Bf16PathGuard& operator=(const Bf16PathGuard&) = delete;

 private:
  Bf16MatmulPath prev_;
};

// The operand shapes the products are checked on: plain, batched, a broadcast batch, a transposed view,
// vectors, and an inner dimension long enough to show accumulation in float32.
struct Case {
  const char* name;
  Tensor a, b;
};
std::vector<Case> cases(DType dt) {
  return {{"matrix", uniform({5, 7}, dt, -1, 1, 1), uniform({7, 3}, dt, -1, 1, 2)},
          {"batched", uniform({2, 4, 6}, dt, -1, 1, 3), uniform({2, 6, 5}, dt, -1, 1, 4)},
          {"broadcast batch", uniform({3, 4, 6}, dt, -1, 1, 5), uniform({6, 2}, dt, -1, 1, 6)},
          {"transposed view", uniform({6, 4}, dt, -1, 1, 7).t(), uniform({5, 6}, dt, -1, 1, 8).t()},
          {"vector . matrix", uniform({8}, dt, -1, 1, 9), uniform({8, 3}, dt, -1, 1, 10)},
          {"long inner dim", uniform({4, 1024}, dt, -1, 1, 11), uniform({1024, 4}, dt, -1, 1, 12)}};
}

// The product and both gradients (seeded with ones) of a @ b.
TensorList product_and_grads(const Tensor& a_in, const Tensor& b_in) {
  Tensor a = a_in.detach().requires_grad_(), b = b_in.detach().requires_grad_();
  Tensor y = matmul(a, b);
  y.backward(ones(y.shape(), y.dtype()));
  return {y.detach(), a.grad(), b.grad()};
}

}  // namespace

TEST(HalfMatmul, Bf16HardwareIsDetectedAtRunTime) {
  // oneDNN's bf16 kernels need AVX512_BF16; a CPU without the flag must never take them.
  if (!cpu_has_flag("avx512_bf16")) {
    EXPECT_FALSE(bf16_matmul_hardware());
  }
  if (bf16_matmul_hardware()) {
    EXPECT_TRUE(cpu_has_flag("avx512_bf16"));
  }
  EXPECT_EQ(bf16_matmul_path(), Bf16MatmulPath::Auto) << "the default";
}

TEST(HalfMatmul, ChoosingOneDnnWithoutBf16InstructionsIsAnError) {
  if (bf16_matmul_hardware()) GTEST_SKIP() << "this CPU has AVX512_BF16";
  EXPECT_NE(error_of([] { set_bf16_matmul_path(Bf16MatmulPath::OneDnn); }).find("no bf16 instructions (AVX512_BF16)"),
            std::string::npos);
  EXPECT_EQ(bf16_matmul_path(), Bf16MatmulPath::Auto) << "a refused choice changes nothing";
}

// The converted path is the float32 product of the 16-bit values, rounded once: bit for bit, on oneDNN's
// sgemm and on the reference loops, for the product and both gradients.
TEST(HalfMatmul, TheConvertedPathRoundsTheFloat32ProductOnce) {
  Bf16PathGuard convert(Bf16MatmulPath::Convert);
  for (bool reference : {false, true}) {
    ReferenceKernelsGuard kernels(reference);
    for (DType dt : {kBFloat16, kFloat16}) {
      for (const Case& c : cases(dt)) {
        SCOPED_TRACE(fmt::format("{} {} {}", dtype_name(dt), c.name, reference ? "reference loops" : "fast path"));
        TensorList half = product_and_grads(c.a, c.b);
        TensorList single = product_and_grads(c.a.to(kFloat32), c.b.to(kFloat32));
        for (size_t i = 0; i < half.size(); ++i) {
          EXPECT_EQ(half[i].dtype(), dt);
          EXPECT_TRUE(equal(half[i], single[i].to(dt))) << "result " << i << "\n" << half[i] << "\n" << single[i];
        }
      }
    }
  }
}

// Where the CPU has bf16 instructions, oneDNN's bf16 kernels (float32 accumulation, one rounding) agree with
// the converted path within bfloat16's tolerance.
TEST(HalfMatmul, OneDnnBf16KernelsAgreeWithTheConvertedPath) {
  if (!bf16_matmul_hardware()) GTEST_SKIP() << "no AVX512_BF16 on this CPU: bfloat16 products take the converted path";
  for (const Case& c : cases(kBFloat16)) {
    SCOPED_TRACE(c.name);
    TensorList fast, converted;
    {
      Bf16PathGuard path(Bf16MatmulPath::OneDnn);
      fast = product_and_grads(c.a, c.b);
    }
    {
      Bf16PathGuard path(Bf16MatmulPath::Convert);
      converted = product_and_grads(c.a, c.b);
    }
    for (size_t i = 0; i < fast.size(); ++i) {
      EXPECT_EQ(fast[i].dtype(), kBFloat16);
      EXPECT_TRUE(allclose(fast[i].to(kFloat32), converted[i].to(kFloat32), 1.6e-2, 1e-2))
          << "result " << i << "\n" << fast[i] << "\n" << converted[i];
    }
  }
}

TEST(HalfMatmul, MixedDtypesPromoteAsPyTorchOrRaise) {
  Tensor a16 = ones({2, 3}, kBFloat16), b32 = ones({3, 2});
  // graft promotes float32 with float64 in matmul (README); 16-bit with float32 promotes the same way.
  Tensor y = matmul(a16, b32);
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(4, 3.0f));
}
