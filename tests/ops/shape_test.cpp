// Shape ops (views, cat/stack, copies, conversions): registry entries and behaviour.
#include <gtest/gtest.h>

#include "graft/graph/node.h"
#include "support/op_registry.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::testing;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

using Fn1 = std::function<Tensor(const Tensor&)>;
Sample unary(std::string description, Tensor x, Fn1 f) {
  return sample(std::move(description), {std::move(x)}, [f](const TensorList& in) { return f(in[0]); });
}
// Ops returning several tensors: every piece is an output of the sample.
Sample pieces(std::string description, Tensor x, std::function<std::vector<Tensor>(const Tensor&)> f) {
  return Sample{std::move(description), {std::move(x)}, [f](const TensorList& in) {
                  std::vector<Tensor> out = f(in[0]);
                  return TensorList(out.begin(), out.end());
                }};
}

// ---------------------------------------------------------------- registry entries

GRAFT_REGISTER_OP({.name = "view", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("[2, 6] as [3, 4]", uniform({2, 6}, dt, -2, 2, 1), [](const Tensor& x) { return view(x, {3, 4}); }),
      unary("inferred dim", uniform({2, 3, 4}, dt, -2, 2, 2), [](const Tensor& x) { return view(x, {-1, 4}); }),
      unary("0-dim as [1, 1]", uniform({}, dt, -2, 2, 3), [](const Tensor& x) { return view(x, {1, 1}); }),
      unary("[1] as 0-dim", uniform({1}, dt, -2, 2, 4), [](const Tensor& x) { return view(x, {}); }),
      unary("split a dim of a transposed view", uniform({4, 3}, dt, -2, 2, 5),
            [](const Tensor& x) { return view(x.t(), {3, 2, 2}); })};
}});

GRAFT_REGISTER_OP({.name = "reshape", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("viewable", uniform({2, 6}, dt, -2, 2, 1), [](const Tensor& x) { return reshape(x, {4, -1}); }),
      unary("transposed view (copies)", uniform({3, 4}, dt, -2, 2, 2), [](const Tensor& x) { return reshape(x.t(), {-1}); }),
      unary("to 0-dim", uniform({1, 1}, dt, -2, 2, 3), [](const Tensor& x) { return reshape(x, {}); }),
      unary("expanded view (copies)", uniform({3, 1}, dt, -2, 2, 4),
            [](const Tensor& x) { return reshape(x.expand({3, 2}), {6}); })};
}});

GRAFT_REGISTER_OP({.name = "flatten", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("all dims", uniform({2, 3, 4}, dt, -2, 2, 1), [](const Tensor& x) { return flatten(x); }),
      unary("dims 1..2", uniform({2, 3, 4}, dt, -2, 2, 2), [](const Tensor& x) { return flatten(x, 1); }),
      unary("negative dims", uniform({2, 3, 4, 2}, dt, -2, 2, 3), [](const Tensor& x) { return flatten(x, -3, -2); }),
      unary("0-dim", uniform({}, dt, -2, 2, 4), [](const Tensor& x) { return flatten(x); }),
      unary("permuted view", uniform({2, 3, 4}, dt, -2, 2, 5), [](const Tensor& x) { return flatten(x.permute({2, 0, 1}), 0, 1); })};
}});

GRAFT_REGISTER_OP({.name = "transpose", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("matrix", uniform({2, 3}, dt, -2, 2, 1), [](const Tensor& x) { return transpose(x, 0, 1); }),
      unary("negative dims", uniform({2, 3, 4}, dt, -2, 2, 2), [](const Tensor& x) { return transpose(x, -1, -3); }),
      unary("same dim", uniform({2, 3}, dt, -2, 2, 3), [](const Tensor& x) { return transpose(x, 1, -1); }),
      unary("0-dim", uniform({}, dt, -2, 2, 4), [](const Tensor& x) { return transpose(x, 0, -1) * 1.0; })};
}});

GRAFT_REGISTER_OP({.name = "t", .samples = [](DType dt) {
  return std::vector<Sample>{unary("matrix", uniform({2, 3}, dt, -2, 2, 1), [](const Tensor& x) { return t(x); }),
                             unary("vector", uniform({3}, dt, -2, 2, 2), [](const Tensor& x) { return t(x) * 1.0; }),
                             unary("twice", uniform({3, 2}, dt, -2, 2, 3), [](const Tensor& x) { return t(t(x)); })};
}});

GRAFT_REGISTER_OP({.name = "permute", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("3-D", uniform({2, 3, 4}, dt, -2, 2, 1), [](const Tensor& x) { return permute(x, {2, 0, 1}); }),
      unary("negative dims", uniform({2, 3, 4}, dt, -2, 2, 2), [](const Tensor& x) { return permute(x, {-1, -2, -3}); }),
      unary("of a transposed view", uniform({3, 2}, dt, -2, 2, 3), [](const Tensor& x) { return permute(x.t(), {1, 0}); })};
}});

