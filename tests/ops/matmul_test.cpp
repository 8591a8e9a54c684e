// Matrix products: registry entries, torch.matmul's shape rules, errors, and the oneDNN sgemm path against
// the reference loops.
#include <gtest/gtest.h>

#include <array>

#include "graft/graph/node.h"
#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/matmul.h"
#include "support/op_registry.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::testing;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

Sample binary(std::string description, Tensor a, Tensor b, std::function<Tensor(const Tensor&, const Tensor&)> f) {
  return sample(std::move(description), {std::move(a), std::move(b)}, [f](const TensorList& in) { return f(in[0], in[1]); });
}
Tensor mat(IntList shape, DType dt, uint64_t seed) { return uniform(shape, dt, -1, 1, seed); }

// ---------------------------------------------------------------- registry entries

GRAFT_REGISTER_OP({.name = "matmul", .samples = [](DType dt) {
  auto mm_ = [](const Tensor& a, const Tensor& b) { return matmul(a, b); };
  return std::vector<Sample>{
      binary("1-D . 1-D", mat({4}, dt, 1), mat({4}, dt, 2), mm_),
      binary("1-D . 2-D", mat({3}, dt, 3), mat({3, 2}, dt, 4), mm_),
      binary("2-D . 1-D", mat({2, 3}, dt, 5), mat({3}, dt, 6), mm_),
      binary("2-D . 2-D", mat({2, 3}, dt, 7), mat({3, 4}, dt, 8), mm_),
      binary("1-D . 3-D", mat({3}, dt, 9), mat({2, 3, 2}, dt, 10), mm_),
      binary("3-D . 1-D (folded)", mat({2, 2, 3}, dt, 11), mat({3}, dt, 12), mm_),
      binary("3-D . 2-D (folded)", mat({2, 3, 4}, dt, 13), mat({4, 2}, dt, 14), mm_),
      binary("4-D . 2-D (folded), transposed view", mat({2, 2, 4, 3}, dt, 15), mat({2, 4}, dt, 16),
             [](const Tensor& a, const Tensor& b) { return matmul(a.transpose(-1, -2), b.t()); }),
      binary("2-D . 3-D (broadcast batch)", mat({2, 3}, dt, 17), mat({2, 3, 4}, dt, 18), mm_),
      binary("3-D . 3-D", mat({2, 2, 3}, dt, 19), mat({2, 3, 2}, dt, 20), mm_),
      binary("broadcast batch [2, 1] with [3]", mat({2, 1, 2, 3}, dt, 21), mat({3, 3, 2}, dt, 22), mm_),
      binary("transposed operands", mat({3, 2}, dt, 23), mat({4, 3}, dt, 24),
             [](const Tensor& a, const Tensor& b) { return matmul(a.t(), b.t()); }),
      binary("batched transposed operands", mat({2, 3, 2}, dt, 25), mat({2, 4, 3}, dt, 26),
             [](const Tensor& a, const Tensor& b) { return matmul(a.mT(), b.mT()); }),
      binary("above the tiny-product threshold", mat({20, 24}, dt, 27), mat({24, 18}, dt, 28), mm_),
      binary("same tensor twice", mat({3, 3}, dt, 29), mat({1}, dt, 30), [](const Tensor& a, const Tensor&) { return matmul(a, a); }),
      binary("empty inner dim", mat({2, 0}, dt, 31), mat({0, 3}, dt, 32),
             [](const Tensor& a, const Tensor& b) { return matmul(a, b) + 1.0; })};
}});

GRAFT_REGISTER_OP({.name = "mm", .samples = [](DType dt) {
  auto f = [](const Tensor& a, const Tensor& b) { return mm(a, b); };
  return std::vector<Sample>{binary("plain", mat({2, 3}, dt, 1), mat({3, 4}, dt, 2), f),
                             binary("transposed operands", mat({3, 2}, dt, 3), mat({4, 3}, dt, 4),
                                    [](const Tensor& a, const Tensor& b) { return mm(a.t(), b.t()); }),
                             binary("row vector times matrix", mat({1, 5}, dt, 5), mat({5, 3}, dt, 6), f),
                             binary("above the tiny-product threshold", mat({17, 19}, dt, 7), mat({19, 16}, dt, 8), f)};
}});

