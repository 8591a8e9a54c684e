// Each parameter group keeps its parameters, gradients and optimizer state in flat buffers that the
// parameters and their .grad view; the user's tensors keep working throughout.
#include <gtest/gtest.h>

#include "graft/graft.h"

using namespace graft;
using namespace graft::optim;

namespace {

TEST(FlatParameters, ParametersBecomeViewsOfOneBufferAndKeepTheirValues) {
  Tensor w = arange(0, 12, 1, kFloat32).reshape({3, 4}).requires_grad_();
  w = w.detach().requires_grad_();
  Tensor b = tensor({7.0, 8.0, 9.0}, {3}, kFloat32).requires_grad_();
  Tensor t = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}, kFloat32).t().detach().requires_grad_();  // not contiguous
  std::vector<float> w0 = w.to_vector<float>(), t0 = t.to_vector<float>();
  Adam opt({w, b, t});
  const FlatBucket& bucket = opt.flat_parameters(0).buckets().at(0);
  EXPECT_EQ(bucket.dtype(), kFloat32);
  EXPECT_EQ(bucket.size(), 3u);
  for (const Tensor& p : {w, b, t}) EXPECT_EQ(p.storage(), bucket.params().storage());
  EXPECT_EQ(w.to_vector<float>(), w0);
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(t.to_vector<float>(), t0);
  EXPECT_TRUE(t.is_contiguous());
  // Slots are aligned, in group order, and the buffers are long enough for all of them.
  const auto& slots = bucket.slots();
  EXPECT_EQ(slots[0].offset, 0);
  EXPECT_EQ(slots[0].numel, 12);
  EXPECT_EQ(slots[1].offset, kSlotAlignment);
  EXPECT_EQ(slots[2].offset, 2 * kSlotAlignment);
  EXPECT_EQ(bucket.numel(), 3 * kSlotAlignment);
  EXPECT_EQ(bucket.params().at<float>({slots[1].offset + 2}), 9.0f);
  EXPECT_EQ(opt.flat_parameters(0).locate(2), (std::pair<size_t, size_t>{0, 2}));
}

// Building an optimizer between forward and backward is allowed, as in PyTorch: moving a parameter into
// the flat buffer is not an in-place write to the values the graph saved, and backward uses them.
TEST(FlatParameters, AnOptimizerBuiltBetweenForwardAndBackwardLeavesTheGraphUsable) {
  Tensor w = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}, kFloat32).requires_grad_();
  Tensor b = tensor({0.5, -0.5}, {2}, kFloat32).requires_grad_();
  Tensor x = tensor({1.0, -1.0, 2.0, 0.0}, {2, 2}, kFloat32);
  Tensor loss = (matmul(x, w) * w.sum() + b).sum();
  SGD opt({w, b}, SGDOptions(0.1));
  ASSERT_EQ(w.storage(), opt.flat_parameters(0).buckets().at(0).params().storage());
  loss.backward();
  // d/dw[k][j] of sum(x @ w) * sum(w) = (column sum k of x) * sum(w) + sum(x @ w) = {3, -1}[k] * 10 + 2;
  // b is broadcast over the 2 rows. (Values from PyTorch.)
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{32, 32, -8, -8}));
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{2, 2}));
  // An in-place write to a saved parameter is still caught.
  Tensor y = (w * w).sum();
  {
    NoGradGuard no_grad;
    w.mul_(2.0);
  }
  EXPECT_THROW(y.backward(), Error);
}

