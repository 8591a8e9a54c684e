// autograd::Function<T>: a user's own differentiable op, the counterpart of torch.autograd.Function.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/autograd/custom_function.h"
#include "graft/graft.h"
#include "support/errors.h"

namespace {

using namespace graft;
using autograd::AutogradContext;
namespace F = graft::nn::functional;

// softplus(beta x) / beta as one op with a hand-written backward (in ops, so twice differentiable).
struct Softplus : autograd::Function<Softplus> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, double beta) {
    ctx->save_for_backward({x});
    ctx->saved_data["beta"] = beta;
    return log(1 + exp(x * beta)) / beta;
  }
  static TensorList backward(AutogradContext* ctx, TensorList grad_outputs) {
    Tensor x = ctx->get_saved_variables()[0];
    const double beta = ctx->saved_data["beta"].toDouble();
    return {grad_outputs[0] * sigmoid(x * beta), Tensor()};
  }
};

// Two inputs, two outputs (a tuple): (x * y, x + y).
struct ProductAndSum : autograd::Function<ProductAndSum> {
  static std::tuple<Tensor, Tensor> forward(AutogradContext* ctx, const Tensor& x, const Tensor& y) {
    ctx->save_for_backward({x, y});
    return {x * y, x + y};
  }
  static TensorList backward(AutogradContext* ctx, TensorList g) {
    TensorList saved = ctx->get_saved_variables();
    return {g[0] * saved[1] + g[1], g[0] * saved[0] + g[1]};
  }
};

// The same softplus with a backward that only runs raw arithmetic: marked once differentiable.
struct SoftplusOnce : autograd::Function<SoftplusOnce> {
  static constexpr bool once_differentiable = true;
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return log(1 + exp(x));
  }
  static TensorList backward(AutogradContext* ctx, TensorList g) {
    return {g[0] * sigmoid(ctx->get_saved_variables()[0])};
  }
};

TensorList single(const Tensor& t) { return {t}; }

TEST(CustomFunction, ComputesForwardAndNamesItsNode) {
  Tensor x = tensor({-1.0, 0.0, 2.0}, {3}, kFloat64).requires_grad_();
  Tensor y = Softplus::apply(x, 2.0);
  EXPECT_TRUE(allclose(y, F::softplus(x, 2.0), 1e-12, 1e-12));
  ASSERT_TRUE(y.grad_fn());
  EXPECT_STREQ(y.grad_fn()->name(), "SoftplusBackward");
  y.sum().backward();
  EXPECT_TRUE(allclose(x.grad(), sigmoid(x * 2.0), 1e-12, 1e-12));
}

TEST(CustomFunction, PassesGradcheckAndGradgradcheckWithABackwardWrittenInOps) {
  Tensor x = randn({4, 3}, dtype(kFloat64)).requires_grad_();
  auto f = [](const TensorList& in) { return single(Softplus::apply(in[0], 1.5)); };
  EXPECT_TRUE(autograd::gradcheck(f, {x}));
  EXPECT_TRUE(autograd::gradgradcheck(f, {x}));
}

TEST(CustomFunction, SeveralInputsAndOutputs) {
  Tensor x = randn({3}, dtype(kFloat64)).requires_grad_(), y = randn({3}, dtype(kFloat64)).requires_grad_();
  auto f = [](const TensorList& in) {
    auto [p, s] = ProductAndSum::apply(in[0], in[1]);
    return TensorList{p, s};
  };
  EXPECT_TRUE(autograd::gradcheck(f, {x, y}));
  EXPECT_TRUE(autograd::gradgradcheck(f, {x, y}));
  auto [p, s] = ProductAndSum::apply(x, y);
  EXPECT_EQ(p.grad_fn(), s.grad_fn());
  EXPECT_EQ(p.output_nr(), 0u);
  EXPECT_EQ(s.output_nr(), 1u);
}