GRAFT_REGISTER_OP({.name = "bmm", .samples = [](DType dt) {
  auto f = [](const Tensor& a, const Tensor& b) { return bmm(a, b); };
  return std::vector<Sample>{binary("plain", mat({2, 2, 3}, dt, 1), mat({2, 3, 4}, dt, 2), f),
                             binary("transposed views", mat({3, 3, 2}, dt, 3), mat({3, 4, 3}, dt, 4),
                                    [](const Tensor& a, const Tensor& b) { return bmm(a.mT(), b.mT()); }),
                             binary("broadcast operand (batch stride 0)", mat({1, 2, 3}, dt, 5), mat({4, 3, 2}, dt, 6),
                                    [](const Tensor& a, const Tensor& b) { return bmm(a.expand({4, 2, 3}), b); }),
                             binary("above the tiny-product threshold", mat({2, 17, 16}, dt, 7), mat({2, 16, 18}, dt, 8), f)};
}});

GRAFT_REGISTER_OP({.name = "dot", .samples = [](DType dt) {
  auto f = [](const Tensor& a, const Tensor& b) { return dot(a, b); };
  return std::vector<Sample>{binary("plain", mat({5}, dt, 1), mat({5}, dt, 2), f),
                             binary("strided views", mat({6}, dt, 3), mat({3, 2}, dt, 4),
                                    [](const Tensor& a, const Tensor& b) { return dot(slice(a, 0, 0, 6, 2), b.select(1, 1)); })};
}});

// ---------------------------------------------------------------- behaviour

TEST(Matmul, ShapesFollowTorchMatmul) {
  auto shape = [](IntList a, IntList b) { return matmul(zeros(a), zeros(b)).shape(); };
  EXPECT_EQ(shape({3}, {3}), Shape({}));
  EXPECT_EQ(shape({3}, {3, 4}), Shape({4}));
  EXPECT_EQ(shape({2, 3}, {3}), Shape({2}));
  EXPECT_EQ(shape({2, 3}, {3, 4}), Shape({2, 4}));
  EXPECT_EQ(shape({5, 2, 3}, {3}), Shape({5, 2}));
  EXPECT_EQ(shape({3}, {5, 3, 4}), Shape({5, 4}));
  EXPECT_EQ(shape({5, 2, 3}, {3, 4}), Shape({5, 2, 4}));
  EXPECT_EQ(shape({2, 3}, {5, 3, 4}), Shape({5, 2, 4}));
  EXPECT_EQ(shape({7, 1, 2, 3}, {5, 3, 4}), Shape({7, 5, 2, 4}));
  EXPECT_EQ(shape({2, 0}, {0, 4}), Shape({2, 4}));
  EXPECT_EQ(shape({0, 2, 3}, {3, 4}), Shape({0, 2, 4}));
  EXPECT_EQ(shape({2, 2, 0}, {0, 4}), Shape({2, 2, 4}));
  EXPECT_EQ(values(matmul(zeros({2, 0}), zeros({0, 2}))), std::vector<double>(4, 0.0));
}

TEST(Matmul, ValuesOfSmallProducts) {
  Tensor a = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3}), b = tensor({1.0, 0.0, -1.0, 2.0, 0.5, 1.0}, {3, 2});
  EXPECT_EQ(values(matmul(a, b)), (std::vector<double>{0.5, 7, 2, 16}));
  EXPECT_EQ(values(matmul(tensor({1.0, 2.0, 3.0}, {}), b)), (std::vector<double>{0.5, 7}));
  EXPECT_EQ(values(matmul(a, tensor({1.0, 1.0, 1.0}, {}))), (std::vector<double>{6, 15}));
  EXPECT_EQ(dot(tensor({1.0, 2.0, 3.0}, {}), tensor({4.0, 5.0, 6.0}, {})).item<double>(), 32.0);
  EXPECT_EQ(values(bmm(stack({a, a * 2.0}), stack({b, b}))), (std::vector<double>{0.5, 7, 2, 16, 1, 14, 4, 32}));
  EXPECT_EQ(matmul(a, b.to(kFloat64)).dtype(), kFloat64);
}