TEST(FlatParameters, GradientsAccumulateIntoTheFlatGradientBuffer) {
  Tensor w = ones({2, 3}, kFloat64).requires_grad_();
  Tensor b = ones({3}, kFloat64).requires_grad_();
  SGD opt({w, b}, SGDOptions(0.1));
  (w.sum() + (b * b).sum()).backward();
  opt.step();  // brings the fresh gradients into the flat buffer
  const FlatBucket& bucket = opt.flat_parameters(0).buckets()[0];
  EXPECT_EQ(w.grad().storage(), bucket.grads().storage());
  EXPECT_EQ(b.grad().storage(), bucket.grads().storage());
  opt.zero_grad();
  (w.sum() * 3).backward();
  EXPECT_EQ(w.grad().storage(), bucket.grads().storage()) << "backward adds in place into the view";
  EXPECT_EQ(bucket.slot_view(bucket.grads(), 0).to_vector<double>(), std::vector<double>(6, 3.0));
  EXPECT_EQ(b.grad().to_vector<double>(), std::vector<double>(3, 0.0));
}

TEST(FlatParameters, StepWorksAfterZeroGradSetToNone) {
  Tensor w = full({4}, 2.0, kFloat64).requires_grad_();
  SGD opt({w}, SGDOptions(0.5).momentum(0.9));
  for (int k = 0; k < 3; ++k) {
    opt.zero_grad(/*set_to_none=*/true);
    (w * w).sum().backward();  // a fresh gradient tensor each time
    EXPECT_NE(w.grad().storage(), opt.flat_parameters(0).buckets()[0].grads().storage());
    opt.step();
    EXPECT_EQ(w.grad().storage(), opt.flat_parameters(0).buckets()[0].grads().storage());
  }
  // By hand: g = 2w; buf = g, then 0.9 buf + g; w -= 0.5 buf.
  double x = 2, buf = 0;
  for (int k = 0; k < 3; ++k) {
    double g = 2 * x;
    buf = k == 0 ? g : 0.9 * buf + g;
    x -= 0.5 * buf;
  }
  EXPECT_DOUBLE_EQ(w.to_vector<double>()[0], x);
}

TEST(FlatParameters, OneBucketPerDtypeAndStateBuffersOfTheSameLayout) {
  Tensor a = ones({5}, kFloat32).requires_grad_();
  Tensor b = ones({2}, kFloat64).requires_grad_();
  Tensor c = ones({3}, kFloat32).requires_grad_();
  Adam opt({a, b, c}, AdamOptions(0.1).amsgrad(true));
  FlatParameters& flat = opt.flat_parameters(0);
  ASSERT_EQ(flat.buckets().size(), 2u);
  EXPECT_EQ(flat.buckets()[0].dtype(), kFloat32);
  EXPECT_EQ(flat.buckets()[0].indices(), (std::vector<size_t>{0, 2}));
  EXPECT_EQ(flat.buckets()[1].indices(), (std::vector<size_t>{1}));
  EXPECT_EQ(flat.locate(2), (std::pair<size_t, size_t>{0, 1}));
  (a.sum() + b.sum() + c.sum()).backward();
  opt.step();
  for (const FlatBucket& bucket : flat.buckets()) {
    for (const char* s : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {
      ASSERT_TRUE(bucket.has_state(s)) << s;
      EXPECT_EQ(bucket.states().at(s).numel(), bucket.numel());
    }
  }
  // Adam's first step moves every element by lr (m / sqrt(v) = 1 after bias correction).
  EXPECT_NEAR(a.to_vector<float>()[0], 0.9f, 1e-6);
  EXPECT_NEAR(b.to_vector<double>()[0], 0.9, 1e-7);
  // The gaps between slots stay zero.
  const FlatBucket& f32 = flat.buckets()[0];
  EXPECT_EQ(f32.params().at<float>({5}), 0.0f);
  EXPECT_EQ(f32.states().at("exp_avg").at<float>({5}), 0.0f);
}

TEST(FlatParameters, AParameterMovedByAnotherOptimizerIsStillUpdatedCorrectly) {
  Tensor w = full({3}, 1.0, kFloat64).requires_grad_();
  SGD first({w}, SGDOptions(0.1));
  SGD second({w}, SGDOptions(0.1));  // moves w into its own buffer
  w.sum().backward();
  first.step();  // moves it back and updates
  EXPECT_EQ(w.to_vector<double>(), std::vector<double>(3, 0.9));
  second.step();
  EXPECT_EQ(w.to_vector<double>(), std::vector<double>(3, 0.8));
}

TEST(FlatParameters, FusedAdamOverALargeGroupMatchesTheSameStepPerParameter) {
  // One group of many parameters (one parallel pass) against one optimizer per parameter.
  Generator gen(5);
  std::vector<Tensor> a, b;
  for (int64_t n : {70000, 3, 40000, 1}) {
    Tensor init = randn({n}, kFloat32, &gen);
    a.push_back(init.clone().requires_grad_());
    b.push_back(init.clone().requires_grad_());
  }
  Adam together(a, AdamOptions(0.01).weight_decay(0.1));
  std::vector<std::unique_ptr<Adam>> separate;
  for (Tensor& p : b) separate.push_back(std::make_unique<Adam>(std::vector<Tensor>{p}, AdamOptions(0.01).weight_decay(0.1)));
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < a.size(); ++i) {
      a[i].set_grad(randn({a[i].numel()}, kFloat32, &gen));
      b[i].set_grad(a[i].grad().clone());
    }
    together.step();
    for (auto& o : separate) o->step();
  }
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>()) << i;
}

}  // namespace

