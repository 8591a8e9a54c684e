// conv1d, conv2d, conv_transpose1d and conv_transpose2d (ops/conv.h): registry entries (gradcheck and
// gradgradcheck in float64, float32 vs float64, oneDNN vs the loops), PyTorch's values
// (tests/reference/conv.py), empty batches and bad input.
#include <gtest/gtest.h>

#include "graft/ops/kernels/backend.h"
#include "support/errors.h"
#include "support/op_registry.h"
#include "torch_reference.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;
namespace ref = graft::testing::torch_reference;

namespace {

GRAFT_REGISTER_OP({.name = "conv2d", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("3x3, padding 1, bias", {uniform({2, 3, 5, 4}, dt, -1, 1, 1), uniform({4, 3, 3, 3}, dt, -1, 1, 2), uniform({4}, dt, -1, 1, 3)},
             [](const TensorList& in) { return F::conv2d(in[0], in[1], in[2], 1, 1); }),
      sample("stride 2, dilation (1, 2), groups 2, no bias", {uniform({1, 4, 7, 6}, dt, -1, 1, 4), uniform({4, 2, 2, 2}, dt, -1, 1, 5)},
             [](const TensorList& in) { return F::conv2d(in[0], in[1], {}, 2, {1, 0}, {1, 2}, 2); }),
      sample("depthwise", {uniform({1, 3, 4, 4}, dt, -1, 1, 6), uniform({3, 1, 3, 3}, dt, -1, 1, 7), uniform({3}, dt, -1, 1, 8)},
             [](const TensorList& in) { return F::conv2d(in[0], in[1], in[2], 1, 1, 1, 3); }),
      sample("padding same, even kernel", {uniform({1, 2, 4, 5}, dt, -1, 1, 9), uniform({2, 2, 2, 3}, dt, -1, 1, 10)},
             [](const TensorList& in) { return F::conv2d(in[0], in[1], {}, 1, "same"); }),
      sample("unbatched, transposed view", {uniform({5, 4, 2}, dt, -1, 1, 11), uniform({3, 2, 2, 2}, dt, -1, 1, 12)},
             [](const TensorList& in) { return F::conv2d(in[0].permute({2, 0, 1}), in[1]); })};
}});

GRAFT_REGISTER_OP({.name = "conv1d", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("padding 1, stride 2, bias", {uniform({2, 3, 7}, dt, -1, 1, 1), uniform({2, 3, 3}, dt, -1, 1, 2), uniform({2}, dt, -1, 1, 3)},
             [](const TensorList& in) { return F::conv1d(in[0], in[1], in[2], 2, 1); }),
      sample("groups 2, dilation 2, same", {uniform({1, 4, 6}, dt, -1, 1, 4), uniform({4, 2, 2}, dt, -1, 1, 5)},
             [](const TensorList& in) { return F::conv1d(in[0], in[1], {}, 1, "same", 2, 2); }),
      sample("unbatched", {uniform({2, 5}, dt, -1, 1, 6), uniform({3, 2, 3}, dt, -1, 1, 7)},
             [](const TensorList& in) { return F::conv1d(in[0], in[1]); })};
}});

GRAFT_REGISTER_OP({.name = "conv_transpose2d", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("stride 2, padding 1, output_padding 1, bias", {uniform({2, 3, 3, 2}, dt, -1, 1, 1), uniform({3, 2, 3, 3}, dt, -1, 1, 2), uniform({2}, dt, -1, 1, 3)},
             [](const TensorList& in) { return F::conv_transpose2d(in[0], in[1], in[2], 2, 1, 1); }),
      sample("groups 2, dilation 2, output_padding below dilation", {uniform({1, 4, 2, 3}, dt, -1, 1, 4), uniform({4, 1, 2, 2}, dt, -1, 1, 5)},
             [](const TensorList& in) { return F::conv_transpose2d(in[0], in[1], {}, 1, {0, 1}, 1, 2, 2); })};
}});

GRAFT_REGISTER_OP({.name = "conv_transpose1d", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("stride 3, output_padding 2, bias", {uniform({2, 3, 3}, dt, -1, 1, 1), uniform({3, 2, 3}, dt, -1, 1, 2), uniform({2}, dt, -1, 1, 3)},
             [](const TensorList& in) { return F::conv_transpose1d(in[0], in[1], in[2], 3, 1, 2); }),
      sample("unbatched, groups 2", {uniform({4, 3}, dt, -1, 1, 4), uniform({4, 2, 2}, dt, -1, 1, 5)},
             [](const TensorList& in) { return F::conv_transpose1d(in[0], in[1], {}, 1, 0, 0, 2); })};
}});

