// Calling modules the PyTorch way: hooks with PyTorch's shapes, Child handles that follow surgery, retired
// modules that refuse to run, modules on the stack, and the containers built without make_shared noise.
#include <gtest/gtest.h>

#include <sstream>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::error_of;
namespace F = graft::nn::functional;

namespace {

// A user's module written the way the README shows: typed children held as Child handles, called like
// functions, no ForwardCall or hook plumbing.
struct TwoLayer : Module {
  Child<Linear> fc1 = register_module("fc1", Linear(4, 8));
  Child<Linear> fc2 = register_module("fc2", Linear(8, 2));
  TwoLayer() : Module("TwoLayer") {}
  Tensor forward(const Tensor& x) override { return fc2(F::relu(fc1(x))); }
};

TEST(ModuleCall, CallingRunsPreHooksForwardAndHooksWithPyTorchsShapes) {
  TwoLayer m;
  std::vector<std::string> events;
  m.fc1->register_forward_pre_hook([&](Module& mod, const TensorList& inputs) {
    events.push_back(mod.type_name() + " pre " + shape_str(inputs.at(0).shape()));
  });
  m.fc1->register_forward_hook([&](Module&, const TensorList& inputs, const TensorList& outputs) {
    events.push_back("post " + shape_str(inputs.at(0).shape()) + " -> " + shape_str(outputs.at(0).shape()));
  });
  m(randn({3, 4}));
  EXPECT_EQ(events, (std::vector<std::string>{"Linear pre [3, 4]", "post [3, 4] -> [3, 8]"}));
  events.clear();
  m.fc1->forward(randn({3, 4}));  // forward alone: no hooks, as PyTorch's module.forward(x)
  EXPECT_TRUE(events.empty());
}

TEST(ModuleCall, HooksMayReplaceInputsAndOutputs) {
  Linear lin(2, 2);
  {
    NoGradGuard no_grad;
    lin.weight.copy_(eye(2));
    lin.bias.zero_();
  }
  lin.register_forward_pre_hook(
      [](Module&, const TensorList& in) -> std::optional<TensorList> { return TensorList{in[0] * 2.0}; });
  lin.register_forward_hook([](Module&, const TensorList&, const TensorList& out) -> std::optional<TensorList> {
    return TensorList{out[0] + 1.0};
  });
  EXPECT_EQ(lin(ones({1, 2})).to_vector<double>(), (std::vector<double>{3.0, 3.0}));
  EXPECT_EQ(graft::testing::error_of([&] {
              lin.register_forward_hook([](Module&, const TensorList&, const TensorList&) -> std::optional<TensorList> {
                return TensorList{};
              });
              lin(ones({1, 2}));
            }),
            "Linear: a forward hook returned 0 outputs for a call with 1");
}

TEST(ModuleCall, MultiArgumentModulesRunHooksThroughCallAndChild) {
  auto mha = std::make_shared<MultiheadAttention>(4, 2);
  int pre = 0, post = 0;
  mha->register_forward_pre_hook([&](Module&, const TensorList& in) { pre += static_cast<int>(in.size()); });
  mha->register_forward_hook([&](Module&, const TensorList&, const TensorList& out) { post += static_cast<int>(out.size()); });
  Tensor x = randn({3, 1, 4});
  auto [y, w] = (*mha)(x, x, x);  // query, key, value and two undefined masks are the tensor arguments
  EXPECT_EQ(pre, 5);
  EXPECT_EQ(post, 2);
  auto [y2, w2] = call(*mha, x, x, x, Tensor(), false);
  EXPECT_EQ(pre, 9);
  EXPECT_FALSE(w2.defined());
}

TEST(ModuleCall, AModuleOnTheStackWorks) {
  Linear lin(3, 4);
  EXPECT_EQ(lin(ones({2, 3})).shape(), Shape({2, 4}));
  EXPECT_EQ(lin.named_modules().size(), 1u);
  EXPECT_EQ(lin.submodule("").get(), &lin);
  TwoLayer net;
  EXPECT_EQ(net(ones({5, 4})).shape(), Shape({5, 2}));
  EXPECT_EQ(net.named_parameters().size(), 4u);
  EXPECT_EQ(net.named_modules().size(), 3u);
}

TEST(ModuleCall, SequentialAndModuleListTakeModulesByValue) {
  Sequential seq(Linear(2, 64), ReLU(), Linear(64, 1));
  EXPECT_EQ(seq.size(), 3u);
  EXPECT_EQ(seq(ones({5, 2})).shape(), Shape({5, 1}));
  auto shared = std::make_shared<Linear>(1, 1);
  Sequential mixed(Linear(1, 1), shared, Tanh());
  EXPECT_EQ(mixed[1], shared);
  ModuleList list(Linear(1, 2), Linear(2, 3));
  EXPECT_EQ(list.at<Linear>(1)->out_features, 3);
  EXPECT_EQ(seq.repr(),
            "Sequential(\n  (0): Linear(in_features=2, out_features=64, bias=True)\n  (1): ReLU()\n"
            "  (2): Linear(in_features=64, out_features=1, bias=True)\n)");
}

TEST(ModuleCall, MLPTakesTorchvisionsSignature) {
  MLP mlp(8, {16, 16, 3});
  EXPECT_EQ(mlp.sizes, (std::vector<int64_t>{8, 16, 16, 3}));
  EXPECT_EQ(mlp(ones({2, 8})).shape(), Shape({2, 3}));
}

TEST(ModuleCall, ShapesPrintWithTheStreamOperator) {
  std::ostringstream out;
  out << zeros({2, 3}).shape();
  EXPECT_EQ(out.str(), "[2, 3]");
}

TEST(ModuleCall, ChildFollowsReplacementsAndChecksItsType) {
  TwoLayer net;
  auto fresh = std::make_shared<Linear>(4, 8, /*bias=*/false);
  net.replace_module("fc1", fresh);
  EXPECT_EQ(net.fc1.get(), fresh.get());
  EXPECT_FALSE(net.fc1->bias.defined());
  net.replace_module("fc2", std::make_shared<ReLU>());
  EXPECT_EQ(error_of([&] { net.fc2(ones({1, 8})); }),
            "child 'fc2' must be a Linear, got a ReLU (a replacement of another type? hold it as Child<Module> or as "
            "a base class both share)");
  EXPECT_EQ(error_of([&] { net.child_as<Linear>("fc2"); }), "TwoLayer: child 'fc2' must be a Linear, got a ReLU");
}

// The trap of issue 12: a parent keeping a plain shared_ptr to a child keeps calling the old module after
// surgery. The old module is retired, so the call raises instead of silently training nothing.
struct StaleHolder : Module {
  std::shared_ptr<Linear> fc;
  StaleHolder() : Module("StaleHolder") { fc = register_module("fc", Linear(2, 2)); }
  Tensor forward(const Tensor& x) override { return (*fc)(x); }
};

TEST(ModuleCall, ARetiredModuleRefusesToRunNamingWhereItWas) {
  StaleHolder m;
  replace_modules<Linear>(m, [](const std::string&, Linear& old) {
    return std::make_shared<Linear>(old.in_features, old.out_features, false);
  });
  EXPECT_TRUE(m.fc->is_retired());
  const std::string error = error_of([&] { m(ones({1, 2})); });
  EXPECT_NE(error.find("Linear: this module was replaced at 'fc' by Linear (model surgery)"), std::string::npos) << error;
  EXPECT_NE(error.find("nn::Child<T>"), std::string::npos) << error;
  // On purpose, the old module may run again; put back into a model, it runs anyway.
  m.fc->reactivate();
  EXPECT_NO_THROW((*m.fc)(ones({1, 2})));
}

}  // namespace
