// gradcheck and gradgradcheck: they pass on correct functions, and each of their checks catches the kind
// of mistake it is for (custom ops with deliberately wrong backward formulas, written with make_node).
#include <gtest/gtest.h>

#include "graft/autograd/function.h"
#include "graft/graft.h"
#include "graft/graph/warning.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;
using autograd::GradcheckOptions;

namespace {

// y = x * x with a backward given by `formula(grad, x)`.
template <class Formula>
Tensor square_with(const Tensor& x, Formula formula) {
  Tensor y = x.detach() * x.detach();
  if (auto node = autograd::make_node("SquareBackward0", {x}, [formula](Node& n, GradList& g) -> GradList {
        return {formula(g[0], n.saved(0))};
      })) {
    autograd::set_history(y, node);
    node->save(x);
  }
  return y;
}

Tensor right_square(const Tensor& x) {
  return square_with(x, [](const Tensor& g, const Tensor& x) { return g * x * 2.0; });
}

// Collects warnings for the lifetime of the object.
struct WarningCapture {
  std::vector<std::string> messages;
  WarningHandler previous;
  WarningCapture() { previous = set_warning_handler([this](const std::string& m) { messages.push_back(m); }); }
  ~WarningCapture() { set_warning_handler(previous); }
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

Tensor input(IntList shape, uint64_t seed, DType dt = kFloat64) {
  Generator g(seed);
  return randn(shape, dt, &g).requires_grad_();
}

}  // namespace

// ---------------------------------------------------------------- correct functions pass

TEST(Gradcheck, PassesOnCorrectFunctions) {
  EXPECT_TRUE(autograd::gradcheck([](const TensorList& in) { return right_square(in[0]); }, {input({3, 2}, 1)}));
  EXPECT_TRUE(autograd::gradcheck([](const TensorList& in) { return (in[0] * in[1]).exp().sum({1}); },
                                  {input({2, 3}, 2), input({3}, 3)}));
  // Several outputs, one of them integer (not differentiable), and a constant input.
  Tensor constant = randn({4}, kFloat64);
  EXPECT_TRUE(autograd::gradcheck(
      autograd::DifferentiableFunction([](const TensorList& in) -> TensorList {
        return {in[0].tanh() * in[1], in[0].argmax(), (in[0] + in[1]).sum()};
      }),
      {input({4}, 4), constant}));
  // A function that ignores an input: its Jacobian block is zero on both sides.
  EXPECT_TRUE(autograd::gradcheck([](const TensorList& in) { return in[0].sin(); }, {input({2}, 5), input({2}, 6)}));
}

TEST(Gradcheck, PassesOnNonContiguousAndZeroDimInputs) {
  Tensor t = input({3, 4}, 7).detach().t().requires_grad_();
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_TRUE(autograd::gradcheck([](const TensorList& in) { return matmul(in[0], in[0].t()); }, {t}));
  EXPECT_TRUE(autograd::gradcheck([](const TensorList& in) { return in[0] * in[1]; }, {input({}, 8), input({3}, 9)}));
}

// ---------------------------------------------------------------- wrong backward formulas are caught

TEST(Gradcheck, CatchesAWrongBackwardNamingInputElementAndBothValues) {
  // d(x^2)/dx written as x instead of 2x.
  Tensor x = tensor({1.0, 2.0, -3.0}, {3}, kFloat64).requires_grad_();
  auto wrong = [](const TensorList& in) { return square_with(in[0], [](const Tensor& g, const Tensor& x) { return g * x; }); };
  std::string message = error_of([&] { autograd::gradcheck(wrong, {x}); });
  EXPECT_TRUE(contains(message, "gradcheck: Jacobian mismatch for output 0 with respect to input 0")) << message;
  EXPECT_TRUE(contains(message, "at input element (0) and output element (0)")) << message;
  EXPECT_TRUE(contains(message, "numerical 2 vs analytical 1")) << message;
  // The failing element is located in multi-dim inputs and among several inputs.
  Tensor a = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}, kFloat64).requires_grad_();
  Tensor b = tensor({0.5, 0.5}, {2}, kFloat64).requires_grad_();
  auto wrong_second = [](const TensorList& in) {
    return in[0] * square_with(in[1], [](const Tensor& g, const Tensor& x) { return g * x * 2.0 + 1e-2; });
  };
  message = error_of([&] { autograd::gradcheck(wrong_second, {a, b}); });
  EXPECT_TRUE(contains(message, "with respect to input 1")) << message;
  EXPECT_TRUE(contains(message, "at input element (0) and output element (0, 0)")) << message;
  EXPECT_TRUE(contains(message, "numerical 1 vs analytical 1.01")) << message;
}

