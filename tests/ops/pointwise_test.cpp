// Pointwise ops: registry entries (gradcheck, gradgradcheck, f32 vs f64, kernels) and behaviour.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/op_registry.h"

using namespace graft;
using namespace graft::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

using Fn2 = std::function<Tensor(const Tensor&, const Tensor&)>;

// Samples of a binary op over same shapes, broadcasting both ways, a 0-dim operand and a scalar.
std::vector<Sample> binary_samples(DType dt, Fn2 f, bool positive_rhs = false, bool away = false) {
  auto lhs = [&](IntList s, uint64_t seed) { return away ? away_from_zero(s, dt, 0.2, 2.0, seed) : uniform(s, dt, -2, 2, seed); };
  auto rhs = [&](IntList s, uint64_t seed) {
    return positive_rhs ? positive(s, dt, 0.5, 2.0, seed) : away ? away_from_zero(s, dt, 0.2, 2.0, seed) : uniform(s, dt, -2, 2, seed);
  };
  auto call = [f](const TensorList& in) { return f(in[0], in[1]); };
  return {sample("same shape", {lhs({2, 3}, 1), rhs({2, 3}, 2)}, call),
          sample("broadcast rhs", {lhs({2, 3}, 3), rhs({3}, 4)}, call),
          sample("broadcast both", {lhs({3, 1}, 5), rhs({1, 4}, 6)}, call),
          sample("0-dim rhs", {lhs({2, 2}, 7), rhs({}, 8)}, call)};
}

std::vector<Sample> unary_samples(DType dt, std::function<Tensor(const Tensor&)> f, Tensor (*make)(IntList, DType, double, double, uint64_t), double lo, double hi) {
  auto call = [f](const TensorList& in) { return f(in[0]); };
  return {sample("matrix", {make({3, 4}, dt, lo, hi, 1)}, call), sample("0-dim", {make({}, dt, lo, hi, 2)}, call),
          sample("transposed view", {make({4, 3}, dt, lo, hi, 3)}, [f](const TensorList& in) { return f(in[0].t()); })};
}

Tensor away(IntList s, DType dt, double lo, double hi, uint64_t seed) { return away_from_zero(s, dt, lo, hi, seed); }

GRAFT_REGISTER_OP({.name = "add", .samples = [](DType dt) {
  auto s = binary_samples(dt, [](const Tensor& a, const Tensor& b) { return add(a, b); });
  s.push_back(sample("alpha", {uniform({2, 3}, dt, -2, 2, 9), uniform({2, 3}, dt, -2, 2, 10)},
                     [](const TensorList& in) { return add(in[0], in[1], 2.5); }));
  s.push_back(sample("scalar", {uniform({2, 3}, dt)}, [](const TensorList& in) { return in[0] + 1.5; }));
  return s;
}});
GRAFT_REGISTER_OP({.name = "sub", .samples = [](DType dt) {
  auto s = binary_samples(dt, [](const Tensor& a, const Tensor& b) { return sub(a, b, 0.5); });
  s.push_back(sample("scalar", {uniform({2, 3}, dt)}, [](const TensorList& in) { return in[0] - 1.5; }));
  return s;
}});
GRAFT_REGISTER_OP({.name = "rsub", .samples = [](DType dt) {
  return std::vector<Sample>{sample("scalar - tensor", {uniform({2, 3}, dt)}, [](const TensorList& in) { return 3.0 - in[0]; })};
}});
GRAFT_REGISTER_OP({.name = "mul", .samples = [](DType dt) {
  auto s = binary_samples(dt, [](const Tensor& a, const Tensor& b) { return a * b; });
  s.push_back(sample("scalar", {uniform({2, 3}, dt)}, [](const TensorList& in) { return 2.0 * in[0]; }));
  s.push_back(sample("same tensor twice", {uniform({3}, dt)}, [](const TensorList& in) { return in[0] * in[0]; }));
  return s;
}});
GRAFT_REGISTER_OP({.name = "div", .samples = [](DType dt) {
  auto s = binary_samples(dt, [](const Tensor& a, const Tensor& b) { return a / b; }, /*positive_rhs=*/true);
  s.push_back(sample("scalar", {uniform({2, 3}, dt)}, [](const TensorList& in) { return in[0] / 4.0; }));
  return s;
}});
GRAFT_REGISTER_OP({.name = "rdiv", .samples = [](DType dt) {
  return std::vector<Sample>{sample("scalar / tensor", {positive({2, 3}, dt)}, [](const TensorList& in) { return 2.0 / in[0]; })};
}});
GRAFT_REGISTER_OP({.name = "neg", .samples = [](DType dt) {
  return unary_samples(dt, [](const Tensor& x) { return -x; }, uniform, -2, 2);
}});
GRAFT_REGISTER_OP({.name = "pow", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("tensor ^ 3", {uniform({2, 3}, dt)}, [](const TensorList& in) { return pow(in[0], 3); }),
      sample("tensor ^ 2", {uniform({2, 3}, dt)}, [](const TensorList& in) { return pow(in[0], 2); }),
      sample("tensor ^ 1", {uniform({2, 3}, dt)}, [](const TensorList& in) { return pow(in[0], 1.0); }),
      sample("tensor ^ 0.5", {positive({2, 3}, dt)}, [](const TensorList& in) { return pow(in[0], 0.5); }),
      sample("tensor ^ 0", {uniform({3}, dt)}, [](const TensorList& in) { return pow(in[0], 0); }),
      sample("tensor ^ tensor", {positive({2, 3}, dt), uniform({3}, dt, -1, 2, 4)},
             [](const TensorList& in) { return pow(in[0], in[1]); }),
      sample("scalar ^ tensor", {uniform({2, 3}, dt)}, [](const TensorList& in) { return pow(2.0, in[0]); })};
}});

