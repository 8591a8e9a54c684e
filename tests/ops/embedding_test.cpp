// Embedding and one_hot: registry entries and behaviour (values checked against PyTorch 1.13 by hand-run
// torch code, quoted in the tests).
#include <gtest/gtest.h>

#include "graft/autograd/gradcheck.h"
#include "support/op_registry.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

GRAFT_REGISTER_OP({.name = "embedding", .samples = [](DType dt) {
  Tensor w = uniform({5, 3}, dt, -1, 1, 1);
  return std::vector<Sample>{
      sample("2-D ids with repeats", {w, tensor({0, 2, 2, 4, 1, 2}, {2, 3})}, [](const TensorList& in) { return F::embedding(in[1], in[0]); }),
      sample("0-dim id", {w, tensor({2}, {})}, [](const TensorList& in) { return F::embedding(in[1].reshape({}), in[0]); })};
}});

GRAFT_REGISTER_OP({.name = "one_hot", .samples = [](DType) {
  return std::vector<Sample>{
      sample("inferred classes", {tensor({0, 2, 1, 0}, {2, 2})}, [](const TensorList& in) { return F::one_hot(in[0]); }),
      sample("num_classes", {tensor({3, 1}, {})}, [](const TensorList& in) { return F::one_hot(in[0], 5); })};
}, .differentiable = false});

TEST(Embedding, GathersRowsIntoTheIdsShape) {
  Tensor w = arange(0, 12, 1, kFloat64).reshape({4, 3});
  Tensor out = F::embedding(tensor({3, 0, 3, 1}, {2, 2}), w);
  EXPECT_EQ(out.shape(), Shape({2, 2, 3}));
  EXPECT_EQ(values(out), (std::vector<double>{9, 10, 11, 0, 1, 2, 9, 10, 11, 3, 4, 5}));
  EXPECT_EQ(F::embedding(tensor({2}, {}).reshape({}), w).shape(), Shape({3}));
  EXPECT_EQ(F::embedding(tensor(std::vector<int64_t>{}, {0}), w).shape(), Shape({0, 3}));
  // Any weight dtype gathers; integer weights are outside the graph.
  EXPECT_EQ(F::embedding(tensor({1}, {}), arange(6).reshape({3, 2})).to_vector<int64_t>(), (std::vector<int64_t>{2, 3}));
}

TEST(Embedding, BackwardScatterAddsAndSkipsThePaddingRow) {
  // PyTorch: F.embedding(tensor([[0,2,2],[3,1,2]]), w, padding_idx=3, scale_grad_by_freq=True), gradient of
  // sum(out * arange(12).reshape(2,3,2)) -> [[0,1],[8,9],[5.3333,6.3333],[0,0]].
  Tensor ids = tensor({0, 2, 2, 3, 1, 2}, {2, 3});
  Tensor seed = arange(0, 12, 1, kFloat64).reshape({2, 3, 2});
  Tensor w = uniform({4, 2}, kFloat64, -1, 1, 3).requires_grad_();
  (F::embedding(ids, w, 3, std::nullopt, 2.0, true) * seed).sum().backward();
  std::vector<double> g = values(w.grad());
  std::vector<double> expected{0, 1, 8, 9, 16.0 / 3, 19.0 / 3, 0, 0};
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], expected[i], 1e-12) << i;
  // Without scaling the repeated id 2 gets the sum of its three rows; the padding row still gets nothing.
  w.mutable_grad() = Tensor();
  (F::embedding(ids, w, -1) * seed).sum().backward();
  EXPECT_EQ(values(w.grad()), (std::vector<double>{0, 1, 8, 9, 16, 19, 0, 0}));
}

TEST(Embedding, FusedAndRecordedBackwardsAgree) {
  Tensor ids = indices({64}, 10, 5), w = uniform({10, 7}, kFloat64, -1, 1, 6).requires_grad_();
  Tensor seed = uniform({64, 7}, kFloat64, -1, 1, 7);
  for (bool scale : {false, true}) {
    Tensor out = F::embedding(ids, w, 4, std::nullopt, 2.0, scale);
    Tensor fused = autograd::grad({out}, {w}, {seed}, true, false)[0];
    // A seed that requires grad makes the backward pass record: the composite (index_add) path.
    Tensor recorded = autograd::grad({out}, {w}, {seed.detach().requires_grad_()}, true, true)[0];
    EXPECT_TRUE(recorded.requires_grad());
    EXPECT_TRUE(allclose(fused, recorded, 1e-12, 1e-12)) << fused << recorded;
  }
}

// padding_idx and scale_grad_by_freq change the gradient on purpose (so they are not registry samples, which
// gradcheck against finite differences); the backward itself must still be differentiable in its seed.
TEST(Embedding, PaddedAndScaledBackwardIsDifferentiable) {
  Tensor ids = tensor({4, 1, 1, 0, 1}, {}), w = uniform({5, 3}, kFloat64, -1, 1, 8).requires_grad_();
  std::function<Tensor(const TensorList&)> backward_of = [&](const TensorList& in) {
    Tensor out = F::embedding(ids, w, -1, std::nullopt, 2.0, true);
    return autograd::grad({out}, {w}, {in[0]}, true, true)[0];
  };
  EXPECT_TRUE(autograd::gradcheck(backward_of, {uniform({5, 3}, kFloat64, -1, 1, 9).requires_grad_()}));
}

