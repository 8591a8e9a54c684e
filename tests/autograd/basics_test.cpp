// The graph a forward pass records, and the two entry points into it: Tensor::backward / autograd::backward
// (accumulate into leaves' .grad) and autograd::grad (return gradients, touch no .grad).
#include <gtest/gtest.h>

#include "graft/autograd/function.h"
#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// y = x, with a backward that counts how often it runs.
Tensor counting_identity(const Tensor& x, int& runs) {
  Tensor y = x.detach().clone();
  if (auto node = autograd::make_node("CountingBackward0", {x}, [&runs](Node&, GradList& g) -> GradList {
        ++runs;
        return {g[0]};
      }))
    autograd::set_history(y, node);
  return y;
}

}  // namespace

// ---------------------------------------------------------------- what the forward pass records

TEST(Graph, LeavesAndResults) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(x.requires_grad());
  EXPECT_EQ(x.grad_fn(), nullptr);
  x.requires_grad_();
  EXPECT_TRUE(x.is_leaf());
  EXPECT_TRUE(x.requires_grad());
  EXPECT_FALSE(x.grad().defined());

  Tensor c = ones({2}, kFloat64);
  Tensor y = x * c;
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_STREQ(y.grad_fn()->name(), "MulBackward0");
  // Results of ops on tensors that do not require grad are leaves without a grad_fn.
  Tensor z = c * c;
  EXPECT_TRUE(z.is_leaf());
  EXPECT_FALSE(z.requires_grad());
}

TEST(Graph, NodesHaveOneEdgePerInput) {
  Tensor a = ones({2, 3}).requires_grad_();
  Tensor b = ones({3}).requires_grad_();
  Tensor k = ones({2, 3});  // constant
  Tensor s = a + b;
  Tensor p = s * k;
  Tensor loss = p.sum();

  const auto& sum_fn = loss.grad_fn();
  EXPECT_STREQ(sum_fn->name(), "SumBackward0");
  ASSERT_EQ(sum_fn->num_inputs(), 1u);
  EXPECT_EQ(sum_fn->next_edge(0).node, p.grad_fn());
  EXPECT_EQ(sum_fn->input_meta(0).shape, (Shape{2, 3}));
  ASSERT_EQ(sum_fn->num_outputs(), 1u);
  EXPECT_EQ(sum_fn->output_meta(0).shape, Shape{});

  const auto& mul_fn = p.grad_fn();
  ASSERT_EQ(mul_fn->num_inputs(), 2u);
  EXPECT_EQ(mul_fn->next_edge(0).node, s.grad_fn());
  EXPECT_FALSE(mul_fn->next_edge(1).valid());  // k does not require grad
  EXPECT_TRUE(mul_fn->needs_input_grad(0));
  EXPECT_FALSE(mul_fn->needs_input_grad(1));
  EXPECT_EQ(mul_fn->num_saved(), 2u);

  const auto& add_fn = s.grad_fn();
  EXPECT_STREQ(add_fn->name(), "AddBackward0");
  ASSERT_EQ(add_fn->num_inputs(), 2u);
  // A leaf's edge goes to its AccumulateGrad node, one per leaf, shared by all its uses.
  const auto& acc_a = add_fn->next_edge(0).node;
  EXPECT_STREQ(acc_a->name(), "AccumulateGrad");
  EXPECT_EQ(acc_a->leaf(), a.impl());
  EXPECT_EQ(acc_a->num_inputs(), 0u);
  EXPECT_EQ(add_fn->input_meta(1).shape, (Shape{3}));  // b's own shape: its gradient is reduced to it
  Tensor again = a * 2.0;
  EXPECT_EQ(again.grad_fn()->next_edge(0).node, acc_a);
  // Creation order: later nodes have higher sequence numbers.
  EXPECT_LT(add_fn->sequence_nr(), mul_fn->sequence_nr());
  EXPECT_LT(mul_fn->sequence_nr(), sum_fn->sequence_nr());
}

TEST(Graph, OutputNumbersOfMultiOutputOps) {
  Tensor x = arange(6, kFloat64).reshape({3, 2}).requires_grad_();
  std::vector<Tensor> parts = x.split(1, 0);
  ASSERT_EQ(parts.size(), 3u);
  // Each part is a view with its own node here, or one node with several outputs: either way each part
  // knows which output of its grad_fn it is, and backward through any subset works.
  (parts[0].sum() * 1.0 + parts[2].sum() * 3.0).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{1, 1, 0, 0, 3, 3}));
}

// ---------------------------------------------------------------- backward