GRAFT_REGISTER_OP({.name = "exp", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return exp(x); }, uniform, -2, 2); }});
GRAFT_REGISTER_OP({.name = "log", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return log(x); }, uniform, 0.5, 3); }});
GRAFT_REGISTER_OP({.name = "sqrt", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return sqrt(x); }, uniform, 0.5, 3); }});
GRAFT_REGISTER_OP({.name = "rsqrt", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return rsqrt(x); }, uniform, 0.5, 3); }});
GRAFT_REGISTER_OP({.name = "abs", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return abs(x); }, away, 0.1, 2); }});
GRAFT_REGISTER_OP({.name = "sign", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return sign(x); }, away, 0.1, 2); }});
GRAFT_REGISTER_OP({.name = "sin", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return sin(x); }, uniform, -3, 3); }});
GRAFT_REGISTER_OP({.name = "cos", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return cos(x); }, uniform, -3, 3); }});
GRAFT_REGISTER_OP({.name = "tanh", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return tanh(x); }, uniform, -2, 2); }});
GRAFT_REGISTER_OP({.name = "sigmoid", .samples = [](DType dt) { return unary_samples(dt, [](const Tensor& x) { return sigmoid(x); }, uniform, -3, 3); }});
GRAFT_REGISTER_OP({.name = "tanh_backward", .samples = [](DType dt) {
  return std::vector<Sample>{sample("grad, output", {uniform({2, 3}, dt), uniform({2, 3}, dt, -0.9, 0.9, 2)},
                                    [](const TensorList& in) { return tanh_backward(in[0], in[1]); })};
}});
GRAFT_REGISTER_OP({.name = "sigmoid_backward", .samples = [](DType dt) {
  return std::vector<Sample>{sample("grad, output", {uniform({2, 3}, dt), uniform({2, 3}, dt, 0.1, 0.9, 2)},
                                    [](const TensorList& in) { return sigmoid_backward(in[0], in[1]); })};
}});
GRAFT_REGISTER_OP({.name = "clamp", .samples = [](DType dt) {
  // Values are kept away from the bounds, where the derivative jumps.
  Tensor x = tensor({-1.7, -0.8, -0.3, 0.2, 0.6, 1.4}, {2, 3}, dt);
  return std::vector<Sample>{sample("both bounds", {x}, [](const TensorList& in) { return clamp(in[0], -0.5, 0.5); }),
                             sample("min only", {x}, [](const TensorList& in) { return clamp(in[0], -0.5); }),
                             sample("max only", {x}, [](const TensorList& in) { return clamp(in[0], std::nullopt, 0.5); })};
}});
GRAFT_REGISTER_OP({.name = "clamp_min", .samples = [](DType dt) {
  return std::vector<Sample>{sample("min", {tensor({-1.7, -0.3, 0.2, 1.4}, {}, dt)}, [](const TensorList& in) { return clamp_min(in[0], 0.0); })};
}});
GRAFT_REGISTER_OP({.name = "clamp_max", .samples = [](DType dt) {
  return std::vector<Sample>{sample("max", {tensor({-1.7, -0.3, 0.2, 1.4}, {}, dt)}, [](const TensorList& in) { return clamp_max(in[0], 0.0); })};
}});
GRAFT_REGISTER_OP({.name = "maximum", .samples = [](DType dt) {
  return binary_samples(dt, [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, false, true);
}});
GRAFT_REGISTER_OP({.name = "minimum", .samples = [](DType dt) {
  return binary_samples(dt, [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, false, true);
}});
GRAFT_REGISTER_OP({.name = "where", .samples = [](DType dt) {
  Tensor cond = tensor({true, false, true, false, false, true}, {2, 3});
  return std::vector<Sample>{
      sample("tensors", {cond, uniform({2, 3}, dt, -2, 2, 1), uniform({3}, dt, -2, 2, 2)},
             [](const TensorList& in) { return where(in[0], in[1], in[2]); }),
      sample("scalar other", {cond, uniform({2, 3}, dt)}, [](const TensorList& in) { return where(in[0], in[1], 0.5); }),
      sample("scalar input", {cond, uniform({2, 3}, dt)}, [](const TensorList& in) { return where(in[0], -1.0, in[1]); })};
}});
GRAFT_REGISTER_OP({.name = "masked_fill", .samples = [](DType dt) {
  return std::vector<Sample>{sample("broadcast mask", {uniform({2, 3}, dt), tensor({true, false, true}, {3})},
                                    [](const TensorList& in) { return masked_fill(in[0], in[1], -1.0); })};
}});

// Comparisons and logic: forward checks only.
#define GRAFT_COMPARISON_ENTRY(op_name, expr)                                                             \
  GRAFT_REGISTER_OP({.name = #op_name, .samples = [](DType dt) {                                         \
    Tensor a = tensor({1.0, 2.0, 3.0, 4.0, 2.0, 0.5}, {2, 3}, dt), b = tensor({2.0, 2.0, 1.0}, {}, dt);   \
    return std::vector<Sample>{sample("tensor", {a, b}, [](const TensorList& in) { return expr; }),      \
                               sample("scalar", {a}, [](const TensorList& in) { return op_name(in[0], 2.0); })}; \
  }, .differentiable = false});
GRAFT_COMPARISON_ENTRY(eq, eq(in[0], in[1]))
GRAFT_COMPARISON_ENTRY(ne, ne(in[0], in[1]))
GRAFT_COMPARISON_ENTRY(lt, lt(in[0], in[1]))
GRAFT_COMPARISON_ENTRY(le, le(in[0], in[1]))
GRAFT_COMPARISON_ENTRY(gt, gt(in[0], in[1]))
GRAFT_COMPARISON_ENTRY(ge, ge(in[0], in[1]))
#undef GRAFT_COMPARISON_ENTRY

GRAFT_REGISTER_OP({.name = "logical_and", .samples = [](DType) {
  return std::vector<Sample>{sample("bools", {tensor({true, true, false, false}, {}), tensor({true, false, true, false}, {})},
                                    [](const TensorList& in) { return logical_and(in[0], in[1]); })};
}, .differentiable = false});
GRAFT_REGISTER_OP({.name = "logical_or", .samples = [](DType) {
  return std::vector<Sample>{sample("bools", {tensor({true, true, false, false}, {}), tensor({true, false, true, false}, {})},
                                    [](const TensorList& in) { return logical_or(in[0], in[1]); })};
}, .differentiable = false});
GRAFT_REGISTER_OP({.name = "logical_not", .samples = [](DType dt) {
  return std::vector<Sample>{sample("numbers", {tensor({0.0, 1.5, -2.0}, {}, dt)}, [](const TensorList& in) { return logical_not(in[0]); })};
}, .differentiable = false});
GRAFT_REGISTER_OP({.name = "isnan", .samples = [](DType dt) {
  return std::vector<Sample>{sample("special values", {tensor({0.0, kNaN, kInf, -1.0}, {}, dt)}, [](const TensorList& in) { return isnan(in[0]); })};
}, .differentiable = false});
GRAFT_REGISTER_OP({.name = "isinf", .samples = [](DType dt) {
  return std::vector<Sample>{sample("special values", {tensor({0.0, kNaN, kInf, -kInf}, {}, dt)}, [](const TensorList& in) { return isinf(in[0]); })};
}, .differentiable = false});

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// ---------------------------------------------------------------- behaviour

TEST(Broadcasting, GradientsAreReducedToEachInputsShape) {
  Tensor a = ones({2, 3}, requires_grad()), b = ones({3}, requires_grad()), c = ones({2, 1}, requires_grad());
  (a * b + c).sum().backward();
  EXPECT_EQ(a.grad().shape(), Shape({2, 3}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(values(c.grad()), (std::vector<double>{3, 3}));
}

TEST(Broadcasting, IncompatibleShapesNameTheOpAndShapes) {
  try {
    add(ones({2, 3}), ones({4}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "add: shapes [2, 3] and [4] cannot be broadcast together (dim -1: 3 vs 4)");
  }
}

TEST(TypePromotion, FollowsPyTorch) {
  EXPECT_EQ((ones({2}) + ones({2}, kFloat64)).dtype(), kFloat64);         // f32 + f64 -> f64
  EXPECT_EQ((ones({2}) + ones({}, kFloat64)).dtype(), kFloat32);          // a 0-dim tensor does not widen
  EXPECT_EQ((ones({2}, kInt64) + ones({}, kFloat64)).dtype(), kFloat64);  // ...unless it is of a higher kind
  EXPECT_EQ((arange(3) * 2).dtype(), kInt64);                              // int scalar keeps int64
  EXPECT_EQ((arange(3) * 0.5).dtype(), kFloat32);                          // float scalar gives float32
  EXPECT_EQ((arange(3) / 2).dtype(), kFloat32);                            // true division
  EXPECT_EQ((ones({2}, kFloat64) * 2.5).dtype(), kFloat64);
  EXPECT_EQ(exp(arange(3)).dtype(), kFloat32);
}

TEST(TypePromotion, MixedPrecisionGradientsKeepEachInputsDtype) {
  Tensor a = ones({2}, requires_grad()), b = ones({2}, dtype(kFloat64).requires_grad());
  (a * b).sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(b.grad().dtype(), kFloat64);
}

TEST(ScalarOperators, WorkOnEitherSide) {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64);
  EXPECT_EQ(values(2.0 - x), (std::vector<double>{1, 0}));
  EXPECT_EQ(values(x - 2.0), (std::vector<double>{-1, 0}));
  EXPECT_EQ(values(4.0 / x), (std::vector<double>{4, 2}));
  EXPECT_EQ(values(x / 4.0), (std::vector<double>{0.25, 0.5}));
  EXPECT_EQ(values(3 * x + 1), (std::vector<double>{4, 7}));
  EXPECT_EQ(values(-x), (std::vector<double>{-1, -2}));
}

TEST(Subgradients, FollowPyTorchConventions) {
  Tensor x = tensor({-1.0, 0.0, 1.0}, {}, dtype(kFloat64).requires_grad());
  abs(x).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{-1, 0, 1}));  // abs'(0) = 0

  Tensor y = tensor({-1.0, -0.5, 0.5, 1.0}, {}, dtype(kFloat64).requires_grad());
  clamp(y, -0.5, 0.5).sum().backward();
  EXPECT_EQ(values(y.grad()), (std::vector<double>{0, 1, 1, 0}));  // bounds pass the gradient

  Tensor a = tensor({1.0, 2.0}, {}, dtype(kFloat64).requires_grad()), b = tensor({1.0, 3.0}, {}, dtype(kFloat64).requires_grad());
  maximum(a, b).sum().backward();
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0.5, 0}));  // ties split
  EXPECT_EQ(values(b.grad()), (std::vector<double>{0.5, 1}));
}

