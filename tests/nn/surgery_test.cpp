// replace_modules: swapping modules by predicate or type inside built models, carrying the weights over.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "named_keys.h"

using namespace graft;
using namespace graft::nn;
namespace F = graft::nn::functional;

namespace {

using Names = std::vector<std::string>;
using graft::testing::keys;

// A Linear with a low-rank adapter: y = x W^T + b + x A^T B^T, with B zero at the start (LoRA).
class LoRALinear : public Linear {
 public:
  LoRALinear(int64_t in, int64_t out, int64_t rank, bool bias) : Linear(in, out, bias) {
    lora_A = register_parameter("lora_A", randn({rank, in}) * 0.1);
    lora_B = register_parameter("lora_B", zeros({out, rank}));
  }
  Tensor forward(const Tensor& x) override {
    return Linear::forward(x) + F::linear(F::linear(x, lora_A), lora_B);
  }
  Tensor lora_A, lora_B;
};

// Linear computed by hand: the same function as Linear, so swapping one for the other changes nothing.
class EagerLinear : public Module {
 public:
  EagerLinear(int64_t in, int64_t out) : Module("EagerLinear") {
    weight = register_parameter("weight", zeros({out, in}));
    bias = register_parameter("bias", zeros({out}));
  }
  Tensor forward(const Tensor& x) override {
    return matmul(x, weight.t()) + bias;
  }
  Tensor weight, bias;
};

std::shared_ptr<Sequential> small_model() {
  auto inner = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{std::make_shared<Linear>(8, 8), std::make_shared<GELU>()});
  return std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<Linear>(4, 8), std::make_shared<GELU>(), inner, std::make_shared<Linear>(8, 2)});
}

TEST(ReplaceModules, SwapsEveryLinearForABiasFreeOneKeepingTheWeights) {
  auto model = small_model();
  StateDict before = model->state_dict();
  Names replaced = replace_modules<Linear>(*model, [](const std::string&, Linear& old) {
    return std::make_shared<Linear>(old.in_features, old.out_features, /*bias=*/false);
  });
  EXPECT_EQ(replaced, (Names{"0", "2.0", "3"}));
  EXPECT_EQ(keys(model->state_dict()), (Names{"0.weight", "2.0.weight", "3.weight"}));
  for (const auto& [k, t] : model->state_dict()) {
    const Tensor* old = nullptr;
    for (const auto& [bk, bt] : before)
      if (bk == k) old = &bt;
    ASSERT_NE(old, nullptr);
    EXPECT_TRUE(equal(t, *old)) << k;
  }
  EXPECT_EQ(std::dynamic_pointer_cast<Linear>((*model)[3])->bias.defined(), false);
}

TEST(ReplaceModules, EquivalentReplacementGivesTheSameOutputsAndGradients) {
  manual_seed(1);
  auto model = small_model();
  auto twin = small_model();
  twin->load_state_dict(model->state_dict());
  Names replaced = replace_modules<Linear>(*twin, [](const std::string&, Linear& old) {
    return std::make_shared<EagerLinear>(old.in_features, old.out_features);  // zeros until the rule copies
  });
  EXPECT_EQ(replaced.size(), 3u);
  EXPECT_EQ((*twin)[0]->type_name(), "EagerLinear");
  Tensor x = randn({5, 4});
  Tensor y = model->forward(x), y2 = twin->forward(x);
  EXPECT_TRUE(allclose(y, y2, 1e-5, 1e-6));
  y.sum().backward();
  y2.sum().backward();
  auto p = model->named_parameters(), p2 = twin->named_parameters();
  ASSERT_EQ(p.size(), p2.size());
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p[i].first, p2[i].first);
    EXPECT_TRUE(allclose(p[i].second.grad(), p2[i].second.grad(), 1e-5, 1e-6)) << p[i].first;
  }
}

