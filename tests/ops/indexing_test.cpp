// Indexing ops (index_select, index_add, gather, scatter_add) and triangular masks: registry entries and
// behaviour.
#include <gtest/gtest.h>

#include "support/op_registry.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::testing;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
Tensor idx(std::vector<int64_t> v, IntList shape = {}) { return tensor(v, shape); }

// ---------------------------------------------------------------- registry entries

GRAFT_REGISTER_OP({.name = "index_select", .samples = [](DType dt) {
  auto f = [](int64_t dim) { return [dim](const TensorList& in) { return index_select(in[0], dim, in[1]); }; };
  return std::vector<Sample>{
      sample("rows, with repeats", {uniform({4, 3}, dt, -2, 2, 1), idx({3, 0, 3})}, f(0)),
      sample("negative dim", {uniform({2, 5}, dt, -2, 2, 2), idx({4, 1})}, f(-1)),
      sample("middle dim of 3-D", {uniform({2, 4, 3}, dt, -2, 2, 3), idx({2, 2, 0, 1, 3})}, f(1)),
      sample("0-dim index", {uniform({4, 2}, dt, -2, 2, 4), scalar_tensor(2)}, f(0)),
      sample("empty index", {uniform({4, 2}, dt, -2, 2, 5), idx({}, {0})}, [](const TensorList& in) { return index_select(in[0], 0, in[1]) * 1.0; }),
      sample("0-dim input", {uniform({}, dt, -2, 2, 6), idx({0})}, f(0)),
      sample("transposed view", {uniform({3, 4}, dt, -2, 2, 7), idx({1, 0, 1})},
             [](const TensorList& in) { return index_select(in[0].t(), 1, in[1]); })};
}});

GRAFT_REGISTER_OP({.name = "index_add", .samples = [](DType dt) {
  auto f = [](int64_t dim) { return [dim](const TensorList& in) { return index_add(in[0], dim, in[1], in[2]); }; };
  return std::vector<Sample>{
      sample("rows, duplicates add up", {uniform({4, 3}, dt, -2, 2, 1), idx({1, 3, 1}), uniform({3, 3}, dt, -2, 2, 2)}, f(0)),
      sample("negative dim", {uniform({2, 5}, dt, -2, 2, 3), idx({4, 0}), uniform({2, 2}, dt, -2, 2, 4)}, f(-1)),
      sample("middle dim of 3-D", {uniform({2, 3, 2}, dt, -2, 2, 5), idx({2, 2}), uniform({2, 2, 2}, dt, -2, 2, 6)}, f(1)),
      sample("constant input", {uniform({3, 2}, dt, -2, 2, 7), idx({0}), uniform({1, 2}, dt, -2, 2, 8)}, f(0), {0}),
      sample("transposed views", {uniform({3, 4}, dt, -2, 2, 9), idx({2, 0}), uniform({2, 4}, dt, -2, 2, 10)},
             [](const TensorList& in) { return index_add(in[0].t(), 1, in[1], in[2].t()); })};
}});

GRAFT_REGISTER_OP({.name = "gather", .samples = [](DType dt) {
  auto f = [](int64_t dim) { return [dim](const TensorList& in) { return gather(in[0], dim, in[1]); }; };
  return std::vector<Sample>{
      sample("dim 1 (picking per row), repeats", {uniform({3, 4}, dt, -2, 2, 1), idx({0, 3, 3, 1, 2, 2}, {3, 2})}, f(1)),
      sample("dim 0", {uniform({3, 4}, dt, -2, 2, 2), idx({2, 0, 1, 1, 0, 2, 2, 2}, {2, 4})}, f(0)),
      sample("index smaller than input", {uniform({4, 5}, dt, -2, 2, 3), idx({4, 0, 1, 3}, {2, 2})}, f(-1)),
      sample("3-D, middle dim", {uniform({2, 3, 2}, dt, -2, 2, 4), indices({2, 5, 2}, 3, 4)}, f(1)),
      sample("0-dim", {uniform({}, dt, -2, 2, 5), scalar_tensor(0)}, f(0)),
      sample("transposed view", {uniform({4, 3}, dt, -2, 2, 6), idx({3, 1, 0, 0, 2, 3}, {3, 2})},
             [](const TensorList& in) { return gather(in[0].t(), 1, in[1]); })};
}});