TEST(Matmul, BadShapesAreNamed) {
  EXPECT_EQ(error_of([] { matmul(zeros({4, 3}), zeros({5, 2})); }), "matmul: cannot multiply [4, 3] by [5, 2] (inner dims 3 and 5 differ)");
  EXPECT_EQ(error_of([] { matmul(zeros({3}), zeros({4})); }), "matmul: cannot multiply [3] by [4] (inner dims 3 and 4 differ)");
  EXPECT_EQ(error_of([] { matmul(zeros({2, 4, 3}), zeros({3, 3, 5})); }),
            "matmul: the batch dims of [2, 4, 3] and [3, 3, 5] cannot be broadcast together (2 vs 3 at batch dim -1)");
  EXPECT_EQ(error_of([] { matmul(scalar_tensor(1.0), zeros({2})); }),
            "matmul: both arguments need at least 1 dimension, got shapes [] and [2]");
  EXPECT_EQ(error_of([] { matmul(arange(3), arange(3)); }), "matmul: expected floating-point operands, got int64 and int64");
  EXPECT_EQ(error_of([] { matmul(Tensor(), zeros({2})); }), "matmul: argument 'input' is an undefined tensor");
  EXPECT_EQ(error_of([] { mm(zeros({2, 3}), zeros({3})); }), "mm: expected two matrices, got shapes [2, 3] and [3]");
  EXPECT_EQ(error_of([] { mm(zeros({2, 3}), zeros({2, 3})); }), "mm: cannot multiply [2, 3] by [2, 3] (inner dims 3 and 2 differ)");
  EXPECT_EQ(error_of([] { bmm(zeros({2, 3}), zeros({2, 3, 4})); }), "bmm: expected two 3-D tensors, got shapes [2, 3] and [2, 3, 4]");
  EXPECT_EQ(error_of([] { bmm(zeros({2, 2, 3}), zeros({3, 3, 4})); }), "bmm: batch sizes differ: [2, 2, 3] and [3, 3, 4]");
  EXPECT_EQ(error_of([] { bmm(zeros({2, 2, 3}), zeros({2, 4, 4})); }),
            "bmm: cannot multiply [2, 2, 3] by [2, 4, 4] (inner dims 3 and 4 differ)");
  EXPECT_EQ(error_of([] { dot(zeros({2, 3}), zeros({3})); }), "dot: expected two 1-D tensors, got shapes [2, 3] and [3]");
  EXPECT_EQ(error_of([] { dot(zeros({2}), zeros({3})); }), "dot: tensors have 2 and 3 elements");
}

TEST(Matmul, BroadcastGradientsAreSummedBackToEachOperand) {
  Tensor a = uniform({2, 1, 2, 3}, kFloat64, -1, 1, 1).requires_grad_(), b = uniform({3, 3, 4}, kFloat64, -1, 1, 2).requires_grad_();
  matmul(a, b).sum().backward();
  EXPECT_EQ(a.grad().shape(), a.shape());
  EXPECT_EQ(b.grad().shape(), b.shape());
  // d/da sum(a @ b) = ones @ b^T summed over the broadcast batch: every row of a gets sum_j sum_batch b[.., k, j]
  std::vector<double> bs = values(sum(b, {0, 2}));
  std::vector<double> ga = values(a.grad());
  for (size_t i = 0; i < ga.size(); ++i) EXPECT_NEAR(ga[i], bs[i % 3], 1e-12);
  EXPECT_STREQ(mm(a.select(0, 0).select(0, 0), b.select(0, 0)).grad_fn()->name(), "MmBackward0");
}

// ---- the sgemm path against the reference loops ----

void expect_kernels_agree(const Tensor& a, const Tensor& b, const std::string& what) {
  SCOPED_TRACE(what);
  const int64_t B = std::max(a.shape()[0], b.shape()[0]);
  const DType dt = a.dtype();
  Tensor fast = empty({B, a.shape()[1], b.shape()[2]}, dt), ref = empty({B, a.shape()[1], b.shape()[2]}, dt);
  {
    ReferenceKernelsGuard guard(false);
    kernels::bmm(a, b, fast);
  }
  kernels::bmm_reference(a, b, ref);
  // float32: float64 values of the same product, for scale; float64: the loops, to a few ulps
  const bool f64 = dt == kFloat64;
  const double rtol = f64 ? 1e-12 : 1e-4, atol = f64 ? 1e-12 : 1e-5;
  Tensor exact = f64 ? ref : matmul(a.to(kFloat64), b.to(kFloat64));
  EXPECT_TRUE(allclose(fast.to(kFloat64), exact, rtol, atol)) << (f64 ? "dgemm" : "sgemm") << " path is off";
  EXPECT_TRUE(allclose(ref.to(kFloat64), exact, rtol, atol)) << "reference loops are off";
  // accumulate = true adds to what is there
  Tensor acc = ones({B, a.shape()[1], b.shape()[2]}, dt);
  {
    ReferenceKernelsGuard guard(false);
    kernels::bmm(a, b, acc, true);
  }
  EXPECT_TRUE(allclose(acc.to(kFloat64), exact + 1.0, rtol, atol)) << "accumulate";
}