namespace {

TEST(FlatParameters, StepRangeUpdatesOneShardLikeAZeroRank) {
  // Two "ranks" each update half of the flat buffer (the cut runs through a parameter), then exchange
  // halves; the result equals one optimizer stepping everything.
  Generator gen(11);
  Tensor w0 = randn({5, 7}, kFloat64, &gen), b0 = randn({9}, kFloat64, &gen);
  std::vector<Tensor> full_p = {w0.clone().requires_grad_(), b0.clone().requires_grad_()};
  std::vector<Tensor> rank0 = {w0.clone().requires_grad_(), b0.clone().requires_grad_()};
  std::vector<Tensor> rank1 = {w0.clone().requires_grad_(), b0.clone().requires_grad_()};
  const AdamWOptions options = AdamWOptions(0.05).amsgrad(true);
  AdamW reference(full_p, options), opt0(rank0, options), opt1(rank1, options);
  const int64_t cut = 20;  // inside W's slot [0, 35)
  for (int step = 0; step < 4; ++step) {
    for (size_t i = 0; i < 2; ++i) {
      Tensor g = randn(full_p[i].shape(), kFloat64, &gen);
      full_p[i].set_grad(g.clone());
      rank0[i].set_grad(g.clone());
      rank1[i].set_grad(g.clone());
    }
    reference.step();
    opt0.step_range(0, 0, {0, cut});
    opt1.step_range(0, 0, {cut, opt1.flat_parameters(0).buckets()[0].numel()});
    NoGradGuard no_grad;  // the all-gather
    const Tensor& p0 = opt0.flat_parameters(0).buckets()[0].params();
    const Tensor& p1 = opt1.flat_parameters(0).buckets()[0].params();
    Tensor(p0.narrow(0, cut, p0.numel() - cut)).copy_(p1.narrow(0, cut, p1.numel() - cut));
    Tensor(p1.narrow(0, 0, cut)).copy_(p0.narrow(0, 0, cut));
  }
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(rank0[i].to_vector<double>(), full_p[i].to_vector<double>()) << i;
    EXPECT_EQ(rank1[i].to_vector<double>(), full_p[i].to_vector<double>()) << i;
  }
  // Rank 0's range does not reach b's slot: b has no state there.
  EXPECT_EQ(opt0.flat_parameters(0).buckets()[0].steps(), (std::vector<int64_t>{4, 0}));
  EXPECT_EQ(opt1.flat_parameters(0).buckets()[0].steps(), (std::vector<int64_t>{4, 4}));
  EXPECT_THROW(opt0.step_range(0, 1, {0, 1}), Error);
  EXPECT_THROW(opt0.step_range(0, 0, {5, 2}), Error);
}