GRAFT_REGISTER_OP({.name = "scatter_add", .samples = [](DType dt) {
  auto f = [](int64_t dim) { return [dim](const TensorList& in) { return scatter_add(in[0], dim, in[1], in[2]); }; };
  return std::vector<Sample>{
      sample("dim 1, duplicates add up", {uniform({3, 4}, dt, -2, 2, 1), idx({0, 3, 3, 1, 2, 2}, {3, 2}), uniform({3, 2}, dt, -2, 2, 2)}, f(1)),
      sample("dim 0", {uniform({3, 2}, dt, -2, 2, 3), idx({2, 0, 2, 2}, {2, 2}), uniform({2, 2}, dt, -2, 2, 4)}, f(0)),
      sample("src larger than index", {uniform({3, 3}, dt, -2, 2, 5), idx({1, 0, 2, 2}, {2, 2}), uniform({3, 4}, dt, -2, 2, 6)}, f(-1)),
      sample("0-dim", {uniform({}, dt, -2, 2, 7), scalar_tensor(0), uniform({}, dt, -2, 2, 8)}, f(0)),
      sample("transposed views", {uniform({4, 3}, dt, -2, 2, 9), idx({1, 0, 3, 3, 2, 0}, {3, 2}), uniform({2, 3}, dt, -2, 2, 10)},
             [](const TensorList& in) { return scatter_add(in[0].t(), 1, in[1], in[2].t()); })};
}});

std::vector<Sample> triangle_samples(DType dt, Tensor (*f)(const Tensor&, int64_t)) {
  auto with = [f](int64_t k) { return [f, k](const Tensor& x) { return f(x, k); }; };
  auto unary = [](std::string d, Tensor x, std::function<Tensor(const Tensor&)> g) {
    return sample(std::move(d), {std::move(x)}, [g](const TensorList& in) { return g(in[0]); });
  };
  return {unary("main diagonal", uniform({4, 4}, dt, -2, 2, 1), with(0)),
          unary("above, wide", uniform({3, 5}, dt, -2, 2, 2), with(1)),
          unary("below, tall", uniform({5, 3}, dt, -2, 2, 3), with(-2)),
          unary("batched", uniform({2, 3, 3}, dt, -2, 2, 4), with(0)),
          unary("transposed view", uniform({3, 4}, dt, -2, 2, 5), [f](const Tensor& x) { return f(x.t(), 1); })};
}
GRAFT_REGISTER_OP({.name = "tril", .samples = [](DType dt) { return triangle_samples(dt, [](const Tensor& x, int64_t k) { return tril(x, k); }); }});
GRAFT_REGISTER_OP({.name = "triu", .samples = [](DType dt) { return triangle_samples(dt, [](const Tensor& x, int64_t k) { return triu(x, k); }); }});

// ---------------------------------------------------------------- behaviour

TEST(IndexSelect, PicksSlicesAlongADim) {
  Tensor x = arange(12.0).reshape({3, 4});
  EXPECT_EQ(values(index_select(x, 0, idx({2, 0, 2}))), (std::vector<double>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11}));
  EXPECT_EQ(values(index_select(x, 1, idx({3, 1}))), (std::vector<double>{3, 1, 7, 5, 11, 9}));
  EXPECT_EQ(index_select(x, 0, scalar_tensor(1)).shape(), Shape({1, 4}));  // a 0-dim index keeps the dim, as in PyTorch
  EXPECT_EQ(index_select(x, -1, idx({}, {0})).shape(), Shape({3, 0}));
  EXPECT_EQ(values(index_select(x.t(), 0, idx({1}))), (std::vector<double>{1, 5, 9}));
  EXPECT_EQ(index_select(scalar_tensor(5.0), 0, idx({0})).shape(), Shape({}));
  EXPECT_EQ(index_select(arange(5), 0, idx({4})).to_vector<int64_t>(), (std::vector<int64_t>{4}));
}

