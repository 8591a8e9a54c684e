// flash_attention: registry entry, the worked one-query example, agreement with
// scaled_dot_product_attention, block-size independence, O(T·d) memory and bad input.
#include <gtest/gtest.h>

#include <malloc.h>

#include <fstream>
#include <iostream>
#include <string>

#include "graft/ops/attention.h"
#include "graft/ops/flash_attention.h"
#include "support/op_registry.h"
#include "support/errors.h"
#include "support/sanitizers.h"

using namespace graft;
using namespace graft::testing;
using graft::nn::functional::flash_attention;
using graft::nn::functional::FlashAttentionBlockSizes;
using graft::nn::functional::scaled_dot_product_attention;

namespace {

GRAFT_REGISTER_OP({.name = "flash_attention", .samples = [](DType dt) {
  auto qkv = [dt](IntList q, IntList k, IntList v, uint64_t seed) {
    return TensorList{uniform(q, dt, -1, 1, seed), uniform(k, dt, -1, 1, seed + 1), uniform(v, dt, -1, 1, seed + 2)};
  };
  return std::vector<Sample>{
      sample("one block", qkv({2, 3, 4}, {2, 5, 4}, {2, 5, 3}, 1), [](const TensorList& in) { return flash_attention(in[0], in[1], in[2]); }),
      sample("blocks of 2 queries x 3 keys", qkv({1, 2, 5, 3}, {1, 2, 7, 3}, {1, 2, 7, 2}, 4),
             [](const TensorList& in) { return flash_attention(in[0], in[1], in[2], false, std::nullopt, {2, 3}); }),
      sample("causal, blocks of 2 x 2, scale 0.8", qkv({2, 6, 3}, {2, 6, 3}, {2, 6, 2}, 7),
             [](const TensorList& in) { return flash_attention(in[0], in[1], in[2], true, 0.8, {2, 2}); }),
      sample("causal, T > S, blocks of 3 x 1", qkv({5, 2}, {3, 2}, {3, 3}, 10),
             [](const TensorList& in) { return flash_attention(in[0], in[1], in[2], true, std::nullopt, {3, 1}); }),
  };
}});

// Q = [1], K = [[5], [1], [0]], V = [[10], [1], [1]], scale 1: softmax([5, 1, 0]) . [10, 1, 1] = 9.78002879.
TEST(FlashAttention, OneQueryWorkedExample) {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor q = tensor({1.0}, {1, 1, 1, 1}, dt), k = tensor({5.0, 1.0, 0.0}, {1, 1, 3, 1}, dt),
           v = tensor({10.0, 1.0, 1.0}, {1, 1, 3, 1}, dt);
    const double tol = dt == kFloat32 ? 2e-6 : 1e-8;
    EXPECT_NEAR(flash_attention(q, k, v, false, 1.0).item<double>(), 9.78002879, tol);
    // One key per block: the running max moves 5 -> 5 -> 5, and the sum and output are rescaled per key.
    EXPECT_NEAR(flash_attention(q, k, v, false, 1.0, {1, 1}).item<double>(), 9.78002879, tol);
    EXPECT_NEAR(flash_attention(q, k, v, false, 1.0, {1, 2}).item<double>(), 9.78002879, tol);
    // Keys in increasing order make the running max grow at every block, so the rescaling matters.
    Tensor k_up = tensor({0.0, 1.0, 5.0}, {1, 1, 3, 1}, dt), v_up = tensor({1.0, 1.0, 10.0}, {1, 1, 3, 1}, dt);
    EXPECT_NEAR(flash_attention(q, k_up, v_up, false, 1.0, {1, 1}).item<double>(), 9.78002879, tol);
    EXPECT_NEAR(scaled_dot_product_attention(q, k, v, {}, 0.0, false, 1.0).item<double>(), 9.78002879, tol);
  }
}

struct Grads {
  Tensor out, dq, dk, dv;
};

template <class F>
Grads run(F attention, const Tensor& q0, const Tensor& k0, const Tensor& v0, const Tensor& dout) {
  Tensor q = q0.detach().clone().requires_grad_(), k = k0.detach().clone().requires_grad_(),
         v = v0.detach().clone().requires_grad_();
  Tensor out = attention(q, k, v);
  TensorList g = autograd::grad({out}, {q, k, v}, {dout});
  return {out, g[0], g[1], g[2]};
}

