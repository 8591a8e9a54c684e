// create_graph: the backward pass is itself recorded, so gradients can be differentiated again.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/graft.h"
#include "graft/graph/warning.h"

using namespace graft;

namespace {
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST(CreateGraph, SecondDerivativeOfCube) {
  Tensor x = tensor({-1.0, 0.5, 2.0}, {3}, kFloat64).requires_grad_();
  Tensor y = x.pow(3).sum();
  Tensor dy = autograd::grad({y}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_TRUE(dy.requires_grad());
  EXPECT_NE(dy.grad_fn(), nullptr);
  EXPECT_EQ(values(dy), (std::vector<double>{3, 0.75, 12}));  // 3x^2
  Tensor d2y = autograd::grad({dy.sum()}, {x}, {}, std::nullopt, true)[0];
  EXPECT_EQ(values(d2y), (std::vector<double>{-6, 3, 12}));  // 6x
  Tensor d3y = autograd::grad({d2y.sum()}, {x})[0];
  EXPECT_EQ(values(d3y), (std::vector<double>{6, 6, 6}));
  EXPECT_FALSE(d3y.requires_grad());  // create_graph=false: a plain tensor
}

TEST(CreateGraph, SecondDerivativeOfTanh) {
  Tensor x = tensor({-0.7, 0.0, 1.3}, {3}, kFloat64).requires_grad_();
  Tensor dy = autograd::grad({x.tanh().sum()}, {x}, {}, std::nullopt, true)[0];
  Tensor d2y = autograd::grad({dy.sum()}, {x})[0];
  std::vector<double> xs = values(x), d1 = values(dy), d2 = values(d2y);
  for (size_t i = 0; i < xs.size(); ++i) {
    double t = std::tanh(xs[i]);
    EXPECT_NEAR(d1[i], 1 - t * t, 1e-14);
    EXPECT_NEAR(d2[i], -2 * t * (1 - t * t), 1e-14);
  }
}

TEST(CreateGraph, HessianVectorProductOfAMatmulExpression) {
  // f(W) = sum((A W)^2) has gradient 2 A^T A W and Hessian-vector product H v = 2 A^T A v.
  Tensor A = tensor({1.0, 2.0, 0.5, -1.0, 3.0, 0.0}, {3, 2}, kFloat64);
  Tensor W = tensor({0.3, -0.2, 0.1, 0.4}, {2, 2}, kFloat64).requires_grad_();
  Tensor f = matmul(A, W).pow(2).sum();
  Tensor g = autograd::grad({f}, {W}, {}, std::nullopt, true)[0];
  Tensor AtA = matmul(A.t(), A);
  EXPECT_TRUE(allclose(g, 2.0 * matmul(AtA, W.detach()), 1e-12, 1e-12));
  Tensor v = tensor({1.0, 0.0, -1.0, 2.0}, {2, 2}, kFloat64);
  Tensor hv = autograd::grad({(g * v).sum()}, {W})[0];
  EXPECT_TRUE(allclose(hv, 2.0 * matmul(AtA, v), 1e-12, 1e-12));
}

TEST(CreateGraph, GradOfGradWithRespectToTwoInputs) {
  // f = x^2 y: df/dx = 2xy, d/dy (df/dx) = 2x, d/dx (df/dx) = 2y.
  Tensor x = scalar_tensor(3.0, kFloat64).requires_grad_();
  Tensor y = scalar_tensor(-2.0, kFloat64).requires_grad_();
  Tensor f = x * x * y;
  Tensor dfdx = autograd::grad({f}, {x}, {}, std::nullopt, true)[0];
  EXPECT_EQ(dfdx.item<double>(), -12.0);
  TensorList second = autograd::grad({dfdx}, {x, y});
  EXPECT_EQ(second[0].item<double>(), -4.0);
  EXPECT_EQ(second[1].item<double>(), 6.0);
}

TEST(CreateGraph, BackwardWithCreateGraphLeavesDifferentiableGrads) {
  // x.grad itself carries a graph (as in PyTorch), so a gradient penalty can be backpropagated.
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  std::vector<std::string> warnings;
  WarningHandler previous = set_warning_handler([&](const std::string& w) { warnings.push_back(w); });
  x.pow(3).sum().backward({}, std::nullopt, /*create_graph=*/true);
  set_warning_handler(previous);
  // PyTorch's warning: x.grad now holds a graph that leads back to x.
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("create_graph=True will create a reference cycle"), std::string::npos);
  Tensor g = x.grad();
  EXPECT_TRUE(g.requires_grad());
  EXPECT_EQ(values(g), (std::vector<double>{3, 12}));
  Tensor penalty = (g * g).sum();  // sum (3x^2)^2 = 9 sum x^4 -> d/dx = 36 x^3
  Tensor dp = autograd::grad({penalty}, {x})[0];
  EXPECT_EQ(values(dp), (std::vector<double>{36, 288}));
  x.set_grad(Tensor());  // breaks the cycle x -> .grad -> graph -> AccumulateGrad -> x, as PyTorch advises
}

TEST(CreateGraph, RetainGraphDefaultsToCreateGraph) {
  Tensor x = tensor({1.0}, {1}, kFloat64).requires_grad_();
  Tensor y = (x * x * x).sum();
  autograd::grad({y}, {x}, {}, std::nullopt, /*create_graph=*/true);
  // The graph was kept: a second pass works.
  EXPECT_EQ(autograd::grad({y}, {x})[0].item<double>(), 3.0);
  EXPECT_THROW(autograd::grad({y}, {x}), Error);
}

TEST(CreateGraph, SecondDerivativeThroughBroadcastAndReductions) {
  // f = sum(exp(a + b)) with a [3, 1] and b [4]: d2f/da2 along the diagonal sums exp over the row.
  Tensor a = tensor({0.1, 0.2, 0.3}, {3, 1}, kFloat64).requires_grad_();
  Tensor b = tensor({0.0, -0.5, 0.5, 1.0}, {4}, kFloat64).requires_grad_();
  Tensor f = (a + b).exp().sum();
  Tensor ga = autograd::grad({f}, {a}, {}, std::nullopt, true)[0];
  EXPECT_EQ(ga.shape(), (Shape{3, 1}));
  Tensor gaa = autograd::grad({ga.sum()}, {a}, {}, true)[0];
  EXPECT_TRUE(allclose(gaa, ga.detach(), 1e-12, 1e-12));  // d/da of sum_j exp(a + b_j) is itself
  Tensor gab = autograd::grad({ga.sum()}, {b})[0];
  EXPECT_EQ(gab.shape(), (Shape{4}));
  EXPECT_TRUE(allclose(gab, (a.detach() + b.detach()).exp().sum({0}), 1e-12, 1e-12));
}

TEST(CreateGraph, GradcheckAndGradgradcheckOfACompositeFunction) {
  manual_seed(5);
  Tensor x = randn({3, 2}, kFloat64).requires_grad_();
  Tensor w = randn({2, 4}, kFloat64).requires_grad_();
  auto fn = [](const TensorList& in) { return matmul(in[0], in[1]).tanh().pow(2).mean({1}); };
  EXPECT_TRUE(autograd::gradcheck(fn, {x, w}));
  EXPECT_TRUE(autograd::gradgradcheck(fn, {x, w}));
}