TEST(IndexSelect, BadIndicesAreNamed) {
  Tensor x = zeros({3, 4});
  EXPECT_EQ(error_of([&] { index_select(x, 0, idx({3})); }), "index_select: index 3 is out of range for dim 0 of size 3");
  EXPECT_EQ(error_of([&] { index_select(x, 1, idx({-1})); }), "index_select: index -1 is out of range for dim 1 of size 4");
  EXPECT_EQ(error_of([&] { index_select(x, 2, idx({0})); }),
            "index_select: dim 2 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([&] { index_select(x, 0, tensor({0.0}, {})); }), "index_select: index must be an int64 tensor, got float32");
  EXPECT_EQ(error_of([&] { index_select(x, 0, idx({0, 1}, {1, 2})); }), "index_select: index must be 1-D (or 0-D), got shape [1, 2]");
  EXPECT_EQ(error_of([&] { index_select(scalar_tensor(1.0), 0, idx({0, 0})); }),
            "index_select: a 0-dim input takes exactly one index, got 2 (index shape [2])");
  EXPECT_EQ(error_of([&] { index_select(x, 0, Tensor()); }), "index_select: argument 'index' is an undefined tensor");
}

TEST(IndexAdd, AccumulatesDuplicatesAndIsTheAdjointOfIndexSelect) {
  Tensor x = zeros({3, 2});
  Tensor src = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {3, 2});
  EXPECT_EQ(values(index_add(x, 0, idx({2, 0, 2}), src)), (std::vector<double>{3, 4, 0, 0, 6, 8}));
  EXPECT_EQ(values(x), std::vector<double>(6, 0.0));  // out of place
  EXPECT_EQ(values(index_add(ones({2, 3}), 1, idx({1}), tensor({5.0, 6.0}, {2, 1}))), (std::vector<double>{1, 6, 1, 1, 7, 1}));

  Tensor a = uniform({4, 3}, kFloat64, -1, 1, 3), g = uniform({5, 3}, kFloat64, -1, 1, 4);
  Tensor i = idx({1, 3, 1, 0, 2});
  // <index_select(a), g> == <a, index_add(0, g)>
  EXPECT_NEAR(sum(index_select(a, 0, i) * g).item<double>(), sum(a * index_add(zeros({4, 3}, kFloat64), 0, i, g)).item<double>(), 1e-12);
}

TEST(IndexAdd, LargeEmbeddingGradientsMatchAPlainLoop) {
  // dim 0 with many duplicate indices and wide rows: the threads split the columns.
  const int64_t rows = 50, cols = 3000, n = 400;
  Tensor i = indices({n}, rows, 5), src = uniform({n, cols}, kFloat64, -1, 1, 6), base = uniform({rows, cols}, kFloat64, -1, 1, 7);
  std::vector<double> want = values(base), s = values(src);
  std::vector<int64_t> iv = i.to_vector<int64_t>();
  for (int64_t k = 0; k < n; ++k)
    for (int64_t c = 0; c < cols; ++c) want[iv[k] * cols + c] += s[k * cols + c];
  std::vector<double> got = values(index_add(base, 0, i, src));
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) ASSERT_NEAR(got[k], want[k], 1e-12) << k;
  // and along dim 1 (threads split the outer dim)
  Tensor j = indices({n}, 7, 8), src1 = uniform({cols, n}, kFloat64, -1, 1, 9);
  Tensor out1 = index_add(zeros({cols, 7}, kFloat64), 1, j, src1);
  EXPECT_TRUE(allclose(out1, matmul(src1, (j.unsqueeze(1) == arange(7).unsqueeze(0)).to(kFloat64)), 1e-12, 1e-12));
}