GRAFT_REGISTER_OP({.name = "expand", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("size-1 dim", uniform({3, 1}, dt, -2, 2, 1), [](const Tensor& x) { return expand(x, {3, 4}); }),
      unary("new leading dims", uniform({3}, dt, -2, 2, 2), [](const Tensor& x) { return expand(x, {2, 2, 3}); }),
      unary("-1 keeps a size", uniform({1, 3}, dt, -2, 2, 3), [](const Tensor& x) { return expand(x, {4, -1}); }),
      unary("0-dim", uniform({}, dt, -2, 2, 4), [](const Tensor& x) { return expand(x, {2, 3}); }),
      unary("of a transposed view", uniform({1, 3}, dt, -2, 2, 5), [](const Tensor& x) { return expand(x.t(), {3, 2}); })};
}});

GRAFT_REGISTER_OP({.name = "squeeze", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("all size-1 dims", uniform({1, 3, 1, 2}, dt, -2, 2, 1), [](const Tensor& x) { return squeeze(x); }),
      unary("one dim", uniform({2, 1, 3}, dt, -2, 2, 2), [](const Tensor& x) { return squeeze(x, 1); }),
      unary("negative dim", uniform({2, 3, 1}, dt, -2, 2, 3), [](const Tensor& x) { return squeeze(x, -1); }),
      unary("a dim that is not 1 (no-op)", uniform({2, 3}, dt, -2, 2, 4), [](const Tensor& x) { return squeeze(x, 0) * 1.0; }),
      unary("to 0-dim", uniform({1, 1}, dt, -2, 2, 5), [](const Tensor& x) { return squeeze(x); })};
}});

GRAFT_REGISTER_OP({.name = "unsqueeze", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("front", uniform({2, 3}, dt, -2, 2, 1), [](const Tensor& x) { return unsqueeze(x, 0); }),
      unary("back (negative)", uniform({2, 3}, dt, -2, 2, 2), [](const Tensor& x) { return unsqueeze(x, -1); }),
      unary("middle of a transposed view", uniform({2, 3}, dt, -2, 2, 3), [](const Tensor& x) { return unsqueeze(x.t(), 1); }),
      unary("0-dim", uniform({}, dt, -2, 2, 4), [](const Tensor& x) { return unsqueeze(x, 0); })};
}});

GRAFT_REGISTER_OP({.name = "narrow", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("rows", uniform({4, 3}, dt, -2, 2, 1), [](const Tensor& x) { return narrow(x, 0, 1, 2); }),
      unary("negative dim and start", uniform({3, 5}, dt, -2, 2, 2), [](const Tensor& x) { return narrow(x, -1, -3, 2); }),
      unary("empty", uniform({3, 5}, dt, -2, 2, 3), [](const Tensor& x) { return narrow(x, 1, 2, 0) * 1.0; }),
      unary("transposed view", uniform({3, 5}, dt, -2, 2, 4), [](const Tensor& x) { return narrow(x.t(), 0, 1, 3); })};
}});

GRAFT_REGISTER_OP({.name = "slice", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("start:end", uniform({5, 3}, dt, -2, 2, 1), [](const Tensor& x) { return slice(x, 0, 1, 4); }),
      unary("with step", uniform({3, 7}, dt, -2, 2, 2), [](const Tensor& x) { return slice(x, 1, 1, std::nullopt, 3); }),
      unary("negative bounds", uniform({6}, dt, -2, 2, 3), [](const Tensor& x) { return slice(x, -1, -4, -1); }),
      unary("bounds past the end are clamped", uniform({4}, dt, -2, 2, 4), [](const Tensor& x) { return slice(x, 0, -10, 10, 2); }),
      unary("transposed view", uniform({3, 5}, dt, -2, 2, 5), [](const Tensor& x) { return slice(x.t(), 0, std::nullopt, 4, 2); })};
}});

GRAFT_REGISTER_OP({.name = "select", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("row", uniform({3, 4}, dt, -2, 2, 1), [](const Tensor& x) { return select(x, 0, 1); }),
      unary("negative dim and index", uniform({3, 4}, dt, -2, 2, 2), [](const Tensor& x) { return select(x, -1, -1); }),
      unary("to 0-dim", uniform({4}, dt, -2, 2, 3), [](const Tensor& x) { return select(x, 0, 2); }),
      unary("operator[] on a transposed view", uniform({3, 4}, dt, -2, 2, 4), [](const Tensor& x) { return x.t()[2]; })};
}});