// ---------------------------------------------------------------- PyTorch's values

std::vector<int64_t> ints(const nlohmann::json& args, const char* key, int64_t fallback) {
  if (!args.contains(key)) return {fallback};
  const auto& v = args.at(key);
  return v.is_array() ? v.get<std::vector<int64_t>>() : std::vector<int64_t>{v.get<int64_t>()};
}

Tensor run_case(const nlohmann::json& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  const auto& a = c.at("args");
  const std::string op = c.at("op");
  const int64_t groups = a.value("groups", 1);
  if (op == "conv1d" || op == "conv2d") {
    F::ConvPadding padding = a.contains("padding") && a.at("padding").is_string()
                                 ? F::ConvPadding(a.at("padding").get<std::string>())
                                 : F::ConvPadding(ints(a, "padding", 0));
    return op == "conv1d" ? F::conv1d(x, w, b, ints(a, "stride", 1), padding, ints(a, "dilation", 1), groups)
                          : F::conv2d(x, w, b, ints(a, "stride", 1), padding, ints(a, "dilation", 1), groups);
  }
  auto fn = op == "conv_transpose1d" ? F::conv_transpose1d : F::conv_transpose2d;
  return fn(x, w, b, ints(a, "stride", 1), ints(a, "padding", 0), ints(a, "output_padding", 0), groups,
            ints(a, "dilation", 1));
}

void check_against_pytorch(DType dt, bool reference_kernels) {
  ReferenceKernelsGuard guard(reference_kernels);
  const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
  for (const auto& c : ref::reference_json("conv.json").at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    Tensor x = ref::to_tensor(c.at("x"), dt).requires_grad_(), w = ref::to_tensor(c.at("w"), dt).requires_grad_();
    Tensor b = c.contains("b") ? ref::to_tensor(c.at("b"), dt).requires_grad_() : Tensor();
    Tensor y = run_case(c, x, w, b);
    EXPECT_TRUE(allclose(y.to(kFloat64), ref::to_tensor(c.at("y")), tol, tol)) << y;
    TensorList wrt{x, w};
    if (b.defined()) wrt.push_back(b);
    TensorList g = autograd::grad({y}, wrt, {ref::to_tensor(c.at("v"), dt)});
    EXPECT_TRUE(allclose(g[0].to(kFloat64), ref::to_tensor(c.at("gx")), tol, tol)) << "input gradient\n" << g[0];
    EXPECT_TRUE(allclose(g[1].to(kFloat64), ref::to_tensor(c.at("gw")), tol, tol)) << "weight gradient\n" << g[1];
    if (b.defined()) {
      EXPECT_TRUE(allclose(g[2].to(kFloat64), ref::to_tensor(c.at("gb")), tol, tol)) << "bias gradient";
    }
  }
}

TEST(Conv, MatchesPyTorchInFloat64) { check_against_pytorch(kFloat64, false); }
TEST(Conv, MatchesPyTorchInFloat32OnOneDnn) { check_against_pytorch(kFloat32, false); }
TEST(Conv, MatchesPyTorchInFloat32OnTheLoops) { check_against_pytorch(kFloat32, true); }

// Channel counts and sizes of a real CNN layer, where oneDNN picks blocked layouts (and reorders to them).
TEST(Conv, OneDnnAgreesWithTheLoopsOnACnnLayer) {
  Tensor x0 = uniform({4, 16, 10, 9}, kFloat32, -1, 1, 1), w0 = uniform({32, 16, 3, 3}, kFloat32, -0.3, 0.3, 2),
         b0 = uniform({32}, kFloat32, -1, 1, 3), v = uniform({4, 32, 5, 5}, kFloat32, -1, 1, 4);
  auto run = [&](bool reference) {
    ReferenceKernelsGuard guard(reference);
    Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    Tensor y = F::conv2d(x, w, b, 2, 1);
    TensorList out = autograd::grad({y}, {x, w, b}, {v});
    out.insert(out.begin(), y);
    return out;
  };
  TensorList fast = run(false), slow = run(true);
  for (size_t i = 0; i < fast.size(); ++i)
    EXPECT_TRUE(allclose(fast[i], slow[i], 1e-4, 1e-4)) << "result " << i;
}