TEST(Pow, ZeroExponentHasZeroGradientAndZeroBaseIsFinite) {
  Tensor x = tensor({0.0, 2.0}, {}, dtype(kFloat64).requires_grad());
  pow(x, 0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0}));
  Tensor base = tensor({0.0, 2.0}, {}, dtype(kFloat64).requires_grad()), e = tensor({2.0, 2.0}, {}, dtype(kFloat64).requires_grad());
  pow(base, e).sum().backward();
  EXPECT_EQ(values(e.grad())[0], 0.0);  // d/de 0^e at e >= 0 is taken as 0, as in PyTorch
  EXPECT_NEAR(values(e.grad())[1], 4 * std::log(2.0), 1e-12);
}

TEST(Pow, SmallIntegralExponentsAreExactProducts) {
  Tensor x = randn({1000});
  EXPECT_EQ(values(pow(x, 2)), values(x * x));
  EXPECT_EQ(values(pow(x, 3)), values(x * x * x));
  Tensor one = pow(x, 1);
  EXPECT_EQ(values(one), values(x));
  EXPECT_FALSE(one.storage() == x.storage());  // a new tensor, as in PyTorch
  Tensor special = tensor(std::vector<double>{std::nan(""), INFINITY, -INFINITY, -0.0}, {}, dtype(kFloat32));
  EXPECT_EQ(values(pow(special, 2))[1], INFINITY);
  EXPECT_EQ(values(pow(special, 2))[2], INFINITY);
  EXPECT_TRUE(std::isnan(values(pow(special, 2))[0]));
  EXPECT_EQ(values(pow(special, 3))[2], -INFINITY);
}