GRAFT_REGISTER_OP({.name = "split", .samples = [](DType dt) {
  return std::vector<Sample>{
      pieces("equal pieces", uniform({6, 2}, dt, -2, 2, 1), [](const Tensor& x) { return split(x, 2); }),
      pieces("last piece shorter", uniform({2, 7}, dt, -2, 2, 2), [](const Tensor& x) { return split(x, 3, -1); }),
      pieces("sizes", uniform({2, 6}, dt, -2, 2, 3), [](const Tensor& x) { return split(x, {1, 0, 3, 2}, 1); }),
      pieces("one piece used", uniform({6}, dt, -2, 2, 4), [](const Tensor& x) { return std::vector<Tensor>{split(x, 2).back()}; }),
      pieces("transposed view", uniform({4, 3}, dt, -2, 2, 5), [](const Tensor& x) { return split(x.t(), 2, 1); })};
}});

GRAFT_REGISTER_OP({.name = "chunk", .samples = [](DType dt) {
  return std::vector<Sample>{
      pieces("even", uniform({6, 2}, dt, -2, 2, 1), [](const Tensor& x) { return chunk(x, 3); }),
      pieces("uneven (fewer pieces)", uniform({2, 6}, dt, -2, 2, 2), [](const Tensor& x) { return chunk(x, 4, -1); }),
      pieces("one used", uniform({2, 6}, dt, -2, 2, 3), [](const Tensor& x) { return std::vector<Tensor>{chunk(x, 2, 1)[0] * 2.0}; })};
}});

GRAFT_REGISTER_OP({.name = "cat", .samples = [](DType dt) {
  auto f = [](int64_t dim) { return [dim](const TensorList& in) { return cat(std::vector<Tensor>(in.begin(), in.end()), dim); }; };
  return std::vector<Sample>{
      sample("dim 0", {uniform({2, 3}, dt, -2, 2, 1), uniform({1, 3}, dt, -2, 2, 2)}, f(0)),
      sample("negative dim, three tensors", {uniform({2, 1}, dt, -2, 2, 3), uniform({2, 3}, dt, -2, 2, 4), uniform({2, 2}, dt, -2, 2, 5)}, f(-1)),
      sample("one constant input", {uniform({2, 2}, dt, -2, 2, 6), uniform({2, 2}, dt, -2, 2, 7)}, f(1), {0}),
      sample("a transposed view", {uniform({3, 2}, dt, -2, 2, 8), uniform({2, 2}, dt, -2, 2, 9)},
             [](const TensorList& in) { return cat({in[0].t(), in[1]}, 1); }),
      sample("the same tensor twice", {uniform({2}, dt, -2, 2, 10)}, [](const TensorList& in) { return cat({in[0], in[0]}); })};
}});

GRAFT_REGISTER_OP({.name = "stack", .samples = [](DType dt) {
  auto f = [](int64_t dim) { return [dim](const TensorList& in) { return stack(std::vector<Tensor>(in.begin(), in.end()), dim); }; };
  return std::vector<Sample>{sample("dim 0", {uniform({2, 3}, dt, -2, 2, 1), uniform({2, 3}, dt, -2, 2, 2)}, f(0)),
                             sample("last dim (negative)", {uniform({3}, dt, -2, 2, 3), uniform({3}, dt, -2, 2, 4)}, f(-1)),
                             sample("0-dim tensors", {uniform({}, dt, -2, 2, 5), uniform({}, dt, -2, 2, 6)}, f(0))};
}});

GRAFT_REGISTER_OP({.name = "contiguous", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("transposed view", uniform({2, 3}, dt, -2, 2, 1), [](const Tensor& x) { return contiguous(x.t()); }),
      unary("already contiguous", uniform({2, 3}, dt, -2, 2, 2), [](const Tensor& x) { return contiguous(x) * 1.0; })};
}});

GRAFT_REGISTER_OP({.name = "clone", .samples = [](DType dt) {
  return std::vector<Sample>{unary("matrix", uniform({2, 3}, dt, -2, 2, 1), [](const Tensor& x) { return clone(x); }),
                             unary("expanded view", uniform({3}, dt, -2, 2, 2), [](const Tensor& x) { return clone(x.expand({2, 3})); })};
}});

GRAFT_REGISTER_OP({.name = "to", .samples = [](DType dt) {
  // f32 <-> f64 round trips lose precision, so the differentiable samples convert to float64 (a real
  // conversion in the float32 run); conversions to int64 and bool leave the graph.
  return std::vector<Sample>{
      unary("to float64", uniform({2, 3}, dt, -2, 2, 1), [](const Tensor& x) { return to(x, kFloat64) * 1.0; }),
      Sample{"to int64 and bool (not differentiable)", {uniform({2, 3}, dt, -2, 2, 2)},
             [](const TensorList& in) { return TensorList{in[0] * 1.0, to(in[0], kInt64), to(in[0], kBool)}; }}};
}});