TEST(IndexAdd, BadArgumentsAreNamed) {
  Tensor x = zeros({3, 2});
  EXPECT_EQ(error_of([&] { index_add(x, 0, idx({3}), ones({1, 2})); }), "index_add: index 3 is out of range for dim 0 of size 3");
  EXPECT_EQ(error_of([&] { index_add(x, 0, idx({0, 1}), ones({1, 2})); }),
            "index_add: source has shape [1, 2], expected [2, 2] (input [3, 2] with dim 0 of size 2)");
  EXPECT_EQ(error_of([&] { index_add(x, 0, idx({0}), Tensor()); }), "index_add: argument 'source' is an undefined tensor");
  EXPECT_EQ(error_of([&] { index_add(x, -3, idx({0}), ones({1, 2})); }),
            "index_add: dim -3 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([&] { index_add(x, 0, tensor({true}, {}), ones({1, 2})); }), "index_add: index must be an int64 tensor, got bool");
}

TEST(Gather, PicksPerPositionAndChecksIndices) {
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  EXPECT_EQ(values(gather(x, 1, idx({2, 0, 1, 1}, {2, 2}))), (std::vector<double>{3, 1, 5, 5}));
  EXPECT_EQ(values(gather(x, 0, idx({1, 0, 1}, {1, 3}))), (std::vector<double>{4, 2, 6}));
  EXPECT_EQ(gather(x, 1, idx({}, {2, 0})).shape(), Shape({2, 0}));
  EXPECT_EQ(values(gather(x.t(), 0, idx({1, 2}, {1, 2}))), (std::vector<double>{2, 6}));
  EXPECT_EQ(error_of([&] { gather(x, 1, idx({3}, {1, 1})); }), "gather: index 3 is out of range for dim 1 of size 3");
  EXPECT_EQ(error_of([&] { gather(x, 1, idx({-1}, {1, 1})); }), "gather: index -1 is out of range for dim 1 of size 3");
  EXPECT_EQ(error_of([&] { gather(x, 1, idx({0, 0})); }),
            "gather: index has 1 dims (shape [2]) but input has 2 (shape [2, 3]); they must match");
  EXPECT_EQ(error_of([&] { gather(x, 1, idx({0, 0, 0}, {3, 1})); }),
            "gather: index shape [3, 1] is larger than input shape [2, 3] in dim 0 (only dim 1 may differ)");
  EXPECT_EQ(error_of([&] { gather(x, 2, idx({0}, {1, 1})); }), "gather: dim 2 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([&] { gather(x, 0, tensor({0.0}, {1, 1})); }), "gather: index must be an int64 tensor, got float32");
}

TEST(ScatterAdd, AccumulatesAndChecksIndices) {
  Tensor x = zeros({2, 3});
  Tensor src = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2});
  EXPECT_EQ(values(scatter_add(x, 1, idx({2, 2, 0, 1}, {2, 2}), src)), (std::vector<double>{0, 0, 3, 3, 4, 0}));
  EXPECT_EQ(values(scatter_add(x, 0, idx({1, 1}, {1, 2}), src)), (std::vector<double>{0, 0, 0, 1, 2, 0}));
  EXPECT_EQ(values(x), std::vector<double>(6, 0.0));
  EXPECT_EQ(scatter_add(arange(3), 0, idx({0, 0}), tensor({5, 6}, {})).to_vector<int64_t>(), (std::vector<int64_t>{11, 1, 2}));
  EXPECT_EQ(error_of([&] { scatter_add(x, 1, idx({3}, {1, 1}), src); }), "scatter_add: index 3 is out of range for dim 1 of size 3");
  EXPECT_EQ(error_of([&] { scatter_add(x, 0, idx({0, 0, 0}, {1, 3}), src); }),
            "scatter_add: index shape [1, 3] is larger than src shape [2, 2] in dim 1");
  EXPECT_EQ(error_of([&] { scatter_add(x, 1, idx({0, 0, 0}, {3, 1}), ones({3, 1})); }),
            "scatter_add: index shape [3, 1] is larger than input shape [2, 3] in dim 0 (only dim 1 may differ)");
  EXPECT_EQ(error_of([&] { scatter_add(x, 0, idx({0}, {1, 1}), ones({1})); }),
            "scatter_add: src has 1 dims (shape [1]) but input has 2 (shape [2, 3])");
  EXPECT_EQ(error_of([&] { scatter_add(x, 0, idx({0}, {1, 1}), Tensor()); }), "scatter_add: argument 'src' is an undefined tensor");
}