TEST(ReplaceModules, CustomSubclassByNameKeepsTheOutputUntilTrained) {
  auto model = small_model();
  Tensor x = randn({3, 4});
  Tensor before = model->forward(x);
  Names replaced = replace_modules(
      *model, [](const std::string& name, Module& m) { return name.rfind("2.", 0) == 0 && m.type_name() == "Linear"; },
      [](const std::string&, Module& old) {
        auto& lin = dynamic_cast<Linear&>(old);
        return std::make_shared<LoRALinear>(lin.in_features, lin.out_features, 2, lin.bias.defined());
      });
  EXPECT_EQ(replaced, (Names{"2.0"}));
  EXPECT_EQ(keys(model->child("2")->state_dict()), (Names{"0.weight", "0.bias", "0.lora_A", "0.lora_B"}));
  EXPECT_TRUE(allclose(model->forward(x), before, 1e-6, 1e-6));
  // The LoRA path takes part in the forward and the backward.
  model->forward(x).sum().backward();
  auto lora = std::dynamic_pointer_cast<LoRALinear>(model->submodule("2.0"));
  ASSERT_NE(lora, nullptr);
  EXPECT_TRUE(lora->lora_B.grad().defined());
  EXPECT_GT(lora->lora_B.grad().abs().sum().item<double>(), 0.0);
}

TEST(ReplaceModules, SwapsGELUForReLUByType) {
  auto model = small_model();
  Names replaced = replace_modules<GELU>(*model, [](const std::string&, GELU&) { return std::make_shared<ReLU>(); });
  EXPECT_EQ(replaced, (Names{"1", "2.1"}));
  for (auto& [name, m] : model->named_modules()) EXPECT_NE(m->type_name(), "GELU") << name;
  // The new ReLUs take part in the forward: every output of layer 1 is non-negative.
  Tensor h = (*model)[1]->forward((*model)[0]->forward(randn({10, 4})));
  EXPECT_GE(h.min().item<double>(), 0.0);
  EXPECT_EQ(replace_modules<GELU>(*model, [](const std::string&, GELU&) { return std::make_shared<ReLU>(); }), Names{});
}

TEST(ReplaceModules, ReachesIntoNestedModulesThatLookUpTheirChildren) {
  auto model = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<FeedForward>(4, 8, "gelu", true, 0.0, 256, kFloat64), std::make_shared<LayerNorm>(4, 1e-5, true, true, kFloat64)});
  Names replaced = replace_modules<GELU>(*model, [](const std::string&, GELU&) { return std::make_shared<ReLU>(); });
  EXPECT_EQ(replaced, (Names{"0.act"}));
  auto ffn = model->submodule("0");
  Tensor x = randn({3, 4}, kFloat64);
  auto lin = [&](const Tensor& in, const char* name) {
    return F::linear(in, ffn->child(name)->parameter("weight"), ffn->child(name)->parameter("bias"));
  };
  EXPECT_TRUE(allclose(ffn->forward(x), lin(F::relu(lin(x, "w1")), "w2"), 1e-12, 1e-12));
}

TEST(ReplaceModules, ASharedModuleIsReplacedEverywhereByOneModule) {
  auto shared = std::make_shared<Linear>(3, 3);
  auto inner = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{shared});
  auto model = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{shared, inner, std::make_shared<Linear>(3, 3)});
  int calls = 0;
  std::vector<std::string> factory_names;
  Names replaced = replace_modules(
      *model, [&](const std::string&, Module& m) { return &m == shared.get(); },
      [&](const std::string& name, Module&) -> ModulePtr {
        ++calls;
        factory_names.push_back(name);
        return std::make_shared<Linear>(3, 3, false);
      });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(factory_names, (Names{"0"}));
  EXPECT_EQ(replaced, (Names{"0", "1.0"}));
  EXPECT_EQ((*model)[0].get(), (*inner)[0].get());  // still shared
  EXPECT_NE((*model)[0].get(), shared.get());
  EXPECT_TRUE(equal((*model)[0]->parameter("weight"), shared->weight));
  EXPECT_EQ(model->parameters().size(), 3u);  // the shared weight once, plus the last Linear's two
}

TEST(ReplaceModules, AModuleSharedThroughASharedParentIsReplacedOnce) {
  auto block = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{std::make_shared<GELU>()});
  auto model = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{block, block});
  Names replaced = replace_modules<GELU>(*model, [](const std::string&, GELU&) { return std::make_shared<SiLU>(); });
  EXPECT_EQ(replaced, (Names{"0.0"}));  // one slot, reached through the parent's first name
  EXPECT_EQ(model->submodule("1.0")->type_name(), "SiLU");
}