GRAFT_REGISTER_OP({.name = "slice_backward", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("rows 1..3 of 4", uniform({2, 3}, dt, -2, 2, 1), [](const Tensor& g) { return slice_backward(g, {4, 3}, 0, 1, 3, 1); }),
      unary("with step", uniform({2, 2}, dt, -2, 2, 2), [](const Tensor& g) { return slice_backward(g, {2, 5}, -1, 1, 5, 2); })};
}});

GRAFT_REGISTER_OP({.name = "select_backward", .samples = [](DType dt) {
  return std::vector<Sample>{
      unary("row", uniform({3}, dt, -2, 2, 1), [](const Tensor& g) { return select_backward(g, {4, 3}, 0, 2); }),
      unary("negative dim and index", uniform({4}, dt, -2, 2, 2), [](const Tensor& g) { return select_backward(g, {4, 3}, -1, -1); })};
}});

// ---------------------------------------------------------------- behaviour

bool shares_storage(const Tensor& a, const Tensor& b) { return a.storage() == b.storage(); }

TEST(Views, ShareStorageWithTheirInput) {
  Tensor x = arange(24.0).reshape({2, 3, 4});
  const char* base = static_cast<const char*>(x.data_ptr());
  for (const Tensor& v : {view(x, {6, 4}), reshape(x, {4, 6}), flatten(x), flatten(x, 1), transpose(x, 0, 2),
                          permute(x, {1, 2, 0}), unsqueeze(x, 1), squeeze(unsqueeze(x, 0)), expand(x.select(0, 0), {5, 3, 4}),
                          narrow(x, 2, 1, 2), slice(x, 1, 1, std::nullopt), select(x, 1, 2), x[1], t(x.select(0, 0)),
                          contiguous(x)}) {
    EXPECT_TRUE(shares_storage(v, x));
  }
  EXPECT_EQ(view(x, {6, 4}).data_ptr(), x.data_ptr());
  EXPECT_EQ(static_cast<const char*>(narrow(x, 2, 1, 2).data_ptr()), base + 1 * sizeof(float));
  EXPECT_EQ(static_cast<const char*>(select(x, 0, 1).data_ptr()), base + 12 * sizeof(float));
  EXPECT_EQ(static_cast<const char*>(slice(x, 1, 2, 3).data_ptr()), base + 8 * sizeof(float));
  for (const auto& pieces : {split(x, 1, 1), chunk(x, 2, 2), split(x, {1, 3}, -1)})
    for (const Tensor& p : pieces) EXPECT_TRUE(shares_storage(p, x));
  EXPECT_EQ(static_cast<const char*>(chunk(x, 2, 2)[1].data_ptr()), base + 2 * sizeof(float));
  EXPECT_EQ(transpose(x, 0, 2).strides(), Shape({1, 4, 12}));
  EXPECT_EQ(expand(x.select(0, 0), {5, 3, 4}).strides(), Shape({0, 4, 1}));
  EXPECT_TRUE(contiguous(x).is_same(x));
}

TEST(Views, WritesThroughAViewAreSeenByTheBase) {
  Tensor x = zeros({3, 4});
  x.select(0, 1).fill_(2.0);
  x.t().narrow(0, 3, 1).fill_(5.0);  // column 3
  split(x, 1)[2].add_(1.0);
  EXPECT_EQ(values(x), (std::vector<double>{0, 0, 0, 5, 2, 2, 2, 5, 1, 1, 1, 6}));
  Tensor v = view(x, {12});
  const uint32_t before = x.version();
  v.zero_();
  EXPECT_GT(x.version(), before);  // views share the version counter
  EXPECT_EQ(sum(x).item<double>(), 0.0);
}

TEST(View, OnANonViewableLayoutRaisesAndReshapeCopies) {
  Tensor x = arange(6.0).reshape({2, 3});
  Tensor xt = x.t();
  EXPECT_EQ(error_of([&] { view(xt, {6}); }),
            "view: a tensor of shape [3, 2] and strides [1, 3] cannot be viewed as [6] without a copy; use reshape");
  Tensor r = reshape(xt, {6});
  EXPECT_FALSE(shares_storage(r, x));
  EXPECT_EQ(values(r), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_TRUE(shares_storage(reshape(xt, {3, 2, 1}), x));  // adding a size-1 dim needs no copy
  EXPECT_TRUE(shares_storage(view(xt, {3, 1, 2}), x));
  EXPECT_EQ(error_of([&] { view(x, {4, 2}); }), "view: shape [4, 2] is invalid for input of size 6");
  EXPECT_EQ(error_of([&] { reshape(x, {-1, -1}); }), "reshape: only one dimension can be -1, got shape [-1, -1]");
  EXPECT_EQ(error_of([&] { reshape(x, {-1, 4}); }), "reshape: shape [-1, 4] is invalid for input of size 6");
  EXPECT_EQ(error_of([&] { view(x, {-2, 3}); }), "view: invalid size -2 in shape [-2, 3]");
  EXPECT_EQ(reshape(zeros({0, 3}), {3, 0, 5}).shape(), Shape({3, 0, 5}));
  EXPECT_EQ(error_of([] { reshape(zeros({0, 3}), {3, -1, 0}); }), "reshape: shape [3, -1, 0] is invalid for input of size 0");
}

TEST(View, GradientFlowsBackThroughViewsAndCopies) {
  Tensor x = arange(6.0, dtype(kFloat64)).reshape({2, 3}).detach().requires_grad_();
  Tensor y = reshape(x.t(), {6}) * tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {}, kFloat64);
  y.sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{1, 3, 5, 2, 4, 6}));
}