TEST(Backward, ScalarOutputNeedsNoGradient) {
  Tensor x = tensor({1.0, 2.0, 3.0}, {3}, kFloat64).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 4, 6}));
  EXPECT_EQ(x.grad().dtype(), kFloat64);
  EXPECT_FALSE(x.grad().requires_grad());
  // A one-element tensor of any shape counts as a scalar.
  Tensor w = ones({1, 1}, kFloat64).requires_grad_();
  (w * 3.0).backward();
  EXPECT_EQ(w.grad().item<double>(), 3.0);
}

TEST(Backward, NonScalarOutputWithoutGradientIsAnError) {
  Tensor x = ones({2, 3}).requires_grad_();
  Tensor y = x * 2.0;
  EXPECT_EQ(error_of([&] { y.backward(); }),
            "backward: grad can be implicitly created only for scalar outputs, but tensor 0 has shape [2, 3]; pass a "
            "gradient of that shape");
  EXPECT_EQ(error_of([&] { y.backward(ones({3})); }), "backward: gradient 0 has shape [3], but its tensor has shape [2, 3]");
  // With a gradient of the right shape it works: a vector-Jacobian product.
  y.backward(full({2, 3}, 0.5));
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>(6, 1.0f));
  // A gradient of another dtype is converted to the tensor's.
  Tensor z = ones({2}, kFloat64).requires_grad_();
  (z * 1.0).backward(ones({2}, kFloat32));
  EXPECT_EQ(z.grad().dtype(), kFloat64);
}

TEST(Backward, TensorsOutsideTheGraphAreAnError) {
  Tensor c = ones({1});
  EXPECT_EQ(error_of([&] { c.backward(); }), "backward: tensor 0 does not require grad and does not have a grad_fn");
  EXPECT_EQ(error_of([&] { Tensor().backward(); }), "backward: tensor 0 is undefined");
  EXPECT_EQ(error_of([] { autograd::backward({}); }), "backward: no tensors given");
  Tensor x = ones({1}).requires_grad_();
  EXPECT_EQ(error_of([&] { autograd::backward({x * 2.0, x * 3.0}, {ones({1})}); }),
            "backward: got 1 gradients for 2 tensors");
}

TEST(Backward, GradientsAccumulateAcrossCalls) {
  Tensor x = tensor({1.0, -2.0}, {2}, kFloat64).requires_grad_();
  for (int i = 1; i <= 3; ++i) {
    (x * x).sum().backward();
    EXPECT_EQ(values(x.grad()), (std::vector<double>{2.0 * i, -4.0 * i}));
  }
  // Zeroing the gradient (optimizer.zero_grad): in place, or dropping it (set_to_none).
  x.mutable_grad().zero_();
  (x * 3.0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{3, 3}));
  x.set_grad(Tensor());
  EXPECT_FALSE(x.grad().defined());
  (x * 5.0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{5, 5}));
  EXPECT_THROW(x.set_grad(ones({3}, kFloat64)), Error);
  EXPECT_THROW(x.set_grad(ones({2}, kFloat32)), Error);
}

TEST(Backward, AGradientHeldByTheUserIsNotAdoptedAsGrad) {
  // backward(g) must not make x.grad the very tensor g (later accumulation would write into g).
  Tensor x = ones({2}, kFloat64).requires_grad_();
  Tensor g = full({2}, 2.0, kFloat64);
  x.backward(g);
  x.backward(g);
  EXPECT_EQ(values(g), (std::vector<double>{2, 2}));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{4, 4}));
}

TEST(Backward, SeveralRootsAndSharedSubgraphs) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  Tensor y = x.exp();
  Tensor a = (y * 2.0).sum(), b = (y * y).sum();
  autograd::backward({a, b});
  std::vector<double> expect;
  for (double v : {1.0, 2.0}) expect.push_back(2 * std::exp(v) + 2 * std::exp(2 * v));
  std::vector<double> got = values(x.grad());
  for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(got[i], expect[i], 1e-12);
  // The same tensor twice as a root counts twice.
  Tensor w = ones({1}, kFloat64).requires_grad_();
  Tensor out = w * 3.0;
  autograd::backward({out, out});
  EXPECT_EQ(w.grad().item<double>(), 6.0);
}

TEST(Backward, OnlyTheGivenInputsAccumulate) {
  Tensor a = ones({2}, kFloat64).requires_grad_();
  Tensor b = ones({2}, kFloat64).requires_grad_();
  Tensor h = a * 2.0;
  Tensor loss = (h * b).sum();
  loss.backward({}, /*retain_graph=*/true, false, /*inputs=*/{b});
  EXPECT_FALSE(a.grad().defined());
  EXPECT_EQ(values(b.grad()), (std::vector<double>{2, 2}));
  loss.backward({}, true, false, {a, b});
  EXPECT_EQ(values(a.grad()), (std::vector<double>{2, 2}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{4, 4}));
  // A non-leaf input gets a .grad of its own.
  loss.backward({}, true, false, {h});
  EXPECT_EQ(values(h.grad()), (std::vector<double>{1, 1}));
  EXPECT_EQ(values(a.grad()), (std::vector<double>{2, 2}));  // unchanged
  EXPECT_THROW(loss.backward({}, true, false, {ones({2})}), Error);
}