TEST(ReplaceModules, CarriesOnlyMatchingNamesAndShapesAndTheTrainingMode) {
  auto model = small_model();
  model->eval();
  Tensor old_bias = (*model)[3]->parameter("bias").clone();
  // Linear(8, 2) -> Linear(8, 3): the weight's shape differs, the bias's too: nothing is copied.
  replace_modules(
      *model, [](const std::string& name, Module&) { return name == "3"; },
      [](const std::string&, Module&) { return std::make_shared<Linear>(8, 3); });
  EXPECT_EQ((*model)[3]->parameter("weight").shape(), (Shape{3, 8}));
  EXPECT_FALSE((*model)[3]->is_training());
  // carry_state = false keeps what the factory built.
  auto zero = [](const std::string&, Linear& old) {
    auto fresh = std::make_shared<Linear>(old.in_features, old.out_features);
    init::zeros_(fresh->weight);
    return fresh;
  };
  replace_modules<Linear>(*model, zero, /*carry_state=*/false);
  EXPECT_EQ((*model)[0]->parameter("weight").abs().sum().item<double>(), 0.0);
  // Buffers travel too, with their dtype: a BatchNorm1d's running stats and int64 counter.
  auto bn_model = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{std::make_shared<BatchNorm1d>(3)});
  bn_model->forward(randn({4, 3}) + 2.0);
  replace_modules<BatchNorm1d>(*bn_model, [](const std::string&, BatchNorm1d&) { return std::make_shared<BatchNorm1d>(3, 1e-3); });
  auto bn = std::dynamic_pointer_cast<BatchNorm1d>((*bn_model)[0]);
  EXPECT_EQ(bn->eps, 1e-3);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
  EXPECT_GT(bn->running_mean.sum().item<double>(), 0.0);
}

TEST(ReplaceModules, NeverReplacesTheModelItselfAndChecksTheFactory) {
  auto lin = std::make_shared<Linear>(2, 2);
  EXPECT_EQ(replace_modules<Linear>(*lin, [](const std::string&, Linear&) { return std::make_shared<Linear>(2, 2); }), Names{});
  auto model = small_model();
  // A factory that keeps the module: nothing changes, nothing is listed.
  EXPECT_EQ(replace_modules(
                *model, [](const std::string&, Module& m) { return m.type_name() == "Linear"; },
                [](const std::string&, Module& old) { return old.shared_from_this(); }),
            Names{});
  try {
    replace_modules<GELU>(*model, [](const std::string&, GELU&) { return ModulePtr(); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "replace_modules: the factory returned a null module for '1' (GELU)");
  }
  EXPECT_THROW(replace_modules(*model, nullptr, [](const std::string&, Module&) { return ModulePtr(); }), Error);
}

TEST(ReplaceModules, AFactoryThatThrowsLeavesTheModelUnchanged) {
  auto model = small_model();
  std::vector<const Module*> before;
  for (const auto& [name, m] : model->named_modules()) before.push_back(m.get());
  int calls = 0;
  EXPECT_THROW(replace_modules<Linear>(*model,
                                       [&](const std::string& name, Linear& old) -> ModulePtr {
                                         if (++calls == 2) GRAFT_FAIL("no replacement for '{}'", name);
                                         return std::make_shared<Linear>(old.in_features, old.out_features);
                                       }),
               Error);
  EXPECT_EQ(calls, 2);  // the first Linear had its replacement built, but it was never put in place
  std::vector<const Module*> after;
  for (const auto& [name, m] : model->named_modules()) after.push_back(m.get());
  EXPECT_EQ(after, before);
}

TEST(CopyMatchingState, CopiesEntriesWithTheSameNameAndShape) {
  Linear a(3, 2), b(3, 2, false);
  LayerNorm c(2);
  EXPECT_EQ(copy_matching_state(a, b), (Names{"weight"}));
  EXPECT_TRUE(equal(a.weight, b.weight));
  EXPECT_EQ(copy_matching_state(a, c), (Names{"bias"}));  // LayerNorm(2)'s weight is (2), Linear's (2, 3)
  EXPECT_TRUE(equal(a.bias, c.bias));
}

}  // namespace