TEST(Flatten, RangesOfDims) {
  Tensor x = zeros({2, 3, 4, 5});
  EXPECT_EQ(flatten(x).shape(), Shape({120}));
  EXPECT_EQ(flatten(x, 1, 2).shape(), Shape({2, 12, 5}));
  EXPECT_EQ(flatten(x, -2).shape(), Shape({2, 3, 20}));
  EXPECT_EQ(flatten(x, 2, 2).shape(), Shape({2, 3, 4, 5}));
  EXPECT_EQ(flatten(scalar_tensor(1.0)).shape(), Shape({1}));
  EXPECT_EQ(flatten(scalar_tensor(1.0), -1, 0).shape(), Shape({1}));
  EXPECT_EQ(error_of([] { flatten(scalar_tensor(1.0), 1); }), "flatten: dim 1 is out of range for a tensor of 0 dims (expected in [-1, 0])");
  EXPECT_EQ(error_of([&] { flatten(x, 2, 1); }), "flatten: start_dim 2 comes after end_dim 1");
  EXPECT_EQ(error_of([&] { flatten(x, 4); }), "flatten: dim 4 is out of range for a tensor of 4 dims (expected in [-4, 3])");
}

TEST(Transpose, PermuteAndTCheckTheirDims) {
  Tensor x = zeros({2, 3, 4});
  EXPECT_EQ(transpose(x, 0, -1).shape(), Shape({4, 3, 2}));
  EXPECT_EQ(error_of([&] { transpose(x, 0, 3); }), "transpose: dim 3 is out of range for a tensor of 3 dims (expected in [-3, 2])");
  EXPECT_EQ(permute(x, {1, -1, 0}).shape(), Shape({3, 4, 2}));
  EXPECT_EQ(error_of([&] { permute(x, {0, 1}); }), "permute: got 2 dims [0, 1] for a tensor of 3 dims (shape [2, 3, 4])");
  EXPECT_EQ(error_of([&] { permute(x, {0, 1, -3}); }), "permute: dims [0, 1, -3] is not a permutation of 3 dims (dim 0 repeats)");
  EXPECT_EQ(error_of([&] { t(x); }), "t: expects a tensor with at most 2 dims, got shape [2, 3, 4]");
  EXPECT_EQ(t(zeros({3})).shape(), Shape({3}));
  EXPECT_EQ(x.mT().shape(), Shape({2, 4, 3}));
  Tensor p = arange(24.0).reshape({2, 3, 4});
  EXPECT_EQ(permute(p, {2, 0, 1}).at<double>({3, 1, 2}), p.at<double>({1, 2, 3}));
}

TEST(Expand, BroadcastsWithoutCopyingAndChecksSizes) {
  Tensor x = tensor({1.0, 2.0, 3.0}, {3, 1});
  Tensor e = expand(x, {2, 3, 4});
  EXPECT_EQ(e.shape(), Shape({2, 3, 4}));
  EXPECT_EQ(e.strides(), Shape({0, 1, 0}));
  EXPECT_EQ(e.at<double>({1, 2, 3}), 3.0);
  EXPECT_EQ(expand(x, {-1, 2}).shape(), Shape({3, 2}));
  EXPECT_EQ(x.expand_as(zeros({3, 5})).shape(), Shape({3, 5}));
  EXPECT_EQ(expand(x, {3, 0}).shape(), Shape({3, 0}));
  EXPECT_EQ(error_of([&] { expand(x, {4, 2}); }),
            "expand: the expanded size (4) must match the existing size (3) at non-singleton dim 0; target sizes [4, 2], "
            "tensor sizes [3, 1]");
  EXPECT_EQ(error_of([&] { expand(x, {4}); }),
            "expand: the number of sizes given (1) must be at least the number of dims of the tensor (2)");
  EXPECT_EQ(error_of([&] { expand(x, {-1, 3, 2}); }), "expand: size -1 is not allowed in a leading, new dim (sizes [-1, 3, 2])");
  EXPECT_EQ(error_of([&] { expand(x, {3, -2}); }), "expand: invalid size -2 at dim 1 (sizes [3, -2])");
}