TEST(FlatParameters, AdoptBuffersLetsTheOptimizerWorkInSomeoneElsesMemory) {
  // Two parameters whose slots, as the bucket lays them out, live at [0, 5) and [16, 19) of an outside buffer.
  Tensor a = zeros({5}).requires_grad_(), b = zeros({3}).requires_grad_();
  SGD opt({a, b}, SGDOptions(0.5));
  FlatBucket& bucket = opt.flat_parameters(0).buckets()[0];
  Tensor params = arange(40, kFloat32), grads = ones({40});
  Tensor lent_params = params.narrow(0, 4, 32), lent_grads = grads.narrow(0, 8, 32);
  bucket.adopt_buffers(lent_params, lent_grads);
  EXPECT_EQ(bucket.numel(), 32);
  EXPECT_EQ(a.storage(), params.storage());
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{4, 5, 6, 7, 8}));  // the values found in the slot
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{20, 21, 22}));
  a.set_grad(bucket.slot_view(bucket.grads(), 0));
  opt.step();  // updates params in place, reading grads: 4 - 0.5, ...
  EXPECT_EQ(params.narrow(0, 4, 5).to_vector<float>(), (std::vector<float>{3.5, 4.5, 5.5, 6.5, 7.5}));
  EXPECT_EQ(params.narrow(0, 20, 3).to_vector<float>(), (std::vector<float>{20, 21, 22}));  // b had no gradient
  EXPECT_EQ(bucket.state("momentum_buffer").numel(), 32);  // state spans the adopted length
  // Too short, the wrong dtype, overlapping, or after state exists: errors.
  SGD other({zeros({5}).requires_grad_()}, SGDOptions(0.1));
  FlatBucket& ob = other.flat_parameters(0).buckets()[0];
  EXPECT_THROW(ob.adopt_buffers(zeros({8}), zeros({8})), Error);
  EXPECT_THROW(ob.adopt_buffers(zeros({16}, kFloat64), zeros({16}, kFloat64)), Error);
  Tensor shared = zeros({40});
  EXPECT_THROW(ob.adopt_buffers(shared.narrow(0, 0, 16), shared.narrow(0, 8, 16)), Error);
  EXPECT_THROW(bucket.adopt_buffers(lent_params, lent_grads), Error);
}

}  // namespace

namespace {

TEST(FlatParameters, ModulesKeepWorkingWithAnOptimizerOverTheirParameters) {
  manual_seed(0);
  auto model = std::make_shared<nn::Linear>(4, 3);
  Adam opt(model->parameters(), AdamOptions(0.05));
  EXPECT_EQ(model->weight.storage(), opt.flat_parameters(0).buckets()[0].params().storage());
  Generator gen(1);
  Tensor x = randn({16, 4}, kFloat32, &gen), y = matmul(x, randn({4, 3}, kFloat32, &gen));
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    Tensor loss = (model->forward(x) - y).pow(2).mean();
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.2 * first);
  // The module's state dict sees the updated values; loading one into the module after the optimizer
  // was built is picked up by the next step.
  nn::StateDict state = model->state_dict();
  EXPECT_EQ(state[0].second.to_vector<float>(), model->weight.to_vector<float>());
  auto other = std::make_shared<nn::Linear>(4, 3);
  model->load_state_dict(other->state_dict());
  EXPECT_EQ(model->weight.to_vector<float>(), other->weight.to_vector<float>());
  opt.zero_grad(true);
  (model->forward(x) - y).pow(2).mean().backward();
  opt.step();
  EXPECT_EQ(model->weight.storage(), opt.flat_parameters(0).buckets()[0].params().storage());
  std::vector<float> moved = model->weight.to_vector<float>(), loaded = other->weight.to_vector<float>();
  for (size_t i = 0; i < moved.size(); ++i) EXPECT_NEAR(moved[i], loaded[i], 0.06f);  // one step of at most ~lr
  // Casting the model after building the optimizer is an error at the next step.
  model->to(kFloat64);
  (model->forward(x.to(kFloat64)) - y.to(kFloat64)).pow(2).mean().backward();
  EXPECT_THROW(opt.step(), Error);
}

}  // namespace
