// Each input's gradient has that input's shape and dtype: broadcasts are summed back, and mixed-dtype ops
// give each input a gradient of its own dtype.
#include <gtest/gtest.h>

#include "graft/graft.h"

using namespace graft;

namespace {
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST(BroadcastGradients, AreReducedToEachInputsShape) {
  Tensor a = tensor({1.0, 2.0, 3.0}, {3, 1}, kFloat64).requires_grad_();
  Tensor b = tensor({10.0, 20.0, 30.0, 40.0}, {4}, kFloat64).requires_grad_();
  Tensor y = a * b;  // [3, 4]
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  y.sum().backward();
  EXPECT_EQ(a.grad().shape(), (Shape{3, 1}));
  EXPECT_EQ(values(a.grad()), (std::vector<double>{100, 100, 100}));  // sum of b over the broadcast dim
  EXPECT_EQ(b.grad().shape(), (Shape{4}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{6, 6, 6, 6}));  // sum of a
}

TEST(BroadcastGradients, ZeroDimAndSizeOneDims) {
  Tensor s = scalar_tensor(2.0, kFloat64).requires_grad_();
  Tensor m = ones({2, 1, 3}, kFloat64).requires_grad_();
  Tensor r = ones({4, 1}, kFloat64).requires_grad_();
  Tensor y = s * m + r;  // [2, 4, 3]
  EXPECT_EQ(y.shape(), (Shape{2, 4, 3}));
  (y * y).sum().backward();  // dL/dy = 2y = 2(2 + 1) = 6 everywhere
  EXPECT_EQ(s.grad().dim(), 0);
  EXPECT_EQ(s.grad().item<double>(), 6.0 * 24);  // m = 1
  EXPECT_EQ(m.grad().shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(values(m.grad()), std::vector<double>(6, 6.0 * 2 * 4));
  EXPECT_EQ(r.grad().shape(), (Shape{4, 1}));
  EXPECT_EQ(values(r.grad()), std::vector<double>(4, 6.0 * 6));
}

TEST(BroadcastGradients, ThroughExpandAndScalars) {
  Tensor v = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  Tensor e = v.expand({3, 2});
  (e * e).sum().backward();
  EXPECT_EQ(values(v.grad()), (std::vector<double>{6, 12}));
  Tensor w = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  (2.0 - w / 4.0).sum().backward();
  EXPECT_EQ(values(w.grad()), (std::vector<double>{-0.25, -0.25}));
}

TEST(BroadcastGradients, AreCheckedNumerically) {
  manual_seed(11);
  Tensor a = randn({3, 1, 2}, kFloat64).requires_grad_();
  Tensor b = randn({4, 1}, kFloat64).requires_grad_();
  auto fn = [](const TensorList& in) { return (in[0] * in[1]).tanh() + in[1].exp(); };
  EXPECT_TRUE(autograd::gradcheck(fn, {a, b}));
  EXPECT_TRUE(autograd::gradgradcheck(fn, {a, b}));
}

TEST(MixedDtypes, EachInputGetsAGradientOfItsOwnDtype) {
  Tensor a = tensor({1.0, 2.0}, {2}, kFloat32).requires_grad_();
  Tensor b = tensor({3.0, 4.0}, {2}, kFloat64).requires_grad_();
  Tensor y = a * b;
  EXPECT_EQ(y.dtype(), kFloat64);  // promotion
  y.sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(b.grad().dtype(), kFloat64);
  EXPECT_EQ(values(a.grad()), (std::vector<double>{3, 4}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{1, 2}));
}

TEST(MixedDtypes, WithBroadcastingAndZeroDimTensors) {
  // A float64 0-dim tensor does not promote a float32 tensor (PyTorch's rule); its gradient stays float64.
  Tensor a = ones({2, 3}, kFloat32).requires_grad_();
  Tensor s = scalar_tensor(0.5, kFloat64).requires_grad_();
  Tensor y = a * s;
  EXPECT_EQ(y.dtype(), kFloat32);
  y.sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(s.grad().dtype(), kFloat64);
  EXPECT_EQ(s.grad().dim(), 0);
  EXPECT_EQ(s.grad().item<double>(), 6.0);
  // An integer operand is a constant: no gradient, and the float input's stays float.
  Tensor i = arange(3).reshape({1, 3});
  Tensor f = ones({2, 1}, kFloat64).requires_grad_();
  (f * i).sum().backward();
  EXPECT_EQ(f.grad().dtype(), kFloat64);
  EXPECT_EQ(values(f.grad()), (std::vector<double>{3, 3}));
}

TEST(MixedDtypes, CastsAreDifferentiable) {
  Tensor a = tensor({1.5, -2.0}, {2}, kFloat32).requires_grad_();
  Tensor d = a.to(kFloat64);
  EXPECT_EQ(d.dtype(), kFloat64);
  (d * d).sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(values(a.grad()), (std::vector<double>{3, -4}));
}