TEST(Expand, GradientSumsOverTheBroadcastDims) {
  Tensor x = tensor({1.0, 2.0}, {2, 1}, dtype(kFloat64).requires_grad());
  expand(x, {3, 2, 4}).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{12, 12}));
  EXPECT_STREQ(expand(x, {2, 2}).grad_fn()->name(), "ExpandBackward0");
}

TEST(Squeeze, AndUnsqueeze) {
  Tensor x = zeros({1, 3, 1, 2});
  EXPECT_EQ(squeeze(x).shape(), Shape({3, 2}));
  EXPECT_EQ(squeeze(x, 2).shape(), Shape({1, 3, 2}));
  EXPECT_EQ(squeeze(x, 1).shape(), Shape({1, 3, 1, 2}));  // not size 1: unchanged
  EXPECT_EQ(squeeze(scalar_tensor(1.0), 0).shape(), Shape({}));
  EXPECT_EQ(unsqueeze(x, -1).shape(), Shape({1, 3, 1, 2, 1}));
  EXPECT_EQ(unsqueeze(scalar_tensor(1.0), -1).shape(), Shape({1}));
  EXPECT_EQ(error_of([&] { squeeze(x, 4); }), "squeeze: dim 4 is out of range for a tensor of 4 dims (expected in [-4, 3])");
  EXPECT_EQ(error_of([&] { unsqueeze(x, 5); }), "unsqueeze: dim 5 is out of range for a tensor of 5 dims (expected in [-5, 4])");
}

TEST(Slicing, NarrowSliceAndSelectBounds) {
  Tensor x = arange(10.0);
  EXPECT_EQ(values(slice(x, 0, 2, 8, 3)), (std::vector<double>{2, 5}));
  EXPECT_EQ(values(slice(x, 0, -3, std::nullopt)), (std::vector<double>{7, 8, 9}));
  EXPECT_EQ(values(slice(x, 0, 8, 2)).size(), 0u);  // end before start: empty
  EXPECT_EQ(values(slice(x, 0, -100, 2)), (std::vector<double>{0, 1}));
  EXPECT_EQ(values(narrow(x, 0, -2, 2)), (std::vector<double>{8, 9}));
  EXPECT_EQ(narrow(x, 0, 10, 0).numel(), 0);
  EXPECT_EQ(select(x, 0, -1).item<double>(), 9.0);
  EXPECT_EQ(error_of([&] { slice(x, 0, 0, 5, 0); }), "slice: step must be positive, got 0");
  EXPECT_EQ(error_of([&] { slice(x, 1, 0, 5); }), "slice: dim 1 is out of range for a tensor of 1 dims (expected in [-1, 0])");
  EXPECT_EQ(error_of([&] { slice(scalar_tensor(1.0), 0, 0, 1); }), "slice: cannot slice a 0-dim tensor");
  EXPECT_EQ(error_of([&] { narrow(x, 0, 8, 3); }), "narrow: start (8) + length (3) exceeds dim 0 of size 10");
  EXPECT_EQ(error_of([&] { narrow(x, 0, 11, 0); }), "narrow: start 11 is out of range for dim 0 of size 10");
  EXPECT_EQ(error_of([&] { narrow(x, 0, 0, -1); }), "narrow: start (0) + length (-1) exceeds dim 0 of size 10");
  EXPECT_EQ(error_of([&] { select(x, 0, 10); }), "select: index 10 is out of range for dim 0 of size 10");
  EXPECT_EQ(error_of([&] { select(x, 0, -11); }), "select: index -11 is out of range for dim 0 of size 10");
  EXPECT_EQ(error_of([&] { x[10]; }), "select: index 10 is out of range for dim 0 of size 10");
  EXPECT_EQ(error_of([&] { select(scalar_tensor(1.0), 0, 0); }), "select: cannot select from a 0-dim tensor");
}