void expect_same(const Grads& a, const Grads& b, double rtol, double atol) {
  EXPECT_TRUE(allclose(a.out, b.out, rtol, atol)) << "output";
  EXPECT_TRUE(allclose(a.dq, b.dq, rtol, atol)) << "grad query";
  EXPECT_TRUE(allclose(a.dk, b.dk, rtol, atol)) << "grad key";
  EXPECT_TRUE(allclose(a.dv, b.dv, rtol, atol)) << "grad value";
}

TEST(FlashAttention, AgreesWithScaledDotProductAttentionInFloat32) {
  const int64_t B = 2, H = 2, T = 70, S = 90, E = 16, Ev = 24;
  for (bool causal : {false, true})
    for (FlashAttentionBlockSizes blocks : {FlashAttentionBlockSizes{}, FlashAttentionBlockSizes{16, 24}, FlashAttentionBlockSizes{7, 5}}) {
      SCOPED_TRACE(std::string(causal ? "causal" : "full") + ", blocks " + std::to_string(blocks.query) + "x" + std::to_string(blocks.key));
      Tensor q = uniform({B, H, T, E}, kFloat32, -2, 2, 1), k = uniform({B, H, S, E}, kFloat32, -2, 2, 2),
             v = uniform({B, H, S, Ev}, kFloat32, -1, 1, 3), dout = uniform({B, H, T, Ev}, kFloat32, -1, 1, 4);
      Grads flash = run([&](auto& q, auto& k, auto& v) { return flash_attention(q, k, v, causal, std::nullopt, blocks); }, q, k, v, dout);
      Grads sdpa = run([&](auto& q, auto& k, auto& v) { return scaled_dot_product_attention(q, k, v, {}, 0.0, causal); }, q, k, v, dout);
      expect_same(flash, sdpa, 1e-5, 1e-5);
    }
}

TEST(FlashAttention, AgreesWithScaledDotProductAttentionInFloat64) {
  Tensor q = uniform({3, 17, 5}, kFloat64, -2, 2, 1), k = uniform({3, 23, 5}, kFloat64, -2, 2, 2),
         v = uniform({3, 23, 4}, kFloat64, -1, 1, 3), dout = uniform({3, 17, 4}, kFloat64, -1, 1, 4);
  for (bool causal : {false, true}) {
    Grads flash = run([&](auto& q, auto& k, auto& v) { return flash_attention(q, k, v, causal, 0.6, {4, 6}); }, q, k, v, dout);
    Grads sdpa = run([&](auto& q, auto& k, auto& v) { return scaled_dot_product_attention(q, k, v, {}, 0.0, causal, 0.6); }, q, k, v, dout);
    expect_same(flash, sdpa, 1e-12, 1e-12);
  }
}

// The sgemm tiles (float32) and the reference loops agree, on one query block and on many.
TEST(FlashAttention, ReferenceKernelsAgreeWithSgemmTiles) {
  Tensor q = uniform({2, 100, 32}, kFloat32, -2, 2, 1), k = uniform({2, 130, 32}, kFloat32, -2, 2, 2),
         v = uniform({2, 130, 32}, kFloat32, -1, 1, 3), dout = uniform({2, 100, 32}, kFloat32, -1, 1, 4);
  auto flash = [](auto& q, auto& k, auto& v) { return flash_attention(q, k, v, true); };
  Grads fast = run(flash, q, k, v, dout);
  Grads reference;
  {
    ReferenceKernelsGuard guard;
    reference = run(flash, q, k, v, dout);
  }
  expect_same(fast, reference, 1e-5, 1e-5);
}

// Each output row and each gradient row is written by exactly one task, in a fixed order: results do not
// depend on the number of threads.
TEST(FlashAttention, ResultsDoNotDependOnTheThreadCount) {
  Tensor q = uniform({3, 300, 16}, kFloat64, -2, 2, 1), k = uniform({3, 200, 16}, kFloat64, -2, 2, 2),
         v = uniform({3, 200, 16}, kFloat64, -1, 1, 3), dout = uniform({3, 300, 16}, kFloat64, -1, 1, 4);
  auto flash = [](auto& q, auto& k, auto& v) { return flash_attention(q, k, v, true, std::nullopt, {32, 48}); };
  Grads parallel = run(flash, q, k, v, dout);
  Grads serial;
  {
    ThreadBudget one(1);
    serial = run(flash, q, k, v, dout);
  }
  expect_same(parallel, serial, 0, 0);
}