TEST(ScatterAdd, IsTheAdjointOfGatherAndPadsTheSrcGradient) {
  Tensor a = uniform({3, 4}, kFloat64, -1, 1, 1), g = uniform({3, 2}, kFloat64, -1, 1, 2);
  Tensor i = idx({0, 3, 3, 1, 2, 2}, {3, 2});
  EXPECT_NEAR(sum(gather(a, 1, i) * g).item<double>(), sum(a * scatter_add(zeros({3, 4}, kFloat64), 1, i, g)).item<double>(), 1e-12);

  // src larger than index: the unused elements of src get a zero gradient (PyTorch raises here).
  Tensor src = ones({2, 3}, dtype(kFloat64).requires_grad());
  scatter_add(zeros({2, 2}, kFloat64), 0, idx({1, 0}, {1, 2}), src).sum().backward();
  EXPECT_EQ(values(src.grad()), (std::vector<double>{1, 1, 0, 0, 0, 0}));
}

TEST(ScatterAdd, LargeInputsInEveryLoopOrderMatchAPlainLoop) {
  // Large enough to run on several threads: rows along the last dim, columns along the others.
  const int64_t R = 300, C = 200;
  Tensor x = uniform({R, C}, kFloat64, -1, 1, 1), src = uniform({R, C}, kFloat64, -1, 1, 2);
  for (int64_t dim : {0, 1}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    Tensor i = indices({R, C}, dim == 0 ? R : C, 3 + dim);
    std::vector<int64_t> iv = i.to_vector<int64_t>();
    std::vector<double> xv = values(x), sv = values(src), want_gather(R * C), want_scatter = xv;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t k = r * C + c, at = dim == 0 ? iv[k] * C + c : r * C + iv[k];
        want_gather[k] = xv[at];
        want_scatter[at] += sv[k];
      }
    EXPECT_EQ(values(gather(x, dim, i)), want_gather);
    EXPECT_EQ(values(gather(x.t().contiguous().t(), dim, i)), want_gather);  // strided input
    std::vector<double> got = values(scatter_add(x, dim, i, src.t().contiguous().t()));  // strided src
    for (size_t k = 0; k < got.size(); ++k) ASSERT_NEAR(got[k], want_scatter[k], 1e-12) << k;
  }
}

TEST(Triangles, KeepTheRequestedDiagonals) {
  Tensor x = ones({3, 4});
  EXPECT_EQ(values(tril(x)), (std::vector<double>{1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0}));
  EXPECT_EQ(values(triu(x)), (std::vector<double>{1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1}));
  EXPECT_EQ(values(tril(x, 1)), (std::vector<double>{1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(values(triu(x, -1)), (std::vector<double>{1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(values(tril(x, -5)), std::vector<double>(12, 0.0));
  EXPECT_EQ(values(triu(x, 10)), std::vector<double>(12, 0.0));
  EXPECT_EQ(values(tril(x.t())), (std::vector<double>{1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1}));
  Tensor b = tril(ones({2, 2, 2}, kInt64));
  EXPECT_EQ(b.dtype(), kInt64);
  EXPECT_EQ(b.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 1, 1, 0, 1, 1}));
  EXPECT_EQ(tril(ones({2, 2}, kBool)).to_vector<bool>(), (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(tril(zeros({0, 3})).shape(), Shape({0, 3}));
  EXPECT_EQ(error_of([] { tril(ones({3})); }), "tril: input must have at least 2 dims, got shape [3]");
  EXPECT_EQ(error_of([] { triu(scalar_tensor(1.0)); }), "triu: input must have at least 2 dims, got shape []");

  Tensor w = ones({3, 3}, dtype(kFloat64).requires_grad());
  triu(w, 1).sum().backward();
  EXPECT_EQ(values(w.grad()), (std::vector<double>{0, 1, 1, 0, 0, 1, 0, 0, 0}));
}

}  // namespace