TEST(Slicing, BackwardHelpersPlaceTheGradientAndCheckTheirArguments) {
  Tensor g = tensor({1.0, 2.0}, {1, 2});
  EXPECT_EQ(values(slice_backward(g, {1, 4}, 1, 1, 4, 2)), (std::vector<double>{0, 1, 0, 2}));
  EXPECT_EQ(values(select_backward(tensor({1.0, 2.0}, {}), {2, 2}, 1, -1)), (std::vector<double>{0, 1, 0, 2}));
  EXPECT_EQ(error_of([&] { slice_backward(g, {2, 4}, 2, 0, 1, 1); }),
            "slice_backward: dim 2 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([&] { slice_backward(g, {2, 4}, 1, 2, 5, 1); }),
            "slice_backward: the slice [2, 5) does not fit dim 1 of size 4 (input shape [2, 4])");
  EXPECT_EQ(error_of([&] { slice_backward(g, {2, 4}, 1, 0, 4, 0); }), "slice_backward: step must be positive, got 0");
  EXPECT_EQ(error_of([&] { slice_backward(g, {2, 4}, 1, 0, 4, 1); }),
            "slice_backward: gradient of shape [1, 2] does not fit the slice [2, 4] of [2, 4]");
  EXPECT_EQ(error_of([&] { select_backward(g, {2, 4}, 0, 2); }), "select_backward: index 2 is out of range for dim 0 of size 2");
  EXPECT_EQ(error_of([&] { select_backward(g, {}, 0, 0); }), "select_backward: input_shape must have at least 1 dim");
  EXPECT_EQ(error_of([&] { select_backward(g, {2, 4}, 0, 1); }),
            "select_backward: gradient of shape [1, 2] does not fit a slice [4] of [2, 4]");
}

TEST(Split, PiecesFollowPyTorchsRules) {
  Tensor x = arange(7.0);
  auto sizes = [](const std::vector<Tensor>& ps) {
    std::vector<int64_t> s;
    for (const Tensor& p : ps) s.push_back(p.shape()[0]);
    return s;
  };
  EXPECT_EQ(sizes(split(x, 3)), (std::vector<int64_t>{3, 3, 1}));
  EXPECT_EQ(sizes(split(x, 10)), (std::vector<int64_t>{7}));
  EXPECT_EQ(sizes(split(x, {2, 0, 5})), (std::vector<int64_t>{2, 0, 5}));
  EXPECT_EQ(sizes(chunk(x, 3)), (std::vector<int64_t>{3, 3, 1}));
  EXPECT_EQ(sizes(chunk(arange(6.0), 4)), (std::vector<int64_t>{2, 2, 2}));  // ceil(6 / 4) = 2: only 3 pieces
  EXPECT_EQ(sizes(chunk(arange(5.0), 4)), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(sizes(chunk(x, 10)), (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(sizes(chunk(zeros({0}), 3)), (std::vector<int64_t>{0, 0, 0}));  // an empty dim: `chunks` empty pieces
  EXPECT_EQ(sizes(split(zeros({0}), 0)), (std::vector<int64_t>{0}));
  EXPECT_EQ(sizes(split(zeros({0}), 2)), (std::vector<int64_t>{0}));
  EXPECT_EQ(values(split(x, 3)[2]), (std::vector<double>{6}));
  EXPECT_EQ(error_of([&] { split(x, 0); }), "split: split_size can only be 0 if dim 0 has size 0, but it has size 7");
  EXPECT_EQ(error_of([&] { split(x, -1); }), "split: split_size must be non-negative, got -1");
  EXPECT_EQ(error_of([&] { split(x, {2, 2}); }), "split: split sizes [2, 2] add up to 4, but dim 0 has size 7");
  EXPECT_EQ(error_of([&] { split(x, {8, -1}); }), "split: split sizes must be non-negative, got [8, -1]");
  EXPECT_EQ(error_of([&] { split(x, 2, 1); }), "split: dim 1 is out of range for a tensor of 1 dims (expected in [-1, 0])");
  EXPECT_EQ(error_of([&] { split(scalar_tensor(1.0), 1); }), "split: cannot split a 0-dim tensor");
  EXPECT_EQ(error_of([&] { chunk(x, 0); }), "chunk: number of chunks must be positive, got 0");
  EXPECT_EQ(error_of([&] { chunk(scalar_tensor(1.0), 2); }), "chunk: cannot chunk a 0-dim tensor");
}

TEST(Split, PiecesShareOneBackwardNodeAndUnusedPiecesGetZeros) {
  Tensor x = arange(6.0, dtype(kFloat64)).detach().requires_grad_();
  std::vector<Tensor> ps = chunk(x, 3);
  EXPECT_EQ(ps[0].grad_fn(), ps[2].grad_fn());
  EXPECT_STREQ(ps[0].grad_fn()->name(), "SplitBackward0");
  EXPECT_EQ(ps[1].output_nr(), 1u);
  (ps[1] * 3.0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0, 3, 3, 0, 0}));
  EXPECT_STREQ(split(x, {1, 5})[0].grad_fn()->name(), "SplitWithSizesBackward0");
}

TEST(Cat, ShapeRulesDtypesAndGradients) {
  Tensor a = ones({2, 3}), b = zeros({1, 3});
  EXPECT_EQ(cat({a, b}).shape(), Shape({3, 3}));
  EXPECT_EQ(values(cat({tensor({1.0}, {}), tensor({2.0, 3.0}, {})})), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(cat({a, ones({2, 1})}, -1).shape(), Shape({2, 4}));
  EXPECT_EQ(cat({a, ones({2, 3}, kFloat64)}).dtype(), kFloat64);
  EXPECT_EQ(cat({arange(2), tensor({0.5}, {})}).dtype(), kFloat32);
  EXPECT_EQ(cat({zeros({0}), a, zeros({0})}).shape(), Shape({2, 3}));  // PyTorch's legacy empty tensors are skipped
  EXPECT_EQ(cat({zeros({0}), zeros({0})}).shape(), Shape({0}));
  EXPECT_EQ(cat({a, zeros({0, 3})}).shape(), Shape({2, 3}));
  EXPECT_EQ(error_of([&] { cat({}); }), "cat: expected a non-empty list of tensors");
  EXPECT_EQ(error_of([&] { cat({a, ones({2, 2})}); }),
            "cat: tensors must have the same shape except in dim 0: tensor 0 has shape [2, 3], tensor 1 has shape [2, 2]");
  EXPECT_EQ(error_of([&] { cat({a, ones({3})}); }), "cat: tensor 1 has 1 dims (shape [3]), but tensor 0 has 2 (shape [2, 3])");
  EXPECT_EQ(error_of([&] { cat({a, b}, 2); }), "cat: dim 2 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([&] { cat({scalar_tensor(1.0)}); }), "cat: zero-dimensional tensor 0 cannot be concatenated");
  EXPECT_EQ(error_of([&] { cat({a, Tensor()}); }), "cat: tensor 1 is undefined");

  Tensor x = ones({2, 2}, dtype(kFloat64).requires_grad()), y = ones({2, 1}, requires_grad());
  Tensor e = zeros({0}, requires_grad());
  Tensor c = cat({x, e, y}, 1);
  EXPECT_EQ(c.dtype(), kFloat64);
  (c * tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3}, kFloat64)).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{1, 2, 4, 5}));
  EXPECT_EQ(values(y.grad()), (std::vector<double>{3, 6}));
  EXPECT_EQ(y.grad().dtype(), kFloat32);
  EXPECT_EQ(e.grad().shape(), Shape({0}));
}