// float32 products go through oneDNN's sgemm, float64 ones through OpenBLAS's dgemm.
TEST(MatmulKernels, GemmAgreesWithReferenceLoopsOnEveryLayout) {
  // Sizes below the tiny threshold (16^3 multiply-adds) run the loops either way; the others run sgemm on
  // one thread (< 64^3), on all threads, or one product per thread across the batch (small products, and
  // moderate ones when the batch has at least two per thread: {6, 96, 80, 72} on two threads), or split
  // into one panel of columns ({1, 130, 60, 200}) or rows ({2, 300, 50, 140}) per thread.
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(dt));
    const std::vector<std::array<int64_t, 4>> sizes = {{1, 5, 6, 7},    {1, 17, 19, 23}, {3, 40, 33, 50},
                                                       {8, 20, 20, 21}, {2, 90, 70, 80}, {6, 96, 80, 72},
                                                       {1, 130, 60, 200}, {2, 300, 50, 140}};
    for (auto [B, M, K, N] : sizes) {
      const std::string dims = fmt::format("B={} M={} K={} N={}", B, M, K, N);
      Tensor a = uniform({B, M, K}, dt, -1, 1, 1), b = uniform({B, K, N}, dt, -1, 1, 2);
      Tensor at = uniform({B, K, M}, dt, -1, 1, 3).transpose(1, 2), bt = uniform({B, N, K}, dt, -1, 1, 4).transpose(1, 2);
      expect_kernels_agree(a, b, dims + " N,N");
      expect_kernels_agree(at, b, dims + " T,N");  // a column-major: passed as 'T', not copied
      expect_kernels_agree(a, bt, dims + " N,T");
      expect_kernels_agree(at, bt, dims + " T,T");
      // broadcast batch: stride 0
      Tensor a1 = uniform({1, M, K}, dt, -1, 1, 5).expand({B, M, K});
      Tensor b1 = uniform({1, N, K}, dt, -1, 1, 6).transpose(1, 2).expand({B, K, N});
      expect_kernels_agree(a1, b, dims + " a broadcast");
      expect_kernels_agree(a, b1, dims + " b broadcast and transposed");
      // narrowed rows (leading dimension larger than the row) and a layout sgemm cannot take (copied)
      Tensor wide = uniform({B, M, K + 5}, dt, -1, 1, 7).narrow(2, 2, K);
      expect_kernels_agree(wide, b, dims + " lda > K");
      Tensor rows0 = uniform({B, 1, K}, dt, -1, 1, 8).expand({B, M, K});
      expect_kernels_agree(rows0, b, dims + " repeated row (stride 0 inside the matrix)");
    }
    // a single row whose elements are strided (a column of a matrix)
    Tensor col = uniform({1, 300, 3}, dt, -1, 1, 9).select(2, 1).unsqueeze(1);  // [1, 1, 300], stride 3
    expect_kernels_agree(col, uniform({1, 300, 64}, dt, -1, 1, 10), "M=1, strided row");
  }
}

TEST(MatmulKernels, OpsAgreeWithTheReferencePathOnEveryMatmulCase) {
  struct Case {
    std::string what;
    Shape a, b;
    bool transpose_a;
  };
  const std::vector<Case> cases = {{"2-D", {30, 40}, {40, 50}, false},
                                   {"2-D, a transposed", {40, 30}, {40, 50}, true},
                                   {"folded 3-D . 2-D", {3, 10, 40}, {40, 30}, false},
                                   {"folded, a transposed (copied by reshape)", {3, 40, 10}, {40, 30}, true},
                                   {"folded 3-D . 1-D", {4, 50, 100}, {100}, false},
                                   {"1-D . 2-D", {100}, {100, 70}, false},
                                   {"2-D . 3-D (a broadcast)", {20, 30}, {4, 30, 25}, false},
                                   {"broadcast batch dims", {2, 1, 20, 30}, {3, 30, 25}, false},
                                   {"batched, a transposed", {3, 30, 20}, {3, 30, 25}, true},
                                   {"1-D . 1-D, long enough for sgemm", {5000}, {5000}, false},
                                   {"tiny", {3, 4}, {4, 2}, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto run = [&](bool reference, DType dt) {
      ReferenceKernelsGuard guard(reference);
      Tensor a = uniform(c.a, dt, -1, 1, 1).requires_grad_(), b = uniform(c.b, dt, -1, 1, 2).requires_grad_();
      Tensor out = matmul(c.transpose_a ? a.transpose(-1, -2) : a, b);
      TensorList g = autograd::grad({out}, {a, b}, {uniform(out.shape(), dt, -1, 1, 3)});
      return TensorList{out, g[0], g[1]};
    };
    TensorList fast = run(false, kFloat32), ref = run(true, kFloat32), exact = run(true, kFloat64);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_TRUE(allclose(fast[i].to(kFloat64), exact[i], 1e-4, 1e-5)) << "output " << i;
      EXPECT_TRUE(allclose(ref[i].to(kFloat64), exact[i], 1e-4, 1e-5)) << "output " << i;
    }
  }
}

}  // namespace