// One input channel (a first layer on grey images) has a weight gradient of graft's own rather than oneDNN's:
// every geometry, planes shorter and longer than a vector, more samples than one chunk, with and without bias.
TEST(Conv, OneInputChannelsWeightGradientAgreesWithTheLoops) {
  struct Case {
    Shape x, w;
    int64_t stride, padding, dilation;
    bool bias;
  };
  for (const Case& c : {Case{{20, 1, 28, 28}, {8, 1, 3, 3}, 1, 1, 1, true}, Case{{3, 1, 9, 7}, {5, 1, 3, 2}, 2, 0, 1, true},
                        Case{{9, 1, 13, 17}, {4, 1, 5, 5}, 1, 3, 2, false}, Case{{2, 1, 4, 4}, {3, 1, 7, 7}, 3, 3, 1, true},
                        Case{{1, 1, 1, 30}, {6, 1, 1, 4}, 1, 0, 3, true}}) {
    SCOPED_TRACE(fmt::format("x {} w {} stride {} padding {} dilation {}", shape_str(c.x), shape_str(c.w), c.stride,
                             c.padding, c.dilation));
    Tensor x = uniform(c.x, kFloat32, -1, 1, 5), w0 = uniform(c.w, kFloat32, -0.5, 0.5, 6);
    Tensor b0 = c.bias ? uniform({c.w[0]}, kFloat32, -1, 1, 7) : Tensor();
    auto run = [&](bool reference) {
      ReferenceKernelsGuard guard(reference);
      Tensor w = w0.clone().requires_grad_(), b = c.bias ? b0.clone().requires_grad_() : Tensor();
      Tensor y = F::conv2d(x, w, b, c.stride, c.padding, c.dilation);
      Tensor v = uniform(y.shape(), kFloat32, -1, 1, 8);
      return c.bias ? autograd::grad({y}, {w, b}, {v}) : autograd::grad({y}, {w}, {v});
    };
    TensorList fast = run(false), slow = run(true);
    for (size_t i = 0; i < fast.size(); ++i)
      EXPECT_TRUE(allclose(fast[i], slow[i], 1e-4, 1e-4)) << (i == 0 ? "weight" : "bias") << "\n"
                                                          << fast[i] << "\n" << slow[i];
  }
}

TEST(Conv, SecondDerivativesMatchPyTorchsIdentities) {
  // d/dw <v, conv2d(x, w)> is bilinear in (x, v): differentiating it again in x gives conv_transpose of v.
  Tensor x = uniform({1, 2, 4, 4}, kFloat64, -1, 1, 1).requires_grad_(), w = uniform({3, 2, 3, 3}, kFloat64, -1, 1, 2);
  Tensor v = uniform({1, 3, 2, 2}, kFloat64, -1, 1, 3), u = uniform({3, 2, 3, 3}, kFloat64, -1, 1, 4);
  w.requires_grad_();
  Tensor gw = autograd::grad({F::conv2d(x, w)}, {w}, {v}, true, true)[0];
  Tensor gx = autograd::grad({(gw * u).sum()}, {x})[0];
  EXPECT_TRUE(allclose(gx, F::conv_transpose2d(v, u), 1e-12, 1e-12));
}

// ---------------------------------------------------------------- empty tensors

TEST(Conv, EmptyBatchesAndChannels) {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = zeros({0, 3, 5, 5}, dt).requires_grad_(), w = ones({4, 3, 3, 3}, dt).requires_grad_(),
           b = ones({4}, dt).requires_grad_();
    Tensor y = F::conv2d(x, w, b);
    EXPECT_EQ(y.shape(), Shape({0, 4, 3, 3}));
    TensorList g = autograd::grad({y.sum()}, {x, w, b});
    EXPECT_EQ(g[0].shape(), x.shape());
    EXPECT_TRUE(equal(g[1], zeros({4, 3, 3, 3}, dt)));
    EXPECT_TRUE(equal(g[2], zeros({4}, dt)));
    // No input channels: the output is the bias.
    Tensor y0 = F::conv2d(zeros({1, 0, 5, 5}, dt), zeros({2, 0, 3, 3}, dt), full({2}, 1.5, dt));
    EXPECT_TRUE(equal(y0, full({1, 2, 3, 3}, 1.5, dt)));
    EXPECT_EQ(F::conv_transpose2d(zeros({0, 3, 5, 5}, dt), zeros({3, 4, 3, 3}, dt)).shape(), Shape({0, 4, 7, 7}));
  }
}

// ---------------------------------------------------------------- bad input