TEST(Stack, InsertsANewDim) {
  Tensor a = arange(3.0), b = arange(3.0) + 10;
  EXPECT_EQ(stack({a, b}).shape(), Shape({2, 3}));
  EXPECT_EQ(values(stack({a, b}, 1)), (std::vector<double>{0, 10, 1, 11, 2, 12}));
  EXPECT_EQ(stack({a, b}, -1).shape(), Shape({3, 2}));
  EXPECT_EQ(stack({scalar_tensor(1.0), scalar_tensor(2.0)}).shape(), Shape({2}));
  EXPECT_EQ(error_of([&] { stack({a, ones({2})}); }), "stack: expects each tensor to be equal size, but got [3] at entry 0 and [2] at entry 1");
  EXPECT_EQ(error_of([&] { stack({a, b}, 2); }), "stack: dim 2 is out of range for a tensor of 2 dims (expected in [-2, 1])");
  EXPECT_EQ(error_of([&] { stack({}); }), "stack: expected a non-empty list of tensors");
}

TEST(Copies, CloneContiguousAndTo) {
  Tensor x = arange(6.0).reshape({2, 3});
  Tensor c = clone(x);
  EXPECT_FALSE(shares_storage(c, x));
  EXPECT_TRUE(equal(c, x));
  Tensor tc = contiguous(x.t());
  EXPECT_TRUE(tc.is_contiguous());
  EXPECT_FALSE(shares_storage(tc, x));
  EXPECT_EQ(values(tc), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_TRUE(to(x, kFloat32).is_same(x));
  EXPECT_EQ(to(x, kInt64).dtype(), kInt64);
  EXPECT_EQ(to(tensor({-1.5, 0.0, 2.7}, {}), kInt64).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 2}));  // truncation
  EXPECT_EQ(to(tensor({-1.5, 0.0, 2.7}, {}), kBool).to_vector<bool>(), (std::vector<bool>{true, false, true}));

  Tensor w = ones({2}, requires_grad());
  EXPECT_FALSE(to(w, kInt64).requires_grad());  // integer results leave the graph
  Tensor d = to(w, kFloat64);
  EXPECT_EQ(d.dtype(), kFloat64);
  (d * 3.0).sum().backward();
  EXPECT_EQ(w.grad().dtype(), kFloat32);
  EXPECT_EQ(values(w.grad()), (std::vector<double>{3, 3}));
  EXPECT_THROW(clone(Tensor()), Error);
}

}  // namespace