TEST(Comparisons, GiveBoolTensorsOutsideTheGraph) {
  Tensor x = tensor({1.0, 2.0, 3.0}, {}, requires_grad());
  Tensor m = x > 1.5;
  EXPECT_EQ(m.dtype(), kBool);
  EXPECT_FALSE(m.requires_grad());
  EXPECT_EQ(m.to_vector<bool>(), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(((x >= 2.0) & (x <= 2.0)).to_vector<bool>(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ((~m).to_vector<bool>(), (std::vector<bool>{true, false, false}));
}

TEST(Where, RejectsANonBoolCondition) {
  EXPECT_THROW(where(ones({2}), ones({2}), zeros({2})), Error);
}

TEST(MaskedFill, BroadcastsTheMask) {
  Tensor x = zeros({2, 2});
  Tensor y = masked_fill(x, tensor({true, false}, {}), 5.0);
  EXPECT_EQ(values(y), (std::vector<double>{5, 0, 5, 0}));
}

TEST(Errors, UndefinedInputsAndBadDtypesAreNamed) {
  EXPECT_THROW(exp(Tensor()), Error);
  EXPECT_THROW(neg(tensor({true}, {})), Error);
  EXPECT_THROW(sub(tensor({true}, {}), tensor({false}, {})), Error);
  EXPECT_THROW(clamp(ones({2}), std::nullopt, std::nullopt), Error);
}

TEST(Allclose, ComparesWithTolerances) {
  EXPECT_TRUE(allclose(tensor({1.0, 2.0}, {}), tensor({1.0, 2.0 + 1e-9}, {})));
  EXPECT_FALSE(allclose(tensor({1.0}, {}), tensor({1.1}, {})));
  EXPECT_FALSE(allclose(tensor({kNaN}, {}), tensor({kNaN}, {})));
  EXPECT_TRUE(allclose(tensor({kNaN}, {}), tensor({kNaN}, {}), 1e-5, 1e-8, true));
}

}  // namespace