// ---------------------------------------------------------------- autograd::grad

TEST(Grad, ReturnsGradientsWithoutTouchingDotGrad) {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64).requires_grad_();
  Tensor w = tensor({3.0, 4.0}, {2}, kFloat64).requires_grad_();
  Tensor y = (x * w).sum();
  TensorList g = autograd::grad({y}, {x, w});
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(values(g[0]), (std::vector<double>{3, 4}));
  EXPECT_EQ(values(g[1]), (std::vector<double>{1, 2}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_FALSE(g[0].requires_grad());
}

TEST(Grad, GradOutputsWeightTheOutputs) {
  Tensor x = tensor({1.0, 2.0, 3.0}, {3}, kFloat64).requires_grad_();
  Tensor y = x * x;  // not a scalar
  TensorList g = autograd::grad({y}, {x}, {tensor({1.0, 0.0, -1.0}, {3}, kFloat64)});
  EXPECT_EQ(values(g[0]), (std::vector<double>{2, 0, -6}));
  EXPECT_THROW(autograd::grad({x * 2.0}, {x}), Error);  // non-scalar needs grad_outputs
  EXPECT_EQ(error_of([&] { autograd::grad({x * 2.0}, {x}, {ones({3}), ones({3})}); }),
            "grad: got 2 grad_outputs for 1 outputs");
}

TEST(Grad, WithRespectToIntermediateTensors) {
  Tensor x = tensor({0.5, -1.0}, {2}, kFloat64).requires_grad_();
  Tensor h = x * 3.0;
  Tensor y = (h * h).sum();
  TensorList g = autograd::grad({y}, {h, x});
  EXPECT_EQ(values(g[0]), (std::vector<double>{3, -6}));
  EXPECT_EQ(values(g[1]), (std::vector<double>{9, -18}));
  // The output itself.
  Tensor s = x.sum();
  EXPECT_EQ(autograd::grad({s}, {s})[0].item<double>(), 1.0);
  // A leaf output with respect to itself.
  EXPECT_EQ(values(autograd::grad({x}, {x}, {ones({2}, kFloat64)})[0]), (std::vector<double>{1, 1}));
}

TEST(Grad, UnusedInputsNeedAllowUnused) {
  Tensor x = ones({2}).requires_grad_();
  Tensor unused = ones({2}).requires_grad_();
  Tensor y = (x * 2.0).sum();
  EXPECT_EQ(error_of([&] { autograd::grad({y}, {x, unused}, {}, true); }),
            "grad: input 1 was not used in the graph of the outputs; pass allow_unused=true if this is intended");
  TensorList g = autograd::grad({y}, {x, unused}, {}, true, false, /*allow_unused=*/true);
  EXPECT_TRUE(g[0].defined());
  EXPECT_FALSE(g[1].defined());
}

TEST(Grad, InputsMustRequireGrad) {
  Tensor x = ones({2}).requires_grad_();
  Tensor c = ones({2});
  Tensor y = (x * c).sum();
  EXPECT_EQ(error_of([&] { autograd::grad({y}, {c}); }), "grad: input 0 does not require grad");
  EXPECT_EQ(error_of([&] { autograd::grad({y}, {x, Tensor()}); }), "grad: input 1 does not require grad");
  EXPECT_EQ(error_of([&] { autograd::grad({c.sum()}, {x}); }),
            "grad: tensor 0 does not require grad and does not have a grad_fn");
  EXPECT_EQ(error_of([&] { autograd::grad({}, {x}); }), "grad: no outputs given");
}

TEST(Grad, OnlyTheNeededPartOfTheGraphRuns) {
  // Backward of a branch that does not lead to a requested input is not run. (Tensor hooks on such a
  // branch still see its gradient, as in PyTorch 2; PyTorch 1.13 skipped them.)
  Tensor x = ones({2}).requires_grad_();
  Tensor w = ones({2}).requires_grad_();
  int runs = 0;
  Tensor wx = counting_identity(w, runs);
  int fired = 0;
  wx.register_hook([&](const Tensor&) { ++fired; });
  Tensor y = (x * 3.0 + wx).sum();
  autograd::grad({y}, {x}, {}, true);
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(values(autograd::grad({y}, {w})[0]), (std::vector<double>{1, 1}));
  EXPECT_EQ(runs, 1);
}