TEST(FlashAttention, EmptyKeySequenceGivesZeros) {
  Tensor q = ones({2, 3, 4}).requires_grad_();
  Tensor out = flash_attention(q, ones({2, 0, 4}), ones({2, 0, 5}));
  EXPECT_EQ(out.shape(), Shape({2, 3, 5}));
  EXPECT_EQ(out.abs().sum().item<double>(), 0.0);
  Tensor dq = autograd::grad({out}, {q}, {ones_like(out)})[0];
  EXPECT_EQ(dq.abs().sum().item<double>(), 0.0);
}

// ---- memory ----

// Resident memory of this process in KiB (VmRSS, and its peak VmHWM, from /proc/self/status). reset_peak()
// first returns free heap memory to the system, so that new allocations show up in the resident size
// instead of reusing pages freed by earlier tests, then starts a new peak from the current resident size
// (Linux >= 4.0: write 5 to /proc/self/clear_refs).
int64_t status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  return -1;
}
bool reset_peak() {
  malloc_trim(0);
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return out.good();
}

// At T = S = 4096, d = 64 the attention matrix alone would take T*S*4 bytes = 64 MiB (and an explicit
// forward + backward keeps several such matrices). Flash attention's forward + backward allocates the
// output, the log-sum-exp, D and the three gradients (4.03 MiB in all) plus a few tiles per thread.
TEST(FlashAttention, ExtraMemoryStaysLinearInSequenceLength) {
  const int64_t T = 4096, d = 64;
  const double matrix_mib = T * T * 4.0 / (1 << 20);
  Tensor q = uniform({1, T, d}, kFloat32, -1, 1, 1).requires_grad_(), k = uniform({1, T, d}, kFloat32, -1, 1, 2).requires_grad_(),
         v = uniform({1, T, d}, kFloat32, -1, 1, 3).requires_grad_(), dout = uniform({1, T, d}, kFloat32, -1, 1, 4);
  {  // Warm-up at a small size, so that code pages, OpenMP threads and oneDNN's state are already resident.
    Tensor w = uniform({1, 256, d}, kFloat32).requires_grad_();
    flash_attention(w, w, w, true).backward(ones({1, 256, d}));
  }
  if (!reset_peak() || status_kib("VmHWM") < 0) GTEST_SKIP() << "cannot reset the peak RSS on this kernel";
  const int64_t before = status_kib("VmRSS");
  Tensor out = flash_attention(q, k, v, true);
  out.backward(dout);
  const double extra_mib = (status_kib("VmHWM") - before) / 1024.0;
  std::cout << "[ memory   ] flash_attention forward+backward at T=S=" << T << ", d=" << d
            << ": peak RSS grew by " << extra_mib << " MiB; one T x S float32 matrix is " << matrix_mib << " MiB\n";
  RecordProperty("extra_mib", std::to_string(extra_mib));
#if GRAFT_ASAN
  // AddressSanitizer keeps freed memory in quarantine (every temporary buffer of every sgemm call stays
  // resident) and adds shadow memory: the resident size no longer measures what the op holds.
  GTEST_SKIP() << "peak RSS is not meaningful under AddressSanitizer";
#endif
  EXPECT_LT(extra_mib, matrix_mib / 4);
  EXPECT_EQ(q.grad().shape(), q.shape());
  EXPECT_FALSE(isnan(q.grad()).sum().item<int64_t>() > 0);
}

// ---- bad input ----

TEST(FlashAttention, RejectsBadInput) {
  Tensor q = ones({2, 3, 8}), k = ones({2, 5, 8}), v = ones({2, 5, 6});
  expect_error([&] { flash_attention(q, Tensor(), v); }, {"flash_attention", "key", "undefined"});
  expect_error([&] { flash_attention(ones({8}), ones({8}), ones({8})); }, {"flash_attention", "at least 2 dims"});
  expect_error([&] { flash_attention(ones({2, 3, 7}), k, v); }, {"embedding size", "[2, 3, 7]", "[2, 5, 8]"});
  expect_error([&] { flash_attention(q, k, ones({2, 4, 6})); }, {"sequence length", "[2, 5, 8]", "[2, 4, 6]"});
  expect_error([&] { flash_attention(q, k.to(kFloat64), v); }, {"same dtype", "float32", "float64"});
  expect_error([&] { flash_attention(ones({2, 3}, kInt64), ones({2, 3}, kInt64), ones({2, 3}, kInt64)); }, {"floating-point", "int64"});
  expect_error([&] { flash_attention(q, ones({1, 5, 8}), ones({1, 5, 6})); }, {"same leading", "[2, 3, 8]", "[1, 5, 8]"});
  expect_error([&] { flash_attention(q, k, v, false, std::nullopt, {0, 4}); }, {"block sizes", "query 0"});
}

}  // namespace