TEST(Embedding, MaxNormRenormalisesTheRowsLookedUpInPlace) {
  // PyTorch 1.13: F.embedding(tensor([[0,2],[2,3]]), w, max_norm=1.0) with w = [[3,4],[0.3,0.4],[1,-2],[6,8]].
  Tensor w = tensor({3.0, 4.0, 0.3, 0.4, 1.0, -2.0, 6.0, 8.0}, {4, 2}, kFloat64);
  const uint32_t version = w.version();
  Tensor out = F::embedding(tensor({0, 2, 2, 3}, {2, 2}), w, std::nullopt, 1.0);
  std::vector<double> expected{0.5999999880000002, 0.7999999840000003, 0.3, 0.4, 0.4472135754999588, -0.8944271509999177,
                               0.5999999940000001, 0.7999999920000002};
  std::vector<double> got = values(w);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-15) << i;
  EXPECT_GT(w.version(), version);
  EXPECT_NEAR(out.at<double>({1, 1, 1}), 0.7999999920000002, 1e-15);
  // 1-norm and inf-norm.
  Tensor w1 = tensor({3.0, 4.0, 0.3, 0.4, 1.0, -2.0, 6.0, 8.0}, {4, 2}, kFloat64);
  F::embedding(tensor({0, 2, 3}, {}), w1, std::nullopt, 2.0, 1.0);
  EXPECT_NEAR(w1.at<double>({0, 0}), 0.8571428448979593, 1e-15);
  EXPECT_NEAR(w1.at<double>({2, 1}), -1.3333332888888905, 1e-15);
  Tensor winf = tensor({3.0, 4.0, 0.3, 0.4, 1.0, -2.0, 6.0, 8.0}, {4, 2}, kFloat64);
  F::embedding(tensor({3}, {}), winf, std::nullopt, 2.0, std::numeric_limits<double>::infinity());
  EXPECT_NEAR(winf.at<double>({3, 1}), 1.9999999750000004, 1e-15);
  EXPECT_EQ(winf.at<double>({0, 0}), 3.0);
  // A trainable weight: renormalised outside the graph, then differentiated as usual.
  Tensor wg = tensor({3.0, 4.0, 0.3, 0.4}, {2, 2}, dtype(kFloat64).requires_grad());
  F::embedding(tensor({0, 0, 1}, {}), wg, std::nullopt, 1.0).sum().backward();
  EXPECT_NEAR(wg.at<double>({0, 1}), 0.7999999840000003, 1e-15);
  EXPECT_EQ(values(wg.grad()), (std::vector<double>{2, 2, 1, 1}));
}

TEST(Embedding, RejectsBadInput) {
  Tensor w = zeros({4, 3});
  EXPECT_THROW(F::embedding(tensor({1}, {}), Tensor()), Error);
  try {
    F::embedding(tensor({1, 4}, {}), w);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "embedding: index 4 is out of range for 4 embeddings (weight shape [4, 3])");
  }
  try {
    F::embedding(tensor({-1}, {}), w);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "embedding: index -1 is out of range for 4 embeddings (weight shape [4, 3])");
  }
  try {
    F::embedding(tensor({1.0}, {}), w);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "embedding: expected an int64 tensor of indices for 'input', got float32");
  }
  try {
    F::embedding(tensor({1}, {}), zeros({4}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape [4]");
  }
  try {
    F::embedding(tensor({1}, {}), w, 4);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "embedding: padding_idx 4 must be within num_embeddings (4)");
  }
  EXPECT_THROW(F::embedding(tensor({1}, {}), w, -5), Error);
  EXPECT_THROW(F::embedding(tensor({1}, {}), w, std::nullopt, -1.0), Error);
}

TEST(OneHot, EncodesClassesAlongANewLastDim) {
  Tensor out = F::one_hot(tensor({0, 2, 1, 0}, {2, 2}));
  EXPECT_EQ(out.dtype(), kInt64);
  EXPECT_EQ(out.shape(), Shape({2, 2, 3}));
  EXPECT_EQ(out.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0}));
  EXPECT_EQ(F::one_hot(tensor({1}, {}), 4).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(F::one_hot(tensor(std::vector<int64_t>{}, {0}), 3).shape(), Shape({0, 3}));
  EXPECT_EQ(F::one_hot(tensor({2}, {}).reshape({}), 3).shape(), Shape({3}));
}

TEST(OneHot, RejectsBadInput) {
  EXPECT_EQ(error_of([] { F::one_hot(tensor({0, 3}, {}), 3); }), "one_hot: class values must be smaller than num_classes (3), got 3");
  EXPECT_EQ(error_of([] { F::one_hot(tensor({0, -1}, {})); }), "one_hot: class values must be non-negative, got -1");
  EXPECT_EQ(error_of([] { F::one_hot(tensor({0.0}, {})); }), "one_hot: expected an int64 tensor of class values, got float32");
  EXPECT_EQ(error_of([] { F::one_hot(tensor(std::vector<int64_t>{}, {0})); }),
            "one_hot: cannot infer the number of classes from an empty tensor (shape [0]); pass num_classes > 0");
  EXPECT_EQ(error_of([] { F::one_hot(tensor({1}, {}), -2); }), "one_hot: num_classes must be -1 (inferred) or >= 0, got -2");
}

}  // namespace