TEST(Conv, RejectsBadInput) {
  Tensor x = zeros({1, 3, 5, 5}), w = zeros({4, 3, 3, 3});
  expect_error([&] { F::conv2d(x, zeros({4, 4, 3, 3})); }, {"conv2d", "[4, 4, 3, 3]", "4 channels", "[1, 3, 5, 5]", "(3 channels)"});
  expect_error([&] { F::conv2d(zeros({1, 4, 5, 5}), zeros({3, 2, 3, 3}), {}, 1, 0, 1, 2); }, {"conv2d", "groups=2", "[3, 2, 3, 3]"});
  expect_error([&] { F::conv2d(zeros({1, 3, 5, 5}), zeros({4, 1, 3, 3}), {}, 1, 0, 1, 2); }, {"conv2d", "groups=2", "3 channels", "[1, 3, 5, 5]"});
  expect_error([&] { F::conv2d(x, w, {}, 1, 0, 1, 0); }, {"conv2d", "groups must be positive", "0"});
  expect_error([&] { F::conv2d(zeros({1, 3, 2, 2}), w); }, {"conv2d", "kernel", "larger than the padded input", "[1, 3, 2, 2]", "[4, 3, 3, 3]"});
  expect_error([&] { F::conv2d(zeros({1, 3, 2, 5}), w, {}, 1, 0, {1, 1}); }, {"conv2d", "larger than the padded input"});
  expect_error([&] { F::conv2d(x, w, {}, 1, -1); }, {"conv2d", "padding", "non-negative", "-1"});
  expect_error([&] { F::conv2d(x, w, {}, {1, 0}); }, {"conv2d", "stride", "positive", "1, 0"});
  expect_error([&] { F::conv2d(x, w, {}, 1, 0, 0); }, {"conv2d", "dilation", "positive"});
  expect_error([&] { F::conv2d(x, w, {}, {1, 1, 1}); }, {"conv2d", "stride must have 1 or 2 values, got 3"});
  expect_error([&] { F::conv2d(x, w, {}, 2, "same"); }, {"conv2d", "same", "strided"});
  expect_error([&] { F::conv2d(x, w, {}, 1, "full"); }, {"conv2d", "padding", "\"full\""});
  expect_error([&] { F::conv2d(x, w, zeros({3})); }, {"conv2d", "bias of shape [4]", "[3]"});
  expect_error([&] { F::conv2d(x, w.to(kFloat64)); }, {"conv2d", "one dtype", "float32", "float64"});
  expect_error([&] { F::conv2d(zeros({3, 5}), w); }, {"conv2d", "3-D (unbatched) or 4-D (batched) input", "[3, 5]"});
  expect_error([&] { F::conv2d(x, zeros({4, 3, 3})); }, {"conv2d", "4-D weight", "[4, 3, 3]"});
  expect_error([&] { F::conv2d(x, zeros({0, 3, 3, 3})); }, {"conv2d", "[0, 3, 3, 3]"});
  expect_error([&] { F::conv2d(x, zeros({4, 3, 0, 3})); }, {"conv2d", "kernel sizes must be positive", "[4, 3, 0, 3]"});
  expect_error([&] { F::conv2d(zeros({1, 3, 5, 5}, kInt64), zeros({4, 3, 3, 3}, kInt64)); }, {"conv2d", "floating-point", "int64"});
  expect_error([&] { F::conv1d(zeros({1, 3, 2}), zeros({2, 3, 3})); }, {"conv1d", "larger than the padded input", "[1, 3, 2]"});
  expect_error([&] { F::conv1d(zeros({1, 3, 5}), zeros({2, 3, 3}), {}, {1, 1}); }, {"conv1d", "stride must have 1 value, got 2"});

  expect_error([&] { F::conv_transpose2d(x, zeros({4, 2, 3, 3})); }, {"conv_transpose2d", "[4, 2, 3, 3]", "4 channels", "[1, 3, 5, 5]"});
  expect_error([&] { F::conv_transpose2d(x, zeros({3, 2, 3, 3}), {}, 1, 0, 1); }, {"conv_transpose2d", "output_padding must be smaller than either stride or dilation"});
  expect_error([&] { F::conv_transpose2d(zeros({1, 3, 1, 1}), zeros({3, 2, 1, 1}), {}, 1, 1); }, {"conv_transpose2d", "would have size -1", "positive"});
  expect_error([&] { F::conv_transpose2d(x, zeros({3, 2, 3, 3}), zeros({3})); }, {"conv_transpose2d", "bias of shape [2]"});
  expect_error([&] { F::conv_transpose2d(x, zeros({3, 2, 3, 3}), {}, 1, 0, 0, 2); }, {"conv_transpose2d", "groups=2"});
  expect_error([&] { F::conv_transpose1d(zeros({1, 3, 5}), zeros({3, 2, 3}), {}, 1, -1); }, {"conv_transpose1d", "padding", "non-negative"});
}

}  // namespace