TEST(Gradcheck, RaiseExceptionFalseReturnsFalseAndWarns) {
  WarningCapture warnings;
  GradcheckOptions options;
  options.raise_exception = false;
  auto wrong = [](const TensorList& in) { return square_with(in[0], [](const Tensor& g, const Tensor&) { return g; }); };
  EXPECT_FALSE(autograd::gradcheck(wrong, {input({2}, 10)}, options));
  ASSERT_EQ(warnings.messages.size(), 1u);
  EXPECT_TRUE(contains(warnings.messages[0], "Jacobian mismatch")) << warnings.messages[0];
  EXPECT_TRUE(autograd::gradcheck([](const TensorList& in) { return right_square(in[0]); }, {input({2}, 10)}, options));
}

TEST(Gradcheck, TolerancesAreTheOnesGiven) {
  // A backward off by a relative 1e-5: inside rtol = 1e-3, outside rtol = 1e-7 (with a tiny atol).
  auto slightly_off = [](const TensorList& in) {
    return square_with(in[0], [](const Tensor& g, const Tensor& x) { return g * x * (2.0 * (1 + 1e-5)); });
  };
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  EXPECT_TRUE(autograd::gradcheck(slightly_off, {x}));
  GradcheckOptions strict;
  strict.rtol = 1e-7;
  strict.atol = 1e-9;
  EXPECT_THROW(autograd::gradcheck(slightly_off, {x}, strict), Error);
}

TEST(Gradcheck, CatchesANondeterministicBackward) {
  // Backward must give the same result twice (no hidden state).
  auto counter = std::make_shared<int>(0);
  auto drifting = [counter](const TensorList& in) {
    return square_with(in[0], [counter](const Tensor& g, const Tensor& x) { return g * x * 2.0 + 1e-3 * ++*counter; });
  };
  std::string message = error_of([&] { autograd::gradcheck(drifting, {input({2}, 11)}); });
  EXPECT_TRUE(contains(message, "backward is not reentrant")) << message;
}

TEST(Gradcheck, CatchesAGradientThatIgnoresTheGradOutput) {
  // d/dx written as 2x, forgetting the incoming gradient: one-hot grad_outputs expose it.
  auto forgetful = [](const TensorList& in) {
    return square_with(in[0], [](const Tensor& g, const Tensor& x) { return x * 2.0 + g * 0.0; });
  };
  std::string message = error_of([&] { autograd::gradcheck(forgetful, {input({3}, 12)}); });
  EXPECT_TRUE(contains(message, "Jacobian mismatch")) << message;
}

TEST(Gradcheck, WarnsForFloat32Inputs) {
  WarningCapture warnings;
  GradcheckOptions loose;
  loose.eps = 1e-3;
  loose.atol = 1e-2;
  loose.rtol = 1e-2;
  EXPECT_TRUE(autograd::gradcheck([](const TensorList& in) { return in[0] * in[1]; },
                                  {input({2}, 13, kFloat32), input({2}, 14, kFloat64)}, loose));
  ASSERT_EQ(warnings.messages.size(), 1u);  // only input 0 is float32
  EXPECT_EQ(warnings.messages[0],
            "gradcheck: input 0 requires grad and is float32; central differences in single precision are "
            "unreliable, use float64 inputs");
}