TEST(CustomFunction, AnOutputThatGetsNoGradientReceivesZerosOrNothing) {
  struct Probe : autograd::Function<Probe> {
    static std::tuple<Tensor, Tensor> forward(AutogradContext* ctx, const Tensor& x, bool materialize) {
      ctx->set_materialize_grads(materialize);
      ctx->saved_data["materialize"] = materialize;
      return {x * 2.0, x * 3.0};
    }
    static TensorList backward(AutogradContext* ctx, TensorList g) {
      EXPECT_TRUE(g[0].defined());
      if (ctx->saved_data["materialize"].toBool()) {
        EXPECT_TRUE(g[1].defined());
        EXPECT_EQ(g[1].abs().sum().item<double>(), 0.0);
      } else {
        EXPECT_FALSE(g[1].defined());
      }
      return {g[0] * 2.0, Tensor()};
    }
  };
  for (bool materialize : {true, false}) {
    Tensor x = ones({2}).requires_grad_();
    auto [a, b] = Probe::apply(x, materialize);
    a.sum().backward();  // b is never used
    EXPECT_TRUE(allclose(x.grad(), full({2}, 2.0)));
  }
}

TEST(CustomFunction, NeedsInputGradFollowsTheArguments) {
  struct Probe : autograd::Function<Probe> {
    static Tensor forward(AutogradContext* ctx, const Tensor& x, int64_t k, const Tensor& y) {
      EXPECT_FALSE(ctx->needs_input_grad(0));
      EXPECT_FALSE(ctx->needs_input_grad(1));  // not a tensor
      EXPECT_TRUE(ctx->needs_input_grad(2));
      EXPECT_THROW(ctx->needs_input_grad(3), Error);
      return x * y * static_cast<double>(k);
    }
    static TensorList backward(AutogradContext* ctx, TensorList g) {
      EXPECT_FALSE(ctx->needs_input_grad(0));
      return {Tensor(), Tensor(), g[0] * 2.0};
    }
  };
  Tensor x = ones({2}), y = ones({2}).requires_grad_();
  Probe::apply(x, int64_t{3}, y).sum().backward();
  EXPECT_TRUE(allclose(y.grad(), full({2}, 2.0)));
}

TEST(CustomFunction, TensorListArgumentsAreArgumentsOneByOne) {
  struct SumAll : autograd::Function<SumAll> {
    static Tensor forward(AutogradContext*, const TensorList& parts, double scale) {
      Tensor total = parts[0] * scale;
      for (size_t i = 1; i < parts.size(); ++i) total = total + parts[i] * scale;
      return total;
    }
    static TensorList backward(AutogradContext*, TensorList g) { return {g[0] * 0.5, g[0] * 0.5, g[0] * 0.5, Tensor()}; }
  };
  Tensor a = ones({2}).requires_grad_(), b = ones({2}).requires_grad_(), c = ones({2});
  SumAll::apply(TensorList{a, b, c}, 0.5).sum().backward();
  EXPECT_TRUE(allclose(a.grad(), full({2}, 0.5)));
  EXPECT_TRUE(allclose(b.grad(), full({2}, 0.5)));
}

TEST(CustomFunction, NonDifferentiableOutputsDoNotRequireGrad) {
  struct MaxWithIndex : autograd::Function<MaxWithIndex> {
    static std::tuple<Tensor, Tensor> forward(AutogradContext* ctx, const Tensor& x) {
      Tensor index = argmax(x);
      Tensor mask = eq(arange(x.numel()), index).to(x.dtype());
      ctx->mark_non_differentiable({mask});
      ctx->save_for_backward({mask});
      return {(x * mask).sum(), mask};
    }
    static TensorList backward(AutogradContext* ctx, TensorList g) { return {g[0] * ctx->get_saved_variables()[0]}; }
  };
  Tensor x = tensor({1.0, 5.0, 2.0}, {3}).requires_grad_();
  auto [m, mask] = MaxWithIndex::apply(x);
  EXPECT_TRUE(m.requires_grad());
  EXPECT_FALSE(mask.requires_grad());
  m.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 0}));
}

TEST(CustomFunction, ASavedTensorModifiedInPlaceMakesBackwardRaiseNamingTheFunction) {
  Tensor x = randn({3}).requires_grad_();
  Tensor base = randn({3});
  Tensor y = Softplus::apply(x * 1.0, 1.0);  // saves x * 1.0, a non-leaf we can change
  Tensor saved_input = y.grad_fn()->saved_entry(0).raw();
  {
    NoGradGuard no_grad;
    saved_input.add_(1.0);
  }
  const std::string error = graft::testing::error_of([&] { y.sum().backward(); });
  EXPECT_NE(error.find("SoftplusBackward"), std::string::npos) << error;
  EXPECT_NE(error.find("modified by an in-place operation"), std::string::npos) << error;
}

TEST(CustomFunction, BackwardTwiceWithoutRetainGraphRaises) {
  Tensor x = randn({3}).requires_grad_();
  Tensor y = Softplus::apply(x, 1.0).sum();
  y.backward({}, /*retain_graph=*/false);
  const std::string error = graft::testing::error_of([&] { y.backward(); });
  EXPECT_NE(error.find("SoftplusBackward"), std::string::npos) << error;
  EXPECT_NE(error.find("second time"), std::string::npos) << error;
}

TEST(CustomFunction, OnceDifferentiableRaisesOnDoubleBackward) {
  Tensor x = randn({3}, dtype(kFloat64)).requires_grad_();
  Tensor g = autograd::grad({SoftplusOnce::apply(x).sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_TRUE(allclose(g, sigmoid(x), 1e-12, 1e-12));  // the first derivative is right
  const std::string error = graft::testing::error_of([&] { g.sum().backward(); });
  EXPECT_NE(error.find("SoftplusOnceBackward"), std::string::npos) << error;
  EXPECT_NE(error.find("once_differentiable"), std::string::npos) << error;
  // Without create_graph nothing is recorded and nothing raises.
  Tensor x2 = randn({3}, dtype(kFloat64)).requires_grad_();
  SoftplusOnce::apply(x2).sum().backward();
  EXPECT_TRUE(allclose(x2.grad(), sigmoid(x2), 1e-12, 1e-12));
}

TEST(CustomFunction, AWrongNumberOrShapeOfGradientsIsAClearError) {
  struct TooFew : autograd::Function<TooFew> {
    static Tensor forward(AutogradContext*, const Tensor& x, const Tensor& y) { return x * y; }
    static TensorList backward(AutogradContext*, TensorList g) { return {g[0]}; }
  };
  struct WrongShape : autograd::Function<WrongShape> {
    static Tensor forward(AutogradContext*, const Tensor& x) { return x * 2.0; }
    static TensorList backward(AutogradContext*, TensorList) { return {ones({5})}; }
  };
  struct GradientForAScalar : autograd::Function<GradientForAScalar> {
    static Tensor forward(AutogradContext*, const Tensor& x, double) { return x * 2.0; }
    static TensorList backward(AutogradContext*, TensorList g) { return {g[0], g[0]}; }
  };
  Tensor x = ones({2, 2}).requires_grad_(), y = ones({2, 2}).requires_grad_();
  EXPECT_EQ(graft::testing::error_of([&] { TooFew::apply(x, y).sum().backward(); }),
            "TooFewBackward: backward returned 1 gradients, expected 2 (one per argument of forward, TensorList "
            "elements counted one by one; Tensor() for non-tensor arguments and for inputs that need no gradient)");
  EXPECT_EQ(graft::testing::error_of([&] { WrongShape::apply(x).sum().backward(); }),
            "WrongShapeBackward: returned a gradient of shape [5] for input 0, which has shape [2, 2]");
  EXPECT_EQ(graft::testing::error_of([&] { GradientForAScalar::apply(x, 1.0).sum().backward(); }),
            "GradientForAScalarBackward: backward returned a gradient for argument 1 of forward, which is not a "
            "tensor (return Tensor())");
}

TEST(CustomFunction, GradcheckCatchesAWrongBackward) {
  struct WrongSoftplus : autograd::Function<WrongSoftplus> {
    static Tensor forward(AutogradContext* ctx, const Tensor& x) {
      ctx->save_for_backward({x});
      return log(1 + exp(x));
    }
    static TensorList backward(AutogradContext* ctx, TensorList g) {
      return {g[0] * exp(ctx->get_saved_variables()[0])};  // the derivative of exp, not of softplus
    }
  };
  Tensor x = tensor({0.5, -0.25}, {2}, kFloat64).requires_grad_();
  const std::string error = graft::testing::error_of([&] { autograd::gradcheck([](const TensorList& in) { return single(WrongSoftplus::apply(in[0])); }, {x}); });
  EXPECT_NE(error.find("Jacobian mismatch"), std::string::npos) << error;
}

TEST(CustomFunction, ReturningAnInputLeavesTheInputsHistoryAlone) {
  struct Identity : autograd::Function<Identity> {
    static Tensor forward(AutogradContext*, const Tensor& x) { return x; }
    static TensorList backward(AutogradContext*, TensorList g) { return {g[0] * 3.0}; }
  };
  Tensor x = ones({2}).requires_grad_();
  Tensor h = x * 2.0;
  const std::shared_ptr<Node> h_history = h.grad_fn();
  Tensor y = Identity::apply(h);
  EXPECT_FALSE(y.is_same(h));
  EXPECT_EQ(h.grad_fn(), h_history);
  EXPECT_STREQ(y.grad_fn()->name(), "IdentityBackward");
  y.sum().backward();
  EXPECT_TRUE(allclose(x.grad(), full({2}, 6.0)));
}

TEST(CustomFunction, RecordsNothingWithoutGradMode) {
  Tensor x = ones({2}).requires_grad_();
  NoGradGuard no_grad;
  Tensor y = Softplus::apply(x, 1.0);
  EXPECT_FALSE(y.requires_grad());
}

TEST(CustomFunction, SavedDataHoldsValuesOfAnyType) {
  struct Config {
    int a;
  };
  autograd::SavedValue v = autograd::SavedValue::of(Config{7});
  EXPECT_EQ(v.get<Config>().a, 7);
  EXPECT_THROW(v.toDouble(), Error);
  EXPECT_EQ(autograd::SavedValue(int64_t{3}).toDouble(), 3.0);
  EXPECT_EQ(autograd::SavedValue(std::vector<int64_t>{1, 2}).toIntVector(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(autograd::SavedValue("mean").toStringRef(), "mean");
  EXPECT_EQ(graft::testing::error_of([] { autograd::SavedValue(true).toStringRef(); }),
            "AutogradContext::saved_data: asked for a string but the value holds a bool");
}

// A module whose forward is a custom function, trained by an optimizer: the same steps as with F::softplus.
TEST(CustomFunction, TrainsInsideAModuleWithAnOptimizer) {
  struct Net : nn::Module {
    bool custom;
    nn::Child<nn::Linear> fc1 = register_module("fc1", nn::Linear(4, 8));
    nn::Child<nn::Linear> fc2 = register_module("fc2", nn::Linear(8, 1));
    explicit Net(bool custom_) : Module("Net"), custom(custom_) {}
    Tensor forward(const Tensor& x) override {
      Tensor h = fc1(x);
      return fc2(custom ? Softplus::apply(h, 1.0) : F::softplus(h));
    }
  };
  manual_seed(3);
  auto a = std::make_shared<Net>(true);
  auto b = std::make_shared<Net>(false);
  b->load_state_dict(a->state_dict());
  optim::Adam oa(a->parameters(), 0.05), ob(b->parameters(), 0.05);
  Tensor x = randn({16, 4}), target = randn({16, 1});
  double first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    Tensor la = F::mse_loss((*a)(x), target), lb = F::mse_loss((*b)(x), target);
    oa.zero_grad();
    ob.zero_grad();
    la.backward();
    lb.backward();
    oa.step();
    ob.step();
    if (step == 0) first = la.item<double>();
    last = la.item<double>();
    EXPECT_NEAR(la.item<double>(), lb.item<double>(), 1e-5);
  }
  EXPECT_LT(last, first * 0.8);
}

}  // namespace