TEST(Gradcheck, BadSetUps) {
  EXPECT_EQ(error_of([] { autograd::gradcheck([](const TensorList& in) { return in[0] * 2.0; }, {ones({2}, kFloat64)}); }),
            "gradcheck: no input requires grad");
  Tensor expanded = ones({1, 3}, kFloat64).expand({2, 3}).detach().requires_grad_();
  EXPECT_TRUE(contains(error_of([&] { autograd::gradcheck([](const TensorList& in) { return in[0] * 2.0; }, {expanded}); }),
                       "gradcheck: input 0 has overlapping memory"));
  // A backward returning a gradient of the wrong shape is reported by the engine.
  auto wrong_shape = [](const TensorList& in) {
    return square_with(in[0], [](const Tensor& g, const Tensor&) { return ones({5}, kFloat64); });
  };
  EXPECT_TRUE(contains(error_of([&] { autograd::gradcheck(wrong_shape, {input({2}, 15)}); }),
                       "SquareBackward0: returned a gradient of shape [5] for input 0, which has shape [2]"));
}

TEST(Gradcheck, OutputsThatDoNotRequireGradNeedAZeroNumericalGradient) {
  // Like PyTorch: a function whose outputs are outside the graph passes only if it is locally constant.
  EXPECT_TRUE(autograd::gradcheck([](const TensorList& in) { return (in[0] > 0.0).to(kFloat64); }, {input({3}, 16)}));
  auto hidden = [](const TensorList& in) {
    NoGradGuard no_grad;  // the output loses its graph, but does depend on the input
    return in[0] * 2.0;
  };
  std::string message = error_of([&] { autograd::gradcheck(hidden, {input({2}, 17)}); });
  EXPECT_TRUE(contains(message, "no output of the function requires grad, but the numerical gradient is not zero"))
      << message;
}

// ---------------------------------------------------------------- gradgradcheck

TEST(Gradgradcheck, PassesOnTanhMulAndMatmul) {
  EXPECT_TRUE(autograd::gradgradcheck([](const TensorList& in) { return in[0].tanh(); }, {input({2, 3}, 20)}));
  EXPECT_TRUE(autograd::gradgradcheck([](const TensorList& in) { return in[0] * in[1]; },
                                      {input({2, 3}, 21), input({3}, 22)}));
  EXPECT_TRUE(autograd::gradgradcheck([](const TensorList& in) { return matmul(in[0], in[1]).tanh(); },
                                      {input({2, 3}, 23), input({3, 2}, 24)}));
  EXPECT_TRUE(autograd::gradgradcheck([](const TensorList& in) { return right_square(in[0]); }, {input({3}, 25)}));
  // Explicit grad_outputs.
  EXPECT_TRUE(autograd::gradgradcheck([](const TensorList& in) { return in[0].pow(3); }, {input({3}, 26)},
                                      {input({3}, 27)}));
}

TEST(Gradgradcheck, CatchesAWrongDoubleBackward) {
  // First derivative right (2 x g), but computed from a detached x: the second derivative comes out zero.
  auto detached = [](const TensorList& in) {
    return square_with(in[0], [](const Tensor& g, const Tensor& x) { return g * x.detach() * 2.0; });
  };
  Tensor x = tensor({1.0, -2.0}, {2}, kFloat64).requires_grad_();
  EXPECT_TRUE(autograd::gradcheck(detached, {x}));
  std::string message = error_of([&] { autograd::gradgradcheck(detached, {x}); });
  EXPECT_TRUE(contains(message, "gradcheck: Jacobian mismatch for output 0 with respect to input 0")) << message;
  EXPECT_TRUE(contains(message, "analytical 0")) << message;
  // A second derivative that is differentiable but wrong: g * (x * x) / x * 2 is right, g * x * x * 2 / 1 is not.
  auto wrong_formula = [](const TensorList& in) {
    return square_with(in[0], [](const Tensor& g, const Tensor& x) {
      // Right value at the point, wrong slope: 2x = x^2 + 2x - x^2 with the last x^2 detached.
      return g * (x * x + x * 2.0 - (x * x).detach());
    });
  };
  EXPECT_TRUE(autograd::gradcheck(wrong_formula, {x}));
  EXPECT_THROW(autograd::gradgradcheck(wrong_formula, {x}), Error);
  GradcheckOptions quiet;
  quiet.raise_exception = false;
  WarningCapture warnings;
  EXPECT_FALSE(autograd::gradgradcheck(wrong_formula, {x}, {}, quiet));
}
